//! `boontadata engine native` — the reference engine: the yardstick every
//! other engine is compared against. One consumer in the job's group, the
//! window operator of `window.rs`, one producer; batched on both sides, no
//! allocation per event. Its watermark is per partition (the slowest active
//! partition's latest time − out-of-orderness), and a partition silent for
//! `--idle-timeout-ms` stops holding it back. Exactly-once across a crash:
//! its rows, its operator's state and its input offsets are committed together
//! (`committed.rs`).

pub mod committed;
pub mod window;

use super::watermark::PartitionClocks;
use super::{ResultsTopic, Tally};
use crate::clock::now_ms;
use crate::kafka;
use crate::engine::protocol::JobFlags;
use crate::model::{id_hash, Event, Mode};
use anyhow::Result;
use committed::Committer;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use window::{Arrival, Windows};

/// Records handled between two looks at the watermark and the commit.
const POLL_BATCH: usize = 10_000;

/// The time a record is windowed by in this mode.
pub fn time_of(mode: Mode, msg: &BorrowedMessage, event: &Event, now: i64) -> i64 {
    match mode {
        Mode::EventTime => event.dt,
        Mode::ProcessingTime => now,
        Mode::IngestionTime => msg.timestamp().to_millis().unwrap_or(now),
    }
}

/// How long an id is remembered for dedup. A resend keeps its device time, so
/// in event time its own window remembers it; the other clocks give a resend
/// a new time, so ids are kept for a horizon instead.
fn remember_until(mode: Mode, t: i64, horizon_ms: i64) -> i64 {
    if mode == Mode::EventTime {
        0
    } else {
        t + horizon_ms
    }
}

/// The watermark: the wall clock in processing time, else the partitions' clocks.
fn watermark(mode: Mode, clocks: &PartitionClocks, now: i64) -> Option<i64> {
    match mode {
        Mode::ProcessingTime => Some(now),
        Mode::EventTime | Mode::IngestionTime => clocks.watermark(now),
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub job: JobFlags,
}

/// The engine's process: a job from its command line, then the next ones the harness gives it.
pub fn main(args: Vec<String>, stop: &'static AtomicBool, terminated: &'static AtomicBool) -> Result<()> {
    super::serve(super::parse_args("native", args)?, stop, terminated, run)
}

/// Runs until `stop` is set (SIGTERM/SIGINT, or `end`), printing the protocol lines the harness reads.
pub fn run(o: &Options, stop: &AtomicBool) -> Result<()> {
    println!("boontadata: version native {} (exactly once)", env!("CARGO_PKG_VERSION"));
    let mut tally = Tally::default();
    let mut ready = false;
    loop {
        match run_from_last_commit(&o.job, stop, &mut tally, &mut ready) {
            // A transaction that could not commit (its coordinator gone with a broker node, say)
            // is given up as a crash is: what it held is read again from the last commit, by new
            // clients, which find the cluster as it is now (librdkafka can keep asking a node
            // that is gone for good: confluentinc/librdkafka#5511).
            // So is a job whose group took its partitions: it may have gone on without it (a
            // session that ran out while the process was stopped), and its transaction with it.
            Err(e) if is_transient(&e) => eprintln!("native: {e:#}; starting again from the last commit"),
            other => return other,
        }
    }
}

/// Whether `e` is a transaction that failed for now, not for good (fenced, or a fatal error), or the group's revocation.
fn is_transient(e: &anyhow::Error) -> bool {
    e.is::<PartitionsRevoked>() || e.chain().any(|cause| matches!(cause.downcast_ref::<KafkaError>(), Some(KafkaError::Transaction(t)) if !t.is_fatal()))
}

/// The group took the job's partitions (a rebalance, or a session that ran out): the state and
/// rows since its last commit are of input it will read again from the committed offsets.
#[derive(Debug)]
struct PartitionsRevoked;

impl std::fmt::Display for PartitionsRevoked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the group revoked its partitions (a rebalance, or its session ran out)")
    }
}

