//! A run by groups of devices: every event and row of a device in one group, so that a run too
//! big to hold whole as rows and events is compared and kept a group at a time. A run held whole
//! is one group (`Whole`); a run held as numbers (`HeldRun`: the log and rows `run` gathers, or a
//! stored run read back) is made rows and events one group at a time.

use crate::intern::Interner;
use crate::model::{id_hash, Aggregate, Fault, JobRecord, Metric, Mode, ResultRow, RunRecord, SentEvent};
use std::borrow::Cow;
use std::sync::Arc;

/// About how many events a group of devices holds: a group's events, truth and rows as the store
/// keeps them are a few hundred bytes per event.
const EVENTS_PER_GROUP: usize = 250_000;

/// How many groups of devices a run of `events` events is read in.
pub fn groups_for(events: usize) -> usize {
    events.div_ceil(EVENTS_PER_GROUP).max(1)
}

/// A run's event log read back, held as numbers (names numbered once, the ids in one text) and
/// handed out a group of devices at a time (`grouped`; until then, one group).
#[derive(Debug, Default)]
pub struct Log {
    names: Interner,
    ids: String,
    events: Vec<Logged>,
    /// Each group's events, by their place in `events`.
    by_group: Vec<Vec<u32>>,
}

/// One event of a `Log`; its id ends at `id_end` in the log's ids, where the one before it ends.
#[derive(Debug)]
struct Logged {
    id_end: usize,
    device: u32,
    category: u32,
    dt: i64,
    sent_at: i64,
    m1: i64,
    m2: f64,
    fault: Fault,
}

impl Log {
    /// Adds the next event sent.
    pub fn push(&mut self, e: &SentEvent) {
        self.ids.push_str(&e.id);
        let (device, category) = (self.names.id(&e.device), self.names.id(&e.category));
        let (dt, sent_at, m1, m2, fault) = (e.dt, e.sent_at, e.m1, e.m2, e.fault);
        self.events.push(Logged { id_end: self.ids.len(), device, category, dt, sent_at, m1, m2, fault });
    }

    /// The log in `groups` groups of devices (`device_group`).
    pub fn grouped(mut self, groups: usize) -> Log {
        let group_of = device_groups(self.names.names(), groups);
        self.by_group = vec![Vec::new(); groups];
        for (i, e) in self.events.iter().enumerate() {
            self.by_group[group_of[e.device as usize]].push(i as u32);
        }
        self
    }

    fn event(&self, i: usize) -> SentEvent {
        let e = &self.events[i];
        let id_start = i.checked_sub(1).map_or(0, |before| self.events[before].id_end);
        let names = self.names.names();
        SentEvent {
            id: self.ids[id_start..e.id_end].to_string(),
            device: names[e.device as usize].clone(),
            category: names[e.category as usize].clone(),
            dt: e.dt,
            sent_at: e.sent_at,
            m1: e.m1,
            m2: e.m2,
            fault: e.fault,
        }
    }
}

impl GroupedLog for Log {
    fn events(&self) -> usize {
        self.events.len()
    }

    /// Until `grouped`, one group.
    fn groups(&self) -> usize {
        self.by_group.len().max(1)
    }

    fn group(&self, g: usize) -> Vec<SentEvent> {
        match &self.by_group[..] {
            [] if g == 0 => (0..self.events.len()).map(|i| self.event(i)).collect(),
            groups => groups.get(g).map_or(Vec::new(), |events| events.iter().map(|&i| self.event(i as usize)).collect()),
        }
    }
}

/// A result row's key, its names numbered (`Interner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowId {
    pub engine: u32,
    pub mode: Mode,
    pub window_end: i64,
    pub device: u32,
    pub category: u32,
}

/// A row's emissions folded: the latest value (and the events it names), how many, the first and
/// the last (§5).
#[derive(Debug, Clone)]
pub struct Folded {
    pub agg: Aggregate,
    pub emissions: i64,
    pub first_emitted_at: i64,
    pub last_emitted_at: i64,
    pub ids: Option<CountedIds>,
}

/// The ids a result row names, held as numbers: an id of the row's own device, as the simulator
/// names them (`DEVICE-N`), by its number; any other whole, an id the stream may never have had.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountedIds {
    own: Vec<u32>,
    other: Vec<Box<str>>,
}

impl CountedIds {
    /// The ids of a row of `device`.
    pub fn of<'a>(device: &str, ids: impl IntoIterator<Item = &'a str>) -> CountedIds {
        let mut held = CountedIds::default();
        for id in ids {
            let n = id.strip_prefix(device).and_then(|rest| rest.strip_prefix('-')).and_then(|n| n.parse::<u32>().ok().filter(|v| v.to_string() == n));
            match n {
                Some(n) => held.own.push(n),
                None => held.other.push(id.into()),
            }
        }
        held
    }

    /// The ids again, each as it was read: those of `device`, then the others.
    pub fn names(&self, device: &str) -> Vec<String> {
        self.own.iter().map(|n| format!("{device}-{n}")).chain(self.other.iter().map(|id| id.to_string())).collect()
    }
}

