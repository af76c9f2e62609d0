//! The reference engine's operator: tumbling windows keyed by (device,
//! category), deduplication by message id, and the watermark (given by the
//! Kafka loop in `mod.rs`, from `engines::watermark`) that fires windows and
//! drops what arrives after their allowed lateness. Pure logic.

use crate::intern::{FastMap, FastSet, Interner};
use crate::model::{window_end, Aggregate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A window row ready to be written out.
pub struct Emit<'a> {
    pub window_end: i64,
    pub device: &'a str,
    pub category: &'a str,
    pub agg: &'a Aggregate,
    /// The ids of the events it counted, where the job names them.
    pub ids: &'a [Box<str>],
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub accepted: u64,
    pub duplicates_dropped: u64,
    pub late_dropped: u64,
}

#[derive(Default)]
struct Window {
    cells: FastMap<(u32, u32), Cell>,
    fired: bool,
}

/// One device and category of a window: its aggregate, and the ids of the events it counted where
/// the job names them.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Cell {
    agg: Aggregate,
    ids: Vec<Box<str>>,
}

pub struct Windows {
    window_ms: i64,
    lateness_ms: i64,
    watermark: i64,
    open: BTreeMap<i64, Window>,
    /// Message id hash → the time after which a resend can no longer reach an
    /// open window; forgotten then, which bounds the dedup state.
    seen: FastMap<u64, i64>,
    forgotten_at: i64,
    devices: Interner,
    categories: Interner,
    pub counters: Counters,
    /// What changed since the last snapshot: the windows fired or added to (and in each, the
    /// cells added to), and the ids remembered.
    changed: BTreeMap<i64, CellKeys>,
    remembered: Vec<(u64, i64)>,
}

/// A window's aggregate of one device and category.
type SnapshotCell = (String, String, Cell);
/// Some cells of a window, by device and category number.
type CellKeys = FastSet<(u32, u32)>;
/// Ids by the time until which they are remembered.
type IdsByTime = Vec<(i64, Vec<u64>)>;

/// The operator's state as plain data: what the engine commits with its output and its input
/// offsets, so that a restarted engine carries on exactly where the last commit left it. Either
/// the whole state, or what changed since the snapshot before it: the windows and cells changed,
/// the ids remembered, and the watermark and counters now. What the operator forgot in between
/// (windows past their lateness, ids past their time) follows from the watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    watermark: i64,
    forgotten_at: i64,
    /// Windows: end, fired, and per (device, category) its aggregate.
    windows: Vec<(i64, bool, Vec<SnapshotCell>)>,
    /// Ids remembered, by the time until which they are (one per window in event time): each id
    /// is a number in JSON, not a pair.
    seen: IdsByTime,
    counters: Counters,
}

fn by_time(ids: impl Iterator<Item = (u64, i64)>) -> IdsByTime {
    let mut grouped: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for (id, until) in ids {
        grouped.entry(until).or_default().push(id);
    }
    grouped.into_iter().collect()
}

/// An event as the window operator takes it.
pub struct Arrival<'a> {
    /// Its time in the job's mode.
    pub t: i64,
    pub id_hash: u64,
    /// How long its id is kept for dedup (event time: until its window is gone; processing time: a horizon).
    pub remember_until: i64,
    pub device: &'a str,
    pub category: &'a str,
    pub m1: i64,
    pub m2: f64,
    /// Its id, kept where the job names the events each window counted.
    pub id: Option<&'a str>,
}

impl Windows {
    /// The whole state; what changes from now on goes into the next `changes`.
    pub fn snapshot(&mut self) -> Snapshot {
        self.changed.clear();
        self.remembered.clear();
        let whole = self.open.iter().map(|(&end, w)| (end, w, w.cells.keys().copied().collect()));
        self.snapshot_of(whole.collect(), by_time(self.seen.iter().map(|(&id, &until)| (id, until))))
    }

    /// What changed since the last `snapshot` or `changes`: applied to that, it gives the state now.
    pub fn changes(&mut self) -> Snapshot {
        let changed = std::mem::take(&mut self.changed);
        let seen = by_time(self.remembered.drain(..));
        let windows = changed.into_iter().filter_map(|(end, cells)| self.open.get(&end).map(|w| (end, w, cells)));
        self.snapshot_of(windows.collect(), seen)
    }

