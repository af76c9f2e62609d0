use anyhow::{bail, Context, Result};
use boontadata::engines::{native, timely};
use boontadata::scenario::{Clock, Pacing, Scenario};
use boontadata::{broker, compare, engine, html, inject, kafka, matrix, run, simulate, store, truth};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set by SIGINT/SIGTERM: every long loop checks it, so children and the broker are stopped cleanly.
/// An engine's job also ends on it when the harness says `end`.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGINT/SIGTERM only: the process is to end, not just its current job.
static TERMINATED: AtomicBool = AtomicBool::new(false);

#[derive(Parser)]
#[command(
    name = "boontadata",
    version,
    about = "Does a stream engine give the right answer with duplicates, out-of-order and late events? Measured, side by side.",
    long_about = "boontadata plays IoT devices that send duplicates, out-of-order and late events to a Kafka-protocol \
broker, runs stream engines on that stream, and compares each engine's 5-second window aggregates with the \
simulator's truth, explaining every difference.\n\nStart with `boontadata run`: it needs no running services \
(a local broker is started for the run) and prints every engine's comparison and a summary table.\n\n\
Exit codes: 0 = every difference explained; 1 = an unexplained difference or a failed engine; 2 = usage or infrastructure error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole bench: broker, engines, simulator, collection, comparison, summary.
    Run(RunArgs),
    /// Send a scenario's events to a broker (or print them) and store the truth.
    Inject(InjectArgs),
    /// Compare a stored run's results with its truth, explaining each difference.
    Compare(CompareArgs),
    /// Every engine and mode over scenarios that each isolate one behaviour: the capability matrix and an HTML report.
    Matrix(MatrixArgs),
    /// Write the HTML report of a matrix or run folder again (optionally beside an earlier one).
    Report(ReportArgs),
    /// The runs kept in the store.
    History(HistoryArgs),
    /// Run one engine process (the harness starts these for you).
    #[command(subcommand)]
    Engine(EngineCommand),
    /// Install what a run needs into ~/.cache/boontadata, ahead of time (`run` also does it on first use).
    Setup(SetupArgs),
    /// List the built-in scenarios and the engines.
    List,
}

#[derive(Args)]
struct ScenarioArgs {
    /// A built-in scenario (see `boontadata list`) or a TOML file.
    #[arg(long, default_value = "seed")]
    scenario: String,
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
}

impl ScenarioArgs {
    fn scenario(&self) -> Result<Scenario> {
        let mut s = Scenario::load(&self.scenario)?;
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
        s.validate()?;
        Ok(s)
    }
}

/// What `run` and `matrix` share: the engines, where things run and are kept.
#[derive(Args)]
struct BenchArgs {
    /// Engines to run, comma-separated; NAME runs its default modes, NAME:MODE one mode.
    #[arg(long, default_value = "native")]
    engines: String,
    /// An existing Kafka cluster (HOST:PORT[,…]); without it a local tansu broker is started for the run.
    #[arg(long)]
    brokers: Option<String>,
    /// Folder for the run's files and the default store.
    #[arg(long, default_value = "boontadata-out")]
    out: PathBuf,
    /// Store URL (sqlite:PATH); default: sqlite:OUT/boontadata.sqlite.
    #[arg(long)]
    store: Option<String>,
    /// Send the whole stream before starting the engines: events/s then measures each engine on a backlog.
    #[arg(long)]
    preload: bool,
    /// Give up on an engine's end-of-stream row after this many seconds without new results.
    #[arg(long, default_value_t = 15)]
    quiet_secs: u64,
    /// How long an engine may take to start.
    #[arg(long, default_value_t = 120)]
    ready_timeout_secs: u64,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Timely: worker threads per process.
    #[arg(long, default_value_t = 1)]
    timely_workers: usize,
    /// Timely: processes in the cluster (started on loopback by the first one).
    #[arg(long, default_value_t = 1)]
    timely_processes: usize,
    /// Where the flink engine runs its job: an embedded mini-cluster (default), `local` (a standalone
    /// jobmanager and taskmanager started for the run) or HOST:PORT (the REST address of an existing cluster).
    #[arg(long, value_name = "local|HOST:PORT")]
    flink_cluster: Option<String>,
    /// The flink engine's checkpoint interval.
    #[arg(long, default_value_t = 10_000)]
    flink_checkpoint_ms: u64,
    /// The Spark master the spark engine submits its job to (spark://HOST:PORT, …); default local[*], in the engine's own process.
    #[arg(long, value_name = "URL")]
    spark_master: Option<String>,
}

