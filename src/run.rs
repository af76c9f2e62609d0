//! `boontadata run`: the whole bench in one command — broker, topics, engine
//! processes, the simulator, the wait for the end of the stream, collection,
//! comparison and the summary, with everything kept in an output folder.

use crate::broker::LocalBroker;
use crate::collect::{self, Collected, ResultRow};
use crate::compare::{self, Comparison};
use crate::engine::{self, Job, JobContext, Running};
use crate::inject::{self, Injected};
use crate::kafka;
use crate::report::{self, EngineSummary};
use crate::scenario::{Clock, Scenario};
use crate::simulate::Plan;
use crate::store::{self, RunRecord};
use crate::truth;
use crate::window::{now_ms, stamp_now};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub scenario: Scenario,
    pub jobs: Vec<Job>,
    pub brokers: Option<String>,
    pub out: PathBuf,
    pub store: Option<String>,
    /// Send the whole stream before starting the engines (measures throughput on a backlog).
    pub preload: bool,
    /// Stop waiting for an engine that has not emitted its flush row after this long without new results.
    pub quiet: Duration,
    pub ready_timeout: Duration,
    /// Options of one engine only, by engine name.
    pub engine_args: std::collections::BTreeMap<String, Vec<String>>,
}

/// Everything a run produced, also written as `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub scenario: String,
    pub out_dir: String,
    pub store: String,
    pub events_sent: usize,
    pub malformed_sent: u64,
    pub inject_events_per_s: f64,
    pub engines: Vec<EngineSummary>,
    pub comparisons: Vec<Comparison>,
}

impl RunSummary {
    pub fn failed(&self) -> bool {
        self.engines.iter().any(EngineSummary::failed)
    }
}

/// The params stored with the run, so that `compare` can redo the comparison later.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunParams {
    pub scenario: Scenario,
    pub jobs: Vec<(String, String)>,
}

/// Engine processes kept from one run to the next, as the scenarios of a
/// matrix go by: an engine that serves jobs starts once, not once per scenario.
#[derive(Default)]
pub struct Engines(Vec<Running>);

/// How long an engine that serves jobs may take to end one.
const END_JOB_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(o: &RunOptions, stop: &AtomicBool) -> Result<RunSummary> {
    run_with(o, &mut Engines::default(), stop)
}

