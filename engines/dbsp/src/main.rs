//! boontadata's DBSP engine: the job around the circuit of `windows.rs`. It reads the events
//! topic with one rdkafka consumer, feeds each poll's batch of events to the circuit as one input
//! step (a DBSP transaction), and writes every window row the step changed as a result row: the
//! view read as a stream of upserts, a window emitted again each time a step adds to it (the
//! collector keeps its last value, docs/SPEC.md §5). The flags and lines are the harness's
//! (docs/SPEC.md §5, "The job").

mod windows;

use anyhow::{bail, Context, Result};
use dbsp::algebra::F64;
use dbsp::utils::Tup5;
use dbsp::{IndexedZSetReader, Runtime};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use windows::{Bounds, Reading};

/// The DBSP crate this job is built on (pinned in Cargo.toml).
const DBSP_VERSION: &str = "0.349.0";
/// Records fed to one step at most: a backlog is read in steps of this size.
const POLL_BATCH: usize = 10_000;

/// The job's flags (docs/SPEC.md §5), each with the contract's default.
struct Flags {
    mode: String,
    brokers: String,
    events: String,
    results: String,
    group: Option<String>,
    window_ms: i64,
    out_of_orderness_ms: i64,
    allowed_lateness_ms: i64,
    ids: bool,
}

impl Flags {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Flags> {
        let mut f = Flags {
            mode: "event-time".into(),
            brokers: "127.0.0.1:9092".into(),
            events: "events".into(),
            results: "results".into(),
            group: None,
            window_ms: 5000,
            out_of_orderness_ms: 1000,
            allowed_lateness_ms: 0,
            ids: false,
        };
        while let Some(flag) = args.next() {
            let value = args.next().with_context(|| format!("{flag} takes a value"))?;
            let number = || value.parse::<i64>().with_context(|| format!("{flag} {value}: not a number"));
            match flag.as_str() {
                "--mode" => f.mode = value.clone(),
                "--brokers" => f.brokers = value.clone(),
                "--events" => f.events = value.clone(),
                "--results" => f.results = value.clone(),
                "--group" => f.group = Some(value.clone()),
                "--window-ms" => f.window_ms = number()?,
                "--out-of-orderness-ms" => f.out_of_orderness_ms = number()?,
                "--allowed-lateness-ms" => f.allowed_lateness_ms = number()?,
                "--ids" => f.ids = value.parse().with_context(|| format!("--ids {value}: true or false"))?,
                // The circuit's time is the data's: no idle partitions to stop waiting for, and
                // its dedup is bounded by the waterline, not a horizon. Its state lives in memory.
                "--dedup-horizon-ms" | "--idle-timeout-ms" | "--state-dir" => {}
                _ => bail!("unknown flag {flag}"),
            }
        }
        if f.mode != "event-time" {
            bail!("--mode {}: this job's windows follow the events' own time only (event-time)", f.mode);
        }
        Ok(f)
    }
}

/// An event (docs/SPEC.md §2).
#[derive(Deserialize)]
struct Event {
    id: String,
    di: String,
    dt: i64,
    c: String,
    m1: i64,
    m2: f64,
}

/// A result row (docs/SPEC.md §5).
#[derive(Serialize)]
struct Row<'a> {
    engine: &'a str,
    mode: &'a str,
    window_end: i64,
    di: &'a str,
    c: &'a str,
    count: i64,
    m1_sum: i64,
    m2_sum: f64,
    emitted_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<&'a [String]>,
}

#[derive(Default)]
struct Tally {
    consumed: u64,
    malformed: u64,
    late_dropped: i64,
    results_emitted: u64,
}

