//! The comparison event by event, for a job whose rows name the events each window counted
//! (`ids`, docs/SPEC.md §5): per window, the ids its truth holds and the ids the engine counted.
//! Every id missing (in the truth, not counted) or extra (counted, not in the truth, or counted
//! twice) gets the reason it could have happened, read off what the simulator did to it and when
//! it was sent, and checked to be possible for this engine, not only to fit: a late event dropped
//! only where the engine's watermark could have passed its window when it came; a message sent
//! before a window's end counted in a later one no further on than the engine lags. An id no rule
//! takes is `unexplained`, and named. No search: each id is looked up once.

use super::candidates::held_back;
use super::{windows_down, Cause, Comparison, Dropped, EventNote, Exception, Reading, Setting, Side, TIMER_SLACK_MS};
use crate::format::utc;
use crate::groups::DeviceGroups;
use crate::intern::FastMap;
use crate::model::{
    nearest_window_end, window_end_at_phase, Aggregate, CrashRecord, Fault, JobRecord, LateDrop, ResultRow, SentEvent, View, WatermarkScope, FLUSH_DEVICE,
};
use std::collections::{BTreeMap, BTreeSet};

/// (window end, device, category) of a row compared.
type Key<'a> = (i64, &'a str, &'a str);

/// Compares `job`'s rows with the truth id by id, a group of devices at a time.
pub(super) fn compare(job: &JobRecord, groups: &dyn DeviceGroups, setting: &Setting) -> Comparison {
    let mut sent = Sent::default();
    let reading = &Reading::of(job, groups, setting.window_ms, &mut |events| sent.add(events, job.mode.view(), setting));
    let progress = sent.progress();
    let mut c = Comparison { by_ids: true, ..Comparison::empty(job, reading) };
    let (mut found, mut late_resends) = (0, 0);
    for g in 0..groups.count() {
        let group = groups.group(g);
        let by_id = Log::of(&group.events, job.mode.view(), setting);
        let classify =
            Classify { job, reading, progress: &progress, log: &by_id, setting, counted: Counted::of(&group.results, setting.window_ms, reading.phase_ms) };
        let (rows, exceptions) = classify.rows(&group.events);
        c.rows += rows;
        found += exceptions.iter().flat_map(|e| &e.events).filter(|n| n.side == Side::Missing && n.cause.drops_as_late()).count() as u64;
        if setting.late_dropped.is_some() && job.mode.view() == View::DeviceTime {
            late_resends += classify.resends_behind_their_window() as u64;
        }
        c.exceptions.extend(exceptions);
    }
    c.in_order();
    c.dropped = setting.late_dropped.map(|reported| Dropped { reported, found, late_resends });
    c
}

impl Cause {
    /// A cause of an event dropped behind a watermark.
    fn drops_as_late(self) -> bool {
        matches!(self, Cause::Late | Cause::OutOfOrder | Cause::Overtaken)
    }
}

/// How far each partition's events had got, by when they were sent: what a watermark can have
/// seen of them when an event came. Read off every group of the run before any is compared, since
/// a partition holds the events of devices of every group.
struct Progress {
    partitions: FastMap<i32, PartitionProgress>,
    /// The send times at which the latest time sent on any partition grew, with that time.
    all: Vec<(i64, i64)>,
}

/// One partition's progress: the send times at which the latest time (in the job's view) sent on
/// it so far grew, with that time, increasing in both; and every send time, in order (how long
/// it was silent before an event).
struct PartitionProgress {
    rising: Vec<(i64, i64)>,
    sends: Vec<i64>,
}

/// Each partition's sends, (send time, time), gathered a group at a time.
#[derive(Default)]
struct Sent {
    partitions: FastMap<i32, Vec<(i64, i64)>>,
}

impl Sent {
    fn add(&mut self, events: &[SentEvent], view: View, setting: &Setting) {
        for e in events {
            self.partitions.entry(setting.partition(&e.device)).or_default().push((e.sent_at, view.time_of(e)));
        }
    }