    fn snapshot_of(&self, windows: Vec<(i64, &Window, CellKeys)>, seen: IdsByTime) -> Snapshot {
        let name = |i: &Interner, n: u32| i.name(n).to_string();
        let cells =
            |w: &Window, keys: CellKeys| keys.into_iter().map(|(d, c)| (name(&self.devices, d), name(&self.categories, c), w.cells[&(d, c)].clone())).collect();
        Snapshot {
            watermark: self.watermark,
            forgotten_at: self.forgotten_at,
            windows: windows.into_iter().map(|(end, w, keys)| (end, w.fired, cells(w, keys))).collect(),
            seen,
            counters: self.counters,
        }
    }

    /// Brings the operator to the state `snapshot` gives: a whole one on a new operator, then
    /// each change after it, in order.
    pub fn apply(&mut self, snapshot: Snapshot) {
        let forgot_more = snapshot.forgotten_at != self.forgotten_at;
        self.watermark = snapshot.watermark;
        self.forgotten_at = snapshot.forgotten_at;
        for (end, fired, cells) in snapshot.windows {
            let window = self.open.entry(end).or_default();
            window.fired = fired;
            for (device, category, cell) in cells {
                window.cells.insert((self.devices.id(&device), self.categories.id(&category)), cell);
            }
        }
        for (until, ids) in snapshot.seen {
            for id in ids {
                // A resend remembers its id for longer (processing time: from its own arrival), never shorter.
                self.seen.entry(id).and_modify(|u| *u = (*u).max(until)).or_insert(until);
            }
        }
        self.counters = snapshot.counters;
        // What the operator had forgotten by then, as `advance` forgets it: ids only when it did
        // (an id remembered since is remembered past it), not over every id at each change.
        self.open = self.open.split_off(&(self.watermark.saturating_sub(self.lateness_ms) + 1));
        if forgot_more {
            let forgotten_at = self.forgotten_at;
            self.seen.retain(|_, &mut until| until > forgotten_at);
        }
    }

    pub fn new(window_ms: i64, lateness_ms: i64) -> Self {
        Windows {
            window_ms,
            lateness_ms,
            watermark: i64::MIN,
            open: BTreeMap::new(),
            seen: FastMap::default(),
            forgotten_at: i64::MIN,
            devices: Interner::default(),
            categories: Interner::default(),
            counters: Counters::default(),
            changed: BTreeMap::new(),
            remembered: Vec::new(),
        }
    }

    /// Adds one event. A window that has already fired is re-emitted at once (a late firing).
    pub fn add(&mut self, e: Arrival, emit: &mut impl FnMut(Emit)) {
        let Arrival { t, id_hash, remember_until, device, category, m1, m2, id } = e;
        let end = window_end(t, self.window_ms);
        if end + self.lateness_ms <= self.watermark {
            self.counters.late_dropped += 1;
            return;
        }
        let until = remember_until.max(end + self.lateness_ms);
        self.remembered.push((id_hash, until));
        if self.seen.insert(id_hash, until).is_some() {
            self.counters.duplicates_dropped += 1;
            return;
        }
        self.counters.accepted += 1;
        let key = (self.devices.id(device), self.categories.id(category));
        self.changed.entry(end).or_default().insert(key);
        let window = self.open.entry(end).or_default();
        let cell = window.cells.entry(key).or_default();
        cell.agg.count += 1;
        cell.agg.m1_sum += m1;
        cell.agg.m2_sum += m2;
        cell.ids.extend(id.map(Box::from));
        if window.fired {
            emit(Emit { window_end: end, device: self.devices.name(key.0), category: self.categories.name(key.1), agg: &cell.agg, ids: &cell.ids });
        }
    }

