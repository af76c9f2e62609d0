//! What passes between the harness and an engine process (docs/SPEC.md §5,
//! "The job"): the flags a job is started with (`JobFlags`), and the lines it prints on
//! stdout that the harness reads (`boontadata: ready`, `… metric NAME VALUE`,
//! `… version TEXT`, `… ended`). Every engine, whatever its language, keeps it.
//!
//! An engine that serves jobs also reads its stdin, so that a matrix starts it
//! once rather than once per scenario: the line `end` stops the current job
//! (the engine prints its last metrics, then `boontadata: ended`), and a line
//! holding a JSON array of the job's flags starts the next job (`boontadata:
//! ready` again). SIGTERM ends the process, as for every engine.

use super::Job;
use crate::model::Mode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// The flags every engine's job takes (§5, "The job"), with the one default
/// each has. The harness passes them all; an engine of this binary parses them
/// with this struct, a Python engine with `engines/protocol.py`'s `job_parser`
/// (a test holds the two to the same defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct JobFlags {
    /// The clock the windows follow.
    #[arg(long, value_enum, default_value_t = Mode::EventTime)]
    pub mode: Mode,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic to read events from.
    #[arg(long, default_value = "events")]
    pub events: String,
    /// Topic to write window results to.
    #[arg(long, default_value = "results")]
    pub results: String,
    /// Consumer group (default: boontadata-ENGINE-MODE).
    #[arg(long)]
    pub group: Option<String>,
    /// Length of the tumbling windows.
    #[arg(long, default_value_t = 5000)]
    pub window_ms: i64,
    /// Watermark = max seen time − this bound.
    #[arg(long, default_value_t = 1000)]
    pub out_of_orderness_ms: i64,
    /// How long after the watermark passes a window late events still update it.
    #[arg(long, default_value_t = 0)]
    pub allowed_lateness_ms: i64,
    /// How long a message id is remembered to drop its resends (where the mode needs a horizon).
    #[arg(long, default_value_t = 600_000)]
    pub dedup_horizon_ms: i64,
    /// A partition silent this long stops holding the watermark back (where the engine has idleness).
    #[arg(long, default_value_t = 5000)]
    pub idle_timeout_ms: i64,
    /// A folder of the job's own for checkpoints and state (default: the engine's choice).
    #[arg(long)]
    pub state_dir: Option<String>,
    /// Each result row also names the events its window counted, in `ids` (docs/SPEC.md §5).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, value_name = "true|false")]
    pub ids: bool,
}

impl Default for JobFlags {
    /// The defaults of the command line: one place for them.
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let matches = Self::augment_args(clap::Command::new("job").no_binary_name(true)).get_matches_from(Vec::<String>::new());
        Self::from_arg_matches(&matches).expect("the defaults parse")
    }
}

impl JobFlags {
    /// The consumer group: `--group`, or the contract's default for `engine`.
    pub fn group_for(&self, engine: &str) -> String {
        self.group.clone().unwrap_or_else(|| format!("boontadata-{engine}-{}", self.mode))
    }

    /// The command line that gives these flags to a job.
    pub fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--mode".into(),
            self.mode.to_string(),
            "--brokers".into(),
            self.brokers.clone(),
            "--events".into(),
            self.events.clone(),
            "--results".into(),
            self.results.clone(),
        ];
        for (flag, value) in [
            ("--window-ms", self.window_ms),
            ("--out-of-orderness-ms", self.out_of_orderness_ms),
            ("--allowed-lateness-ms", self.allowed_lateness_ms),
            ("--dedup-horizon-ms", self.dedup_horizon_ms),
            ("--idle-timeout-ms", self.idle_timeout_ms),
        ] {
            args.extend([flag.to_string(), value.to_string()]);
        }
        args.extend(["--ids".to_string(), self.ids.to_string()]);
        for (flag, value) in [("--group", &self.group), ("--state-dir", &self.state_dir)] {
            if let Some(v) = value {
                args.extend([flag.to_string(), v.clone()]);
            }
        }
        args
    }
}

/// What the jobs of one run share.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub run_id: String,
    /// The run's folder: each job's state folder is made in it.
    pub run_dir: PathBuf,
    /// The flags every job of the run gets; the mode, group, results topic and state folder are each
    /// job's own (the results topic named after `flags.results`).
    pub flags: JobFlags,
    /// The engines' own options (`--flink-cluster`, …) as their jobs take them, by engine name.
    pub engine_args: BTreeMap<String, Vec<String>>,
}

