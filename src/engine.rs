//! The harness's side of an engine: which engines exist and what they
//! promise, how to start one as its own process, and the few lines it prints
//! on stdout that the harness reads (`boontadata: ready`, `… metric NAME VALUE`,
//! `… version TEXT`). Every engine, whatever its language, keeps this protocol.
//!
//! An engine that serves jobs (`EngineSpec::serves_jobs`) also reads its stdin,
//! so that a matrix starts it once rather than once per scenario: the line
//! `end` stops the current job (the engine prints its last metrics, then
//! `boontadata: ended`), and a line holding a JSON array of the command line's
//! flags starts the next job (`boontadata: ready` again). SIGTERM ends the
//! process, as for every engine.

use crate::process;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What an engine is and what it declares it does; the conformance suite holds it to this.
#[derive(Debug)]
pub struct EngineSpec {
    pub name: &'static str,
    pub about: &'static str,
    pub modes: &'static [&'static str],
    /// Modes run when `--engines` names the engine without a mode.
    pub default_modes: &'static [&'static str],
    /// Drops resent messages by id.
    pub dedup: bool,
    /// Honours `--allowed-lateness-ms`: late events within it still update their window.
    pub lateness: bool,
    /// The engine's job, for readers who want to compare the code.
    pub job_file: &'static str,
    pub launch: Launch,
    /// Takes further jobs on stdin (see above), so that one process serves every scenario of a matrix.
    pub serves_jobs: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Launch {
    /// Compiled into this binary: `boontadata engine NAME`.
    Builtin,
    /// An engine of another ecosystem: `engines/NAME/setup` installs it into
    /// the cache (idempotent, quick once done) and `engines/NAME/start` runs its
    /// job with the standard flags.
    Scripts,
}

pub const ENGINES: &[EngineSpec] = &[
    EngineSpec {
        name: "native",
        about: "boontadata's reference engine (Rust, rdkafka)",
        modes: &["event-time", "processing-time", "ingestion-time"],
        default_modes: &["event-time", "processing-time"],
        dedup: true,
        lateness: true,
        job_file: "engines/native/mod.rs",
        serves_jobs: true,
        launch: Launch::Builtin,
    },
    EngineSpec {
        name: "timely",
        about: "Timely Dataflow 0.32 (Rust): the frontier is the watermark; threads or a cluster of processes",
        modes: &["event-time", "processing-time", "ingestion-time"],
        default_modes: &["event-time", "processing-time"],
        dedup: true,
        lateness: true,
        job_file: "engines/timely/mod.rs",
        serves_jobs: false,
        launch: Launch::Builtin,
    },
    EngineSpec {
        name: "flink",
        about: "Apache Flink 2.0 SQL from PyFlink (embedded mini-cluster, or --flink-cluster)",
        modes: &["event-time", "processing-time"],
        default_modes: &["event-time", "processing-time"],
        dedup: true,
        // Flink SQL's window TVFs have no allowed lateness.
        lateness: false,
        job_file: "engines/flink/job.py",
        serves_jobs: true,
        launch: Launch::Scripts,
    },
    EngineSpec {
        name: "spark",
        about: "Apache Spark Structured Streaming (PySpark, micro-batches)",
        modes: &["event-time", "processing-time"],
        default_modes: &["event-time", "processing-time"],
        dedup: true,
        // Its watermark delay is out-of-orderness + allowed lateness: late events still count, emitted later.
        lateness: true,
        job_file: "engines/spark/job.py",
        serves_jobs: true,
        launch: Launch::Scripts,
    },
];

/// The `engines/` folder of the checkout this binary was built from, or of `$BOONTADATA_HOME`.
pub fn engines_dir() -> PathBuf {
    std::env::var_os("BOONTADATA_HOME").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from).join("engines")
}

fn engine_script(spec: &EngineSpec, script: &str) -> Result<PathBuf> {
    let path = engines_dir().join(spec.name).join(script);
    if !path.exists() {
        bail!("engine {}: {} not found; set BOONTADATA_HOME to the boontadata checkout", spec.name, path.display());
    }
    Ok(path)
}

/// Installs an engine's runtime (a no-op for built-in engines and for engines already installed).
pub fn setup(spec: &EngineSpec) -> Result<()> {
    if spec.launch == Launch::Builtin {
        return Ok(());
    }
    let script = engine_script(spec, "setup")?;
    let status = Command::new(&script)
        .env("BOONTADATA_CACHE", crate::broker::cache_dir())
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("setting up engine {} failed ({status}); its setup printed why above ({})", spec.name, script.display());
    }
    Ok(())
}

