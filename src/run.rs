//! A run, in its phases: **prepare** (folder, store, topics, the collector),
//! **drive** (start the engines, send the scenario, wait for the end of the
//! stream), **gather** (the log, the results read again, what was measured),
//! **evaluate** (with the function `compare` uses on what the store keeps, a
//! group of devices at a time) and **keep** (the summary in the run's folder,
//! the run in the store; in a SQLite file of the folder if the store fails). A matrix is runs in turn on one broker, with the
//! engines that serve jobs kept between them.

use crate::broker::{self, Broker};
use crate::clock::{now_ms, stamp_now};
use crate::collect::{self, Collected};
use crate::engine::protocol::JobContext;
use crate::engine::running::Running;
use crate::engine::{folder, Job};
use crate::evaluate::{self, measured, RunParams};
use crate::inject::{self, Injected};
use crate::kafka;
use crate::matrix::Matrix;
use crate::model::{device_groups, groups_for, CrashRecord, DeviceGroups, EngineStatus, Group, JobFlags, JobRecord, Metric, Rows, RunRecord, SentEvent, View};
use crate::phases::Phases;
use crate::report;
use crate::scenario::{Crash, Scenario};
use crate::simulate::{Plan, Record};
use crate::store::{self, Store};
use crate::summary::{self, BrokerInfo, RunSummary};
use crate::truth::{self, Truth};
use anyhow::{Context, Result};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub scenario: Scenario,
    pub jobs: Vec<Job>,
    pub broker: broker::Choice,
    pub out: PathBuf,
    pub store: Option<String>,
    /// Send the whole stream before starting the engines (measures throughput on a backlog).
    pub preload: bool,
    /// Stop waiting for an engine that has not emitted its flush row after this long without new results.
    pub quiet: Duration,
    pub ready_timeout: Duration,
    /// The engines' own options, as their jobs take them, by engine name.
    pub engine_args: BTreeMap<String, Vec<String>>,
}

/// Engine processes kept from one run to the next, as the scenarios of a
/// matrix go by: an engine that serves jobs starts once, not once per scenario.
#[derive(Default)]
pub struct Engines(Vec<Running>);

/// How long an engine that serves jobs may take to end one.
const END_JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// One run on the broker `o` names, started for it: its summary, as `compare` would print it again.
pub fn run(o: &RunOptions, stop: &AtomicBool) -> Result<RunSummary> {
    // A bad store URL is said before a broker takes seconds to start; the store stays open for
    // the command, so that a local Cassandra node it starts serves the run too, started once.
    let _store = store::open(&store_url(o))?;
    let (id, dir) = run_folder(o)?;
    let mut broker = start_broker(&o.broker, &dir, std::slice::from_ref(&o.scenario))?;
    run_on(o, id, dir, &mut broker, &mut Engines::default(), stop)
}

/// One run on a broker already started, in a folder of `o.out`, taking engine processes from
/// `engines` where it can and leaving them there (a matrix's scenarios, a bench's probes).
pub fn run_with(o: &RunOptions, broker: &mut Broker, engines: &mut Engines, stop: &AtomicBool) -> Result<RunSummary> {
    let (id, dir) = run_folder(o)?;
    run_on(o, id, dir, broker, engines, stop)
}

