//! Sending a simulator plan to a broker (docs/SPEC.md §2, §3, §6): paced as the
//! scenario says, keyed by device, stamped with the wall-clock send time, and
//! closed by flush events on every partition (unless the plan is one shard of
//! the run's). What was sent goes, in batches as it is sent, to whoever keeps the log.

use crate::clock::now_ms;
use crate::kafka::{self, Sender};
use crate::model::{window_end, Event, FLUSH_DEVICE};
use crate::progress;
use crate::scenario::{Clock, Pacing, Scenario};
use crate::simulate::{Plan, Record, Send, Shard};
use anyhow::{bail, Result};
use rdkafka::producer::BaseRecord;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Injected {
    pub events: usize,
    pub malformed: u64,
    pub started: Instant,
    /// When the last record of the plan was sent (before the flush events, and the wait for the last window to end).
    pub sent_all: Instant,
    pub flushed: Instant,
    /// How late, at worst, a paced send went out after its scheduled time: a simulator that cannot keep the pace falls behind.
    pub behind_schedule: Duration,
}

/// Times of the two flush events, after the latest `last` time of the stream:
/// the first closes every window under the scenario's watermark and lateness,
/// the second closes the first's window, so that every engine emits a
/// `__flush__` row at the end. Used for device times and for record timestamps.
pub fn flush_times(last: i64, sc: &Scenario) -> [i64; 2] {
    let step = sc.window_ms + sc.out_of_orderness_ms + sc.allowed_lateness_ms + 1000;
    [last + step, last + 2 * step]
}

/// How far a send has gone, for whoever schedules something on the stream's progress (a crash).
#[derive(Debug, Default)]
pub struct Sending {
    pub records: AtomicUsize,
    pub sent: AtomicUsize,
}

impl Sending {
    /// The part of the records sent, 0 before the send knows its plan.
    pub fn part_sent(&self) -> f64 {
        let total = self.records.load(Ordering::Relaxed);
        if total == 0 {
            0.0
        } else {
            self.sent.load(Ordering::Relaxed) as f64 / total as f64
        }
    }
}

/// Events of the plan as they were sent, each with its wall-clock send time, in sending order.
pub type SentBatch<'p> = Vec<(&'p Send, i64)>;

/// How many sent events go to the log's keeper at once: few enough to keep the memory of a
/// stream bounded, enough that a store writes them in one transaction.
const LOG_BATCH: usize = 16_384;

/// On a live clock device times are wall-clock times: a plan, built before its send (a big one
/// takes seconds), starts its clock as the send starts, else every event would go out late by the
/// time the plan took to build, and every window's latency would count it.
pub fn start_live_clock(plan: &mut Plan, sc: &Scenario) {
    if sc.clock == Clock::Live {
        plan.start_clock_at(now_ms());
    }
}

/// A plan on its way to a topic.
pub struct Stream<'p> {
    pub plan: &'p Plan,
    pub scenario: &'p Scenario,
    pub producer: &'p Sender,
    pub topic: &'p str,
    pub partitions: i32,
}

/// Sends the stream's plan, giving `keep` what was sent in batches; an error of `keep` ends the send.
pub fn send<'p>(s: &Stream<'p>, sending: &Sending, stop: &AtomicBool, keep: &mut dyn FnMut(SentBatch<'p>) -> Result<()>) -> Result<Injected> {
    let (plan, sc) = (s.plan, s.scenario);
    let started = Instant::now();
    let total = plan.records.len();
    sending.records.store(total, Ordering::Relaxed);
    let mut batch = Vec::with_capacity(LOG_BATCH);
    let mut malformed = 0;
    let mut buf = Vec::with_capacity(256);
    progress::stream(plan.sends().count(), paced_for(plan, sc));
    let mut events = 0;
    let mut behind_schedule = Duration::ZERO;
    for (i, record) in plan.records.iter().enumerate() {
        if let (Record::Event(send), false) = (record, sc.pacing == Pacing::None) {
            behind_schedule = behind_schedule.max(wait_for_schedule(s, send, started));
        }
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted while sending events");
        }
        plan.encode(record, &mut buf);
        let sent_at = now_ms();
        let (key, partition) = key_and_partition(plan, record, s.partitions);
        kafka::send(s.producer, BaseRecord::to(s.topic).partition(partition).key(key.as_bytes()).payload(&buf[..]).timestamp(sent_at))?;
        match record {
            Record::Event(send) => {
                events += 1;
                progress::sent(events);
                batch.push((send, sent_at));
                if batch.len() == LOG_BATCH {
                    keep(std::mem::replace(&mut batch, Vec::with_capacity(LOG_BATCH)))?;
                }
            }
            Record::Malformed(_) => malformed += 1,
        }
        sending.sent.store(i + 1, Ordering::Relaxed);
    }
    let sent_all = Instant::now();
    keep(batch)?;
    flush(s, stop)?;
    Ok(Injected { events: total - malformed as usize, malformed, started, sent_all, flushed: Instant::now(), behind_schedule })
}