    fn progress(mut self) -> Progress {
        self.partitions.values_mut().for_each(|s| s.sort_unstable());
        // The stream ends with flush events on every partition, far ahead of every time (§6): after
        // the last send, any watermark may have passed any window (a reader behind on one partition
        // may read another's flush first).
        let after_the_last = self.partitions.values().filter_map(|s| s.last()).map(|&(at, _)| at + 1).max().unwrap_or(0);
        let mut all: Vec<(i64, i64)> = self.partitions.values().flat_map(|s| rising(s)).collect();
        all.sort_unstable();
        let mut all = rising(&all);
        all.push((after_the_last, i64::MAX));
        let partitions = self
            .partitions
            .into_iter()
            .map(|(p, s)| {
                let mut points = rising(&s);
                points.push((after_the_last, i64::MAX));
                (p, PartitionProgress { rising: points, sends: s.into_iter().map(|(at, _)| at).collect() })
            })
            .collect();
        Progress { partitions, all }
    }
}

impl Progress {
    /// When events sent up to then had first reached `t` on `partition` (every partition: `None`), if they ever did.
    fn reached(&self, partition: Option<i32>, t: i64) -> Option<i64> {
        let points = partition.and_then(|p| self.partitions.get(&p)).map_or(&self.all, |p| &p.rising);
        points.get(points.partition_point(|&(_, high)| high < t)).map(|&(at, _)| at)
    }

    /// How long `partition` had been silent when `e` was sent.
    fn silent_before(&self, partition: i32, e: &SentEvent) -> i64 {
        let sends = self.partitions.get(&partition).map(|p| p.sends.as_slice()).unwrap_or_default();
        let i = sends.partition_point(|&at| at < e.sent_at);
        i.checked_sub(1).map_or(0, |before| e.sent_at - sends[before])
    }
}

/// The points of (send time, time) where the time grows.
fn rising(points: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut kept: Vec<(i64, i64)> = Vec::new();
    for &(at, t) in points {
        if kept.last().is_none_or(|&(_, high)| t > high) {
            kept.push((at, t));
        }
    }
    kept
}

/// One group's log, looked up by id.
struct Log<'a> {
    /// Each id's first send: the one the truth counts.
    first: FastMap<&'a str, &'a SentEvent>,
    /// Each id's resends.
    resends: FastMap<&'a str, Vec<&'a SentEvent>>,
    /// Late and out-of-order messages: how far behind their device time they were sent.
    held_back: FastMap<&'a str, i64>,
    /// Each device's latest time (in the job's view) of its first sends: how far a clock per key went.
    latest: FastMap<&'a str, i64>,
}

impl<'a> Log<'a> {
    fn of(log: &'a [SentEvent], view: View, setting: &Setting) -> Log<'a> {
        let (mut first, mut resends, mut latest): (FastMap<_, _>, FastMap<_, Vec<_>>, FastMap<&str, i64>) = Default::default();
        for e in log.iter().filter(|e| &*e.device != FLUSH_DEVICE) {
            if e.counts() {
                first.insert(e.id.as_str(), e);
                let t = latest.entry(&*e.device).or_insert(i64::MIN);
                *t = (*t).max(view.time_of(e));
            } else {
                resends.entry(e.id.as_str()).or_default().push(e);
            }
        }
        Log { first, resends, held_back: held_back(log, setting.clock), latest }
    }
}

/// What the engine counted: per row, its ids as many times as named; per id, the rows that name it.
struct Counted<'a> {
    rows: BTreeMap<Key<'a>, (&'a ResultRow, FastMap<&'a str, i64>)>,
    /// (id, window end) of every id named, ordered: one allocation for a run's millions.
    at: Vec<(&'a str, i64)>,
}

impl<'a> Counted<'a> {
    fn of(results: &'a [ResultRow], window_ms: i64, phase_ms: i64) -> Counted<'a> {
        let mut counted = Counted { rows: BTreeMap::new(), at: Vec::new() };
        for r in results.iter().filter(|r| r.device != FLUSH_DEVICE) {
            let key = (nearest_window_end(r.window_end, window_ms, phase_ms), r.device.as_str(), r.category.as_str());
            let mut ids: FastMap<&str, i64> = FastMap::default();
            for id in r.ids.iter().flatten() {
                *ids.entry(id.as_str()).or_default() += 1;
                counted.at.push((id.as_str(), key.0));
            }
            counted.rows.insert(key, (r, ids));
        }
        counted.at.sort_unstable();
        counted
    }

    /// The ends of the windows that name `id`.
    fn windows_of<'s>(&'s self, id: &'s str) -> impl Iterator<Item = i64> + 's {
        let from = self.at.partition_point(|&(other, _)| other < id);
        self.at[from..].iter().take_while(move |&&(other, _)| other == id).map(|&(_, end)| end)
    }

    /// How many times row `key` names `id`.
    fn times(&self, key: &Key, id: &str) -> i64 {
        self.rows.get(key).and_then(|(_, ids)| ids.get(id)).copied().unwrap_or(0)
    }
}

/// The rules, with what they read.
struct Classify<'a, 'b> {
    job: &'b JobRecord,
    reading: &'b Reading,
    progress: &'b Progress,
    log: &'b Log<'a>,
    counted: Counted<'a>,
    setting: &'b Setting,
}

impl<'a> Classify<'a, '_> {
    /// The rows of the group whose log is `events`, and their exceptions.
    fn rows(&self, events: &'a [SentEvent]) -> (usize, Vec<Exception>) {
        let mut truth: BTreeMap<Key, Vec<&SentEvent>> = BTreeMap::new();
        for e in events.iter().filter(|e| e.counts() && &*e.device != FLUSH_DEVICE) {
            truth.entry((self.window_of(e), &*e.device, &*e.category)).or_default().push(e);
        }
        let keys: BTreeSet<Key> = truth.keys().chain(self.counted.rows.keys()).copied().collect();
        let exceptions = keys.iter().filter_map(|key| self.row(*key, truth.get(key).map(Vec::as_slice).unwrap_or_default())).collect();
        (keys.len(), exceptions)
    }

