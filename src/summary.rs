//! A run's summary: one row per engine and mode, measured (exactness,
//! exceptions by cause, malformed records, throughput, emit latency), and how
//! it reads on a terminal.

use crate::compare::{self, Cause, Comparison};
use crate::format::utc;
use crate::model::{CrashRecord, EngineStatus, Guarantee, Metric, Mode, RunRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The broker a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub about: String,
    /// How long the local broker took to serve (for a matrix: once, before its first run).
    pub startup_s: Option<f64>,
}

/// Everything a run produced, also written as `summary.json`; `compare` prints it again from the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub scenario: String,
    pub out_dir: String,
    pub store: String,
    pub events_sent: usize,
    pub malformed_sent: u64,
    pub inject_events_per_s: f64,
    /// On a paced scenario, how late the simulator's latest send went out after its schedule.
    #[serde(default)]
    pub inject_behind_schedule_ms: Option<u64>,
    pub broker: BrokerInfo,
    /// Records on the results topic that were not window results.
    pub undecodable_results: u64,
    pub engines: Vec<EngineSummary>,
    pub comparisons: Vec<Comparison>,
    /// Why the run is not in the store it was asked to use, and where it is kept instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_failure: Option<String>,
}

impl RunSummary {
    pub fn failed(&self) -> bool {
        self.engines.iter().any(EngineSummary::failed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSummary {
    pub engine: String,
    pub mode: Mode,
    pub windows_exact: usize,
    pub windows_total: usize,
    /// Exceptions per cause (an exception with two causes counts for both).
    pub exceptions: Vec<(Cause, usize)>,
    /// Exceptions without an explanation (unexplained, beyond the search budget, or naming unknown ids).
    pub unexplained: usize,
    /// Compared event by event: its rows named the events each window counted (docs/SPEC.md §7).
    #[serde(default)]
    pub by_ids: bool,
    pub malformed: Option<u64>,
    pub events_per_s: Option<f64>,
    /// Emit latency, first emission (when the collector first read the row) − window end, p50,
    /// over the windows that hold an on-time event
    /// and that the stream's own events close (`evaluate::Measured::measured`), as are all the latencies
    /// here: a window of late events alone is emitted as they come, by design, and the later
    /// windows wait for the end-of-stream flush, the harness's idle timeout, not the engine.
    pub latency_p50_ms: Option<i64>,
    pub latency_p99_ms: Option<i64>,
    /// The slowest window's.
    #[serde(default)]
    pub latency_max_ms: Option<i64>,
    /// Emit latency from the send of the window's last on-time event (first emission − its send
    /// time, both on the wall clock: meaningful on a virtual clock too), p50, p99 and max.
    #[serde(default)]
    pub after_last_send_ms: Option<Percentiles>,
    /// Median emit latency of the last quarter of the windows minus the first quarter's
    /// (`latency_growth_ms`).
    #[serde(default)]
    pub latency_growth_ms: Option<i64>,
    /// From starting the job to `ready`: with the process's own start, unless a kept process took the job.
    pub startup_s: Option<f64>,
    /// Emit latency at `LATENCY_PERCENTILES`, for the report's distribution plots.
    pub latency_distribution_ms: Vec<(f64, i64)>,
    /// Mean emissions per window: above 1 means early or late firings.
    pub emissions_per_window: Option<f64>,
    /// Over the engine's process tree, during this run.
    pub cpu_s: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub status: EngineStatus,
    pub log: String,
    /// What a crash the harness made did to the job, in a crash scenario.
    #[serde(default)]
    pub crash: Option<CrashSummary>,
    /// Why the job's windows were not compared with the truth (its throughput and latency still were measured).
    #[serde(default)]
    pub not_compared: Option<String>,
}

/// A latency's median, 99th percentile and maximum, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: i64,
    pub p99: i64,
    pub max: i64,
}

impl Percentiles {
    /// `None` for no values.
    pub fn of(values: Vec<i64>) -> Option<Percentiles> {
        let [p50, p99, max] = percentiles(values, &[50.0, 99.0, 100.0])[..] else { unreachable!("three percentiles asked") };
        Some(Percentiles { p50: p50?, p99: p99?, max: max? })
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.p50, self.p99, self.max)
    }
}

/// What an engine crash did to a job: the events its windows lost or counted twice, and how long
/// from the kill until it wrote results again and until it had caught up with the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrashSummary {
    pub events_lost: u64,
    pub events_doubled: u64,
    /// Kill to the first result row written after the restart.
    pub first_row_s: Option<f64>,
    /// Kill to the first row of a window that ended after the engine was back: it is reading the live stream again.
    pub caught_up_s: Option<f64>,
    /// The job's result rows over the run, the crash marked: the report's picture of it.
    #[serde(default)]
    pub timeline: Option<Timeline>,
    /// What the engine declares its windows keep across a crash, held against the events lost and doubled.
    #[serde(default)]
    pub promise: Option<Guarantee>,
    /// It was a stall (SIGSTOP, then SIGCONT of the same process), not a kill: its times are from the SIGSTOP.
    #[serde(default)]
    pub stalled: bool,
}