/// One engine in one mode, as a run starts it.
#[derive(Debug, Clone)]
pub struct Job {
    pub spec: &'static EngineSpec,
    pub mode: String,
}

impl Job {
    pub fn label(&self) -> String {
        format!("{} {}", self.spec.name, self.mode)
    }
}

pub fn known_engines() -> String {
    ENGINES.iter().map(|e| format!("{} ({})", e.name, e.modes.join(", "))).collect::<Vec<_>>().join("; ")
}

/// Parses `--engines`: `native`, `native:ingestion-time`, `a,b:mode`, ….
pub fn parse_selection(selection: &str) -> Result<Vec<Job>> {
    let mut jobs: Vec<Job> = Vec::new();
    for item in selection.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, mode) = item.split_once(':').map_or((item, None), |(n, m)| (n, Some(m)));
        let Some(spec) = ENGINES.iter().find(|e| e.name == name) else {
            bail!("unknown engine '{name}'; known engines: {}", known_engines());
        };
        let modes: Vec<&str> = match mode {
            None => spec.default_modes.to_vec(),
            Some(m) if spec.modes.contains(&m) => vec![m],
            Some(m) => bail!("engine '{name}' has no mode '{m}'; its modes: {}", spec.modes.join(", ")),
        };
        for m in modes {
            if !jobs.iter().any(|j| j.spec.name == name && j.mode == m) {
                jobs.push(Job { spec, mode: m.to_string() });
            }
        }
    }
    if jobs.is_empty() {
        bail!("no engine selected; known engines: {}", known_engines());
    }
    Ok(jobs)
}

/// What a job needs to know to run.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub run_id: String,
    pub brokers: String,
    pub events_topic: String,
    pub results_topic: String,
    pub window_ms: i64,
    pub out_of_orderness_ms: i64,
    pub allowed_lateness_ms: i64,
    /// Options of one engine only (`--flink-cluster`, …), by engine name.
    pub engine_args: BTreeMap<String, Vec<String>>,
}

impl Job {
    /// The flags of a job: on the command line of a new process, or as the next job of one that serves jobs.
    fn args(&self, ctx: &JobContext) -> Vec<String> {
        let mut args: Vec<String> =
            ["--mode", &self.mode, "--brokers", &ctx.brokers, "--events", &ctx.events_topic, "--results", &ctx.results_topic].map(String::from).into();
        args.extend(["--group".into(), format!("{}.{}.{}", ctx.run_id, self.spec.name, self.mode)]);
        args.extend(["--window-ms".into(), ctx.window_ms.to_string()]);
        args.extend(["--out-of-orderness-ms".into(), ctx.out_of_orderness_ms.to_string()]);
        args.extend(["--allowed-lateness-ms".into(), ctx.allowed_lateness_ms.to_string()]);
        args.extend(ctx.engine_args.get(self.spec.name).into_iter().flatten().cloned());
        args
    }

    pub fn command(&self, ctx: &JobContext) -> Result<Command> {
        let mut cmd = match self.spec.launch {
            Launch::Builtin => {
                let mut cmd = Command::new(std::env::current_exe().context("locating the boontadata binary")?);
                cmd.args(["engine", self.spec.name]);
                cmd
            }
            Launch::Scripts => {
                let mut cmd = Command::new(engine_script(self.spec, "start")?);
                cmd.env("BOONTADATA_CACHE", crate::broker::cache_dir());
                cmd
            }
        };
        cmd.args(self.args(ctx));
        Ok(cmd)
    }
}

/// What the harness has heard from an engine process so far.
#[derive(Debug, Default, Clone)]
pub struct Heard {
    pub ready_at: Option<Instant>,
    /// The job has ended on `end`, its last metrics printed.
    pub ended: bool,
    pub version: Option<String>,
    pub metrics: BTreeMap<String, f64>,
}

impl Heard {
    /// Takes one stdout line of the engine protocol; other lines are just log.
    pub fn take_line(&mut self, line: &str, now: Instant) {
        let Some(rest) = line.trim().strip_prefix("boontadata: ") else { return };
        let mut words = rest.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("ready"), None, None) => {
                self.ready_at.get_or_insert(now);
            }
            (Some("ended"), None, None) => self.ended = true,
            (Some("version"), Some(a), b) => self.version = Some(b.map_or(a.to_string(), |b| format!("{a} {b}"))),
            (Some("metric"), Some(name), Some(value)) => {
                if let Ok(v) = value.trim().parse() {
                    self.metrics.insert(name.to_string(), v);
                }
            }
            _ => {}
        }
    }
}