/// A run that takes its engine processes from `engines` where it can, and leaves them there.
pub fn run_with(o: &RunOptions, engines: &mut Engines, stop: &AtomicBool) -> Result<RunSummary> {
    let sc = &o.scenario;
    let run_id = format!("{}-{}-{:04x}", sc.name, stamp_now(), std::process::id() & 0xffff);
    let dir = o.out.join(&run_id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    let store_url = store_url(o);
    let mut store = store::open(&store_url)?;
    eprintln!("boontadata: run {run_id} ({}), output in {}", sc.description_or_name(), dir.display());

    let (_local, brokers) = broker(o.brokers.as_deref(), &dir)?;
    let ctx = JobContext {
        run_id: run_id.clone(),
        brokers: brokers.clone(),
        events_topic: format!("events.{run_id}"),
        results_topic: format!("results.{run_id}"),
        window_ms: sc.window_ms,
        out_of_orderness_ms: sc.out_of_orderness_ms,
        allowed_lateness_ms: sc.allowed_lateness_ms,
        engine_args: with_checkpoint(o.engine_args.clone(), &dir),
    };
    kafka::create_topic(&brokers, &ctx.events_topic, sc.partitions)?;
    kafka::create_topic(&brokers, &ctx.results_topic, sc.partitions)?;
    let partitions = kafka::partition_count(&brokers, &ctx.events_topic)?;
    let params = RunParams { scenario: sc.clone(), jobs: o.jobs.iter().map(|j| (j.spec.name.to_string(), j.mode.clone())).collect() };
    let mut record = RunRecord {
        id: run_id.clone(),
        scenario: sc.name.clone(),
        seed: sc.seed,
        params: serde_json::to_string(&params)?,
        engine_versions: "{}".into(),
        started_at: now_ms(),
        ended_at: None,
    };
    store.put_run(&record)?;

    let collector_stop = Arc::new(AtomicBool::new(false));
    let (collected, collector) = collect::spawn(&brokers, &ctx.results_topic, partitions, collector_stop.clone())?;
    let producer = kafka::producer(&brokers)?;
    // A live clock starts when sending starts, so that device times track the wall clock.
    let send = || inject::inject(&Plan::new(sc, sc.start_of_clock()), sc, &producer, &ctx.events_topic, partitions, stop);
    let injected = if o.preload {
        let injected = send()?;
        start_engines(o, &ctx, &dir, engines, stop)?;
        injected
    } else {
        start_engines(o, &ctx, &dir, engines, stop)?;
        send()?
    };
    let sent_rate = injected.log.len() as f64 / injected.started.elapsed().as_secs_f64().max(1e-9);
    wait_for_engines(&mut engines.0, &collected, &injected, o.quiet, stop)?;
    for e in &mut engines.0 {
        if e.job.spec.serves_jobs {
            if let Err(err) = e.end_job(END_JOB_TIMEOUT, stop) {
                eprintln!("boontadata: {err:#}");
            }
        } else {
            e.stop();
        }
    }
    let truth = truth::compute(&injected.log, sc.window_ms);
    store.put_events(&run_id, &injected.log)?;
    store.put_truth(&run_id, &truth)?;
    collector_stop.store(true, Ordering::Relaxed);
    collector.join().map_err(|_| anyhow::anyhow!("the collector thread panicked"))??;
    let mut collected = collected.lock().expect("collector lock");
    collected.complete_with(collect::read_all(&brokers, &ctx.results_topic, partitions)?);
    let results: Vec<ResultRow> = collected.rows().cloned().collect();
    store.put_results(&run_id, &results)?;

    let mut summaries = Vec::new();
    let mut comparisons = Vec::new();
    let mut versions = serde_json::Map::new();
    for e in &engines.0 {
        let (label, mode) = (e.job.spec.name, e.job.mode.as_str());
        let rows: Vec<ResultRow> = results.iter().filter(|r| r.engine == label && r.mode == mode).cloned().collect();
        let c = compare::compare(label, mode, compare::view_for_mode(mode), &truth, &rows, &injected.log, sc.window_ms);
        let heard = e.heard();
        if let Some(v) = &heard.version {
            versions.insert(label.to_string(), v.clone().into());
        }
        // Against a virtual clock, event-time windows end in the simulated past: no latency to speak of.
        let latency_meaningful = sc.clock == Clock::Live || mode != "event-time";
        let summary = summarize(e, &c, &rows, &collected, &injected, latency_meaningful);
        let metric_key = format!("{label}/{mode}");
        for (name, value) in heard.metrics.iter().map(|(n, v)| (n.clone(), *v)).chain(measured_metrics(&summary)) {
            store.put_metric(&run_id, &metric_key, &name, value)?;
        }
        summaries.push(summary);
        comparisons.push(c);
    }
    record.engine_versions = serde_json::Value::Object(versions).to_string();
    record.ended_at = Some(now_ms());
    store.put_run(&record)?;
    store.put_metric(&run_id, "simulator", "events_per_s", sent_rate)?;

    let summary = RunSummary {
        run_id,
        scenario: sc.name.clone(),
        out_dir: dir.display().to_string(),
        store: store_url,
        events_sent: injected.log.len(),
        malformed_sent: injected.malformed,
        inject_events_per_s: sent_rate,
        engines: summaries,
        comparisons,
    };
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(&summary)?)?;
    std::fs::write(dir.join("compare.txt"), render(&summary))?;
    Ok(summary)
}

/// `--store`, or the SQLite file in the output folder.
pub fn store_url(o: &RunOptions) -> String {
    o.store.clone().unwrap_or_else(|| format!("sqlite:{}", o.out.join("boontadata.sqlite").display()))
}

/// The brokers given, once reachable; else a local broker logging into `dir`, stopped when dropped.
pub fn broker(given: Option<&str>, dir: &std::path::Path) -> Result<(Option<LocalBroker>, String)> {
    if let Some(brokers) = given {
        kafka::check_reachable(brokers)?;
        return Ok((None, brokers.to_string()));
    }
    let local = LocalBroker::start(&dir.join("broker.log"))?;
    eprintln!("boontadata: local tansu broker on {} (pid {})", local.brokers, local.pid());
    let brokers = local.brokers.clone();
    Ok((Some(local), brokers))
}

