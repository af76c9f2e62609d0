//! The contract's records (docs/SPEC.md), in one place that depends on nothing
//! else of the project's: an event and a window result as they travel on the
//! topics (§2, §5), the window naming (§4), the simulator's log and truth (§3,
//! §4), the rows the collector keeps (§5), and the run as the store keeps it
//! (§8), with the modes and the engine statuses every part shares.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Device id of the end-of-stream events (§6); the comparison ignores it.
pub const FLUSH_DEVICE: &str = "__flush__";

/// One event as it travels on `events` (§2). Borrowed on decode so that an
/// engine's hot path does not allocate per record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub di: Cow<'a, str>,
    pub dt: i64,
    #[serde(borrow)]
    pub c: Cow<'a, str>,
    pub m1: i64,
    pub m2: f64,
}

impl<'a> Event<'a> {
    /// Decodes one record value; `None` for anything that is not a whole, well-typed event.
    pub fn decode(bytes: &'a [u8]) -> Option<Event<'a>> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        serde_json::to_writer(out, self).expect("an event always encodes");
    }
}

/// One window result as engines write it on `results` (§5); borrowed so that
/// an engine can emit without allocating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult<'a> {
    #[serde(borrow)]
    pub engine: Cow<'a, str>,
    pub mode: Mode,
    pub window_end: i64,
    #[serde(borrow)]
    pub di: Cow<'a, str>,
    #[serde(borrow)]
    pub c: Cow<'a, str>,
    pub count: i64,
    pub m1_sum: i64,
    pub m2_sum: f64,
    pub emitted_at: i64,
}

impl WindowResult<'_> {
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        serde_json::to_writer(out, self).expect("a result always encodes");
    }
}

/// 64-bit FNV-1a of a message id: engines remember ids by this hash, which
/// keeps dedup state small and allocation-free (collision odds ~1e-8 at 1M ids).
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// End of the tumbling window of length `w_ms` holding time `t_ms` (§4): an
/// event at 10:00:04 is in window 10:00:05.
pub fn window_end(t_ms: i64, w_ms: i64) -> i64 {
    t_ms.div_euclid(w_ms) * w_ms + w_ms
}

/// End of the tumbling window holding `t_ms` when the windows end at `phase_ms` past
/// multiples of `w_ms`: an engine whose windows start with its own clock (Storm's
/// processing-time windows) rather than on the clock's multiples of the window.
pub fn window_end_at_phase(t_ms: i64, w_ms: i64, phase_ms: i64) -> i64 {
    window_end(t_ms - phase_ms, w_ms) + phase_ms
}

/// The end, at `phase_ms` past multiples of `w_ms`, nearest to an engine's window end `end_ms`
/// (a timer fires a few ms late).
pub fn nearest_window_end(end_ms: i64, w_ms: i64, phase_ms: i64) -> i64 {
    (end_ms - phase_ms + w_ms / 2).div_euclid(w_ms) * w_ms + phase_ms
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for epoch milliseconds, as the original printed window_time (§7).
pub fn utc(t_ms: i64) -> String {
    let secs = t_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// What an engine windows by (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Windows by the device time `dt`, closed by a watermark.
    EventTime,
    /// Windows by the engine's wall clock when it reads the event.
    ProcessingTime,
    /// Windows by the Kafka record timestamp (the send time), closed by a watermark.
    IngestionTime,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::EventTime, Mode::ProcessingTime, Mode::IngestionTime];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::EventTime => "event-time",
            Mode::ProcessingTime => "processing-time",
            Mode::IngestionTime => "ingestion-time",
        }
    }

    /// The truth a mode is held to (§7): device time for event time, send time otherwise.
    pub fn view(self) -> View {
        match self {
            Mode::EventTime => View::DeviceTime,
            Mode::ProcessingTime | Mode::IngestionTime => View::SendTime,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| format!("no mode '{s}'"))
    }
}

