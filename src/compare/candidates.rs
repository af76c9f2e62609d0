//! What may explain a row that differs: the candidates, read off the sent-event log, that the
//! search of `explain` combines. Each is a fault the simulator injected into the row's window, a
//! message that crossed a window's boundary, an on-time message a watermark went on without, or a
//! message a crash lost or had counted twice.

use super::{Cause, Row, TIMER_SLACK_MS};
use crate::intern::FastMap;
use crate::model::{nearest_window_end, window_end_at_phase, CrashRecord, Fault, ResultRow, SentEvent, View, FLUSH_DEVICE};
use crate::scenario::Clock;
use std::collections::HashMap;

/// One way an engine's window can legitimately differ from the truth.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub cause: Cause,
    pub sign: i64,
    pub m1: i64,
    pub m2: f64,
    /// Late/out-of-order: how far behind its device time it was sent (`FaultIndex::behind`);
    /// boundary: how long before the end of its window (leaving) or the start of the window that
    /// counted it (arriving), or, below 0, how long after the end of the window that counted it.
    pub ms: i64,
}

/// A choice the search makes: take one candidate or not, or take the first k of a run.
pub(super) enum Choice {
    One(Candidate),
    /// Boundary crossings: only the last k messages before a window's end can cross (the first k
    /// after it, into a window closed late).
    Run(Vec<Candidate>),
    /// Take k consecutive ones: the messages of earlier windows that reached a window
    /// when some crossed several (the very last of them may have gone further still).
    Slice(Vec<Candidate>),
}

/// The sent-event log, grouped by the row each event falls into in one view.
pub(super) struct FaultIndex<'a> {
    view: View,
    by_row: HashMap<(i64, &'a str, &'a str), Vec<&'a SentEvent>>,
    /// The end the engine itself gave each row it emitted, by the row's end at the phase: a timer
    /// that fires late (Storm's, by a few ms) closes its window after the phase's end.
    closed_at: HashMap<(i64, &'a str, &'a str), i64>,
    /// Late and out-of-order messages by id: how far behind their device time they were sent.
    behind: FastMap<&'a str, i64>,
}

impl<'a> FaultIndex<'a> {
    pub(super) fn new(log: &'a [SentEvent], results: &'a [ResultRow], view: View, window_ms: i64, phase_ms: i64, clock: Clock) -> Self {
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
        let behind = held_back(log, clock);
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
    pub(super) fn candidates(&self, key: &Row, window_ms: i64, crossed: i64) -> Vec<Choice> {
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
    pub(super) fn overtaken(&self, key: &Row) -> Vec<Candidate> {
        let on_time = self.row(key.0, key).iter().filter(|e| e.counts() && !matches!(e.fault, Fault::Late | Fault::OutOfOrder));
        on_time.map(|e| Candidate { cause: Cause::Overtaken, sign: -1, m1: e.m1, m2: e.m2, ms: 0 }).collect()
    }

    /// What a crash may have done to row `key`, as two alternatives: a run of its messages sent
    /// before the engine was reading again, in the order sent, lost (the engine's state or input
    /// went with the process); or a run of messages sent before the kill counted a second time
    /// (read again on top of state that had counted them): its own, or, on the wall clock, those of
    /// the device's earlier windows, read again after the restart and counted in this one.
    pub(super) fn crash_candidates(&self, key: &Row, crash: &CrashRecord, window_ms: i64) -> [Choice; 2] {
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

/// Late and out-of-order messages by id: how far behind their device time they were sent. A
/// virtual clock's device times are not the wall's, whose difference read as years late: there,
/// at least how far its device's clock had gone on (its latest message sent before; a message held
/// back less than a pause reads 0).
pub fn held_back(log: &[SentEvent], clock: Clock) -> FastMap<&str, i64> {
    let mut latest: FastMap<&str, i64> = FastMap::default();
    let mut behind = FastMap::default();
    for e in log {
        let device_time = latest.entry(&*e.device).or_insert(e.dt);
        if matches!(e.fault, Fault::Late | Fault::OutOfOrder) {
            let late_by = match clock {
                Clock::Live => e.sent_at - e.dt,
                Clock::Virtual => (*device_time - e.dt).max(0),
            };
            behind.insert(e.id.as_str(), late_by);
        }
        *device_time = (*device_time).max(e.dt);
    }
    behind
}

/// How many windows back a restarted processing-time engine may read messages again.
const CRASH_WINDOWS_BACK: i64 = 24;
