//! `boontadata engine native` — the reference engine: the yardstick every
//! other engine is compared against. One consumer, the window operator of
//! `window.rs`, one producer; batched on both sides, no allocation per event.

pub mod window;

use crate::event::{id_hash, Event, WindowResult};
use crate::kafka;
use crate::window::now_ms;
use anyhow::Result;
use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::BaseRecord;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use window::{Emit, PartitionClocks, Windows};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Windows by the device time `dt`, closed by a watermark.
    EventTime,
    /// Windows by the engine's wall clock when it reads the event.
    ProcessingTime,
    /// Windows by the Kafka record timestamp (the send time), closed by a watermark.
    IngestionTime,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::EventTime => "event-time",
            Mode::ProcessingTime => "processing-time",
            Mode::IngestionTime => "ingestion-time",
        }
    }

    /// The time a record is windowed by in this mode.
    pub fn time_of(self, msg: &BorrowedMessage, event: &Event, now: i64) -> i64 {
        match self {
            Mode::EventTime => event.dt,
            Mode::ProcessingTime => now,
            Mode::IngestionTime => msg.timestamp().to_millis().unwrap_or(now),
        }
    }

    /// How long an id is remembered for dedup. A resend keeps its device time, so
    /// in event time its own window remembers it; the other clocks give a resend
    /// a new time, so ids are kept for a horizon instead.
    pub fn remember_until(self, t: i64, horizon_ms: i64) -> i64 {
        if self == Mode::EventTime {
            0
        } else {
            t + horizon_ms
        }
    }

    /// The watermark: the wall clock in processing time, else the partitions' clocks.
    pub fn watermark(self, clocks: &PartitionClocks, now: i64) -> Option<i64> {
        match self {
            Mode::ProcessingTime => Some(now),
            Mode::EventTime | Mode::IngestionTime => clocks.watermark(now),
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic to read events from.
    #[arg(long, default_value = "events")]
    pub events: String,
    /// Topic to write window results to.
    #[arg(long, default_value = "results")]
    pub results: String,
    #[arg(long, value_enum, default_value = "event-time")]
    pub mode: Mode,
    /// Consumer group (default: boontadata-native-MODE).
    #[arg(long)]
    pub group: Option<String>,
    #[arg(long, default_value_t = 5000)]
    pub window_ms: i64,
    /// Watermark = max seen time − this bound.
    #[arg(long, default_value_t = 1000)]
    pub out_of_orderness_ms: i64,
    /// How long after the watermark passes a window late events still update it.
    #[arg(long, default_value_t = 0)]
    pub allowed_lateness_ms: i64,
    /// A partition silent this long stops holding the watermark back.
    #[arg(long, default_value_t = 5000)]
    pub idle_timeout_ms: i64,
    /// Processing time: how long a message id is remembered to drop its resends.
    #[arg(long, default_value_t = 600_000)]
    pub dedup_horizon_ms: i64,
}

/// Runs until `stop` is set (SIGTERM/SIGINT), printing the protocol lines the harness reads.
pub fn run(o: &Options, stop: &AtomicBool) -> Result<()> {
    let group = o.group.clone().unwrap_or_else(|| format!("boontadata-native-{}", o.mode.as_str()));
    let consumer = kafka::group_consumer(&o.brokers, &group, &o.events)?;
    println!("boontadata: version native {}", env!("CARGO_PKG_VERSION"));
    let mut windows = Windows::new(o.window_ms, o.allowed_lateness_ms);
    let mut clocks = PartitionClocks::new(o.out_of_orderness_ms, o.idle_timeout_ms);
    let mut out = Output::new(&o.brokers, "native", &o.results, o.mode)?;
    let mut tally = Tally::default();
    let mut ready = false;
    let mut last_report = Instant::now();

    while !stop.load(Ordering::Relaxed) {
        // A short wait: in processing time a window is due the moment the clock passes its end.
        let first = consumer.poll(Duration::from_millis(10));
        let now = now_ms();
        for msg in first.into_iter().chain(std::iter::from_fn(|| consumer.poll(Duration::ZERO)).take(10_000)) {
            let msg = msg?;
            tally.consumed += 1;
            let Some(event) = msg.payload().and_then(Event::decode) else {
                tally.malformed += 1;
                continue;
            };
            let t = o.mode.time_of(&msg, &event, now);
            let remember_until = o.mode.remember_until(t, o.dedup_horizon_ms);
            windows.add(t, id_hash(&event.id), remember_until, &event.di, &event.c, event.m1, event.m2, &mut |e| out.emit(e));
            clocks.observe(msg.partition(), t, now);
        }
        if let Some(wm) = o.mode.watermark(&clocks, now) {
            windows.advance(wm, &mut |e| out.emit(e));
        }
        out.check()?;
        if !ready || last_report.elapsed() >= Duration::from_secs(1) {
            let assignment = consumer.assignment()?;
            clocks.assign(assignment.elements().iter().map(|p| p.partition()), now);
            if !ready && assignment.count() > 0 {
                ready = true;
                println!("boontadata: ready");
            }
            tally.print(&windows, &out, "");
            last_report = Instant::now();
        }
    }
    out.finish()?;
    tally.print(&windows, &out, "");
    Ok(())
}

/// What an engine process counts and reports as `boontadata: metric` lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub consumed: u64,
    pub malformed: u64,
}