    /// Moves the watermark forward (never back): fires every window that ends
    /// at or before it, and forgets windows past their allowed lateness.
    pub fn advance(&mut self, watermark: i64, emit: &mut impl FnMut(Emit)) {
        if watermark <= self.watermark {
            return;
        }
        self.watermark = watermark;
        for (&end, window) in self.open.range_mut(..=watermark) {
            if window.fired {
                continue;
            }
            window.fired = true;
            self.changed.entry(end).or_default();
            for (&(d, c), cell) in &window.cells {
                emit(Emit { window_end: end, device: self.devices.name(d), category: self.categories.name(c), agg: &cell.agg, ids: &cell.ids });
            }
        }
        let expired = watermark - self.lateness_ms;
        if self.open.first_key_value().is_some_and(|(&end, _)| end <= expired) {
            self.open = self.open.split_off(&(expired + 1));
        }
        if watermark.saturating_sub(self.forgotten_at) >= self.window_ms {
            self.seen.retain(|_, &mut until| until > watermark);
            self.forgotten_at = watermark;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (i64, String, i64, i64);

    fn collect(out: &mut Vec<Row>) -> impl FnMut(Emit) + '_ {
        |e: Emit| out.push((e.window_end, e.device.to_string(), e.agg.count, e.agg.m1_sum))
    }

    /// Feeds (t, id, m1) of device "d" in order with watermark = max t − bound, like the engine does.
    /// An event of category `cat-1` whose m2 is its m1.
    fn arrival(t: i64, id_hash: u64, remember_until: i64, device: &str, m1: i64) -> Arrival<'_> {
        Arrival { t, id_hash, remember_until, device, category: "cat-1", m1, m2: m1 as f64, id: None }
    }

    fn feed(w: &mut Windows, events: &[(i64, u64, i64)], bound: i64) -> Vec<Row> {
        let mut out = Vec::new();
        feed_from(w, events, i64::MIN, bound, |_| "d", &mut out);
        out
    }

    /// `feed`, the watermark carried on from `max_t` and each event's device named by `device`; gives the latest time.
    fn feed_from(w: &mut Windows, events: &[(i64, u64, i64)], mut max_t: i64, bound: i64, device: fn(u64) -> &'static str, out: &mut Vec<Row>) -> i64 {
        for &(t, id, m1) in events {
            w.add(arrival(t, id, 0, device(id), m1), &mut collect(out));
            max_t = max_t.max(t);
            w.advance(max_t - bound, &mut collect(out));
        }
        max_t
    }

    #[test]
    fn in_order_events_fire_when_the_watermark_passes_the_end() {
        let mut w = Windows::new(5000, 0);
        let out = feed(&mut w, &[(1000, 1, 10), (4000, 2, 5), (5800, 3, 1)], 1000);
        assert!(out.is_empty(), "the watermark (5800 - 1000) has not reached 5000 yet");
        let out = feed(&mut w, &[(6000, 4, 2)], 1000);
        assert_eq!(out, vec![(5000, "d".to_string(), 2, 15)]);
    }

    #[test]
    fn out_of_order_within_the_bound_is_counted_beyond_it_dropped() {
        let mut w = Windows::new(5000, 0);
        // 4900 arrives after 5800: 900 ms out of order, within the 1 s bound.
        // 4950 arrives after 6100: the watermark (5100) has passed its window.
        let out = feed(&mut w, &[(1000, 1, 1), (5800, 2, 1), (4900, 3, 10), (6100, 4, 1), (4950, 5, 100), (9000, 6, 1)], 1000);
        assert_eq!(out, vec![(5000, "d".to_string(), 2, 11)]);
        assert_eq!(w.counters.late_dropped, 1);
    }

    #[test]
    fn allowed_lateness_keeps_windows_and_fires_again() {
        let mut w = Windows::new(5000, 3000);
        let out = feed(&mut w, &[(1000, 1, 1), (6500, 2, 1), (2000, 3, 10), (9500, 4, 1), (3000, 5, 100)], 1000);
        // First firing at watermark 5500, then a late firing for the event at 2000.
        // At 9500 the watermark is 8500 ≥ 5000 + 3000: the window is gone and 3000 is dropped.
        assert_eq!(out, vec![(5000, "d".to_string(), 1, 1), (5000, "d".to_string(), 2, 11)]);
        assert_eq!((w.counters.late_dropped, w.open.len()), (1, 1));
    }

