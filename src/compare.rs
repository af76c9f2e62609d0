//! The comparison (docs/SPEC.md §7): a full outer join of the truth and one
//! engine's results, and for every difference the reason it happened, found by
//! matching the difference against the faults the simulator injected into that
//! window.

use crate::model::{
    nearest_window_end, utc, window_end_at_phase, Aggregate, CrashRecord, DeviceGroups, Fault, JobRecord, Mode, ResultRow, SentEvent, View, WatermarkScope,
    FLUSH_DEVICE,
};
use crate::scenario::Clock;
use crate::truth;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

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
    /// No set of faults accounts for the difference.
    Unexplained,
    /// The search for an explanation gave up on its budget: it may have one, or not.
    SearchBudget,
}

impl Cause {
    pub const ALL: [Cause; 10] = [
        Cause::Duplicate,
        Cause::Late,
        Cause::OutOfOrder,
        Cause::Overtaken,
        Cause::Boundary,
        Cause::EndInclusive,
        Cause::LostInCrash,
        Cause::CountedTwice,
        Cause::Unexplained,
        Cause::SearchBudget,
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
            Cause::Unexplained => "unexplained",
            Cause::SearchBudget => "search-budget",
        }
    }

    /// An explanation: a fault or a boundary crossing, not a failure to find one.
    pub fn explains(self) -> bool {
        !matches!(self, Cause::Unexplained | Cause::SearchBudget)
    }
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

    /// Exceptions without an explanation: unexplained, or not searched to the end.
    pub fn not_explained(&self) -> usize {
        self.exceptions.iter().filter(|e| !e.causes.iter().all(|c| c.explains())).count()
    }

    /// One line that says how this engine and mode did.
    pub fn verdict(&self) -> String {
        let head = format!("{} {}: {}/{} windows exact", self.engine, self.mode, self.exact(), self.rows);
        if self.exceptions.is_empty() {
            return head;
        }
        let causes: Vec<String> =
            Cause::ALL.iter().filter(|&&c| c.explains() && self.count(c) > 0).map(|&c| format!("{} {}", self.count(c), c.as_str())).collect();
        let total = self.exceptions.len();
        match (self.unexplained(), self.count(Cause::SearchBudget)) {
            (0, 0) => format!("{head}; {total} exceptions, all explained ({})", causes.join(", ")),
            (n, 0) => format!("{head}; {n} of {total} exceptions UNEXPLAINED ({})", causes.join(", ")),
            (n, b) => format!("{head}; {n} of {total} exceptions UNEXPLAINED, {b} not explained within the search budget ({})", causes.join(", ")),
        }
    }
}

/// Compares one job's results with the truth its mode is held to, explaining every exception from
/// the sent-event log, a group of devices at a time (`groups` holds the job's rows only). Tried last, where the scenario's faults (the likelier reason) do not explain
/// a row: after a crash of the job, messages sent before the engine was reading again lost in the
/// crash, or counted twice after it; for an engine whose watermark is taken over all partitions,
/// or that lets it go on without an idle partition, on-time messages overtaken by it.
///
/// `overtaken` is held to the engine's own count of what it dropped as late (`late_dropped`):
/// where the events so explained add up to more, none of them stands, and the job is compared
/// again as if its watermark waited for every partition, so that the other causes have their turn.
pub fn compare(job: &JobRecord, groups: &dyn DeviceGroups, window_ms: i64, clock: Clock, late_dropped: u64) -> Comparison {
    let reading = Reading::of(job, groups, window_ms);
    let c = compare_groups(job, groups, &reading, window_ms, clock);
    if c.exceptions.iter().map(|e| e.overtaken).sum::<u64>() <= late_dropped {
        return c;
    }
    compare_groups(&JobRecord { watermark: WatermarkScope::PerPartition, ..job.clone() }, groups, &reading, window_ms, clock)
}

/// What a job's comparison reads off all its rows before it compares them a group at a time.
struct Reading {
    /// Where its windows end past the multiples of the window (`window_phase`).
    phase_ms: i64,
    /// How many windows later it may count a message on the wall clock (`windows_crossed`).
    crossed: i64,
}

impl Reading {
    fn of(job: &JobRecord, groups: &dyn DeviceGroups, window_ms: i64) -> Reading {
        let (mut ends, mut emitted_late, mut last_sent) = (Vec::new(), 0, None);
        for g in 0..groups.count() {
            let group = groups.group(g);
            for r in group.results.iter().filter(|r| r.device != FLUSH_DEVICE) {
                ends.push(r.window_end);
                emitted_late = emitted_late.max(r.first_emitted_at - r.window_end);
            }
            last_sent = last_sent.max(group.events.iter().map(|e| e.sent_at).max());
        }
        Reading { phase_ms: window_phase(&ends, window_ms), crossed: windows_crossed(job, emitted_late, last_sent, window_ms) }
    }
}

/// The comparison of every group of `groups`, its exceptions in the original's order: by category, then window.
fn compare_groups(job: &JobRecord, groups: &dyn DeviceGroups, reading: &Reading, window_ms: i64, clock: Clock) -> Comparison {
    let mut c =
        Comparison { engine: job.engine.clone(), mode: job.mode, view: job.mode.view(), window_phase_ms: reading.phase_ms, rows: 0, exceptions: Vec::new() };
    for g in 0..groups.count() {
        let group = groups.group(g);
        let (rows, exceptions) = compare_group(job, reading, &group.results, &group.events, window_ms, clock);
        c.rows += rows;
        c.exceptions.extend(exceptions);
    }
    c.exceptions.sort_by(|a, b| (&a.category, a.window_end, &a.device).cmp(&(&b.category, b.window_end, &b.device)));
    c
}