/// A job's result rows first emitted in each second of the wall clock (or each few seconds: at
/// most `TIMELINE_POINTS` counts), and the crash's kill, restart and ready again, all from the
/// stream's first send: the gap a crash leaves in a job's results, and its catch-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The first count's start, ms from the stream's first send: the counts are of whole seconds
    /// of the wall clock, the first one holding the first send (or an earlier row).
    pub from_ms: i64,
    /// The time each count covers, ms: a second, or whole seconds more on a long run.
    pub step_ms: i64,
    /// Rows first emitted (first read by the collector) in each step.
    pub rows: Vec<u64>,
    /// The kill, the restart and ready again (`CrashRecord`), ms from the stream's first send.
    pub killed_ms: i64,
    pub restarted_ms: i64,
    pub ready_again_ms: Option<i64>,
}

/// The most counts a `Timeline` holds: a run longer than this many seconds counts by whole seconds more.
pub const TIMELINE_POINTS: usize = 300;

impl Timeline {
    /// The timeline of a job whose rows were first emitted as `per_second` counts (wall-clock
    /// second, from the epoch → rows), its stream first sent at `first_send`, crashed as `crash` says.
    pub fn of(per_second: &BTreeMap<i64, u64>, first_send: i64, crash: &CrashRecord) -> Timeline {
        let first = per_second.keys().next().map_or(first_send.div_euclid(1000), |&s| s.min(first_send.div_euclid(1000)));
        let last = per_second.keys().next_back().map_or(first, |&s| s.max(first));
        let seconds = (last - first + 1) as usize;
        let step = seconds.div_ceil(TIMELINE_POINTS);
        let mut rows = vec![0; seconds.div_ceil(step)];
        for (&second, &n) in per_second {
            rows[(second - first) as usize / step] += n;
        }
        Timeline {
            from_ms: first * 1000 - first_send,
            step_ms: step as i64 * 1000,
            rows,
            killed_ms: crash.killed_at - first_send,
            restarted_ms: crash.restarted_at - first_send,
            ready_again_ms: crash.ready_again_at.map(|at| at - first_send),
        }
    }
}

impl CrashSummary {
    pub fn describe(&self) -> String {
        let secs = |s: Option<f64>| s.map_or("never".to_string(), |s| format!("after {s:.1} s"));
        let caught_up = self.caught_up_s.map_or("not caught up before the stream ended".to_string(), |s| format!("caught up after {s:.1} s"));
        let promise = match self.promise {
            None => String::new(),
            Some(Guarantee::None) => "; promises nothing".into(),
            Some(p) => format!("; {} {}", p.as_str(), if self.promise_held() { "held" } else { "broken" }),
        };
        format!("{} lost, {} doubled; writing again {}, {caught_up}{promise}", self.events_lost, self.events_doubled, secs(self.first_row_s))
    }

    /// Whether the engine kept what it declares across the crash; true where it declares nothing.
    pub fn promise_held(&self) -> bool {
        self.promise.is_none_or(|p| p.held(self.events_lost, self.events_doubled))
    }
}

impl EngineSummary {
    /// An engine that failed, a difference nobody explains, or a promise a crash broke.
    pub fn failed(&self) -> bool {
        !self.status.is_ok() || self.unexplained > 0 || self.broken_promise().is_some()
    }

    /// What a crash broke of the engine's declared promise: `exactly-once broken (3 lost, 0 doubled)`.
    pub fn broken_promise(&self) -> Option<String> {
        let c = self.crash.as_ref().filter(|c| !c.promise_held())?;
        Some(format!("{} broken ({} lost, {} doubled)", c.promise?.as_str(), c.events_lost, c.events_doubled))
    }

