//! A run, evaluated from what the store keeps of it (its log, its results, its
//! measurements), a group of devices at a time: every engine mode's comparison
//! and its row of the summary. `run` prints this before it stores the run,
//! `compare` prints it again later from the store: one function, the same output.

use crate::compare::{self, Comparison, Setting};
use crate::engine::protocol::JobFlags;
use crate::groups::{DeviceGroups, OfJob};
use crate::model::{nearest_window_end, window_end_at_phase, CrashRecord, EngineStatus, Fault, JobRecord, Metric, Mode, ResultRow, RunRecord, SentEvent, View};
use crate::scenario::{Clock, Scenario};
use crate::simulate;
use crate::summary::{self, BrokerInfo, CrashSummary, EngineSummary, Percentiles, RunSummary, Timeline};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What a run was asked to do and how each job ended: the run record's `params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    pub scenario: Scenario,
    /// The run's folder: logs, `summary.json`, `compare.txt`.
    pub out_dir: String,
    pub broker: BrokerInfo,
    pub jobs: Vec<JobRecord>,
    /// The stream was sent whole before the engines started (`--preload`): processing-time
    /// windows then hold what the engine drained at once, not the stream's windows.
    #[serde(default)]
    pub preload: bool,
}

/// The names under which the harness keeps what it measured of a job (beside the engine's own metrics).
pub mod measured {
    pub const EVENTS_PER_S: &str = "events_per_s";
    pub const STARTUP_S: &str = "startup_s";
    pub const CPU_S: &str = "cpu_s";
    pub const PEAK_RSS_BYTES: &str = "peak_rss_bytes";
    /// Who measured the rest: the simulator (events/s into the broker, malformed records sent) and the collector.
    pub const SIMULATOR: &str = "simulator";
    pub const MALFORMED_SENT: &str = "malformed_sent";
    pub const BEHIND_SCHEDULE_MS: &str = "behind_schedule_ms";
    pub const COLLECTOR: &str = "collector";
    pub const UNDECODABLE: &str = "undecodable";
}

/// The comparisons and the summary of run `record`, its events and result rows read a group of
/// devices at a time from `groups`; `store_url` as it may be shown (without a password).
pub fn evaluate(record: &RunRecord, metrics: &[Metric], groups: &dyn DeviceGroups, store_url: &str) -> Result<RunSummary> {
    let params: RunParams = serde_json::from_str(&record.params).with_context(|| format!("reading the params of run {}", record.id))?;
    if params.jobs.is_empty() {
        bail!("run {} has no engine results to compare (it was an inject-only run)", record.id);
    }
    let sc = &params.scenario;
    let setting = Setting {
        out_of_orderness_ms: sc.out_of_orderness_ms,
        allowed_lateness_ms: sc.allowed_lateness_ms,
        idle_timeout_ms: JobFlags::default().idle_timeout_ms,
        partitions: simulate::device_partitions(sc),
        ..Setting::of(sc.window_ms, sc.clock)
    };
    let mut engines = Vec::new();
    let mut comparisons = Vec::new();
    for job in &params.jobs {
        let status = job.status.clone().unwrap_or_else(|| EngineStatus::Failed("the run did not end".into()));
        let of_job = OfJob { groups, job };
        // An engine that never got ready has nothing to compare: its status says why.
        let late_dropped = metric(metrics, &job.key(), "late_dropped").map(|n| n as u64);
        // An engine without allowed lateness closes its windows at the watermark, whatever the scenario asks.
        let allowed_lateness_ms = if job.lateness { sc.allowed_lateness_ms } else { 0 };
        let setting = Setting { late_dropped, allowed_lateness_ms, ..setting.clone() };
        let not_compared = (params.preload && job.mode == Mode::ProcessingTime).then(|| NOT_COMPARED_ON_A_BACKLOG.to_string());
        let comparison = (!matches!(status, EngineStatus::NotReady(_)) && not_compared.is_none()).then(|| compare::compare(job, &of_job, &setting));
        let engine = summarize(job, status, comparison.as_ref(), &of_job, metrics, sc);
        engines.push(EngineSummary { not_compared, ..engine });
        comparisons.extend(comparison);
    }
    let simulator = |name| metric(metrics, measured::SIMULATOR, name);
    Ok(RunSummary {
        run_id: record.id.clone(),
        scenario: record.scenario.clone(),
        out_dir: params.out_dir.clone(),
        store: store_url.to_string(),
        events_sent: groups.events(),
        malformed_sent: simulator(measured::MALFORMED_SENT).unwrap_or(0.0) as u64,
        inject_events_per_s: simulator(measured::EVENTS_PER_S).unwrap_or(0.0),
        inject_behind_schedule_ms: simulator(measured::BEHIND_SCHEDULE_MS).map(|ms| ms as u64),
        broker: params.broker.clone(),
        undecodable_results: metric(metrics, measured::COLLECTOR, measured::UNDECODABLE).unwrap_or(0.0) as u64,
        engines,
        comparisons,
        store_failure: None,
    })
}

