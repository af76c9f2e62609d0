//! The comparison (docs/SPEC.md §7): a full outer join of the truth and one
//! engine's results, and for every difference the reason it happened. Where the
//! engine names the events each window counted, `ids` compares them event by event
//! and classifies each id missing or extra; else the difference is matched against
//! the faults the simulator injected into that window: `candidates` reads what may
//! explain a row off the event log, and `explain` searches them for the fewest that do.
//! This file holds the records, chooses the way, and reports.

use crate::format::utc;
use crate::groups::DeviceGroups;
use crate::model::{nearest_window_end, Aggregate, CrashRecord, Fault, JobRecord, Mode, ResultRow, SentEvent, View, WatermarkScope, FLUSH_DEVICE};
use crate::scenario::Clock;
use crate::truth;
pub use candidates::held_back;
use candidates::{Choice, FaultIndex};
use explain::{explain, Explanation};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

mod candidates;
mod explain;
mod ids;
#[cfg(test)]
mod tests;

/// Why a window differs; one exception may have several causes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A resent message counted a second time.
    Duplicate,
    /// A late message dropped behind the watermark.
    Late,
    /// An out-of-order message that arrived after its window had closed.
    OutOfOrder,
    /// An on-time message dropped as late: the engine's watermark had gone on without its partition
    /// (one watermark over all partitions, carried on by the others; or its partition idle for a while).
    Overtaken,
    /// Messages sent just before a window's end that the engine counted in a later window; or just
    /// after, counted in the window its timer closed late.
    Boundary,
    /// A message at a window's very end, counted in the window it ends (windows that hold their end, as Storm's do).
    EndInclusive,
    /// Messages sent before the engine's crash that its window never counted: state or input lost with the process.
    LostInCrash,
    /// Messages sent before the engine's crash that its window counted twice: read again after the restart on top of restored state.
    CountedTwice,
    /// Messages of a window that never closed: its engine closes a window only on a later event of its
    /// key (`watermark = "per-key"`), and the device sent none past the window's end and the bound.
    NeverClosed,
    /// No set of faults accounts for the difference; or, by ids, no rule the event.
    Unexplained,
    /// The search for an explanation gave up on its budget: it may have one, or not.
    SearchBudget,
    /// A row that names an id the stream never had, or no ids where its job names them.
    UnknownId,
}

impl Cause {
    pub const ALL: [Cause; 12] = [
        Cause::Duplicate,
        Cause::Late,
        Cause::OutOfOrder,
        Cause::Overtaken,
        Cause::Boundary,
        Cause::EndInclusive,
        Cause::LostInCrash,
        Cause::CountedTwice,
        Cause::NeverClosed,
        Cause::Unexplained,
        Cause::SearchBudget,
        Cause::UnknownId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Duplicate => "duplicate",
            Cause::Late => "late",
            Cause::OutOfOrder => "out-of-order",
            Cause::Overtaken => "overtaken",
            Cause::Boundary => "boundary",
            Cause::EndInclusive => "end-inclusive",
            Cause::LostInCrash => "lost-in-crash",
            Cause::CountedTwice => "counted-twice",
            Cause::NeverClosed => "never-closed",
            Cause::Unexplained => "unexplained",
            Cause::SearchBudget => "search-budget",
            Cause::UnknownId => "unknown-id",
        }
    }

    /// An explanation: a fault or a boundary crossing, not a failure to find one.
    pub fn explains(self) -> bool {
        !matches!(self, Cause::Unexplained | Cause::SearchBudget | Cause::UnknownId)
    }
}

/// The settings a job ran with that say what it could have dropped, and where each device's events went.
#[derive(Debug, Clone)]
pub struct Setting {
    pub window_ms: i64,
    pub clock: Clock,
    pub out_of_orderness_ms: i64,
    pub allowed_lateness_ms: i64,
    /// How long a partition is silent before a watermark of `per-active-partition` goes on without it.
    pub idle_timeout_ms: i64,
    /// The partition each device's events were sent to (§2).
    pub partitions: HashMap<String, i32>,
    /// What the engine itself says it dropped as late (its `late_dropped` metric), if it says.
    pub late_dropped: Option<u64>,
}