    /// The measurements `history` lists, kept in the store's metrics.
    pub fn verdict_metrics(&self) -> Vec<(&'static str, f64)> {
        let mut m = Vec::new();
        if self.not_compared.is_none() {
            m.extend([("windows_exact", self.windows_exact as f64), ("windows_total", self.windows_total as f64)]);
        }
        let optional = [
            ("latency_p50_ms", self.latency_p50_ms.map(|v| v as f64)),
            ("latency_p99_ms", self.latency_p99_ms.map(|v| v as f64)),
            ("latency_max_ms", self.latency_max_ms.map(|v| v as f64)),
            ("after_last_send_p50_ms", self.after_last_send_ms.map(|p| p.p50 as f64)),
            ("after_last_send_p99_ms", self.after_last_send_ms.map(|p| p.p99 as f64)),
            ("after_last_send_max_ms", self.after_last_send_ms.map(|p| p.max as f64)),
            ("emissions_per_window", self.emissions_per_window),
        ];
        m.extend(optional.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))));
        m
    }
}

pub fn exceptions_by_cause(c: &Comparison) -> Vec<(Cause, usize)> {
    Cause::ALL.iter().map(|&cause| (cause, c.count(cause))).filter(|&(_, n)| n > 0).collect()
}

pub const LATENCY_PERCENTILES: [f64; 11] = [1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 100.0];

/// How much later the last quarter of the windows (by window end) was emitted than the first
/// quarter, in median emit latency, ms: near 0 when the engine keeps up with the stream, growing
/// with the stream when it falls behind. `None` under 8 windows. `windows`: (window end, emit latency).
pub fn latency_growth_ms(windows: &[(i64, i64)]) -> Option<i64> {
    if windows.len() < 8 {
        return None;
    }
    let mut by_end = windows.to_vec();
    by_end.sort_unstable();
    let quarter = by_end.len() / 4;
    let median = |part: &[(i64, i64)]| percentiles(part.iter().map(|&(_, latency)| latency).collect(), &[50.0])[0];
    Some(median(&by_end[by_end.len() - quarter..])? - median(&by_end[..quarter])?)
}