impl Heard {
    /// A metric, added up over the processes of one engine (`NAME`, `NAME@1`, `NAME@2`, …).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let values: Vec<f64> = self.metrics.iter().filter(|(n, _)| n.split('@').next() == Some(name)).map(|(_, v)| *v).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }
}

/// An engine process, running one job at a time; stopped when dropped.
pub struct Running {
    pub job: Job,
    /// The current job's log (the process's stdout and stderr while it runs).
    pub log: PathBuf,
    /// When the current job was started.
    pub started: Instant,
    child: Child,
    /// Present when the engine serves jobs.
    stdin: Option<ChildStdin>,
    heard: Arc<Mutex<Heard>>,
    log_file: Arc<Mutex<std::fs::File>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    sampled: Arc<Mutex<Sampled>>,
    pub exit: Option<ExitStatus>,
    /// It did not end within `STOP_GRACE` of SIGTERM and was killed.
    pub killed: bool,
}

/// Why a wait for an engine's line ended without it.
enum Unheard {
    Exited(ExitStatus),
    /// Timed out, or the harness is stopping.
    Silent,
}

/// How long an engine has to end after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The process tree's usage, sampled by a thread while the process lives.
#[derive(Debug, Default)]
struct Sampled {
    latest: process::Usage,
    cpu_at_job_start: f64,
    peak_rss_in_job: u64,
}

impl Sampled {
    fn record(&mut self, usage: process::Usage) {
        self.latest = usage;
        self.peak_rss_in_job = self.peak_rss_in_job.max(usage.rss_bytes);
    }
}

const SAMPLE_EVERY: Duration = Duration::from_millis(500);

