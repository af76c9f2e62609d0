//! The collector (SPEC §5): reads every engine's results and keeps, per
//! (engine, mode, window, device, category), the last value, how many times it
//! was emitted and when it was first and last emitted.

use crate::event::{WindowResult, FLUSH_DEVICE};
use crate::kafka;
use crate::truth::{Aggregate, RowKey};
use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub engine: String,
    pub mode: String,
    pub window_end: i64,
    pub device: String,
    pub category: String,
    #[serde(flatten)]
    pub agg: Aggregate,
    pub emissions: i64,
    pub first_emitted_at: i64,
    pub last_emitted_at: i64,
}

impl ResultRow {
    pub fn key(&self) -> RowKey {
        (self.window_end, self.device.clone(), self.category.clone())
    }
}

/// What the collector knows of one engine run (engine + mode) so far.
#[derive(Debug, Default, Clone)]
pub struct EngineProgress {
    pub rows_received: u64,
    pub last_received: Option<Instant>,
    /// The engine emitted a window of the flush device: it has read to the end of the stream.
    pub flush_seen: bool,
}

#[derive(Debug, Default)]
pub struct Collected {
    rows: BTreeMap<(String, String, RowKey), ResultRow>,
    pub progress: HashMap<(String, String), EngineProgress>,
    pub undecodable: u64,
}

impl Collected {
    /// Folds one record of the results topic in: its engine's progress and its row.
    pub fn add(&mut self, payload: &[u8], now: Instant) {
        if let Some(r) = self.note(payload, now) {
            self.keep(r);
        }
    }

    /// Counts one record towards its engine's progress only; returns it when it is a window row.
    pub fn note<'a>(&mut self, payload: &'a [u8], now: Instant) -> Option<WindowResult<'a>> {
        let Ok(r) = serde_json::from_slice::<WindowResult>(payload) else {
            self.undecodable += 1;
            return None;
        };
        let progress = self.progress.entry((r.engine.to_string(), r.mode.to_string())).or_default();
        progress.rows_received += 1;
        progress.last_received = Some(now);
        if r.di == FLUSH_DEVICE {
            progress.flush_seen = true;
            return None;
        }
        Some(r)
    }

    fn keep(&mut self, r: WindowResult) {
        let agg = Aggregate { count: r.count, m1_sum: r.m1_sum, m2_sum: r.m2_sum };
        let key = (r.engine.to_string(), r.mode.to_string(), (r.window_end, r.di.to_string(), r.c.to_string()));
        self.rows
            .entry(key)
            .and_modify(|row| {
                // Emissions can arrive out of order across partitions: the latest emission wins.
                if r.emitted_at >= row.last_emitted_at {
                    row.agg = agg.clone();
                    row.last_emitted_at = r.emitted_at;
                }
                row.first_emitted_at = row.first_emitted_at.min(r.emitted_at);
                row.emissions += 1;
            })
            .or_insert_with(|| ResultRow {
                engine: r.engine.into_owned(),
                mode: r.mode.into_owned(),
                window_end: r.window_end,
                device: r.di.into_owned(),
                category: r.c.into_owned(),
                agg: agg.clone(),
                emissions: 1,
                first_emitted_at: r.emitted_at,
                last_emitted_at: r.emitted_at,
            });
    }

    /// Takes the rows of a complete read (`read_all`), and from it whether each
    /// engine's end-of-stream row came; keeps the live read's timings.
    pub fn complete_with(&mut self, complete: Collected) {
        self.rows = complete.rows;
        self.undecodable = complete.undecodable;
        for (key, p) in complete.progress {
            let live = self.progress.entry(key).or_default();
            live.rows_received = p.rows_received;
            live.flush_seen |= p.flush_seen;
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = &ResultRow> {
        self.rows.values()
    }
}

/// What the collector has so far, and its thread.
pub type Collector = (Arc<Mutex<Collected>>, std::thread::JoinHandle<Result<()>>);

/// Reads `topic` from the beginning on a thread of its own until `stop` is set,
/// noting every record in the shared `Collected`: the engines' progress while
/// they run. The rows come from `read_all` (this read can miss a record batch).
pub fn spawn(brokers: &str, topic: &str, partitions: i32, stop: Arc<std::sync::atomic::AtomicBool>) -> Result<Collector> {
    let consumer: BaseConsumer = kafka::assigned_consumer(brokers, topic, 0..partitions, false)?;
    let collected = Arc::new(Mutex::new(Collected::default()));
    let shared = collected.clone();
    let handle = std::thread::spawn(move || -> Result<()> {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(msg) = consumer.poll(Duration::from_millis(100)) {
                let msg = msg?;
                let mut c = shared.lock().expect("collector lock");
                c.note(msg.payload().unwrap_or_default(), Instant::now());
                for msg in std::iter::from_fn(|| consumer.poll(Duration::ZERO)) {
                    c.note(msg?.payload().unwrap_or_default(), Instant::now());
                }
            }
        }
        consumer.unassign()?;
        Ok(())
    });
    Ok((collected, handle))
}