/// The two views of the truth (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// Windows by device time: the right answer for an event-time engine.
    DeviceTime,
    /// Windows by send time: what a processing-time engine should come close to.
    SendTime,
}

impl View {
    pub const BOTH: [View; 2] = [View::DeviceTime, View::SendTime];

    pub fn as_str(self) -> &'static str {
        match self {
            View::DeviceTime => "devicetime",
            View::SendTime => "sendtime",
        }
    }

    pub fn parse(s: &str) -> Option<View> {
        View::BOTH.into_iter().find(|v| v.as_str() == s)
    }

    /// The time an event is windowed by in this view.
    pub fn time_of(self, e: &SentEvent) -> i64 {
        match self {
            View::DeviceTime => e.dt,
            View::SendTime => e.sent_at,
        }
    }
}

/// What the simulator did to a message (§3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    None,
    /// Device time far behind the send time.
    Late,
    /// An earlier message sent again, same id and device time.
    Duplicate,
    /// Held back and sent after later messages.
    OutOfOrder,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Late => "late",
            Fault::Duplicate => "duplicate",
            Fault::OutOfOrder => "out-of-order",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        [Fault::None, Fault::Late, Fault::Duplicate, Fault::OutOfOrder].into_iter().find(|f| f.as_str() == s)
    }
}

/// One record as it was really sent: the simulator's log (§8 `events`), which
/// turns every difference into a reason, event by event. A log holds each device and
/// category name once (`Names`), shared by the events that carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentEvent {
    pub id: String,
    pub device: Arc<str>,
    pub category: Arc<str>,
    pub dt: i64,
    /// Wall-clock send time (the Kafka record timestamp).
    pub sent_at: i64,
    pub m1: i64,
    pub m2: f64,
    pub fault: Fault,
}

impl SentEvent {
    /// Whether this send counts in the truth: the first of its id. The plan sends a resend after
    /// the message it repeats, and marks only the resend (simulate's
    /// `the_plan_is_in_send_order_and_resends_follow_their_original`), so that this is known event
    /// by event, without the ids of the whole log.
    pub fn counts(&self) -> bool {
        self.fault != Fault::Duplicate
    }
}

/// The device and category names of a log read back, each held once: a stream has few names and
/// many events.
#[derive(Default)]
pub struct Names(HashSet<Arc<str>>);

impl Names {
    pub fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.0.get(name) {
            return known.clone();
        }
        let new: Arc<str> = name.into();
        self.0.insert(new.clone());
        new
    }
}

/// A hash map for the per-event lookups (names, ids, window cells): foldhash, seeded per process
/// (without its `std` feature, from the address space), where SipHash took ~14% of the native
/// engine's reading thread on a backlog (docs/benchmarks.md).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Names seen once and referred to by number afterwards, numbered in the order first given: no
/// allocation per event or row.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FastMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = name.into();
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// The names, by their numbers.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// The names, by their numbers, handed over.
    pub fn into_names(self) -> Vec<Arc<str>> {
        self.names
    }
}

/// (window_end, device, category): the key every row of truth and results has.
pub type RowKey = (i64, String, String);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub count: i64,
    pub m1_sum: i64,
    pub m2_sum: f64,
}

/// One window of the truth, in one view (§4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthRow {
    pub view: View,
    pub window_end: i64,
    pub device: String,
    pub category: String,
    #[serde(flatten)]
    pub agg: Aggregate,
}

/// A crash the harness made during a job (a scenario with `crash = "engine"` or `"broker"`), in epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrashRecord {
    /// `kill -9` of the engine's process tree, or of a broker node.
    pub killed_at: i64,
    /// The same job, or the node, started again.
    pub restarted_at: i64,
    /// The job said it was ready again (the node: the cluster had all its nodes again); `None` if it never did.
    pub ready_again_at: Option<i64>,
    /// The broker node killed; `None`: the engine was.
    #[serde(default)]
    pub node: Option<i32>,
}

