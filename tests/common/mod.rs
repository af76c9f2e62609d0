//! Runs the real `boontadata` binary, as a user would, and reads what it wrote.

#![allow(dead_code)] // each test file uses its own part of these helpers

use boontadata::compare::Cause;
use boontadata::engine::ENGINES;
use boontadata::matrix::Matrix;
use boontadata::report::EngineSummary;
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

/// `boontadata COMMAND ARGS --out DIR --json` into a fresh folder, returning what it printed, parsed, and the process output.
fn json_command<T: serde::de::DeserializeOwned>(command: &str, test: &str, args: &[&str], shown: impl Fn(&T) -> String) -> (T, Output) {
    let started = Instant::now();
    let output = boontadata().arg(command).args(args).arg("--out").arg(out_dir(test)).arg("--json").output().expect("starting boontadata");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let parsed: T = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{command} {args:?} printed no JSON result ({e}); exit {:?}; stderr:\n{stderr}", output.status.code()));
    eprintln!("{test}: {command} {args:?} took {:.1} s\n{}", started.elapsed().as_secs_f64(), shown(&parsed));
    (parsed, output)
}

/// `boontadata run ARGS --json`, returning the parsed summary and the process output.
pub fn run(test: &str, args: &[&str]) -> (RunSummary, Output) {
    json_command("run", test, args, |s: &RunSummary| boontadata::report::table(&s.engines))
}

/// `boontadata matrix ARGS --json`, returning the parsed matrix and the process output.
pub fn matrix(test: &str, args: &[&str]) -> (Matrix, Output) {
    json_command("matrix", test, args, boontadata::matrix::render)
}

/// The engine rows of one scenario of a matrix.
pub fn scenario_rows(m: &Matrix, scenario: &str) -> Vec<EngineSummary> {
    let rows: Vec<EngineSummary> = m.cells.iter().filter(|c| c.scenario == scenario).map(|c| c.summary.clone()).collect();
    assert!(!rows.is_empty(), "the matrix has no cell of {scenario}");
    rows
}

pub fn causes(rows: &[EngineSummary], engine: &str, mode: &str) -> Vec<(Cause, usize)> {
    engine_row(rows, engine, mode).exceptions.clone()
}

pub fn engine_row<'a>(rows: &'a [EngineSummary], engine: &str, mode: &str) -> &'a EngineSummary {
    rows.iter().find(|e| e.engine == engine && e.mode == mode).unwrap_or_else(|| panic!("no {engine} {mode} in {rows:?}"))
}

pub fn count(rows: &[EngineSummary], engine: &str, mode: &str, cause: Cause) -> usize {
    causes(rows, engine, mode).iter().find(|(c, _)| *c == cause).map_or(0, |(_, n)| *n)
}

/// The engine conformance suite: runs two scenarios, as a matrix, against a
/// real local broker and holds every mode of `engine` to what the engine
/// declares. `options` are extra options (an engine's parallelism, say).
pub fn conformance(engine: &str, options: &[&str]) {
    let spec = ENGINES.iter().find(|e| e.name == engine).unwrap_or_else(|| panic!("engine {engine} is not registered"));
    let all_modes: Vec<String> = spec.modes.iter().map(|m| format!("{engine}:{m}")).collect();
    let selection = all_modes.join(",");

    // `seed`: the original's faults, late events far beyond any lateness.
    // `disorder`: heavy disorder, all of it within the watermark bound and the allowed lateness.
    let args = [&["--scenarios", "seed,disorder", "--engines", &selection], options].concat();
    let (m, output) = matrix(&format!("{engine}-conformance"), &args);
    let (seed, disorder) = (scenario_rows(&m, "seed"), scenario_rows(&m, "disorder"));

    for (name, rows) in [("seed", &seed), ("disorder", &disorder)] {
        for e in rows {
            assert_eq!(e.status, "ok", "{engine} {} on {name}: {} (log {})", e.mode, e.status, e.log);
            assert_eq!(e.unexplained, 0, "{engine} {} on {name} has unexplained exceptions: {:?}", e.mode, e.exceptions);
            assert!(e.windows_total > 0, "{engine} {} on {name} compared nothing", e.mode);
            assert!(e.cpu_s.is_some_and(|s| s > 0.0) && e.peak_rss_bytes.is_some_and(|b| b > 0), "{engine} {} on {name}: usage measured", e.mode);
        }
    }
    assert!(output.status.success(), "a matrix with every exception explained exits 0");
    if spec.serves_jobs {
        for e in &disorder {
            let log = std::fs::read_to_string(&e.log).unwrap();
            assert!(log.starts_with("$ next job in the engine process"), "{engine} {} served disorder as its second job: {}", e.mode, e.log);
        }
    }

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
            for rows in [&seed, &disorder] {
                assert_eq!(count(rows, engine, "event-time", Cause::Duplicate), 0, "a deduplicating engine counts no resend");
            }
        }
    }
    if spec.modes.contains(&"processing-time") {
        for rows in [&seed, &disorder] {
            let causes = causes(rows, engine, "processing-time");
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