/// Spark keeps its offsets and state in a checkpoint folder: in the run's folder, beside its logs.
fn with_checkpoint(mut engine_args: std::collections::BTreeMap<String, Vec<String>>, dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<String>> {
    engine_args.entry("spark".into()).or_default().extend(["--checkpoint".into(), dir.join("spark-checkpoint").display().to_string()]);
    engine_args
}

/// Gives each job of the run an engine process: the one kept from the previous run if it serves jobs, else a new one.
fn start_engines(o: &RunOptions, ctx: &JobContext, dir: &std::path::Path, engines: &mut Engines, stop: &AtomicBool) -> Result<()> {
    let mut kept = std::mem::take(&mut engines.0);
    for job in &o.jobs {
        let log = dir.join(format!("engine-{}-{}.log", job.spec.name, job.mode));
        let running = match kept.iter_mut().position(|e| e.can_take(job)) {
            Some(i) => {
                let mut e = kept.swap_remove(i);
                e.next_job(ctx, &log)?;
                e
            }
            None => {
                engine::setup(job.spec)?;
                Running::start(job, ctx, &log)?
            }
        };
        engines.0.push(running);
    }
    drop(kept);
    eprintln!("boontadata: started {}; waiting until they are ready …", o.jobs.iter().map(Job::label).collect::<Vec<_>>().join(", "));
    for e in engines.0.iter_mut() {
        e.wait_ready(o.ready_timeout, stop)?;
    }
    Ok(())
}

/// Waits until every engine has emitted its flush row (then one more quiet
/// second for stragglers), has been quiet for `quiet` since the flush (or, with
/// `--preload`, since the engines were ready), or has died.
fn wait_for_engines(engines: &mut [Running], collected: &Mutex<Collected>, injected: &Injected, quiet: Duration, stop: &AtomicBool) -> Result<()> {
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
            for e in engines.iter_mut() {
                if e.exited().is_some() {
                    continue;
                }
                let p = c.progress.get(&(e.job.spec.name.to_string(), e.job.mode.clone())).cloned().unwrap_or_default();
                let last = p.last_received.map_or(quiet_from, |l| l.max(quiet_from));
                let done = (p.flush_seen && now - last >= Duration::from_secs(1)) || now - last >= quiet;
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

fn summarize(e: &Running, c: &Comparison, rows: &[ResultRow], collected: &Collected, injected: &Injected, latency_meaningful: bool) -> EngineSummary {
    let (heard, usage) = (e.heard(), e.usage());
    let progress = collected.progress.get(&(e.job.spec.name.to_string(), e.job.mode.clone())).cloned().unwrap_or_default();
    let status = match e.exit {
        // Stopped by us after the end of the stream: SIGTERM is a normal end.
        Some(s) if s.success() || s.code().is_none() && progress.flush_seen => "ok".to_string(),
        Some(s) if !progress.flush_seen => format!("crashed ({s})"),
        Some(s) => format!("exited with {s}"),
        None => "ok".to_string(),
    };
    let status = match status {
        _ if e.killed => format!("killed: still running {} s after SIGTERM", engine::STOP_GRACE.as_secs()),
        ok if ok == "ok" && !progress.flush_seen => "no end-of-stream row".to_string(),
        status => status,
    };
    let data_rows: Vec<&ResultRow> = rows.iter().filter(|_| latency_meaningful).collect();
    let lat = report::latency_percentiles(&data_rows, &[50.0, 99.0]);
    let distribution = report::latency_percentiles(&data_rows, &report::LATENCY_PERCENTILES);
    // From the moment the engine could read (ready, or the first event sent) to its end-of-stream row.
    let begin = heard.ready_at.map_or(injected.started, |r| r.max(injected.started));
    let events_per_s = progress
        .last_received
        .filter(|_| progress.flush_seen)
        .map(|end| (injected.log.len() as u64 + injected.malformed) as f64 / (end - begin).as_secs_f64().max(1e-3));
    EngineSummary {
        engine: e.job.spec.name.to_string(),
        mode: e.job.mode.clone(),
        windows_exact: c.exact(),
        windows_total: c.rows,
        exceptions: report::exceptions_by_cause(c),
        unexplained: c.unexplained(),
        malformed: heard.metric("malformed").map(|m| m as u64),
        events_per_s,
        latency_p50_ms: lat[0],
        latency_p99_ms: lat[1],
        startup_s: heard.ready_at.map(|r| (r - e.started).as_secs_f64()),
        latency_distribution_ms: report::LATENCY_PERCENTILES.iter().zip(distribution).filter_map(|(p, v)| v.map(|v| (*p, v))).collect(),
        emissions_per_window: (!rows.is_empty()).then(|| rows.iter().map(|r| r.emissions).sum::<i64>() as f64 / rows.len() as f64),
        cpu_s: usage.map(|u| u.0),
        peak_rss_bytes: usage.map(|u| u.1),
        status,
        log: e.log.display().to_string(),
    }
}

fn measured_metrics(s: &EngineSummary) -> Vec<(String, f64)> {
    let mut m = vec![("windows_exact".to_string(), s.windows_exact as f64), ("windows_total".to_string(), s.windows_total as f64)];
    let optional = [
        ("events_per_s", s.events_per_s),
        ("latency_p50_ms", s.latency_p50_ms.map(|v| v as f64)),
        ("latency_p99_ms", s.latency_p99_ms.map(|v| v as f64)),
        ("startup_s", s.startup_s),
        ("cpu_s", s.cpu_s),
        ("peak_rss_bytes", s.peak_rss_bytes.map(|b| b as f64)),
        ("emissions_per_window", s.emissions_per_window),
    ];
    m.extend(optional.into_iter().filter_map(|(n, v)| v.map(|v| (n.to_string(), v))));
    m
}

/// The terminal output of a run: every comparison, then the summary table.
pub fn render(s: &RunSummary) -> String {
    let mut out = String::new();
    for c in &s.comparisons {
        out.push_str(&compare::render(c));
        out.push('\n');
    }
    out.push_str(&format!(
        "run {} — scenario {}: {} events sent ({} malformed records), {:.0} events/s into the broker\n",
        s.run_id, s.scenario, s.events_sent, s.malformed_sent, s.inject_events_per_s
    ));
    out.push_str(&report::table(&s.engines));
    out.push_str(&format!("output: {} (store {})\n", s.out_dir, s.store));
    out
}
