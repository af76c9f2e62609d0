//! `boontadata engine timely` — the windows on Timely Dataflow, a distributed
//! dataflow engine whose native idea of progress is the watermark. The window
//! logic is in `dataflow.rs`; here are its Kafka source and sink, and the
//! workers and processes it runs on.
//!
//! Beside Flink's DataStream API, the dataflow reads:
//!
//! | Flink                                                 | here                                                      |
//! |-------------------------------------------------------|-----------------------------------------------------------|
//! | `KafkaSource` + `forBoundedOutOfOrderness(1 s)`       | `kafka_source`: its capability IS the watermark            |
//! | `keyBy(device)`                                       | `exchange` on a hash of the device                         |
//! | dedup by id in keyed state                            | `deduplicate`, state forgotten as the frontier passes it   |
//! | `TumblingEventTimeWindows.of(5 s)`, `allowedLateness` | `tumbling_windows`, fired when the frontier passes an end  |
//! | `KafkaSink`                                           | `kafka_sink`                                               |
//!
//! Each worker reads its share of the partitions with the job's consumer
//! group (committed offsets, else the earliest, as every engine). A source
//! sends a reading at the reading's own time, or at its capability when that
//! time is already behind it (a late reading), and then downgrades its
//! capability to its partitions' watermark (the slowest active partition's
//! latest time − out-of-orderness; a partition silent for the idle timeout
//! stops holding it back). Timely's progress tracking makes the minimum over
//! every source, worker and process the frontier each operator sees. A worker
//! with no partition holds nothing back; a worker whose partitions are all
//! silent keeps its capability, and so every window of every worker waits.
//! Processing time is the same dataflow with the wall clock as the clock.

pub mod dataflow;

use super::watermark::PartitionClocks;
use super::{ResultsTopic, Tally};
use crate::clock::now_ms;
use crate::kafka;
use crate::engine::protocol::JobFlags;
use crate::model::{id_hash, Event, Mode};
use crate::process;
use anyhow::{anyhow, bail, Context, Result};
use dataflow::{Dropped, Reading, WindowRow, Windowing};
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::Hooks;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::{source, Operator};
use timely::dataflow::operators::Exchange;
use timely::dataflow::{Scope, StreamVec};
use timely::worker::Worker;
use timely::{CommunicationConfig, WorkerConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub job: JobFlags,
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
    /// This process's listener in a cluster on loopback: bound by process 0 and handed down.
    #[arg(long, hide = true)]
    pub listener_fd: Option<RawFd>,
}

/// The engine's process: the job of its command line (a cluster's first process starts the others).
pub fn main(args: Vec<String>, stop: &'static AtomicBool, _terminated: &'static AtomicBool) -> Result<()> {
    run(&super::parse_args("timely", args)?, stop)
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
    let partitions = kafka::partition_count(&o.job.brokers, &o.job.events)?;
    if o.process_index == 0 {
        println!("boontadata: version timely 0.32 ({} processes × {} workers)", o.processes, o.workers);
    }
    let (builders, others) = match (communication, o.listener_fd) {
        // SAFETY: process 0 handed this descriptor down to this process, for its listener alone.
        (CommunicationConfig::Cluster { threads, process, addresses, .. }, Some(fd)) => {
            connect_on(unsafe { TcpListener::from_raw_fd(fd) }, &addresses, process, threads)?
        }
        (communication, _) => communication.try_build().map_err(|e| anyhow!("starting timely: {e}"))?,
    };
    let options = o.clone();
    let guards = timely::execute::execute_from(builders, others, WorkerConfig::default(), move |worker| {
        work(worker, &options, partitions, stop).map_err(|e| format!("{e:#}"))
    })
    .map_err(|e| anyhow!("starting timely: {e}"))?;
    for result in guards.join() {
        result.map_err(|e| anyhow!("a timely worker failed: {e}"))?.map_err(|e| anyhow!(e))?;
    }
    Ok(())
}

