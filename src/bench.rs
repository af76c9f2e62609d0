//! `boontadata bench`: in one sitting and on one broker, what the broker allows (bare librdkafka
//! clients on the scenario's own records), the simulator end to end, each engine mode on a
//! preloaded backlog, and each engine mode's sustainable rate (`sustainable`). Every figure is
//! given beside its baseline from the same sitting, as a ratio, so that a figure from a noisy
//! machine is never read alone.

use crate::broker::Broker;
use crate::clock::stamp_now;
use crate::engine::Job;
use crate::inject::key_and_partition;
use crate::kafka;
use crate::model::{window_end, Mode};
use crate::phases::Phases;
use crate::run::{self, Engines, RunOptions};
use crate::scenario::{Clock, Pacing, Scenario};
use crate::simulate::{Plan, Record};
use crate::summary::RunSummary;
use crate::sustainable::{self, Probe};
use anyhow::{Context, Result};
use rdkafka::producer::BaseRecord;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub struct BenchOptions {
    /// The backlog's scenario (sent unpaced, on the virtual clock), the engine modes, the broker.
    pub run: RunOptions,
    /// How long each paced probe of the sustainable-rate search sends.
    pub probe: Duration,
    /// The first rate the search tries, events/s.
    pub from_rate: f64,
    /// Probes per engine mode at most; 0 measures the backlog only.
    pub max_probes: usize,
}

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
}

/// What bare librdkafka clients do with the scenario's own records, keyed and partitioned as the simulator sends them.
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
}

/// A probe whose simulator sent a record later than this after its schedule did not send at the
/// asked rate: from there on the simulator, not the engine, is the limit.
const SIMULATOR_BEHIND_MS: u64 = 1000;