impl std::error::Error for PartitionsRevoked {}

/// One life of the job: its state and input offsets restored from the last commit, then read on
/// until `stop`, or until a transaction fails.
fn run_from_last_commit(job: &JobFlags, stop: &AtomicBool, tally: &mut Tally, ready: &mut bool) -> Result<()> {
    let group = job.group_for("native");
    // First the transactions, which fence a killed process of this job, then its state, then the input from where that state was committed.
    let mut out = ResultsTopic::transactional("native", job, &group)?;
    let (mut committer, mut windows) = Committer::open(&job.brokers, &group, &out, || Windows::new(job.window_ms, job.allowed_lateness_ms))?;
    let consumer = kafka::group_consumer(&job.brokers, &group, &job.events)?;
    let mut clocks = PartitionClocks::new(job.out_of_orderness_ms, job.idle_timeout_ms);
    let mut last_report = Instant::now();

    while !stop.load(Ordering::Relaxed) {
        // A short wait: in processing time a window is due the moment the clock passes its end.
        let first = kafka::poll(&consumer, Duration::from_millis(10));
        let now = now_ms();
        let mut polled = 0;
        for msg in first.into_iter().chain(std::iter::from_fn(|| kafka::poll(&consumer, Duration::ZERO)).take(POLL_BATCH)) {
            polled += 1;
            // Before the first message of an assignment: the watermark waits for each partition assigned.
            follow_the_group(&consumer, &mut clocks, now, ready)?;
            let msg = msg?;
            tally.consumed += 1;
            let Some(event) = msg.payload().and_then(Event::decode) else {
                tally.malformed += 1;
                continue;
            };
            let t = time_of(job.mode, &msg, &event, now);
            let remember = remember_until(job.mode, t, job.dedup_horizon_ms);
            let id = job.ids.then_some(&*event.id);
            let arrival = Arrival { t, id_hash: id_hash(&event.id), remember_until: remember, device: &event.di, category: &event.c, m1: event.m1, m2: event.m2, id };
            windows.add(arrival, &mut |e| out.write(e.window_end, e.device, e.category, e.agg, e.ids));
            clocks.observe(msg.partition(), t, now);
        }
        follow_the_group(&consumer, &mut clocks, now, ready)?;
        if let Some(wm) = watermark(job.mode, &clocks, now) {
            windows.advance(wm, &mut |e| out.write(e.window_end, e.device, e.category, e.agg, e.ids));
        }
        out.check()?;
        // A full batch: more is waiting, the job is reading a backlog.
        if committer.due(&out, polled > POLL_BATCH) {
            committer.commit(&consumer, &mut out, &mut windows)?;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            report(&windows, tally, &out);
            last_report = Instant::now();
        }
    }
    committer.commit(&consumer, &mut out, &mut windows)?;
    out.finish()?;
    report(&windows, tally, &out);
    Ok(())
}

/// Takes what the group's rebalances did: the partitions assigned (the first ones make the job
/// ready), or a revocation, which ends this life of the job (`PartitionsRevoked`).
fn follow_the_group(consumer: &BaseConsumer<kafka::GroupMember>, clocks: &mut PartitionClocks, now: i64, ready: &mut bool) -> Result<()> {
    let Some(rebalanced) = consumer.context().take_rebalance() else { return Ok(()) };
    if rebalanced.revoked {
        return Err(PartitionsRevoked.into());
    }
    if let Some(partitions) = rebalanced.assigned.filter(|p| !p.is_empty()) {
        clocks.assign(partitions, now);
        if !*ready {
            *ready = true;
            println!("boontadata: ready");
        }
    }
    Ok(())
}

fn report(windows: &Windows, tally: &Tally, out: &ResultsTopic) {
    let c = windows.counters;
    Tally { late_dropped: c.late_dropped, duplicates_dropped: c.duplicates_dropped, ..*tally }.print(out, "");
}