    /// The resends sent once their own partition had gone the bound past their window: an engine
    /// that checks lateness before its dedup counts them among what it dropped as late.
    fn resends_behind_their_window(&self) -> usize {
        let s = self.setting;
        let resends = self.log.resends.values().flatten();
        resends
            .filter(|r| {
                let passed = self.window_of(r) + s.allowed_lateness_ms + s.out_of_orderness_ms;
                self.progress.reached(Some(s.partition(&r.device)), passed).is_some_and(|at| at <= r.sent_at)
            })
            .count()
    }

    /// The end of the window `e` belongs to in the job's view (at its windows' phase).
    fn window_of(&self, e: &SentEvent) -> i64 {
        window_end_at_phase(self.job.mode.view().time_of(e), self.setting.window_ms, self.reading.phase_ms)
    }

    /// The exception of row `key`, if it differs: `here`, the events its truth holds.
    fn row(&self, key: Key, here: &[&'a SentEvent]) -> Option<Exception> {
        let truth = (!here.is_empty()).then(|| aggregate(here));
        let row = self.counted.rows.get(&key);
        let result = row.map(|(r, _)| r.agg.clone());
        if let Some((r, _)) = row.filter(|(r, _)| r.ids.is_none()) {
            let why = format!("the row names no ids (it counts {})", r.agg.count);
            return Some(exception(key, truth, result, Vec::new(), vec![(Cause::UnknownId, why)]));
        }
        let mut notes: Vec<EventNote> = here.iter().filter(|e| self.counted.times(&key, &e.id) == 0).map(|e| self.missing(key, e)).collect();
        let mut extra: Vec<(&str, i64)> = row
            .map(|(_, ids)| ids.iter().map(|(&id, &n)| (id, n - i64::from(here.iter().any(|e| e.id == id)))).filter(|&(_, n)| n > 0).collect())
            .unwrap_or_default();
        extra.sort_unstable();
        for (id, times) in extra {
            let note = self.extra(key, id);
            notes.extend(std::iter::repeat_n(note, times as usize));
        }
        let problems = row.and_then(|(r, ids)| self.sums_of_its_ids(r, ids)).into_iter().collect::<Vec<_>>();
        if notes.is_empty() && problems.is_empty() && same(truth.as_ref(), result.as_ref()) {
            return None;
        }
        Some(exception(key, truth, result, notes, problems))
    }

    /// Where a row's count and sums are not those of the events it names: what is wrong.
    fn sums_of_its_ids(&self, r: &ResultRow, ids: &FastMap<&str, i64>) -> Option<(Cause, String)> {
        let named: i64 = ids.values().sum();
        if r.agg.count != named {
            return Some((Cause::Unexplained, format!("the row counts {} events but names {named}", r.agg.count)));
        }
        let known: Vec<(&SentEvent, i64)> = ids.iter().filter_map(|(id, &n)| self.log.first.get(id).map(|e| (*e, n))).collect();
        let m1: i64 = known.iter().map(|(e, n)| e.m1 * n).sum();
        let m2: f64 = known.iter().map(|(e, n)| e.m2 * *n as f64).sum();
        let sums_differ = r.agg.m1_sum != m1 || !super::m2_close(r.agg.m2_sum, m2, m2);
        (known.len() == ids.len() && sums_differ)
            .then(|| (Cause::Unexplained, format!("its sums (m1={}) are not those of the events it names (m1={m1})", r.agg.m1_sum)))
    }

    /// Why `e`, of row `key` in the truth, is not among its ids.
    fn missing(&self, key: Key, e: &SentEvent) -> EventNote {
        let elsewhere = self.counted.windows_of(&e.id).filter(|&end| end != key.0).min_by_key(|&end| (end - key.0).abs());
        let (cause, detail) = match elsewhere {
            Some(to) => match self.moved(key.0, to, e) {
                (Cause::Unexplained, _) if self.resent_into(&e.id, to).is_some() => {
                    (Cause::Duplicate, format!("its resend counted in the window of {} in its place", utc(to)))
                }
                found => found,
            },
            None => self.dropped(key, e),
        };
        note(e, Side::Missing, cause, detail)
    }

    /// Why `id` is counted in row `key` more often than its truth holds it.
    fn extra(&self, key: Key, id: &str) -> EventNote {
        let Some(&e) = self.log.first.get(id) else {
            return EventNote {
                id: id.into(),
                side: Side::Extra,
                cause: Cause::UnknownId,
                dt: None,
                sent_at: None,
                fault: None,
                m1: 0,
                detail: "an id the stream never had".into(),
            };
        };
        let own = self.window_of(e);
        let resent = self.resent_into(id, key.0);
        let counted_at_home = own != key.0 && self.counted.times(&(own, key.1, key.2), id) > 0;
        let resent_after = |r: &SentEvent| seconds(r.sent_at - e.sent_at);
        // Counted here and not in its own window: moved, or its resend counted in its place.
        let moved = (own != key.0 && !counted_at_home).then(|| self.moved(own, key.0, e));
        let (cause, detail) = match (moved, resent) {
            (Some((Cause::Unexplained, _)), Some(r)) => {
                (Cause::Duplicate, format!("its resend, {} after its first send, counted in its place", resent_after(r)))
            }
            (Some(found), _) => found,
            (None, Some(r)) => (Cause::Duplicate, format!("resent {} after its first send, counted again", resent_after(r))),
            (None, None) => match self.job.crash.filter(|c| e.sent_at < c.killed_at && self.may_count_here(own, key.0)) {
                Some(crash) => {
                    (Cause::CountedTwice, format!("sent {} before {}, counted again after it", seconds(crash.killed_at - e.sent_at), crash.the_fault()))
                }
                None => {
                    let resent = if self.log.resends.contains_key(id) { "resent, but the engine drops resends" } else { "never resent" };
                    let twice = if counted_at_home { format!("counted in its own window ({}) and again here", utc(own)) } else { "counted twice".into() };
                    (Cause::Unexplained, format!("{twice}, {resent}"))
                }
            },
        };
        note(e, Side::Extra, cause, detail)
    }

    /// A resend of `id` that may be counted in the window ending at `end`: none for an engine that
    /// drops resends (it declares `dedup`), unless a crash lost what it remembered.
    fn resent_into(&self, id: &str, end: i64) -> Option<&'a SentEvent> {
        let may_count_resends = !self.job.dedup || self.job.crash.is_some();
        let resends = self.log.resends.get(id).into_iter().flatten().copied().filter(|_| may_count_resends);
        resends.into_iter().find(|r| self.may_count_here(self.window_of(r), end))
    }

