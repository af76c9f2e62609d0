//! Runs the real `boontadata` binary, as a user would, and reads what it wrote.

#![allow(dead_code)] // each test file uses its own part of these helpers

use boontadata::compare::Cause;
use boontadata::engine::ENGINES;
use boontadata::run::RunSummary;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn boontadata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_boontadata"))
}

pub fn out_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("boontadata-test-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `boontadata run ARGS --json`, returning the parsed summary and the process output.
pub fn run(test: &str, args: &[&str]) -> (RunSummary, Output) {
    let out = out_dir(test);
    let started = Instant::now();
    let output = boontadata().arg("run").args(args).arg("--out").arg(&out).arg("--json").output().expect("starting boontadata");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: RunSummary = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("run {args:?} printed no summary ({e}); exit {:?}; stderr:\n{stderr}", output.status.code()));
    eprintln!("{test}: run {args:?} took {:.1} s\n{}", started.elapsed().as_secs_f64(), boontadata::report::table(&summary.engines));
    (summary, output)
}

pub fn causes(summary: &RunSummary, engine: &str, mode: &str) -> Vec<(Cause, usize)> {
    engine_row(summary, engine, mode).exceptions.clone()
}

pub fn engine_row<'a>(summary: &'a RunSummary, engine: &str, mode: &str) -> &'a boontadata::report::EngineSummary {
    summary.engines.iter().find(|e| e.engine == engine && e.mode == mode).unwrap_or_else(|| panic!("no {engine} {mode} in the summary"))
}

pub fn count(summary: &RunSummary, engine: &str, mode: &str, cause: Cause) -> usize {
    causes(summary, engine, mode).iter().find(|(c, _)| *c == cause).map_or(0, |(_, n)| *n)
}

/// The engine conformance suite: runs the scenarios against a real local broker
/// and holds every mode of `engine` to what the engine declares. `options` are
/// extra `run` options (an engine's parallelism, say).
pub fn conformance(engine: &str, options: &[&str]) {
    let spec = ENGINES.iter().find(|e| e.name == engine).unwrap_or_else(|| panic!("engine {engine} is not registered"));
    let all_modes: Vec<String> = spec.modes.iter().map(|m| format!("{engine}:{m}")).collect();
    let selection = all_modes.join(",");

    // `seed`: the original's faults, late events far beyond any lateness.
    let args = |scenario: &'static str| [&["--scenario", scenario, "--engines", &selection], options].concat();
    let (seed, output) = run(&format!("{engine}-seed"), &args("seed"));
    // `disorder`: heavy disorder, all of it within the watermark bound and the allowed lateness.
    let (disorder, _) = run(&format!("{engine}-disorder"), &args("disorder"));

    for (name, summary) in [("seed", &seed), ("disorder", &disorder)] {
        for e in &summary.engines {
            assert_eq!(e.status, "ok", "{engine} {} on {name}: {} (log {})", e.mode, e.status, e.log);
            assert_eq!(e.unexplained, 0, "{engine} {} on {name} has unexplained exceptions: {:?}", e.mode, e.exceptions);
            assert!(e.windows_total > 0, "{engine} {} on {name} compared nothing", e.mode);
        }
    }
    assert!(output.status.success(), "a run with every exception explained exits 0");

    if spec.modes.contains(&"event-time") {
        let late = count(&seed, engine, "event-time", Cause::Late);
        assert!(late > 0, "seed's events 120+ s late are beyond the allowed lateness: they must show as dropped");
        let row = engine_row(&disorder, engine, "event-time");
        if spec.lateness {
            assert_eq!(row.windows_exact, row.windows_total, "event time with enough lateness gets every window of disorder right: {:?}", row.exceptions);
        } else {
            assert!(
                row.exceptions.iter().all(|(c, _)| matches!(c, Cause::Late | Cause::OutOfOrder)),
                "without allowed lateness, event time only drops what comes after the watermark: {:?}",
                row.exceptions
            );
        }
        if spec.dedup {
            for s in [&seed, &disorder] {
                assert_eq!(count(s, engine, "event-time", Cause::Duplicate), 0, "a deduplicating engine counts no resend");
            }
        }
    }
    if spec.modes.contains(&"processing-time") {
        for s in [&seed, &disorder] {
            let causes = causes(s, engine, "processing-time");
            assert!(
                causes.iter().all(|(c, _)| matches!(c, Cause::Boundary | Cause::Duplicate)),
                "processing time differs from send time only at window boundaries: {causes:?}"
            );
        }
    }
    if spec.modes.contains(&"ingestion-time") {
        let row = engine_row(&disorder, engine, "ingestion-time");
        assert_eq!(row.windows_exact, row.windows_total, "ingestion time windows by send time: every window of disorder is exact");
    }
}

/// Runs `cmd` and returns (exit code, stderr, elapsed).
pub fn outcome(cmd: &mut Command) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let output = cmd.output().expect("starting boontadata");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned(), started.elapsed())
}
