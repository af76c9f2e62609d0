//! The engines written in Rust and run by this binary (`boontadata engine
//! NAME`), and what they share: the engine side of the job lines (as
//! `engines/protocol.py` is for Python engines), and the writer of the results
//! topic. Engines of other ecosystems live beside these folders, each in its own idiom.

pub mod watermark;

/// Declares the engines built into this binary: each is a folder of `engines/` (its
/// `engine.toml` says `launch = "builtin"`) whose module has
/// `pub fn main(args, stop, terminated) -> Result<()>`, run by `boontadata engine NAME ARGS…`.
macro_rules! built_in {
    ($($engine:ident),*) => {
        $(pub mod $engine;)*
        /// Each engine of this binary, by name, with its `main`.
        pub const BUILT_IN: &[(&str, Main)] = &[$((stringify!($engine), $engine::main)),*];
    };
}

built_in!(native, timely);

use crate::clock::now_ms;
use crate::engine::protocol::JobFlags;
use crate::kafka;
use crate::model::{Aggregate, Mode, WindowResult};
use anyhow::{bail, Context, Result};
use rdkafka::producer::{BaseRecord, Producer};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// An engine's entry point: its command line, the flag its job ends on (SIGTERM, SIGINT, or the
/// harness's `end`), and the flag set on SIGTERM and SIGINT only, when the process is to end.
pub type Main = fn(args: Vec<String>, stop: &'static AtomicBool, terminated: &'static AtomicBool) -> Result<()>;

/// Runs the engine `name` of this binary with its command line `args`.
pub fn run(name: &str, args: Vec<String>, stop: &'static AtomicBool, terminated: &'static AtomicBool) -> Result<()> {
    match BUILT_IN.iter().find(|(n, _)| *n == name) {
        Some((_, main)) => main(args, stop, terminated),
        None => {
            let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
            bail!("no engine '{name}' is built into this binary; its engines are {}", names.join(", "))
        }
    }
}

/// Parses an engine's command line; `--help` prints the engine's options and exits.
pub fn parse_args<O: clap::Args + clap::FromArgMatches>(name: &str, args: Vec<String>) -> Result<O> {
    let cmd = O::augment_args(clap::Command::new("engine").bin_name(format!("boontadata engine {name}")).no_binary_name(true));
    let matches = cmd.try_get_matches_from(args).unwrap_or_else(|e| e.exit());
    Ok(O::from_arg_matches(&matches)?)
}

/// The engine side of the harness's job lines (src/engine/protocol.rs) for an engine of
/// this binary: runs the command line's job; when stdin says `end`, sets `stop`
/// so that `run` returns, says `ended`, and runs the job of the next line.
/// Returns when `terminated` (SIGTERM) is set, or stdin closes between jobs.
pub fn serve<O: clap::Args + clap::FromArgMatches>(
    first: O,
    stop: &'static AtomicBool,
    terminated: &'static AtomicBool,
    run: impl Fn(&O, &'static AtomicBool) -> Result<()>,
) -> Result<()> {
    let (lines, next) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if line.trim() == "end" {
                stop.store(true, Ordering::Relaxed);
            } else if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut job = first;
    loop {
        run(&job, stop)?;
        stop.store(false, Ordering::Relaxed);
        // Checked after the reset: a SIGTERM that came meanwhile set both flags.
        if terminated.load(Ordering::Relaxed) {
            return Ok(());
        }
        println!("boontadata: ended");
        let line = loop {
            match next.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) if !terminated.load(Ordering::Relaxed) => {}
                Err(_) => return Ok(()),
            }
        };
        job = parse_job(&line)?;
    }
}

/// A job line: the JSON array of the flags the command line would hold.
fn parse_job<O: clap::Args + clap::FromArgMatches>(line: &str) -> Result<O> {
    let args: Vec<String> = serde_json::from_str(line).with_context(|| format!("a job line is a JSON array of flags, not {line:?}"))?;
    let matches = O::augment_args(clap::Command::new("job").no_binary_name(true)).try_get_matches_from(args)?;
    Ok(O::from_arg_matches(&matches)?)
}

/// What an engine process counts and reports as `boontadata: metric` lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub consumed: u64,
    pub malformed: u64,
    pub late_dropped: u64,
    pub duplicates_dropped: u64,
}

impl Tally {
    /// Prints the metrics; `suffix` (`@1`, …) tells apart processes or workers of one engine, whose values the harness adds up.
    pub fn print(&self, results: &ResultsTopic, suffix: &str) {
        println!("boontadata: metric consumed{suffix} {}", self.consumed);
        println!("boontadata: metric malformed{suffix} {}", self.malformed);
        println!("boontadata: metric results_emitted{suffix} {}", results.emitted);
        println!("boontadata: metric late_dropped{suffix} {}", self.late_dropped);
        println!("boontadata: metric duplicates_dropped{suffix} {}", self.duplicates_dropped);
    }
}