    /// Whether a message of the window ending at `own` may be counted in the window ending at
    /// `here`: in its own; on the wall clock, up to as many windows later as the engine lags.
    fn may_count_here(&self, own: i64, here: i64) -> bool {
        let later = (here - own) / self.setting.window_ms;
        later == 0 || (self.job.mode.view() == View::SendTime && later > 0 && later <= self.crossed())
    }

    /// Why `e`, of the window ending at `from` (its own), is counted in the window ending at `to`:
    /// possible only as a crossing of the wall clock's boundary, or at the very end of a window
    /// that holds its end.
    fn moved(&self, from: i64, to: i64, e: &SentEvent) -> (Cause, String) {
        let later = (to - from) / self.setting.window_ms;
        match self.job.mode.view() {
            View::SendTime if self.may_count_here(from, to) => (
                Cause::Boundary,
                format!("sent {} ms before its window's end, counted {later} window{} later", from - e.sent_at, if later == 1 { "" } else { "s" }),
            ),
            // A timer that fires late closes its window after the phase's end, holding what came in between.
            View::SendTime if later == -1 && e.sent_at - to <= TIMER_SLACK_MS => {
                (Cause::Boundary, format!("sent {} ms after the window before's end, counted there: its timer fired late", e.sent_at - to))
            }
            View::DeviceTime if later == -1 && self.job.end_inclusive && e.dt == to => {
                (Cause::EndInclusive, "at the very end of the window before, counted there: its windows hold their end".into())
            }
            _ => (Cause::Unexplained, format!("counted in the window of {} instead", utc(to))),
        }
    }

