//! `boontadata engine native` — the reference engine: the yardstick every
//! other engine is compared against. One consumer, the window operator of
//! `window.rs`, one producer; batched on both sides, no allocation per event.

pub mod window;

use crate::event::{id_hash, Event, WindowResult};
use crate::kafka;
use crate::window::now_ms;
use anyhow::Result;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
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
    let producer = kafka::producer(&o.brokers)?;
    println!("boontadata: version native {}", env!("CARGO_PKG_VERSION"));
    let mut windows = Windows::new(o.window_ms, o.allowed_lateness_ms);
    let mut clocks = PartitionClocks::new(o.out_of_orderness_ms, o.idle_timeout_ms);
    let mut out = Output { producer, topic: &o.results, mode: o.mode.as_str(), buf: Vec::with_capacity(256), emitted: 0, failed: None };
    let (mut consumed, mut malformed) = (0u64, 0u64);
    let mut ready = false;
    let mut last_report = Instant::now();

    while !stop.load(Ordering::Relaxed) {
        let first = consumer.poll(Duration::from_millis(100));
        let now = now_ms();
        for msg in first.into_iter().chain(std::iter::from_fn(|| consumer.poll(Duration::ZERO)).take(10_000)) {
            let msg = msg?;
            consumed += 1;
            let Some(event) = msg.payload().and_then(Event::decode) else {
                malformed += 1;
                continue;
            };
            let t = match o.mode {
                Mode::EventTime => event.dt,
                Mode::ProcessingTime => now,
                Mode::IngestionTime => msg.timestamp().to_millis().unwrap_or(now),
            };
            // A resend keeps its device time, so in event time its window remembers it; the
            // other clocks give it a new time, so ids are kept for a horizon instead.
            let remember_until = if o.mode == Mode::EventTime { 0 } else { t + o.dedup_horizon_ms };
            windows.add(t, id_hash(&event.id), remember_until, &event.di, &event.c, event.m1, event.m2, &mut |e| out.emit(e));
            clocks.observe(msg.partition(), t, now);
        }
        let watermark = match o.mode {
            Mode::ProcessingTime => Some(now),
            Mode::EventTime | Mode::IngestionTime => clocks.watermark(now),
        };
        if let Some(wm) = watermark {
            windows.advance(wm, &mut |e| out.emit(e));
        }
        if let Some(err) = out.failed.take() {
            return Err(err);
        }
        out.producer.poll(Duration::ZERO);
        if !ready || last_report.elapsed() >= Duration::from_secs(1) {
            let assignment = consumer.assignment()?;
            clocks.assign(assignment.elements().iter().map(|p| p.partition()), now);
            if !ready && assignment.count() > 0 {
                ready = true;
                println!("boontadata: ready");
            }
            report(consumed, malformed, out.emitted, &windows);
            last_report = Instant::now();
        }
    }
    kafka::finish(&out.producer, "native engine results")?;
    report(consumed, malformed, out.emitted, &windows);
    Ok(())
}

/// Writes window rows to the results topic; the first failure stops the engine.
struct Output<'a> {
    producer: kafka::Sender,
    topic: &'a str,
    mode: &'static str,
    buf: Vec<u8>,
    emitted: u64,
    failed: Option<anyhow::Error>,
}

impl Output<'_> {
    fn emit(&mut self, e: Emit) {
        let record = WindowResult {
            engine: Cow::Borrowed("native"),
            mode: Cow::Borrowed(self.mode),
            window_end: e.window_end,
            di: Cow::Borrowed(e.device),
            c: Cow::Borrowed(e.category),
            count: e.count,
            m1_sum: e.m1_sum,
            m2_sum: e.m2_sum,
            emitted_at: now_ms(),
        };
        record.encode_into(&mut self.buf);
        if let Err(err) = kafka::send(&self.producer, BaseRecord::to(self.topic).key(e.device.as_bytes()).payload(&self.buf[..])) {
            self.failed.get_or_insert(err);
        }
        self.emitted += 1;
    }
}

fn report(consumed: u64, malformed: u64, emitted: u64, w: &Windows) {
    let c = w.counters;
    println!("boontadata: metric consumed {consumed}");
    println!("boontadata: metric malformed {malformed}");
    println!("boontadata: metric results_emitted {emitted}");
    println!("boontadata: metric late_dropped {}", c.late_dropped);
    println!("boontadata: metric duplicates_dropped {}", c.duplicates_dropped);
}