/// A run's id and its folder, made.
fn run_folder(o: &RunOptions) -> Result<(String, PathBuf)> {
    let id = format!("{}-{}-{:04x}", o.scenario.name, stamp_now(), std::process::id() & 0xffff);
    let dir = o.out.join(&id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    Ok((id, dir))
}

/// Starts the broker (logging into `dir`), saying so.
/// A scenario that kills a broker node needs a local cluster of three: one is started for it.
pub fn start_broker(choice: &broker::Choice, dir: &Path, scenarios: &[Scenario]) -> Result<Broker> {
    let mut choice = choice.clone();
    if let Some(sc) = scenarios.iter().find(|s| s.crash == Crash::Broker) {
        match &mut choice {
            broker::Choice::Local { kind: broker::Kind::Kafka, nodes } if *nodes < 3 => {
                eprintln!("boontadata: scenario {} kills a broker node: starting a local cluster of 3 nodes (--broker-nodes 3)", sc.name);
                *nodes = 3;
            }
            broker::Choice::Local { kind: broker::Kind::Kafka, .. } => {}
            _ => anyhow::bail!("scenario {} kills a node of a local Apache Kafka cluster: run it without --brokers and --broker tansu", sc.name),
        }
    }
    if let broker::Choice::Local { .. } = choice {
        eprintln!("boontadata: starting the local broker …");
    }
    let broker = broker::start(&choice, dir)?;
    eprintln!("boontadata: broker {}{}", broker.about, broker.startup.map_or(String::new(), |s| format!(", started in {:.1} s", s.as_secs_f64())));
    Ok(broker)
}

/// One run on `broker`, taking engine processes from `engines` where it can and leaving them there.
fn run_on(o: &RunOptions, id: String, dir: PathBuf, broker: &mut Broker, engines: &mut Engines, stop: &AtomicBool) -> Result<RunSummary> {
    let mut phases = Phases::default();
    let mut run = prepare(o, id, dir, broker)?;
    phases.done("prepare");
    let driven = drive(o, &run, broker, engines, stop)?;
    phases.done("stream");
    let stored = gather(&mut run, driven, engines)?;
    phases.done("collect");
    let mut summary = evaluate::evaluate(&stored.record, &stored.metrics, &stored, &store::shown(&run.store_url))?;
    write_summary(&run.dir, &summary)?;
    phases.done("compare");
    if let Err(failure) = keep(&mut *run.store, &stored, &summary) {
        keep_elsewhere(&run.dir, &stored, &mut summary, failure);
        write_summary(&run.dir, &summary)?;
    }
    phases.done("store");
    eprintln!("boontadata: run {} {}", run.record.id, phases.line());
    Ok(summary)
}

/// `summary.json` and `compare.txt` in the run's folder: written before the store is, so that a store that fails leaves them.
fn write_summary(dir: &Path, summary: &RunSummary) -> Result<()> {
    let written = std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(summary)?);
    written
        .and_then(|_| std::fs::write(dir.join("compare.txt"), summary::render(summary, None)))
        .with_context(|| format!("writing the summary into {}", dir.display()))
}

/// A run under way: where it keeps things, what it told the store, what its engines are given.
struct Prepared {
    dir: PathBuf,
    store: Box<dyn Store>,
    store_url: String,
    record: RunRecord,
    params: RunParams,
    ctx: JobContext,
    partitions: i32,
    /// Each job's own, in the order of the jobs.
    results_topics: Vec<String>,
    /// What the live collector has read so far, and its thread until it is stopped.
    collected: Arc<Mutex<Collected>>,
    collector: Option<std::thread::JoinHandle<Result<()>>>,
    collector_stop: Arc<AtomicBool>,
}

fn prepare(o: &RunOptions, id: String, dir: PathBuf, broker: &Broker) -> Result<Prepared> {
    let sc = &o.scenario;
    let store_url = store_url(o);
    let mut store = store::open(&store_url)?;
    eprintln!("boontadata: run {id} ({}), output in {}", sc.description_or_name(), dir.display());
    let brokers = broker.bootstrap.clone();
    let flags = JobFlags {
        brokers: brokers.clone(),
        events: format!("events.{id}"),
        results: format!("results.{id}"),
        window_ms: sc.window_ms,
        out_of_orderness_ms: sc.out_of_orderness_ms,
        allowed_lateness_ms: sc.allowed_lateness_ms,
        ..JobFlags::default()
    };
    let ctx = JobContext { run_id: id.clone(), run_dir: dir.clone(), flags, engine_args: o.engine_args.clone() };
    let results_topics: Vec<String> = o.jobs.iter().map(|j| ctx.results_topic(j)).collect();
    for topic in std::iter::once(&ctx.flags.events).chain(&results_topics) {
        kafka::create_topic(&brokers, topic, sc.partitions, broker.replication)?;
    }
    let partitions = kafka::partition_count(&brokers, &ctx.flags.events)?;
    let jobs = o
        .jobs
        .iter()
        .map(|j| JobRecord {
            engine: j.spec.name.clone(),
            mode: j.mode,
            status: None,
            log: log_path(&dir, j).display().to_string(),
            crash: None,
            watermark: j.spec.watermark,
            end_of_stream_window: None,
        })
        .collect();
    let params = RunParams { scenario: sc.clone(), out_dir: dir.display().to_string(), broker: broker.info(), jobs, preload: o.preload };
    let record = run_record(&id, &params, now_ms())?;
    store.put_run(&record)?;
    let collector_stop = Arc::new(AtomicBool::new(false));
    let (collected, collector) = collect::spawn(&brokers, &results_topics, partitions, collector_stop.clone())?;
    Ok(Prepared { dir, store, store_url, record, params, ctx, partitions, results_topics, collected, collector: Some(collector), collector_stop })
}