/// The rows compared of one group of devices, and their exceptions.
fn compare_group(job: &JobRecord, reading: &Reading, results: &[ResultRow], log: &[SentEvent], window_ms: i64, clock: Clock) -> (usize, Vec<Exception>) {
    let (mode, crash, phase) = (job.mode, job.crash.as_ref(), reading.phase_ms);
    let view = mode.view();
    // An engine that was down reads what was sent meanwhile late, on the wall clock as many windows late as it was down.
    let down = crash.map_or(0, |c| (c.reading_again_at() - c.killed_at) / window_ms + 2);
    let crossed = reading.crossed.max(down.min(MAX_CROSSED_AFTER_CRASH));
    let truth = truth::compute_view(log, view, window_ms, phase);
    let faults = FaultIndex::new(log, results, view, window_ms, phase, clock);
    let end = |e: i64| nearest_window_end(e, window_ms, phase);
    let truth: BTreeMap<Row, &Aggregate> = truth.iter().map(|t| ((t.window_end, t.device.as_str(), t.category.as_str()), &t.agg)).collect();
    let results: BTreeMap<Row, &Aggregate> =
        results.iter().filter(|r| r.device != FLUSH_DEVICE).map(|r| ((end(r.window_end), r.device.as_str(), r.category.as_str()), &r.agg)).collect();
    let keys: BTreeSet<&Row> = truth.keys().chain(results.keys()).collect();
    let mut exceptions = Vec::new();
    for key in &keys {
        let (t, r) = (truth.get(*key).copied(), results.get(*key).copied());
        if t.is_some() && r.is_some() && same(t.unwrap(), r.unwrap()) {
            continue;
        }
        let mut found = explain(t, r, &faults.candidates(key, window_ms, 1));
        if !found.explains() && view == View::SendTime {
            // Rarer, and costlier to search: messages held for longer than a window (as after a crash:
            // on the wall clock, messages an engine reads late are counted late, not twice).
            found = explain(t, r, &faults.candidates(key, window_ms, crossed));
        }
        if !found.explains() && view == View::DeviceTime && job.watermark != WatermarkScope::PerPartition {
            // Any of them, each a choice of its own (the fewest that explain the row are found, but the search
            // grows as 2^n), and a run of them (looked up by its sums: cheap however long the window, but a
            // run may need a resend counted to make up for one it should have left out): any first in a
            // short window, the run first in a long one. The faults are listed first: of two explanations
            // as short, the one of the faults (the likelier) is taken.
            let on_time = faults.overtaken(key);
            let run = vec![Choice::Slice(on_time.clone())];
            let any: Vec<Choice> = on_time.into_iter().map(Choice::One).collect();
            let passes = if any.len() <= ANY_OVERTAKEN_FIRST_UP_TO { [any, run] } else { [run, any] };
            for overtaken in passes {
                let mut choices = faults.candidates(key, window_ms, 1);
                choices.extend(overtaken);
                found = explain(t, r, &choices);
                if found.explains() {
                    break;
                }
            }
        }
        if let (false, Some(crash)) = (found.explains(), crash) {
            // Lost, or doubled: one of the two, each with the boundary crossings of the wall clock.
            for crashed in faults.crash_candidates(key, crash, window_ms) {
                let mut choices = vec![crashed];
                choices.extend(faults.candidates(key, window_ms, 1));
                found = explain(t, r, &choices);
                if found.explains() {
                    break;
                }
            }
        }
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
        });
    }
    (keys.len(), exceptions)
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

/// One way an engine's window can legitimately differ from the truth.
#[derive(Debug, Clone)]
struct Candidate {
    cause: Cause,
    sign: i64,
    m1: i64,
    m2: f64,
    /// Late/out-of-order: how far behind its device time it was sent (`FaultIndex::behind`);
    /// boundary: how long before the end of its window (leaving) or the start of the window that
    /// counted it (arriving), or, below 0, how long after the end of the window that counted it.
    ms: i64,
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
/// window. At least four windows; more, up to sixteen, where the engine lagged by more:
/// where it emitted its windows later than that, or read the stream's end later than
/// that (the window of its end-of-stream row, against the last send) — an engine whose
/// timer emits on time may still read, and so count, its messages late.
fn windows_crossed(job: &JobRecord, emitted_late: i64, last_sent: Option<i64>, window_ms: i64) -> i64 {
    // On the wall clock only: ingestion-time flush records are stamped ahead of the last send on purpose (§6).
    let read_late = match (job.mode, job.end_of_stream_window, last_sent) {
        (Mode::ProcessingTime, Some(end), Some(last)) => end - last,
        _ => 0,
    };
    (emitted_late.max(read_late).max(0) / window_ms + 2).clamp(4, 16)
}

/// A choice the search makes: take one candidate or not, or take the first k of a run.
enum Choice {
    One(Candidate),
    /// Boundary crossings: only the last k messages before a window's end can cross (the first k
    /// after it, into a window closed late).
    Run(Vec<Candidate>),
    /// Take k consecutive ones: the messages of earlier windows that reached a window
    /// when some crossed several (the very last of them may have gone further still).
    Slice(Vec<Candidate>),
}

/// The sent-event log, grouped by the row each event falls into in one view.
struct FaultIndex<'a> {
    view: View,
    by_row: HashMap<(i64, &'a str, &'a str), Vec<&'a SentEvent>>,
    /// The end the engine itself gave each row it emitted, by the row's end at the phase: a timer
    /// that fires late (Storm's, by a few ms) closes its window after the phase's end.
    closed_at: HashMap<(i64, &'a str, &'a str), i64>,
    /// Late and out-of-order messages by id: how far behind their device time they were sent.
    behind: HashMap<&'a str, i64>,
}

impl<'a> FaultIndex<'a> {
    fn new(log: &'a [SentEvent], results: &'a [ResultRow], view: View, window_ms: i64, phase_ms: i64, clock: Clock) -> Self {
        let mut by_row: HashMap<_, Vec<_>> = HashMap::new();
        for e in log {
            let end = window_end_at_phase(view.time_of(e), window_ms, phase_ms);
            by_row.entry((end, &*e.device, &*e.category)).or_default().push(e);
        }
        let closed_at = results
            .iter()
            .filter(|r| r.device != FLUSH_DEVICE)
            .map(|r| ((nearest_window_end(r.window_end, window_ms, phase_ms), r.device.as_str(), r.category.as_str()), r.window_end))
            .collect();
        let mut latest: HashMap<&str, i64> = HashMap::new();
        let mut behind = HashMap::new();
        for e in log {
            let device_time = latest.entry(&*e.device).or_insert(e.dt);
            if matches!(e.fault, Fault::Late | Fault::OutOfOrder) {
                // A virtual clock's device times are not the wall's, whose difference read as years
                // late: there, at least how far its device's clock had gone on (its latest message
                // sent before; a message held back less than a pause reads 0).
                let late_by = match clock {
                    Clock::Live => e.sent_at - e.dt,
                    Clock::Virtual => (*device_time - e.dt).max(0),
                };
                behind.insert(e.id.as_str(), late_by);
            }
            *device_time = (*device_time).max(e.dt);
        }
        FaultIndex { view, by_row, closed_at, behind }
    }