impl Setting {
    /// `window_ms` and `clock`, and the defaults of the rest (no partitions known).
    pub fn of(window_ms: i64, clock: Clock) -> Setting {
        Setting { window_ms, clock, out_of_orderness_ms: 1000, allowed_lateness_ms: 0, idle_timeout_ms: 5000, partitions: HashMap::new(), late_dropped: None }
    }

    /// The partition of `device`'s events; -1 where it is not known.
    fn partition(&self, device: &str) -> i32 {
        self.partitions.get(device).copied().unwrap_or(-1)
    }
}

/// Which side of a window an event is on: in the truth and not counted, or counted more often than the truth holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Missing,
    Extra,
}

/// One event an exception is made of, when the engine names the events it counted: why it is
/// missing or extra, and what the simulator did to it (none of that for an id the stream never had).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventNote {
    pub id: String,
    pub side: Side,
    pub cause: Cause,
    pub dt: Option<i64>,
    pub sent_at: Option<i64>,
    pub fault: Option<Fault>,
    pub m1: i64,
    /// The evidence: "131 s late", "held back 1.4 s, past the bound", "sent 12 ms before its window's end".
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    pub window_end: i64,
    pub device: String,
    pub category: String,
    pub truth: Option<Aggregate>,
    pub result: Option<Aggregate>,
    pub causes: Vec<Cause>,
    pub why: String,
    /// Events of the window a crash lost, or made it count twice.
    #[serde(default)]
    pub lost: u64,
    #[serde(default)]
    pub doubled: u64,
    /// On-time events of the window dropped behind a watermark taken over all partitions.
    #[serde(default)]
    pub overtaken: u64,
    /// Its events, where the engine names them: each id missing or extra, and why. Kept out of
    /// `summary.json` (a run may have millions): the run's `exceptions.jsonl` has them.
    #[serde(skip)]
    pub events: Vec<EventNote>,
}

/// What the engine says it dropped as late, beside the ids found missing as late, out of order or overtaken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub reported: u64,
    pub found: u64,
    /// Resends that came once their window's watermark could have passed (an engine that checks
    /// lateness before its dedup counts them too).
    #[serde(default)]
    pub late_resends: u64,
}

impl Dropped {
    /// The engine's count is the ids found missing as late, with or without the resends that came late.
    pub fn agree(&self) -> bool {
        self.reported == self.found || self.reported == self.found + self.late_resends
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub engine: String,
    pub mode: Mode,
    pub view: View,
    /// Where the engine's windows end past the multiples of the window length: 0, unless the
    /// engine starts its windows with its own clock (then the truth is taken in its windows).
    #[serde(default)]
    pub window_phase_ms: i64,
    pub rows: usize,
    pub exceptions: Vec<Exception>,
    /// Compared event by event (the engine named the events each window counted).
    #[serde(default)]
    pub by_ids: bool,
    /// Where compared by ids and the engine counts its drops: the two side by side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<Dropped>,
}

impl Comparison {
    pub fn exact(&self) -> usize {
        self.rows - self.exceptions.len()
    }

    pub fn count(&self, cause: Cause) -> usize {
        self.exceptions.iter().filter(|e| e.causes.contains(&cause)).count()
    }

    pub fn unexplained(&self) -> usize {
        self.count(Cause::Unexplained)
    }

    /// Exceptions without an explanation: unexplained, not searched to the end, or naming unknown ids.
    pub fn not_explained(&self) -> usize {
        self.exceptions.iter().filter(|e| !e.causes.iter().all(|c| c.explains())).count()
    }