/// The values at the given percentiles (nearest rank), `None` for no values.
pub fn percentiles(mut values: Vec<i64>, at: &[f64]) -> Vec<Option<i64>> {
    values.sort_unstable();
    at.iter().map(|p| (!values.is_empty()).then(|| values[((p / 100.0 * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1])).collect()
}

pub fn table(rows: &[EngineSummary]) -> String {
    let mut head = vec![
        "engine",
        "mode",
        "windows exact",
        "exceptions by cause",
        "malformed",
        "events/s",
        "latency p50/p99/max ms",
        "after last send p50/p99/max ms",
        "status",
    ];
    let crashed = rows.iter().any(|r| r.crash.is_some());
    if crashed {
        head.push(if rows.iter().any(|r| r.crash.as_ref().is_some_and(|c| c.stalled)) {
            "after the stall (events, SIGSTOP to)"
        } else {
            "after the crash (events, kill to)"
        });
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let causes = if r.exceptions.is_empty() {
                "-".to_string()
            } else {
                r.exceptions.iter().map(|(c, n)| format!("{n} {}", c.as_str())).collect::<Vec<_>>().join(", ")
            };
            let opt = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
            let mut cells = vec![
                r.engine.clone(),
                r.mode.to_string(),
                r.not_compared.clone().unwrap_or_else(|| format!("{}/{}", r.windows_exact, r.windows_total)),
                causes,
                r.malformed.map_or("-".into(), |m| m.to_string()),
                r.events_per_s.map_or("-".into(), |e| format!("{e:.0}")),
                format!("{}/{}/{}", opt(r.latency_p50_ms), opt(r.latency_p99_ms), opt(r.latency_max_ms)),
                r.after_last_send_ms.map_or("-".into(), |p| p.to_string()),
                r.status.to_string(),
            ];
            if crashed {
                cells.push(r.crash.as_ref().map_or("-".into(), CrashSummary::describe));
            }
            cells
        })
        .collect();
    let widths: Vec<usize> = (0..head.len()).map(|i| cells.iter().map(|c| c[i].chars().count()).chain([head[i].len()]).max().unwrap_or(0)).collect();
    let mut out = String::new();
    let line = |out: &mut String, cols: &[&str]| {
        let padded: Vec<String> = cols.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&mut out, &head);
    for c in &cells {
        line(&mut out, &c.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

/// How many exceptions of each engine mode a terminal is shown; `compare.txt` has them all.
pub const EXCEPTIONS_ON_A_TERMINAL: usize = 20;

/// The run's comparisons and its table: with every exception (`compare.txt`), or the first `at_most` of each.
pub fn render(s: &RunSummary, at_most: Option<usize>) -> String {
    let mut out = String::new();
    for c in &s.comparisons {
        out.push_str(&compare::render(c, at_most));
        out.push('\n');
    }
    out.push_str(&format!(
        "run {} — scenario {}: {} events sent ({} malformed records), {:.0} events/s into the broker\n",
        s.run_id, s.scenario, s.events_sent, s.malformed_sent, s.inject_events_per_s
    ));
    out.push_str(&format!("broker: {}{}\n", s.broker.about, s.broker.startup_s.map_or(String::new(), |t| format!(", started in {t:.1} s"))));
    if s.undecodable_results > 0 {
        out.push_str(&format!(
            "{} records on the results topic were not window results (docs/SPEC.md §5): an engine wrote something else\n",
            s.undecodable_results
        ));
    }
    out.push_str(&table(&s.engines));
    out.push_str(&format!("output: {} (store {})\n", s.out_dir, s.store));
    out
}

/// `history`: a line per run, with each engine mode's windows exact.
pub fn history(runs: &[(RunRecord, Vec<Metric>)]) -> String {
    let mut out = format!("{:<34}  {:<12}  {:<19}  {:>7}  engines (windows exact/total)\n", "run", "scenario", "started (UTC)", "secs");
    for (r, metrics) in runs {
        let get = |job: &str, name: &str| metrics.iter().find(|(j, n, _)| j == job && n == name).map_or(0, |(_, _, v)| *v as i64);
        let mut jobs: Vec<&str> = metrics.iter().filter(|(_, n, _)| n == "windows_total").map(|(j, _, _)| j.as_str()).collect();
        jobs.dedup();
        let cells: Vec<String> = jobs.iter().map(|j| format!("{j} {}/{}", get(j, "windows_exact"), get(j, "windows_total"))).collect();
        let secs = r.ended_at.map_or("-".to_string(), |end| format!("{:.0}", (end - r.started_at) as f64 / 1000.0));
        let _ = writeln!(out, "{:<34}  {:<12}  {:<19}  {:>7}  {}", r.id, r.scenario, utc(r.started_at), secs, cells.join(", "));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn latency_grows_when_the_engine_falls_behind() {
        // (window end, emit latency)
        let steady: Vec<(i64, i64)> = (0..40).map(|w| (w * 5000, 1000 + (w % 3) * 10)).collect();
        let behind: Vec<(i64, i64)> = (0..40).map(|w| (w * 5000, 1000 + w * 200)).collect();
        let growth = latency_growth_ms;
        assert!(growth(&steady).unwrap().abs() <= 20, "{:?}", growth(&steady));
        // The first ten windows' median is at 1,800 ms, the last ten's at 7,800 ms.
        assert_eq!(growth(&behind), Some(6000));
        assert_eq!(growth(&steady[..7]), None, "too few windows to say");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentiles((1..=100).rev().collect(), &[50.0, 99.0, 100.0]), vec![Some(50), Some(99), Some(100)]);
        assert_eq!(percentiles(vec![], &[50.0]), vec![None]);
        assert_eq!(Percentiles::of((1..=1000).rev().collect()), Some(Percentiles { p50: 500, p99: 990, max: 1000 }));
        assert_eq!(Percentiles::of(vec![]), None);
    }

    /// An engine mode's row of a run that went well, for tests to change one thing of.
    pub(crate) fn summary() -> EngineSummary {
        EngineSummary {
            engine: "native".into(),
            mode: Mode::EventTime,
            windows_exact: 18,
            windows_total: 21,
            exceptions: vec![(Cause::Late, 3)],
            unexplained: 0,
            by_ids: false,
            malformed: Some(0),
            events_per_s: Some(20.4),
            latency_p50_ms: Some(1052),
            latency_p99_ms: Some(1180),
            latency_max_ms: Some(1200),
            after_last_send_ms: Some(Percentiles { p50: 1900, p99: 2100, max: 2150 }),
            latency_growth_ms: None,
            startup_s: Some(3.1),
            latency_distribution_ms: vec![],
            emissions_per_window: Some(1.0),
            cpu_s: Some(0.5),
            peak_rss_bytes: Some(1 << 20),
            status: EngineStatus::Ok,
            log: "x.log".into(),
            crash: None,
            not_compared: None,
        }
    }

    #[test]
    fn a_timeline_counts_each_second_s_rows_from_the_first_send_and_long_runs_in_fewer_steps() {
        let crash = CrashRecord { killed_at: 108_000, restarted_at: 113_000, ready_again_at: Some(113_600), node: None, stalled: false };
        // Sent from 100.3 s on; rows in seconds 100 to 119 of the wall clock, none from 108 to 112.
        let per_second: BTreeMap<i64, u64> = (100..120).filter(|s| !(108..113).contains(s)).map(|s| (s, 4)).collect();
        let t = Timeline::of(&per_second, 100_300, &crash);
        assert_eq!((t.from_ms, t.step_ms, t.rows.len()), (-300, 1000, 20), "whole seconds, the first one holding the first send");
        assert_eq!(t.rows[7..14], [4, 0, 0, 0, 0, 0, 4]);
        assert_eq!((t.killed_ms, t.restarted_ms, t.ready_again_ms), (7700, 12_700, Some(13_300)));
        // An hour of rows: at most TIMELINE_POINTS counts of whole seconds, every row still counted.
        let hour: BTreeMap<i64, u64> = (0..3600).map(|s| (s, 1)).collect();
        let t = Timeline::of(&hour, 0, &crash);
        assert_eq!((t.step_ms, t.rows.len(), t.rows.iter().sum::<u64>()), (12_000, 300, 3600));
        assert_eq!(Timeline::of(&BTreeMap::new(), 100_300, &crash).rows, [0], "no rows: one empty second");
    }

    #[test]
    fn the_table_aligns_columns_and_flags_failures() {
        let s = summary();
        let t = table(&[s.clone(), EngineSummary { status: EngineStatus::Exited("exit status: 1".into()), ..s.clone() }]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("18/21") && lines[1].contains("3 late") && lines[1].contains("1052/1180/1200") && lines[1].contains("1900/2100/2150"), "{t}");
        assert_eq!(lines[0].find("windows exact"), lines[1].find("18/21"));
        assert!(!s.failed());
        assert!(EngineSummary { unexplained: 1, ..s }.failed());
    }

    #[test]
    fn a_crash_says_whether_the_engines_promise_held() {
        let crash = |promise, lost, doubled| CrashSummary {
            stalled: false,
            events_lost: lost,
            events_doubled: doubled,
            first_row_s: Some(2.0),
            caught_up_s: Some(6.5),
            timeline: None,
            promise,
        };
        let said = |c: CrashSummary| (c.describe(), EngineSummary { crash: Some(c), ..summary() }.broken_promise());
        assert_eq!(
            said(crash(Some(Guarantee::ExactlyOnce), 0, 0)),
            ("0 lost, 0 doubled; writing again after 2.0 s, caught up after 6.5 s; exactly-once held".into(), None)
        );
        assert_eq!(
            said(crash(Some(Guarantee::ExactlyOnce), 0, 4)),
            (
                "0 lost, 4 doubled; writing again after 2.0 s, caught up after 6.5 s; exactly-once broken".into(),
                Some("exactly-once broken (0 lost, 4 doubled)".into())
            )
        );
        assert_eq!(said(crash(Some(Guarantee::AtLeastOnce), 0, 4)).1, None, "at-least-once may count twice");
        assert_eq!(said(crash(Some(Guarantee::AtLeastOnce), 3, 0)).1, Some("at-least-once broken (3 lost, 0 doubled)".into()));
        let none = said(crash(Some(Guarantee::None), 795, 0));
        assert_eq!(none, ("795 lost, 0 doubled; writing again after 2.0 s, caught up after 6.5 s; promises nothing".into(), None));
        assert_eq!(said(crash(None, 795, 0)).1, None, "a run stored before promises were kept holds none");
        assert!(EngineSummary { crash: Some(crash(Some(Guarantee::ExactlyOnce), 1, 0)), ..summary() }.failed(), "a broken promise fails the run");
    }
}
