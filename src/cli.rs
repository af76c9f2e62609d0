//! The command line: every command's options, and how they become the
//! harness's options. The engines' own options (`--flink-cluster`, …) are not
//! written here: each engine's manifest declares them (`EngineOptions`).

use crate::broker;
use crate::engine::{self, folder, EngineSpec};
use crate::run::RunOptions;
use crate::scenario::{Clock, Pacing, Scenario};
use crate::store;
use anyhow::{Context, Result};
use clap::{Arg, ArgMatches, Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The default store, when no output folder says otherwise.
pub const DEFAULT_STORE: &str = "sqlite:boontadata-out/boontadata.sqlite";

#[derive(Parser)]
#[command(
    name = "boontadata",
    version,
    about = "Does a stream engine give the right answer with duplicates, out-of-order and late events? Measured, side by side.",
    long_about = "boontadata plays IoT devices that send duplicates, out-of-order and late events to a Kafka-protocol \
broker, runs stream engines on that stream, and compares each engine's 5-second window aggregates with the \
simulator's truth, explaining every difference.\n\nStart with `boontadata run`: it needs no running services \
(a local broker is started for the run) and prints every engine's comparison and a summary table.\n\n\
While `run`, `matrix`, `bench`, `setup` or `inject` runs, its progress is on stderr (stdout is the results'): a \
status rewritten in place on a terminal; a line per step and change of state, no control characters, where stderr \
is not a terminal or TERM=dumb (a pipe, a CI log).\n\n\
Exit codes: 0 = every difference explained; 1 = an unexplained difference or a failed engine; 2 = usage or infrastructure error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole bench: broker, engines, simulator, collection, comparison, summary.
    Run(RunArgs),
    /// Send a scenario's events to a broker (or print them) and store the truth.
    Inject(InjectArgs),
    /// Print a stored run's comparisons and summary again, exactly as `run` printed them.
    Compare(CompareArgs),
    /// Every engine and mode over scenarios that each isolate one behaviour: the capability matrix and an HTML report.
    Matrix(MatrixArgs),
    /// Write the HTML report of a matrix, run or bench folder again (a matrix or run optionally beside an earlier one).
    Report(ReportArgs),
    /// The runs kept in the store.
    History(HistoryArgs),
    /// In one sitting on one broker: bare-client baselines, the simulator, each engine on a backlog and its sustainable rate, each figure with its ratio to its baseline.
    Bench(BenchCmdArgs),
    /// Run one process of an engine built into this binary (the harness starts these for you).
    Engine(EngineArgs),
    /// Install what a run needs into ~/.cache/boontadata, ahead of time (`run` also does it on first use).
    Setup(SetupArgs),
    /// List the built-in scenarios and the engines (the checkout's, and those of the engine path).
    List(ListArgs),
    /// Write a folder to start your own engine from (a copy of an engine, or a Python template), which runs as it is.
    ///
    /// Writes DIR/NAME/: a copy of the checkout's flink, spark or kafka-streams engine, or the Python
    /// template (a plain consumer on confluent-kafka), with an engine.toml that says it is a copy and
    /// names its window-logic file, the first to change, and options renamed after it
    /// (--NAME-cluster). It runs as it is, held to what its engine.toml declares: give
    /// `--engine-path DIR` (or $BOONTADATA_ENGINE_PATH=DIR) to run, matrix, bench, list, setup and
    /// report. A bad name, a name an engine has already and a folder that exists are refused.
    NewEngine(NewEngineArgs),
}

/// `--engine-path`: engine folders from outside the checkout. The registry is read before the
/// command line is parsed (the engines' own options come from it), so `main` takes these from
/// the raw arguments first (`engine_path_args`); clap declares them for `--help` and checking.
#[derive(Args, Clone)]
pub struct EnginePath {
    /// A folder of engine folders (each with an engine.toml), or an engine folder itself, to run
    /// beside the checkout's engines (repeatable; also $BOONTADATA_ENGINE_PATH, colon-separated
    /// like PATH). An engine is named after its folder; a name found twice is an error.
    #[arg(long = "engine-path", value_name = "DIR")]
    pub engine_path: Vec<PathBuf>,
}

/// The folders of every `--engine-path DIR` (or `--engine-path=DIR`) among raw arguments.
pub fn engine_path_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--engine-path") => dirs.extend(args.next().map(PathBuf::from)),
            Some(a) if a.starts_with("--engine-path=") => dirs.push(PathBuf::from(&a["--engine-path=".len()..])),
            _ => {}
        }
    }
    dirs
}

