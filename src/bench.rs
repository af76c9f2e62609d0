//! What a bench's sitting measured (`run::bench` measures it): the baselines of bare clients on
//! the scenario's own records, the simulator end to end, and each engine mode on a preloaded
//! backlog and at its sustainable rate; and how it reads, every figure beside its baseline as a
//! ratio, so that a figure from a noisy machine is never read alone.

use crate::format::{elapsed, thousands};
use crate::model::Mode;
use crate::sustainable::{self, Probe};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What one sitting measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bench {
    pub broker: String,
    pub scenario: String,
    /// Events in the backlog (and records the bare clients write and read: the same ones).
    pub events: usize,
    pub mean_record_bytes: usize,
    pub partitions: i32,
    pub baselines: Baselines,
    /// The simulator end to end: plan, send, events and truth stored.
    pub simulator_per_s: f64,
    pub engines: Vec<EngineBench>,
    /// How long each probe of the sustainable-rate search sent.
    pub probe_s: f64,
    /// The scenario's out-of-orderness bound: the least an event-time window waits to be emitted.
    #[serde(default)]
    pub out_of_orderness_ms: Option<i64>,
    /// The sitting's time bound (`--budget`), and the time it took, seconds.
    #[serde(default)]
    pub budget_s: Option<f64>,
    #[serde(default)]
    pub took_s: Option<f64>,
}

/// What bare Kafka clients (the C library the harness uses) do with the scenario's own records, keyed and partitioned as the simulator sends them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baselines {
    pub produce_per_s: f64,
    pub consume_per_s: f64,
    /// Reading every record while writing `result_rows` rows of a result's size: what a window engine has to do at least.
    pub consume_produce_per_s: f64,
    /// The stream's event-time windows: as many rows as an exact engine writes.
    pub result_rows: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineBench {
    pub engine: String,
    pub mode: Mode,
    /// On the preloaded backlog: events/s from ready to the end-of-stream row.
    pub backlog_per_s: Option<f64>,
    pub backlog_status: String,
    pub probes: Vec<Probe>,
    /// The highest rate kept up with.
    pub sustainable_per_s: Option<f64>,
    /// The search stopped because the simulator could not send faster: the engine may sustain more.
    pub simulator_bound: bool,
    /// What the budget cut of its search: the rate it would have probed next, and why not.
    #[serde(default)]
    pub cut_by_budget: Option<String>,
}

/// Each figure of a sitting beside its baseline: what, events/s, ratio.
pub fn figures(b: &Bench) -> Vec<[String; 3]> {
    let base = &b.baselines;
    let mut rows: Vec<[String; 3]> = vec![
        ["bare producer (the same records)".into(), thousands(base.produce_per_s), "1.00".into()],
        ["bare consumer".into(), thousands(base.consume_per_s), "1.00".into()],
        [format!("bare consume + produce ({} result rows)", thousands(base.result_rows as f64)), thousands(base.consume_produce_per_s), "1.00".into()],
        ["simulator, end to end".into(), thousands(b.simulator_per_s), ratio(b.simulator_per_s, base.produce_per_s, PRODUCER)],
    ];
    for e in &b.engines {
        let figure = e.backlog_per_s.map_or_else(|| format!("- ({})", e.backlog_status), thousands);
        let against = e.backlog_per_s.map_or(String::new(), |r| ratio(r, base.consume_produce_per_s, BOTH));
        rows.push([format!("{} {}, on the backlog", e.engine, e.mode), figure, against]);
    }
    rows
}

const PRODUCER: &str = "bare producer";
const BOTH: &str = "bare consume + produce";

/// What the sustainable-rate search is, in a line.
pub fn sustainable_heading(b: &Bench) -> String {
    format!(
        "sustainable rate (paced, {:.0} s per probe; kept up: its end-of-stream row came and emit latency grew by at most {} ms)",
        b.probe_s,
        sustainable::GROWTH_ALLOWED_MS
    )
}

/// Each engine mode's sustainable rate: engine mode, the rate found and its ratio, the probes, its emit latency there.
pub fn sustainable_rates(b: &Bench) -> Vec<[String; 4]> {
    let both = |r| ratio(r, b.baselines.consume_produce_per_s, BOTH);
    b.engines
        .iter()
        .filter(|e| !e.probes.is_empty())
        .map(|e| {
            let found = match (e.sustainable_per_s, e.simulator_bound) {
                (Some(r), true) => format!("≥ {} events/s (the simulator could not send faster), {}", thousands(r), both(r)),
                (Some(r), false) => format!("{} events/s, {}", thousands(r), both(r)),
                (None, _) => "none of the rates tried".into(),
            };
            let found = if e.cut_by_budget.is_some() { format!("{found} (search cut by the budget)") } else { found };
            let probes: Vec<String> =
                e.probes.iter().map(|p| format!("{} {}", thousands(p.rate), if p.kept_up { "✓".to_string() } else { format!("✗ ({})", p.why) })).collect();
            let there = e.probes.iter().find(|p| p.kept_up && Some(p.rate) == e.sustainable_per_s);
            let after_end = there
                .and_then(|p| p.latency_p99_ms)
                .zip(b.out_of_orderness_ms)
                .map(|(p99, bound)| format!("emit latency p99 there: {p99} ms after the window's end (its out-of-orderness bound + 50 ms: {} ms)", bound + 50));
            let after_send = there.and_then(|p| p.after_last_send_ms).map(|p| format!("p50/p99/max {p} ms after the window's last on-time event was sent"));
            let latency = [after_end, after_send].into_iter().flatten().collect::<Vec<_>>().join("; ");
            [format!("{} {}", e.engine, e.mode), found, probes.join(", "), latency]
        })
        .collect()
}