    /// When the engine closed row `key`'s window ending at `end` (at the phase): where it emitted
    /// the row, the end it gave it, if later, by no more than a timer fires late and is still that
    /// window's (`TIMER_SLACK_MS`); else `end`.
    fn closed<'s>(&'s self, end: i64, key: &Row<'s>) -> i64 {
        self.closed_at.get(&(end, key.1, key.2)).map_or(end, |&c| c.clamp(end, end + TIMER_SLACK_MS))
    }

    /// The messages of `key`'s device and category in the window ending at `end`.
    fn row<'s>(&'s self, end: i64, key: &Row<'s>) -> &'s [&'s SentEvent] {
        self.by_row.get(&(end, key.1, key.2)).map(Vec::as_slice).unwrap_or_default()
    }

    /// What may explain row `key`; in send time, messages that crossed up to `crossed` window ends.
    fn candidates(&self, key: &Row, window_ms: i64, crossed: i64) -> Vec<Choice> {
        let row = |end: i64| self.row(end, key);
        let one = |cause, sign, e: &SentEvent, ms| Candidate { cause, sign, m1: e.m1, m2: e.m2, ms };
        let mut choices = Vec::new();
        if self.view == View::SendTime {
            // A processing-time engine sees a message a little after it was sent:
            // the last ones sent before a window's end may land in a later window
            // (several later, when a micro-batch lasts longer than a window).
            // Tried first: a message that crossed looks exactly like its own resend.
            // Messages of the windows ending at `ends` (the latest window first), the
            // last sent first: in log order reversed, since in a burst many share a millisecond.
            let crossing = |ends: &mut dyn Iterator<Item = i64>, sign: i64, from: i64| {
                ends.flat_map(|end| row(end).iter().rev()).filter(|e| e.counts()).map(|e| one(Cause::Boundary, sign, e, from - e.sent_at)).collect::<Vec<_>>()
            };
            choices.push(Choice::Run(crossing(&mut std::iter::once(key.0), -1, key.0)));
            // A timer that fires late closes its window after the phase's end: the first messages sent
            // after that end, up to the end the engine gave the window, it counts in that window, not the
            // next. `ms` < 0: sent that long after the end. Only as far as the engine's own end: a message
            // sent after it cannot have reached the window.
            let early = |end: i64, sign: i64| {
                let closed = self.closed(end, key);
                let first = row(end + window_ms).iter().filter(|e| e.counts() && e.sent_at > end && e.sent_at <= closed);
                first.map(|e| one(Cause::Boundary, sign, e, end - e.sent_at)).collect::<Vec<_>>()
            };
            // Into this window from the next; out of this one into the previous. Only where there are
            // any: each run multiplies what the search goes through.
            let early_runs = [early(key.0, 1), early(key.0 - window_ms, -1)];
            choices.extend(early_runs.into_iter().filter(|run| !run.is_empty()).map(Choice::Run));
            let arrived = crossing(&mut (1..=crossed).map(|k| key.0 - k * window_ms), 1, key.0 - window_ms);
            choices.push(if crossed == 1 { Choice::Run(arrived) } else { Choice::Slice(arrived) });
        }
        for &e in row(key.0) {
            let behind = self.behind.get(e.id.as_str()).copied().unwrap_or_default();
            match (e.counts(), e.fault) {
                (false, _) => choices.push(Choice::One(one(Cause::Duplicate, 1, e, 0))),
                (true, Fault::Late) if self.view == View::DeviceTime => choices.push(Choice::One(one(Cause::Late, -1, e, behind))),
                (true, Fault::OutOfOrder) if self.view == View::DeviceTime => choices.push(Choice::One(one(Cause::OutOfOrder, -1, e, behind))),
                _ => {}
            }
        }
        // Windows that hold their end (tried after the faults: a fault that fits is the likelier reason): a message at exactly a window's end, counted in it rather than in the next.
        let at = |end: i64, sign| row(end).iter().filter(move |e| e.counts() && self.view.time_of(e) == end - window_ms).map(move |&e| (sign, e));
        for (sign, e) in at(key.0 + window_ms, 1).chain(at(key.0, -1)) {
            choices.push(Choice::One(one(Cause::EndInclusive, sign, e, 0)));
        }
        choices
    }

    /// Row `key`'s on-time messages, in the order sent, each of which may have been dropped as late, read while the
    /// partition it came from was behind the others: not only a run of them, since the watermark
    /// rises between the reads of a partition that falls behind by about the out-of-orderness
    /// bound (on a busy machine), passing some of its messages and not the next ones.
    fn overtaken(&self, key: &Row) -> Vec<Candidate> {
        let on_time = self.row(key.0, key).iter().filter(|e| e.counts() && !matches!(e.fault, Fault::Late | Fault::OutOfOrder));
        on_time.map(|e| Candidate { cause: Cause::Overtaken, sign: -1, m1: e.m1, m2: e.m2, ms: 0 }).collect()
    }

    /// What a crash may have done to row `key`, as two alternatives: a run of its messages sent
    /// before the engine was reading again, in the order sent, lost (the engine's state or input
    /// went with the process); or a run of messages sent before the kill counted a second time
    /// (read again on top of state that had counted them): its own, or, on the wall clock, those of
    /// the device's earlier windows, read again after the restart and counted in this one.
    fn crash_candidates(&self, key: &Row, crash: &CrashRecord, window_ms: i64) -> [Choice; 2] {
        let row = |end: i64| self.row(end, key);
        let sent_before = |at: i64, ends: &mut dyn Iterator<Item = i64>| {
            let mut events: Vec<&SentEvent> = ends.flat_map(|end| row(end).iter()).filter(|e| e.counts() && e.sent_at < at).copied().collect();
            events.sort_by_key(|e| e.sent_at);
            events
        };
        let run = |cause, sign, events: Vec<&SentEvent>| {
            Choice::Slice(events.into_iter().map(|e| Candidate { cause, sign, m1: e.m1, m2: e.m2, ms: crash.killed_at - e.sent_at }).collect())
        };
        // Up to when it was reading again: what an engine reads from its backlog after a restart it may drop too.
        let lost = sent_before(crash.reading_again_at(), &mut std::iter::once(key.0));
        let read_again = if self.view == View::SendTime { CRASH_WINDOWS_BACK } else { 0 };
        let doubled = sent_before(crash.killed_at, &mut (0..=read_again).map(|k| key.0 - k * window_ms));
        [run(Cause::LostInCrash, -1, lost), run(Cause::CountedTwice, 1, doubled)]
    }
}

/// Up to how many on-time messages in a window the search for overtaken ones tries any of them
/// before a run of them: 2^20 subsets fit the search budget.
const ANY_OVERTAKEN_FIRST_UP_TO: usize = 20;

/// How many windows back a restarted processing-time engine may read messages again.
const CRASH_WINDOWS_BACK: i64 = 24;
/// How many windows late a processing-time engine that was down may count what was sent meanwhile.
const MAX_CROSSED_AFTER_CRASH: i64 = 32;