impl BenchArgs {
    fn options(&self, scenario: Scenario) -> Result<run::RunOptions> {
        Ok(run::RunOptions {
            scenario,
            jobs: engine::parse_selection(&self.engines)?,
            brokers: self.brokers.clone(),
            out: self.out.clone(),
            store: self.store.clone(),
            preload: self.preload,
            quiet: Duration::from_secs(self.quiet_secs),
            ready_timeout: Duration::from_secs(self.ready_timeout_secs),
            engine_args: self.engine_args(),
        })
    }

    /// The options of one engine only, by engine name, as its job takes them.
    fn engine_args(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let timely = vec![format!("--workers={}", self.timely_workers), format!("--processes={}", self.timely_processes)];
        let mut flink = vec!["--checkpoint-ms".to_string(), self.flink_checkpoint_ms.to_string()];
        if let Some(cluster) = &self.flink_cluster {
            flink.extend(["--cluster".to_string(), cluster.clone()]);
        }
        let spark = self.spark_master.iter().flat_map(|url| ["--master".to_string(), url.clone()]).collect();
        [("timely".to_string(), timely), ("flink".to_string(), flink), ("spark".to_string(), spark)].into()
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Args)]
struct MatrixArgs {
    /// Scenarios, comma-separated (default: every one that isolates a behaviour, and `seed`).
    #[arg(long)]
    scenarios: Option<String>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Args)]
struct ReportArgs {
    /// A matrix folder (with matrix.json) or a run folder (with summary.json).
    dir: PathBuf,
    /// An earlier matrix or run folder to show beside it.
    #[arg(long)]
    against: Option<PathBuf>,
}

#[derive(Args)]
struct HistoryArgs {
    #[arg(long, default_value = "sqlite:boontadata-out/boontadata.sqlite")]
    store: String,
}

#[derive(Args)]
struct InjectArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(long, default_value = "events")]
    topic: String,
    /// Print the records (one JSON value per line) instead of sending them; no broker needed.
    #[arg(long)]
    stdout: bool,
    /// Store URL for the truth.
    #[arg(long, default_value = "sqlite:boontadata-out/boontadata.sqlite")]
    store: String,
}