impl CrashRecord {
    /// When the job (or the cluster) was back: ready again, else started again.
    pub fn reading_again_at(&self) -> i64 {
        self.ready_again_at.unwrap_or(self.restarted_at).max(self.restarted_at)
    }
}

/// What an event-time engine's watermark is taken over (its `engine.toml` declares it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WatermarkScope {
    /// The least of the partitions' own watermarks: a partition read behind the others holds it back.
    #[default]
    PerPartition,
    /// The least of the active partitions' watermarks: a partition silent for the idle timeout (its
    /// leader down, say) stops holding it back, and what it brings later may be behind it.
    PerActivePartition,
    /// One watermark over everything the window operator reads (Storm's): a partition read behind
    /// the others has its on-time events dropped as late.
    AllPartitions,
}

/// One engine mode of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub engine: String,
    pub mode: Mode,
    /// `None` while the run is under way.
    pub status: Option<EngineStatus>,
    pub log: String,
    /// When its engine was killed and started again, in a crash scenario.
    #[serde(default)]
    pub crash: Option<CrashRecord>,
    /// What its engine's event-time watermark is taken over, as the engine declares it.
    #[serde(default)]
    pub watermark: WatermarkScope,
    /// The window of its end-of-stream row (§6); in processing time, the window of the wall
    /// clock in which it read the stream's end. `None`: the row never came.
    #[serde(default)]
    pub end_of_stream_window: Option<i64>,
}

impl JobRecord {
    /// `ENGINE/MODE`, as the metrics name the job.
    pub fn key(&self) -> String {
        format!("{}/{}", self.engine, self.mode)
    }
}

/// One window of one engine mode as the collector keeps it (§5): the last
/// value, how many times it was emitted, when first and last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub engine: String,
    pub mode: Mode,
    pub window_end: i64,
    pub device: String,
    pub category: String,
    #[serde(flatten)]
    pub agg: Aggregate,
    pub emissions: i64,
    /// When the collector first and last read the row, wall clock ms (docs/SPEC.md §5); the engine's
    /// own `emitted_at` where its live read missed the row.
    pub first_emitted_at: i64,
    pub last_emitted_at: i64,
}

/// A run as the store keeps it (§8 `runs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub scenario: String,
    pub seed: u64,
    /// The scenario, the output folder and the jobs with how each ended, as JSON.
    pub params: String,
    /// Engine name → version, as JSON.
    pub engine_versions: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

/// One measurement of a run: (who: `simulator`, `collector` or `ENGINE/MODE`, name, value) (§8 `metrics`).
pub type Metric = (String, String, f64);

/// A stored run read back for evaluation (the truth is computed from its events): its log and
/// rows held as numbers, handed out a group of devices at a time.
#[derive(Debug)]
pub struct StoredRun {
    pub record: RunRecord,
    pub metrics: Vec<Metric>,
    events: Log,
    results: Rows,
}

impl StoredRun {
    /// The run in a group of devices per ~`EVENTS_PER_GROUP` events.
    pub fn new(record: RunRecord, metrics: Vec<Metric>, events: Log, results: Rows) -> StoredRun {
        let groups = groups_for(events.len());
        StoredRun::in_groups(record, metrics, events, results, groups)
    }

    pub fn in_groups(record: RunRecord, metrics: Vec<Metric>, events: Log, results: Rows, groups: usize) -> StoredRun {
        StoredRun { record, metrics, events: events.grouped(groups), results: results.grouped(groups) }
    }
}

impl DeviceGroups for StoredRun {
    fn events(&self) -> usize {
        self.events.len()
    }

    fn count(&self) -> usize {
        self.events.by_group.len()
    }

