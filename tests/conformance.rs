//! Every engine runs the same conformance suite against a real broker.

mod common;

use common::conformance;

#[test]
fn native_conformance() {
    conformance("native", &[]);
}

#[test]
fn timely_conformance_one_worker() {
    conformance("timely", &[]);
}

#[test]
fn timely_conformance_two_workers() {
    conformance("timely", &["--timely-workers", "2"]);
}

#[test]
fn timely_conformance_two_process_cluster() {
    conformance("timely", &["--timely-processes", "2"]);
}

#[test]
fn flink_conformance() {
    conformance("flink", &[]);
}

/// The same Flink job, submitted to a standalone jobmanager and taskmanager started for the run.
#[test]
fn flink_on_a_standalone_local_cluster() {
    let args = ["--engines", "flink:event-time", "--flink-cluster", "local", "--messages", "100", "--malformed", "9", "--clock", "virtual", "--pacing", "none"];
    let (summary, output) = common::run("flink-local", &args);
    let row = common::engine_row(&summary.engines, "flink", "event-time");
    assert_eq!(row.status, "ok", "log {}", row.log);
    assert_eq!(row.unexplained, 0, "{:?}", row.exceptions);
    assert!(row.windows_exact > 0 && output.status.success());
    assert_eq!(row.malformed, Some(9), "Flink's operator counters tell the malformed records");
    let log = std::fs::read_to_string(&row.log).unwrap();
    assert!(log.contains("Starting standalonesession") && log.contains("Starting taskexecutor"), "the job ran on its own cluster:\n{log}");
    let store = boontadata::store::open(&summary.store).unwrap();
    let run = store.runs().unwrap().into_iter().find(|r| r.id == summary.run_id).unwrap();
    assert!(run.engine_versions.contains("flink 2.0.0"), "the run records Flink's version: {}", run.engine_versions);
}

#[test]
fn spark_conformance() {
    conformance("spark", &[]);
}
