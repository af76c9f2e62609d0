//! Sustainable throughput (Karimov et al., "Benchmarking Distributed Stream Data Processing
//! Systems", ICDE 2018): the highest paced input rate at which an engine keeps up with the
//! stream over a stated duration, found by a search over rates. A rate is kept up with when the
//! job ends with its end-of-stream row and its emit latency does not grow over the stream
//! (`summary::latency_growth_ms`): a backlog that builds up shows as windows emitted later and
//! later. Pure: `bench` runs the probes this asks for.

use crate::summary::{EngineSummary, Percentiles};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Emit latency may grow this much from the first quarter of the windows to the last and the
/// engine still counts as keeping up: jitter of a second is not a backlog.
pub const GROWTH_ALLOWED_MS: i64 = 1000;

/// The search stops once the highest rate kept up with and the lowest one not are this close.
const PRECISION: f64 = 1.25;

/// How far below the starting rate the search goes when even that rate is not kept up with.
const LOWEST_FRACTION: f64 = 1.0 / 16.0;

/// A sitting's bound (`bench --budget`): an engine mode's search gets an equal share of the time
/// left when it starts, the modes after it the rest.
pub fn share_of_budget(left: Duration, modes_left: usize) -> Duration {
    left / modes_left.max(1) as u32
}

/// Whether a further probe ends within a search's `share` of the budget, `spent` of it gone: as
/// long as the longest probe so far took, or before the first, twice its sending time (`probe`:
/// an engine's start and its end-of-stream wait come on top).
pub fn probe_fits(spent: Duration, share: Duration, longest_so_far: Option<Duration>, probe: Duration) -> bool {
    spent + longest_so_far.unwrap_or(probe * 2) <= share
}

/// One paced run at `rate` events/s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub rate: f64,
    /// The rate the simulator really sent at.
    pub sent_rate: f64,
    pub kept_up: bool,
    /// Why it was not kept up with, or the latency growth that was.
    pub why: String,
    /// Emit latency from the window's end, p99 and p50, ms.
    #[serde(default)]
    pub latency_p99_ms: Option<i64>,
    #[serde(default)]
    pub latency_p50_ms: Option<i64>,
    /// Emit latency from the send of the window's last on-time event.
    #[serde(default)]
    pub after_last_send_ms: Option<Percentiles>,
}

/// Whether an engine mode kept up with a probe, and why: its job ended with its end-of-stream
/// row, and its emit latency grew by at most `GROWTH_ALLOWED_MS`.
pub fn kept_up(e: &EngineSummary) -> (bool, String) {
    if !e.status.is_ok() {
        return (false, e.status.to_string());
    }
    match e.latency_growth_ms {
        None => (false, "too few windows to tell whether latency grows".into()),
        Some(g) if g > GROWTH_ALLOWED_MS => (false, format!("emit latency grew by {g} ms over the stream")),
        Some(g) => (true, format!("emit latency grew by {g} ms")),
    }
}

/// The next rate to probe after `probes`, or `None` when the search is over: doubling from
/// `from` while the engine keeps up (to `up_to` at most), halving while it does not, then
/// bisecting (geometrically) between the highest rate kept up with and the lowest one not.
pub fn next_rate(probes: &[Probe], from: f64, up_to: f64) -> Option<f64> {
    let good = probes.iter().filter(|p| p.kept_up).map(|p| p.rate).reduce(f64::max);
    let bad = probes.iter().filter(|p| !p.kept_up).map(|p| p.rate).reduce(f64::min);
    match (good, bad) {
        (None, None) => Some(from),
        (Some(good), None) if good >= up_to => None,
        (Some(good), None) => Some((good * 2.0).min(up_to)),
        (None, Some(bad)) => Some(bad / 2.0).filter(|r| *r >= from * LOWEST_FRACTION),
        (Some(good), Some(bad)) => Some((good * bad).sqrt()).filter(|_| bad / good > PRECISION),
    }
}

/// The highest rate kept up with.
pub fn sustainable_rate(probes: &[Probe]) -> Option<f64> {
    probes.iter().filter(|p| p.kept_up).map(|p| p.rate).reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search against an engine that keeps up with any rate up to `capacity`.
    fn search(capacity: f64, from: f64, up_to: f64) -> Vec<Probe> {
        let mut probes = Vec::new();
        while let Some(rate) = next_rate(&probes, from, up_to) {
            assert!(probes.len() < 30, "the search ends: {probes:?}");
            probes.push(Probe {
                rate,
                sent_rate: rate,
                kept_up: rate <= capacity,
                why: String::new(),
                latency_p99_ms: None,
                latency_p50_ms: None,
                after_last_send_ms: None,
            });
        }
        probes
    }

    #[test]
    fn the_search_closes_in_on_the_capacity() {
        let probes = search(37_000.0, 1000.0, 1e6);
        let found = sustainable_rate(&probes).unwrap();
        assert!(found <= 37_000.0 && found * PRECISION >= 37_000.0, "{found} within 25% below 37,000: {probes:?}");
        let rates: Vec<f64> = probes.iter().take(7).map(|p| p.rate).collect();
        assert_eq!(rates, [1000.0, 2000.0, 4000.0, 8000.0, 16_000.0, 32_000.0, 64_000.0], "doubling first");
    }

    #[test]
    fn the_search_stops_at_its_ceiling_and_below_its_floor() {
        let probes = search(f64::INFINITY, 1000.0, 5000.0);
        assert_eq!(probes.iter().map(|p| p.rate).collect::<Vec<_>>(), [1000.0, 2000.0, 4000.0, 5000.0]);
        assert_eq!(sustainable_rate(&probes), Some(5000.0));
        let probes = search(10.0, 1000.0, 5000.0);
        assert_eq!(probes.iter().map(|p| p.rate).collect::<Vec<_>>(), [1000.0, 500.0, 250.0, 125.0, 62.5]);
        assert_eq!(sustainable_rate(&probes), None, "not even 1/16 of the starting rate");
    }

    #[test]
    fn latency_that_grows_is_falling_behind() {
        let summary = |growth| EngineSummary { latency_growth_ms: growth, ..crate::summary::tests::summary() };
        assert!(kept_up(&summary(Some(300))).0);
        let (ok, why) = kept_up(&summary(Some(4000)));
        assert!(!ok && why.contains("grew by 4000 ms"), "{why}");
        assert!(!kept_up(&summary(None)).0);
    }

    #[test]
    fn a_budget_is_shared_and_a_probe_starts_only_if_it_ends_within_its_share() {
        let min = |m: u64| Duration::from_secs(60 * m);
        assert_eq!(share_of_budget(min(9), 3), min(3));
        assert_eq!(share_of_budget(min(9), 0), min(9), "the last mode takes all that is left");
        let probe = Duration::from_secs(20);
        assert!(probe_fits(Duration::ZERO, min(3), None, probe), "a first probe of 20 s is counted as 40 s");
        assert!(!probe_fits(min(2) + Duration::from_secs(30), min(3), None, probe));
        assert!(probe_fits(min(2), min(3), Some(Duration::from_secs(55)), probe), "the longest so far, 55 s, fits the minute left");
        assert!(!probe_fits(min(2), min(3), Some(Duration::from_secs(65)), probe));
    }
}