    /// One line that says how this engine and mode did.
    pub fn verdict(&self) -> String {
        let head = format!("{} {}: {}/{} windows exact", self.engine, self.mode, self.exact(), self.rows);
        if self.exceptions.is_empty() {
            return head;
        }
        let explained: Vec<String> =
            Cause::ALL.iter().filter(|&&c| c.explains() && self.count(c) > 0).map(|&c| format!("{} {}", self.count(c), c.as_str())).collect();
        let causes = if explained.is_empty() { String::new() } else { format!(" ({})", explained.join(", ")) };
        let total = self.exceptions.len();
        let unknown = match self.count(Cause::UnknownId) {
            0 => String::new(),
            n => format!(", {n} naming ids the stream never had"),
        };
        match (self.unexplained(), self.count(Cause::SearchBudget)) {
            (0, 0) if unknown.is_empty() => format!("{head}; {total} exceptions, all explained{causes}"),
            (n, 0) => format!("{head}; {n} of {total} exceptions UNEXPLAINED{unknown}{causes}"),
            (n, b) => format!("{head}; {n} of {total} exceptions UNEXPLAINED{unknown}, {b} not explained within the search budget{causes}"),
        }
    }
}

/// Compares one job's results with the truth its mode is held to, a group of devices at a time
/// (`groups` holds the job's rows only): event by event where its rows name the events they
/// counted (`ids`), else by their sums.
pub fn compare(job: &JobRecord, groups: &dyn DeviceGroups, setting: &Setting) -> Comparison {
    if job.ids {
        return ids::compare(job, groups, setting);
    }
    let reading = Reading::of(job, groups, setting.window_ms, &mut |_| {});
    by_sums(job, groups, &reading, setting)
}

/// The comparison by sums, explaining every exception from the sent-event log. Tried last, where
/// the scenario's faults (the likelier reason) do not explain a row: after a crash of the job,
/// messages sent before the engine was reading again lost in the crash, or counted twice after
/// it; for an engine whose watermark is taken over all partitions, or that lets it go on without
/// an idle partition, on-time messages overtaken by it.
///
/// `overtaken` is held to the engine's own count of what it dropped as late (`late_dropped`):
/// where the events so explained add up to more, none of them stands, and the job is compared
/// again as if its watermark waited for every partition, so that the other causes have their turn.
fn by_sums(job: &JobRecord, groups: &dyn DeviceGroups, reading: &Reading, setting: &Setting) -> Comparison {
    let (window_ms, clock) = (setting.window_ms, setting.clock);
    let c = compare_groups(job, groups, reading, window_ms, clock);
    if c.exceptions.iter().map(|e| e.overtaken).sum::<u64>() <= setting.late_dropped.unwrap_or(u64::MAX) {
        return c;
    }
    compare_groups(&JobRecord { watermark: WatermarkScope::PerPartition, ..job.clone() }, groups, reading, window_ms, clock)
}

/// What a job's comparison reads off all its rows before it compares them a group at a time.
struct Reading {
    /// Where its windows end past the multiples of the window (`window_phase`).
    phase_ms: i64,
    /// How many windows later it may count a message on the wall clock, as far as it lagged (`windows_crossed`).
    crossed: i64,
    /// The latest of its first emissions after a window's end: with a watermark on the wall clock,
    /// beyond the wait, how far behind the stream it may have read.
    emitted_late_ms: i64,
}

impl Reading {
    /// What it reads off every group; each group's events go to `also` on the way (one read of a run for both).
    fn of(job: &JobRecord, groups: &dyn DeviceGroups, window_ms: i64, also: &mut dyn FnMut(&[SentEvent])) -> Reading {
        let (mut ends, mut emitted_late, mut last_sent) = (Vec::new(), 0, None);
        for g in 0..groups.count() {
            let group = groups.group(g);
            also(&group.events);
            for r in group.results.iter().filter(|r| r.device != FLUSH_DEVICE) {
                ends.push(r.window_end);
                emitted_late = emitted_late.max(r.first_emitted_at - r.window_end);
            }
            last_sent = last_sent.max(group.events.iter().map(|e| e.sent_at).max());
        }
        Reading { phase_ms: window_phase(&ends, window_ms), crossed: windows_crossed(job, emitted_late, last_sent, window_ms), emitted_late_ms: emitted_late }
    }
}

/// The comparison of every group of `groups`, its exceptions in the original's order: by category, then window.
fn compare_groups(job: &JobRecord, groups: &dyn DeviceGroups, reading: &Reading, window_ms: i64, clock: Clock) -> Comparison {
    let mut c = Comparison::empty(job, reading);
    for g in 0..groups.count() {
        let group = groups.group(g);
        let (rows, exceptions) = compare_group(job, reading, &group.results, &group.events, window_ms, clock);
        c.rows += rows;
        c.exceptions.extend(exceptions);
    }
    c.in_order();
    c
}

impl Comparison {
    fn empty(job: &JobRecord, reading: &Reading) -> Comparison {
        let (engine, mode, window_phase_ms) = (job.engine.clone(), job.mode, reading.phase_ms);
        Comparison { engine, mode, view: mode.view(), window_phase_ms, rows: 0, exceptions: Vec::new(), by_ids: false, dropped: None }
    }