/// Result rows held as numbers (names numbered once, each row a fixed-size entry), made rows as
/// the store keeps them a group of devices at a time (`grouped`; until then, one group): the rows
/// the collector folded, or a stored run's read back.
#[derive(Debug, Default)]
pub struct Rows {
    names: Interner,
    rows: Vec<(RowId, Folded)>,
    /// Where each group's rows start in `rows`, and where the last ends.
    starts: Vec<usize>,
}

impl Rows {
    /// Rows folded already, one per key, their names numbered by `names`.
    pub fn folded(names: Interner, rows: Vec<(RowId, Folded)>) -> Rows {
        Rows { names, rows, starts: Vec::new() }
    }

    /// Adds a row read back, one per key.
    pub fn push(&mut self, r: &ResultRow) {
        let id = RowId {
            engine: self.names.id(&r.engine),
            mode: r.mode,
            window_end: r.window_end,
            device: self.names.id(&r.device),
            category: self.names.id(&r.category),
        };
        let (agg, emissions, first_emitted_at, last_emitted_at) = (r.agg.clone(), r.emissions, r.first_emitted_at, r.last_emitted_at);
        let ids = r.ids.as_ref().map(|ids| CountedIds::of(&r.device, ids.iter().map(String::as_str)));
        self.rows.push((id, Folded { agg, emissions, first_emitted_at, last_emitted_at, ids }));
    }

    /// The rows ordered by the group of their device, in `groups` groups (`device_group`).
    pub fn grouped(mut self, groups: usize) -> Rows {
        let group_of = device_groups(self.names.names(), groups);
        self.rows.sort_unstable_by_key(|(id, _)| (group_of[id.device as usize], *id));
        self.starts = (0..=groups).map(|g| self.rows.partition_point(|(id, _)| group_of[id.device as usize] < g)).collect();
        self
    }

    /// The rows of group `g`.
    pub fn group(&self, g: usize) -> Vec<ResultRow> {
        let name = |n: u32| self.names.name(n).to_string();
        let rows = match &self.starts[..] {
            [] if g == 0 => &self.rows[..],
            starts => starts.get(g).zip(starts.get(g + 1)).map_or(&[][..], |(&from, &to)| &self.rows[from..to]),
        };
        rows.iter()
            .map(|(id, f)| ResultRow {
                engine: name(id.engine),
                mode: id.mode,
                window_end: id.window_end,
                device: name(id.device),
                category: name(id.category),
                agg: f.agg.clone(),
                emissions: f.emissions,
                first_emitted_at: f.first_emitted_at,
                last_emitted_at: f.last_emitted_at,
                ids: f.ids.as_ref().map(|ids| ids.names(self.names.name(id.device))),
            })
            .collect()
    }
}

/// A run's event log and result rows a group of devices at a time, every event and row of a device
/// in one group: what is compared row by row, each row one device's, so that a run too big to hold
/// whole as rows and events is compared a group at a time. A run held whole is one group (`Whole`).
pub trait DeviceGroups {
    /// How many events the log holds, in all groups.
    fn events(&self) -> usize;
    fn count(&self) -> usize;
    fn group(&self, g: usize) -> Group<'_>;
}

/// One group of devices: its events in the order sent, and its result rows.
pub struct Group<'a> {
    pub events: Cow<'a, [SentEvent]>,
    pub results: Cow<'a, [ResultRow]>,
}

/// A run held whole, as one group.
pub struct Whole<'a> {
    pub events: &'a [SentEvent],
    pub results: &'a [ResultRow],
}

impl DeviceGroups for Whole<'_> {
    fn events(&self) -> usize {
        self.events.len()
    }

    fn count(&self) -> usize {
        1
    }

    fn group(&self, _: usize) -> Group<'_> {
        Group { events: Cow::Borrowed(self.events), results: Cow::Borrowed(self.results) }
    }
}

/// One job's share of a run's groups: the events, and the job's own rows.
pub struct OfJob<'a> {
    pub groups: &'a dyn DeviceGroups,
    pub job: &'a JobRecord,
}

impl DeviceGroups for OfJob<'_> {
    fn events(&self) -> usize {
        self.groups.events()
    }

    fn count(&self) -> usize {
        self.groups.count()
    }

    fn group(&self, g: usize) -> Group<'_> {
        let Group { events, results } = self.groups.group(g);
        let (engine, mode) = (&self.job.engine, self.job.mode);
        Group { events, results: results.iter().filter(|r| &r.engine == engine && r.mode == mode).cloned().collect() }
    }
}

