use anyhow::{bail, Result};
use boontadata::cli::{self, Cli, Command};
use boontadata::engine::folder;
use boontadata::scenario::Scenario;
use boontadata::{bench, broker, evaluate, progress, report, run, simulate, store, summary};
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set by SIGINT/SIGTERM: every long loop checks it, so children and the broker are stopped cleanly.
/// An engine's job also ends on it when the harness says `end`.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGINT/SIGTERM only: the process is to end, not just its current job.
static TERMINATED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    // Before parsing: the engines' own options are read from the registry, which the engine path adds to.
    folder::add_engine_path(cli::engine_path_args(std::env::args_os())).expect("the engine path is set before the registry is read");
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
        Command::Bench(a) => bench_command(a),
        Command::Engine(a) => boontadata::engines::run(&a.name, a.args, &STOP, &TERMINATED).map(|_| ExitCode::SUCCESS),
        Command::Setup(a) => setup_command(a),
        Command::List(_) => list_command(),
        Command::NewEngine(a) => new_engine_command(a),
    }
}

fn exit_for(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_command(a: cli::RunArgs) -> Result<ExitCode> {
    let options = a.bench.options(a.overrides.apply(cli::load_scenario(&a.scenario)?)?)?;
    let summary = progress::shown(|| run::run(&options, &STOP))?;
    if a.bench.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary::render(&summary, Some(summary::EXCEPTIONS_ON_A_TERMINAL)));
    }
    if let Some(failure) = &summary.store_failure {
        eprintln!("boontadata: error: {failure}");
        return Ok(ExitCode::from(2));
    }
    Ok(exit_for(summary.failed()))
}

fn matrix_command(a: cli::MatrixArgs) -> Result<ExitCode> {
    let names: Vec<String> = match &a.scenarios {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None => boontadata::matrix::SCENARIOS.iter().map(|s| s.to_string()).collect(),
    };
    let scenarios = names.iter().map(|n| a.overrides.apply(cli::load_scenario(n)?)).collect::<Result<Vec<_>>>()?;
    let options = a.bench.options(scenarios.first().cloned().unwrap_or_default())?;
    let (m, dir) = progress::shown(|| run::matrix::matrix(&options, &scenarios, a.jobs_at_once.map(usize::from), &STOP))?;
    if a.bench.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        print!("{}", boontadata::matrix::render(&m));
        println!("report: {}", dir.join("report.html").display());
    }
    Ok(exit_for(m.failed()))
}

fn report_command(a: cli::ReportArgs) -> Result<ExitCode> {
    if let Some(b) = report::load_bench(&a.dir)? {
        anyhow::ensure!(a.against.is_none(), "--against compares matrices and runs, not benches: a bench's figures are read beside its own baselines");
        let page = report::write_bench_page(&a.dir, &b)?;
        print!("{}", bench::render(&b));
        println!("report: {}", page.display());
        return Ok(ExitCode::SUCCESS);
    }
    let m = report::load(&a.dir)?;
    let against = a.against.as_deref().map(report::load).transpose()?;
    let page = report::write_page(&a.dir, &m, against.as_ref())?;
    print!("{}", boontadata::matrix::render(&m));
    println!("report: {}", page.display());
    Ok(ExitCode::SUCCESS)
}

fn history_command(a: cli::HistoryArgs) -> Result<ExitCode> {
    let store = store::open(&a.store)?;
    let runs = store.runs()?.into_iter().map(|r| Ok((store.metrics(&r.id)?, r)).map(|(m, r)| (r, m))).collect::<Result<Vec<_>>>()?;
    print!("{}", summary::history(&runs));
    Ok(ExitCode::SUCCESS)
}

fn compare_command(a: cli::CompareArgs) -> Result<ExitCode> {
    let store = store::open(&a.store)?;
    let mut run = store::load_run(&*store, a.run.as_deref())?;
    if a.by == cli::By::Sums {
        run.record.params = evaluate::by_sums(&run.record.params)?;
    }
    let summary = evaluate::evaluate(&run.record, &run.metrics, &run, &store::shown(&a.store))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary::render(&summary, Some(summary::EXCEPTIONS_ON_A_TERMINAL)));
    }
    Ok(exit_for(summary.failed()))
}