    #[test]
    fn duplicates_are_dropped_while_their_window_lives() {
        let mut w = Windows::new(5000, 0);
        let out = feed(&mut w, &[(1000, 7, 33), (2000, 8, 1), (1000, 7, 33), (7000, 9, 1)], 1000);
        assert_eq!(out, vec![(5000, "d".to_string(), 2, 34)]);
        assert_eq!(w.counters.duplicates_dropped, 1);
        // The window is gone, so is the id: a later resend is dropped as late, never counted.
        feed(&mut w, &[(1000, 7, 33)], 1000);
        assert_eq!((w.counters.late_dropped, w.seen.len()), (1, 1));
    }

    /// Events of two devices, with a resend, a late firing and windows forgotten on the way.
    const EVENTS: [(i64, u64, i64); 9] =
        [(1000, 1, 1), (6500, 2, 1), (2000, 3, 10), (2000, 3, 10), (9500, 4, 1), (3000, 5, 100), (12_000, 6, 7), (11_000, 7, 2), (21_000, 8, 1)];

    /// Devices "d" and "e", by the parity of the id.
    fn two_devices(id: u64) -> &'static str {
        if id.is_multiple_of(2) {
            "d"
        } else {
            "e"
        }
    }

    #[test]
    fn a_whole_snapshot_and_the_changes_after_it_restore_the_operator_at_every_cut() {
        let mut uncut = Windows::new(5000, 3000);
        let mut expected = Vec::new();
        feed_from(&mut uncut, &EVENTS, i64::MIN, 1000, two_devices, &mut expected);
        expected.sort();
        for whole_at in 0..=EVENTS.len() {
            for changes_at in whole_at..=EVENTS.len() {
                let mut before = Windows::new(5000, 3000);
                let mut out = Vec::new();
                let mut max_t = feed_from(&mut before, &EVENTS[..whole_at], i64::MIN, 1000, two_devices, &mut out);
                let whole = before.snapshot();
                max_t = feed_from(&mut before, &EVENTS[whole_at..changes_at], max_t, 1000, two_devices, &mut out);
                let mut after = Windows::new(5000, 3000);
                after.apply(whole);
                after.apply(before.changes());
                // The restored operator's watermark stays where it was, as a real restart's would.
                feed_from(&mut after, &EVENTS[changes_at..], max_t, 1000, two_devices, &mut out);
                // A window's cells come in the order of a hash map.
                out.sort();
                assert_eq!((&out, after.counters), (&expected, uncut.counters), "whole after {whole_at} events, changes after {changes_at}");
                assert_eq!((after.open.len(), after.seen.len()), (uncut.open.len(), uncut.seen.len()), "nothing forgotten kept");
            }
        }
    }

    #[test]
    fn changes_hold_what_changed_since_the_last_snapshot_only() {
        let mut w = Windows::new(5000, 0);
        let mut out = Vec::new();
        feed_from(&mut w, &EVENTS[..3], i64::MIN, 1000, two_devices, &mut out);
        w.snapshot();
        feed_from(&mut w, &[(6600, 10, 5)], 6500, 1000, two_devices, &mut out);
        let changes = w.changes();
        let cells: Vec<(i64, usize)> = changes.windows.iter().map(|(end, _, cells)| (*end, cells.len())).collect();
        assert_eq!((cells, changes.seen), (vec![(10_000, 1)], vec![(10_000, vec![10])]));
        assert_eq!(w.changes().windows.len(), 0, "nothing since");
    }

    #[test]
    fn processing_time_dedup_remembers_ids_for_the_horizon() {
        let mut w = Windows::new(5000, 0);
        let mut out = Vec::new();
        w.add(arrival(1000, 1, 60_000, "d", 5), &mut collect(&mut out));
        w.advance(7000, &mut collect(&mut out));
        w.add(arrival(8000, 1, 60_000, "d", 5), &mut collect(&mut out));
        assert_eq!(w.counters.duplicates_dropped, 1, "resent 7 s later, within the horizon");
        w.advance(61_000, &mut collect(&mut out));
        w.add(arrival(62_000, 1, 120_000, "d", 5), &mut collect(&mut out));
        assert_eq!(w.counters.accepted, 2, "past the horizon the id is forgotten");
    }
}
