//! Scenarios: small TOML files in `scenarios/` (built into the binary) or
//! given by the user, with every field defaulting to the original injector's
//! value (docs/SPEC.md §3).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// Device times start at the wall clock when the run starts.
    Live,
    /// Device times start at `epoch_ms`: the event stream is then identical, byte for byte, run after run.
    Virtual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// The original's pause of U(0, 2 × pause_mean_ms) between a device's messages.
    Random,
    /// `rate` events per second over all devices.
    Rate,
    /// No pause: as fast as the broker takes it.
    None,
}

/// What a scenario kills part-way through the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Crash {
    None,
    /// `kill -9` of every engine's process tree, then the same jobs started again (same group, same state folder).
    Engine,
    /// `kill -9` of the broker node leading the events topic's first partition (of a local cluster of three), then the node started again.
    Broker,
    /// SIGSTOP of every engine's process tree, then SIGCONT: a zombie that wakes up after its
    /// session and transaction timeouts ran out, its group moved on without it.
    #[serde(rename = "engine-stall")]
    #[value(name = "engine-stall")]
    EngineStall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub devices: u32,
    /// Messages per device.
    pub messages: u32,
    pub categories: u32,
    pub window_ms: i64,
    pub clock: Clock,
    pub epoch_ms: i64,
    pub pacing: Pacing,
    pub pause_mean_ms: i64,
    /// Events per second over all devices, for `pacing = "rate"`.
    pub rate: f64,
    pub late_p: f64,
    pub late_min_ms: i64,
    pub late_jitter_ms: i64,
    pub dup_p: f64,
    pub ooo_p: f64,
    pub ooo_max_delay_ms: i64,
    /// Records that are not valid events (garbage, missing fields, wrong types), mixed into the stream.
    pub malformed: u32,
    /// The first `silent_devices` devices send nothing for `silence_ms` after their first `silent_after` messages.
    pub silent_devices: u32,
    pub silent_after: u32,
    pub silence_ms: i64,
    /// A crash in the middle of the stream (docs/SPEC.md §3): what is killed, once `crash_after` of
    /// the records are sent, and for how long it stays down before it is started again.
    pub crash: Crash,
    pub crash_after: f64,
    pub crash_down_ms: i64,
    /// Engine settings the scenario is designed for (docs/SPEC.md §5).
    pub out_of_orderness_ms: i64,
    pub allowed_lateness_ms: i64,
    pub partitions: i32,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "custom".into(),
            description: String::new(),
            seed: 34,
            devices: 1,
            messages: 300,
            categories: 4,
            window_ms: 5000,
            clock: Clock::Live,
            epoch_ms: 1_487_662_207_216,
            pacing: Pacing::Random,
            pause_mean_ms: 50,
            rate: 1000.0,
            late_p: 0.01,
            late_min_ms: 120_000,
            late_jitter_ms: 300_000,
            dup_p: 0.05,
            ooo_p: 0.05,
            ooo_max_delay_ms: 3000,
            malformed: 0,
            silent_devices: 0,
            silent_after: 0,
            silence_ms: 0,
            crash: Crash::None,
            crash_after: 0.5,
            crash_down_ms: 5000,
            out_of_orderness_ms: 1000,
            allowed_lateness_ms: 0,
            partitions: 4,
        }
    }
}

/// The scenarios shipped in `scenarios/`, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("seed", include_str!("../scenarios/seed.toml")),
    ("disorder", include_str!("../scenarios/disorder.toml")),
    ("duplicates", include_str!("../scenarios/duplicates.toml")),
    ("out-of-order", include_str!("../scenarios/out-of-order.toml")),
    ("late-within", include_str!("../scenarios/late-within.toml")),
    ("late-beyond", include_str!("../scenarios/late-beyond.toml")),
    ("many-devices", include_str!("../scenarios/many-devices.toml")),
    ("burst", include_str!("../scenarios/burst.toml")),
    ("idle", include_str!("../scenarios/idle.toml")),
    ("engine-crash", include_str!("../scenarios/engine-crash.toml")),
    ("broker-crash", include_str!("../scenarios/broker-crash.toml")),
    ("engine-stall", include_str!("../scenarios/engine-stall.toml")),
];