/// Scenario fields to override; any left out keeps the scenario's value.
#[derive(Args)]
pub struct ScenarioOverrides {
    #[arg(long)]
    seed: Option<u64>,
    /// Number of simulated devices.
    #[arg(long)]
    devices: Option<u32>,
    /// Messages per device.
    #[arg(long)]
    messages: Option<u32>,
    /// Target rate in events/s over all devices (sets --pacing rate).
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, value_enum)]
    pacing: Option<Pacing>,
    #[arg(long, value_enum)]
    clock: Option<Clock>,
    /// Start of the virtual clock, epoch ms (sets --clock virtual).
    #[arg(long)]
    epoch: Option<i64>,
    /// Malformed records to mix into the stream.
    #[arg(long)]
    malformed: Option<u32>,
    #[arg(long)]
    partitions: Option<i32>,
    #[arg(long)]
    allowed_lateness_ms: Option<i64>,
    #[arg(long)]
    out_of_orderness_ms: Option<i64>,
    /// How long a crash scenario's engine or broker node stays down before it is started again,
    /// or a stall's engine stopped before it is continued, ms: longer than an engine's session
    /// timeout to have its group go on without it.
    #[arg(long, value_name = "MS")]
    crash_down_ms: Option<i64>,
}

impl ScenarioOverrides {
    pub fn apply(&self, mut s: Scenario) -> Result<Scenario> {
        s.seed = self.seed.unwrap_or(s.seed);
        s.devices = self.devices.unwrap_or(s.devices);
        s.messages = self.messages.unwrap_or(s.messages);
        if let Some(rate) = self.rate {
            (s.rate, s.pacing) = (rate, Pacing::Rate);
        }
        s.pacing = self.pacing.unwrap_or(s.pacing);
        if let Some(epoch) = self.epoch {
            (s.epoch_ms, s.clock) = (epoch, Clock::Virtual);
        }
        s.clock = self.clock.unwrap_or(s.clock);
        s.malformed = self.malformed.unwrap_or(s.malformed);
        s.partitions = self.partitions.unwrap_or(s.partitions);
        s.allowed_lateness_ms = self.allowed_lateness_ms.unwrap_or(s.allowed_lateness_ms);
        s.out_of_orderness_ms = self.out_of_orderness_ms.unwrap_or(s.out_of_orderness_ms);
        s.crash_down_ms = self.crash_down_ms.unwrap_or(s.crash_down_ms);
        s.validate()?;
        Ok(s)
    }
}

/// A built-in scenario by name, or a scenario file by path.
pub fn load_scenario(name_or_path: &str) -> Result<Scenario> {
    let path = std::path::Path::new(name_or_path);
    if Scenario::built_in(name_or_path).is_ok() || !path.exists() {
        return Scenario::built_in(name_or_path);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading scenario {}", path.display()))?;
    Scenario::parse(&path.file_stem().unwrap_or_default().to_string_lossy(), &text)
}

/// What `run` and `matrix` share: the engines, where things run and are kept.
#[derive(Args)]
pub struct BenchArgs {
    /// Engines to run, comma-separated; NAME runs its default modes, NAME:MODE one mode (see `boontadata list`).
    #[arg(long, default_value = "native")]
    engines: String,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Folder for the run's files and the default store.
    #[arg(long, default_value = "boontadata-out")]
    out: PathBuf,
    /// Store URL: sqlite:PATH, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, cassandra://HOST[:PORT][,…]/KEYSPACE[?replication=N],
    /// or cassandra:local (a Cassandra node started for the command, its data in OUT/cassandra); default: sqlite:OUT/boontadata.sqlite.
    #[arg(long)]
    store: Option<String>,
    /// Send the whole stream before starting the engines: events/s then measures each engine on a backlog.
    #[arg(long)]
    preload: bool,
    /// Give up on an engine's end-of-stream row after this many seconds without new results and without its `consumed` metric rising.
    #[arg(long, default_value_t = 15)]
    quiet_secs: u64,
    /// How long an engine may take to start.
    #[arg(long, default_value_t = 120)]
    ready_timeout_secs: u64,
    /// Instances of each job, for the engines that declare how to run several (`instances` in their
    /// engine.toml): N processes in the job's consumer group (Kafka Streams), or N-way parallelism
    /// inside its process (Timely's workers, Flink's and Spark's parallelism); the others refuse more than 1.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    instances: u32,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine_path: EnginePath,
    #[command(flatten)]
    engine_options: EngineOptions,
}

impl BenchArgs {
    pub fn options(&self, scenario: Scenario) -> Result<RunOptions> {
        let jobs = engine::parse_selection(folder::registry()?, &self.engines)?;
        let mut engine_args = self.engine_options.0.clone();
        if self.instances > 1 {
            let engines: BTreeMap<&str, &EngineSpec> = jobs.iter().map(|j| (j.spec.name.as_str(), j.spec)).collect();
            for (name, spec) in engines {
                engine::instances_args(spec, self.instances, engine_args.entry(name.to_string()).or_default())?;
            }
        }
        Ok(RunOptions {
            scenario,
            jobs,
            broker: self.broker.choice(),
            out: self.out.clone(),
            store: self.store.as_deref().map(|url| store::in_output_folder(url, &self.out)),
            preload: self.preload,
            quiet: Duration::from_secs(self.quiet_secs),
            ready_timeout: Duration::from_secs(self.ready_timeout_secs),
            engine_args,
            ids: true,
            instances: self.instances,
        })
    }
}

/// Which broker: a local one started for the command, or an existing cluster.
#[derive(Args)]
pub struct BrokerArgs {
    /// The local broker started for the run: Apache Kafka (KRaft), or tansu (no JVM, starts in a
    /// second, but a caught-up reader can be served past a batch still being stored).
    #[arg(long, value_enum, default_value_t = broker::Kind::Kafka)]
    broker: broker::Kind,
    /// Nodes of the local Kafka cluster, on loopback; with 3, the run's topics have 3 replicas, 2 in sync.
    #[arg(long, default_value_t = 1)]
    broker_nodes: usize,
    /// An existing Kafka cluster (HOST:PORT[,…]) instead of a local broker.
    #[arg(long, conflicts_with_all = ["broker", "broker_nodes"])]
    brokers: Option<String>,
}

impl BrokerArgs {
    pub fn choice(&self) -> broker::Choice {
        match &self.brokers {
            Some(given) => broker::Choice::Given(given.clone()),
            None => broker::Choice::Local { kind: self.broker, nodes: self.broker_nodes },
        }
    }
}

/// The options every engine's manifest declares, as the engine's jobs take them, by engine name.
#[derive(Clone, Default)]
pub struct EngineOptions(BTreeMap<String, Vec<String>>);

fn registered() -> &'static [EngineSpec] {
    // Without a registry there is nothing to add; `--engines` then says why.
    folder::registry().unwrap_or_default()
}