    /// How many windows later a processing-time engine may count a message: as many as it lagged, or
    /// was down. Unbounded, unlike the search of sums: each id says where it was counted.
    fn crossed(&self) -> i64 {
        self.reading.crossed.max(windows_down(self.job.crash.as_ref(), self.setting.window_ms))
    }

    /// Why `e`, of row `key`, is counted nowhere: in a window its key never closed (whose clock
    /// then never passed it either), dropped behind the watermark (where one could have passed its
    /// window when it came), lost in a crash, else unexplained.
    fn dropped(&self, key: Key, e: &SentEvent) -> (Cause, String) {
        if let Some(found) = self.never_closed(key, e) {
            return found;
        }
        if self.job.mode.view() == View::DeviceTime {
            if let Some(found) = self.behind_the_watermark(key, e) {
                return found;
            }
        }
        if let Some(crash) = self.crash_before_reading(e) {
            let fault = crash.the_fault();
            let when = if e.sent_at < crash.killed_at {
                format!("{} before {fault}", seconds(crash.killed_at - e.sent_at))
            } else {
                format!("{} after {fault}, before it read again", seconds(e.sent_at - crash.killed_at))
            };
            return (Cause::LostInCrash, format!("sent {when}, lost to {fault}"));
        }
        let why = match (e.fault, self.job.mode.view()) {
            (Fault::Late | Fault::OutOfOrder, View::DeviceTime) => {
                format!("{}, but no watermark of this engine could have passed its window when it came", self.how_far_back(e))
            }
            _ => "on time, counted nowhere".into(),
        };
        (Cause::Unexplained, why)
    }

    /// `e` in a window that never closed, for an engine whose windows close only on a later event of
    /// their key (`per-key`): its device sent nothing past the window's end and the bound (the
    /// engine's grace: out-of-orderness and allowed lateness), in the job's view.
    fn never_closed(&self, key: Key, e: &SentEvent) -> Option<(Cause, String)> {
        let s = self.setting;
        let closes_at = key.0 + s.out_of_orderness_ms + s.allowed_lateness_ms;
        let latest = self.log.latest.get(&*e.device).copied().unwrap_or(i64::MIN);
        (self.job.watermark == WatermarkScope::PerKey && latest < closes_at).then(|| {
            let short = seconds(closes_at - latest);
            (Cause::NeverClosed, format!("its device's latest time stops {short} short of its window's end and the bound: no later event of its key closed it"))
        })
    }