impl Scenario {
    /// A built-in scenario by name.
    pub fn built_in(name: &str) -> Result<Scenario> {
        match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Scenario::parse(n, text),
            None => {
                bail!("unknown scenario '{name}': not a file, and the built-in ones are {}", BUILT_IN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
            }
        }
    }

    /// A scenario from its TOML text; `name` unless the text names it.
    pub fn parse(name: &str, text: &str) -> Result<Scenario> {
        let mut s: Scenario = toml::from_str(text).with_context(|| format!("scenario '{name}' is not valid"))?;
        if s.name == Scenario::default().name {
            s.name = name.to_string();
        }
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<()> {
        let probabilities = [("late_p", self.late_p), ("dup_p", self.dup_p), ("ooo_p", self.ooo_p)];
        for (field, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                bail!("scenario '{}': {field} = {p} is not a probability between 0 and 1", self.name);
            }
        }
        if self.window_ms <= 0 || self.devices == 0 || self.categories == 0 || self.partitions <= 0 {
            bail!("scenario '{}': window_ms, devices, categories and partitions must be positive", self.name);
        }
        if self.crash != Crash::None && !(self.crash_after > 0.0 && self.crash_after < 1.0 && self.crash_down_ms >= 0) {
            bail!("scenario '{}': a crash needs 0 < crash_after < 1 (the part of the records sent before it) and crash_down_ms >= 0", self.name);
        }
        if self.pacing == Pacing::Rate && self.rate <= 0.0 {
            bail!("scenario '{}': pacing = \"rate\" needs rate > 0 (events per second)", self.name);
        }
        Ok(())
    }

    /// What the scenario says of itself, or its name when it says nothing.
    pub fn description_or_name(&self) -> &str {
        if self.description.is_empty() {
            &self.name
        } else {
            &self.description
        }
    }

    /// Device time of the first message: `now` for a live clock, `epoch_ms` for a virtual one.
    pub fn start_of_clock(&self, now: i64) -> i64 {
        match self.clock {
            Clock::Live => now,
            Clock::Virtual => self.epoch_ms,
        }
    }

    /// Number of events sent before faults (devices × messages).
    pub fn planned_messages(&self) -> u64 {
        self.devices as u64 * self.messages as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_scenarios_load_and_seed_is_the_original() {
        let seed = Scenario::built_in("seed").unwrap();
        assert_eq!((seed.seed, seed.devices, seed.messages, seed.window_ms), (34, 1, 300, 5000));
        assert_eq!((seed.late_p, seed.dup_p, seed.late_min_ms, seed.late_jitter_ms), (0.01, 0.05, 120_000, 300_000));
        let disorder = Scenario::built_in("disorder").unwrap();
        assert_eq!((disorder.devices, disorder.ooo_p, disorder.dup_p), (1000, 0.10, 0.10));
        assert!(disorder.late_min_ms + disorder.late_jitter_ms <= disorder.allowed_lateness_ms);
    }

    #[test]
    fn every_built_in_scenario_loads() {
        for (name, _) in BUILT_IN {
            let s = Scenario::built_in(name).unwrap();
            assert_eq!(&s.name, name);
            assert!(!s.description.is_empty(), "{name} says what it isolates");
        }
    }

    #[test]
    fn unknown_scenario_names_the_known_ones() {
        let err = Scenario::built_in("nope").unwrap_err().to_string();
        assert!(err.contains("seed") && err.contains("disorder"), "{err}");
    }

    #[test]
    fn typos_and_bad_values_are_rejected() {
        assert!(toml::from_str::<Scenario>("sed = 3").is_err());
        let s = Scenario { late_p: 1.5, ..Scenario::default() };
        assert!(s.validate().unwrap_err().to_string().contains("late_p"));
    }
}