    /// Its exceptions in the original's order: by category, then window.
    fn in_order(&mut self) {
        self.exceptions.sort_by(|a, b| (&a.category, a.window_end, &a.device).cmp(&(&b.category, b.window_end, &b.device)));
    }
}

/// The rows compared of one group of devices, and their exceptions.
fn compare_group(job: &JobRecord, reading: &Reading, results: &[ResultRow], log: &[SentEvent], window_ms: i64, clock: Clock) -> (usize, Vec<Exception>) {
    let (mode, crash, phase) = (job.mode, job.crash.as_ref(), reading.phase_ms);
    let view = mode.view();
    // The search's candidates grow with every window a message may have crossed: it tries a bounded number.
    let crossed = reading.crossed.min(MAX_CROSSED_BY_SUMS).max(windows_down(crash, window_ms).min(MAX_CROSSED_AFTER_CRASH));
    let truth = truth::compute_view(log, view, window_ms, phase);
    let faults = FaultIndex::new(log, results, view, window_ms, phase, clock);
    let end = |e: i64| nearest_window_end(e, window_ms, phase);
    let truth: BTreeMap<Row, &Aggregate> = truth.iter().map(|t| ((t.window_end, t.device.as_str(), t.category.as_str()), &t.agg)).collect();
    let results: BTreeMap<Row, &Aggregate> =
        results.iter().filter(|r| r.device != FLUSH_DEVICE).map(|r| ((end(r.window_end), r.device.as_str(), r.category.as_str()), &r.agg)).collect();
    let keys: BTreeSet<&Row> = truth.keys().chain(results.keys()).collect();
    let explaining = Explaining { job, faults, window_ms, crossed };
    let mut exceptions = Vec::new();
    for key in &keys {
        let (t, r) = (truth.get(*key).copied(), results.get(*key).copied());
        if t.is_some() && r.is_some() && same(t.unwrap(), r.unwrap()) {
            continue;
        }
        let found = explaining.why(key, t, r);
        let Explanation { causes, why, lost, doubled, overtaken } = found;
        exceptions.push(Exception {
            window_end: key.0,
            device: key.1.to_string(),
            category: key.2.to_string(),
            truth: t.cloned(),
            result: r.cloned(),
            causes,
            why,
            lost,
            doubled,
            overtaken,
            events: Vec::new(),
        });
    }
    (keys.len(), exceptions)
}

/// What explains a row of one group that differs: the candidates of its group's log, tried in turn.
struct Explaining<'a> {
    job: &'a JobRecord,
    faults: FaultIndex<'a>,
    window_ms: i64,
    /// How many windows later the engine may count a message on the wall clock.
    crossed: i64,
}

impl Explaining<'_> {
    /// The faults and crossings first; tried last, where they do not explain the row: messages held
    /// for longer than a window, overtaken by a watermark, or lost or doubled in a crash.
    fn why(&self, key: &Row, t: Option<&Aggregate>, r: Option<&Aggregate>) -> Explanation {
        let (faults, window_ms, view) = (&self.faults, self.window_ms, self.job.mode.view());
        let mut found = explain(t, r, &faults.candidates(key, window_ms, 1));
        if !found.explains() && view == View::SendTime {
            // Rarer, and costlier to search: messages held for longer than a window (as after a crash:
            // on the wall clock, messages an engine reads late are counted late, not twice).
            found = explain(t, r, &faults.candidates(key, window_ms, self.crossed));
        }
        if !found.explains() && view == View::DeviceTime && !matches!(self.job.watermark, WatermarkScope::PerPartition | WatermarkScope::PerKey) {
            // Any of them, each a choice of its own (the fewest that explain the row are found, but the search
            // grows as 2^n), and a run of them (looked up by its sums: cheap however long the window, but a
            // run may need a resend counted to make up for one it should have left out): any first in a
            // short window, the run first in a long one. The faults are listed first: of two explanations
            // as short, the one of the faults (the likelier) is taken.
            let on_time = faults.overtaken(key);
            let run = vec![Choice::Slice(on_time.clone())];
            let any: Vec<Choice> = on_time.into_iter().map(Choice::One).collect();
            let passes = if any.len() <= ANY_OVERTAKEN_FIRST_UP_TO { [any, run] } else { [run, any] };
            found = self.first_that_explains(key, t, r, passes);
        }
        if let (false, Some(crash)) = (found.explains(), self.job.crash.as_ref()) {
            // Lost, or doubled: one of the two, each with the boundary crossings of the wall clock.
            let crashed = faults.crash_candidates(key, crash, window_ms).map(|c| vec![c]);
            found = self.first_that_explains(key, t, r, crashed);
        }
        found
    }

    /// What the first of the two `extra` that explains the row, with its faults and crossings, finds;
    /// else what the second found (not explained, or not within the search budget).
    fn first_that_explains(&self, key: &Row, t: Option<&Aggregate>, r: Option<&Aggregate>, extra: [Vec<Choice>; 2]) -> Explanation {
        let mut tries = extra.into_iter().map(|more| {
            let mut choices = self.faults.candidates(key, self.window_ms, 1);
            choices.extend(more);
            explain(t, r, &choices)
        });
        let first = tries.next().expect("two tries");
        if first.explains() {
            return first;
        }
        tries.next().expect("two tries")
    }
}