/// The store's record of a run that starts at `started_at`.
fn run_record(id: &str, params: &RunParams, started_at: i64) -> Result<RunRecord> {
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

/// Where a job's process writes its log.
fn log_path(dir: &Path, job: &Job) -> PathBuf {
    dir.join(format!("engine-{}-{}.log", job.spec.name, job.mode))
}

/// What driving a run gave: what was sent, its log, and its jobs, ended.
struct Driven {
    injected: Injected,
    log: SentLog,
    jobs: Vec<JobRun>,
}

/// The log of what a run sent, as the plan and each event's send time (the plan's events are sent
/// in its order): not a `SentEvent` per event, since a big run sends millions.
struct SentLog {
    plan: Plan,
    sent_at: Vec<i64>,
}

impl SentLog {
    /// The events sent, in the order sent.
    fn events(&self) -> impl Iterator<Item = SentEvent> + '_ {
        self.plan.sends().zip(&self.sent_at).map(|(s, &at)| self.plan.sent_event(s, at))
    }
}

/// A job of the run, with its engine process once it has one.
struct JobRun {
    job: Job,
    running: Option<Running>,
    /// Why the job failed, once it has.
    failure: Option<EngineStatus>,
    /// When the harness killed its engine and started it again, in a crash scenario.
    crash: Option<CrashRecord>,
}

fn drive(o: &RunOptions, run: &Prepared, broker: &mut Broker, engines: &mut Engines, stop: &AtomicBool) -> Result<Driven> {
    let sc = &o.scenario;
    let producer = kafka::producer(&run.ctx.flags.brokers)?;
    let sending = inject::Sending::default();
    let (events, partitions) = (&run.ctx.flags.events, run.partitions);
    let send = || {
        let mut plan = Plan::new(sc, sc.start_of_clock(now_ms()));
        inject::start_live_clock(&mut plan, sc);
        let mut sent_at = Vec::with_capacity(plan.records.len());
        let mut keep = |batch: inject::SentBatch| {
            sent_at.extend(batch.iter().map(|&(_, at)| at));
            Ok(())
        };
        let injected = inject::inject(&plan, sc, &producer, events, partitions, &sending, stop, &mut keep)?;
        anyhow::Ok((injected, SentLog { plan, sent_at }))
    };
    let ((injected, log), mut jobs) = if o.preload {
        if sc.crash != Crash::None {
            anyhow::bail!("scenario '{}' crashes the engines while the stream is sent: it cannot be preloaded (drop --preload)", sc.name);
        }
        let injected = send()?;
        (injected, start_engines(o, &run.ctx, engines, stop))
    } else {
        let mut jobs = start_engines(o, &run.ctx, engines, stop);
        let injected = match sc.crash {
            Crash::None => send()?,
            Crash::Engine => std::thread::scope(|s| {
                let sender = s.spawn(send);
                crash_engines(o, &run.ctx, &mut jobs, &sending, stop, || sender.is_finished());
                sender.join().map_err(|_| anyhow::anyhow!("the sending thread panicked"))?
            })?,
            Crash::Broker => std::thread::scope(|s| {
                let sender = s.spawn(send);
                let crashed = crash_broker(sc, broker, events, &run.dir, &sending, stop, || sender.is_finished());
                let injected = sender.join().map_err(|_| anyhow::anyhow!("the sending thread panicked"))??;
                for j in jobs.iter_mut() {
                    j.crash = crashed.as_ref().ok().copied().flatten();
                }
                crashed.map(|_| injected)
            })?,
        };
        (injected, jobs)
    };
    wait_for_engines(&mut jobs, &run.collected, &injected, o.quiet, stop)?;
    for j in jobs.iter_mut() {
        let Some(e) = j.running.as_mut() else { continue };
        if j.failure.is_none() && e.job.spec.serves_jobs {
            j.failure = e.end_job(END_JOB_TIMEOUT, stop).err();
        } else {
            e.stop();
        }
    }
    Ok(Driven { injected, log, jobs })
}

/// The scenario's broker crash: once `crash_after` of the records are sent, `kill -9` of the node
/// leading the events topic's first partition; `crash_down_ms` later, the node started again on its
/// data, waited for until the whole cluster is registered. `None` when the stream ended first; an
/// error, which fails the run, when the node does not come back.
fn crash_broker(
    sc: &Scenario,
    broker: &mut Broker,
    events: &str,
    dir: &Path,
    sending: &inject::Sending,
    stop: &AtomicBool,
    sent_all: impl Fn() -> bool,
) -> Result<Option<CrashRecord>> {
    if !wait_to_crash(sc, sending, stop, sent_all) {
        return Ok(None);
    }
    let (part, killed_at) = (sending.part_sent(), now_ms());
    let node = broker.kill_leader_of(events)?;
    eprintln!(
        "boontadata: kill -9 of broker node {node} (the leader of {events}'s partition 0) after {:.0}% of the records; starting it again in {:.1} s",
        part * 100.0,
        sc.crash_down_ms as f64 / 1000.0
    );
    pause(sc, stop);
    let restarted_at = now_ms();
    broker.restart(node, dir).with_context(|| format!("broker node {node} did not come back after its crash"))?;
    eprintln!("boontadata: broker node {node} is back after {:.1} s", (now_ms() - killed_at) as f64 / 1000.0);
    Ok(Some(CrashRecord { killed_at, restarted_at, ready_again_at: Some(now_ms()), node: Some(node) }))
}

