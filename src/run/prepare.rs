//! A run's first phase: its store, its topics, the flags its jobs share, its record in the store,
//! and the collector reading along.

use super::RunOptions;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::collect::{self, Collected};
use crate::engine::protocol::{instance_suffix, JobContext, JobFlags};
use crate::engine::Job;
use crate::evaluate::RunParams;
use crate::kafka;
use crate::model::{JobRecord, RunRecord};
use crate::say;
use crate::store::{self, Store};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// A run under way: where it keeps things, what it told the store, what its engines are given.
pub(super) struct Prepared {
    pub dir: PathBuf,
    pub store: Box<dyn Store>,
    pub store_url: String,
    pub record: RunRecord,
    pub params: RunParams,
    pub ctx: JobContext,
    pub partitions: i32,
    /// Each job's own, in the order of the jobs.
    pub results_topics: Vec<String>,
    /// What the live collector has read so far, and its thread until it is stopped.
    pub collected: Arc<Mutex<Collected>>,
    pub collector: Option<std::thread::JoinHandle<Result<()>>>,
    pub collector_stop: Arc<AtomicBool>,
}

pub(super) fn prepare(o: &RunOptions, id: String, dir: PathBuf, broker: &Broker) -> Result<Prepared> {
    let sc = &o.scenario;
    let store_url = o.store_url();
    let mut store = store::open(&store_url)?;
    say!("boontadata: run {id} ({}), output in {}", sc.description_or_name(), dir.display());
    let brokers = broker.bootstrap.clone();
    let flags = JobFlags {
        brokers: brokers.clone(),
        events: format!("events.{id}"),
        results: format!("results.{id}"),
        window_ms: sc.window_ms,
        out_of_orderness_ms: sc.out_of_orderness_ms,
        allowed_lateness_ms: sc.allowed_lateness_ms,
        ids: o.ids,
        ..JobFlags::default()
    };
    let ctx = JobContext { run_id: id.clone(), run_dir: dir.clone(), flags, engine_args: o.engine_args.clone() };
    let results_topics: Vec<String> = o.jobs.iter().map(|j| ctx.results_topic(j)).collect();
    for topic in std::iter::once(&ctx.flags.events).chain(&results_topics) {
        kafka::create_topic(&brokers, topic, sc.partitions, broker.replication)?;
    }
    let partitions = kafka::partition_count(&brokers, &ctx.flags.events)?;
    let jobs = o.jobs.iter().map(|j| job_record(&dir, j, o.ids)).collect();
    let params = RunParams { scenario: sc.clone(), out_dir: dir.display().to_string(), broker: broker.info(), jobs, preload: o.preload };
    let record = run_record(&id, &params, now_ms())?;
    store.put_run(&record)?;
    let collector_stop = Arc::new(AtomicBool::new(false));
    let (collected, collector) = collect::spawn(&brokers, &results_topics, partitions, collector_stop.clone())?;
    Ok(Prepared { dir, store, store_url, record, params, ctx, partitions, results_topics, collected, collector: Some(collector), collector_stop })
}

/// A job's record before it runs; with `ids`, its rows name their events where its engine can.
fn job_record(dir: &Path, job: &Job, ids: bool) -> JobRecord {
    JobRecord {
        engine: job.spec.name.clone(),
        mode: job.mode,
        status: None,
        log: log_path(dir, job, 0).display().to_string(),
        crash: None,
        watermark: job.spec.watermark,
        end_of_stream_window: None,
        ids: ids && job.spec.ids,
        end_inclusive: job.spec.end_inclusive,
        dedup: job.spec.dedup,
        lateness: job.spec.lateness,
        late_drop: job.spec.late_drop,
        after_crash: Some(job.spec.after_crash),
    }
}

/// The store's record of a run that starts at `started_at`.
pub(super) fn run_record(id: &str, params: &RunParams, started_at: i64) -> Result<RunRecord> {
    let scenario = &params.scenario;
    let params_json = serde_json::to_string(params)?;
    Ok(RunRecord {
        id: id.into(),
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        params: params_json,
        engine_versions: "{}".into(),
        started_at,
        ended_at: None,
    })
}

/// Where process `instance` of a job writes its log: the first one's is the job's.
pub(super) fn log_path(dir: &Path, job: &Job, instance: usize) -> PathBuf {
    dir.join(format!("engine-{}-{}{}.log", job.spec.name, job.mode, instance_suffix(instance)))
}