impl Running {
    pub fn start(job: &Job, ctx: &JobContext, log: &Path) -> Result<Running> {
        let mut cmd = job.command(ctx)?;
        let mut file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        writeln!(file, "$ {cmd:?}")?;
        let stdin = if job.spec.serves_jobs { Stdio::piped() } else { Stdio::null() };
        cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = process::die_with_parent(&mut cmd).spawn().with_context(|| format!("starting engine {}", job.label()))?;
        let heard = Arc::new(Mutex::new(Heard::default()));
        let log_file = Arc::new(Mutex::new(file));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (shared, to_log) = (heard.clone(), log_file.clone());
        let mut readers = vec![std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                shared.lock().expect("engine lock").take_line(&line, Instant::now());
                let _ = writeln!(to_log.lock().expect("log lock"), "{line}");
            }
        })];
        let to_log = log_file.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(to_log.lock().expect("log lock"), "{line}");
            }
        }));
        let sampled = Arc::new(Mutex::new(Sampled::default()));
        let (pid, samples) = (child.id(), sampled.clone());
        std::thread::spawn(move || {
            while let Some(usage) = process::tree_usage(pid) {
                samples.lock().expect("usage lock").record(usage);
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        let stdin = child.stdin.take();
        Ok(Running {
            job: job.clone(),
            log: log.to_path_buf(),
            started: Instant::now(),
            child,
            stdin,
            heard,
            log_file,
            readers,
            sampled,
            exit: None,
            killed: false,
        })
    }

    pub fn heard(&self) -> Heard {
        self.heard.lock().expect("engine lock").clone()
    }

    /// The current job's CPU seconds and peak resident memory, over the engine's whole process tree.
    pub fn usage(&self) -> Option<(f64, u64)> {
        let s = self.sampled.lock().expect("usage lock");
        (s.latest != process::Usage::default()).then(|| (s.latest.cpu_s - s.cpu_at_job_start, s.peak_rss_in_job))
    }

    /// Whether the process can take `job` as its next job: it serves jobs, runs that engine mode, and is alive.
    pub fn can_take(&mut self, job: &Job) -> bool {
        self.stdin.is_some() && self.job.label() == job.label() && self.exited().is_none() && self.heard().ended
    }

    /// Starts the next job in this process; from now on its lines go to `log`.
    pub fn next_job(&mut self, ctx: &JobContext, log: &Path) -> Result<()> {
        let line = serde_json::to_string(&self.job.args(ctx))?;
        let mut file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        writeln!(file, "$ next job in the engine process {} (started {:.0} s ago): {line}", self.child.id(), self.started.elapsed().as_secs_f64())?;
        *self.log_file.lock().expect("log lock") = file;
        self.log = log.to_path_buf();
        {
            let mut heard = self.heard.lock().expect("engine lock");
            *heard = Heard { version: heard.version.take(), ..Heard::default() };
            let mut s = self.sampled.lock().expect("usage lock");
            s.cpu_at_job_start = s.latest.cpu_s;
            s.peak_rss_in_job = s.latest.rss_bytes;
        }
        self.started = Instant::now();
        self.send(&line)
    }

    /// Ends the current job and waits for the engine's last metrics; the process stays for the next job.
    /// Fails if the engine does not say `ended` within `timeout` (then it is stopped).
    pub fn end_job(&mut self, timeout: Duration, stop: &AtomicBool) -> Result<()> {
        self.send("end")?;
        if self.wait_to_hear(|h| h.ended, timeout, stop).is_err() {
            self.stop();
            bail!("engine {} did not end its job within {} s; see {}", self.job.label(), timeout.as_secs(), self.log.display());
        }
        Ok(())
    }

    fn send(&mut self, line: &str) -> Result<()> {
        let label = self.job.label();
        let stdin = self.stdin.as_mut().with_context(|| format!("engine {label} does not serve jobs"))?;
        writeln!(stdin, "{line}").and_then(|_| stdin.flush()).with_context(|| format!("writing to engine {label}"))
    }

    /// The exit status if the process has ended (by itself or by `stop`).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits for `boontadata: ready`; fails if the engine exits or stays silent for `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration, stop: &AtomicBool) -> Result<()> {
        match self.wait_to_hear(|h| h.ready_at.is_some(), timeout, stop) {
            Ok(()) => Ok(()),
            Err(Unheard::Exited(status)) => bail!("engine {} exited ({status}) before it was ready; see {}", self.job.label(), self.log.display()),
            Err(Unheard::Silent) => bail!("engine {} was not ready after {} s; see {}", self.job.label(), timeout.as_secs(), self.log.display()),
        }
    }

    /// Waits until what the engine said passes `said`.
    fn wait_to_hear(&mut self, said: impl Fn(&Heard) -> bool, timeout: Duration, stop: &AtomicBool) -> Result<(), Unheard> {
        let deadline = Instant::now() + timeout;
        while !said(&self.heard.lock().expect("engine lock")) {
            if let Some(status) = self.exited() {
                return Err(Unheard::Exited(status));
            }
            if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
                return Err(Unheard::Silent);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Asks the engine to stop and waits for its last words (final metrics).
    pub fn stop(&mut self) {
        // The last sample before SIGTERM: the tree's CPU up to the end of the job.
        if self.exited().is_none() {
            if let Some(usage) = process::tree_usage(self.child.id()) {
                self.sampled.lock().expect("usage lock").record(usage);
            }
        }
        if process::stop(&mut self.child, STOP_GRACE) {
            self.killed = true;
            eprintln!("boontadata: engine {} was still running {} s after SIGTERM: killed; see {}", self.job.label(), STOP_GRACE.as_secs(), self.log.display());
        }
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_expands_default_modes_and_rejects_unknown_names() {
        let jobs = parse_selection("native").unwrap();
        assert_eq!(jobs.iter().map(|j| j.mode.as_str()).collect::<Vec<_>>(), vec!["event-time", "processing-time"]);
        let jobs = parse_selection("native:ingestion-time, native:ingestion-time").unwrap();
        assert_eq!(jobs.len(), 1);
        let err = parse_selection("flonk").unwrap_err().to_string();
        assert!(err.contains("unknown engine 'flonk'") && err.contains("native (event-time"), "{err}");
        assert!(parse_selection("native:sometimes").unwrap_err().to_string().contains("its modes"));
        assert!(parse_selection(" , ").is_err());
    }

    #[test]
    fn protocol_lines_are_heard_and_other_lines_ignored() {
        let mut h = Heard::default();
        let now = Instant::now();
        for line in ["some log line", "boontadata: version native 0.1.0", "boontadata: metric malformed 12", "boontadata: metric bad x", "boontadata: ready"] {
            h.take_line(line, now);
        }
        assert_eq!(h.version.as_deref(), Some("native 0.1.0"));
        assert_eq!(h.metrics.get("malformed"), Some(&12.0));
        assert_eq!(h.metrics.len(), 1);
        h.take_line("boontadata: metric malformed@1 3", now);
        assert_eq!((h.metric("malformed"), h.metric("consumed")), (Some(15.0), None));
        assert!(h.ready_at.is_some());
    }
}
