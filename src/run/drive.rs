//! A run's second phase: its engines started (or taken from the last run), its stream sent with the
//! faults its scenario schedules on it, and the wait for every engine's end of the stream.

use super::crash::{self, OnTheStream};
use super::jobs::{end_jobs, start_engines, JobRun};
use super::prepare::Prepared;
use super::{Engines, RunOptions};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::collect::Collected;
use crate::engine::Job;
use crate::inject::{self, Injected, Sending, Stream};
use crate::kafka;
use crate::model::Mode;
use crate::progress::{self, Rows};
use crate::scenario::Crash;
use crate::simulate::Plan;
use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What driving a run gave: what was sent, and its jobs, ended.
pub(super) struct Driven {
    pub sent: Sent,
    pub jobs: Vec<JobRun>,
}

/// A stream sent: how it went, its plan, and each event's send time, in the plan's order.
pub(super) struct Sent {
    pub injected: Injected,
    pub plan: Plan,
    pub sent_at: Vec<i64>,
}

pub(super) fn drive(o: &RunOptions, run: &Prepared, broker: &mut Broker, engines: &mut Engines, stop: &AtomicBool) -> Result<Driven> {
    let sc = &o.scenario;
    if o.preload && sc.crash != Crash::None {
        anyhow::bail!("scenario '{}' crashes the engines while the stream is sent: it cannot be preloaded (drop --preload)", sc.name);
    }
    let producer = kafka::producer(&run.ctx.flags.brokers)?;
    let sending = Sending::default();
    // Not `run` itself into the sending thread: its store is not to be shared between threads.
    let (events, partitions) = (&run.ctx.flags.events, run.partitions);
    let _watching = progress::watch(rows_read(&o.jobs, run.collected.clone()));
    let send = || {
        progress::doing("sending");
        let mut plan = Plan::new(sc, sc.start_of_clock(now_ms()));
        inject::start_live_clock(&mut plan, sc);
        let mut sent_at = Vec::with_capacity(plan.records.len());
        let stream = Stream { plan: &plan, scenario: sc, producer: &producer, topic: events, partitions };
        let injected = inject::send(&stream, &sending, stop, &mut |batch| {
            sent_at.extend(batch.iter().map(|&(_, at)| at));
            Ok(())
        })?;
        anyhow::Ok(Sent { injected, plan, sent_at })
    };
    let (sent, mut jobs) = if o.preload {
        let sent = send()?;
        (sent, start_engines(o, &run.ctx, engines, stop))
    } else {
        let mut jobs = start_engines(o, &run.ctx, engines, stop);
        let on = OnTheStream { scenario: sc, sending: &sending, stop };
        let sent = std::thread::scope(|s| {
            let sender = s.spawn(send);
            let sent_all = || sender.is_finished();
            let crashed = match sc.crash {
                Crash::None => Ok(None),
                Crash::Engine => {
                    crash::crash_engines(&on, &run.ctx, &mut jobs, o.ready_timeout, sent_all);
                    Ok(None)
                }
                Crash::Broker => crash::crash_broker(&on, broker, events, &run.dir, sent_all),
                Crash::EngineStall => {
                    crash::stall_engines(&on, &mut jobs, sent_all);
                    Ok(None)
                }
            };
            let sent = sender.join().map_err(|_| anyhow::anyhow!("the sending thread panicked"))??;
            // A broker node that did not come back fails the run, once the send has ended.
            if let Some(node) = crashed? {
                jobs.iter_mut().for_each(|j| j.crash = Some(node));
            }
            anyhow::Ok(sent)
        })?;
        (sent, jobs)
    };
    progress::doing("waiting for the end of the stream");
    wait_for_engines(&mut jobs, &run.collected, &sent.injected, o.quiet, stop)?;
    progress::doing("ending the jobs");
    end_jobs(&mut jobs, stop);
    Ok(Driven { sent, jobs })
}

/// Waits until every engine still running has emitted its flush row (then one more quiet
/// second for stragglers), has been quiet for `quiet` since the flush (or, with
/// `--preload`, since the engines were ready) — no new results, and its `consumed` metric
/// not rising: a slow engine still reading is waited for — or has died. The status shows whom it waits for.
fn wait_for_engines(jobs: &mut [JobRun], collected: &Mutex<Collected>, injected: &Injected, quiet: Duration, stop: &AtomicBool) -> Result<()> {
    let quiet_from = injected.flushed.max(Instant::now());
    loop {
        if stop.load(Ordering::Relaxed) {
            anyhow::bail!("interrupted while waiting for the engines");
        }
        let now = Instant::now();
        let c = collected.lock().expect("collector lock");
        let waiting = jobs.iter_mut().filter(|j| j.failure.is_none() && !j.processes.is_empty()).any(|j| {
            if j.exited() {
                return false;
            }
            let p = c.progress.get(&(j.job.spec.name.clone(), j.job.mode)).cloned().unwrap_or_default();
            let last = p.last_received.map_or(quiet_from, |l| l.max(quiet_from));
            let heard_from = j.heard().reading_at.map_or(last, |r| r.max(last));
            !((p.flush_seen() && now - last >= Duration::from_secs(1)) || now - heard_from >= quiet)
        });
        drop(c);
        if !waiting {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the collector has read of each job so far, by the job's label, for the status.
fn rows_read(jobs: &[Job], collected: Arc<Mutex<Collected>>) -> impl Fn() -> Vec<Rows> + Send + Sync + 'static {
    let keys: Vec<(String, (String, Mode))> = jobs.iter().map(|j| (j.label(), (j.spec.name.clone(), j.mode))).collect();
    move || {
        let c = collected.lock().expect("collector lock");
        let read = |(label, key): &(String, (String, Mode))| {
            c.progress.get(key).map(|p| Rows { label: label.clone(), rows: p.rows_received, end_of_stream: p.flush_seen() })
        };
        keys.iter().filter_map(read).collect()
    }
}