    fn group(&self, g: usize) -> Group<'_> {
        Group { events: Cow::Owned(self.events.group(g)), results: Cow::Owned(self.results.group(g)) }
    }
}

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

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
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

    /// The events of group `g`, in the order sent.
    pub fn group(&self, g: usize) -> Vec<SentEvent> {
        match &self.by_group[..] {
            [] if g == 0 => (0..self.events.len()).map(|i| self.event(i)).collect(),
            groups => groups.get(g).map_or(Vec::new(), |events| events.iter().map(|&i| self.event(i as usize)).collect()),
        }
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

/// A result row's key, its names numbered (`Interner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowId {
    pub engine: u32,
    pub mode: Mode,
    pub window_end: i64,
    pub device: u32,
    pub category: u32,
}

/// A row's emissions folded: the latest value, how many, the first and the last (§5).
#[derive(Debug, Clone)]
pub struct Folded {
    pub agg: Aggregate,
    pub emissions: i64,
    pub first_emitted_at: i64,
    pub last_emitted_at: i64,
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
        self.rows.push((id, Folded { agg, emissions, first_emitted_at, last_emitted_at }));
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

/// How an engine's job went, from the harness's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineStatus {
    Ok,
    /// It never said it was ready (it exited, or stayed silent).
    NotReady(String),
    /// It exited by itself before its end-of-stream row.
    Crashed(String),
    /// It exited by itself after its end-of-stream row, unsuccessfully.
    Exited(String),
    /// It was still running this many seconds after SIGTERM, and was killed.
    Killed(u64),
    /// It ran to the end but never emitted its end-of-stream row.
    NoEndOfStream,
    /// Anything else that went wrong with the job, said in full.
    Failed(String),
}

impl EngineStatus {
    pub fn is_ok(&self) -> bool {
        *self == EngineStatus::Ok
    }
}

impl fmt::Display for EngineStatus {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            EngineStatus::Ok => write!(f, "ok"),
            EngineStatus::NotReady(why) => write!(f, "not ready: {why}"),
            EngineStatus::Crashed(how) => write!(f, "crashed ({how})"),
            EngineStatus::Exited(how) => write!(f, "exited with {how}"),
            EngineStatus::Killed(secs) => write!(f, "killed: still running {secs} s after SIGTERM"),
            EngineStatus::NoEndOfStream => write!(f, "no end-of-stream row"),
            EngineStatus::Failed(why) => write!(f, "{why}"),
        }
    }
}

impl FromStr for EngineStatus {
    type Err = std::convert::Infallible;

    /// The inverse of `Display`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let killed = || s.strip_prefix("killed: still running ")?.strip_suffix(" s after SIGTERM")?.parse().ok();
        Ok(match s {
            "ok" => EngineStatus::Ok,
            "no end-of-stream row" => EngineStatus::NoEndOfStream,
            _ => {
                if let Some(why) = s.strip_prefix("not ready: ") {
                    EngineStatus::NotReady(why.into())
                } else if let Some(how) = s.strip_prefix("crashed (").and_then(|r| r.strip_suffix(')')) {
                    EngineStatus::Crashed(how.into())
                } else if let Some(how) = s.strip_prefix("exited with ") {
                    EngineStatus::Exited(how.into())
                } else if let Some(secs) = killed() {
                    EngineStatus::Killed(secs)
                } else {
                    EngineStatus::Failed(s.into())
                }
            }
        })
    }
}

impl Serialize for EngineStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EngineStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