pub fn bench(o: &BenchOptions, stop: &AtomicBool) -> Result<(Bench, PathBuf)> {
    let dir = o.run.out.join(format!("bench-{}", stamp_now()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = format!("sqlite:{}", dir.join("boontadata.sqlite").display());
    let mut broker = run::start_broker(&o.run.broker, &dir, &[])?;
    let sc = Scenario { pacing: Pacing::None, clock: Clock::Virtual, ..o.run.scenario.clone() };

    let plan = Plan::new(&sc, sc.epoch_ms);
    let events = plan.sends().count();
    eprintln!("bench: bare clients on the scenario's {events} events …");
    let (baselines, mean_record_bytes) = baselines(&broker, &plan, &sc)?;
    drop(plan);

    eprintln!("bench: the simulator, end to end …");
    let started = Instant::now();
    let mut phases = Phases::default();
    let plan = Plan::new(&sc, sc.epoch_ms);
    phases.done("plan");
    let simulator_topic = format!("bench.simulator.{}", stamp_now());
    let (_, injected) = run::inject(&sc, plan, &broker.bootstrap, &simulator_topic, &store, None, phases, stop)?;
    let simulator_per_s = injected.events as f64 / started.elapsed().as_secs_f64();
    kafka::delete_topics_named(&broker.bootstrap, &simulator_topic)?;

    let mut engines = Engines::default();
    let mut measured = Vec::new();
    for job in &o.run.jobs {
        eprintln!("bench: {} on a backlog of {events} events …", job.label());
        let options =
            RunOptions { scenario: sc.clone(), jobs: vec![job.clone()], out: dir.clone(), store: Some(store.clone()), preload: true, ..o.run.clone() };
        let backlog = only_engine(run_then_drop_topics(&options, &mut broker, &mut engines, stop)?)?;
        let mut e = EngineBench {
            engine: job.spec.name.clone(),
            mode: job.mode,
            backlog_per_s: backlog.events_per_s,
            backlog_status: backlog.status.to_string(),
            probes: Vec::new(),
            sustainable_per_s: None,
            simulator_bound: false,
        };
        while let Some(rate) =
            (e.probes.len() < o.max_probes).then(|| sustainable::next_rate(&e.probes, o.from_rate, baselines.consume_produce_per_s)).flatten()
        {
            let (mut probe, simulator_behind_ms) = probe(o, job, rate, &mut broker, &mut engines, &dir, &store, stop)?;
            eprintln!("bench: {} at {rate:.0} events/s: {}", job.label(), if probe.kept_up { "kept up" } else { "fell behind" });
            e.simulator_bound = simulator_behind_ms > SIMULATOR_BEHIND_MS;
            if e.simulator_bound {
                // What the engine was given is what the simulator managed to send.
                probe.why = format!("{}; {rate:.0}/s asked, the simulator sent up to {simulator_behind_ms} ms behind its schedule", probe.why);
                probe.rate = probe.sent_rate;
            }
            e.probes.push(probe);
            if e.simulator_bound {
                eprintln!("bench: the simulator could not keep the pace: the search ends here");
                break;
            }
        }
        e.sustainable_per_s = sustainable::sustainable_rate(&e.probes);
        measured.push(e);
    }
    let b = Bench {
        broker: broker.about.clone(),
        scenario: sc.name.clone(),
        events,
        mean_record_bytes,
        partitions: sc.partitions,
        baselines,
        simulator_per_s,
        engines: measured,
        probe_s: o.probe.as_secs_f64(),
        out_of_orderness_ms: Some(sc.out_of_orderness_ms),
    };
    std::fs::write(dir.join("bench.json"), serde_json::to_string_pretty(&b)?)?;
    std::fs::write(dir.join("bench.txt"), render(&b))?;
    write_page(&dir, &b)?;
    Ok((b, dir))
}

/// A run whose topics, its engine's own included, are deleted once it is stored: a sitting's
/// probes would otherwise fill the disk (one at 256k events/s sends 5M events, and its engine
/// commits its state as it goes).
fn run_then_drop_topics(options: &RunOptions, broker: &mut Broker, engines: &mut Engines, stop: &AtomicBool) -> Result<RunSummary> {
    let summary = run::run_with(options, broker, engines, stop)?;
    kafka::delete_topics_named(&broker.bootstrap, &summary.run_id)?;
    Ok(summary)
}

/// The one engine mode of a run of one job; a run whose store failed ends the bench.
fn only_engine(summary: RunSummary) -> Result<crate::summary::EngineSummary> {
    if let Some(failure) = summary.store_failure {
        anyhow::bail!(failure);
    }
    summary.engines.into_iter().next().context("a run of one job without its engine's row")
}

/// One paced run of `job` at `rate` events/s over the scenario's devices, on the live clock, for
/// `o.probe`; and how far behind its schedule the simulator sent.
#[allow(clippy::too_many_arguments)]
fn probe(
    o: &BenchOptions,
    job: &Job,
    rate: f64,
    broker: &mut Broker,
    engines: &mut Engines,
    dir: &Path,
    store: &str,
    stop: &AtomicBool,
) -> Result<(Probe, u64)> {
    let base = &o.run.scenario;
    let messages = (rate * o.probe.as_secs_f64() / base.devices as f64).ceil().max(1.0) as u32;
    let scenario = Scenario { clock: Clock::Live, pacing: Pacing::Rate, rate, messages, ..base.clone() };
    let options = RunOptions { scenario, jobs: vec![job.clone()], out: dir.join("probes"), store: Some(store.into()), preload: false, ..o.run.clone() };
    let summary = run_then_drop_topics(&options, broker, engines, stop)?;
    let (sent_rate, behind_ms) = (summary.inject_events_per_s, summary.inject_behind_schedule_ms.unwrap_or(0));
    let engine = only_engine(summary)?;
    let (kept_up, why) = sustainable::kept_up(&engine);
    Ok((Probe { rate, sent_rate, kept_up, why, latency_p99_ms: engine.latency_p99_ms, after_last_send_ms: engine.after_last_send_ms }, behind_ms))
}

/// The bare clients' rates on the plan's own records: produced to a topic of the scenario's
/// partitions, read back, then read back again while writing a result row per window.
fn baselines(broker: &Broker, plan: &Plan, sc: &Scenario) -> Result<(Baselines, usize)> {
    let topic = format!("bench.baseline.{}", stamp_now());
    kafka::create_topic(&broker.bootstrap, &topic, sc.partitions, broker.replication)?;
    let mut buf = Vec::new();
    let records: Vec<(&str, i32, Vec<u8>)> = plan
        .records
        .iter()
        .map(|r| {
            plan.encode(r, &mut buf);
            let (key, partition) = key_and_partition(plan, r, sc.partitions);
            (key, partition, buf.clone())
        })
        .collect();
    let mean_record_bytes = records.iter().map(|r| r.2.len()).sum::<usize>() / records.len().max(1);

    let producer = kafka::producer(&broker.bootstrap)?;
    let produce = |topic: &str| -> Result<f64> {
        let started = Instant::now();
        for (key, partition, payload) in &records {
            kafka::send(&producer, BaseRecord::to(topic).partition(*partition).key(key.as_bytes()).payload(&payload[..]))?;
        }
        kafka::finish(&producer, "the baseline producer")?;
        Ok(records.len() as f64 / started.elapsed().as_secs_f64())
    };
    // Once untimed, so that the timed pass finds the client connected and the broker warm, as the simulator does after it.
    let warm_up = format!("{topic}.warm-up");
    kafka::create_topic(&broker.bootstrap, &warm_up, sc.partitions, broker.replication)?;
    produce(&warm_up)?;
    let produce_per_s = produce(&topic)?;

    let started = Instant::now();
    let mut read = 0usize;
    kafka::read_to_end(&broker.bootstrap, &topic, sc.partitions, "the baseline's records", Duration::from_secs(30), |_| {
        read += 1;
        Ok(())
    })?;
    let consume_per_s = read as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(read == records.len(), "the baseline consumer read {read} records of the {} written to {topic}", records.len());

    let windows: HashSet<(i64, u32, u32)> = plan
        .records
        .iter()
        .filter_map(|r| if let Record::Event(s) = r { Some((window_end(s.dt, sc.window_ms), s.device, s.category)) } else { None })
        .collect();
    let results = format!("{topic}.results");
    kafka::create_topic(&broker.bootstrap, &results, sc.partitions, broker.replication)?;
    let row = [b'r'; 160];
    let (started, mut read, mut written) = (Instant::now(), 0usize, 0usize);
    kafka::read_to_end(&broker.bootstrap, &topic, sc.partitions, "the baseline's records", Duration::from_secs(30), |m| {
        read += 1;
        // Rows go out as the records come in, spread evenly over the stream.
        while written * records.len() < read * windows.len() {
            kafka::send(&producer, BaseRecord::to(&results).partition(rdkafka::Message::partition(m)).key(&b"row"[..]).payload(&row[..]))?;
            written += 1;
        }
        Ok(())
    })?;
    kafka::finish(&producer, "the baseline producer of result rows")?;
    let consume_produce_per_s = read as f64 / started.elapsed().as_secs_f64();
    kafka::delete_topics_named(&broker.bootstrap, &topic)?;
    Ok((Baselines { produce_per_s, consume_per_s, consume_produce_per_s, result_rows: windows.len() }, mean_record_bytes))
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

/// Writes what a sitting measured as a self-contained HTML page, `report.html` in `dir`; returns its path.
pub fn write_page(dir: &Path, b: &Bench) -> Result<PathBuf> {
    let path = dir.join("report.html");
    std::fs::write(&path, page(b)).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn page(b: &Bench) -> String {
    crate::html::bench_page(&heading(b), &figures(b), &sustainable_heading(b), &sustainable_rates(b))
}

/// The bench of a bench folder, or `None` when `dir` holds no `bench.json`.
pub fn load(dir: &Path) -> Result<Option<Bench>> {
    let path = dir.join("bench.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).map(Some).with_context(|| format!("{} is not a bench", path.display()))
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

/// 1234567.8 as 1,234,568.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Percentiles;

    /// A sitting of one engine mode, two probes.
    fn sample() -> Bench {
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
                        after_last_send_ms: Some(Percentiles { p50: 2000, p99: 2600, max: 2700 }),
                    },
                    Probe {
                        rate: 2000.0,
                        sent_rate: 2000.0,
                        kept_up: false,
                        why: "emit latency grew by 4000 ms over the stream".into(),
                        latency_p99_ms: Some(9000),
                        after_last_send_ms: None,
                    },
                ],
                sustainable_per_s: Some(1000.0),
                simulator_bound: false,
            }],
            probe_s: 10.0,
            out_of_orderness_ms: Some(2000),
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
    }

    #[test]
    fn big_numbers_have_thousands_separators() {
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }

    #[test]
    fn the_page_shows_every_figure_with_its_ratio_and_the_sustainable_rates() {
        let page = page(&sample());
        assert!(page.contains("<td>simulator, end to end</td><td>120,000</td><td>0.20 × bare producer</td>"), "{page}");
        assert!(page.contains("<td>native event-time, on the backlog</td><td>100,000</td><td>0.25 × bare consume + produce</td>"), "{page}");
        assert!(page.contains("<td>native event-time</td><td>1,000 events/s, 0.0025 × bare consume + produce</td>"), "{page}");
        assert!(page.contains("2,000 ✗ (emit latency grew by 4000 ms over the stream)"), "{page}");
    }
}
