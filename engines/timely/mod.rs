//! `boontadata engine timely` — the same windows on Timely Dataflow, a
//! distributed dataflow engine whose native idea of progress is the watermark.
//!
//! Beside Flink's DataStream API, the dataflow below reads:
//!
//! | Flink                                                | here                                                    |
//! |------------------------------------------------------|---------------------------------------------------------|
//! | `KafkaSource` + `forBoundedOutOfOrderness(1 s)`      | `kafka_source`: its capability IS the watermark          |
//! | `keyBy(device)`                                      | `Exchange` on a hash of the device                       |
//! | `TumblingEventTimeWindows.of(5 s)`, `allowedLateness`| the `Windows` sink, fired when its input frontier passes a window's end |
//! | `KafkaSink`                                          | `Output`, the native engine's producer code              |
//!
//! Timestamps are event-time milliseconds. A source sends what it reads at its
//! current capability and then downgrades it to its partitions' watermark;
//! timely's progress tracking makes the minimum over every source, every
//! worker and every process the frontier the window operator sees, so no
//! operator keeps a watermark timer of its own. Processing time is the same
//! dataflow with the wall clock as the clock.
//!
//! One difference from Flink shows on purpose: timely has no idle source. A
//! worker whose partitions have all been silent keeps its capability where it
//! was, so it holds every window back until data (at the latest, the flush
//! events) reaches it; Flink's `withIdleness` would leave it out instead.

use crate::engines::native::window::{Emit, PartitionClocks, Windows};
use crate::engines::native::{self, Output, Tally};
use crate::event::{id_hash, Event};
use crate::kafka;
use crate::process;
use crate::window::now_ms;
use anyhow::{anyhow, bail, Context, Result};
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::{source, Operator};
use timely::dataflow::{Scope, StreamVec};
use timely::worker::Worker;
use timely::{CommunicationConfig, WorkerConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub common: native::Options,
    /// Worker threads per process.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Processes in the cluster; process 0 starts the others on this machine.
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// This process's index in the cluster (given by process 0 to the others).
    #[arg(long, default_value_t = 0)]
    pub process_index: usize,
    /// Timely's host file, one HOST:PORT per process (process 0 writes one on loopback when not given).
    #[arg(long)]
    pub hostfile: Option<PathBuf>,
}

/// One event on its way from a source to the window operator of its device.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    device: String,
    category: String,
    id: u64,
    t: i64,
    remember_until: i64,
    m1: i64,
    m2: f64,
}

pub fn run(o: &Options, stop: &'static AtomicBool) -> Result<()> {
    if o.processes > 1 && o.process_index == 0 && o.hostfile.is_none() {
        return run_local_cluster(o, stop);
    }
    let communication = match (o.processes, &o.hostfile) {
        (1, _) if o.workers == 1 => CommunicationConfig::Thread,
        (1, _) => CommunicationConfig::Process(o.workers),
        (_, Some(hostfile)) => CommunicationConfig::Cluster {
            threads: o.workers,
            process: o.process_index,
            addresses: read_hostfile(hostfile, o.processes)?,
            report: false,
            zerocopy: false,
        },
        (_, None) => bail!("--processes {} needs --hostfile on every process but process 0", o.processes),
    };
    let partitions = kafka::partition_count(&o.common.brokers, &o.common.events)?;
    if o.process_index == 0 {
        println!("boontadata: version timely 0.32 ({} processes × {} workers)", o.processes, o.workers);
    }
    let options = o.clone();
    let config = timely::Config { communication, worker: WorkerConfig::default() };
    let guards = timely::execute(config, move |worker| work(worker, &options, partitions, stop).map_err(|e| format!("{e:#}")))
        .map_err(|e| anyhow!("starting timely: {e}"))?;
    for result in guards.join() {
        result.map_err(|e| anyhow!("a timely worker failed: {e}"))?.map_err(|e| anyhow!(e))?;
    }
    Ok(())
}

