//! The contract's records (docs/SPEC.md), in one place that depends on nothing
//! else of the project's: an event and a window result as they travel on the
//! topics (§2, §5), the window naming (§4), the simulator's log and truth (§3,
//! §4), the rows the collector keeps (§5), and the run as the store keeps it
//! (§8), with the modes and the engine statuses every part shares.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
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
    /// The ids of the events the window counted, as sent, a duplicate counted twice named twice:
    /// written by a job run with `--ids true` (§5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<Cow<'a, str>>>,
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
/// category name once (`intern::Interner::shared`), shared by the events that carry it.
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

/// A crash the harness made during a job (a scenario with `crash = "engine"`, `"broker"` or
/// `"engine-stall"`), in epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrashRecord {
    /// `kill -9` of the engine's process tree, or of a broker node; in a stall, its SIGSTOP.
    pub killed_at: i64,
    /// The same job, or the node, started again; in a stall, the SIGCONT of the same process.
    pub restarted_at: i64,
    /// The job said it was ready again (the node: the cluster had all its nodes again); `None` if it never did.
    pub ready_again_at: Option<i64>,
    /// The broker node killed; `None`: the engine was.
    #[serde(default)]
    pub node: Option<i32>,
    /// The engine was stopped (SIGSTOP) and continued (SIGCONT), not killed: a long GC pause, a frozen VM.
    #[serde(default)]
    pub stalled: bool,
}

impl CrashRecord {
    /// When the job (or the cluster) was back: ready again, else started again.
    pub fn reading_again_at(&self) -> i64 {
        self.ready_again_at.unwrap_or(self.restarted_at).max(self.restarted_at)
    }

    /// What hit the job, in explanations: "the kill", or "the stall".
    pub fn the_fault(&self) -> &'static str {
        if self.stalled {
            "the stall"
        } else {
            "the kill"
        }
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
    /// A clock per message key (device), moved only by that key's own events (Quix Streams' default
    /// closing): a window closes only once a later event of its device comes, so a device's last
    /// windows never close, the end-of-stream flush having a key of its own.
    PerKey,
    /// One watermark per key that goes on with the wall clock between the key's events (Bytewax's
    /// `EventClock`: the key's latest time minus the wait, plus the system time since it came): an
    /// event the job reads more than the wait after it was due is behind it, wherever its partition is.
    PerKeyWallClock,
    /// No watermark: windows close on the engine's wall clock, out-of-orderness + allowed lateness
    /// after their end, whatever it has read by then (Faust's): an event it reads after that, late
    /// or on time and read behind the stream, is dropped as late.
    WallClock,
}

/// What an event-time engine drops as late (its `engine.toml` declares it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LateDrop {
    /// An event whose window the watermark has passed (with the allowed lateness).
    #[default]
    AfterItsWindow,
    /// An event whose own time the watermark has passed, its window open or not (Spark's stateful
    /// operators, its `dropDuplicatesWithinWatermark` first).
    BehindTheWatermark,
}

/// What an engine promises of its windows across a crash of its process, as it declares (`after_crash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guarantee {
    /// Every window exact: no event lost, none counted twice.
    ExactlyOnce,
    /// No event lost; some may count twice.
    AtLeastOnce,
    /// Events may be lost, or counted twice.
    None,
}

impl Guarantee {
    pub fn as_str(self) -> &'static str {
        match self {
            Guarantee::ExactlyOnce => "exactly-once",
            Guarantee::AtLeastOnce => "at-least-once",
            Guarantee::None => "none",
        }
    }

    /// Whether a crash that lost and doubled these many events kept the promise.
    pub fn held(self, lost: u64, doubled: u64) -> bool {
        match self {
            Guarantee::ExactlyOnce => lost == 0 && doubled == 0,
            Guarantee::AtLeastOnce => lost == 0,
            Guarantee::None => true,
        }
    }
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
    /// Its rows name the events each window counted (`--ids true`): it is compared event by event.
    #[serde(default)]
    pub ids: bool,
    /// Its engine's windows hold their end, (start, end], as it declares.
    #[serde(default)]
    pub end_inclusive: bool,
    /// Its engine drops a resend of an id it counted, as it declares: a resend it counts is not a duplicate it may count.
    #[serde(default)]
    pub dedup: bool,
    /// Its engine honours the allowed lateness, as it declares; else its windows close at the watermark.
    #[serde(default = "honours_lateness")]
    pub lateness: bool,
    /// What its engine drops as late, as it declares.
    #[serde(default)]
    pub late_drop: LateDrop,
    /// What its engine's windows keep across a crash, as it declares; `None` in runs stored before it was kept.
    #[serde(default)]
    pub after_crash: Option<Guarantee>,
}

fn honours_lateness() -> bool {
    true
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
    /// The ids of the events its window counted (its latest emission's), where its job named them.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: i64 = 36_000_000; // 10:00:00 on 1970-01-01, in ms

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
            ids: None,
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
}