/// One worker: its share of the partitions, the dataflow, and the loop that drives it.
fn work(worker: &mut Worker, o: &Options, partitions: i32, stop: &'static AtomicBool) -> Result<()> {
    let job = &o.job;
    let (index, peers) = (worker.index(), worker.peers());
    let mine: Vec<i32> = (0..partitions).filter(|p| *p as usize % peers == index).collect();
    let consumer = kafka::partition_consumer(&job.brokers, &job.group_for("timely"), &job.events, mine.iter().copied())?;
    let tally = Rc::new(RefCell::new(Tally::default()));
    let dropped = Rc::new(Dropped::default());
    let results = Rc::new(RefCell::new(ResultsTopic::new("timely", job)?));
    // A resend gets a time of its own but in event time: its id is remembered for a horizon there.
    let horizon = if job.mode == Mode::EventTime { 0 } else { job.dedup_horizon_ms };

    worker.dataflow::<u64, _, _>(|scope| {
        kafka_source(scope, consumer, mine, job.clone(), tally.clone(), stop)
            .exchange(|r: &Reading| id_hash(&r.device))
            .deduplicate(job.window_ms, job.allowed_lateness_ms, horizon, dropped.clone())
            .tumbling_windows(job.window_ms, job.allowed_lateness_ms, dropped.clone())
            .sink(Pipeline, "KafkaSink", {
                let results = results.clone();
                move |(input, _frontier)| {
                    let mut results = results.borrow_mut();
                    input.for_each(|_, rows| rows.drain(..).for_each(|r: WindowRow| results.write(r.window_end, &r.device, &r.category, &r.agg, &r.ids)));
                }
            });
    });

    if o.process_index == 0 && index == 0 {
        println!("boontadata: ready");
    }
    let suffix = format!("@{index}");
    let report =
        || Tally { late_dropped: dropped.late.get(), duplicates_dropped: dropped.duplicates.get(), ..*tally.borrow() }.print(&results.borrow(), &suffix);
    let mut last_report = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        worker.step_or_park(Some(Duration::from_millis(20)));
        results.borrow_mut().check()?;
        if last_report.elapsed() >= Duration::from_secs(1) {
            report();
            last_report = Instant::now();
        }
    }
    results.borrow_mut().finish()?;
    report();
    Ok(())
}

/// Reads this worker's partitions: each reading goes at its own time, or at the
/// capability when it is behind it; then the capability moves up to the watermark.
fn kafka_source<'s>(
    scope: Scope<'s, u64>,
    consumer: BaseConsumer,
    partitions: Vec<i32>,
    job: JobFlags,
    tally: Rc<RefCell<Tally>>,
    stop: &'static AtomicBool,
) -> StreamVec<'s, u64, Reading> {
    source(scope, "KafkaSource", move |capability, info| {
        let activator = scope.activator_for(info.address);
        let mut clocks = PartitionClocks::new(job.out_of_orderness_ms, job.idle_timeout_ms);
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
            let mut by_time: BTreeMap<u64, Vec<Reading>> = BTreeMap::new();
            let mut tally = tally.borrow_mut();
            for msg in std::iter::from_fn(|| kafka::poll(&consumer, Duration::ZERO)).take(10_000) {
                let Ok(msg) = msg else { continue };
                tally.consumed += 1;
                let Some(event) = msg.payload().and_then(Event::decode) else {
                    tally.malformed += 1;
                    continue;
                };
                let t = match job.mode {
                    Mode::EventTime => event.dt,
                    Mode::ProcessingTime => now,
                    Mode::IngestionTime => msg.timestamp().to_millis().unwrap_or(now),
                };
                clocks.observe(msg.partition(), t, now);
                let named = job.ids.then(|| event.id.to_string());
                let reading = Reading { device: event.di.into_owned(), category: event.c.into_owned(), id: id_hash(&event.id), t, m1: event.m1, m2: event.m2, named };
                by_time.entry((t.max(0) as u64).max(*cap.time())).or_default().push(reading);
            }
            let read = !by_time.is_empty();
            for (time, readings) in by_time {
                output.session(&cap.delayed(&time)).give_iterator(readings.into_iter());
            }
            let watermark = if job.mode == Mode::ProcessingTime { Some(now) } else { clocks.watermark(now) };
            if let Some(w) = watermark.filter(|&w| w > *cap.time() as i64) {
                cap.downgrade(&(w as u64));
            }
            if read {
                activator.activate();
            } else {
                activator.activate_after(Duration::from_millis(10));
            }
        }
    })
}

