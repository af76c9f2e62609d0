//! The collector (docs/SPEC.md §5): reads the jobs' results topics while the
//! engines run, for their progress and when each row could first be read, and
//! again once they have stopped, for the rows. What it keeps of a record is
//! `rows`' business.

mod rows;

pub use rows::{Collected, EngineProgress};

use crate::{clock, kafka};
use anyhow::Result;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the collector has so far, and its thread.
pub type Collector = (Arc<Mutex<Collected>>, std::thread::JoinHandle<Result<()>>);

/// Reads `topics` from the beginning on a thread of its own until `stop` is set,
/// noting every record in the shared `Collected`: the engines' progress while
/// they run, and when each row was read. The rows come from `read_all` (this
/// read can miss a record batch).
pub fn spawn(brokers: &str, topics: &[String], partitions: i32, stop: Arc<std::sync::atomic::AtomicBool>) -> Result<Collector> {
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    let consumer: BaseConsumer = kafka::assigned_consumer(brokers, &topics, partitions, false)?;
    let collected = Arc::new(Mutex::new(Collected::default()));
    let shared = collected.clone();
    let handle = std::thread::spawn(move || -> Result<()> {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(msg) = kafka::poll(&consumer, Duration::from_millis(100)) {
                let msg = msg?;
                let mut c = shared.lock().expect("collector lock");
                c.note_live(msg.payload().unwrap_or_default(), Instant::now(), clock::now_ms());
                for msg in std::iter::from_fn(|| kafka::poll(&consumer, Duration::ZERO)) {
                    c.note_live(msg?.payload().unwrap_or_default(), Instant::now(), clock::now_ms());
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

/// Reads each of `topics` from the beginning to the end of every partition, once
/// their writers have stopped: the rows to compare. A reader that keeps up with two
/// producers writing one partition at once can miss a whole record batch on
/// tansu's object-store engine (it numbers a batch before it stores it, and a
/// fetch serves the batches stored so far, stepping over one still on its way);
/// read afterwards, every batch is there.
pub fn read_all(brokers: &str, topics: &[String], partitions: i32) -> Result<Collected> {
    let mut collected = Collected::default();
    for topic in topics {
        kafka::read_to_end(brokers, topic, partitions, "the results", READ_ALL_STALL, |msg| {
            collected.add(msg.payload().unwrap_or_default());
            Ok(())
        })?;
    }
    Ok(collected)
}