/// The flags every engine's job takes (§5, "The job"), with the one default
/// each has. The harness passes them all; an engine of this binary parses them
/// with this struct, a Python engine with `engines/protocol.py`'s `job_parser`
/// (a test holds the two to the same defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct JobFlags {
    /// The clock the windows follow.
    #[arg(long, value_enum, default_value_t = Mode::EventTime)]
    pub mode: Mode,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic to read events from.
    #[arg(long, default_value = "events")]
    pub events: String,
    /// Topic to write window results to.
    #[arg(long, default_value = "results")]
    pub results: String,
    /// Consumer group (default: boontadata-ENGINE-MODE).
    #[arg(long)]
    pub group: Option<String>,
    /// Length of the tumbling windows.
    #[arg(long, default_value_t = 5000)]
    pub window_ms: i64,
    /// Watermark = max seen time − this bound.
    #[arg(long, default_value_t = 1000)]
    pub out_of_orderness_ms: i64,
    /// How long after the watermark passes a window late events still update it.
    #[arg(long, default_value_t = 0)]
    pub allowed_lateness_ms: i64,
    /// How long a message id is remembered to drop its resends (where the mode needs a horizon).
    #[arg(long, default_value_t = 600_000)]
    pub dedup_horizon_ms: i64,
    /// A partition silent this long stops holding the watermark back (where the engine has idleness).
    #[arg(long, default_value_t = 5000)]
    pub idle_timeout_ms: i64,
    /// A folder of the job's own for checkpoints and state (default: the engine's choice).
    #[arg(long)]
    pub state_dir: Option<String>,
}

impl Default for JobFlags {
    /// The defaults of the command line: one place for them.
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let matches = Self::augment_args(clap::Command::new("job").no_binary_name(true)).get_matches_from(Vec::<String>::new());
        Self::from_arg_matches(&matches).expect("the defaults parse")
    }
}

impl JobFlags {
    /// The consumer group: `--group`, or the contract's default for `engine`.
    pub fn group_for(&self, engine: &str) -> String {
        self.group.clone().unwrap_or_else(|| format!("boontadata-{engine}-{}", self.mode))
    }