    /// `e` dropped as late, if the engine's watermark could have passed its window (with the
    /// allowed lateness) when it came: its own partition's events had gone a bound past it by
    /// then; or, for a watermark over every partition (or one that goes on without a partition
    /// silent for its idle timeout), the others' had: sent before it (read together), or after it
    /// (its partition read that far behind them); for windows closed on the wall clock, the stream
    /// had got that far (the job read it that far behind).
    fn behind_the_watermark(&self, key: Key, e: &SentEvent) -> Option<(Cause, String)> {
        let s = self.setting;
        // The latest time the watermark must have seen: its bound past the window's end (and the
        // allowed lateness), or, for an engine that drops whatever is behind it, past the event's own time.
        let passed = match self.job.late_drop {
            LateDrop::AfterItsWindow => key.0 + s.allowed_lateness_ms + s.out_of_orderness_ms,
            LateDrop::BehindTheWatermark => self.job.mode.view().time_of(e) + s.allowed_lateness_ms + s.out_of_orderness_ms + 1,
        };
        let partition = s.partition(&e.device);
        let as_faulted = match e.fault {
            Fault::Late => Cause::Late,
            Fault::OutOfOrder => Cause::OutOfOrder,
            _ => Cause::Overtaken,
        };
        let progress = self.progress;
        if progress.reached(Some(partition), passed).is_some_and(|at| at <= e.sent_at) {
            let how = match e.fault {
                Fault::Late | Fault::OutOfOrder => format!("{}, past the bound", self.how_far_back(e)),
                _ => format!("on time, but its partition {partition} had gone past its window and the bound before it was sent"),
            };
            return Some((as_faulted, how));
        }
        let silent = progress.silent_before(partition, e);
        let over_others = match self.job.watermark {
            WatermarkScope::AllPartitions | WatermarkScope::WallClock => true,
            WatermarkScope::PerActivePartition => silent >= s.idle_timeout_ms,
            WatermarkScope::PerPartition | WatermarkScope::PerKey => false,
            WatermarkScope::PerKeyWallClock => return self.read_behind(passed, e),
        };
        let at = progress.reached(None, passed).filter(|_| over_others)?;
        let whose = match self.job.watermark {
            WatermarkScope::PerActivePartition => format!("its partition {partition} silent {} before it", seconds(silent)),
            _ => format!("its partition {partition}"),
        };
        let how = self.how_far_back(e);
        let behind = at - e.sent_at;
        // For a wall clock, the stream's own progress stands for it: device times follow it on a live clock.
        Some(match (self.job.watermark, at <= e.sent_at) {
            (WatermarkScope::WallClock, true) => (as_faulted, format!("{how}; sent once the wall clock had passed its window and the bound")),
            (WatermarkScope::WallClock, false) => {
                (Cause::Overtaken, format!("{how}; read at least {behind} ms after it was sent, once the wall clock had passed its window and the bound"))
            }
            (_, true) => (as_faulted, format!("{how}; {whose}, the other partitions past its window when it came")),
            (_, false) => (Cause::Overtaken, format!("{how}; {whose} read at least {behind} ms behind the others, whose watermark had passed its window")),
        })
    }

    /// `e` dropped behind a watermark that goes on with the wall clock (`per-key-wall-clock`): the
    /// stream had gone the bound past `passed` no later than the job may have read `e`, which is no
    /// further behind its sending than the job may have lagged: as far as its rows came after their
    /// windows' ends beyond the bound, and a window more (a job that falls behind and catches up
    /// between two windows' ends shows it in no row). What was sent before a crashed job read again
    /// is the crash's.
    fn read_behind(&self, passed: i64, e: &SentEvent) -> Option<(Cause, String)> {
        if self.crash_before_reading(e).is_some() {
            return None;
        }
        let s = self.setting;
        let lagged = (self.reading.emitted_late_ms - s.out_of_orderness_ms - s.allowed_lateness_ms).max(0) + s.window_ms;
        let behind = (self.progress.reached(None, passed)? - e.sent_at).max(0);
        (behind <= lagged).then(|| {
            let how = format!("{}; read at least {behind} ms after it was sent (the job may have lagged {lagged} ms)", self.how_far_back(e));
            (Cause::Overtaken, format!("{how}, its key's watermark gone on with the wall clock past it"))
        })
    }

    /// The job's crash, if `e` was sent before the job was reading again after it.
    fn crash_before_reading(&self, e: &SentEvent) -> Option<CrashRecord> {
        self.job.crash.filter(|c| e.sent_at < c.reading_again_at())
    }

