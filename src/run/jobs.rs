//! The jobs of a run, each with its engine process: started (or taken from the last run, for an
//! engine that serves jobs), waited for until ready, and ended.

use super::prepare::log_path;
use super::{Engines, RunOptions};
use crate::engine::protocol::{Heard, JobContext};
use crate::engine::running::Running;
use crate::engine::{folder, Job};
use crate::model::{CrashRecord, EngineStatus};
use crate::progress::{self, EngineState};
use crate::say;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// How long an engine that serves jobs may take to end one.
const END_JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// A job of the run, with its engine processes once it has them: one, or `--instances` of an
/// engine that runs its instances as processes.
pub(super) struct JobRun {
    pub job: Job,
    pub processes: Vec<Running>,
    /// Why the job failed, once it has.
    pub failure: Option<EngineStatus>,
    /// When the harness killed its engine and started it again, in a crash scenario.
    pub crash: Option<CrashRecord>,
    /// What the harness had of the processes a crash killed.
    pub before_crash: Option<BeforeCrash>,
}

impl JobRun {
    /// What its processes said, as one.
    pub fn heard(&self) -> Heard {
        Heard::of_instances(self.processes.iter().map(Running::heard))
    }

    /// Its CPU seconds and peak memory over its processes, running at once.
    pub fn usage(&self) -> Option<(f64, u64)> {
        self.processes.iter().filter_map(Running::usage).reduce(|(cpu, peak), (c, p)| (cpu + c, peak + p))
    }

    /// Whether every one of its processes has ended.
    pub fn exited(&mut self) -> bool {
        self.processes.iter_mut().all(|e| e.exited().is_some())
    }

    /// Waits until each of its processes is ready; the first that is not fails the job, its processes stopped.
    pub fn wait_ready(&mut self, timeout: Duration, stop: &AtomicBool) -> Result<(), EngineStatus> {
        for i in 0..self.processes.len() {
            if let Err(status) = self.processes[i].wait_ready(timeout, stop) {
                say!("boontadata: engine {} {status}; see {}", self.job.label(), self.processes[i].log.display());
                self.processes.iter_mut().for_each(Running::stop);
                return Err(status);
            }
        }
        Ok(())
    }
}

/// What the harness keeps of an engine process it kills in a crash, for the job's measures over the whole run.
pub(super) struct BeforeCrash {
    /// When it said `ready`: the job's reading time starts there, not at its restart.
    pub ready_at: Option<Instant>,
    /// Its CPU seconds and peak memory, as last sampled.
    pub usage: Option<(f64, u64)>,
}

/// Gives each job an engine process that is ready: the one kept from the previous run if it serves
/// jobs, else a new one. A job whose engine cannot start, or does not get ready, fails alone.
pub(super) fn start_engines(o: &RunOptions, ctx: &JobContext, engines: &mut Engines, stop: &AtomicBool) -> Vec<JobRun> {
    progress::doing("starting the engines");
    let mut kept = std::mem::take(&mut engines.0);
    let mut jobs = Vec::new();
    for job in &o.jobs {
        progress::engine(&job.label(), EngineState::Starting);
        let mut started = Vec::new();
        let mut failure = None;
        for instance in 0..o.processes_of(job) {
            let log = log_path(&ctx.run_dir, job, instance);
            let process = match kept.iter_mut().position(|e| e.can_take(job, instance)) {
                Some(i) => {
                    let mut e = kept.swap_remove(i);
                    e.next_job(ctx, &log).map(|_| e)
                }
                None => folder::setup(job.spec).and_then(|_| Running::start(job, ctx, &log, instance)),
            };
            match process {
                Ok(e) => started.push(e),
                Err(e) => {
                    say!("boontadata: engine {} could not start: {e:#}", job.label());
                    progress::engine(&job.label(), EngineState::Failed("could not start".into()));
                    started.iter_mut().for_each(Running::stop);
                    failure = Some(EngineStatus::NotReady(format!("could not start: {e:#}")));
                    break;
                }
            }
        }
        let processes = if failure.is_some() { Vec::new() } else { started };
        jobs.push(JobRun { job: job.clone(), processes, failure, crash: None, before_crash: None });
    }
    // Engines this run has no job for wait for a later one (a matrix run in groups of jobs).
    engines.0 = kept;
    say!("boontadata: started {}; waiting until they are ready …", o.jobs.iter().map(Job::label).collect::<Vec<_>>().join(", "));
    for j in jobs.iter_mut().filter(|j| !j.processes.is_empty()) {
        match j.wait_ready(o.ready_timeout, stop) {
            Ok(()) => progress::engine(&j.job.label(), EngineState::Ready),
            Err(status) => {
                progress::engine(&j.job.label(), EngineState::Failed(status.to_string()));
                j.failure = Some(status);
            }
        }
    }
    jobs
}

/// Ends each job: an engine that serves jobs ends its job and waits for the next run's; any other
/// is stopped.
pub(super) fn end_jobs(jobs: &mut [JobRun], stop: &AtomicBool) {
    for j in jobs.iter_mut() {
        // Every process of the job is asked at once, as a cluster is stopped: one that left first
        // would have the others rebalance its partitions while they end.
        let mut ending = Vec::new();
        for e in &mut j.processes {
            // One that exited by itself (its job failed) is said to have crashed, with its last words, by its status.
            if j.failure.is_none() && e.job.spec.serves_jobs && e.exited().is_none() {
                match e.end_job() {
                    Ok(()) => ending.push(e),
                    Err(failed) => j.failure = j.failure.take().or(Some(failed)),
                }
            } else {
                e.stop();
            }
        }
        for e in ending {
            if let Err(failed) = e.job_ended(END_JOB_TIMEOUT, stop) {
                j.failure = j.failure.take().or(Some(failed));
            }
        }
    }
}