    /// The command line that gives these flags to a job.
    pub fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--mode".into(),
            self.mode.to_string(),
            "--brokers".into(),
            self.brokers.clone(),
            "--events".into(),
            self.events.clone(),
            "--results".into(),
            self.results.clone(),
        ];
        for (flag, value) in [
            ("--window-ms", self.window_ms),
            ("--out-of-orderness-ms", self.out_of_orderness_ms),
            ("--allowed-lateness-ms", self.allowed_lateness_ms),
            ("--dedup-horizon-ms", self.dedup_horizon_ms),
            ("--idle-timeout-ms", self.idle_timeout_ms),
        ] {
            args.extend([flag.to_string(), value.to_string()]);
        }
        for (flag, value) in [("--group", &self.group), ("--state-dir", &self.state_dir)] {
            if let Some(v) = value {
                args.extend([flag.to_string(), v.clone()]);
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};

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

    #[test]
    fn decodes_the_spec_example_and_round_trips() {
        let raw = br#"{"id":"56169865-cf64-408a-951e-cd7d6016de51-0","di":"56169865-cf64-408a-951e-cd7d6016de51","dt":1487662207216,"c":"cat-1","m1":33,"m2":381.230831563}"#;
        let e = Event::decode(raw).unwrap();
        assert_eq!(e.dt, 1_487_662_207_216);
        assert_eq!((e.c.as_ref(), e.m1, e.m2), ("cat-1", 33, 381.230831563));
        assert!(matches!(e.id, Cow::Borrowed(_)), "plain ids decode without allocating");
        let mut out = Vec::new();
        e.encode_into(&mut out);
        assert_eq!(out, raw.to_vec());
    }

    #[test]
    fn rejects_malformed_records() {
        for bad in [
            &b"\xff\x00garbage"[..],
            br#"{"id":"a","di":"d","dt":1,"c":"cat-1","m1":3}"#,
            br#"{"id":"a","di":"d","dt":"1","c":"cat-1","m1":3,"m2":1.0}"#,
            br#"{"id":"a","di":"d","dt":1,"c":"cat-1","m1":"x","m2":1.0}"#,
            b"",
        ] {
            assert!(Event::decode(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_result_carries_its_mode_as_the_spec_spells_it() {
        let r = WindowResult {
            engine: "flink".into(),
            mode: Mode::EventTime,
            window_end: 5000,
            di: "d".into(),
            c: "cat-1".into(),
            count: 12,
            m1_sum: 851,
            m2_sum: 4102.77,
            emitted_at: 6012,
        };
        let mut out = Vec::new();
        r.encode_into(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(r#"{"engine":"flink","mode":"event-time","window_end":5000,"di":"d""#), "{text}");
        assert_eq!(serde_json::from_str::<WindowResult>(&text).unwrap(), r);
    }

    #[test]
    fn id_hash_is_stable() {
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(id_hash("d-1"), id_hash("d-2"));
    }

    #[test]
    fn windows_are_named_by_their_end() {
        assert_eq!(window_end(TEN, 5000), TEN + 5000);
        assert_eq!(window_end(TEN + 4000, 5000), TEN + 5000);
        assert_eq!(window_end(TEN + 4999, 5000), TEN + 5000);
        assert_eq!(window_end(TEN + 5000, 5000), TEN + 10_000);
        assert_eq!(window_end(-1, 5000), 0);
    }

    #[test]
    fn windows_with_a_phase_end_that_far_past_the_multiples() {
        assert_eq!(window_end_at_phase(TEN + 4000, 5000, 0), TEN + 5000);
        assert_eq!(window_end_at_phase(TEN + 4000, 5000, 3456), TEN + 8456);
        assert_eq!(window_end_at_phase(TEN + 3456, 5000, 3456), TEN + 8456, "a phased window starts at its phase, as an aligned one at a multiple");
        assert_eq!(window_end_at_phase(TEN + 3455, 5000, 3456), TEN + 3456);
    }

    #[test]
    fn utc_formats_like_the_original() {
        assert_eq!(utc(1_483_465_935_000), "2017-01-03 17:52:15");
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn modes_are_held_to_their_view_and_spelled_once() {
        assert_eq!(Mode::EventTime.view(), View::DeviceTime);
        assert_eq!(Mode::ProcessingTime.view(), View::SendTime);
        assert_eq!(Mode::IngestionTime.view(), View::SendTime);
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>(), Ok(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert!("sometimes".parse::<Mode>().is_err());
    }

    #[test]
    fn every_status_reads_back_from_its_text() {
        for s in [
            EngineStatus::Ok,
            EngineStatus::NotReady("engine flink exited (exit status: 1) before it was ready; see x.log".into()),
            EngineStatus::Crashed("signal: 9 (SIGKILL)".into()),
            EngineStatus::Exited("exit status: 3".into()),
            EngineStatus::Killed(10),
            EngineStatus::NoEndOfStream,
            EngineStatus::Failed("engine spark did not end its job within 30 s".into()),
        ] {
            let text = s.to_string();
            assert_eq!(text.parse::<EngineStatus>().unwrap(), s, "{text}");
            assert_eq!(serde_json::from_str::<EngineStatus>(&serde_json::to_string(&s).unwrap()).unwrap(), s);
        }
        assert_eq!(EngineStatus::Killed(10).to_string(), "killed: still running 10 s after SIGTERM");
    }

    #[test]
    fn job_flags_go_to_a_command_line_and_back() {
        let parse = |args: &[String]| {
            let m = JobFlags::augment_args(clap::Command::new("job").no_binary_name(true)).try_get_matches_from(args).unwrap();
            JobFlags::from_arg_matches(&m).unwrap()
        };
        let defaults = parse(&[]);
        assert_eq!(defaults, JobFlags::default());
        assert_eq!((defaults.mode, defaults.window_ms, defaults.group_for("native").as_str()), (Mode::EventTime, 5000, "boontadata-native-event-time"));
        let flags = JobFlags { mode: Mode::ProcessingTime, group: Some("g".into()), state_dir: Some("/tmp/s".into()), window_ms: 1000, ..defaults };
        assert_eq!(parse(&flags.to_args()), flags);
    }
}