/// How long `read_all` waits for a partition that neither delivers nor reports its end.
const READ_ALL_STALL: Duration = Duration::from_secs(10);

/// Reads `topic` from the beginning to the end of every partition, once its
/// writers have stopped: the rows to compare. A reader that keeps up with two
/// producers writing one partition at once can miss a whole record batch on
/// tansu's object-store engine (it numbers a batch before it stores it, and a
/// fetch serves the batches stored so far, stepping over one still on its way);
/// read afterwards, every batch is there.
pub fn read_all(brokers: &str, topic: &str, partitions: i32) -> Result<Collected> {
    let consumer: BaseConsumer = kafka::assigned_consumer(brokers, topic, 0..partitions, true)?;
    let mut collected = Collected::default();
    let mut at_end = HashSet::new();
    let mut last_heard = Instant::now();
    while at_end.len() < partitions as usize {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                collected.add(msg.payload().unwrap_or_default(), Instant::now());
                at_end.remove(&msg.partition());
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(e).with_context(|| format!("reading the results from {topic}")),
            None if last_heard.elapsed() > READ_ALL_STALL => {
                bail!(
                    "reading the results from {topic}: {} of {partitions} partitions reached their end, the others sent nothing for {} s",
                    at_end.len(),
                    READ_ALL_STALL.as_secs()
                )
            }
            None => continue,
        }
        last_heard = Instant::now();
    }
    Ok(collected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(m1: i64, emitted_at: i64, di: &str) -> Vec<u8> {
        serde_json::to_vec(&WindowResult {
            engine: "native".into(),
            mode: "event-time".into(),
            window_end: 5000,
            di: di.to_string().into(),
            c: "cat-1".into(),
            count: 1,
            m1_sum: m1,
            m2_sum: 1.0,
            emitted_at,
        })
        .unwrap()
    }

    #[test]
    fn keeps_the_last_value_and_counts_emissions() {
        let mut c = Collected::default();
        let now = Instant::now();
        c.add(&record(10, 100, "d"), now);
        c.add(&record(30, 300, "d"), now);
        c.add(&record(20, 200, "d"), now); // arrives late, but was emitted before the 300 one
        let rows: Vec<&ResultRow> = c.rows().collect();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].agg.m1_sum, rows[0].emissions, rows[0].first_emitted_at, rows[0].last_emitted_at), (30, 3, 100, 300));
    }

    #[test]
    fn flush_rows_mark_progress_and_garbage_is_counted() {
        let mut c = Collected::default();
        c.add(&record(0, 1, FLUSH_DEVICE), Instant::now());
        c.add(b"not json", Instant::now());
        assert_eq!(c.rows().count(), 0);
        assert!(c.progress[&("native".to_string(), "event-time".to_string())].flush_seen);
        assert_eq!(c.undecodable, 1);
    }

    #[test]
    fn a_complete_read_brings_the_rows_and_the_end_a_live_read_missed_and_keeps_its_timings() {
        let key = ("native".to_string(), "event-time".to_string());
        let (early, late) = (Instant::now(), Instant::now() + Duration::from_secs(5));
        let mut live = Collected::default();
        live.note(&record(10, 100, "d"), early);
        let mut complete = Collected::default();
        for r in [record(10, 100, "d"), record(7, 100, "e"), record(0, 200, FLUSH_DEVICE)] {
            complete.add(&r, late);
        }
        live.complete_with(complete);
        let devices: Vec<&str> = live.rows().map(|r| r.device.as_str()).collect();
        assert_eq!(devices, ["d", "e"]);
        let p = &live.progress[&key];
        assert!(p.flush_seen);
        assert_eq!((p.rows_received, p.last_received), (3, Some(early)), "rows counted by the complete read, the time by the live one");
    }
}