fn inject_command(a: cli::InjectArgs) -> Result<ExitCode> {
    let sc = a.overrides.apply(cli::load_scenario(&a.scenario)?)?;
    let epoch = sc.start_of_clock(boontadata::clock::now_ms());
    let mut phases = boontadata::phases::Phases::default();
    let plan = simulate::Plan::of_shard(&sc, epoch, a.shard.unwrap_or(simulate::Shard::WHOLE));
    phases.done("plan");
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
    let injection = run::inject::Injection { scenario: sc, brokers: a.brokers, topic: a.topic, store_url: a.store, run_id: a.run };
    let (run_id, injected) = progress::shown(|| {
        progress::step(format!("inject {}", injection.scenario.name), None);
        run::inject::inject(&injection, plan, phases, &STOP)
    })?;
    let part = a.shard.map_or(String::new(), |s| format!(" (shard {s}, no end-of-stream flush)"));
    println!("run {run_id}{part}: {} events ({} malformed records) sent to {} on {}", injected.events, injected.malformed, injection.topic, injection.brokers);
    Ok(ExitCode::SUCCESS)
}

fn bench_command(a: cli::BenchCmdArgs) -> Result<ExitCode> {
    let run = a.bench.options(a.overrides.apply(cli::load_scenario(&a.scenario)?)?)?;
    let probes = if a.no_sustainable { 0 } else { a.max_probes };
    let options =
        run::bench::BenchOptions { run, probe: Duration::from_secs(a.probe_secs.max(1)), from_rate: a.from_rate, max_probes: probes, budget: a.budget };
    let (b, dir) = progress::shown(|| run::bench::bench(&options, &STOP))?;
    if a.bench.json {
        println!("{}", serde_json::to_string_pretty(&b)?);
    } else {
        print!("{}", bench::render(&b));
        println!("bench: {}", dir.join("bench.json").display());
    }
    Ok(exit_for(b.engines.iter().any(|e| e.backlog_per_s.is_none())))
}

fn setup_command(a: cli::SetupArgs) -> Result<ExitCode> {
    let engines = folder::registry()?;
    let all: Vec<String> = ["kafka", "tansu", "cassandra"].into_iter().chain(engines.iter().map(|e| e.name.as_str())).map(String::from).collect();
    let chosen = if a.what.is_empty() { &all } else { &a.what };
    progress::shown(|| {
        for (i, what) in chosen.iter().enumerate() {
            progress::step(format!("setup {}/{} {what}", i + 1, chosen.len()), None);
            match what.as_str() {
                "kafka" => progress::print(format_args!("Apache Kafka {} is in {}", broker::kafka::VERSION, broker::kafka::install()?.display())),
                "tansu" => progress::print(format_args!("tansu {} is at {}", broker::tansu::VERSION, broker::tansu::install()?.display())),
                "cassandra" => {
                    progress::print(format_args!("Apache Cassandra {} is in {}", store::local_cassandra::VERSION, store::local_cassandra::install()?.display()))
                }
                _ => {
                    let Some(spec) = engines.iter().find(|e| &e.name == what) else {
                        bail!("nothing to set up called '{what}'; choose among: {}", all.join(", "));
                    };
                    folder::setup(spec)?;
                    progress::print(format_args!("engine {what} is ready to run"));
                }
            }
        }
        progress::done();
        Ok(ExitCode::SUCCESS)
    })
}

fn list_command() -> Result<ExitCode> {
    println!("scenarios:");
    for (name, _) in boontadata::scenario::BUILT_IN {
        println!("  {name:<13} {}", Scenario::built_in(name)?.description);
    }
    println!("engines (engines/NAME/engine.toml, and the engine path: --engine-path, $BOONTADATA_ENGINE_PATH):");
    let engines = folder::registry()?;
    for e in engines {
        let modes = |m: &[boontadata::model::Mode]| m.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        println!(
            "  {:<13} {} — modes: {} (default: {}); after a crash: {}; window logic: {}/{}",
            e.name,
            e.about,
            modes(&e.modes),
            modes(&e.default_modes),
            e.after_crash.as_str(),
            folder::shown_folder(e),
            e.window_logic
        );
        for o in &e.options {
            println!("  {:<13}   --{}: {}", "", o.name, o.help);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn new_engine_command(a: cli::NewEngineArgs) -> Result<ExitCode> {
    // An engine path that does not read is no reason to refuse: it is said when it is used.
    let known = folder::registry().unwrap_or_default();
    let written = boontadata::engine::scaffold::new_engine(&a.name, a.from, &a.dir, known)?;
    print!("{}", boontadata::engine::scaffold::next_steps(&written));
    Ok(ExitCode::SUCCESS)
}
