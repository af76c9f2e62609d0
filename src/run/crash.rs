//! The faults a scenario schedules on its stream's progress (docs/SPEC.md §3), so that runs are
//! comparable: once `crash_after` of the records are sent, `kill -9` of every engine (started again
//! `crash_down_ms` later, same group, same state folder), of the broker node that leads the events
//! topic's first partition (started again on its data), or SIGSTOP of every engine (continued
//! `crash_down_ms` later).

use super::jobs::{BeforeCrash, JobRun};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::engine::protocol::JobContext;
use crate::engine::running::Running;
use crate::inject::Sending;
use crate::model::{CrashRecord, EngineStatus};
use crate::progress::{self, EngineState};
use crate::say;
use crate::scenario::Scenario;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where a stream is: what its scenario schedules, how far its send has gone, and whether the run
/// was stopped.
pub(super) struct OnTheStream<'a> {
    pub scenario: &'a Scenario,
    pub sending: &'a Sending,
    pub stop: &'a AtomicBool,
}

impl OnTheStream<'_> {
    /// Waits until `crash_after` of the records are sent; false if the stream ended or the run was stopped first.
    fn wait_to_crash(&self, sent_all: impl Fn() -> bool) -> bool {
        while self.sending.part_sent() < self.scenario.crash_after {
            if sent_all() || self.stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// What is killed stays down for `crash_down_ms` (less if the run is stopped).
    fn pause(&self) {
        let back = Instant::now() + Duration::from_millis(self.scenario.crash_down_ms as u64);
        while Instant::now() < back && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// "after 40% of the records; `back` (starting it again) in 5.0 s", as of now.
    fn when(&self, back: &str) -> String {
        let part = self.sending.part_sent() * 100.0;
        format!("after {part:.0}% of the records; {back} in {:.1} s", self.scenario.crash_down_ms as f64 / 1000.0)
    }
}

/// The broker crash: the node leading the events topic's first partition killed, then started
/// again on its data and waited for until the whole cluster is registered. `None` when the stream
/// ended first; an error, which fails the run, when the node does not come back.
pub(super) fn crash_broker(on: &OnTheStream, broker: &mut Broker, events: &str, dir: &Path, sent_all: impl Fn() -> bool) -> Result<Option<CrashRecord>> {
    if !on.wait_to_crash(sent_all) {
        return Ok(None);
    }
    let (when, killed_at) = (on.when("starting it again"), now_ms());
    let node = broker.kill_leader_of(events)?;
    say!("boontadata: kill -9 of broker node {node} (the leader of {events}'s partition 0) {when}");
    on.pause();
    let restarted_at = now_ms();
    broker.restart(node, dir).with_context(|| format!("broker node {node} did not come back after its crash"))?;
    say!("boontadata: broker node {node} is back after {:.1} s", (now_ms() - killed_at) as f64 / 1000.0);
    Ok(Some(CrashRecord { killed_at, restarted_at, ready_again_at: Some(now_ms()), node: Some(node), stalled: false }))
}

/// The engine crash: every running job's process trees killed, then the same jobs started again,
/// each waited for until it is ready. A job that does not come back fails alone.
pub(super) fn crash_engines(on: &OnTheStream, ctx: &JobContext, jobs: &mut [JobRun], ready_timeout: Duration, sent_all: impl Fn() -> bool) {
    if !on.wait_to_crash(sent_all) {
        return;
    }
    let (when, killed_at) = (on.when("starting them again"), now_ms());
    let mut killed = Vec::new();
    for j in jobs.iter_mut().filter(|j| j.failure.is_none() && !j.processes.is_empty()) {
        j.before_crash = Some(BeforeCrash { ready_at: j.heard().ready_at, usage: j.usage() });
        j.processes.iter_mut().for_each(Running::kill);
        killed.push(j.job.label());
        progress::engine(&j.job.label(), EngineState::Killed);
    }
    say!("boontadata: kill -9 of {} {when}", killed.join(", "));
    on.pause();
    let restarted_at = now_ms();
    for j in jobs.iter_mut().filter(|j| j.failure.is_none() && !j.processes.is_empty()) {
        j.crash = Some(CrashRecord { killed_at, restarted_at, ready_again_at: None, node: None, stalled: false });
        progress::engine(&j.job.label(), EngineState::Restarting);
        match j.processes.iter().map(|e| e.start_again(ctx)).collect::<Result<Vec<_>>>() {
            Ok(again) => j.processes = again,
            Err(e) => {
                progress::engine(&j.job.label(), EngineState::Failed("could not start again".into()));
                j.processes.clear();
                j.failure = Some(EngineStatus::Failed(format!("could not start again after the crash: {e:#}")));
            }
        }
    }
    for j in jobs.iter_mut().filter(|j| j.failure.is_none() && j.crash.is_some()) {
        match j.wait_ready(ready_timeout, on.stop) {
            Ok(()) => {
                let ready_at = j.heard().ready_at;
                if let Some(crash) = j.crash.as_mut() {
                    crash.ready_again_at = ready_at.map(|at| now_ms() - at.elapsed().as_millis() as i64);
                }
                progress::engine(&j.job.label(), EngineState::Ready);
            }
            Err(status) => {
                progress::engine(&j.job.label(), EngineState::Failed(format!("not back after the crash: {status}")));
                j.failure = Some(EngineStatus::NotReady(format!("not back after the crash: {status}")));
            }
        }
    }
}

/// The engine stall: a process tree of every running job stopped (SIGSTOP) — its first of several
/// instances, whose partitions the others then take — and continued (SIGCONT) `crash_down_ms`
/// later, going on where it stopped, unaware of the time gone by: its group session and open
/// transaction timed out meanwhile.
pub(super) fn stall_engines(on: &OnTheStream, jobs: &mut [JobRun], sent_all: impl Fn() -> bool) {
    if !on.wait_to_crash(sent_all) {
        return;
    }
    let (when, stopped_at) = (on.when("continuing them"), now_ms());
    let mut stalled = Vec::new();
    for j in jobs.iter_mut().filter(|j| j.failure.is_none()) {
        if let Some(e) = j.processes.first_mut() {
            e.pause();
            stalled.push(j.job.label());
            progress::engine(&j.job.label(), EngineState::Stalled);
        }
    }
    say!("boontadata: SIGSTOP of {} {when}", stalled.join(", "));
    on.pause();
    let continued_at = now_ms();
    for j in jobs.iter_mut().filter(|j| j.failure.is_none()) {
        if let Some(e) = j.processes.first_mut() {
            e.resume();
            j.crash = Some(CrashRecord { killed_at: stopped_at, restarted_at: continued_at, ready_again_at: Some(continued_at), node: None, stalled: true });
            progress::engine(&j.job.label(), EngineState::Ready);
        }
    }
    say!("boontadata: SIGCONT of {} after {:.1} s", stalled.join(", "), (continued_at - stopped_at) as f64 / 1000.0);
}