/// Waits until `crash_after` of the records are sent; false if the stream ended or the run was stopped first.
fn wait_to_crash(sc: &Scenario, sending: &inject::Sending, stop: &AtomicBool, sent_all: impl Fn() -> bool) -> bool {
    while sending.part_sent() < sc.crash_after {
        if sent_all() || stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// What is killed stays down for `crash_down_ms` (less if the run is stopped).
fn pause(sc: &Scenario, stop: &AtomicBool) {
    let back = Instant::now() + Duration::from_millis(sc.crash_down_ms as u64);
    while Instant::now() < back && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The scenario's engine crash: once `crash_after` of the records are sent, `kill -9` of every
/// running job's process tree; `crash_down_ms` later, the same jobs started again (same group,
/// same state folder), each waited for until it is ready. A job that does not come back fails alone.
fn crash_engines(o: &RunOptions, ctx: &JobContext, jobs: &mut [JobRun], sending: &inject::Sending, stop: &AtomicBool, sent_all: impl Fn() -> bool) {
    let sc = &o.scenario;
    if !wait_to_crash(sc, sending, stop, sent_all) {
        return;
    }
    let (part, killed_at) = (sending.part_sent(), now_ms());
    let mut killed = Vec::new();
    for j in jobs.iter_mut().filter(|j| j.failure.is_none()) {
        if let Some(e) = j.running.as_mut() {
            e.kill();
            killed.push(j.job.label());
        }
    }
    eprintln!(
        "boontadata: kill -9 of {} after {:.0}% of the records; starting them again in {:.1} s",
        killed.join(", "),
        part * 100.0,
        sc.crash_down_ms as f64 / 1000.0
    );
    pause(sc, stop);
    let restarted_at = now_ms();
    for j in jobs.iter_mut().filter(|j| j.failure.is_none() && j.running.is_some()) {
        j.crash = Some(CrashRecord { killed_at, restarted_at, ready_again_at: None, node: None });
        let log = log_path(&ctx.run_dir, &j.job);
        match Running::start_again(&j.job, ctx, &log) {
            Ok(e) => j.running = Some(e),
            Err(e) => j.failure = Some(EngineStatus::Failed(format!("could not start again after the crash: {e:#}"))),
        }
    }
    for j in jobs.iter_mut().filter(|j| j.failure.is_none()) {
        let (Some(e), Some(crash)) = (j.running.as_mut(), j.crash.as_mut()) else { continue };
        match e.wait_ready(o.ready_timeout, stop) {
            Ok(()) => crash.ready_again_at = e.heard().ready_at.map(|at| now_ms() - at.elapsed().as_millis() as i64),
            Err(status) => {
                eprintln!("boontadata: engine {} did not come back after the crash: {status}; see {}", j.job.label(), e.log.display());
                e.stop();
                j.failure = Some(EngineStatus::NotReady(format!("not back after the crash: {status}")));
            }
        }
    }
}

/// Gives each job an engine process that is ready: the one kept from the previous run if it serves
/// jobs, else a new one. A job whose engine cannot start, or does not get ready, fails alone.
fn start_engines(o: &RunOptions, ctx: &JobContext, engines: &mut Engines, stop: &AtomicBool) -> Vec<JobRun> {
    let mut kept = std::mem::take(&mut engines.0);
    let mut jobs = Vec::new();
    for job in &o.jobs {
        let log = log_path(&ctx.run_dir, job);
        let started = match kept.iter_mut().position(|e| e.can_take(job)) {
            Some(i) => {
                let mut e = kept.swap_remove(i);
                e.next_job(ctx, &log).map(|_| e)
            }
            None => folder::setup(job.spec).and_then(|_| Running::start(job, ctx, &log)),
        };
        jobs.push(match started {
            Ok(e) => JobRun { job: job.clone(), running: Some(e), failure: None, crash: None },
            Err(e) => {
                eprintln!("boontadata: engine {} could not start: {e:#}", job.label());
                JobRun { job: job.clone(), running: None, failure: Some(EngineStatus::NotReady(format!("could not start: {e:#}"))), crash: None }
            }
        });
    }
    // Engines this run has no job for wait for a later one (a matrix run in groups of jobs).
    engines.0 = kept;
    eprintln!("boontadata: started {}; waiting until they are ready …", o.jobs.iter().map(Job::label).collect::<Vec<_>>().join(", "));
    for j in jobs.iter_mut() {
        let Some(e) = j.running.as_mut() else { continue };
        if let Err(status) = e.wait_ready(o.ready_timeout, stop) {
            eprintln!("boontadata: engine {} {status}; see {}", j.job.label(), e.log.display());
            e.stop();
            j.failure = Some(status);
        }
    }
    jobs
}

/// Waits until every engine still running has emitted its flush row (then one more quiet
/// second for stragglers), has been quiet for `quiet` since the flush (or, with
/// `--preload`, since the engines were ready), or has died.
fn wait_for_engines(jobs: &mut [JobRun], collected: &Mutex<Collected>, injected: &Injected, quiet: Duration, stop: &AtomicBool) -> Result<()> {
    let mut last_line = Instant::now();
    let quiet_from = injected.flushed.max(last_line);
    loop {
        if stop.load(Ordering::Relaxed) {
            anyhow::bail!("interrupted while waiting for the engines");
        }
        let now = Instant::now();
        let mut waiting = Vec::new();
        {
            let c = collected.lock().expect("collector lock");
            for j in jobs.iter_mut().filter(|j| j.failure.is_none()) {
                let Some(e) = j.running.as_mut() else { continue };
                if e.exited().is_some() {
                    continue;
                }
                let p = c.progress.get(&(j.job.spec.name.clone(), j.job.mode)).cloned().unwrap_or_default();
                let last = p.last_received.map_or(quiet_from, |l| l.max(quiet_from));
                let done = (p.flush_seen() && now - last >= Duration::from_secs(1)) || now - last >= quiet;
                if !done {
                    waiting.push(format!("{} ({} rows)", e.job.label(), p.rows_received));
                }
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if last_line.elapsed() >= Duration::from_secs(5) {
            eprintln!("boontadata: waiting for the end of the stream from {}", waiting.join(", "));
            last_line = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A run gathered once its engines stopped, as `run` holds it until it is kept: its record, what
/// was measured, its log and its result rows, read a group of devices at a time, so that a run of
/// millions of events is compared and kept in parts.
struct Gathered {
    record: RunRecord,
    metrics: Vec<Metric>,
    window_ms: i64,
    log: SentLog,
    rows: Rows,
    /// Each group's events: (its record in the plan, its place in the log).
    sends_by_group: Vec<Vec<(u32, u32)>>,
}

/// Events stored at once.
const EVENTS_BATCH: usize = 65_536;

impl Gathered {
    /// The run in `groups` groups of devices.
    fn new(record: RunRecord, metrics: Vec<Metric>, window_ms: i64, log: SentLog, rows: Rows, groups: usize) -> Gathered {
        let group_of = device_groups(&log.plan.device_ids, groups);
        let mut sends_by_group = vec![Vec::new(); groups];
        let events = log.plan.records.iter().enumerate().filter_map(|(i, r)| match r {
            Record::Event(s) => Some((i, s)),
            Record::Malformed(_) => None,
        });
        // A send cut short logged the plan's first events only.
        for (k, (i, s)) in events.take(log.sent_at.len()).enumerate() {
            sends_by_group[group_of[s.device as usize]].push((i as u32, k as u32));
        }
        Gathered { record, metrics, window_ms, log, rows: rows.grouped(groups), sends_by_group }
    }

    fn events_of(&self, g: usize) -> Vec<SentEvent> {
        let plan = &self.log.plan;
        let sent = self.sends_by_group[g].iter().filter_map(|&(i, k)| match &plan.records[i as usize] {
            Record::Event(s) => Some(plan.sent_event(s, self.log.sent_at[k as usize])),
            Record::Malformed(_) => None,
        });
        sent.collect()
    }
}

impl DeviceGroups for Gathered {
    fn events(&self) -> usize {
        self.log.sent_at.len()
    }

    fn count(&self) -> usize {
        self.sends_by_group.len()
    }

    fn group(&self, g: usize) -> Group<'_> {
        Group { events: Cow::Owned(self.events_of(g)), results: Cow::Owned(self.rows.group(g)) }
    }
}

/// Everything the run gives the store, gathered once the engines stopped: what was sent, the
/// results, what was measured and how each job went. Gives the engines that serve
/// jobs back to `engines`.
fn gather(run: &mut Prepared, driven: Driven, engines: &mut Engines) -> Result<Gathered> {
    let sc = &run.params.scenario;
    let (injected, log) = (driven.injected, driven.log);
    // Kept as the store keeps them: one value per (who, name), the last one given.
    let mut metrics = BTreeMap::new();
    let mut measure = |who: &str, name: &str, value: f64| metrics.insert((who.to_string(), name.to_string()), value);
    let sent_rate = injected.events as f64 / (injected.sent_all - injected.started).as_secs_f64().max(1e-9);
    measure(measured::SIMULATOR, measured::EVENTS_PER_S, sent_rate);
    measure(measured::SIMULATOR, measured::MALFORMED_SENT, injected.malformed as f64);
    measure(measured::SIMULATOR, measured::BEHIND_SCHEDULE_MS, injected.behind_schedule.as_millis() as f64);

    run.collector_stop.store(true, Ordering::Relaxed);
    if let Some(thread) = run.collector.take() {
        thread.join().map_err(|_| anyhow::anyhow!("the collector thread panicked"))??;
    }
    let mut collected = run.collected.lock().expect("collector lock");
    collected.complete_with(collect::read_all(&run.ctx.flags.brokers, &run.results_topics, run.partitions)?);
    measure(measured::COLLECTOR, measured::UNDECODABLE, collected.undecodable as f64);

    let mut versions = serde_json::Map::new();
    for (j, record) in driven.jobs.into_iter().zip(&mut run.params.jobs) {
        let progress = collected.progress.get(&(j.job.spec.name.clone(), j.job.mode)).cloned().unwrap_or_default();
        record.crash = j.crash;
        record.end_of_stream_window = progress.flush_window_end;
        let Some(mut e) = j.running else {
            record.status = j.failure;
            continue;
        };
        let status = j.failure.unwrap_or_else(|| e.status(progress.flush_seen()));
        let heard = e.heard();
        // From the moment the engine could read (ready, or the first event sent) to its end-of-stream row.
        let begin = heard.ready_at.map_or(injected.started, |r| r.max(injected.started));
        let events_per_s = progress
            .last_received
            .filter(|_| progress.flush_seen())
            .map(|end| (injected.events as u64 + injected.malformed) as f64 / (end - begin).as_secs_f64().max(1e-3));
        let usage = e.usage();
        let measurements = [
            (measured::EVENTS_PER_S, events_per_s),
            (measured::STARTUP_S, heard.ready_at.map(|r| (r - e.started).as_secs_f64())),
            (measured::CPU_S, usage.map(|u| u.0)),
            (measured::PEAK_RSS_BYTES, usage.map(|u| u.1 as f64)),
        ];
        let heard_metrics = heard.metrics.iter().map(|(n, v)| (n.as_str(), Some(*v)));
        for (name, value) in heard_metrics.chain(measurements).filter_map(|(n, v)| Some((n, v?))) {
            measure(&j.job.key(), name, value);
        }
        if let Some(v) = heard.version {
            versions.insert(record.engine.clone(), v.into());
        }
        if status.is_ok() && e.job.spec.serves_jobs {
            engines.0.push(e);
        }
        record.status = Some(status);
    }
    run.record.params = serde_json::to_string(&run.params)?;
    run.record.engine_versions = serde_json::Value::Object(versions).to_string();
    run.record.ended_at = Some(now_ms());
    let metrics = metrics.into_iter().map(|((who, name), value)| (who, name, value)).collect();
    let groups = groups_for(log.sent_at.len());
    Ok(Gathered::new(run.record.clone(), metrics, sc.window_ms, log, collected.take_rows(), groups))
}

/// Keeps a run in `store`, with the verdict of each engine mode that `history` lists; the events
/// and the truth first, so that a store that fails later still has them.
fn keep(store: &mut dyn Store, run: &Gathered, summary: &RunSummary) -> Result<()> {
    let id = &run.record.id;
    let (mut events, mut seq) = (run.log.events(), 0);
    loop {
        let batch: Vec<SentEvent> = events.by_ref().take(EVENTS_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        store.put_events(id, seq, &batch)?;
        seq += batch.len() as i64;
    }
    for g in 0..run.count() {
        store.put_truth(id, &truth::compute(&run.events_of(g), run.window_ms))?;
    }
    for g in 0..run.count() {
        store.put_results(id, &run.rows.group(g))?;
    }
    for (who, name, value) in &run.metrics {
        store.put_metric(id, who, name, *value)?;
    }
    for e in &summary.engines {
        for (name, value) in e.verdict_metrics() {
            store.put_metric(id, &format!("{}/{}", e.engine, e.mode), name, value)?;
        }
    }
    store.put_run(&run.record)
}

/// Keeps a run whose store failed in a SQLite file of its own folder; says so in `summary`.
fn keep_elsewhere(dir: &Path, run: &Gathered, summary: &mut RunSummary, failure: anyhow::Error) {
    let fallback = format!("sqlite:{}", dir.join("boontadata.sqlite").display());
    let failed = format!("the store {} failed while keeping run {}: {failure:#}", summary.store, run.record.id);
    summary.store_failure = Some(match store::open(&fallback).and_then(|mut s| keep(&mut *s, run, summary)) {
        Ok(()) => {
            summary.store = fallback.clone();
            format!("{failed}; the run is kept in {fallback} instead (`boontadata compare --store {fallback}`)")
        }
        Err(e) => format!("{failed}; keeping it in {fallback} instead failed too ({e:#}): only its summary is left, in {}", dir.join("summary.json").display()),
    });
}

/// The simulator alone (`boontadata inject`): sends `plan` to `topic` and stores what was sent and
/// the truth, as a run without engines, under `run_id` if given. The shards of one run, each
/// keeping its devices' events and truth under the same id, add up to the whole run's.
/// `phases` has timed the plan, which is dropped once sent.
#[allow(clippy::too_many_arguments)]
pub fn inject(
    sc: &Scenario,
    mut plan: Plan,
    brokers: &str,
    topic: &str,
    store_url: &str,
    run_id: Option<&str>,
    mut phases: Phases,
    stop: &AtomicBool,
) -> Result<(String, Injected)> {
    // On the wall clock, as `run`'s: a virtual clock's epoch listed the run in `history` years back.
    let started_at = now_ms();
    let mut store = store::open(store_url)?;
    kafka::check_reachable(brokers)?;
    kafka::create_topic(brokers, topic, sc.partitions, 1)?;
    let partitions = kafka::partition_count(brokers, topic)?;
    let producer = kafka::producer(brokers)?;
    let id = run_id.map_or_else(|| format!("inject-{}-{}", sc.name, now_ms()), String::from);
    let params = RunParams {
        scenario: sc.clone(),
        out_dir: String::new(),
        broker: BrokerInfo { about: format!("the cluster at {brokers}"), startup_s: None },
        jobs: vec![],
        preload: false,
    };
    inject::start_live_clock(&mut plan, sc);
    let (injected, truth) = std::thread::scope(|s| {
        let (batches, received) = std::sync::mpsc::sync_channel(LOG_BATCHES_IN_FLIGHT);
        let writer = std::thread::Builder::new()
            .name("event-log".into())
            .spawn_scoped(s, || keep_log(&mut *store, &id, (plan.shard.index as i64) << 32, &plan, sc.window_ms, received))?;
        let mut keep = |batch| batches.send(batch).map_err(|_| anyhow::anyhow!("the event log's writer stopped"));
        let sent = inject::inject(&plan, sc, &producer, topic, partitions, &inject::Sending::default(), stop, &mut keep);
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
    eprintln!("boontadata: inject {}", phases.line());
    Ok((id, injected))
}

/// How many batches of the log may wait for the writer: the send runs ahead of the store by no more.
const LOG_BATCHES_IN_FLIGHT: usize = 4;

/// Truth rows stored at once.
const TRUTH_BATCH: usize = 65_536;

/// Stores the sent events batch by batch as they come, numbered from `first_seq`, and counts each
/// first send in the truth, so that neither the log nor the work waits for the last send.
fn keep_log(store: &mut dyn Store, run: &str, first_seq: i64, plan: &Plan, window_ms: i64, batches: Receiver<inject::SentBatch>) -> Result<Truth> {
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

/// `--store`, or the SQLite file in the output folder.
pub fn store_url(o: &RunOptions) -> String {
    o.store.clone().unwrap_or_else(|| format!("sqlite:{}", o.out.join("boontadata.sqlite").display()))
}

/// Every scenario in turn on one broker, in a matrix folder of its own; `matrix.json` and
/// `report.html` are written after each scenario, so that a matrix cut short keeps its cells.
pub fn matrix(o: &RunOptions, scenarios: &[Scenario], jobs_at_once: Option<usize>, stop: &AtomicBool) -> Result<(Matrix, PathBuf)> {
    let stamp = stamp_now();
    let dir = o.out.join(format!("matrix-{stamp}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Open for the whole matrix: a local Cassandra node it starts then serves every run.
    let _store = store::open(&store_url(o))?;
    let mut broker = start_broker(&o.broker, &dir, scenarios)?;
    let created = crate::model::utc(now_ms());
    let mut runs = Vec::new();
    let mut engines = Engines::default();
    let mut matrix = Matrix::from_runs(created.clone(), &[]);
    let written = |runs: &[(Scenario, RunSummary)]| -> Result<Matrix> {
        let matrix = Matrix::from_runs(created.clone(), runs);
        report::write_matrix(&dir, &matrix)?;
        report::write_page(&dir, &matrix, None)?;
        Ok(matrix)
    };
    let groups: Vec<&[Job]> = o.jobs.chunks(jobs_at_once.unwrap_or(o.jobs.len()).max(1)).collect();
    for (i, scenario) in scenarios.iter().enumerate() {
        eprintln!("matrix: scenario {}/{}: {} — {}", i + 1, scenarios.len(), scenario.name, scenario.description);
        for (g, jobs) in groups.iter().enumerate() {
            if groups.len() > 1 {
                eprintln!("matrix: group {}/{} of the jobs: {}", g + 1, groups.len(), jobs.iter().map(Job::label).collect::<Vec<_>>().join(", "));
            }
            // Its runs are kept in folders of the matrix's, and in the store of the output folder.
            let options = RunOptions { scenario: scenario.clone(), jobs: jobs.to_vec(), out: dir.clone(), store: Some(store_url(o)), ..o.clone() };
            let summary = run_with(&options, &mut broker, &mut engines, stop)?;
            eprint!("{}", summary::table(&summary.engines));
            let store_failure = summary.store_failure.clone();
            runs.push((scenario.clone(), summary));
            // The store is gone: the runs so far are kept, and the matrix ends with them.
            if let Some(failure) = store_failure {
                written(&runs)?;
                anyhow::bail!("{failure}; the matrix so far is in {}", dir.display());
            }
        }
        matrix = written(&runs)?;
    }
    Ok((matrix, dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{device_group, Mode, ResultRow, Whole, WindowResult};
    use crate::scenario::Clock;

    #[test]
    fn a_gathered_run_is_its_log_and_rows_in_groups_of_devices_and_evaluates_as_when_whole() {
        let sc = Scenario { devices: 30, messages: 30, clock: Clock::Live, ..Scenario::built_in("disorder").unwrap() };
        let plan = Plan::new(&sc, 1_000_000);
        let sent_at: Vec<i64> = plan.sends().map(|s| s.at + 3).collect();
        let log = SentLog { plan, sent_at };
        let events: Vec<SentEvent> = log.events().collect();
        // An engine's rows: each window of the truth, emitted twice, the second time a second later.
        let truth = truth::compute_view(&events, View::DeviceTime, sc.window_ms, 0);
        let collected = || {
            let mut c = Collected::default();
            for (emitted_after, t) in truth.iter().flat_map(|t| [(1000, t), (2000, t)]) {
                let row = WindowResult {
                    engine: "native".into(),
                    mode: Mode::EventTime,
                    window_end: t.window_end,
                    di: t.device.as_str().into(),
                    c: t.category.as_str().into(),
                    count: t.agg.count,
                    m1_sum: t.agg.m1_sum,
                    m2_sum: t.agg.m2_sum,
                    emitted_at: t.window_end + emitted_after,
                };
                let mut record = Vec::new();
                row.encode_into(&mut record);
                c.add(&record);
            }
            c.take_rows()
        };
        let rows: Vec<ResultRow> = collected().group(0);
        let job = JobRecord {
            engine: "native".into(),
            mode: Mode::EventTime,
            status: Some(EngineStatus::Ok),
            log: "native.log".into(),
            crash: None,
            watermark: Default::default(),
            end_of_stream_window: None,
        };
        let broker = BrokerInfo { about: "a broker".into(), startup_s: None };
        let params = RunParams { scenario: sc.clone(), out_dir: "out".into(), broker, jobs: vec![job], preload: false };
        let record = run_record("r", &params, 0).unwrap();
        let whole = evaluate::evaluate(&record, &[], &Whole { events: &events, results: &rows }, "s").unwrap();
        assert_eq!((whole.engines[0].windows_exact, whole.engines[0].windows_total, whole.events_sent), (truth.len(), truth.len(), events.len()));
        assert_eq!((whole.engines[0].emissions_per_window, whole.engines[0].latency_p50_ms), (Some(2.0), Some(1000)));

        let gathered = Gathered::new(record.clone(), vec![], sc.window_ms, log, collected(), 4);
        let group_devices = |g: usize| gathered.events_of(g).iter().map(|e| device_group(&e.device, 4)).collect::<std::collections::BTreeSet<_>>();
        assert!((0..4).all(|g| group_devices(g).iter().all(|&of| of == g)), "each group holds its own devices' events");
        assert_eq!((0..4).map(|g| gathered.events_of(g).len()).sum::<usize>(), events.len());
        assert_eq!((0..4).map(|g| gathered.rows.group(g).len()).sum::<usize>(), rows.len());
        let sorted = |mut e: Vec<SentEvent>| {
            e.sort_by(|a, b| a.id.cmp(&b.id));
            e.into_iter().map(|e| (e.id, e.sent_at)).collect::<Vec<_>>()
        };
        assert_eq!(sorted((0..4).flat_map(|g| gathered.events_of(g)).collect()), sorted(events.clone()), "each event once, with its send time");
        assert_eq!(evaluate::evaluate(&record, &[], &gathered, "s").unwrap(), whole);
    }
}