impl JobContext {
    /// The topic `job` writes its rows to, its own: a `read_committed` reader cannot read past a
    /// partition's oldest open transaction, so one engine's transactions would hold another's rows back.
    pub fn results_topic(&self, job: &Job) -> String {
        format!("{}.{}.{}", self.flags.results, job.spec.name, job.mode)
    }
}

/// The flags of `job`'s process `instance` (from 0) in the run of `ctx`: on the command line of a
/// new process, or as the next job of one that serves jobs. Its instances share the job's group;
/// each has a state folder of its own.
pub fn job_args(job: &Job, ctx: &JobContext, instance: usize) -> Vec<String> {
    let state_dir = ctx.run_dir.join(format!("state-{}-{}{}", job.spec.name, job.mode, instance_suffix(instance)));
    let flags = JobFlags {
        mode: job.mode,
        results: ctx.results_topic(job),
        group: Some(format!("{}.{}.{}", ctx.run_id, job.spec.name, job.mode)),
        state_dir: Some(state_dir.display().to_string()),
        // Where the run asks for them and the engine can name them.
        ids: ctx.flags.ids && job.spec.ids,
        ..ctx.flags.clone()
    };
    let mut args = flags.to_args();
    args.extend(job.spec.job_args.iter().cloned());
    args.extend(ctx.engine_args.get(&job.spec.name).into_iter().flatten().cloned());
    args
}