/// (window end, device, category) of a row compared, borrowed from the rows: a run's comparison
/// holds its keys once, in the rows themselves.
type Row<'a> = (i64, &'a str, &'a str);

fn same(a: &Aggregate, b: &Aggregate) -> bool {
    a.count == b.count && a.m1_sum == b.m1_sum && m2_close(a.m2_sum, b.m2_sum, a.m2_sum)
}

fn m2_close(x: f64, y: f64, scale: f64) -> bool {
    (x - y).abs() <= 1e-6 * scale.abs().max(1.0)
}

/// Where an engine's windows end past the multiples of `window_ms`, read off the ends of its
/// windows, on the circle of the window's length: where most of them end, and of those the
/// earliest, since a timer fires on time or late, never early. 0 for an engine whose windows
/// are on the clock's multiples.
fn window_phase(ends: &[i64], window_ms: i64) -> i64 {
    // The earliest end: the same wherever in the run the rows are read from.
    let Some(first) = ends.iter().min() else { return 0 };
    let reference = first.rem_euclid(window_ms);
    let mut offsets: Vec<i64> = ends.iter().map(|e| (e - reference + window_ms / 2).rem_euclid(window_ms) - window_ms / 2).collect();
    offsets.sort_unstable();
    let most = offsets[offsets.len() / 2];
    let earliest = offsets.iter().copied().find(|&o| o >= most - TIMER_SLACK_MS).unwrap_or(most);
    (reference + earliest).rem_euclid(window_ms)
}

/// How late a window's timer may fire and still be that window's.
const TIMER_SLACK_MS: i64 = 100;

/// How many windows later a processing-time engine may count a message: Spark
/// holds one for up to a micro-batch, which on a busy machine lasts longer than a
/// window. At least four windows; more where the engine lagged by more:
/// where it emitted its windows later than that, or read the stream's end later than
/// that (the window of its end-of-stream row, against the last send) — an engine whose
/// timer emits on time may still read, and so count, its messages late.
fn windows_crossed(job: &JobRecord, emitted_late: i64, last_sent: Option<i64>, window_ms: i64) -> i64 {
    // On the wall clock only: ingestion-time flush records are stamped ahead of the last send on purpose (§6).
    let read_late = match (job.mode, job.end_of_stream_window, last_sent) {
        (Mode::ProcessingTime, Some(end), Some(last)) => end - last,
        _ => 0,
    };
    (emitted_late.max(read_late).max(0) / window_ms + 2).max(4)
}

/// An engine that was down reads what was sent meanwhile late: on the wall clock, as many windows late as it was down.
fn windows_down(crash: Option<&CrashRecord>, window_ms: i64) -> i64 {
    crash.map_or(0, |c| (c.reading_again_at() - c.killed_at) / window_ms + 2)
}

/// Up to how many on-time messages in a window the search for overtaken ones tries any of them
/// before a run of them: 2^20 subsets fit the search budget.
const ANY_OVERTAKEN_FIRST_UP_TO: usize = 20;

/// How many windows late a processing-time engine that lagged may count a message, in the search of sums.
const MAX_CROSSED_BY_SUMS: i64 = 16;

/// How many windows late a processing-time engine that was down may count what was sent meanwhile, in the search of sums.
const MAX_CROSSED_AFTER_CRASH: i64 = 32;