/// The fewest candidates whose sum is exactly the difference; "unexplained"
/// when none fits, "not explained (search budget)" when the search gave up first. The last range of crossings (the arrivals) is indexed by
/// its sums, so that a whole window's worth of messages moving on is found as
/// fast as one; the single candidates are tried fewest first, within a budget.
fn explain(truth: Option<&Aggregate>, result: Option<&Aggregate>, choices: &[Choice]) -> Explanation {
    let zero = Aggregate::default();
    let (t, r) = (truth.unwrap_or(&zero), result.unwrap_or(&zero));
    let target = Sum { count: r.count - t.count, m1: r.m1_sum - t.m1_sum, m2: r.m2_sum - t.m2_sum };
    let scale = t.m2_sum.abs() + r.m2_sum.abs();
    let mut ones: Vec<&Candidate> = Vec::new();
    let mut ranges: Vec<Vec<&[Candidate]>> = Vec::new();
    for choice in choices {
        match choice {
            Choice::One(c) => ones.push(c),
            Choice::Run(v) => ranges.push((0..=v.len()).map(|k| &v[..k]).collect()),
            Choice::Slice(v) => ranges.push(std::iter::once(&v[..0]).chain((0..v.len()).flat_map(|s| (s + 1..=v.len()).map(move |e| &v[s..e]))).collect()),
        }
    }
    // Takes of the arrivals by the (count, m1) they add, each with the m2 it adds.
    let mut looked_up: HashMap<(i64, i64), Vec<Take>> = HashMap::new();
    for take in ranges.pop().unwrap_or_else(|| vec![&[]]) {
        let sum = Sum::of(take.iter());
        looked_up.entry((sum.count, sum.m1)).or_default().push((take, sum.m2));
    }
    // The other ranges (the messages that left), every take of each, combined.
    let mut enumerated: Vec<Vec<&Candidate>> = vec![Vec::new()];
    for takes in &ranges {
        enumerated = enumerated.iter().flat_map(|before| takes.iter().map(move |take| before.iter().copied().chain(take.iter()).collect())).collect();
    }

    let mut best: Option<Vec<&Candidate>> = None;
    let mut budget = 2_000_000u64;
    for size in 0..=ones.len() {
        if best.as_ref().is_some_and(|b| b.len() <= size) || budget == 0 {
            break;
        }
        for subset in Combinations::new(ones.len(), size) {
            for others in &enumerated {
                budget = budget.saturating_sub(1);
                let chosen = || subset.iter().map(|&i| ones[i]).chain(others.iter().copied());
                let need = target.minus(Sum::of(chosen()));
                let fits = looked_up.get(&(need.count, need.m1)).into_iter().flatten().filter(|(_, m2)| m2_close(*m2, need.m2, scale));
                if let Some((take, _)) = fits.min_by_key(|(take, _)| take.len()) {
                    let total = size + others.len() + take.len();
                    if total > 0 && best.as_ref().is_none_or(|b| total < b.len()) {
                        best = Some(chosen().chain(take.iter()).collect());
                    }
                }
            }
            if budget == 0 {
                break;
            }
        }
    }
    match best {
        Some(chosen) => describe(&chosen),
        None if budget == 0 => Explanation::none(Cause::SearchBudget, "not explained (search budget)"),
        None => Explanation::none(Cause::Unexplained, "unexplained"),
    }
}

type Take<'a> = (&'a [Candidate], f64);

/// What a set of candidates adds to a window.
#[derive(Debug, Clone, Copy)]
struct Sum {
    count: i64,
    m1: i64,
    m2: f64,
}

impl Sum {
    fn of<'a>(candidates: impl Iterator<Item = &'a Candidate>) -> Sum {
        candidates.fold(Sum { count: 0, m1: 0, m2: 0.0 }, |s, c| Sum { count: s.count + c.sign, m1: s.m1 + c.sign * c.m1, m2: s.m2 + c.sign as f64 * c.m2 })
    }

    fn minus(self, o: Sum) -> Sum {
        Sum { count: self.count - o.count, m1: self.m1 - o.m1, m2: self.m2 - o.m2 }
    }
}

/// The `k`-element subsets of `0..n`, as sorted index lists, in lexicographic order.
struct Combinations {
    n: usize,
    next: Option<Vec<usize>>,
}

impl Combinations {
    fn new(n: usize, k: usize) -> Self {
        Combinations { n, next: (k <= n).then(|| (0..k).collect()) }
    }
}

impl Iterator for Combinations {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let current = self.next.take()?;
        let k = current.len();
        // The rightmost index that can still move right; everything after it restarts just behind it.
        if let Some(i) = (0..k).rev().find(|&i| current[i] < self.n - k + i) {
            let mut following = current.clone();
            following[i] += 1;
            for j in i + 1..k {
                following[j] = following[j - 1] + 1;
            }
            self.next = Some(following);
        }
        Some(current)
    }
}

/// Why a row differs: its causes, in words, and how many of its events a crash lost or doubled.
struct Explanation {
    causes: Vec<Cause>,
    why: String,
    lost: u64,
    doubled: u64,
    overtaken: u64,
}

impl Explanation {
    fn none(cause: Cause, why: &str) -> Explanation {
        Explanation { causes: vec![cause], why: why.into(), lost: 0, doubled: 0, overtaken: 0 }
    }

    fn explains(&self) -> bool {
        self.causes[0].explains()
    }
}