    /// What the simulator did to `e`'s time: "131 s late", "held back 1.4 s", "on time".
    fn how_far_back(&self, e: &SentEvent) -> String {
        let ms = self.log.held_back.get(e.id.as_str()).copied().unwrap_or(0);
        match e.fault {
            Fault::Late => format!("{} s late", (ms as f64 / 1000.0).round()),
            Fault::OutOfOrder => format!("held back {}", seconds(ms)),
            _ => "on time".into(),
        }
    }
}

fn note(e: &SentEvent, side: Side, cause: Cause, detail: String) -> EventNote {
    EventNote { id: e.id.clone(), side, cause, dt: Some(e.dt), sent_at: Some(e.sent_at), fault: Some(e.fault), m1: e.m1, detail }
}

/// Row `key`'s exception: its events, and what is wrong with the row itself.
fn exception(key: Key, truth: Option<Aggregate>, result: Option<Aggregate>, events: Vec<EventNote>, problems: Vec<(Cause, String)>) -> Exception {
    let of = |cause| events.iter().filter(|n| n.cause == cause).count() as u64;
    let (lost, doubled, overtaken) = (of(Cause::LostInCrash), of(Cause::CountedTwice), of(Cause::Overtaken));
    let mut causes: Vec<Cause> = events.iter().map(|n| n.cause).chain(problems.iter().map(|p| p.0)).collect::<BTreeSet<_>>().into_iter().collect();
    // Unexplained first: it is what a reader must see.
    causes.sort_by_key(|c| c.explains());
    let mut parts: Vec<String> = problems.into_iter().map(|p| p.1).collect();
    parts.extend(describe(key.1, &events));
    let (window_end, device, category) = (key.0, key.1.to_string(), key.2.to_string());
    Exception { window_end, device, category, truth, result, causes, why: parts.join("; "), lost, doubled, overtaken, events }
}

/// The events of one row in words, a part per cause and side: how many, and the first few ids
/// (by their number after the row's device) with what shows the cause.
fn describe(device: &str, events: &[EventNote]) -> Vec<String> {
    let mut groups: BTreeMap<(bool, Cause, Side), Vec<&EventNote>> = BTreeMap::new();
    for n in events {
        groups.entry((n.cause.explains(), n.cause, n.side)).or_default().push(n);
    }
    groups
        .into_iter()
        .map(|((_, cause, side), notes)| {
            let n = notes.len();
            let s = if n == 1 { "" } else { "s" };
            let what = match (cause, side) {
                (Cause::Duplicate, _) => format!("{n} duplicate{s} counted"),
                (Cause::Late, _) => format!("{n} late event{s} dropped"),
                (Cause::OutOfOrder, _) => format!("{n} out-of-order event{s} dropped"),
                (Cause::Overtaken, _) => format!("{n} on-time event{s} dropped as late"),
                (Cause::Boundary | Cause::EndInclusive, Side::Missing) => format!("{n} event{s} counted in another window"),
                (Cause::Boundary | Cause::EndInclusive, Side::Extra) => format!("{n} event{s} of another window counted here"),
                (Cause::LostInCrash, _) => format!("{n} event{s} lost in the crash"),
                (Cause::CountedTwice, _) => format!("{n} event{s} counted twice after the restart"),
                (Cause::NeverClosed, _) => format!("{n} event{s} in a window its key never closed"),
                (Cause::UnknownId, _) => format!("{n} unknown id{s} counted"),
                (_, Side::Missing) => format!("{n} event{s} missing, UNEXPLAINED"),
                (_, Side::Extra) => format!("{n} event{s} counted too often, UNEXPLAINED"),
            };
            let shown: Vec<String> = notes.iter().take(EVENTS_NAMED).map(|n| format!("{}: {}", short_id(device, &n.id), n.detail)).collect();
            let more = if n > EVENTS_NAMED { format!("; +{} more", n - EVENTS_NAMED) } else { String::new() };
            format!("{what} ({}{more})", shown.join("; "))
        })
        .collect()
}

/// How many events of a cause a row's `why` names.
const EVENTS_NAMED: usize = 2;

/// An id as a row's line shows it: `#12` for the row's device's twelfth message.
fn short_id(device: &str, id: &str) -> String {
    id.strip_prefix(device).and_then(|rest| rest.strip_prefix('-')).map_or_else(|| id.to_string(), |n| format!("#{n}"))
}

fn seconds(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// The count and sums of `events`.
fn aggregate(events: &[&SentEvent]) -> Aggregate {
    events.iter().fold(Aggregate::default(), |a, e| Aggregate { count: a.count + 1, m1_sum: a.m1_sum + e.m1, m2_sum: a.m2_sum + e.m2 })
}

fn same(truth: Option<&Aggregate>, result: Option<&Aggregate>) -> bool {
    match (truth, result) {
        (Some(t), Some(r)) => super::same(t, r),
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
#[path = "ids_tests.rs"]
mod tests;
