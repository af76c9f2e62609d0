//! The device simulator's pure part (docs/SPEC.md §3): a scenario and a seed become a
//! plan of sends, each with its device time, its scheduled send time and the
//! fault injected into it. Sending the plan to a broker is `inject`'s job.

use crate::groups::{device_groups, GroupedLog};
use crate::model::{Event, Fault, SentEvent};
use crate::rng::Rng;
use crate::scenario::{Pacing, Scenario};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// One record the simulator will send.
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    pub device: u32,
    pub seq: u32,
    pub dt: i64,
    /// Scheduled send time, on the same clock as `dt`.
    pub at: i64,
    pub category: u32,
    pub m1: i64,
    pub m2: f64,
    pub fault: Fault,
}

/// What is sent, in sending order: events, and the malformed records mixed in.
#[derive(Debug, Clone)]
pub enum Record {
    Event(Send),
    Malformed(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Each name once, shared by the log's events (`sent_event`).
    pub device_ids: Vec<Arc<str>>,
    /// Category `c`'s name at `c - 1`: named once, not at each send.
    category_names: Vec<Arc<str>>,
    pub epoch_ms: i64,
    pub shard: Shard,
    pub records: Vec<Record>,
}

/// The part of a run's devices one simulator sends, so that several machines drive one cluster:
/// shard `index` (from 0) of `count` has the devices `d` with `d % count == index`, and every
/// `count`-th malformed record. Each device's stream is seeded by the device alone, so the shards'
/// streams together are the whole run's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    fn has(&self, k: u32) -> bool {
        k % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, counted from 1 as a user counts machines: `1/3`, `2/3`, `3/3`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("shard '{s}': give I/N, the I-th of N machines counted from 1 (1/3, 2/3, 3/3)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (i, n): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if i == 0 || i > n {
            return Err(bad());
        }
        Ok(Shard { index: i - 1, count: n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// The partition each device of `scenario` sends to (docs/SPEC.md §2: device i → partition i mod P),
/// by its id.
pub fn device_partitions(scenario: &Scenario) -> HashMap<String, i32> {
    (0..scenario.devices).map(|d| (uuid(&mut Rng::derive(scenario.seed, d as u64)), (d as i64 % scenario.partitions as i64) as i32)).collect()
}

impl Plan {
    /// The plan of `scenario` with device times starting at `epoch_ms`.
    pub fn new(scenario: &Scenario, epoch_ms: i64) -> Plan {
        Plan::of_shard(scenario, epoch_ms, Shard::WHOLE)
    }

    /// The part of the plan that `shard` sends.
    pub fn of_shard(scenario: &Scenario, epoch_ms: i64, shard: Shard) -> Plan {
        let mut device_ids = Vec::with_capacity(scenario.devices as usize);
        let mut sends = Vec::with_capacity((scenario.planned_messages() as f64 * (1.0 + scenario.dup_p) / shard.count as f64) as usize);
        for d in 0..scenario.devices {
            let mut rng = Rng::derive(scenario.seed, d as u64);
            device_ids.push(uuid(&mut rng).into());
            if shard.has(d) {
                plan_device(scenario, epoch_ms, d, &mut rng, &mut sends);
            }
        }
        sends.sort_by_key(|s| (s.at, s.device));
        let mut records: Vec<Record> = sends.into_iter().map(Record::Event).collect();
        let mut rng = Rng::derive(scenario.seed, u64::MAX);
        for k in 0..scenario.malformed {
            let at = rng.below(records.len() as u64 + 1) as usize;
            let record = malformed_record(k, &mut rng);
            if shard.has(k) {
                records.insert(at.min(records.len()), Record::Malformed(record));
            }
        }
        let category_names = (1..=scenario.categories).map(|c| format!("cat-{c}").into()).collect();
        Plan { device_ids, category_names, epoch_ms, shard, records }
    }

    /// The same plan with its clock starting at `epoch_ms`: every device time and schedule moved alike.
    pub fn start_clock_at(&mut self, epoch_ms: i64) {
        let by = epoch_ms - self.epoch_ms;
        for r in &mut self.records {
            if let Record::Event(s) = r {
                (s.dt, s.at) = (s.dt + by, s.at + by);
            }
        }
        self.epoch_ms = epoch_ms;
    }

    pub fn sends(&self) -> impl Iterator<Item = &Send> {
        self.records.iter().filter_map(|r| match r {
            Record::Event(s) => Some(s),
            Record::Malformed(_) => None,
        })
    }

    pub fn event<'a>(&'a self, s: &Send, id: &'a str) -> Event<'a> {
        Event {
            id: Cow::Borrowed(id),
            di: Cow::Borrowed(&self.device_ids[s.device as usize]),
            dt: s.dt,
            c: Cow::Borrowed(self.category_name(s.category)),
            m1: s.m1,
            m2: s.m2,
        }
    }

    /// The log's entries for sends of this plan, each given with its send time.
    pub fn sent_events(&self, sent: &[(&Send, i64)]) -> Vec<SentEvent> {
        sent.iter().map(|&(s, sent_at)| self.sent_event(s, sent_at)).collect()
    }

    /// The log's entry for `s`, sent at `sent_at`.
    pub fn sent_event(&self, s: &Send, sent_at: i64) -> SentEvent {
        SentEvent {
            id: self.message_id(s),
            device: self.device_ids[s.device as usize].clone(),
            category: self.category_name(s.category).clone(),
            dt: s.dt,
            sent_at,
            m1: s.m1,
            m2: s.m2,
            fault: s.fault,
        }
    }

    fn category_name(&self, c: u32) -> &Arc<str> {
        &self.category_names[c as usize - 1]
    }

    pub fn message_id(&self, s: &Send) -> String {
        format!("{}-{}", self.device_ids[s.device as usize], s.seq)
    }

    /// The record value of `r`, as it goes on the wire.
    pub fn encode(&self, r: &Record, out: &mut Vec<u8>) {
        match r {
            Record::Event(s) => self.event(s, &self.message_id(s)).encode_into(out),
            Record::Malformed(bytes) => {
                out.clear();
                out.extend_from_slice(bytes);
            }
        }
    }

    /// Latest device time in the plan: the flush events are placed after it.
    pub fn max_dt(&self) -> i64 {
        self.sends().map(|s| s.dt).max().unwrap_or(self.epoch_ms)
    }
}

/// The log of what a run sent, as the plan and each event's send time (the plan's events are sent
/// in its order), handed out a group of devices at a time: not a `SentEvent` per event, since a
/// big run sends millions.
pub struct SentLog {
    plan: Plan,
    sent_at: Vec<i64>,
    /// Each group's events: (its record in the plan, its place in the log).
    by_group: Vec<Vec<(u32, u32)>>,
}

impl SentLog {
    /// The log of a send of `plan` whose events went out at `sent_at` (the first ones only, for a
    /// send cut short), in `groups` groups of devices.
    pub fn new(plan: Plan, sent_at: Vec<i64>, groups: usize) -> SentLog {
        let group_of = device_groups(&plan.device_ids, groups);
        let mut by_group = vec![Vec::new(); groups];
        let events = plan.records.iter().enumerate().filter_map(|(i, r)| match r {
            Record::Event(s) => Some((i, s)),
            Record::Malformed(_) => None,
        });
        for (k, (i, s)) in events.take(sent_at.len()).enumerate() {
            by_group[group_of[s.device as usize]].push((i as u32, k as u32));
        }
        SentLog { plan, sent_at, by_group }
    }

    /// The events sent, in the order sent.
    pub fn events(&self) -> impl Iterator<Item = SentEvent> + '_ {
        self.plan.sends().zip(&self.sent_at).map(|(s, &at)| self.plan.sent_event(s, at))
    }
}

impl GroupedLog for SentLog {
    fn events(&self) -> usize {
        self.sent_at.len()
    }

    fn groups(&self) -> usize {
        self.by_group.len()
    }

    fn group(&self, g: usize) -> Vec<SentEvent> {
        let sent = self.by_group[g].iter().filter_map(|&(i, k)| match &self.plan.records[i as usize] {
            Record::Event(s) => Some(self.plan.sent_event(s, self.sent_at[k as usize])),
            Record::Malformed(_) => None,
        });
        sent.collect()
    }
}

fn plan_device(sc: &Scenario, epoch_ms: i64, device: u32, rng: &mut Rng, out: &mut Vec<Send>) {
    let mut clock = DeviceClock { pacing: sc.pacing, pause_mean_ms: sc.pause_mean_ms, t: epoch_ms, tick: 0 };
    // With a target rate, devices take turns at an even spacing.
    let rate_gap = sc.devices as f64 * 1000.0 / sc.rate;
    let rate_start = epoch_ms as f64 + device as f64 * 1000.0 / sc.rate;
    let mut originals = Vec::with_capacity(sc.messages as usize);
    let mut silent_until = i64::MIN;
    for seq in 0..sc.messages {
        let t = clock.next(rng, rate_start, rate_gap);
        if device < sc.silent_devices && seq == sc.silent_after {
            silent_until = t + sc.silence_ms;
        }
        // A silent device keeps its clock but sends nothing: its partition goes idle.
        if t < silent_until {
            continue;
        }
        let category = 1 + rng.below(sc.categories as u64) as u32;
        let m1 = rng.below(100) as i64;
        let m2 = (rng.unit() * 500.0 * 1e9).floor() / 1e9;
        let (mut dt, mut at, mut fault) = (t, t, Fault::None);
        if rng.chance(sc.late_p) {
            dt = t - sc.late_min_ms - rng.ms_below(sc.late_jitter_ms);
            fault = Fault::Late;
        } else if rng.chance(sc.ooo_p) {
            at = t + rng.ms_below(sc.ooo_max_delay_ms);
            fault = Fault::OutOfOrder;
        }
        originals.push(out.len());
        out.push(Send { device, seq, dt, at, category, m1, m2, fault });
        if rng.chance(sc.dup_p) {
            // Message floor(i · r) of those sent so far, i being the one just sent.
            let original = out[originals[((originals.len() - 1) as f64 * rng.unit()) as usize]].clone();
            let t = clock.next(rng, rate_start, rate_gap);
            // A resend never overtakes the message it repeats (which may be held back).
            out.push(Send { at: t.max(original.at + 1), fault: Fault::Duplicate, ..original });
        }
    }
}

/// One device's sending schedule: the original's random pauses, or a turn at an even rate.
struct DeviceClock {
    pacing: Pacing,
    pause_mean_ms: i64,
    t: i64,
    tick: u64,
}

impl DeviceClock {
    fn next(&mut self, rng: &mut Rng, rate_start: f64, rate_gap: f64) -> i64 {
        self.t = match self.pacing {
            Pacing::Rate => (rate_start + self.tick as f64 * rate_gap) as i64,
            Pacing::Random | Pacing::None => self.t + rng.ms_below(2 * self.pause_mean_ms + 1),
        };
        self.tick += 1;
        self.t
    }
}

/// A version-4-shaped UUID from the seeded stream (so device ids repeat with the seed).
fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF, a & 0x0FFF, b >> 48, b & 0xFFFF_FFFF_FFFF)
}