#[derive(Args)]
struct CompareArgs {
    #[arg(long, default_value = "sqlite:boontadata-out/boontadata.sqlite")]
    store: String,
    /// Run id (default: the latest run in the store).
    #[arg(long)]
    run: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum EngineCommand {
    /// boontadata's reference engine. It serves jobs: after the line `end` on stdin, a line holding
    /// a JSON array of these flags starts the next job in the same process.
    Native(native::Options),
    /// The windows on Timely Dataflow, in one process or as a cluster.
    Timely(timely::Options),
}

#[derive(Args)]
struct SetupArgs {
    /// `broker` (the local tansu broker) and/or engine names; default: the broker and every engine.
    what: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = ctrlc::set_handler(|| {
        TERMINATED.store(true, Ordering::Relaxed);
        STOP.store(true, Ordering::Relaxed);
    });
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("boontadata: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(a) => run_command(a),
        Command::Inject(a) => inject_command(a),
        Command::Compare(a) => compare_command(a),
        Command::Matrix(a) => matrix_command(a),
        Command::Report(a) => report_command(a),
        Command::History(a) => history_command(a),
        Command::Engine(EngineCommand::Native(o)) => boontadata::engines::serve(o, &STOP, &TERMINATED, native::run).map(|_| ExitCode::SUCCESS),
        Command::Engine(EngineCommand::Timely(o)) => timely::run(&o, &STOP).map(|_| ExitCode::SUCCESS),
        Command::Setup(a) => setup_command(a),
        Command::List => {
            println!("scenarios:");
            for (name, _) in boontadata::scenario::BUILT_IN {
                println!("  {name:<13} {}", Scenario::load(name)?.description);
            }
            println!("engines:");
            for e in engine::ENGINES {
                println!("  {:<13} {} — modes: {} (default: {}); job: {}", e.name, e.about, e.modes.join(", "), e.default_modes.join(", "), e.job_file);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn setup_command(a: SetupArgs) -> Result<ExitCode> {
    let all: Vec<String> = std::iter::once("broker").chain(engine::ENGINES.iter().map(|e| e.name)).map(String::from).collect();
    for what in if a.what.is_empty() { &all } else { &a.what } {
        if what == "broker" {
            println!("tansu {} is at {}", broker::TANSU_VERSION, broker::install_tansu()?.display());
            continue;
        }
        let Some(spec) = engine::ENGINES.iter().find(|e| e.name == what) else {
            bail!("nothing to set up called '{what}'; choose among: {}", all.join(", "));
        };
        engine::setup(spec)?;
        println!("engine {what} is ready to run");
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_for(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_command(a: RunArgs) -> Result<ExitCode> {
    let options = a.bench.options(a.scenario.scenario()?)?;
    let summary = run::run(&options, &STOP)?;
    if a.bench.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", run::render(&summary));
    }
    Ok(exit_for(summary.failed()))
}

fn matrix_command(a: MatrixArgs) -> Result<ExitCode> {
    let names: Vec<String> = match &a.scenarios {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None => matrix::SCENARIOS.iter().map(|s| s.to_string()).collect(),
    };
    let scenarios = names.iter().map(|n| Scenario::load(n)).collect::<Result<Vec<_>>>()?;
    let base = a.bench.options(scenarios.first().cloned().unwrap_or_default())?;
    let (m, dir) = matrix::run(&matrix::MatrixOptions { base, scenarios }, &STOP)?;
    if a.bench.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        print!("{}", matrix::render(&m));
        println!("report: {}", dir.join("report.html").display());
    }
    Ok(exit_for(m.failed()))
}

/// A matrix folder's matrix, or a one-scenario matrix made of a run folder's summary.
fn load_matrix(dir: &std::path::Path) -> Result<matrix::Matrix> {
    if dir.join("matrix.json").exists() {
        return matrix::Matrix::load(dir);
    }
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{} has neither matrix.json nor summary.json", dir.display()))?;
    let summary: run::RunSummary = serde_json::from_str(&text).with_context(|| format!("{} is not a run summary", path.display()))?;
    let scenario = Scenario::load(&summary.scenario).unwrap_or_else(|_| Scenario { name: summary.scenario.clone(), ..Scenario::default() });
    Ok(matrix::Matrix::from_runs(&[(scenario, summary)]))
}

fn report_command(a: ReportArgs) -> Result<ExitCode> {
    let m = load_matrix(&a.dir)?;
    let against = a.against.as_deref().map(load_matrix).transpose()?;
    let path = a.dir.join("report.html");
    html::write(&m, against.as_ref(), &path)?;
    print!("{}", matrix::render(&m));
    println!("report: {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn history_command(a: HistoryArgs) -> Result<ExitCode> {
    let store = store::open(&a.store)?;
    println!("{:<34}  {:<12}  {:<19}  {:>7}  engines (windows exact/total)", "run", "scenario", "started (UTC)", "secs");
    for r in store.runs()? {
        let metrics = store.metrics(&r.id)?;
        let get = |engine: &str, name: &str| metrics.iter().find(|(e, n, _)| e == engine && n == name).map(|(_, _, v)| *v as i64);
        let mut engines: Vec<String> = metrics.iter().filter(|(_, n, _)| n == "windows_total").map(|(e, _, _)| e.clone()).collect();
        engines.dedup();
        let cells: Vec<String> =
            engines.iter().map(|e| format!("{e} {}/{}", get(e, "windows_exact").unwrap_or(0), get(e, "windows_total").unwrap_or(0))).collect();
        let secs = r.ended_at.map_or("-".to_string(), |end| format!("{:.0}", (end - r.started_at) as f64 / 1000.0));
        println!("{:<34}  {:<12}  {:<19}  {:>7}  {}", r.id, r.scenario, boontadata::window::utc(r.started_at), secs, cells.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn inject_command(a: InjectArgs) -> Result<ExitCode> {
    let sc = a.scenario.scenario()?;
    let epoch = sc.start_of_clock();
    let plan = simulate::Plan::new(&sc, epoch);
    if a.stdout {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut buf = Vec::new();
        for r in &plan.records {
            plan.encode(r, &mut buf);
            out.write_all(&buf)?;
            out.write_all(b"\n")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = store::open(&a.store)?;
    kafka::check_reachable(&a.brokers)?;
    kafka::create_topic(&a.brokers, &a.topic, sc.partitions)?;
    let partitions = kafka::partition_count(&a.brokers, &a.topic)?;
    let producer = kafka::producer(&a.brokers)?;
    let injected = inject::inject(&plan, &sc, &producer, &a.topic, partitions, &STOP)?;
    let run_id = format!("inject-{}-{}", sc.name, boontadata::window::now_ms());
    let params = run::RunParams { scenario: sc.clone(), jobs: vec![] };
    store.put_run(&store::RunRecord {
        id: run_id.clone(),
        scenario: sc.name.clone(),
        seed: sc.seed,
        params: serde_json::to_string(&params)?,
        engine_versions: "{}".into(),
        started_at: epoch,
        ended_at: Some(boontadata::window::now_ms()),
    })?;
    store.put_events(&run_id, &injected.log)?;
    store.put_truth(&run_id, &truth::compute(&injected.log, sc.window_ms))?;
    println!("run {run_id}: {} events ({} malformed records) sent to {} on {}", injected.log.len(), injected.malformed, a.topic, a.brokers);
    Ok(ExitCode::SUCCESS)
}

fn compare_command(a: CompareArgs) -> Result<ExitCode> {
    let store = store::open(&a.store)?;
    let runs = store.runs()?;
    let run = match &a.run {
        Some(id) => runs.iter().find(|r| &r.id == id).with_context(|| format!("no run '{id}' in {}", a.store))?,
        None => runs.last().with_context(|| format!("no run in {}; start one with `boontadata run`", a.store))?,
    };
    let params: run::RunParams = serde_json::from_str(&run.params).context("reading the run's params")?;
    let (log, truth, results) = (store.events(&run.id)?, store.truth(&run.id)?, store.results(&run.id)?);
    if params.jobs.is_empty() {
        bail!("run {} has no engine results to compare (it was an inject-only run)", run.id);
    }
    let comparisons: Vec<compare::Comparison> = params
        .jobs
        .iter()
        .map(|(engine, mode)| {
            let rows: Vec<_> = results.iter().filter(|r| &r.engine == engine && &r.mode == mode).cloned().collect();
            compare::compare(engine, mode, compare::view_for_mode(mode), &truth, &rows, &log, params.scenario.window_ms)
        })
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&comparisons)?);
    } else {
        for c in &comparisons {
            println!("{}", compare::render(c));
        }
    }
    Ok(exit_for(comparisons.iter().any(|c| c.unexplained() > 0)))
}