impl Tally {
    fn print(&self) {
        println!("boontadata: metric consumed {}", self.consumed);
        println!("boontadata: metric malformed {}", self.malformed);
        println!("boontadata: metric late_dropped {}", self.late_dropped);
        println!("boontadata: metric results_emitted {}", self.results_emitted);
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn main() -> Result<()> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    ctrlc::set_handler(move || on_signal.store(true, Ordering::Relaxed)).context("handling SIGTERM")?;
    run(&flags, &stop)
}

fn run(flags: &Flags, stop: &AtomicBool) -> Result<()> {
    let engine = std::env::var("BOONTADATA_ENGINE").unwrap_or_else(|_| "dbsp".into());
    let runs = format!("dbsp {DBSP_VERSION}");
    println!("boontadata: version {}", if engine == "dbsp" { runs } else { format!("{engine} on {runs}") });

    let bounds = Bounds { window_ms: flags.window_ms, lateness_ms: flags.out_of_orderness_ms + flags.allowed_lateness_ms, ids: flags.ids };
    let (mut circuit, ends) = Runtime::init_circuit(1, move |circuit| Ok(windows::build(circuit, bounds))).context("building the DBSP circuit")?;

    let group = flags.group.clone().unwrap_or_else(|| format!("boontadata-{engine}-{}", flags.mode));
    let consumer: BaseConsumer = client(&flags.brokers)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    consumer.subscribe(&[&flags.events]).with_context(|| format!("subscribing to {}", flags.events))?;
    let producer: BaseProducer =
        client(&flags.brokers).set("linger.ms", "20").set("batch.num.messages", "10000").set("queue.buffering.max.messages", "100000").create()?;

    let mut tally = Tally::default();
    let mut ready = false;
    let mut last_report = Instant::now();
    let mut row = Vec::with_capacity(256);
    while !stop.load(Ordering::Relaxed) {
        let first = consumer.poll(Duration::from_millis(100));
        let mut fed = 0;
        for msg in first.into_iter().chain(std::iter::from_fn(|| consumer.poll(Duration::ZERO))).take(POLL_BATCH) {
            let msg = msg?;
            tally.consumed += 1;
            let Some(e) = msg.payload().and_then(|p| serde_json::from_slice::<Event>(p).ok()) else {
                tally.malformed += 1;
                continue;
            };
            let reading: Reading = Tup5(e.id, e.di, e.c, e.m1, F64::new(e.m2));
            ends.events.push(e.dt, (reading, 1));
            fed += 1;
        }
        if fed > 0 {
            circuit.transaction().context("stepping the circuit")?;
            tally.late_dropped += ends.late.consolidate().iter().map(|(_, _, w)| w).sum::<i64>();
            for (key, counted, weight) in ends.windows.consolidate().iter() {
                // A retraction (−1) is the window's previous row, which the new one replaces.
                if weight <= 0 {
                    continue;
                }
                let (window_end, device, category) = (key.0, key.1.as_str(), key.2.as_str());
                let ids = flags.ids.then_some(counted.3.as_slice());
                let r = Row {
                    engine: &engine,
                    mode: &flags.mode,
                    window_end,
                    di: device,
                    c: category,
                    count: counted.0,
                    m1_sum: counted.1,
                    m2_sum: counted.2.into_inner(),
                    emitted_at: now_ms(),
                    ids,
                };
                row.clear();
                serde_json::to_writer(&mut row, &r)?;
                send(&producer, BaseRecord::to(&flags.results).key(device.as_bytes()).payload(&row[..]))?;
                tally.results_emitted += 1;
            }
            // What was stepped is read: the window state is not kept across a crash anyway.
            consumer.commit_consumer_state(CommitMode::Async).or_else(|e| {
                if matches!(e, KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        }
        producer.poll(Duration::ZERO);
        if !ready && consumer.assignment()?.count() > 0 {
            ready = true;
            println!("boontadata: ready");
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            tally.print();
            last_report = Instant::now();
        }
    }
    producer.flush(Duration::from_secs(30)).context("flushing the results")?;
    tally.print();
    Ok(())
}

/// A client of the brokers, its log kept to errors.
fn client(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers).set("log_level", "3");
    c
}

/// Sends a row, waiting for room while the producer's queue is full.
fn send(producer: &BaseProducer, mut record: BaseRecord<[u8], [u8]>) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(10));
                record = back;
            }
            Err((e, _)) => return Err(e).context("writing a result row"),
        }
    }
}