/// What the bench ran on, in a line.
pub fn heading(b: &Bench) -> String {
    format!(
        "bench on {}: scenario {}, {} events of ~{} bytes on {} partitions",
        b.broker,
        b.scenario,
        thousands(b.events as f64),
        b.mean_record_bytes,
        b.partitions
    )
}

/// What a sitting measured, each figure beside its baseline, as text.
pub fn render(b: &Bench) -> String {
    let rows = figures(b);
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    let mut out = format!("{}\n{:<w0$}  {:>w1$}  ratio\n", heading(b), "", "events/s");
    for [what, figure, against] in &rows {
        out.push_str(&format!("{what:<w0$}  {figure:>w1$}  {against}\n"));
    }
    let rates = sustainable_rates(b);
    if let Some(budget) = b.budget_s {
        let took = b.took_s.map_or(String::new(), |t| format!(", took {}", elapsed(Duration::from_secs_f64(t))));
        let cut: Vec<String> = b.engines.iter().filter_map(|e| Some(format!("{} {}: {}", e.engine, e.mode, e.cut_by_budget.as_ref()?))).collect();
        let cut = if cut.is_empty() { "nothing cut".to_string() } else { format!("cut: {}", cut.join("; ")) };
        out.push_str(&format!("budget {}{took}; {cut}\n", elapsed(Duration::from_secs_f64(budget))));
    }
    if !rates.is_empty() {
        out.push_str(&format!("{}:\n", sustainable_heading(b)));
        for [job, found, probes, latency] in &rates {
            out.push_str(&format!("  {job}: {found}; probes: {probes}\n"));
            if !latency.is_empty() {
                out.push_str(&format!("    {latency}\n"));
            }
        }
    }
    out
}

/// `figure / baseline` to two significant digits or more.
fn ratio(figure: f64, baseline: f64, of: &str) -> String {
    let r = figure / baseline;
    let decimals = if r >= 0.1 {
        2
    } else if r >= 0.01 {
        3
    } else {
        4
    };
    format!("{r:.decimals$} × {of}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::summary::Percentiles;

    /// A sitting of one engine mode, two probes.
    pub(crate) fn sample() -> Bench {
        Bench {
            broker: "Apache Kafka 4.1.2".into(),
            scenario: "disorder".into(),
            events: 220_048,
            mean_record_bytes: 151,
            partitions: 4,
            baselines: Baselines { produce_per_s: 600_000.0, consume_per_s: 800_000.0, consume_produce_per_s: 400_000.0, result_rows: 90_000 },
            simulator_per_s: 120_000.0,
            engines: vec![EngineBench {
                engine: "native".into(),
                mode: Mode::EventTime,
                backlog_per_s: Some(100_000.0),
                backlog_status: "ok".into(),
                probes: vec![
                    Probe {
                        rate: 1000.0,
                        sent_rate: 1000.0,
                        kept_up: true,
                        why: String::new(),
                        latency_p99_ms: Some(2100),
                        latency_p50_ms: Some(1900),
                        after_last_send_ms: Some(Percentiles { p50: 2000, p99: 2600, max: 2700 }),
                    },
                    Probe {
                        rate: 2000.0,
                        sent_rate: 2000.0,
                        kept_up: false,
                        why: "emit latency grew by 4000 ms over the stream".into(),
                        latency_p99_ms: Some(9000),
                        latency_p50_ms: None,
                        after_last_send_ms: None,
                    },
                ],
                sustainable_per_s: Some(1000.0),
                simulator_bound: false,
                cut_by_budget: None,
            }],
            probe_s: 10.0,
            out_of_orderness_ms: Some(2000),
            budget_s: None,
            took_s: Some(95.0),
        }
    }

    #[test]
    fn every_figure_is_beside_its_baseline() {
        let text = render(&sample());
        assert!(text.contains("220,048 events of ~151 bytes on 4 partitions"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("simulator, end to end") && l.ends_with("120,000  0.20 × bare producer")), "{text}");
        assert!(text.lines().any(|l| l.starts_with("native event-time, on the backlog") && l.ends_with("0.25 × bare consume + produce")), "{text}");
        assert!(text.contains("native event-time: 1,000 events/s, 0.0025 × bare consume + produce; probes: 1,000 ✓, 2,000 ✗ (emit latency grew"), "{text}");
        assert!(text.contains("emit latency p99 there: 2100 ms after the window's end (its out-of-orderness bound + 50 ms: 2050 ms)"), "{text}");
        assert!(text.contains("; p50/p99/max 2000/2600/2700 ms after the window's last on-time event was sent"), "{text}");
        assert!(!text.contains("budget"), "no budget, no word of it: {text}");
    }

    #[test]
    fn a_budget_says_what_it_cut() {
        let mut b = sample();
        b.budget_s = Some(120.0);
        assert!(render(&b).contains("budget 2:00, took 1:35; nothing cut"), "{}", render(&b));
        b.engines[0].cut_by_budget = Some("1,414 events/s and on not probed: 2 probes fit its share of the budget, 1:10".into());
        let text = render(&b);
        assert!(text.contains("cut: native event-time: 1,414 events/s and on not probed: 2 probes fit its share of the budget, 1:10"), "{text}");
        assert!(text.contains("native event-time: 1,000 events/s, 0.0025 × bare consume + produce (search cut by the budget); probes:"), "{text}");
    }
}