impl Tally {
    /// Prints the metrics; `suffix` (`@1`, …) tells apart processes of one engine, whose values the harness adds up.
    pub fn print(&self, w: &Windows, out: &Output, suffix: &str) {
        let c = w.counters;
        println!("boontadata: metric consumed{suffix} {}", self.consumed);
        println!("boontadata: metric malformed{suffix} {}", self.malformed);
        println!("boontadata: metric results_emitted{suffix} {}", out.emitted);
        println!("boontadata: metric late_dropped{suffix} {}", c.late_dropped);
        println!("boontadata: metric duplicates_dropped{suffix} {}", c.duplicates_dropped);
    }
}

/// Writes window rows to the results topic, batched by the producer; the first
/// failure is kept and ends the engine at the next `check`.
pub struct Output {
    producer: kafka::Sender,
    engine: &'static str,
    topic: String,
    mode: Mode,
    buf: Vec<u8>,
    pub emitted: u64,
    failed: Option<anyhow::Error>,
}

impl Output {
    pub fn new(brokers: &str, engine: &'static str, topic: &str, mode: Mode) -> Result<Output> {
        Ok(Output { producer: kafka::producer(brokers)?, engine, topic: topic.to_string(), mode, buf: Vec::with_capacity(256), emitted: 0, failed: None })
    }

    pub fn emit(&mut self, e: Emit) {
        let record = WindowResult {
            engine: Cow::Borrowed(self.engine),
            mode: Cow::Borrowed(self.mode.as_str()),
            window_end: e.window_end,
            di: Cow::Borrowed(e.device),
            c: Cow::Borrowed(e.category),
            count: e.count,
            m1_sum: e.m1_sum,
            m2_sum: e.m2_sum,
            emitted_at: now_ms(),
        };
        record.encode_into(&mut self.buf);
        if let Err(err) = kafka::send(&self.producer, BaseRecord::to(&self.topic).key(e.device.as_bytes()).payload(&self.buf[..])) {
            self.failed.get_or_insert(err);
        }
        self.emitted += 1;
    }

    /// Serves delivery reports; fails if a row could not be sent.
    pub fn check(&mut self) -> Result<()> {
        self.producer.poll(Duration::ZERO);
        self.failed.take().map_or(Ok(()), Err)
    }

    pub fn finish(&mut self) -> Result<()> {
        self.check()?;
        kafka::finish(&self.producer, &format!("{} engine results", self.engine))
    }
}
