//! An engine process, started for a job and kept for the next one when the
//! engine serves jobs: its output goes to the job's log, the protocol lines
//! it prints are heard, and its process tree's CPU and memory are sampled.

use super::folder;
use super::protocol::{job_args, Heard, JobContext};
use super::Job;
use crate::model::EngineStatus;
use crate::process;
use crate::say;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An engine process, running one job at a time; stopped when dropped.
pub struct Running {
    pub job: Job,
    /// Which of the job's processes it is, from 0 (`--instances`): its state folder is its own.
    pub instance: usize,
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
    /// Starts process `instance` of `job`, its output into `log`.
    pub fn start(job: &Job, ctx: &JobContext, log: &Path, instance: usize) -> Result<Running> {
        let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        Self::spawn(job, ctx, log, file, instance)
    }

    /// Starts this process's job again after it was killed: the same flags (group, state folder), its log continued.
    pub fn start_again(&self, ctx: &JobContext) -> Result<Running> {
        let mut file = std::fs::OpenOptions::new().append(true).open(&self.log).with_context(|| format!("opening {}", self.log.display()))?;
        writeln!(file, "\n$ started again after kill -9:")?;
        Self::spawn(&self.job, ctx, &self.log, file, self.instance)
    }

    fn spawn(job: &Job, ctx: &JobContext, log: &Path, mut file: std::fs::File, instance: usize) -> Result<Running> {
        let mut cmd = folder::command(job.spec)?;
        cmd.args(job_args(job, ctx, instance));
        writeln!(file, "$ {cmd:?}")?;
        let stdin = if job.spec.serves_jobs { Stdio::piped() } else { Stdio::null() };
        cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = process::die_with_parent(process::yield_to_the_stream(&mut cmd)).spawn().with_context(|| format!("starting engine {}", job.label()))?;
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
        let (shared, to_log) = (heard.clone(), log_file.clone());
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                shared.lock().expect("engine lock").take_line(&line, Instant::now());
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
            instance,
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

    /// Whether the process can take `job`'s process `instance` as its next job: it serves jobs, was
    /// that process of that engine mode (its state folder), and is alive.
    pub fn can_take(&mut self, job: &Job, instance: usize) -> bool {
        self.stdin.is_some() && self.job.label() == job.label() && self.instance == instance && self.exited().is_none() && self.heard().ended
    }

    /// Starts the next job in this process; from now on its lines go to `log`.
    pub fn next_job(&mut self, ctx: &JobContext, log: &Path) -> Result<()> {
        let line = serde_json::to_string(&job_args(&self.job, ctx, self.instance))?;
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

    /// Asks the engine to end the current job; `job_ended` waits for it.
    pub fn end_job(&mut self) -> Result<(), EngineStatus> {
        self.send("end").map_err(|e| {
            self.stop();
            EngineStatus::Failed(format!("{e:#}"))
        })
    }

    /// Waits for the engine's last metrics of the job it was asked to end; the process stays for the
    /// next job. Fails if the engine does not say `ended` within `timeout` (then it is stopped).
    pub fn job_ended(&mut self, timeout: Duration, stop: &AtomicBool) -> Result<(), EngineStatus> {
        if self.wait_to_hear(|h| h.ended, timeout, stop).is_err() {
            self.stop();
            return Err(EngineStatus::Failed(format!("did not end its job within {} s", timeout.as_secs())));
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

    /// How the job went: `flush_seen` says whether its end-of-stream row came.
    pub fn status(&mut self, flush_seen: bool) -> EngineStatus {
        if self.killed {
            return EngineStatus::Killed(STOP_GRACE.as_secs());
        }
        match self.exited() {
            // Stopped by us after the end of the stream: SIGTERM is a normal end.
            Some(s) if s.success() || s.code().is_none() && flush_seen => {}
            Some(s) if !flush_seen => return EngineStatus::Crashed(format!("{s}{}", self.last_words())),
            Some(s) => return EngineStatus::Exited(s.to_string()),
            None => {}
        }
        if flush_seen {
            EngineStatus::Ok
        } else {
            EngineStatus::NoEndOfStream
        }
    }

    /// What the engine last said in its log, to follow the reason it stopped: `: LINE`.
    fn last_words(&self) -> String {
        self.heard().last_words.map_or(String::new(), |w| format!(": {}", w.chars().take(200).collect::<String>()))
    }

    /// Waits for `boontadata: ready`; `NotReady` with the reason if the engine exits or stays silent for `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration, stop: &AtomicBool) -> Result<(), EngineStatus> {
        match self.wait_to_hear(|h| h.ready_at.is_some(), timeout, stop) {
            Ok(()) => Ok(()),
            Err(Unheard::Exited(status)) => Err(EngineStatus::NotReady(format!("exited ({status}){}", self.last_words()))),
            Err(Unheard::Silent) if stop.load(Ordering::Relaxed) => Err(EngineStatus::NotReady("interrupted".into())),
            Err(Unheard::Silent) => Err(EngineStatus::NotReady(format!("silent for {} s", timeout.as_secs()))),
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

    /// `kill -9` of the engine's whole process tree: a crash, not a stop.
    pub fn kill(&mut self) {
        process::kill_tree(self.child.id());
        self.exit = self.child.wait().ok();
        self.join_readers();
    }

    /// SIGSTOP of the engine's whole process tree: a stall, continued by `resume`.
    pub fn pause(&mut self) {
        process::pause_tree(self.child.id());
    }

    pub fn resume(&mut self) {
        process::resume_tree(self.child.id());
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
            say!("boontadata: engine {} was still running {} s after SIGTERM: killed; see {}", self.job.label(), STOP_GRACE.as_secs(), self.log.display());
        }
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.join_readers();
    }

    /// Waits for the threads that read the process's output: its last lines are in the log.
    fn join_readers(&mut self) {
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