fn read_hostfile(path: &Path, processes: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading host file {}", path.display()))?;
    let hosts: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).take(processes).map(String::from).collect();
    if hosts.len() < processes {
        bail!("host file {} names {} hosts, --processes is {processes}", path.display(), hosts.len());
    }
    Ok(hosts)
}

/// Process `index`'s connections to the other processes of a cluster on loopback, made as Timely makes
/// them (to each lower process, from each higher one, which says its index) but on `listener`, which
/// process 0 bound before any process started: no other process can have taken its port meanwhile.
fn connect_on(listener: TcpListener, addresses: &[String], index: usize, threads: usize) -> Result<(Vec<AllocatorBuilder>, Box<dyn Any + Send>)> {
    let mut sockets: Vec<Option<TcpStream>> = addresses.iter().map(|_| None).collect();
    // Every process listens from the start: a lower one is reached at once, a higher one waits in the backlog.
    for (lower, address) in addresses.iter().enumerate().take(index) {
        let mut stream = TcpStream::connect(address).with_context(|| format!("connecting to timely process {lower} at {address}"))?;
        stream.write_all(&(index as u64).to_be_bytes())?;
        sockets[lower] = Some(stream);
    }
    for _ in index + 1..addresses.len() {
        let (mut stream, _) = listener.accept()?;
        let mut from = [0; 8];
        stream.read_exact(&mut from)?;
        let from = u64::from_be_bytes(from) as usize;
        let slot = sockets.get_mut(from).filter(|slot| from > index && slot.is_none());
        *slot.with_context(|| format!("timely process {index}: a connection from process {from}, which it does not wait for"))? = Some(stream);
    }
    sockets.iter().flatten().try_for_each(|s| s.set_nodelay(true))?;
    let hooks = Hooks::default();
    let local = ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) = initialize_networking_from_sockets(local, sockets, index, threads, hooks).context("starting timely's networking")?;
    Ok((builders.into_iter().map(AllocatorBuilder::Tcp).collect(), Box::new(guard)))
}

/// Process 0 of a cluster on this machine: writes a host file on loopback,
/// starts the other processes, runs its own share, and stops them with it.
fn run_local_cluster(o: &Options, stop: &'static AtomicBool) -> Result<()> {
    // Every process's port is bound here, all at once, and handed down as a listener: a port only
    // chosen here and bound by its process later could be taken by another process meanwhile.
    let listeners = process::listeners(o.processes)?;
    let hosts = listeners.iter().map(|l| Ok(l.local_addr()?.to_string())).collect::<Result<Vec<_>>>()?;
    let hostfile = std::env::temp_dir().join(format!("boontadata-timely-{}.hosts", std::process::id()));
    std::fs::write(&hostfile, hosts.join("\n")).with_context(|| format!("writing {}", hostfile.display()))?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut listeners = listeners.into_iter();
    let own = listeners.next().context("a cluster has a process 0")?;
    let mut others = Vec::new();
    for (i, listener) in (1..).zip(listeners) {
        let fd = listener.as_raw_fd();
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.args(&args).args(["--process-index", &i.to_string(), "--listener-fd", &fd.to_string(), "--hostfile"]).arg(&hostfile);
        others
            .push(process::die_with_parent(process::hand_down(&mut cmd, fd)).stdin(std::process::Stdio::null()).spawn().context("starting a timely process")?);
    }
    // A cluster ends together: a process's workers finish only once every other process has hung up.
    let pids: Vec<u32> = others.iter().map(std::process::Child::id).collect();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        pids.into_iter().for_each(process::ask_to_stop);
    });
    let result = run(&Options { hostfile: Some(hostfile.clone()), listener_fd: Some(own.into_raw_fd()), ..o.clone() }, stop);
    for child in &mut others {
        process::stop(child, Duration::from_secs(5));
    }
    let _ = std::fs::remove_file(&hostfile);
    result
}