/// One worker: its share of the partitions, the dataflow, and the loop that drives it.
fn work(worker: &mut Worker, o: &Options, partitions: i32, stop: &'static AtomicBool) -> Result<()> {
    let c = &o.common;
    let (index, peers) = (worker.index(), worker.peers());
    let mine: Vec<i32> = (0..partitions).filter(|p| *p as usize % peers == index).collect();
    let consumer = kafka::assigned_consumer(&c.brokers, &c.events, mine.clone(), false)?;
    let tally = Rc::new(RefCell::new(Tally::default()));
    let windows = Rc::new(RefCell::new(Windows::new(c.window_ms, c.allowed_lateness_ms)));
    let output = Rc::new(RefCell::new(Output::new(&c.brokers, "timely", &c.results, c.mode)?));

    worker.dataflow::<u64, _, _>(|scope| {
        let readings = kafka_source(scope, consumer, mine, c.clone(), tally.clone(), stop);
        let out = output.clone();
        tumbling_windows(readings, windows.clone(), move |e| out.borrow_mut().emit(e));
    });

    if o.process_index == 0 && index == 0 {
        println!("boontadata: ready");
    }
    let suffix = format!("@{index}");
    let mut last_report = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        worker.step_or_park(Some(Duration::from_millis(20)));
        output.borrow_mut().check()?;
        if last_report.elapsed() >= Duration::from_secs(1) {
            tally.borrow().print(&windows.borrow(), &output.borrow(), &suffix);
            last_report = Instant::now();
        }
    }
    output.borrow_mut().finish()?;
    tally.borrow().print(&windows.borrow(), &output.borrow(), &suffix);
    Ok(())
}

/// Tumbling windows per (device, category): readings go to the worker of their
/// device, and the input frontier is the watermark, so every window ending at
/// or before it is complete and is emitted.
fn tumbling_windows(readings: StreamVec<'_, u64, Reading>, windows: Rc<RefCell<Windows>>, mut emit: impl FnMut(Emit) + 'static) {
    readings.sink(Exchange::new(|r: &Reading| id_hash(&r.device)), "TumblingWindows", move |(input, frontier)| {
        let mut windows = windows.borrow_mut();
        input.for_each(|_time, readings| {
            for r in readings.drain(..) {
                windows.add(r.t, r.id, r.remember_until, &r.device, &r.category, r.m1, r.m2, &mut emit);
            }
        });
        if let Some(&watermark) = frontier.frontier().iter().min() {
            windows.advance(watermark as i64, &mut emit);
        }
    });
}

/// Reads this worker's partitions. Everything read in one activation is sent at
/// the current capability, which then moves up to the partitions' watermark.
fn kafka_source<'s>(
    scope: Scope<'s, u64>,
    consumer: BaseConsumer,
    partitions: Vec<i32>,
    o: native::Options,
    tally: Rc<RefCell<Tally>>,
    stop: &'static AtomicBool,
) -> StreamVec<'s, u64, Reading> {
    source(scope, "KafkaSource", move |capability, info| {
        let activator = scope.activator_for(info.address);
        let mut clocks = PartitionClocks::new(o.out_of_orderness_ms, o.idle_timeout_ms);
        clocks.assign(partitions.iter().copied(), now_ms());
        // A worker with no partition to read must not hold the others' frontier back.
        let mut capability = (!partitions.is_empty()).then_some(capability);
        move |output| {
            let Some(cap) = capability.as_mut() else { return };
            if stop.load(Ordering::Relaxed) {
                capability = None;
                return;
            }
            let now = now_ms();
            let mut read = 0;
            {
                let mut session = output.session(cap);
                let mut tally = tally.borrow_mut();
                for msg in std::iter::from_fn(|| consumer.poll(Duration::ZERO)).take(10_000) {
                    let Ok(msg) = msg else { continue };
                    read += 1;
                    tally.consumed += 1;
                    let Some(event) = msg.payload().and_then(Event::decode) else {
                        tally.malformed += 1;
                        continue;
                    };
                    let t = o.mode.time_of(&msg, &event, now);
                    clocks.observe(msg.partition(), t, now);
                    session.give(Reading {
                        device: event.di.into_owned(),
                        category: event.c.into_owned(),
                        id: id_hash(&event.id),
                        t,
                        remember_until: o.mode.remember_until(t, o.dedup_horizon_ms),
                        m1: event.m1,
                        m2: event.m2,
                    });
                }
            }
            if let Some(watermark) = o.mode.watermark(&clocks, now).filter(|&w| w > *cap.time() as i64) {
                cap.downgrade(&(watermark as u64));
            }
            if read > 0 {
                activator.activate();
            } else {
                activator.activate_after(Duration::from_millis(10));
            }
        }
    })
    .container::<Vec<_>>()
}

