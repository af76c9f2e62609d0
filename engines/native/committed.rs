//! How the native engine stays exactly-once across a crash: its result rows, a snapshot of its
//! operator and the input offsets that snapshot has read up to are committed in one Kafka
//! transaction (consume-transform-produce). A job started again in the same group fences the
//! killed one (its open transaction is aborted), restores the last committed snapshot and reads on
//! from the offsets committed with it: no event is lost, none is counted twice, and the rows a
//! reader sees (`read_committed`) are those of committed transactions only.

use super::window::{Snapshot, Windows};
use crate::engines::ResultsTopic;
use crate::kafka::{self, TRANSACTION_TIMEOUT};
use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// How often the engine commits while nothing fires: what a crash can make it read again.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// How soon after windows fire their rows are committed (and so visible to readers), at the soonest.
const COMMIT_FIRED_AFTER: Duration = Duration::from_millis(20);
/// How fast snapshots may be written, at most: each commit writes the whole operator state (2 MB
/// for 1,000 devices of `disorder` at 2,000 events/s, more at higher rates), and back-to-back
/// commits wrote 2 GB to the state topic in a 30 s probe (docs/benchmarks.md); a bigger state is
/// committed less often instead, whatever else asks for a commit.
const SNAPSHOT_BYTES_PER_S: f64 = 8e6;
/// The same while reading a backlog: a commit waits for the linger of its last rows and for the
/// coordinator, 25–40 ms here with a few thousand rows (Kafka 4.1, docs/benchmarks.md), so that
/// committing every 20 ms there would wait more than it reads.
const COMMIT_FIRED_AFTER_ON_A_BACKLOG: Duration = Duration::from_millis(500);
/// How long reading the state topic may go without news before the engine gives up.
const STATE_READ_STALL: Duration = Duration::from_secs(30);
/// A snapshot is written in records of at most this size (a broker takes 1 MB by default).
const CHUNK_BYTES: usize = 512 * 1024;

pub struct Committer {
    /// The job's state topic: one partition of snapshots, each in numbered parts.
    topic: String,
    next_snapshot: u64,
    last_commit: Instant,
    rows_at_last_commit: u64,
    last_snapshot_bytes: usize,
}

impl Committer {
    /// The state topic of `group` (made if missing), and the last snapshot committed to it, if any.
    pub fn open(brokers: &str, group: &str) -> Result<(Committer, Option<Snapshot>)> {
        let topic = format!("{group}.native-state");
        let replicas = kafka::replication_for(kafka::broker_count(brokers)?);
        kafka::create_topic(brokers, &topic, 1, replicas)?;
        let (last, count) = last_snapshot(brokers, &topic)?;
        let committer = Committer { topic, next_snapshot: count, last_commit: Instant::now(), rows_at_last_commit: 0, last_snapshot_bytes: 0 };
        Ok((committer, last))
    }

    /// Whether to commit now: rows are waiting (windows fired), or a while has passed; never sooner
    /// after the last commit than the size of its snapshot allows (`SNAPSHOT_BYTES_PER_S`).
    pub fn due(&self, out: &ResultsTopic, on_a_backlog: bool) -> bool {
        let since = self.last_commit.elapsed();
        let fired_after = if on_a_backlog { COMMIT_FIRED_AFTER_ON_A_BACKLOG } else { COMMIT_FIRED_AFTER };
        let snapshot_spacing = Duration::from_secs_f64(self.last_snapshot_bytes as f64 / SNAPSHOT_BYTES_PER_S);
        since >= snapshot_spacing && (since >= COMMIT_EVERY || (out.emitted > self.rows_at_last_commit && since >= fired_after))
    }

    /// Commits the rows written since the last commit, the operator's snapshot and the consumer's positions, in one transaction.
    pub fn commit(&mut self, consumer: &BaseConsumer<kafka::Said>, out: &mut ResultsTopic, windows: &Windows) -> Result<()> {
        let producer = out.producer();
        let snapshot = serde_json::to_vec(&windows.snapshot())?;
        let parts = snapshot.chunks(CHUNK_BYTES).count();
        for (i, part) in snapshot.chunks(CHUNK_BYTES).enumerate() {
            let key = format!("{} {i} {parts}", self.next_snapshot);
            kafka::send(producer, BaseRecord::to(&self.topic).partition(0).key(key.as_bytes()).payload(part))?;
        }
        let mut offsets = TopicPartitionList::new();
        for p in consumer.position()?.elements() {
            if let Offset::Offset(n) = p.offset() {
                offsets.add_partition_offset(p.topic(), p.partition(), Offset::Offset(n))?;
            }
        }
        if offsets.count() > 0 {
            let group = consumer.group_metadata().context("the consumer has no group metadata to commit with")?;
            producer.send_offsets_to_transaction(&offsets, &group, TRANSACTION_TIMEOUT).context("adding the input offsets to the transaction")?;
        }
        // Flushed first here: rdkafka's commit flushes too, in steps of 100 ms (`kafka::flush`).
        kafka::flush(producer, TRANSACTION_TIMEOUT).context("flushing the transaction's records")?;
        producer.commit_transaction(TRANSACTION_TIMEOUT).context("committing the transaction")?;
        producer.begin_transaction()?;
        out.check()?;
        self.next_snapshot += 1;
        self.last_commit = Instant::now();
        self.rows_at_last_commit = out.emitted;
        self.last_snapshot_bytes = snapshot.len();
        Ok(())
    }
}

/// Reads the state topic from its start: the last snapshot whose parts all came, and how many snapshots it holds.
fn last_snapshot(brokers: &str, topic: &str) -> Result<(Option<Snapshot>, u64)> {
    let (mut last, mut count) = (None, 0);
    let mut parts: Vec<u8> = Vec::new();
    kafka::read_to_end(brokers, topic, 1, "the state", STATE_READ_STALL, |m| {
        let key = std::str::from_utf8(m.key().unwrap_or_default()).unwrap_or_default();
        let numbers: Vec<usize> = key.split(' ').filter_map(|n| n.parse().ok()).collect();
        let [_, part, total] = numbers[..] else { bail!("the state topic {topic} holds a record keyed {key:?}, not a snapshot's part") };
        if part == 0 {
            parts.clear();
        }
        parts.extend_from_slice(m.payload().unwrap_or_default());
        if part + 1 == total {
            last = Some(serde_json::from_slice(&parts).with_context(|| format!("reading the snapshot in {topic}"))?);
            count += 1;
        }
        Ok(())
    })?;
    Ok((last, count))
}