fn describe(chosen: &[&Candidate]) -> Explanation {
    let mut parts = Vec::new();
    let mut causes = Vec::new();
    // A crossing into the window before, its timer late, says so apart from one into a later window.
    let early = |c: &Candidate| c.cause == Cause::Boundary && c.ms < 0;
    for cause in Cause::ALL {
        for (sign, before) in [(1, false), (-1, false), (1, true), (-1, true)] {
            let group: Vec<&&Candidate> = chosen.iter().filter(|c| c.cause == cause && c.sign == sign && early(c) == before).collect();
            if group.is_empty() {
                continue;
            }
            if !causes.contains(&cause) {
                causes.push(cause);
            }
            let n = group.len();
            let s = if n == 1 { "" } else { "s" };
            let m1 = m1_list(&group);
            let max_ms = group.iter().map(|c| c.ms).max().unwrap_or(0);
            let after_ms = -group.iter().map(|c| c.ms).min().unwrap_or(0);
            parts.push(match (cause, sign) {
                (Cause::Boundary, 1) if before => format!("{n} event{s} sent up to {after_ms} ms after this window's end counted here, timer late (m1={m1})"),
                (Cause::Boundary, _) if before => format!("{n} event{s} sent in the first {after_ms} ms counted in the window before, timer late (m1={m1})"),
                (Cause::Duplicate, _) => format!("{n} duplicate{s} counted (m1={m1})"),
                (Cause::Late, _) => format!("{n} late event{s} dropped (m1={m1}, {} s late)", (max_ms as f64 / 1000.0).round()),
                (Cause::OutOfOrder, _) => format!("{n} out-of-order event{s} dropped (m1={m1}, sent {:.1} s after its time)", max_ms as f64 / 1000.0),
                (Cause::Overtaken, _) => format!("{n} on-time event{s} dropped as late, the watermark gone on without their partition (m1={m1})"),
                (Cause::Boundary, -1) => format!("{n} event{s} sent in the last {max_ms} ms counted in a later window (m1={m1})"),
                (Cause::Boundary, _) => format!("{n} event{s} sent in the {max_ms} ms before this window counted here (m1={m1})"),
                (Cause::EndInclusive, 1) => format!("{n} event{s} at this window's very end counted in it (m1={m1})"),
                (Cause::EndInclusive, _) => format!("{n} event{s} at the previous window's very end counted there (m1={m1})"),
                (Cause::LostInCrash, _) => format!("{n} event{s} sent {} lost in the crash (m1={m1})", around_the_kill(&group)),
                (Cause::CountedTwice, _) => format!("{n} event{s} sent {} counted twice after the restart (m1={m1})", around_the_kill(&group)),
                (Cause::Unexplained | Cause::SearchBudget, _) => unreachable!("every candidate is a fault or a crossing"),
            });
        }
    }
    let of = |cause| chosen.iter().filter(|c| c.cause == cause).count() as u64;
    Explanation { causes, why: parts.join("; "), lost: of(Cause::LostInCrash), doubled: of(Cause::CountedTwice), overtaken: of(Cause::Overtaken) }
}

/// When a crash's events were sent, from their `ms` before the kill: "up to 2.5 s before the kill", "… after", or both.
fn around_the_kill(group: &[&&Candidate]) -> String {
    let before = group.iter().map(|c| c.ms).max().unwrap_or(0) as f64 / 1000.0;
    let after = -(group.iter().map(|c| c.ms).min().unwrap_or(0) as f64) / 1000.0;
    match (before > 0.0, after > 0.0) {
        (true, true) => format!("from {before:.1} s before the kill to {after:.1} s after it"),
        (false, true) => format!("up to {after:.1} s after the kill"),
        _ => format!("up to {before:.1} s before the kill"),
    }
}