/// Three kinds in turn: not JSON at all, a field missing, a field of the wrong type.
fn malformed_record(k: u32, rng: &mut Rng) -> Vec<u8> {
    match k % 3 {
        0 => (0..16).map(|_| rng.below(256) as u8).collect(),
        1 => format!(r#"{{"id":"malformed-{k}","di":"malformed","dt":1487662207216,"c":"cat-1","m1":1}}"#).into_bytes(),
        _ => format!(r#"{{"id":"malformed-{k}","di":"malformed","dt":"soon","c":"cat-1","m1":1,"m2":1.5}}"#).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Clock;

    fn stream_bytes(sc: &Scenario) -> Vec<u8> {
        let plan = Plan::new(sc, sc.epoch_ms);
        let mut all = Vec::new();
        let mut buf = Vec::new();
        for r in &plan.records {
            plan.encode(r, &mut buf);
            all.extend_from_slice(&buf);
            all.push(b'\n');
        }
        all
    }

    fn virtual_seed() -> Scenario {
        Scenario { clock: Clock::Virtual, devices: 3, malformed: 4, ..Scenario::default() }
    }

    #[test]
    fn same_seed_gives_identical_bytes_and_another_seed_differs() {
        let a = stream_bytes(&virtual_seed());
        assert_eq!(a, stream_bytes(&virtual_seed()));
        assert!(a.len() > 900 * 100, "3 devices × 300 messages of ~150 bytes");
        assert_ne!(a, stream_bytes(&Scenario { seed: 35, ..virtual_seed() }));
    }

    #[test]
    fn fault_rates_are_within_tolerance_over_100k_messages() {
        let sc = Scenario { devices: 100, messages: 1000, ..Scenario::default() };
        let plan = Plan::new(&sc, sc.epoch_ms);
        let n = sc.planned_messages() as f64;
        let count = |f: Fault| plan.sends().filter(|s| s.fault == f).count() as f64 / n;
        let (late, dup, ooo) = (count(Fault::Late), count(Fault::Duplicate), count(Fault::OutOfOrder));
        // 3 standard deviations of a binomial over 100k draws is below 0.0021 for p ≤ 0.05.
        assert!((late - 0.01).abs() < 0.001, "late rate {late}");
        assert!((dup - 0.05).abs() < 0.0021, "duplicate rate {dup}");
        assert!((ooo - 0.99 * 0.05).abs() < 0.0021, "out-of-order rate {ooo}");
        for s in plan.sends().filter(|s| s.fault == Fault::Late) {
            let behind = s.at - s.dt;
            assert!((120_000..420_000).contains(&behind), "late by {behind} ms");
        }
        for s in plan.sends().filter(|s| s.fault == Fault::OutOfOrder) {
            assert!((0..3000).contains(&(s.at - s.dt)), "held back {} ms", s.at - s.dt);
        }
    }

    #[test]
    fn a_plan_whose_clock_starts_later_is_the_plan_made_then() {
        let sc = Scenario { devices: 30, clock: crate::scenario::Clock::Live, ..Scenario::built_in("disorder").unwrap() };
        let mut moved = Plan::new(&sc, 1_764_000_000_000);
        moved.start_clock_at(1_764_000_012_345);
        let made = Plan::new(&sc, 1_764_000_012_345);
        assert_eq!(moved.epoch_ms, made.epoch_ms);
        let sends = |p: &Plan| p.sends().map(|s| (s.device, s.seq, s.dt, s.at, s.fault)).collect::<Vec<_>>();
        assert_eq!(sends(&moved), sends(&made));
        assert!(sends(&made).iter().any(|s| s.4 == Fault::Late) && sends(&made).len() > 1000);
    }

    #[test]
    fn the_plan_is_in_send_order_and_resends_follow_their_original() {
        let sc = Scenario { devices: 5, ..Scenario::default() };
        let plan = Plan::new(&sc, 0);
        let sends: Vec<&Send> = plan.sends().collect();
        assert!(sends.windows(2).all(|w| w[0].at <= w[1].at));
        for (i, dup) in sends.iter().enumerate().filter(|(_, s)| s.fault == Fault::Duplicate) {
            let original = sends.iter().position(|o| o.device == dup.device && o.seq == dup.seq).unwrap();
            assert!(original < i, "a resend comes after the message it repeats");
            assert_eq!(sends[original].dt, dup.dt);
        }
        // What the truth counts on (`SentEvent::counts`): the first send of an id is the one not marked a resend.
        let log: Vec<SentEvent> = sends.iter().map(|s| plan.sent_event(s, s.at)).collect();
        let mut seen = std::collections::HashSet::new();
        let first_sends: Vec<bool> = log.iter().map(|e| seen.insert(&e.id)).collect();
        assert!(first_sends.iter().any(|first| !first), "the scenario has resends");
        assert_eq!(log.iter().map(SentEvent::counts).collect::<Vec<_>>(), first_sends);
    }

    #[test]
    fn random_pacing_averages_the_original_pause() {
        let plan = Plan::new(&Scenario::default(), 0);
        let last = plan.sends().map(|s| s.at).max().unwrap();
        // 300 messages + ~15 resends at a mean pause of 50 ms.
        assert!((13_000..18_500).contains(&last), "stream spans {last} ms");
    }

    #[test]
    fn rate_pacing_spaces_devices_evenly() {
        let sc = Scenario { devices: 4, messages: 10, pacing: Pacing::Rate, rate: 100.0, dup_p: 0.0, ooo_p: 0.0, late_p: 0.0, ..Scenario::default() };
        let plan = Plan::new(&sc, 0);
        let times: Vec<i64> = plan.sends().map(|s| s.at).collect();
        assert_eq!(times, (0..40).map(|k| k * 10).collect::<Vec<_>>());
    }

    #[test]
    fn a_silent_device_sends_nothing_for_a_while_then_resumes() {
        for pacing in [Pacing::Random, Pacing::Rate] {
            let sc =
                Scenario { devices: 2, messages: 2000, silent_devices: 1, silent_after: 50, silence_ms: 60_000, pacing, rate: 40.0, ..Scenario::default() };
            let plan = Plan::new(&sc, 0);
            let times = |d: u32| plan.sends().filter(|s| s.device == d && s.fault == Fault::None).map(|s| s.at).collect::<Vec<_>>();
            let widest_gap = |v: &[i64]| v.windows(2).map(|w| w[1] - w[0]).max().unwrap();
            let (silent, talking) = (times(0), times(1));
            assert!((60_000..61_000).contains(&widest_gap(&silent)), "{pacing:?}: device 0 is silent for a minute");
            assert!(widest_gap(&talking) < 1000, "{pacing:?}: device 1 keeps talking");
            // (random pauses over 2,000 messages drift by a second or two: still "together" next to the minute)
            assert!(silent.last().unwrap().abs_diff(*talking.last().unwrap()) < 5000, "{pacing:?}: both end together");
        }
    }

    #[test]
    fn malformed_records_are_mixed_in_and_do_not_decode() {
        let plan = Plan::new(&virtual_seed(), 0);
        let bad: Vec<&Vec<u8>> = plan.records.iter().filter_map(|r| if let Record::Malformed(b) = r { Some(b) } else { None }).collect();
        assert_eq!(bad.len(), 4);
        assert!(bad.iter().all(|b| Event::decode(b).is_none()));
    }

    #[test]
    fn shards_send_together_what_the_whole_plan_sends() {
        let sc = Scenario { devices: 7, messages: 40, malformed: 5, ..Scenario::default() };
        let whole = Plan::new(&sc, 0);
        let shards: Vec<Plan> = (0..3).map(|index| Plan::of_shard(&sc, 0, Shard { index, count: 3 })).collect();
        let mut sent: Vec<&Send> = shards.iter().flat_map(|p| p.sends()).collect();
        sent.sort_by_key(|s| (s.at, s.device, s.seq, s.fault == Fault::Duplicate));
        let mut expected: Vec<&Send> = whole.sends().collect();
        expected.sort_by_key(|s| (s.at, s.device, s.seq, s.fault == Fault::Duplicate));
        assert_eq!(sent, expected);
        assert!(shards.iter().all(|p| p.device_ids == whole.device_ids), "every shard names every device alike");
        assert!(shards[1].sends().all(|s| s.device % 3 == 1), "shard 2/3 sends devices 1 and 4");
        let malformed = |p: &Plan| p.records.iter().filter(|r| matches!(r, Record::Malformed(_))).count();
        assert_eq!(shards.iter().map(malformed).collect::<Vec<_>>(), [2, 2, 1]);
    }

    #[test]
    fn a_shard_is_named_from_one() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(Shard { index: 1, count: 3 }.to_string(), "2/3");
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("counted from 1"), "{bad}");
        }
    }

    #[test]
    fn device_ids_look_like_uuids() {
        let id = uuid(&mut Rng::new(1));
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
    }
}