fn read_hostfile(path: &Path, processes: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading host file {}", path.display()))?;
    let hosts: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).take(processes).map(String::from).collect();
    if hosts.len() < processes {
        bail!("host file {} names {} hosts, --processes is {processes}", path.display(), hosts.len());
    }
    Ok(hosts)
}

/// Process 0 of a cluster on this machine: writes a host file on loopback,
/// starts the other processes, runs its own share, and stops them with it.
fn run_local_cluster(o: &Options, stop: &'static AtomicBool) -> Result<()> {
    let hostfile = std::env::temp_dir().join(format!("boontadata-timely-{}.hosts", std::process::id()));
    let hosts: Vec<String> = (0..o.processes).map(|_| crate::broker::free_port().map(|p| format!("127.0.0.1:{p}"))).collect::<Result<_>>()?;
    std::fs::write(&hostfile, hosts.join("\n")).with_context(|| format!("writing {}", hostfile.display()))?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut others = Vec::new();
    for i in 1..o.processes {
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.args(&args).args(["--process-index", &i.to_string(), "--hostfile"]).arg(&hostfile).stdin(std::process::Stdio::null());
        others.push(process::die_with_parent(&mut cmd).spawn().context("starting a timely process")?);
    }
    // A cluster ends together: a process's workers finish only once every other process has hung up.
    let pids: Vec<u32> = others.iter().map(std::process::Child::id).collect();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        pids.into_iter().for_each(process::ask_to_stop);
    });
    let result = run(&Options { hostfile: Some(hostfile.clone()), ..o.clone() }, stop);
    for child in &mut others {
        process::stop(child, Duration::from_secs(5));
    }
    let _ = std::fs::remove_file(&hostfile);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use timely::dataflow::operators::Input;
    use timely::dataflow::InputHandle;

    fn reading(t: i64, id: u64, m1: i64) -> Reading {
        Reading { device: "d".into(), category: "cat-1".into(), id, t, remember_until: 0, m1, m2: m1 as f64 }
    }

    #[test]
    fn the_frontier_fires_windows_and_late_readings_are_dropped() {
        let (emitted, counters) = timely::execute_directly(|worker| {
            let mut input = InputHandle::new();
            let windows = Rc::new(RefCell::new(Windows::new(5000, 0)));
            let emitted = Rc::new(RefCell::new(Vec::new()));
            let sink = emitted.clone();
            worker.dataflow::<u64, _, _>(|scope| {
                tumbling_windows(scope.input_from(&mut input), windows.clone(), move |e| sink.borrow_mut().push((e.window_end, e.count, e.m1_sum)));
            });
            // (readings sent at the current time, then the watermark the source moves to)
            let steps: [(&[Reading], u64); 4] = [
                (&[reading(1000, 1, 1), reading(5800, 2, 1)], 4800),
                (&[reading(4900, 3, 10)], 5100),                       // 900 ms out of order: within the bound, counted
                (&[reading(4950, 4, 100), reading(1000, 1, 1)], 5100), // after the window fired: late; and a resend
                (&[reading(9000, 5, 1)], 10_000),
            ];
            let mut fired_at = Vec::new();
            for (batch, watermark) in steps {
                for r in batch {
                    input.send(r.clone());
                }
                input.advance_to(watermark);
                for _ in 0..5 {
                    worker.step();
                }
                fired_at.push(emitted.borrow().len());
            }
            assert_eq!(fired_at, vec![0, 1, 1, 2], "a window fires only once the frontier passes its end");
            let counters = windows.borrow().counters;
            let emitted = emitted.borrow().clone();
            (emitted, counters)
        });
        assert_eq!(emitted, vec![(5000, 2, 11), (10_000, 2, 2)]);
        assert_eq!((counters.late_dropped, counters.accepted), (2, 4), "the late reading and the resend of a closed window are dropped");
    }
}