/// What names a job's process `instance` (from 0) in its files: nothing for the first, `-2` for the second.
pub fn instance_suffix(instance: usize) -> String {
    if instance == 0 {
        String::new()
    } else {
        format!("-{}", instance + 1)
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
    /// When a `consumed` metric last rose: the job is still reading, whether or not it has results to emit.
    pub reading_at: Option<Instant>,
    /// The last line of log it printed (on stdout or stderr): why it stopped, when it says.
    pub last_words: Option<String>,
}

impl Heard {
    /// What a job's processes said, as one: ready once all are, ended once all have, its counters
    /// added up, reading while any is; the version and last words of the first that said them.
    pub fn of_instances(heard: impl IntoIterator<Item = Heard>) -> Heard {
        let mut all = heard.into_iter();
        let Some(mut job) = all.next() else { return Heard::default() };
        for h in all {
            job.ready_at = job.ready_at.zip(h.ready_at).map(|(a, b)| a.max(b));
            job.ended &= h.ended;
            for (name, value) in h.metrics {
                *job.metrics.entry(name).or_default() += value;
            }
            job.reading_at = job.reading_at.max(h.reading_at);
            job.version = job.version.or(h.version);
            job.last_words = job.last_words.or(h.last_words);
        }
        job
    }

    /// Takes one stdout line of the engine protocol; other lines are just log.
    pub fn take_line(&mut self, line: &str, now: Instant) {
        let Some(rest) = line.trim().strip_prefix("boontadata: ") else {
            let line = line.trim();
            // A Java stack's frames say where, not why: the line before them does.
            let frame = line.starts_with("at ") || line.starts_with("...") && line.ends_with(" more");
            if !line.is_empty() && !frame {
                self.last_words = Some(line.to_string());
            }
            return;
        };
        let mut words = rest.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("ready"), None, None) => {
                self.ready_at.get_or_insert(now);
            }
            (Some("ended"), None, None) => self.ended = true,
            (Some("version"), Some(a), b) => self.version = Some(b.map_or(a.to_string(), |b| format!("{a} {b}"))),
            (Some("metric"), Some(name), Some(value)) => {
                if let Ok(v) = value.trim().parse::<f64>() {
                    let before = self.metrics.insert(name.to_string(), v);
                    if name.split('@').next() == Some("consumed") && before.is_none_or(|b| v > b) {
                        self.reading_at = Some(now);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineSpec;
    use clap::{Args, FromArgMatches};

    #[test]
    fn a_jobs_processes_are_heard_as_one() {
        let now = Instant::now();
        let later = now + std::time::Duration::from_secs(2);
        let heard = |ready: Option<Instant>, ended, consumed: f64, version: Option<&str>| Heard {
            ready_at: ready,
            ended,
            metrics: BTreeMap::from([("consumed".to_string(), consumed)]),
            reading_at: ready,
            version: version.map(str::to_string),
            ..Heard::default()
        };
        let job = Heard::of_instances([heard(Some(now), true, 10.0, None), heard(Some(later), true, 5.0, Some("ks 4.1"))]);
        assert_eq!((job.ready_at, job.ended, job.metrics["consumed"], job.reading_at), (Some(later), true, 15.0, Some(later)));
        assert_eq!(job.version.as_deref(), Some("ks 4.1"));
        let one_not_ready = Heard::of_instances([heard(Some(now), true, 1.0, None), heard(None, false, 1.0, None)]);
        assert_eq!((one_not_ready.ready_at, one_not_ready.ended), (None, false), "ready and ended once every process is");
        assert_eq!(Heard::of_instances([heard(Some(now), false, 3.0, Some("v"))]).metrics["consumed"], 3.0, "one process is itself");
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
        assert_eq!(h.metrics.get("malformed@1"), Some(&3.0), "each process's own, added up by the evaluation");
        assert!(h.ready_at.is_some());
        assert_eq!(h.reading_at, None, "no `consumed` metric yet");
        let later = now + std::time::Duration::from_secs(1);
        h.take_line("boontadata: metric consumed@1 40", now);
        h.take_line("boontadata: metric consumed@1 40", later);
        assert_eq!(h.reading_at, Some(now), "reading while its `consumed` rises, not while it stays");
        h.take_line("boontadata: metric consumed@1 41", later);
        assert_eq!(h.reading_at, Some(later));
        assert_eq!(h.last_words.as_deref(), Some("some log line"));
        h.take_line("flink: no Flink cluster answers at 127.0.0.1:1", now);
        h.take_line("   ", now);
        h.take_line("\tat org.apache.flink.Foo.bar(Foo.java:12)", now);
        h.take_line("\t... 23 more", now);
        assert_eq!(h.last_words.as_deref(), Some("flink: no Flink cluster answers at 127.0.0.1:1"), "the last line of log, not a protocol line");
    }

    #[test]
    fn a_job_gets_the_contract_flags_its_own_group_results_topic_and_state_folder_and_its_engines_options() {
        let manifest = "about = \"t\"\nmodes = [\"processing-time\"]\ndedup = true\nlateness = true\nafter_crash = \"none\"\nlaunch = \"builtin\"\nwindow_logic = \"w.rs\"\n";
        let spec: &'static EngineSpec = Box::leak(Box::new(EngineSpec::parse(std::path::Path::new("engines/timely"), manifest).unwrap()));
        let ctx = JobContext {
            run_id: "seed-1".into(),
            run_dir: "/out/seed-1".into(),
            flags: JobFlags { events: "events.seed-1".into(), results: "results.seed-1".into(), ..JobFlags::default() },
            engine_args: [("timely".to_string(), vec!["--workers".to_string(), "2".to_string()])].into(),
        };
        let args = job_args(&Job { spec, mode: Mode::ProcessingTime }, &ctx, 0);
        let text = args.join(" ");
        for expected in [
            "--mode processing-time",
            "--events events.seed-1",
            "--results results.seed-1.timely.processing-time",
            "--group seed-1.timely.processing-time",
            "--state-dir /out/seed-1/state-timely-processing-time",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert!(text.ends_with("--workers 2"), "{text}");
        let alias: &'static EngineSpec =
            Box::leak(Box::new(EngineSpec { name: "timely-b".into(), job_args: vec!["--runner".into(), "b".into()], ..spec.clone() }));
        let text = job_args(&Job { spec: alias, mode: Mode::ProcessingTime }, &ctx, 0).join(" ");
        assert!(text.ends_with("--runner b") && text.contains("--group seed-1.timely-b.processing-time"), "an alias's own flags and its own group: {text}");
    }

    #[test]
    fn job_flags_go_to_a_command_line_and_back() {
        let parse = |args: &[String]| {
            let m = JobFlags::augment_args(clap::Command::new("job").no_binary_name(true)).try_get_matches_from(args).unwrap();
            JobFlags::from_arg_matches(&m).unwrap()
        };
        let defaults = parse(&[]);
        assert_eq!(defaults, JobFlags::default());
        assert_eq!((defaults.mode, defaults.window_ms, defaults.group_for("native").as_str()), (Mode::EventTime, 5000, "boontadata-native-event-time"));
        let flags = JobFlags { mode: Mode::ProcessingTime, group: Some("g".into()), state_dir: Some("/tmp/s".into()), window_ms: 1000, ids: true, ..defaults };
        assert_eq!(parse(&flags.to_args()), flags);
    }
}
