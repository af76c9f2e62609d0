//! `boontadata bench`: one sitting on one broker. What the broker allows (bare librdkafka clients on
//! the scenario's own records: `baselines`), the simulator end to end, each engine mode on a
//! preloaded backlog, and each engine mode's sustainable rate (paced probes, `sustainable`). What
//! it measured, and how that reads, is `crate::bench`.

use super::{baselines, inject, run_with, start_broker, Engines, RunOptions};
use crate::bench::{Bench, EngineBench};
use crate::broker::Broker;
use crate::clock::stamp_now;
use crate::engine::Job;
use crate::format::{elapsed, thousands};
use crate::kafka;
use crate::phases::Phases;
use crate::progress;
use crate::report;
use crate::say;
use crate::scenario::{Clock, Pacing, Scenario};
use crate::simulate::Plan;
use crate::summary::{EngineSummary, RunSummary};
use crate::sustainable::{self, Probe};
use anyhow::{Context, Result};
use std::path::PathBuf;
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
    /// The sitting's time bound, shared out between the engine modes' searches.
    pub budget: Option<Duration>,
}

/// A probe whose simulator sent a record later than this after its schedule did not send at the
/// asked rate: from there on the simulator, not the engine, is the limit.
const SIMULATOR_BEHIND_MS: u64 = 1000;

/// A sitting under way: its broker, the engines kept between its runs, and where it keeps them.
struct Sitting<'a> {
    o: &'a BenchOptions,
    broker: Broker,
    engines: Engines,
    dir: PathBuf,
    store: String,
    stop: &'a AtomicBool,
}

