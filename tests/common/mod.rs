//! Runs the real `boontadata` binary, as a user would, and reads what it wrote.

#![allow(dead_code)] // each test file uses its own part of these helpers

pub mod chromium;
pub mod conformance;
pub mod postgres;

use boontadata::compare::Cause;
use boontadata::matrix::Matrix;
use boontadata::model::Mode;
use boontadata::summary::{EngineSummary, RunSummary};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn boontadata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_boontadata"))
}

/// The output folder of `test` in this test process.
pub fn out_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("boontadata-test-{test}-{}", std::process::id()))
}

/// The output folder of `test`, emptied.
pub fn out_dir(test: &str) -> PathBuf {
    let dir = out_path(test);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `boontadata COMMAND ARGS --out DIR --json` into a fresh folder, returning what it printed, parsed, and the process output.
fn json_command<T: serde::de::DeserializeOwned>(mut cmd: Command, command: &str, test: &str, args: &[&str], shown: impl Fn(&T) -> String) -> (T, Output) {
    let started = Instant::now();
    let output = cmd.arg(command).args(args).arg("--out").arg(out_dir(test)).arg("--json").output().expect("starting boontadata");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let parsed: T = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{command} {args:?} printed no JSON result ({e}); exit {:?}; stderr:\n{stderr}", output.status.code()));
    eprintln!("{test}: {command} {args:?} took {:.1} s\n{}", started.elapsed().as_secs_f64(), shown(&parsed));
    (parsed, output)
}

/// `boontadata run ARGS --json`, returning the parsed summary and the process output.
pub fn run(test: &str, args: &[&str]) -> (RunSummary, Output) {
    run_in(boontadata(), test, args)
}

/// `run` from `cmd`, a `boontadata()` with an environment of its own.
pub fn run_in(cmd: Command, test: &str, args: &[&str]) -> (RunSummary, Output) {
    json_command(cmd, "run", test, args, |s: &RunSummary| boontadata::summary::table(&s.engines))
}

/// `boontadata matrix ARGS --json`, returning the parsed matrix and the process output.
pub fn matrix(test: &str, args: &[&str]) -> (Matrix, Output) {
    json_command(boontadata(), "matrix", test, args, boontadata::matrix::render)
}

/// The engine rows of one scenario of a matrix.
pub fn scenario_rows(m: &Matrix, scenario: &str) -> Vec<EngineSummary> {
    let rows: Vec<EngineSummary> = m.cells.iter().filter(|c| c.scenario == scenario).map(|c| c.summary.clone()).collect();
    assert!(!rows.is_empty(), "the matrix has no cell of {scenario}");
    rows
}

pub fn causes(rows: &[EngineSummary], engine: &str, mode: Mode) -> Vec<(Cause, usize)> {
    engine_row(rows, engine, mode).exceptions.clone()
}

pub fn engine_row<'a>(rows: &'a [EngineSummary], engine: &str, mode: Mode) -> &'a EngineSummary {
    rows.iter().find(|e| e.engine == engine && e.mode == mode).unwrap_or_else(|| panic!("no {engine} {mode} in {rows:?}"))
}

pub fn count(rows: &[EngineSummary], engine: &str, mode: Mode, cause: Cause) -> usize {
    causes(rows, engine, mode).iter().find(|(c, _)| *c == cause).map_or(0, |(_, n)| *n)
}

/// Runs `cmd` and returns (exit code, stderr, elapsed).
pub fn outcome(cmd: &mut Command) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let output = cmd.output().expect("starting boontadata");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned(), started.elapsed())
}
