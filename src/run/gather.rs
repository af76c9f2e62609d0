//! A run's third phase, once its engines stopped: the results read again from offset 0, what was
//! measured of the simulator, the collector and each job, and how each job ended, as the run the
//! evaluation and the store take.

use super::drive::Driven;
use super::jobs::JobRun;
use super::prepare::Prepared;
use super::Engines;
use crate::clock::now_ms;
use crate::collect::{self, Collected};
use crate::evaluate::measured;
use crate::groups::{groups_for, HeldRun};
use crate::inject::Injected;
use crate::model::{EngineStatus, JobRecord, Metric};
use crate::simulate::SentLog;
use anyhow::Result;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// A run gathered: its log held as the plan and the send times, its rows as numbers.
pub(super) type Gathered = HeldRun<SentLog>;

/// What a run measured, kept as the store keeps it: one value per (who, name), the last one given.
#[derive(Default)]
struct Measured(BTreeMap<(String, String), f64>);

impl Measured {
    fn put(&mut self, who: &str, name: &str, value: f64) {
        self.0.insert((who.to_string(), name.to_string()), value);
    }

    fn into_metrics(self) -> Vec<Metric> {
        self.0.into_iter().map(|((who, name), value)| (who, name, value)).collect()
    }
}

/// Everything the run gives the store, gathered once the engines stopped: what was sent, the
/// results, what was measured and how each job went. Gives the engines that serve
/// jobs back to `engines`.
pub(super) fn gather(run: &mut Prepared, driven: Driven, engines: &mut Engines) -> Result<Gathered> {
    let Driven { sent, jobs } = driven;
    let injected = &sent.injected;
    let mut measured = Measured::default();
    let sent_rate = injected.events as f64 / (injected.sent_all - injected.started).as_secs_f64().max(1e-9);
    measured.put(measured::SIMULATOR, measured::EVENTS_PER_S, sent_rate);
    measured.put(measured::SIMULATOR, measured::MALFORMED_SENT, injected.malformed as f64);
    measured.put(measured::SIMULATOR, measured::BEHIND_SCHEDULE_MS, injected.behind_schedule.as_millis() as f64);

    run.collector_stop.store(true, Ordering::Relaxed);
    if let Some(thread) = run.collector.take() {
        thread.join().map_err(|_| anyhow::anyhow!("the collector thread panicked"))??;
    }
    let mut collected = run.collected.lock().expect("collector lock");
    collected.complete_with(collect::read_all(&run.ctx.flags.brokers, &run.results_topics, run.partitions)?);
    measured.put(measured::COLLECTOR, measured::UNDECODABLE, collected.undecodable as f64);

    let mut versions = serde_json::Map::new();
    for (j, record) in jobs.into_iter().zip(&mut run.params.jobs) {
        if let Some(version) = end_of_job(j, record, &collected, injected, &mut measured, engines) {
            versions.insert(record.engine.clone(), version.into());
        }
    }
    run.record.params = serde_json::to_string(&run.params)?;
    run.record.engine_versions = serde_json::Value::Object(versions).to_string();
    run.record.ended_at = Some(now_ms());
    let groups = groups_for(sent.sent_at.len());
    let log = SentLog::new(sent.plan, sent.sent_at, groups);
    Ok(HeldRun::new(run.record.clone(), measured.into_metrics(), log, collected.take_rows()))
}

/// How a job ended, into its record, and what was measured of it; its engine's version, if it said.
/// Its engine, if it serves jobs and is well, goes back to `engines` for the next run.
fn end_of_job(
    mut j: JobRun,
    record: &mut JobRecord,
    collected: &Collected,
    injected: &Injected,
    measured: &mut Measured,
    engines: &mut Engines,
) -> Option<String> {
    let progress = collected.progress.get(&(j.job.spec.name.clone(), j.job.mode)).cloned().unwrap_or_default();
    record.crash = j.crash;
    record.end_of_stream_window = progress.flush_window_end;
    if j.processes.is_empty() {
        record.status = j.failure;
        return None;
    }
    let (heard, usage) = (j.heard(), j.usage());
    // The job's status is its first process's that did not end well, if one did not.
    let mut statuses = j.processes.iter_mut().map(|e| e.status(progress.flush_seen()));
    let status = j.failure.take().unwrap_or_else(|| statuses.find(|s| !s.is_ok()).unwrap_or(EngineStatus::Ok));
    // From the moment the engine could read (ready, or the first event sent) to its end-of-stream row; across a crash, from its first ready.
    let ready_at = j.before_crash.as_ref().map_or(heard.ready_at, |b| b.ready_at.or(heard.ready_at));
    let begin = ready_at.map_or(injected.started, |r| r.max(injected.started));
    let events_per_s = progress
        .last_received
        .filter(|_| progress.flush_seen())
        .map(|end| (injected.events as u64 + injected.malformed) as f64 / (end - begin).as_secs_f64().max(1e-3));
    let usage = over_both(j.before_crash.as_ref().and_then(|b| b.usage), usage);
    let started = j.processes.iter().map(|e| e.started).min().expect("a job with processes");
    let measurements = [
        (measured::EVENTS_PER_S, events_per_s),
        (measured::STARTUP_S, heard.ready_at.map(|r| (r - started).as_secs_f64())),
        (measured::CPU_S, usage.map(|u| u.0)),
        (measured::PEAK_RSS_BYTES, usage.map(|u| u.1 as f64)),
    ];
    let heard_metrics = heard.metrics.iter().map(|(n, v)| (n.as_str(), Some(*v)));
    for (name, value) in heard_metrics.chain(measurements).filter_map(|(n, v)| Some((n, v?))) {
        measured.put(&j.job.key(), name, value);
    }
    if status.is_ok() && j.job.spec.serves_jobs {
        engines.0.extend(j.processes);
    }
    record.status = Some(status);
    heard.version
}

