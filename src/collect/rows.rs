//! What the collector keeps of the results topics (docs/SPEC.md §5): per
//! (engine, mode, window, device, category) the last value, how many times it
//! was emitted and when it was first and last emitted — when the live read got
//! it, where it did, else the engine's own stamp; and per engine mode its
//! progress, which tells the harness when the engine has read to the end.

use crate::model::{Aggregate, Mode, ResultRow, RowKey, WindowResult, FLUSH_DEVICE};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

/// What the collector knows of one engine run (engine + mode) so far.
#[derive(Debug, Default, Clone)]
pub struct EngineProgress {
    pub rows_received: u64,
    pub last_received: Option<Instant>,
    /// The latest window of its rows of the flush device: it has read to the end of the stream
    /// (in processing time, in that window of the wall clock).
    pub flush_window_end: Option<i64>,
}

impl EngineProgress {
    pub fn flush_seen(&self) -> bool {
        self.flush_window_end.is_some()
    }
}

#[derive(Debug, Default)]
pub struct Collected {
    rows: BTreeMap<(String, Mode, RowKey), ResultRow>,
    pub progress: HashMap<(String, Mode), EngineProgress>,
    /// Records on the results topic that are not a window result: an engine writing something else.
    pub undecodable: u64,
    /// When the live read first and last got each row (wall clock, ms), by `read_key`: a hash, not
    /// the row's strings, as a backlog has hundreds of thousands of rows.
    read_at: HashMap<u64, (i64, i64)>,
}

/// The key of a row in `Collected::read_at`.
fn read_key(engine: &str, mode: Mode, window_end: i64, device: &str, category: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (engine, mode, window_end, device, category).hash(&mut h);
    h.finish()
}

impl Collected {
    /// Folds one record of the results topic in: its engine's progress and its row.
    pub fn add(&mut self, payload: &[u8], now: Instant) {
        if let Some(r) = self.note(payload, now) {
            self.keep(r);
        }
    }

    /// Counts one record towards its engine's progress only; returns it when it is a window row.
    fn note<'a>(&mut self, payload: &'a [u8], now: Instant) -> Option<WindowResult<'a>> {
        let Ok(r) = serde_json::from_slice::<WindowResult>(payload) else {
            self.undecodable += 1;
            return None;
        };
        let progress = self.progress.entry((r.engine.to_string(), r.mode)).or_default();
        progress.rows_received += 1;
        progress.last_received = Some(now);
        if r.di == FLUSH_DEVICE {
            progress.flush_window_end = progress.flush_window_end.max(Some(r.window_end));
            return None;
        }
        Some(r)
    }

    /// Notes one record of the live read, which came at `wall_ms` on the wall clock: its engine's
    /// progress, and when its row could be read. An engine may stamp a row long before a reader
    /// can have it: rows written in a Kafka transaction are read at its commit.
    pub fn note_live(&mut self, payload: &[u8], now: Instant, wall_ms: i64) {
        if let Some(r) = self.note(payload, now) {
            let (first, last) = self.read_at.entry(read_key(&r.engine, r.mode, r.window_end, &r.di, &r.c)).or_insert((wall_ms, wall_ms));
            (*first, *last) = ((*first).min(wall_ms), (*last).max(wall_ms));
        }
    }

    fn keep(&mut self, r: WindowResult) {
        let agg = Aggregate { count: r.count, m1_sum: r.m1_sum, m2_sum: r.m2_sum };
        let key = (r.engine.to_string(), r.mode, (r.window_end, r.di.to_string(), r.c.to_string()));
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
                mode: r.mode,
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
    /// engine's end-of-stream row came; keeps the live read's timings, and each
    /// row's time of reading where the live read got it.
    pub fn complete_with(&mut self, complete: Collected) {
        self.rows = complete.rows;
        for row in self.rows.values_mut() {
            if let Some(&(first, last)) = self.read_at.get(&read_key(&row.engine, row.mode, row.window_end, &row.device, &row.category)) {
                (row.first_emitted_at, row.last_emitted_at) = (first, last);
            }
        }
        self.undecodable = complete.undecodable;
        for (key, p) in complete.progress {
            let live = self.progress.entry(key).or_default();
            live.rows_received = p.rows_received;
            live.flush_window_end = live.flush_window_end.max(p.flush_window_end);
        }
    }

    /// The rows, handed over once the run is collected (not copied: a backlog has hundreds of thousands).
    pub fn take_rows(&mut self) -> Vec<ResultRow> {
        std::mem::take(&mut self.rows).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(m1: i64, emitted_at: i64, di: &str) -> Vec<u8> {
        serde_json::to_vec(&WindowResult {
            engine: "native".into(),
            mode: Mode::EventTime,
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
        let rows = c.take_rows();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].agg.m1_sum, rows[0].emissions, rows[0].first_emitted_at, rows[0].last_emitted_at), (30, 3, 100, 300));
    }

    #[test]
    fn flush_rows_mark_progress_and_garbage_is_counted() {
        let mut c = Collected::default();
        c.add(&record(0, 1, FLUSH_DEVICE), Instant::now());
        c.add(b"not json", Instant::now());
        assert_eq!(c.take_rows().len(), 0);
        assert_eq!(c.progress[&("native".to_string(), Mode::EventTime)].flush_window_end, Some(5000));
        assert_eq!(c.undecodable, 1);
    }

    #[test]
    fn a_complete_read_brings_the_rows_and_the_end_a_live_read_missed_and_keeps_its_timings_and_times_of_reading() {
        let key = ("native".to_string(), Mode::EventTime);
        let (early, late) = (Instant::now(), Instant::now() + Duration::from_secs(5));
        let mut live = Collected::default();
        live.note_live(&record(10, 100, "d"), early, 900);
        live.note_live(&record(12, 150, "d"), early, 950);
        let mut complete = Collected::default();
        for r in [record(10, 100, "d"), record(12, 150, "d"), record(7, 100, "e"), record(0, 200, FLUSH_DEVICE)] {
            complete.add(&r, late);
        }
        live.complete_with(complete);
        let rows = live.take_rows();
        let seen: Vec<(&str, i64, i64, i64)> = rows.iter().map(|r| (r.device.as_str(), r.agg.m1_sum, r.first_emitted_at, r.last_emitted_at)).collect();
        assert_eq!(seen, [("d", 12, 900, 950), ("e", 7, 100, 100)], "emitted when the live read got it; the engine's stamp where it missed it");
        let p = &live.progress[&key];
        assert!(p.flush_seen());
        assert_eq!((p.rows_received, p.last_received), (4, Some(early)), "rows counted by the complete read, the time by the live one");
    }
}