impl clap::FromArgMatches for EngineOptions {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for spec in registered() {
            for option in &spec.options {
                if let Some(value) = matches.get_one::<String>(&option.name) {
                    args.entry(spec.name.clone()).or_default().extend([option.job_flag.clone(), value.clone()]);
                }
            }
        }
        Ok(EngineOptions(args))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for EngineOptions {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for spec in registered() {
            for option in &spec.options {
                let mut arg = Arg::new(option.name.as_str()).long(option.name.as_str()).help(option.help.as_str()).help_heading("Engine options");
                if let Some(name) = &option.value_name {
                    arg = arg.value_name(name.as_str());
                }
                if let Some(default) = &option.default {
                    arg = arg.default_value(default.as_str());
                }
                cmd = cmd.arg(arg);
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(Args)]
pub struct RunArgs {
    /// A built-in scenario (see `boontadata list`) or a TOML file.
    #[arg(long, default_value = "seed")]
    pub scenario: String,
    #[command(flatten)]
    pub overrides: ScenarioOverrides,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Args)]
pub struct MatrixArgs {
    /// Scenarios, comma-separated (default: every one that isolates a behaviour, and `seed`).
    #[arg(long)]
    pub scenarios: Option<String>,
    /// Overrides applied to every scenario of the matrix.
    #[command(flatten)]
    pub overrides: ScenarioOverrides,
    /// Engine modes run side by side on one scenario's stream; more are run in further runs of the
    /// same seeded stream, so that a small machine does not starve them (13 JVM-heavy jobs at once
    /// overload 2 cores). Default: all of them at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs_at_once: Option<u16>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Args)]
pub struct BenchCmdArgs {
    /// The backlog's scenario, sent unpaced on the virtual clock (try `--messages 200`: 220,048 events);
    /// the probes of the sustainable-rate search pace its devices on the live clock.
    #[arg(long, default_value = "disorder")]
    pub scenario: String,
    #[command(flatten)]
    pub overrides: ScenarioOverrides,
    /// How long each probe of the sustainable-rate search sends, in seconds.
    #[arg(long, default_value_t = 20)]
    pub probe_secs: u64,
    /// The first rate the sustainable-rate search tries, events/s; it doubles while the engine keeps up.
    #[arg(long, default_value_t = 1000.0)]
    pub from_rate: f64,
    /// At most this many probes per engine mode (the search stops earlier once it has closed in to 25%).
    #[arg(long, default_value_t = 12)]
    pub max_probes: usize,
    /// Measure the backlog only, not the sustainable rate.
    #[arg(long)]
    pub no_sustainable: bool,
    /// Bound the sitting's time (90s, 10m, 1h30m): each engine mode's search gets an equal share of
    /// what is left when it starts, and a probe starts only if it can end within it; the bench says
    /// what it cut. The baselines and the backlogs always run.
    #[arg(long, value_parser = crate::format::parse_duration, value_name = "TIME")]
    pub budget: Option<std::time::Duration>,
    /// The engines, broker and output folder, as `run` takes them (the backlog is always preloaded).
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Args)]
pub struct ReportArgs {
    /// A matrix folder (with matrix.json), a run folder (with summary.json) or a bench folder (with bench.json).
    pub dir: PathBuf,
    /// An earlier matrix or run folder to show beside it.
    #[arg(long)]
    pub against: Option<PathBuf>,
    /// Where the report finds the window logic of engines from outside the checkout.
    #[command(flatten)]
    pub engine_path: EnginePath,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Store URL: sqlite:PATH, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, cassandra://HOST[:PORT][,…]/KEYSPACE[?replication=N],
    /// or cassandra:local[:DIR] (a Cassandra node started for the command, its data in DIR; default: boontadata-out/cassandra).
    #[arg(long, default_value = DEFAULT_STORE)]
    pub store: String,
}

#[derive(Args)]
pub struct InjectArgs {
    /// A built-in scenario (see `boontadata list`) or a TOML file.
    #[arg(long, default_value = "seed")]
    pub scenario: String,
    #[command(flatten)]
    pub overrides: ScenarioOverrides,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    #[arg(long, default_value = "events")]
    pub topic: String,
    /// Print the records (one JSON value per line) instead of sending them; no broker needed.
    #[arg(long)]
    pub stdout: bool,
    /// Send only shard I of N (counted from 1): the devices d with d % N == I-1, so that N machines
    /// drive one cluster. Give every shard the same scenario, seed and --run: their events and truths
    /// add up in the store to the whole run's. A shard sends no end-of-stream flush (it would close
    /// windows the other shards still send to).
    #[arg(long, value_name = "I/N", requires = "run")]
    pub shard: Option<crate::simulate::Shard>,
    /// The run's id in the store (default: inject-SCENARIO-MILLISECONDS); the shards of one run share it.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Store URL for the truth: sqlite:PATH, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, cassandra://HOST[:PORT][,…]/KEYSPACE[?replication=N],
    /// or cassandra:local[:DIR] (a Cassandra node started for the command, its data in DIR; default: boontadata-out/cassandra).
    #[arg(long, default_value = DEFAULT_STORE)]
    pub store: String,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Store URL: sqlite:PATH, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, cassandra://HOST[:PORT][,…]/KEYSPACE[?replication=N],
    /// or cassandra:local[:DIR] (a Cassandra node started for the command, its data in DIR; default: boontadata-out/cassandra).
    #[arg(long, default_value = DEFAULT_STORE)]
    pub store: String,
    /// Run id (default: the latest run in the store).
    #[arg(long)]
    pub run: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// How a job whose rows name their events is compared: by those ids (each event missing or
    /// extra classified), or by its sums as for an engine that cannot name them (to set the two side by side).
    #[arg(long, value_enum, default_value_t = By::Ids)]
    pub by: By,
}

/// The comparison's way (docs/SPEC.md §7).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Ids,
    Sums,
}

#[derive(Args)]
pub struct EngineArgs {
    /// An engine built into this binary (`engines/mod.rs`).
    pub name: String,
    /// The job's flags (docs/SPEC.md §5) and the engine's own; `boontadata engine NAME --help` lists them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args)]
pub struct SetupArgs {
    /// `kafka` and `tansu` (the local brokers), `cassandra` (the local store node) and/or engine names; default: all three and every engine.
    pub what: Vec<String>,
    #[command(flatten)]
    pub engine_path: EnginePath,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub engine_path: EnginePath,
}

#[derive(Args)]
pub struct NewEngineArgs {
    /// The engine's name, its folder's: a lowercase letter, then lowercase letters, digits, '-' or '_'.
    pub name: String,
    /// What to start from: a copy of the checkout's flink, spark or kafka-streams engine, or
    /// `python`, a plain Python job on confluent-kafka (the idiom of a team writing its own consumer).
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub from: crate::engine::scaffold::Template,
    /// The folder to write NAME/ into (made if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_path_is_read_from_the_raw_arguments_before_they_are_parsed() {
        let args = ["boontadata", "matrix", "--engine-path", "/teams", "--engines", "mine", "--engine-path=../more", "--engine-path"];
        assert_eq!(engine_path_args(args.map(std::ffi::OsString::from)), [PathBuf::from("/teams"), PathBuf::from("../more")]);
        let parsed = Cli::try_parse_from(["boontadata", "list", "--engine-path", "/teams", "--engine-path", "/more"]).unwrap();
        let Command::List(list) = parsed.command else { panic!("list") };
        assert_eq!(list.engine_path.engine_path, [PathBuf::from("/teams"), PathBuf::from("/more")], "declared to clap too, for --help");
    }
}