/// Why a processing-time job on a preloaded backlog is not compared: every one of its windows
/// would differ from the send-time truth, and searching each for crossings takes minutes.
/// A run's `params` with every job compared by its sums, whether or not its rows name their events.
pub fn by_sums(params: &str) -> Result<String> {
    let mut p: RunParams = serde_json::from_str(params).context("reading the run's params")?;
    p.jobs.iter_mut().for_each(|j| j.ids = false);
    Ok(serde_json::to_string(&p)?)
}

pub const NOT_COMPARED_ON_A_BACKLOG: &str = "not compared: processing time on a preloaded backlog";

/// A metric of `who`, added up over the processes of one engine (`NAME`, `NAME@1`, `NAME@2`, …).
fn metric(metrics: &[Metric], who: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = metrics.iter().filter(|(w, n, _)| w == who && n.split('@').next() == Some(name)).map(|(_, _, v)| *v).collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The latest time of `events` in `mode`'s time.
fn latest_of(events: &[SentEvent], mode: Mode) -> Option<i64> {
    events.iter().map(|e| mode.view().time_of(e)).max()
}

/// The last window end that the stream's own events surely close, the stream's `latest` time in a
/// mode's time: a window ending later waits for the end-of-stream flush, or for the last events of
/// the slowest partition (the stream's last second is sparse), and so on the harness, not on the engine.
fn closed_by_stream(latest: Option<i64>, window_ms: i64, out_of_orderness_ms: i64) -> i64 {
    latest.map_or(i64::MIN, |latest| latest.saturating_sub(window_ms + out_of_orderness_ms))
}

/// A row whose emit latency may be the engine's: (window end, first emission, send time of the
/// window's last on-time event).
type Timed = (i64, i64, i64);

/// The rows whose emit latency may be the engine's, of one group of devices: those whose window
/// holds an on-time event, neither a resend (it adds nothing) nor, in device time, late (a window
/// of late events alone is emitted as they come, by design) or held back past the out-of-orderness
/// bound (a watermark does not wait for it: counted from its send, the window read as emitted
/// before its last event was sent), held back as the comparison reads it on the run's clock. The
/// rows' windows are read at `phase_ms` past multiples of the window (`compare`'s reading of the
/// engine's windows).
fn with_last_send(rows: &[ResultRow], events: &[SentEvent], mode: Mode, sc: &Scenario, phase_ms: i64) -> Vec<Timed> {
    let view = mode.view();
    let held_back = compare::held_back(events, sc.clock);
    let held_back_past_the_bound = |e: &SentEvent| held_back.get(e.id.as_str()).is_some_and(|&ms| ms > sc.out_of_orderness_ms);
    let past_the_bound = |e: &SentEvent| e.fault == Fault::Late || (e.fault == Fault::OutOfOrder && held_back_past_the_bound(e));
    let on_time = |e: &&SentEvent| e.counts() && !(view == View::DeviceTime && past_the_bound(e));
    let mut last_send: HashMap<(i64, &str, &str), i64> = HashMap::new();
    for e in events.iter().filter(on_time) {
        let last = last_send.entry((window_end_at_phase(view.time_of(e), sc.window_ms, phase_ms), &e.device, &e.category)).or_insert(e.sent_at);
        *last = (*last).max(e.sent_at);
    }
    let window = |r: &ResultRow| nearest_window_end(r.window_end, sc.window_ms, phase_ms);
    let last_send_of = |r: &ResultRow| last_send.get(&(window(r), r.device.as_str(), r.category.as_str())).copied();
    rows.iter().filter_map(|r| Some((r.window_end, r.first_emitted_at, last_send_of(r)?))).collect()
}

/// What a job's summary reads off its rows, a group of devices at a time.
#[derive(Default)]
struct Measured {
    /// The stream's latest time, in the job's mode's time.
    latest: Option<i64>,
    timed: Vec<Timed>,
    rows: usize,
    emissions: i64,
    /// After a crash: the first emission after the restart, and the first of a window that ended once the job was back.
    first_row_at: Option<i64>,
    caught_up_at: Option<i64>,
    /// After a crash: the stream's first send, and the rows first emitted in each second of the wall clock (`Timeline`).
    first_send: Option<i64>,
    per_second: BTreeMap<i64, u64>,
}

impl Measured {
    fn of(job: &JobRecord, groups: &dyn DeviceGroups, sc: &Scenario, phase_ms: i64) -> Measured {
        let mut m = Measured::default();
        for g in 0..groups.count() {
            let group = groups.group(g);
            m.latest = m.latest.max(latest_of(&group.events, job.mode));
            m.timed.extend(with_last_send(&group.results, &group.events, job.mode, sc, phase_ms));
            m.rows += group.results.len();
            m.emissions += group.results.iter().map(|r| r.emissions).sum::<i64>();
            let Some(crash) = &job.crash else { continue };
            let back = crash.reading_again_at();
            m.first_send = m.first_send.into_iter().chain(group.events.iter().map(|e| e.sent_at)).min();
            for r in group.results.iter() {
                *m.per_second.entry(r.first_emitted_at.div_euclid(1000)).or_default() += 1;
                let Some(at) = [r.first_emitted_at, r.last_emitted_at].into_iter().find(|&at| at >= crash.restarted_at) else { continue };
                m.first_row_at = Some(m.first_row_at.map_or(at, |first| first.min(at)));
                if r.window_end >= back {
                    m.caught_up_at = Some(m.caught_up_at.map_or(at, |first| first.min(at)));
                }
            }
        }
        m
    }

    /// The rows whose emit latency is the engine's: of those with an on-time event, the windows
    /// the stream's own events close (`closed_by_stream`).
    fn measured(&self, sc: &Scenario) -> impl Iterator<Item = &Timed> {
        let closed = closed_by_stream(self.latest, sc.window_ms, sc.out_of_orderness_ms);
        self.timed.iter().filter(move |&&(end, _, _)| end <= closed)
    }
}

fn summarize(job: &JobRecord, status: EngineStatus, c: Option<&Comparison>, groups: &dyn DeviceGroups, metrics: &[Metric], sc: &Scenario) -> EngineSummary {
    let key = job.key();
    // Against a virtual clock, event-time windows end in the simulated past: no latency after their end to speak of.
    let latency_meaningful = sc.clock == Clock::Live || job.mode != Mode::EventTime;
    // At the phase the comparison read off the engine's windows; a job not compared, at the multiples.
    let m = Measured::of(job, groups, sc, c.map_or(0, |c| c.window_phase_ms));
    let get = |name| metric(metrics, &key, name);
    let timed: Vec<(i64, i64)> = m.measured(sc).map(|&(end, first, _)| (end, first - end)).filter(|_| latency_meaningful).collect();
    let latencies = || timed.iter().map(|&(_, latency)| latency).collect();
    let lat = summary::percentiles(latencies(), &[50.0, 99.0, 100.0]);
    let distribution = summary::percentiles(latencies(), &summary::LATENCY_PERCENTILES);
    EngineSummary {
        engine: job.engine.clone(),
        mode: job.mode,
        windows_exact: c.map_or(0, Comparison::exact),
        windows_total: c.map_or(0, |c| c.rows),
        exceptions: c.map(summary::exceptions_by_cause).unwrap_or_default(),
        unexplained: c.map_or(0, Comparison::not_explained),
        by_ids: c.is_some_and(|c| c.by_ids),
        malformed: get("malformed").map(|m| m as u64),
        events_per_s: get(measured::EVENTS_PER_S),
        latency_p50_ms: lat[0],
        latency_p99_ms: lat[1],
        latency_max_ms: lat[2],
        // Emit latency from the send of the window's last on-time event: the wall clock on both ends.
        after_last_send_ms: c.and_then(|_| Percentiles::of(m.measured(sc).map(|&(_, first, last_send)| first - last_send).collect())),
        latency_growth_ms: summary::latency_growth_ms(&timed),
        startup_s: get(measured::STARTUP_S),
        latency_distribution_ms: summary::LATENCY_PERCENTILES.iter().zip(distribution).filter_map(|(p, v)| v.map(|v| (*p, v))).collect(),
        emissions_per_window: (m.rows > 0).then(|| m.emissions as f64 / m.rows as f64),
        cpu_s: get(measured::CPU_S),
        peak_rss_bytes: get(measured::PEAK_RSS_BYTES).map(|b| b as u64),
        status,
        log: job.log.clone(),
        crash: job.crash.map(|crash| crash_summary(&crash, job, c, &m)),
        not_compared: None,
    }
}

/// What the crash did: events lost and doubled (as the comparison explains them), and the time
/// from the kill to the job's first row after its restart, and to its first row of a window that
/// ended once it was back; its rows over the run, the crash marked (`Timeline`); and the promise
/// its job declared, which those are held to.
fn crash_summary(crash: &CrashRecord, job: &JobRecord, c: Option<&Comparison>, m: &Measured) -> CrashSummary {
    let exceptions = c.map(|c| c.exceptions.as_slice()).unwrap_or_default();
    let since_kill = |at: Option<i64>| at.map(|at| (at - crash.killed_at) as f64 / 1000.0);
    CrashSummary {
        events_lost: exceptions.iter().map(|e| e.lost).sum(),
        events_doubled: exceptions.iter().map(|e| e.doubled).sum(),
        first_row_s: since_kill(m.first_row_at),
        caught_up_s: since_kill(m.caught_up_at),
        timeline: m.first_send.map(|first_send| Timeline::of(&m.per_second, first_send, crash)),
        promise: job.after_crash,
        stalled: crash.stalled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{device_group, Group, HeldRun, Log, Rows, Whole};
    use crate::model::{Aggregate, SentEvent};
    use crate::truth::tests::{sent, TEN};

    /// A run as a store gives it back, held whole.
    struct Stored {
        record: RunRecord,
        events: Vec<SentEvent>,
        results: Vec<ResultRow>,
        metrics: Vec<Metric>,
    }

    fn stored(jobs: Vec<JobRecord>, results: Vec<ResultRow>, metrics: Vec<Metric>) -> Stored {
        let log = vec![sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None), sent("d-1", "d", TEN - 130_000, TEN + 2000, 10, Fault::Late)];
        let broker = BrokerInfo { about: "Apache Kafka".into(), startup_s: Some(3.5) };
        let params = RunParams { scenario: Scenario { clock: Clock::Virtual, ..Scenario::default() }, out_dir: "out/r".into(), broker, jobs, preload: false };
        Stored {
            record: RunRecord {
                id: "r".into(),
                scenario: "seed".into(),
                seed: 34,
                params: serde_json::to_string(&params).unwrap(),
                engine_versions: "{}".into(),
                started_at: 0,
                ended_at: Some(1),
            },
            events: log,
            results,
            metrics,
        }
    }

    fn evaluated(run: &Stored) -> Result<RunSummary> {
        evaluate(&run.record, &run.metrics, &Whole { events: &run.events, results: &run.results }, "sqlite:x")
    }

    fn job(engine: &str, status: EngineStatus) -> JobRecord {
        JobRecord {
            engine: engine.into(),
            mode: Mode::EventTime,
            status: Some(status),
            log: format!("{engine}.log"),
            crash: None,
            watermark: Default::default(),
            end_of_stream_window: None,
            ids: false,
            end_inclusive: false,
            dedup: false,
            lateness: true,
            late_drop: Default::default(),
            after_crash: None,
        }
    }

    fn row(engine: &str, end: i64, m1: i64) -> ResultRow {
        ResultRow {
            engine: engine.into(),
            mode: Mode::EventTime,
            window_end: end,
            device: "d".into(),
            category: "cat-1".into(),
            agg: Aggregate { count: 1, m1_sum: m1, m2_sum: m1 as f64 },
            emissions: 2,
            first_emitted_at: end + 100,
            last_emitted_at: end + 200,
            ids: None,
        }
    }

    #[test]
    fn each_job_is_compared_with_its_own_rows_and_measured_from_the_stored_metrics() {
        let metrics = vec![
            ("native/event-time".to_string(), "malformed".to_string(), 2.0),
            ("native/event-time".to_string(), "malformed@1".to_string(), 1.0),
            ("native/event-time".to_string(), measured::EVENTS_PER_S.to_string(), 99.0),
            (measured::SIMULATOR.to_string(), measured::MALFORMED_SENT.to_string(), 3.0),
        ];
        let run = stored(vec![job("native", EngineStatus::Ok), job("other", EngineStatus::Ok)], vec![row("native", TEN + 5000, 33)], metrics);
        let s = evaluated(&run).unwrap();
        assert_eq!((s.events_sent, s.malformed_sent, s.out_dir.as_str(), s.store.as_str()), (2, 3, "out/r", "sqlite:x"));
        let native = &s.engines[0];
        assert_eq!((native.windows_exact, native.windows_total, native.unexplained), (1, 2, 0), "the late event's window is missing, explained");
        assert_eq!((native.malformed, native.events_per_s, native.emissions_per_window), (Some(3), Some(99.0), Some(2.0)));
        assert_eq!(native.latency_p50_ms, None, "a virtual clock's event-time latency means nothing");
        let other = &s.engines[1];
        assert_eq!((other.windows_exact, other.unexplained), (0, 1), "no rows: the device's window is missing, unexplained");
        assert_eq!(s.comparisons.len(), 2);
        assert!(s.failed());
    }

    #[test]
    fn processing_time_on_a_preloaded_backlog_is_measured_not_compared() {
        let jobs = vec![JobRecord { mode: Mode::ProcessingTime, ..job("native", EngineStatus::Ok) }, job("native", EngineStatus::Ok)];
        let mut run = stored(jobs, vec![row("native", TEN + 5000, 33)], vec![]);
        let params: RunParams = serde_json::from_str(&run.record.params).unwrap();
        run.record.params = serde_json::to_string(&RunParams { preload: true, ..params }).unwrap();
        let s = evaluated(&run).unwrap();
        assert_eq!((s.engines[0].not_compared.as_deref(), s.engines[0].windows_total), (Some(NOT_COMPARED_ON_A_BACKLOG), 0));
        assert!(!s.engines[0].failed());
        assert_eq!((s.comparisons.len(), s.engines[1].windows_total), (1, 2), "event time is compared on a backlog");
        assert!(summary::table(&s.engines).contains(NOT_COMPARED_ON_A_BACKLOG));
    }

    #[test]
    fn an_engine_that_never_got_ready_is_not_compared_and_fails() {
        let run = stored(vec![job("flink", EngineStatus::NotReady("exited".into()))], vec![], vec![]);
        let s = evaluated(&run).unwrap();
        assert!(s.comparisons.is_empty());
        assert_eq!((s.engines[0].windows_total, s.engines[0].status.to_string().as_str()), (0, "not ready: exited"));
        assert!(s.failed());
    }

    /// A run held whole, read in `n` groups of devices.
    struct Split<'a>(Whole<'a>, usize);

    impl DeviceGroups for Split<'_> {
        fn events(&self) -> usize {
            self.0.events.len()
        }

        fn count(&self) -> usize {
            self.1
        }

        fn group(&self, g: usize) -> Group<'_> {
            let ours = |device: &str| device_group(device, self.1) == g;
            Group {
                events: self.0.events.iter().filter(|e| ours(&e.device)).cloned().collect(),
                results: self.0.results.iter().filter(|r| ours(&r.device)).cloned().collect(),
            }
        }
    }

    #[test]
    fn a_run_read_in_groups_of_devices_is_evaluated_as_when_read_whole() {
        let sc = Scenario { devices: 24, messages: 40, clock: Clock::Live, ..Scenario::built_in("disorder").unwrap() };
        let plan = crate::simulate::Plan::new(&sc, TEN);
        let log: Vec<SentEvent> = plan.sends().map(|s| plan.sent_event(s, s.at)).collect();
        // An engine that drops every late event and emits each window a little later than the last,
        // a window missing here and there, and one row wrong: exceptions of several causes, latencies that grow.
        let on_time: Vec<SentEvent> = log.iter().filter(|e| e.fault != Fault::Late).cloned().collect();
        let mut results: Vec<ResultRow> = crate::truth::compute_view(&on_time, View::DeviceTime, sc.window_ms, 0)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 17 != 3)
            .map(|(i, t)| ResultRow {
                device: t.device,
                category: t.category,
                agg: t.agg,
                first_emitted_at: t.window_end + 1000 + i as i64,
                ..row("native", t.window_end, 0)
            })
            .collect();
        results[5].agg.m1_sum += 1;
        let metrics = vec![("native/event-time".to_string(), measured::EVENTS_PER_S.to_string(), 9.0)];
        let mut run = stored(vec![job("native", EngineStatus::Ok)], results, metrics);
        let params: RunParams = serde_json::from_str(&run.record.params).unwrap();
        run.record.params = serde_json::to_string(&RunParams { scenario: sc, ..params }).unwrap();
        run.events = log;
        let whole = evaluated(&run).unwrap();
        let native = &whole.engines[0];
        assert!(native.exceptions.len() >= 2 && native.unexplained > 0 && native.latency_p99_ms.is_some(), "{native:?}");
        for n in [2, 5] {
            let split = Split(Whole { events: &run.events, results: &run.results }, n);
            assert_eq!(evaluate(&run.record, &run.metrics, &split, "sqlite:x").unwrap(), whole, "in {n} groups");
        }
        // As `compare` reads it back from a store: its log and rows held as numbers.
        for n in [1, 2, 5] {
            let (mut events, mut results) = (Log::default(), Rows::default());
            run.events.iter().for_each(|e| events.push(e));
            run.results.iter().for_each(|r| results.push(r));
            let held = HeldRun::new(run.record.clone(), run.metrics.clone(), events.grouped(n), results);
            assert_eq!(evaluate(&held.record, &held.metrics, &held, "sqlite:x").unwrap(), whole, "held as numbers, in {n} groups");
        }
    }

    #[test]
    fn a_crash_s_timeline_counts_the_rows_of_each_second_from_the_first_send_in_any_groups() {
        // Four devices, the first event sent at TEN + 300 ms; rows first emitted in each second of 20 but the 5 the engine was down.
        let log: Vec<SentEvent> = (0..4).map(|d| sent(&format!("e{d}"), &format!("d-{d}"), TEN + 300 + d * 100, TEN + 300 + d * 100, 1, Fault::None)).collect();
        let rows: Vec<ResultRow> = (0..20)
            .filter(|s| !(8..13).contains(s))
            .flat_map(|s| {
                (0..4).map(move |d| ResultRow { device: format!("d-{d}"), first_emitted_at: TEN + s * 1000 + 500, ..row("native", TEN + s * 5000, 1) })
            })
            .collect();
        let crash = CrashRecord { killed_at: TEN + 8000, restarted_at: TEN + 13_000, ready_again_at: Some(TEN + 13_400), node: None, stalled: false };
        let job = JobRecord { crash: Some(crash), ..job("native", EngineStatus::Ok) };
        let sc = Scenario::default();
        let timeline = |groups: &dyn DeviceGroups| crash_summary(&crash, &job, None, &Measured::of(&job, groups, &sc, 0)).timeline.expect("a crash's timeline");
        let whole = timeline(&Whole { events: &log, results: &rows });
        assert_eq!((whole.from_ms, whole.step_ms, whole.killed_ms, whole.ready_again_ms), (-300, 1000, 7700, Some(13_100)));
        assert_eq!(whole.rows, [4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4]);
        for n in [2, 3] {
            assert_eq!(timeline(&Split(Whole { events: &log, results: &rows }, n)), whole, "in {n} groups");
        }
        let no_crash = Measured::of(&JobRecord { crash: None, ..job.clone() }, &Whole { events: &log, results: &rows }, &sc, 0);
        assert!(no_crash.per_second.is_empty(), "counted for a crash only");
    }

    #[test]
    fn an_inject_only_run_has_nothing_to_compare() {
        assert!(evaluated(&stored(vec![], vec![], vec![])).unwrap_err().to_string().contains("inject-only"));
    }

    #[test]
    fn latency_after_the_last_send_counts_from_the_windows_last_on_time_event() {
        let log = [
            sent("a", "d", TEN + 1000, TEN + 1000, 1, Fault::None),
            sent("b", "d", TEN + 4800, TEN + 5500, 1, Fault::OutOfOrder),
            sent("c", "d", TEN + 3000, TEN + 3000, 1, Fault::None),
            // Held back 4.5 s, past the 1 s bound: a watermark does not wait for it.
            sent("f", "d", TEN + 2000, TEN + 6500, 1, Fault::OutOfOrder),
            // A resend, and an event of an earlier window, both sent after the window's output: no part of it.
            SentEvent { fault: Fault::Duplicate, ..sent("a", "d", TEN + 1000, TEN + 9000, 1, Fault::None) },
            sent("e", "d", TEN - 130_000, TEN + 9500, 1, Fault::Late),
            // The stream goes on: the windows above are closed by its own events.
            sent("z", "d", TEN + 60_000, TEN + 60_000, 1, Fault::None),
        ];
        let sc = Scenario { window_ms: 5000, out_of_orderness_ms: 1000, ..Scenario::default() };
        let last_send = |mode, end, phase| {
            let rows = [ResultRow { first_emitted_at: end + 1000, ..row("native", end, 3) }];
            let m = Measured::of(&JobRecord { mode, ..job("native", EngineStatus::Ok) }, &Whole { events: &log, results: &rows }, &sc, phase);
            let last_send = m.measured(&sc).next().map(|&(_, _, sent)| sent);
            last_send
        };
        assert_eq!(last_send(Mode::EventTime, TEN + 5000, 0), Some(TEN + 5500), "the event held back within the bound, not the one past it");
        // On the wall clock the held-back event is in the next window: the window's last send is c's.
        assert_eq!(last_send(Mode::ProcessingTime, TEN + 5000, 0), Some(TEN + 3000));
        // Windows on the engine's own clock, ending 1 s past the multiples, its timer 30 ms late: the window [TEN + 1000, TEN + 6000) has b.
        assert_eq!(last_send(Mode::ProcessingTime, TEN + 6030, 1000), Some(TEN + 5500));
        assert_eq!(last_send(Mode::EventTime, TEN + 20_000, 0), None, "a window nothing was sent to");
        assert_eq!(last_send(Mode::EventTime, TEN - 125_000, 0), None, "a window of a late event alone: emitted as it comes, by design");
        assert_eq!(last_send(Mode::ProcessingTime, TEN + 60_000, 0), None, "the stream's last window waits for the end-of-stream flush");
        // On a virtual clock device times are not the wall's: an out-of-order event is held back by how far its
        // device had gone on, not by its send time minus its device time (years, every one past the bound).
        let wall = 1_800_000_000_000;
        let log = [
            sent("a", "d", TEN + 1000, wall, 1, Fault::None),
            sent("c", "d", TEN + 4000, wall + 10, 1, Fault::None),
            sent("b", "d", TEN + 3500, wall + 20, 1, Fault::OutOfOrder),
            sent("f", "d", TEN + 2000, wall + 30, 1, Fault::OutOfOrder),
            sent("z", "d", TEN + 60_000, wall + 40, 1, Fault::None),
        ];
        let sc = Scenario { clock: Clock::Virtual, ..sc };
        let rows = [ResultRow { first_emitted_at: wall + 1000, ..row("native", TEN + 5000, 3) }];
        let m = Measured::of(&JobRecord { mode: Mode::EventTime, ..job("native", EngineStatus::Ok) }, &Whole { events: &log, results: &rows }, &sc, 0);
        let last_send = m.measured(&sc).next().map(|&(_, _, sent)| sent);
        assert_eq!(last_send, Some(wall + 20), "b, held back 0.5 s, within the bound; not f, held back 2 s");
    }

    #[test]
    fn emit_latency_is_measured_on_the_windows_of_on_time_events_the_stream_closes() {
        let sc = Scenario { clock: Clock::Live, window_ms: 5000, out_of_orderness_ms: 2000, ..Scenario::default() };
        let log = [
            sent("late", "d", TEN - 3000, TEN + 900, 1, Fault::Late),
            sent("a", "d", TEN + 1000, TEN + 1000, 1, Fault::None),
            sent("b", "d", TEN + 22_000, TEN + 22_000, 1, Fault::None),
        ];
        let only_a_late_event = ResultRow { first_emitted_at: TEN + 3900, ..row("native", TEN, 1) };
        let waited_for_the_flush = ResultRow { first_emitted_at: TEN + 31_000, ..row("native", TEN + 25_000, 1) };
        let rows = [only_a_late_event, row("native", TEN + 5000, 1), waited_for_the_flush];
        let s = summarize(&job("native", EngineStatus::Ok), EngineStatus::Ok, None, &Whole { events: &log, results: &rows }, &[], &sc);
        assert_eq!((s.latency_p50_ms, s.latency_p99_ms, s.latency_max_ms), (Some(100), Some(100), Some(100)));
        assert_eq!(s.latency_distribution_ms.last(), Some(&(100.0, 100)));
    }

    #[test]
    fn windows_after_the_streams_own_close_wait_for_its_flush() {
        let log = [sent("a", "d", 20_000, 21_000, 1, Fault::None), sent("b", "d", 12_000, 26_000, 1, Fault::Late)];
        assert_eq!(
            closed_by_stream(latest_of(&log, Mode::EventTime), 5000, 2000),
            13_000,
            "a window and the out-of-orderness bound before the latest device time"
        );
        assert_eq!(closed_by_stream(latest_of(&log, Mode::IngestionTime), 5000, 2000), 19_000, "… before the latest send");
        assert_eq!(closed_by_stream(latest_of(&[], Mode::EventTime), 5000, 2000), i64::MIN);
    }
}
