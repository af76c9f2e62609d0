//! The simulator alone (`boontadata inject`): a run without engines. It sends a plan to a topic and
//! keeps what was sent and the truth under the run's id; the shards of one run, each keeping its
//! devices' events and truth under the same id, add up to the whole run's.

use super::prepare::run_record;
use crate::clock::now_ms;
use crate::evaluate::RunParams;
use crate::inject::{self, Injected, Sending, SentBatch, Stream};
use crate::kafka;
use crate::model::{RunRecord, View};
use crate::phases::Phases;
use crate::say;
use crate::scenario::Scenario;
use crate::simulate::Plan;
use crate::store::{self, Store};
use crate::summary::BrokerInfo;
use crate::truth::Truth;
use anyhow::{Context, Result};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Receiver;

/// Where the simulator sends, and where it keeps what it sent.
pub struct Injection {
    pub scenario: Scenario,
    /// Kafka bootstrap servers.
    pub brokers: String,
    pub topic: String,
    pub store_url: String,
    /// The run's id in the store; default: `inject-SCENARIO-MILLISECONDS`.
    pub run_id: Option<String>,
}

/// How many batches of the log may wait for the writer: the send runs ahead of the store by no more.
const LOG_BATCHES_IN_FLIGHT: usize = 4;

/// Truth rows stored at once.
const TRUTH_BATCH: usize = 65_536;

/// Sends `plan` and stores what was sent and the truth, as a run without engines: the run's id,
/// and how the send went. `phases` has timed the plan, which is dropped once sent.
pub fn inject(o: &Injection, mut plan: Plan, mut phases: Phases, stop: &AtomicBool) -> Result<(String, Injected)> {
    let (sc, brokers) = (&o.scenario, o.brokers.as_str());
    // On the wall clock, as `run`'s: a virtual clock's epoch listed the run in `history` years back.
    let started_at = now_ms();
    let mut store = store::open(&o.store_url)?;
    kafka::check_reachable(brokers)?;
    kafka::create_topic(brokers, &o.topic, sc.partitions, 1)?;
    let partitions = kafka::partition_count(brokers, &o.topic)?;
    let producer = kafka::producer(brokers)?;
    let id = o.run_id.clone().unwrap_or_else(|| format!("inject-{}-{}", sc.name, now_ms()));
    let broker = BrokerInfo { about: format!("the cluster at {brokers}"), startup_s: None };
    let params = RunParams { scenario: sc.clone(), out_dir: String::new(), broker, jobs: vec![], preload: false };
    inject::start_live_clock(&mut plan, sc);
    let (injected, truth) = std::thread::scope(|s| {
        let (batches, received) = std::sync::mpsc::sync_channel(LOG_BATCHES_IN_FLIGHT);
        // A shard's events are numbered from its own 2³², so that the shards of one run never collide.
        let (store, id, plan, first_seq) = (&mut store, &id, &plan, (plan.shard.index as i64) << 32);
        let writer = std::thread::Builder::new()
            .name("event-log".into())
            .spawn_scoped(s, move || keep_log(store.as_mut(), id, first_seq, plan, sc.window_ms, received))?;
        let stream = Stream { plan, scenario: sc, producer: &producer, topic: &o.topic, partitions };
        let sent =
            inject::send(&stream, &Sending::default(), stop, &mut |batch| batches.send(batch).map_err(|_| anyhow::anyhow!("the event log's writer stopped")));
        drop(batches);
        phases.done("send");
        // When the writer failed, its error says why the send stopped short.
        let truth = writer.join().map_err(|_| anyhow::anyhow!("the event log's writer panicked"))??;
        phases.done("store events");
        anyhow::Ok((sent?, truth))
    })?;
    let record = RunRecord { ended_at: Some(now_ms()), ..run_record(&id, &params, started_at)? };
    drop(plan);
    truth.in_batches(TRUTH_BATCH, |rows| store.put_truth(&id, &rows))?;
    // Listed once its truth is whole: a send that failed leaves no run to compare.
    store.put_run(&record)?;
    phases.done("store truth");
    say!("boontadata: inject {}", phases.line());
    Ok((id, injected))
}

/// Stores the sent events batch by batch as they come, numbered from `first_seq`, and counts each
/// first send in the truth, so that neither the log nor the work waits for the last send.
fn keep_log(store: &mut dyn Store, run: &str, first_seq: i64, plan: &Plan, window_ms: i64, batches: Receiver<SentBatch>) -> Result<Truth> {
    let mut truth = Truth::new(&View::BOTH, window_ms, 0);
    let mut seq = first_seq;
    for batch in batches {
        let log = plan.sent_events(&batch);
        store.put_events(run, seq, &log).with_context(|| format!("storing the event log of run {run}"))?;
        seq += log.len() as i64;
        for e in log.iter().filter(|e| e.counts()) {
            truth.count(e);
        }
    }
    Ok(truth)
}
