//! Running things on a broker. One run goes through its phases, each in a file of its own:
//! **prepare** (folder, store, topics, the collector), **drive** (start the engines, send the
//! scenario with its scheduled faults (`crash`), wait for the end of the stream), **gather** (the
//! log, the results read again, what was measured), **evaluate** (with the function `compare` uses
//! on what the store keeps, a group of devices at a time) and **keep** (the summary in the run's
//! folder, the run in the store; in a SQLite file of the folder if the store fails). Beside it,
//! the runs of the other commands: the simulator alone (`inject`), scenarios in turn (`matrix`),
//! and a bench's sitting (`bench`), each on one broker with the engines that serve jobs kept
//! between runs.

mod baselines;
pub mod bench;
mod crash;
mod drive;
mod gather;
pub mod inject;
mod jobs;
mod keep;
pub mod matrix;
mod prepare;

use crate::broker::{self, Broker};
use crate::clock::stamp_now;
use crate::engine::running::Running;
use crate::engine::{Instances, Job};
use crate::evaluate;
use crate::phases::Phases;
use crate::progress;
use crate::say;
use crate::scenario::{Crash, Scenario};
use crate::store;
use crate::summary::RunSummary;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub scenario: Scenario,
    pub jobs: Vec<Job>,
    pub broker: broker::Choice,
    pub out: PathBuf,
    pub store: Option<String>,
    /// Send the whole stream before starting the engines (measures throughput on a backlog).
    pub preload: bool,
    /// Stop waiting for an engine that has not emitted its flush row after this long without new results.
    pub quiet: Duration,
    pub ready_timeout: Duration,
    /// The engines' own options, as their jobs take them, by engine name.
    pub engine_args: BTreeMap<String, Vec<String>>,
    /// The jobs' rows name the events each window counted, where the engine can (a correctness
    /// run); not on a bench's throughput runs, where the list would change what is measured.
    pub ids: bool,
    /// Processes of each job of an engine that runs its instances as processes (`--instances`).
    pub instances: u32,
}

impl RunOptions {
    /// How many processes `job` runs in.
    pub fn processes_of(&self, job: &Job) -> usize {
        if job.spec.instances == Some(Instances::Processes) {
            self.instances as usize
        } else {
            1
        }
    }
}

impl RunOptions {
    /// `--store`, or the SQLite file in the output folder.
    pub fn store_url(&self) -> String {
        self.store.clone().unwrap_or_else(|| format!("sqlite:{}", self.out.join("boontadata.sqlite").display()))
    }
}

/// Engine processes kept from one run to the next, as the scenarios of a
/// matrix go by: an engine that serves jobs starts once, not once per scenario.
#[derive(Default)]
pub struct Engines(Vec<Running>);

/// One run on the broker `o` names, started for it: its summary, as `compare` would print it again.
pub fn run(o: &RunOptions, stop: &AtomicBool) -> Result<RunSummary> {
    // A bad store URL is said before a broker takes seconds to start; the store stays open for
    // the command, so that a local Cassandra node it starts serves the run too, started once.
    let _store = store::open(&o.store_url())?;
    let (id, dir) = run_folder(o)?;
    progress::step(format!("run {}", o.scenario.name), None);
    let mut broker = start_broker(&o.broker, &dir, std::slice::from_ref(&o.scenario))?;
    let summary = run_on(o, id, dir, &mut broker, &mut Engines::default(), stop)?;
    progress::done();
    Ok(summary)
}

/// One run on a broker already started, in a folder of `o.out`, taking engine processes from
/// `engines` where it can and leaving them there (a matrix's scenarios, a bench's probes).
pub fn run_with(o: &RunOptions, broker: &mut Broker, engines: &mut Engines, stop: &AtomicBool) -> Result<RunSummary> {
    let (id, dir) = run_folder(o)?;
    run_on(o, id, dir, broker, engines, stop)
}

/// A run's id and its folder, made.
fn run_folder(o: &RunOptions) -> Result<(String, PathBuf)> {
    let id = format!("{}-{}-{:04x}", o.scenario.name, stamp_now(), std::process::id() & 0xffff);
    let dir = o.out.join(&id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating output folder {}", dir.display()))?;
    Ok((id, dir))
}

/// Starts the broker (logging into `dir`), saying so.
/// A scenario that kills a broker node needs a local cluster of three: one is started for it.
pub fn start_broker(choice: &broker::Choice, dir: &Path, scenarios: &[Scenario]) -> Result<Broker> {
    let mut choice = choice.clone();
    if let Some(sc) = scenarios.iter().find(|s| s.crash == Crash::Broker) {
        match &mut choice {
            broker::Choice::Local { kind: broker::Kind::Kafka, nodes } if *nodes < 3 => {
                say!("boontadata: scenario {} kills a broker node: starting a local cluster of 3 nodes (--broker-nodes 3)", sc.name);
                *nodes = 3;
            }
            broker::Choice::Local { kind: broker::Kind::Kafka, .. } => {}
            _ => anyhow::bail!("scenario {} kills a node of a local Apache Kafka cluster: run it without --brokers and --broker tansu", sc.name),
        }
    }
    if let broker::Choice::Local { .. } = choice {
        say!("boontadata: starting the local broker …");
        progress::doing("starting the local broker");
    }
    let broker = broker::start(&choice, dir)?;
    say!("boontadata: broker {}{}", broker.about, broker.startup.map_or(String::new(), |s| format!(", started in {:.1} s", s.as_secs_f64())));
    Ok(broker)
}

/// One run on `broker`, taking engine processes from `engines` where it can and leaving them there.
fn run_on(o: &RunOptions, id: String, dir: PathBuf, broker: &mut Broker, engines: &mut Engines, stop: &AtomicBool) -> Result<RunSummary> {
    let mut phases = Phases::default();
    progress::doing("preparing the run");
    let mut run = prepare::prepare(o, id, dir, broker)?;
    phases.done("prepare");
    let driven = drive::drive(o, &run, broker, engines, stop)?;
    phases.done("stream");
    progress::doing("reading the results");
    let gathered = gather::gather(&mut run, driven, engines)?;
    phases.done("collect");
    progress::doing("comparing");
    let mut summary = evaluate::evaluate(&gathered.record, &gathered.metrics, &gathered, &store::shown(&run.store_url))?;
    keep::write_summary(&run.dir, &summary)?;
    phases.done("compare");
    progress::doing("storing");
    let window_ms = o.scenario.window_ms;
    if let Err(failure) = keep::keep(&mut *run.store, &gathered, window_ms, &summary) {
        keep::keep_elsewhere(&run.dir, &gathered, window_ms, &mut summary, failure);
        keep::write_summary(&run.dir, &summary)?;
    }
    phases.done("store");
    say!("boontadata: run {} {}", run.record.id, phases.line());
    Ok(summary)
}
