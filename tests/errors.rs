//! Bad input gets one clear line and a non-zero exit; nothing else is lost.

mod common;

use boontadata::model::{EngineStatus, Mode};
use common::{boontadata, outcome};
use std::time::Duration;

fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "exactly one error line, got:\n{stderr}");
    lines[0]
}

#[test]
fn an_unreachable_broker_fails_fast_with_one_clear_line() {
    let port = boontadata::process::free_ports(1).unwrap()[0];
    let out = common::out_dir("unreachable");
    let (code, stderr, took) = outcome(boontadata().args(["run", "--brokers", &format!("127.0.0.1:{port}"), "--out"]).arg(&out));
    assert_eq!(code, Some(2));
    let line = one_error_line(&stderr);
    assert!(line.contains(&format!("cannot reach a Kafka broker at 127.0.0.1:{port}")) && line.contains("--brokers"), "{line}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn an_unknown_engine_is_named_with_the_known_ones() {
    let (code, stderr, _) = outcome(boontadata().args(["run", "--engines", "native,flonk"]));
    assert_eq!(code, Some(2));
    let line = one_error_line(&stderr);
    assert!(line.contains("unknown engine 'flonk'") && line.contains("native (event-time"), "{line}");
}

#[test]
fn a_bad_store_url_and_a_bad_scenario_say_what_to_use() {
    let (code, stderr, _) = outcome(boontadata().args(["run", "--store", "mysql://db/x"]));
    assert_eq!(code, Some(2));
    assert!(one_error_line(&stderr).contains("use sqlite:PATH"), "{stderr}");
    let (code, stderr, _) = outcome(boontadata().args(["run", "--scenario", "no-such-scenario"]));
    assert_eq!(code, Some(2));
    assert!(one_error_line(&stderr).contains("built-in ones are seed, disorder"), "{stderr}");
}

#[test]
fn malformed_records_are_counted_and_skipped_never_a_crash() {
    let (summary, output) =
        common::run("malformed", &["--engines", "native:event-time", "--malformed", "30", "--messages", "200", "--pacing", "none", "--clock", "virtual"]);
    assert!(output.status.success());
    assert_eq!(summary.malformed_sent, 30);
    let row = common::engine_row(&summary.engines, "native", Mode::EventTime);
    assert_eq!(row.malformed, Some(30), "every malformed record is counted");
    assert_eq!(row.status, EngineStatus::Ok, "the engine kept going to the end of the stream");
    assert!(row.windows_exact > 0);
    let text = std::fs::read_to_string(std::path::Path::new(&summary.out_dir).join("compare.txt")).unwrap();
    assert!(text.lines().any(|l| l.starts_with("native") && l.contains("event-time") && l.contains(" 30 ")), "the report shows the count:\n{text}");
}

#[test]
fn inject_to_stdout_is_reproducible_byte_for_byte() {
    let stream = |seed: &str| boontadata().args(["inject", "--stdout", "--clock", "virtual", "--devices", "2", "--seed", seed]).output().unwrap().stdout;
    let a = stream("34");
    assert_eq!(a, stream("34"));
    assert_ne!(a, stream("35"));
    let first = String::from_utf8_lossy(&a).lines().next().unwrap().to_string();
    let event: serde_json::Value = serde_json::from_str(&first).unwrap();
    for field in ["id", "di", "dt", "c", "m1", "m2"] {
        assert!(event.get(field).is_some(), "{field} missing in {first}");
    }
}

#[test]
fn new_engine_refuses_a_folder_that_exists_a_bad_or_taken_name_and_an_unknown_template() {
    let dir = common::out_dir("new-engine-refusals");
    let new_engine = |name: &str, from: &str| outcome(boontadata().args(["new-engine", name, "--from", from, "--dir"]).arg(&dir));
    assert_eq!(new_engine("team-a", "python").0, Some(0));
    let (code, stderr, _) = new_engine("team-a", "python");
    assert_eq!(code, Some(2));
    assert!(one_error_line(&stderr).contains("team-a exists already; new-engine writes a new folder"), "{stderr}");
    let (code, stderr, _) = new_engine("Team.B", "python");
    assert_eq!(code, Some(2));
    assert!(one_error_line(&stderr).contains("'Team.B' is not a name"), "{stderr}");
    let (code, stderr, _) = new_engine("native", "python");
    assert_eq!(code, Some(2));
    assert!(one_error_line(&stderr).contains("an engine named native exists already"), "{stderr}");
    let (code, stderr, _) = new_engine("team-c", "storm");
    assert_eq!(code, Some(2));
    assert!(
        one_error_line(&stderr).contains("invalid value 'storm' for '--from <ENGINE>'") && stderr.contains("flink, spark, kafka-streams, python"),
        "{stderr}"
    );
    assert!(!dir.join("Team.B").exists() && !dir.join("team-c").exists(), "nothing written when refused");
}

#[test]
fn the_engine_path_refuses_a_name_found_twice_and_a_folder_without_an_engine() {
    let (a, b, empty) = (common::out_dir("engine-path-a"), common::out_dir("engine-path-b"), common::out_dir("engine-path-empty"));
    for dir in [&a, &b] {
        let written = boontadata().args(["new-engine", "twin", "--from", "python", "--dir"]).arg(dir).output().unwrap();
        assert!(written.status.success());
    }
    std::fs::create_dir_all(&empty).unwrap();
    let (code, stderr, _) = outcome(boontadata().args(["list", "--engine-path"]).arg(&a).arg("--engine-path").arg(&b));
    assert_eq!(code, Some(2));
    let line = one_error_line(&stderr);
    let (a_twin, b_twin) = (a.canonicalize().unwrap().join("twin"), b.canonicalize().unwrap().join("twin"));
    assert!(line.contains(&format!("two engines are named twin: {} and {}", a_twin.display(), b_twin.display())), "{line}");
    // The variable and the flag add up; the same folder given twice is one engine.
    let (code, stderr, _) = outcome(boontadata().env("BOONTADATA_ENGINE_PATH", &b).args(["run", "--engines", "twin", "--engine-path"]).arg(&a));
    assert_eq!(code, Some(2));
    assert!(one_error_line(&stderr).contains("two engines are named twin"), "{stderr}");
    let listed = boontadata().env("BOONTADATA_ENGINE_PATH", &a).args(["list", "--engine-path"]).arg(a_twin.as_path()).output().unwrap();
    assert!(listed.status.success() && String::from_utf8_lossy(&listed.stdout).contains("  twin "), "{}", String::from_utf8_lossy(&listed.stderr));
    let (code, stderr, _) = outcome(boontadata().args(["matrix", "--engines", "native", "--engine-path"]).arg(&empty));
    assert_eq!(code, Some(2));
    assert!(one_error_line(&stderr).contains("holds no engine: neither"), "{stderr}");
}