/// Writes window rows (docs/SPEC.md §5) to the results topic, batched by the
/// producer; the first failure is kept and ends the engine at the next `check`.
pub struct ResultsTopic {
    producer: kafka::Sender,
    engine: &'static str,
    topic: String,
    mode: Mode,
    buf: Vec<u8>,
    /// Each row names the events its window counted (`--ids true`).
    ids: bool,
    pub emitted: u64,
    failed: Option<anyhow::Error>,
}

impl ResultsTopic {
    pub fn new(engine: &'static str, job: &JobFlags) -> Result<ResultsTopic> {
        Self::with_producer(engine, job, kafka::producer(&job.brokers)?)
    }

    /// Rows written in transactions under `transactional_id` (see `kafka::transactional_producer`).
    pub fn transactional(engine: &'static str, job: &JobFlags, transactional_id: &str) -> Result<ResultsTopic> {
        Self::with_producer(engine, job, kafka::transactional_producer(&job.brokers, transactional_id)?)
    }

    /// Its producer knows the results topic's leaders before the job reads: asked at the first row,
    /// a topic made a moment before the job started held that row's flush ~0.9 s (a bench's probes).
    fn with_producer(engine: &'static str, job: &JobFlags, producer: kafka::Sender) -> Result<ResultsTopic> {
        kafka::known_to(producer.client(), &job.results, &job.brokers)?;
        let topic = job.results.clone();
        Ok(ResultsTopic { producer, engine, topic, mode: job.mode, buf: Vec::with_capacity(256), ids: job.ids, emitted: 0, failed: None })
    }

    /// Writes a window's row; `ids`, the events it counted, go with it where the job names them.
    pub fn write(&mut self, window_end: i64, device: &str, category: &str, agg: &Aggregate, ids: &[impl AsRef<str>]) {
        let record = WindowResult {
            engine: Cow::Borrowed(self.engine),
            mode: self.mode,
            window_end,
            di: Cow::Borrowed(device),
            c: Cow::Borrowed(category),
            count: agg.count,
            m1_sum: agg.m1_sum,
            m2_sum: agg.m2_sum,
            emitted_at: now_ms(),
            ids: self.ids.then(|| ids.iter().map(|id| Cow::Borrowed(id.as_ref())).collect()),
        };
        record.encode_into(&mut self.buf);
        if let Err(err) = kafka::send(&self.producer, BaseRecord::to(&self.topic).key(device.as_bytes()).payload(&self.buf[..])) {
            self.failed.get_or_insert(err);
        }
        self.emitted += 1;
    }

    /// Serves delivery reports; fails if a row could not be sent.
    pub fn check(&mut self) -> Result<()> {
        self.producer.poll(Duration::ZERO);
        self.failed.take().map_or(Ok(()), Err)
    }

    /// The producer the rows go through, for what a transaction commits with them.
    pub fn producer(&self) -> &kafka::Sender {
        &self.producer
    }

    pub fn finish(&mut self) -> Result<()> {
        self.check()?;
        kafka::finish(&self.producer, &format!("{} engine results", self.engine))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{folder, Launch};
    use std::collections::BTreeSet;

    #[test]
    fn the_engines_built_in_are_the_folders_that_say_so() {
        let registry = folder::registry().unwrap();
        let declared: BTreeSet<&str> = registry.iter().filter(|e| e.launch == Launch::Builtin).map(|e| e.name.as_str()).collect();
        let built_in: BTreeSet<&str> = BUILT_IN.iter().map(|(name, _)| *name).collect();
        assert_eq!(declared, built_in, "a folder with launch = \"builtin\" and a name in engines/mod.rs's `built_in!` go together");
        static NEVER: AtomicBool = AtomicBool::new(false);
        assert!(run("flink", vec![], &NEVER, &NEVER).unwrap_err().to_string().contains("its engines are native, timely"));
    }

    #[test]
    fn a_job_line_is_parsed_like_a_command_line() {
        let o: native::Options = parse_job(r#"["--mode", "processing-time", "--events", "e.2", "--window-ms", "1000"]"#).unwrap();
        assert_eq!((o.job.mode, o.job.events.as_str(), o.job.window_ms, o.job.results.as_str()), (Mode::ProcessingTime, "e.2", 1000, "results"));
        assert!(parse_job::<native::Options>("--mode event-time").unwrap_err().to_string().contains("JSON array"));
        assert!(parse_job::<native::Options>(r#"["--mode", "sometimes"]"#).is_err());
    }
}