/// How long a paced plan's schedule lasts, from its first send to its last.
fn paced_for(plan: &Plan, sc: &Scenario) -> Option<Duration> {
    let last = plan.sends().map(|s| s.at).max()?;
    (sc.pacing != Pacing::None).then(|| Duration::from_millis((last - plan.epoch_ms).max(0) as u64))
}

/// Sleeps until `send` is due on a paced stream started at `started`; how late it is, if it is.
fn wait_for_schedule(s: &Stream, send: &Send, started: Instant) -> Duration {
    let due = started + Duration::from_millis((send.at - s.plan.epoch_ms).max(0) as u64);
    let now = Instant::now();
    if due > now + Duration::from_millis(1) {
        s.producer.poll(Duration::ZERO);
        std::thread::sleep(due - now);
    }
    now.saturating_duration_since(due)
}

/// Ends the stream with its flush events on every partition (§6), once its last window has ended
/// on a live clock; a shard's end is not the stream's: a flush would close windows other shards
/// still send to.
fn flush(s: &Stream, stop: &AtomicBool) -> Result<()> {
    let (plan, sc) = (s.plan, s.scenario);
    if sc.clock == Clock::Live && sc.pacing != Pacing::None {
        // As in real time, the last window ends before anything closes it:
        // otherwise the flush would close it early and its latency would be negative.
        let last_end = window_end(plan.max_dt(), sc.window_ms) + sc.out_of_orderness_ms;
        progress::doing("waiting for the last window to end");
        while now_ms() < last_end {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted while waiting for the last window to end");
            }
            s.producer.poll(Duration::from_millis(50));
        }
    }
    let flushes = if plan.shard == Shard::WHOLE { flush_times(plan.max_dt(), sc).to_vec() } else { vec![] };
    let stamps = flush_times(now_ms(), sc);
    let mut buf = Vec::with_capacity(256);
    for (k, dt) in flushes.into_iter().enumerate() {
        for p in 0..s.partitions {
            let id = format!("{FLUSH_DEVICE}-{k}-{p}");
            let flush = Event { id: Cow::Borrowed(&id), di: Cow::Borrowed(FLUSH_DEVICE), dt, c: Cow::Borrowed("cat-1"), m1: 0, m2: 0.0 };
            flush.encode_into(&mut buf);
            // Stamped ahead of every send time, so that ingestion-time windows close too.
            kafka::send(s.producer, BaseRecord::to(s.topic).partition(p).key(FLUSH_DEVICE.as_bytes()).payload(&buf[..]).timestamp(stamps[k]))?;
        }
    }
    kafka::finish(s.producer, "sending events")
}

/// A record's key and partition: devices take partitions in turn, so that a scenario knows
/// which device feeds which partition; malformed records go to partition 0.
pub fn key_and_partition<'p>(plan: &'p Plan, record: &Record, partitions: i32) -> (&'p str, i32) {
    match record {
        Record::Event(s) => (&plan.device_ids[s.device as usize], (s.device % partitions as u32) as i32),
        Record::Malformed(_) => ("malformed", 0),
    }
}