/// The original's terminal output for one comparison, with a `why` column: every exception, or
/// the first `at_most` and how many more there are.
pub fn render(c: &Comparison, at_most: Option<usize>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "== {} {} (against the {} truth) ==", c.engine, c.mode, c.view.as_str());
    if c.window_phase_ms != 0 {
        let _ = writeln!(out, "(the engine's windows end {} ms past the multiples of the window: the truth is taken in its windows)", c.window_phase_ms);
    }
    let _ = writeln!(out, "Comparing ingest device and downstream for m1_sum");
    let _ = writeln!(out, "{} exceptions out of {}", c.exceptions.len(), c.rows);
    if !c.exceptions.is_empty() {
        let _ = writeln!(out, "Exceptions are:");
        let ingest = format!("m1_sum_ingest_{}", c.view.as_str());
        let _ =
            writeln!(out, " {:<19}  {:<36}  {:<8}  {:>24}  {:>17}  {:>6}  why", "window_time", "device_id", "category", ingest, "m1_sum_downstream", "delta");
        let num = |a: &Option<Aggregate>| a.as_ref().map_or("NaN".to_string(), |a| a.m1_sum.to_string());
        let shown = at_most.unwrap_or(usize::MAX);
        for e in c.exceptions.iter().take(shown) {
            let delta = match (&e.truth, &e.result) {
                (Some(t), Some(r)) => (t.m1_sum - r.m1_sum).to_string(),
                _ => "NaN".into(),
            };
            let _ = writeln!(
                out,
                " {:<19}  {:<36}  {:<8}  {:>24}  {:>17}  {:>6}  {}",
                utc(e.window_end),
                e.device,
                e.category,
                num(&e.truth),
                num(&e.result),
                delta,
                e.why
            );
            render_events(&mut out, e);
        }
        if c.exceptions.len() > shown {
            let _ = writeln!(out, " … and {} more (all of them in the run's compare.txt)", c.exceptions.len() - shown);
        }
    }
    if let Some(Dropped { reported, found, late_resends }) = c.dropped.filter(|d| !d.agree()) {
        let resends = if late_resends > 0 {
            format!(", and {late_resends} resends came after their window's watermark could have passed (counted by an engine that checks lateness before its dedup)")
        } else {
            String::new()
        };
        let _ = writeln!(out, "the engine says it dropped {reported} events as late; {found} ids are missing as late, out of order or overtaken{resends}");
    }
    let _ = writeln!(out, "verdict: {}", c.verdict());
    out
}

/// How many events of an exception its lines show; the run's `exceptions.jsonl` has them all.
const EVENTS_SHOWN: usize = 3;

/// The first events of exception `e`, a line each: the id, its device and send times, what the
/// simulator did to it, and why it is missing or extra.
fn render_events(out: &mut String, e: &Exception) {
    for n in e.events.iter().take(EVENTS_SHOWN) {
        let side = match n.side {
            Side::Missing => "missing",
            Side::Extra => "extra",
        };
        let (dt, sent) = (n.dt.map_or("-".into(), millis), n.sent_at.map_or("-".into(), millis));
        let fault = n.fault.map_or("-", Fault::as_str);
        let _ = writeln!(out, "     {side:<7}  {}  dt {dt}  sent {sent}  {fault:<12}  {}: {}", n.id, n.cause.as_str(), n.detail);
    }
    if e.events.len() > EVENTS_SHOWN {
        let _ = writeln!(out, "     … and {} more events (all of them in the run's exceptions.jsonl)", e.events.len() - EVENTS_SHOWN);
    }
}

/// A time to the millisecond, UTC.
fn millis(t_ms: i64) -> String {
    format!("{}.{:03}", utc(t_ms), t_ms.rem_euclid(1000))
}

/// Every event of `c`'s exceptions, a JSON line each with the window it belongs to (the run's `exceptions.jsonl`).
pub fn event_lines(c: &Comparison, out: &mut String) {
    #[derive(Serialize)]
    struct Line<'a> {
        engine: &'a str,
        mode: Mode,
        window_end: i64,
        device: &'a str,
        category: &'a str,
        #[serde(flatten)]
        event: &'a EventNote,
    }
    for e in &c.exceptions {
        for event in &e.events {
            let line = Line { engine: &c.engine, mode: c.mode, window_end: e.window_end, device: &e.device, category: &e.category, event };
            out.push_str(&serde_json::to_string(&line).expect("an event note is JSON"));
            out.push('\n');
        }
    }
}