fn m1_list(group: &[&&Candidate]) -> String {
    let mut s = String::new();
    for (i, c) in group.iter().enumerate() {
        if i == 6 {
            s.push_str("+…");
            break;
        }
        let _ = write!(s, "{}{}", if i > 0 { "+" } else { "" }, c.m1);
    }
    s
}

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
        }
        if c.exceptions.len() > shown {
            let _ = writeln!(out, " … and {} more (all of them in the run's compare.txt)", c.exceptions.len() - shown);
        }
    }
    let _ = writeln!(out, "verdict: {}", c.verdict());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Whole;
    use crate::truth::tests::{sent, TEN};

    fn result(end: i64, device: &str, count: i64, m1: i64) -> ResultRow {
        ResultRow {
            engine: "e".into(),
            mode: Mode::EventTime,
            window_end: end,
            device: device.into(),
            category: "cat-1".into(),
            agg: Aggregate { count, m1_sum: m1, m2_sum: m1 as f64 },
            emissions: 1,
            first_emitted_at: end,
            last_emitted_at: end,
        }
    }

    fn job(mode: Mode, crash: Option<CrashRecord>, watermark: WatermarkScope) -> JobRecord {
        JobRecord { engine: "e".into(), mode, status: None, log: "e.log".into(), crash, watermark, end_of_stream_window: None }
    }

    /// `mode`'s comparison of `results` for an engine that kept its watermark per partition, after `crash`.
    fn compared(mode: Mode, log: &[SentEvent], results: &[ResultRow], crash: Option<CrashRecord>) -> Comparison {
        compare(&job(mode, crash, WatermarkScope::PerPartition), &Whole { events: log, results }, 5000, Clock::Live, u64::MAX)
    }

    fn run(mode: Mode, log: &[SentEvent], results: &[ResultRow]) -> Comparison {
        compared(mode, log, results, None)
    }

    fn base() -> Vec<SentEvent> {
        vec![
            sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None),
            sent("d-1", "d", TEN + 2000, TEN + 2000, 10, Fault::None),
            sent("d-2", "d", TEN + 3000, TEN + 3000, 5, Fault::None),
        ]
    }

    #[test]
    fn exact_results_have_no_exception() {
        let c = run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 3, 48)]);
        assert_eq!((c.rows, c.exceptions.len()), (1, 0));
        assert_eq!(c.verdict(), "e event-time: 1/1 windows exact");
    }

    #[test]
    fn a_counted_duplicate_is_explained() {
        let mut log = base();
        log.push(sent("d-0", "d", TEN + 1000, TEN + 4000, 33, Fault::Duplicate));
        let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 4, 81)]);
        assert_eq!(c.exceptions[0].causes, vec![Cause::Duplicate]);
        assert_eq!(c.exceptions[0].why, "1 duplicate counted (m1=33)");
    }

    #[test]
    fn a_dropped_late_event_is_explained_even_when_its_window_is_missing() {
        let mut log = base();
        log.push(sent("d-3", "d", TEN - 130_000, TEN + 4000, 49, Fault::Late));
        let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 3, 48)]);
        assert_eq!(c.exceptions.len(), 1);
        let e = &c.exceptions[0];
        assert!(e.result.is_none());
        assert_eq!(e.why, "1 late event dropped (m1=49, 134 s late)");
        assert!(c.verdict().contains("all explained (1 late)"), "{}", c.verdict());
    }

    #[test]
    fn on_a_virtual_clock_lateness_is_read_on_the_device_clock_not_the_wall() {
        // Device times from a virtual epoch years back, sent now, unpaced: 1 ms apart on the wall.
        // Late by 5 s: sent after its device's message at TEN + 7000; out of order by 1.5 s.
        const WALL: i64 = TEN + 10 * 365 * 86_400_000;
        let at = |dt: i64, k: i64, m1: i64, fault: Fault| sent(&format!("d-{k}"), "d", dt, WALL + k, m1, fault);
        let log = vec![
            at(TEN + 1000, 0, 33, Fault::None),
            at(TEN + 7000, 1, 10, Fault::None),
            at(TEN + 2000, 2, 49, Fault::Late),
            at(TEN + 5500, 3, 5, Fault::OutOfOrder),
            at(TEN + 9000, 4, 1, Fault::None),
        ];
        let rows = [result(TEN + 5000, "d", 1, 33), result(TEN + 10_000, "d", 2, 11)];
        let c = compare(&job(Mode::EventTime, None, WatermarkScope::PerPartition), &Whole { events: &log, results: &rows }, 5000, Clock::Virtual, u64::MAX);
        let why: Vec<&str> = c.exceptions.iter().map(|e| e.why.as_str()).collect();
        assert_eq!(why, ["1 late event dropped (m1=49, 5 s late)", "1 out-of-order event dropped (m1=5, sent 1.5 s after its time)"]);
    }

    #[test]
    fn a_dropped_out_of_order_event_is_explained() {
        let mut log = base();
        log.push(sent("d-3", "d", TEN + 4500, TEN + 6900, 7, Fault::OutOfOrder));
        let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 3, 48)]);
        assert_eq!(c.exceptions[0].causes, vec![Cause::OutOfOrder]);
        assert!(c.exceptions[0].why.starts_with("1 out-of-order event dropped (m1=7"));
    }

    #[test]
    fn events_crossing_a_window_boundary_are_explained_in_send_time() {
        let mut log = base();
        log.push(sent("d-3", "d", TEN + 4990, TEN + 4990, 7, Fault::None));
        log.push(sent("d-4", "d", TEN + 6000, TEN + 6000, 1, Fault::None));
        // The engine saw d-3 after 10:00:05 and counted it in the next window.
        let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), result(TEN + 10_000, "d", 2, 8)]);
        assert_eq!(c.exceptions.len(), 2);
        assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::Boundary]));
        assert_eq!(c.exceptions[0].why, "1 event sent in the last 10 ms counted in a later window (m1=7)");
        assert_eq!(c.exceptions[1].why, "1 event sent in the 10 ms before this window counted here (m1=7)");
    }

    #[test]
    fn a_timer_that_fires_late_counts_the_first_messages_sent_after_the_phase_end() {
        // Storm on `disorder`: its timer closed the window 8 ms past the phase's end (10:00:10.008), holding
        // d-2, sent 4 ms past it; the truth has d-2 in the next window. d-0 pins the phase on the multiples.
        let mut log = vec![
            sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None),
            sent("d-1", "d", TEN + 7000, TEN + 7000, 3, Fault::None),
            sent("d-2", "d", TEN + 10_004, TEN + 10_004, 83, Fault::None),
        ];
        let late_timer = [result(TEN + 5000, "d", 1, 33), result(TEN + 10_008, "d", 2, 86)];
        let c = run(Mode::ProcessingTime, &log, &late_timer);
        assert_eq!((c.window_phase_ms, c.rows), (0, 3));
        assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::Boundary]), "{:?}", c.exceptions);
        assert_eq!(c.exceptions[0].why, "1 event sent up to 4 ms after this window's end counted here, timer late (m1=83)");
        assert_eq!(c.exceptions[1].why, "1 event sent in the first 4 ms counted in the window before, timer late (m1=83)");
        // Sent after the end the engine gave its window, it cannot be in it: still an engine's error.
        log[2] = sent("d-2", "d", TEN + 10_012, TEN + 10_012, 83, Fault::None);
        let c = run(Mode::ProcessingTime, &log, &late_timer);
        assert_eq!(c.exceptions[0].causes, vec![Cause::Unexplained], "{:?}", c.exceptions);
    }

    #[test]
    fn a_micro_batch_longer_than_a_window_moves_events_several_windows_on() {
        let mut log = base();
        log.push(sent("d-3", "d", TEN + 4000, TEN + 4000, 7, Fault::None));
        log.push(sent("d-4", "d", TEN + 12_000, TEN + 12_000, 1, Fault::None));
        // One batch read d-3 at 10:00:04 + 7 s, with d-4: both in the window ending 10:00:15.
        let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), result(TEN + 15_000, "d", 2, 8)]);
        assert_eq!(c.unexplained(), 0, "{:?}", c.exceptions);
        assert_eq!(c.exceptions[1].why, "1 event sent in the 6000 ms before this window counted here (m1=7)");

        // d-5, sent after d-3, was read by the batch after: it went one window further.
        log.push(sent("d-5", "d", TEN + 4500, TEN + 4500, 20, Fault::None));
        let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), result(TEN + 15_000, "d", 2, 8), result(TEN + 20_000, "d", 1, 20)]);
        assert_eq!(c.unexplained(), 0, "{:?}", c.exceptions);
    }

    #[test]
    fn an_engine_that_lags_may_count_a_message_as_many_windows_on_as_it_lags() {
        let mut log = base();
        log.push(sent("d-3", "d", TEN + 4000, TEN + 4000, 7, Fault::None));
        log.push(sent("d-4", "d", TEN + 32_000, TEN + 32_000, 1, Fault::None));
        // d-3 read 28 s late, with d-4: six windows on. The engine emitted that window 8 s after its end.
        let late_row = ResultRow { first_emitted_at: TEN + 43_000, ..result(TEN + 35_000, "d", 2, 8) };
        let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), late_row.clone()]);
        assert_eq!(c.unexplained(), 1, "emitting 8 s late does not make 28 s of lag plausible: {:?}", c.exceptions);
        let lagging = ResultRow { first_emitted_at: TEN + 63_000, ..late_row };
        let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), lagging]);
        assert_eq!(c.unexplained(), 0, "an engine that emits 28 s late can read 28 s late: {:?}", c.exceptions);
    }

    #[test]
    fn in_a_burst_the_last_sent_cross_first_even_within_one_millisecond() {
        let mut log = base();
        for (i, m1) in [(3, 7), (4, 1), (5, 40)] {
            log.push(sent(&format!("d-{i}"), "d", TEN + 4999, TEN + 4999, m1, Fault::None));
        }
        // The last two sent (m1 = 1 and 40), in the same millisecond as m1 = 7, crossed.
        let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 4, 55), result(TEN + 10_000, "d", 2, 41)]);
        assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::Boundary]), "{:?}", c.exceptions);
    }

    #[test]
    fn combinations_are_every_subset_of_one_size() {
        let all: Vec<Vec<usize>> = Combinations::new(4, 2).collect();
        assert_eq!(all, vec![vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]);
        assert_eq!(Combinations::new(3, 0).collect::<Vec<_>>(), vec![Vec::<usize>::new()]);
        assert_eq!(Combinations::new(2, 3).count(), 0);
    }

    #[test]
    fn a_whole_window_moved_on_by_a_slow_first_batch_is_explained() {
        // A device's first 30 messages, sent in the window ending 10:00:05, and 30 in the next:
        // the first micro-batch started after 10:00:05 and every message landed one window on.
        let mut log = base();
        for i in 0..60 {
            let at = TEN + 5000 + 150 * i - 4600;
            log.push(sent(&format!("e-{i}"), "e", at, at, 1 + i * 7 % 97, Fault::None));
        }
        let sum = |range: std::ops::Range<i64>| range.map(|i| 1 + i * 7 % 97).sum::<i64>();
        let (first, second) = (sum(0..31), sum(31..60));
        let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), result(TEN + 10_000, "e", 31, first), result(TEN + 15_000, "e", 29, second)]);
        assert_eq!(c.unexplained(), 0, "{:#?}", c.exceptions);
        assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::Boundary]), "{:#?}", c.exceptions);
    }

    #[test]
    fn a_difference_no_fault_accounts_for_is_unexplained() {
        let c = run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 3, 47)]);
        assert_eq!(c.exceptions[0].causes, vec![Cause::Unexplained]);
        assert_eq!(c.unexplained(), 1);
        assert!(c.verdict().contains("1 of 1 exceptions UNEXPLAINED"));
        // A window the truth never had is unexplained too.
        let c = run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 3, 48), result(TEN + 5000, "ghost", 1, 1)]);
        assert_eq!((c.rows, c.unexplained()), (2, 1));
    }

    #[test]
    fn several_causes_in_one_window_are_all_named() {
        let mut log = base();
        log.push(sent("d-0", "d", TEN + 1000, TEN + 4000, 33, Fault::Duplicate));
        log.push(sent("d-3", "d", TEN + 4000, TEN + 200_000, 20, Fault::Late));
        // Counted the duplicate, dropped the late one.
        let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 4, 81)]);
        assert_eq!(c.exceptions[0].causes, vec![Cause::Duplicate, Cause::Late]);
    }

    #[test]
    fn the_flush_device_is_ignored_and_the_output_keeps_the_original_shape() {
        let c = run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 3, 40), result(TEN + 9000, FLUSH_DEVICE, 1, 0)]);
        assert_eq!(c.rows, 1);
        let text = render(&c, None);
        assert!(text.contains("Comparing ingest device and downstream for m1_sum\n1 exceptions out of 1\nExceptions are:\n"), "{text}");
        assert_eq!(render(&c, Some(1)), text, "all shown: nothing more to say");
        let first_none = render(&c, Some(0));
        assert!(first_none.contains(" … and 1 more (all of them in the run's compare.txt)\n") && !first_none.contains("10:00:05"), "{first_none}");
        assert!(text.contains("1970-01-01 10:00:05"), "{text}");
        assert!(text.contains("m1_sum_ingest_devicetime"));
    }

    /// Four events of one window, sent a second apart; the engine killed after the third was sent.
    fn crashed() -> (Vec<SentEvent>, CrashRecord) {
        let mut log = base();
        log.push(sent("d-3", "d", TEN + 4000, TEN + 4000, 7, Fault::None));
        (log, CrashRecord { killed_at: TEN + 3500, restarted_at: TEN + 8500, ready_again_at: Some(TEN + 9000), node: None })
    }

    #[test]
    fn events_a_crash_lost_are_explained_with_how_many() {
        let (log, crash) = crashed();
        // The engine had read the first two and lost them with its state; it read on from the third.
        let c = compared(Mode::EventTime, &log, &[result(TEN + 5000, "d", 2, 12)], Some(crash));
        assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].lost, c.exceptions[0].doubled), (&[Cause::LostInCrash][..], 2, 0));
        assert!(c.exceptions[0].why.contains("2 events sent up to 2.5 s before the kill lost in the crash (m1=33+10)"), "{}", c.exceptions[0].why);
        let without = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 2, 12)]);
        assert_eq!(without.unexplained(), 1, "no crash, no such explanation");
    }

    #[test]
    fn events_read_again_after_a_restart_are_counted_twice() {
        let (log, crash) = crashed();
        // Offsets committed before the second event, state kept after the third: the second and third read again.
        let c = compared(Mode::EventTime, &log, &[result(TEN + 5000, "d", 6, 70)], Some(crash));
        assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].lost, c.exceptions[0].doubled), (&[Cause::CountedTwice][..], 0, 2));
        // The fourth was sent after the kill: it cannot have been counted before it.
        let c = compared(Mode::EventTime, &log, &[result(TEN + 5000, "d", 5, 62)], Some(crash));
        assert_eq!(c.unexplained(), 1, "{:?}", c.exceptions[0].why);
    }

    #[test]
    fn on_the_wall_clock_events_read_late_are_crossings_and_read_again_from_far_back_doubled() {
        let (log, _) = crashed();
        let crash = CrashRecord { killed_at: TEN + 3500, restarted_at: TEN + 8500, ready_again_at: None, node: None };
        let own = result(TEN + 5000, "d", 4, 55);
        let with = |later: ResultRow| compared(Mode::ProcessingTime, &log, &[own.clone(), later], Some(crash));
        // Read two windows late: the engine may have counted them late, which is no crash's doing.
        let c = with(result(TEN + 15_000, "d", 2, 15));
        assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].doubled), (&[Cause::Boundary][..], 0));
        // Eight windows on, past what a lag of nothing and a second down can hold them: read again after the restart.
        let c = with(result(TEN + 40_000, "d", 2, 15));
        assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].doubled), (&[Cause::CountedTwice][..], 2), "{}", c.exceptions[0].why);
    }

    #[test]
    fn an_engine_down_for_long_counts_what_was_sent_meanwhile_as_late_as_it_was_down() {
        let (log, _) = crashed();
        let crash = CrashRecord { killed_at: TEN + 3500, restarted_at: TEN + 8500, ready_again_at: Some(TEN + 43_500), node: None };
        let c = compared(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 2, 43), result(TEN + 45_000, "d", 2, 12)], Some(crash));
        assert!(c.exceptions.iter().all(|e| e.causes == [Cause::Boundary]), "{:?}", c.exceptions);
    }

    #[test]
    fn on_time_events_dropped_behind_a_watermark_over_all_partitions_are_overtaken_if_the_engine_says_so() {
        let over_all = |results: &[ResultRow], late_dropped| {
            compare(&job(Mode::EventTime, None, WatermarkScope::AllPartitions), &Whole { events: &base(), results }, 5000, Clock::Live, late_dropped)
        };
        // The first two, read while their partition was behind the others, dropped as late.
        let c = over_all(&[result(TEN + 5000, "d", 1, 5)], 2);
        assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].overtaken), (&[Cause::Overtaken][..], 2));
        assert_eq!(c.exceptions[0].why, "2 on-time events dropped as late, the watermark gone on without their partition (m1=33+10)");
        let c = over_all(&[result(TEN + 5000, "d", 1, 5)], 1);
        assert_eq!(c.unexplained(), 1, "more overtaken than the engine dropped as late: {:?}", c.exceptions);
        // The watermark rose past the first while it was read and not past the second: the first and the third go without it.
        let c = over_all(&[result(TEN + 5000, "d", 1, 10)], 2);
        assert_eq!(c.exceptions[0].why, "2 on-time events dropped as late, the watermark gone on without their partition (m1=33+5)");
        // An engine whose watermark waits for every partition has no such excuse.
        assert_eq!(run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 1, 5)]).unexplained(), 1);
    }

    #[test]
    fn a_long_window_overtaken_in_a_run_or_here_and_there_is_explained() {
        let log: Vec<SentEvent> = (0..60).map(|i| sent(&format!("d-{i}"), "d", TEN + 10 + i * 80, TEN + 10 + i * 80, 1 + (i * 7) % 97, Fault::None)).collect();
        let overtaken = |dropped: &dyn Fn(usize) -> bool| {
            let kept: Vec<&SentEvent> = log.iter().enumerate().filter(|(i, _)| !dropped(*i)).map(|(_, e)| e).collect();
            let r = result(TEN + 5000, "d", kept.len() as i64, kept.iter().map(|e| e.m1).sum());
            let c = compare(&job(Mode::EventTime, None, WatermarkScope::AllPartitions), &Whole { events: &log, results: &[r] }, 5000, Clock::Live, 100);
            (c.exceptions[0].causes.clone(), c.exceptions[0].overtaken)
        };
        assert_eq!(overtaken(&|i| (10..40).contains(&i)), (vec![Cause::Overtaken], 30), "a run of 30 of the 60, found by its sums");
        assert_eq!(overtaken(&|i| [3, 20, 50].contains(&i)), (vec![Cause::Overtaken], 3), "three here and there");
    }

    #[test]
    fn a_window_that_holds_its_end_counts_the_message_at_its_end() {
        let mut log = base();
        log.push(sent("d-3", "d", TEN + 5000, TEN + 5000, 7, Fault::None));
        log.push(sent("d-4", "d", TEN + 6000, TEN + 6000, 1, Fault::None));
        // The truth has d-3 in the window ending 10:00:10; an engine whose windows are (start, end] has it in 10:00:05.
        let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 4, 55), result(TEN + 10_000, "d", 1, 1)]);
        assert_eq!(c.unexplained(), 0, "{:?}", c.exceptions);
        assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::EndInclusive]), "{:?}", c.exceptions);
        assert_eq!(c.exceptions[0].why, "1 event at this window's very end counted in it (m1=7)");
        assert_eq!(c.exceptions[1].why, "1 event at the previous window's very end counted there (m1=7)");
    }

    #[test]
    fn an_engine_that_read_the_stream_late_may_count_its_messages_as_late_as_it_read_its_end() {
        // Sent in the window ending 10:00:05, counted six windows on by a timer that emits on time.
        let late = [ResultRow { mode: Mode::ProcessingTime, ..result(TEN + 35_000, "d", 3, 48) }];
        let read_end_in = |end| {
            let job = JobRecord { end_of_stream_window: Some(end), ..job(Mode::ProcessingTime, None, WatermarkScope::PerPartition) };
            compare(&job, &Whole { events: &base(), results: &late }, 5000, Clock::Live, u64::MAX)
        };
        let read_at_the_end = read_end_in(TEN + 35_000);
        assert!(read_at_the_end.exceptions.iter().all(|e| e.causes == [Cause::Boundary]), "{:?}", read_at_the_end.exceptions);
        assert_eq!(read_end_in(TEN + 5000).unexplained(), 1, "read on time, it has no such excuse for the late arrival");
    }

    #[test]
    fn the_window_phase_does_not_depend_on_the_order_the_rows_are_read_in() {
        // Half the windows end on the multiples, half 2,500 ms past: either reading is as good, and the
        // one taken must not depend on which row comes first (a run read in groups of devices).
        let ends = [TEN + 5000, TEN + 2500, TEN + 10_000, TEN + 7500];
        let phase = window_phase(&ends, 5000);
        assert_eq!(phase, 2500, "read from the earliest end");
        let mut reordered = ends;
        reordered.rotate_left(2);
        assert_eq!(window_phase(&reordered, 5000), phase);
        reordered.reverse();
        assert_eq!(window_phase(&reordered, 5000), phase);
    }

    #[test]
    fn an_engine_whose_windows_start_with_its_own_clock_is_held_to_the_truth_in_its_windows() {
        // Windows ending 3456 ms past the multiples of 5 s, reported a millisecond or two late, as a timer fires.
        let log: Vec<SentEvent> = (0..40).map(|i| sent(&format!("d-{i}"), "d", TEN + 250 * i, TEN + 250 * i, i, Fault::None)).collect();
        let truth = truth::compute_view(&log, View::SendTime, 5000, 3456);
        let results: Vec<ResultRow> = truth
            .iter()
            .enumerate()
            .map(|(k, t)| ResultRow { mode: Mode::ProcessingTime, ..result(t.window_end + k as i64 % 3, "d", t.agg.count, t.agg.m1_sum) })
            .map(|r| ResultRow { agg: Aggregate { m2_sum: r.agg.m1_sum as f64, ..r.agg }, ..r })
            .collect();
        let c = run(Mode::ProcessingTime, &log, &results);
        assert_eq!(c.window_phase_ms, 3456);
        assert_eq!((c.exact(), c.rows), (truth.len(), truth.len()), "{:?}", c.exceptions);
        assert!(render(&c, None).contains("the engine's windows end 3456 ms past the multiples"));
        let aligned = run(Mode::ProcessingTime, &base(), &[result(TEN + 5000, "d", 3, 48), result(TEN + 9000, FLUSH_DEVICE, 1, 0)]);
        assert_eq!(aligned.window_phase_ms, 0, "the end-of-stream row's window says nothing of the engine's");
    }

    #[test]
    fn a_search_that_gives_up_says_so_rather_than_unexplained() {
        // Forty resends in one window and a result below the truth: no set of resends
        // can lower a count, but proving it means trying every subset, past the budget.
        let mut log = base();
        for i in 0..3 {
            for k in 0..14 {
                log.push(sent(&format!("d-{i}"), "d", TEN + 1000 * (i + 1), TEN + 4000 + k, 1 + i + k, Fault::Duplicate));
            }
        }
        let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 2, 15)]);
        assert_eq!(c.exceptions[0].causes, vec![Cause::SearchBudget]);
        assert_eq!(c.exceptions[0].why, "not explained (search budget)");
        assert_eq!((c.unexplained(), c.not_explained()), (0, 1));
        assert!(c.verdict().contains("1 not explained within the search budget"), "{}", c.verdict());
    }
}