/// Which of `groups` groups a device's events and rows are in: the same for a name wherever it is read.
pub fn device_group(device: &str, groups: usize) -> usize {
    (id_hash(device) % groups as u64) as usize
}

/// The group of each device of a list numbered by its place in it.
pub fn device_groups(devices: &[Arc<str>], groups: usize) -> Vec<usize> {
    devices.iter().map(|d| device_group(d, groups)).collect()
}

/// An event log that hands out its events a group of devices at a time.
pub trait GroupedLog {
    /// How many events it holds, in all groups.
    fn events(&self) -> usize;
    fn groups(&self) -> usize;
    /// The events of group `g`, in the order sent.
    fn group(&self, g: usize) -> Vec<SentEvent>;
}

/// A run held as numbers: its record, what was measured, its event log and its result rows, made
/// rows and events a group of devices at a time. `run` holds what it gathered so (the plan and the
/// send times: `simulate::SentLog`), `compare` a stored run read back (`StoredRun`).
#[derive(Debug)]
pub struct HeldRun<L> {
    pub record: RunRecord,
    pub metrics: Vec<Metric>,
    pub log: L,
    pub rows: Rows,
}

/// A stored run read back for evaluation (the truth is computed from its events).
pub type StoredRun = HeldRun<Log>;

impl<L: GroupedLog> HeldRun<L> {
    /// The run, its rows grouped as `log` is.
    pub fn new(record: RunRecord, metrics: Vec<Metric>, log: L, rows: Rows) -> HeldRun<L> {
        let rows = rows.grouped(log.groups());
        HeldRun { record, metrics, log, rows }
    }
}

impl<L: GroupedLog> DeviceGroups for HeldRun<L> {
    fn events(&self) -> usize {
        self.log.events()
    }

    fn count(&self) -> usize {
        self.log.groups()
    }

    fn group(&self, g: usize) -> Group<'_> {
        Group { events: Cow::Owned(self.log.group(g)), results: Cow::Owned(self.rows.group(g)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: i64 = 36_000_000; // 10:00:00 on 1970-01-01, in ms
    #[test]
    fn a_log_held_as_numbers_gives_each_event_back_once_in_its_devices_group_in_the_order_sent() {
        let devices = ["a", "b", "c", "d", "e", "f", "g"];
        let log: Vec<SentEvent> = (0..40)
            .map(|i: i64| SentEvent {
                id: format!("{}-{i}", devices[i as usize % devices.len()]).repeat(1 + i as usize % 3),
                device: devices[i as usize % devices.len()].into(),
                category: if i % 2 == 0 { "cat-1".into() } else { "cat-2".into() },
                dt: TEN + i * 100,
                sent_at: TEN + i * 90,
                m1: i,
                m2: i as f64 / 4.0,
                fault: if i % 5 == 0 { Fault::Duplicate } else { Fault::None },
            })
            .collect();
        let mut held = Log::default();
        log.iter().for_each(|e| held.push(e));
        assert_eq!((held.group(0), held.group(1)), (log.clone(), vec![]), "until grouped, one group");
        let held = held.grouped(3);
        let groups: Vec<Vec<SentEvent>> = (0..3).map(|g| held.group(g)).collect();
        for (g, events) in groups.iter().enumerate() {
            assert!(events.iter().all(|e| device_group(&e.device, 3) == g), "group {g}");
            let in_log: Vec<SentEvent> = log.iter().filter(|e| device_group(&e.device, 3) == g).cloned().collect();
            assert_eq!(events, &in_log, "group {g}: every event of its devices, as sent");
        }
        assert!(groups.iter().filter(|g| !g.is_empty()).count() >= 2, "{groups:?}");
        assert!(held.group(3).is_empty());
    }
    #[test]
    fn rows_held_as_numbers_give_each_row_back_in_its_devices_group() {
        let rows: Vec<ResultRow> = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, device)| ResultRow {
                engine: if i % 2 == 0 { "native".into() } else { "flink".into() },
                mode: Mode::EventTime,
                window_end: TEN + 5000 * i as i64,
                device: device.to_string(),
                category: "cat-1".into(),
                agg: Aggregate { count: i as i64, m1_sum: 2, m2_sum: 0.5 },
                emissions: 1 + i as i64,
                first_emitted_at: TEN + 7000,
                last_emitted_at: TEN + 8000 + i as i64,
                ids: None,
            })
            .collect();
        let mut held = Rows::default();
        rows.iter().for_each(|r| held.push(r));
        assert_eq!((held.group(0), held.group(1)), (rows.clone(), vec![]), "until grouped, one group, as given");
        let held = held.grouped(2);
        let mut back: Vec<ResultRow> = (0..2).flat_map(|g| held.group(g).into_iter().inspect(move |r| assert_eq!(device_group(&r.device, 2), g))).collect();
        back.sort_by(|a, b| a.device.cmp(&b.device));
        assert_eq!(back, rows);
    }
}