/// A job's CPU seconds and peak memory over the processes it ran in: the one a crash killed, and the one after it.
fn over_both(killed: Option<(f64, u64)>, after: Option<(f64, u64)>) -> Option<(f64, u64)> {
    match (killed, after) {
        (Some((cpu, peak)), Some((cpu_after, peak_after))) => Some((cpu + cpu_after, peak.max(peak_after))),
        (one, other) => one.or(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{self, RunParams};
    use crate::groups::{device_group, GroupedLog, Whole};
    use crate::model::{EngineStatus, Mode, ResultRow, SentEvent, View, WindowResult};
    use crate::run::prepare::run_record;
    use crate::scenario::{Clock, Scenario};
    use crate::simulate::Plan;
    use crate::summary::BrokerInfo;
    use crate::truth;

    #[test]
    fn a_gathered_run_is_its_log_and_rows_in_groups_of_devices_and_evaluates_as_when_whole() {
        let sc = Scenario { devices: 30, messages: 30, clock: Clock::Live, ..Scenario::built_in("disorder").unwrap() };
        let plan = Plan::new(&sc, 1_000_000);
        let sent_at: Vec<i64> = plan.sends().map(|s| s.at + 3).collect();
        let events: Vec<SentEvent> = SentLog::new(plan.clone(), sent_at.clone(), 1).events().collect();
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
                    ids: None,
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
            ids: false,
            end_inclusive: false,
            dedup: false,
            lateness: true,
            late_drop: Default::default(),
            after_crash: None,
        };
        let broker = BrokerInfo { about: "a broker".into(), startup_s: None };
        let params = RunParams { scenario: sc.clone(), out_dir: "out".into(), broker, jobs: vec![job], preload: false };
        let record = run_record("r", &params, 0).unwrap();
        let whole = evaluate::evaluate(&record, &[], &Whole { events: &events, results: &rows }, "s").unwrap();
        assert_eq!((whole.engines[0].windows_exact, whole.engines[0].windows_total, whole.events_sent), (truth.len(), truth.len(), events.len()));
        assert_eq!((whole.engines[0].emissions_per_window, whole.engines[0].latency_p50_ms), (Some(2.0), Some(1000)));

        let gathered = HeldRun::new(record.clone(), vec![], SentLog::new(plan, sent_at, 4), collected());
        let group_devices = |g: usize| gathered.log.group(g).iter().map(|e| device_group(&e.device, 4)).collect::<std::collections::BTreeSet<_>>();
        assert!((0..4).all(|g| group_devices(g).iter().all(|&of| of == g)), "each group holds its own devices' events");
        assert_eq!((0..4).map(|g| gathered.log.group(g).len()).sum::<usize>(), events.len());
        assert_eq!((0..4).map(|g| gathered.rows.group(g).len()).sum::<usize>(), rows.len());
        let sorted = |mut e: Vec<SentEvent>| {
            e.sort_by(|a, b| a.id.cmp(&b.id));
            e.into_iter().map(|e| (e.id, e.sent_at)).collect::<Vec<_>>()
        };
        assert_eq!(sorted((0..4).flat_map(|g| gathered.log.group(g)).collect()), sorted(events.clone()), "each event once, with its send time");
        assert_eq!(evaluate::evaluate(&record, &[], &gathered, "s").unwrap(), whole);
    }

    #[test]
    fn a_crashed_jobs_usage_adds_the_killed_process_cpu_and_keeps_the_higher_peak() {
        assert_eq!(over_both(Some((2.5, 300)), Some((1.0, 200))), Some((3.5, 300)));
        assert_eq!(over_both(None, Some((1.0, 200))), Some((1.0, 200)));
        assert_eq!(over_both(Some((2.5, 300)), None), Some((2.5, 300)), "the process after the crash never sampled");
        assert_eq!(over_both(None, None), None);
    }
}