/// The sitting: what it measured, and its folder (`bench.json`, `bench.txt`, `report.html`).
pub fn bench(o: &BenchOptions, stop: &AtomicBool) -> Result<(Bench, PathBuf)> {
    let dir = o.run.out.join(format!("bench-{}", stamp_now()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = format!("sqlite:{}", dir.join("boontadata.sqlite").display());
    let broker = start_broker(&o.run.broker, &dir, &[])?;
    let started = Instant::now();
    let mut sitting = Sitting { o, broker, engines: Engines::default(), dir, store, stop };
    let sc = Scenario { pacing: Pacing::None, clock: Clock::Virtual, ..o.run.scenario.clone() };

    let plan = Plan::new(&sc, sc.epoch_ms);
    let events = plan.sends().count();
    progress::step(format!("bench: bare clients on the scenario's {events} events"), None);
    let (baselines, mean_record_bytes) = baselines::measure(&sitting.broker, &plan, &sc)?;
    drop(plan);
    let simulator_per_s = sitting.simulator(&sc)?;
    let mut measured = Vec::new();
    for (i, job) in o.run.jobs.iter().enumerate() {
        let engine_mode = format!("bench {}/{} {}", i + 1, o.run.jobs.len(), job.label());
        progress::step(format!("{engine_mode} on a backlog of {events} events"), None);
        let backlog = sitting.backlog(&sc, job)?;
        let share = o.budget.map(|b| sustainable::share_of_budget(b.saturating_sub(started.elapsed()), o.run.jobs.len() - i));
        measured.push(sitting.sustainable(job, &engine_mode, backlog, baselines.consume_produce_per_s, share)?);
    }
    progress::done();
    let b = Bench {
        broker: sitting.broker.about.clone(),
        scenario: sc.name.clone(),
        events,
        mean_record_bytes,
        partitions: sc.partitions,
        baselines,
        simulator_per_s,
        engines: measured,
        probe_s: o.probe.as_secs_f64(),
        out_of_orderness_ms: Some(sc.out_of_orderness_ms),
        budget_s: o.budget.map(|b| b.as_secs_f64()),
        took_s: Some(started.elapsed().as_secs_f64()),
    };
    report::write_bench(&sitting.dir, &b)?;
    Ok((b, sitting.dir))
}

impl Sitting<'_> {
    /// The simulator end to end (plan, send, events and truth stored), events/s.
    fn simulator(&mut self, sc: &Scenario) -> Result<f64> {
        progress::step("bench: the simulator, end to end", None);
        let started = Instant::now();
        let mut phases = Phases::default();
        let plan = Plan::new(sc, sc.epoch_ms);
        phases.done("plan");
        let topic = format!("bench.simulator.{}", stamp_now());
        let brokers = self.broker.bootstrap.clone();
        let injection = inject::Injection { scenario: sc.clone(), brokers: brokers.clone(), topic: topic.clone(), store_url: self.store.clone(), run_id: None };
        let (_, injected) = inject::inject(&injection, plan, phases, self.stop)?;
        let per_s = injected.events as f64 / started.elapsed().as_secs_f64();
        kafka::delete_topics_named(&brokers, &topic)?;
        Ok(per_s)
    }

    /// `job` on the whole stream of `sc`, preloaded.
    fn backlog(&mut self, sc: &Scenario, job: &Job) -> Result<EngineSummary> {
        let options = RunOptions {
            scenario: sc.clone(),
            jobs: vec![job.clone()],
            out: self.dir.clone(),
            store: Some(self.store.clone()),
            preload: true,
            ids: false,
            ..self.o.run.clone()
        };
        only_engine(self.run_then_drop_topics(&options)?)
    }

    /// The sustainable-rate search of `job`, after its `backlog`: probes doubling, then bisecting,
    /// up to `up_to` events/s, until the simulator cannot send faster, or a further probe would not
    /// end within its `share` of the budget. Each probe is a step of the status, after `engine_mode`'s.
    fn sustainable(&mut self, job: &Job, engine_mode: &str, backlog: EngineSummary, up_to: f64, share: Option<Duration>) -> Result<EngineBench> {
        let mut e = EngineBench {
            engine: job.spec.name.clone(),
            mode: job.mode,
            backlog_per_s: backlog.events_per_s,
            backlog_status: backlog.status.to_string(),
            probes: Vec::new(),
            sustainable_per_s: None,
            simulator_bound: false,
            cut_by_budget: None,
        };
        let (started, mut longest) = (Instant::now(), None);
        while let Some(rate) = (e.probes.len() < self.o.max_probes).then(|| sustainable::next_rate(&e.probes, self.o.from_rate, up_to)).flatten() {
            if let Some(share) = share.filter(|&share| !sustainable::probe_fits(started.elapsed(), share, longest, self.o.probe)) {
                e.cut_by_budget =
                    Some(format!("{} events/s and on not probed: {} probes fit its share of the budget, {}", thousands(rate), e.probes.len(), elapsed(share)));
                say!("bench: {}: the budget ends its search before {rate:.0} events/s", job.label());
                break;
            }
            progress::step(format!("{engine_mode} at {} events/s, probe {}", thousands(rate), e.probes.len() + 1), None);
            let probe_started = Instant::now();
            let (mut probe, simulator_behind_ms) = self.probe(job, rate)?;
            longest = longest.max(Some(probe_started.elapsed()));
            say!("bench: {} at {rate:.0} events/s: {}", job.label(), if probe.kept_up { "kept up" } else { "fell behind" });
            e.simulator_bound = simulator_behind_ms > SIMULATOR_BEHIND_MS;
            if e.simulator_bound {
                // What the engine was given is what the simulator managed to send.
                probe.why = format!("{}; {rate:.0}/s asked, the simulator sent up to {simulator_behind_ms} ms behind its schedule", probe.why);
                probe.rate = probe.sent_rate;
            }
            e.probes.push(probe);
            if e.simulator_bound {
                say!("bench: the simulator could not keep the pace: the search ends here");
                break;
            }
        }
        e.sustainable_per_s = sustainable::sustainable_rate(&e.probes);
        Ok(e)
    }

    /// One paced run of `job` at `rate` events/s over the scenario's devices, on the live clock,
    /// for the probe's time; and how far behind its schedule the simulator sent.
    fn probe(&mut self, job: &Job, rate: f64) -> Result<(Probe, u64)> {
        let base = &self.o.run.scenario;
        let messages = (rate * self.o.probe.as_secs_f64() / base.devices as f64).ceil().max(1.0) as u32;
        let scenario = Scenario { clock: Clock::Live, pacing: Pacing::Rate, rate, messages, ..base.clone() };
        let out = self.dir.join("probes");
        let options = RunOptions { scenario, jobs: vec![job.clone()], out, store: Some(self.store.clone()), preload: false, ids: false, ..self.o.run.clone() };
        let summary = self.run_then_drop_topics(&options)?;
        let (sent_rate, behind_ms) = (summary.inject_events_per_s, summary.inject_behind_schedule_ms.unwrap_or(0));
        let engine = only_engine(summary)?;
        let (kept_up, why) = sustainable::kept_up(&engine);
        let probe = Probe {
            rate,
            sent_rate,
            kept_up,
            why,
            latency_p99_ms: engine.latency_p99_ms,
            latency_p50_ms: engine.latency_p50_ms,
            after_last_send_ms: engine.after_last_send_ms,
        };
        Ok((probe, behind_ms))
    }

    /// A run whose topics, its engine's own included, are deleted once it is stored: a sitting's
    /// probes would otherwise fill the disk (one at 256k events/s sends 5M events, and its engine
    /// commits its state as it goes).
    fn run_then_drop_topics(&mut self, options: &RunOptions) -> Result<RunSummary> {
        let summary = run_with(options, &mut self.broker, &mut self.engines, self.stop)?;
        kafka::delete_topics_named(&self.broker.bootstrap, &summary.run_id)?;
        Ok(summary)
    }
}

/// The one engine mode of a run of one job; a run whose store failed ends the bench.
fn only_engine(summary: RunSummary) -> Result<EngineSummary> {
    if let Some(failure) = summary.store_failure {
        anyhow::bail!(failure);
    }
    summary.engines.into_iter().next().context("a run of one job without its engine's row")
}
