//! How the native engine stays exactly-once across a crash: its result rows, a snapshot of its
//! operator and the input offsets that snapshot has read up to are committed in one Kafka
//! transaction (consume-transform-produce). A job started again in the same group fences the
//! killed one (its open transaction is aborted), restores the state its committed snapshots give
//! and reads on from the offsets committed with the last: no event is lost, none is counted twice,
//! and the rows a reader sees (`read_committed`) are those of committed transactions only. A
//! snapshot holds what changed since the one before, and now and then the whole state: at 256,000
//! events/s the whole state was 90 MB of JSON, and writing it at each commit spaced commits
//! seconds apart (docs/benchmarks.md), and so the rows a reader could see. Once a whole snapshot
//! is committed, what is before it in the state topic is deleted: a restart reads the last whole
//! snapshot and the changes after it, however long the job has run.

use super::window::Windows;
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
/// The same while reading a backlog: a commit waits for its last rows' delivery and for the
/// coordinator, 10–40 ms here with a few thousand rows (Kafka 4.1, docs/benchmarks.md), so that
/// committing every 20 ms there would wait more than it reads.
const COMMIT_FIRED_AFTER_ON_A_BACKLOG: Duration = Duration::from_millis(500);
/// How long reading the state topic may go without news before the engine gives up.
const STATE_READ_STALL: Duration = Duration::from_secs(30);
/// A snapshot is written in records of at most this size (a broker takes 1 MB by default).
const CHUNK_BYTES: usize = 512 * 1024;

pub struct Committer {
    brokers: String,
    /// The job's state topic: one partition of snapshots, each in numbered parts.
    topic: String,
    next_snapshot: u64,
    last_commit: Instant,
    rows_at_last_commit: u64,
    /// The size of the last whole snapshot, and of the changes committed since: the next commit
    /// writes the whole state once the changes outweigh it, so that a restart reads at most about
    /// twice the state, and the state topic grows with the events, not with the commits.
    whole_bytes: usize,
    changes_bytes: usize,
}

impl Committer {
    /// The state topic of `group` (made if missing), and the operator its snapshots give: the last
    /// whole one and the changes after it, applied to `fresh`, an empty operator. `out`'s producer,
    /// which writes the snapshots, knows the topic before the job reads: asked at the first
    /// snapshot, it delayed the first commit on a backlog by ~0.5 s (docs/benchmarks.md).
    pub fn open(brokers: &str, group: &str, out: &ResultsTopic, fresh: impl Fn() -> Windows) -> Result<(Committer, Windows)> {
        let topic = format!("{group}.native-state");
        let replicas = kafka::replication_for(kafka::broker_count(brokers)?);
        kafka::create_topic(brokers, &topic, 1, replicas)?;
        kafka::known_to(out.producer().client(), &topic, brokers)?;
        let mut committer = Committer { brokers: brokers.to_string(), topic, next_snapshot: 0, last_commit: Instant::now(), rows_at_last_commit: 0, whole_bytes: 0, changes_bytes: 0 };
        let windows = committer.restore(fresh)?;
        Ok((committer, windows))
    }

    /// Whether to commit now: rows are waiting (windows fired), or a while has passed.
    pub fn due(&self, out: &ResultsTopic, on_a_backlog: bool) -> bool {
        let since = self.last_commit.elapsed();
        let fired_after = if on_a_backlog { COMMIT_FIRED_AFTER_ON_A_BACKLOG } else { COMMIT_FIRED_AFTER };
        since >= COMMIT_EVERY || (out.emitted > self.rows_at_last_commit && since >= fired_after)
    }

    /// Commits the rows written since the last commit, the operator's snapshot (whole, or its
    /// changes) and the consumer's positions, in one transaction.
    pub fn commit(&mut self, consumer: &BaseConsumer<kafka::GroupMember>, out: &mut ResultsTopic, windows: &mut Windows) -> Result<()> {
        let producer = out.producer();
        let whole = self.changes_bytes >= self.whole_bytes;
        // This producer is the topic's one writer: its end now is where the whole snapshot starts, at the latest.
        let replaces_before = if whole { Some(producer.client().fetch_watermarks(&self.topic, 0, TRANSACTION_TIMEOUT)?.1) } else { None };
        let snapshot = serde_json::to_vec(&if whole { windows.snapshot() } else { windows.changes() })?;
        let parts = snapshot.chunks(CHUNK_BYTES).count();
        for (i, part) in snapshot.chunks(CHUNK_BYTES).enumerate() {
            let key = format!("{} {i} {parts} {}", self.next_snapshot, if whole { WHOLE } else { CHANGES });
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
        self.count(whole, snapshot.len());
        if let Some(before) = replaces_before.filter(|&offset| offset > 0) {
            self.delete_before(before);
        }
        Ok(())
    }

    /// Deletes the state topic's records before `offset`, which a committed whole snapshot
    /// replaces, on a thread of its own: the next commit need not wait for it, and should it fail
    /// (a broker without DeleteRecords), a restart only reads more.
    fn delete_before(&self, offset: i64) {
        let (brokers, topic) = (self.brokers.clone(), self.topic.clone());
        std::thread::spawn(move || {
            if let Err(e) = kafka::delete_records_before(&brokers, &topic, 0, offset) {
                crate::say!("native: {topic} keeps the snapshots a whole one replaced: {e:#}");
            }
        });
    }

    fn count(&mut self, whole: bool, bytes: usize) {
        if whole {
            (self.whole_bytes, self.changes_bytes) = (bytes, 0);
        } else {
            self.changes_bytes += bytes;
        }
    }

    /// Reads the state topic from its start: the operator its last whole snapshot and the changes
    /// after it give (a snapshot counts once all its parts came: they are one transaction's).
    /// The topic starts at most a whole snapshot before its last one: those before were deleted.
    fn restore(&mut self, fresh: impl Fn() -> Windows) -> Result<Windows> {
        let (brokers, topic) = (self.brokers.clone(), self.topic.clone());
        let mut windows = fresh();
        let mut parts: Vec<u8> = Vec::new();
        let (mut from, mut records) = (None, 0u64);
        kafka::read_to_end(&brokers, &topic, 1, "the state", STATE_READ_STALL, |m| {
            from.get_or_insert(m.offset());
            records += 1;
            let key = std::str::from_utf8(m.key().unwrap_or_default()).unwrap_or_default();
            let parsed = match key.split(' ').collect::<Vec<_>>()[..] {
                [_, part, total, kind @ (WHOLE | CHANGES)] => part.parse::<usize>().ok().zip(total.parse::<usize>().ok()).map(|(p, t)| (p, t, kind == WHOLE)),
                _ => None,
            };
            let Some((part, total, whole)) = parsed else { bail!("the state topic {topic} holds a record keyed {key:?}, not a snapshot's part") };
            if part == 0 {
                parts.clear();
            }
            parts.extend_from_slice(m.payload().unwrap_or_default());
            if part + 1 == total {
                if whole {
                    windows = fresh();
                }
                windows.apply(serde_json::from_slice(&parts).with_context(|| format!("reading a snapshot in {topic}"))?);
                self.count(whole, parts.len());
                self.next_snapshot += 1;
            }
            Ok(())
        })?;
        if let Some(from) = from {
            crate::say!("native: restored its state from {records} records of {topic}, from offset {from}");
        }
        Ok(windows)
    }
}

/// The last word of a snapshot part's key: the whole state, or the changes since the snapshot before.
const WHOLE: &str = "whole";
const CHANGES: &str = "changes";
