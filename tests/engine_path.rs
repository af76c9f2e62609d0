//! Engines of one's own, outside the checkout: `new-engine` writes a folder anywhere, and
//! `--engine-path DIR` (or `$BOONTADATA_ENGINE_PATH`) runs it beside the checkout's engines,
//! held to what its manifest declares as the conformance suite holds every engine. Real broker,
//! real processes; an engine that is not installed is installed by its `setup`, as on first use.

mod common;

use boontadata::engine::{EngineSpec, Guarantee};
use boontadata::model::{EngineStatus, Mode};
use common::boontadata;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `boontadata new-engine NAME --from FROM --dir DIR`, which must succeed; what it printed.
fn new_engine(name: &str, from: &str, dir: &Path) -> String {
    let output = boontadata().args(["new-engine", name, "--from", from, "--dir"]).arg(dir).output().expect("starting boontadata");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "new-engine {name} --from {from}: {stderr}");
    eprintln!("$ boontadata new-engine {name} --from {from} --dir {}\n{stdout}", dir.display());
    stdout.into_owned()
}

/// The manifest of the engine folder `folder`, as the registry reads it.
fn spec_of(folder: &Path) -> EngineSpec {
    EngineSpec::parse(folder, &std::fs::read_to_string(folder.join("engine.toml")).unwrap()).unwrap()
}

/// A folder outside the checkout for a test's engines, made empty.
fn teams_dir(test: &str) -> PathBuf {
    let dir = common::out_dir(test);
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

#[test]
fn a_python_engine_written_outside_the_checkout_passes_conformance_as_is() {
    let dir = teams_dir("engine-path-python");
    let printed = new_engine("team-py", "python", &dir);
    let path = dir.display().to_string();
    assert!(printed.contains(&format!("boontadata matrix --engine-path {path} --engines team-py --scenarios seed,disorder")), "{printed}");
    assert!(printed.contains(&format!("export BOONTADATA_ENGINE_PATH={path}")), "{printed}");
    let spec = spec_of(&dir.join("team-py"));
    assert_eq!((spec.window_logic.as_str(), spec.after_crash, spec.dedup, spec.lateness), ("windows.py", Guarantee::AtLeastOnce, true, true));
    assert!(spec.about.starts_with("team-py, a copy of boontadata's Python template to edit (its window logic first: windows.py)"), "{}", spec.about);
    common::conformance::conformance(&spec, None, &["--engine-path", &path]);
    let matrix = std::fs::read_dir(common::out_path("team-py-conformance")).unwrap().map(|e| e.unwrap().path()).find(|p| p.join("report.html").exists());
    let report = std::fs::read_to_string(matrix.expect("a matrix folder").join("report.html")).unwrap();
    assert!(report.contains("class PartitionClocks"), "the report shows the window logic of an engine outside the checkout");
}

#[test]
fn a_copy_of_kafka_streams_on_the_engine_path_variable_runs_under_its_own_name() {
    let dir = teams_dir("engine-path-kafka-streams");
    new_engine("team-ks", "kafka-streams", &dir);
    let mut cmd = boontadata();
    cmd.env("BOONTADATA_ENGINE_PATH", &dir);
    let (summary, output) = common::run_in(cmd, "team-ks-run", &["--engines", "team-ks", "--scenario", "seed"]);
    for mode in [Mode::EventTime, Mode::ProcessingTime] {
        // The collector takes a job's rows by the engine's name: they say team-ks, or none is compared.
        let e = common::engine_row(&summary.engines, "team-ks", mode);
        assert_eq!(e.status, EngineStatus::Ok, "team-ks {mode}: {} (log {})", e.status, e.log);
        assert!(e.windows_total > 0 && e.unexplained == 0, "team-ks {mode}: {} windows, exceptions {:?}", e.windows_total, e.exceptions);
        let log = std::fs::read_to_string(&e.log).unwrap();
        assert!(log.contains("boontadata: version team-ks on kafka-streams 4."), "{}", e.log);
    }
    assert!(output.status.success());
    let built = boontadata::install::cache_dir().join("team-ks/build/classes");
    assert!(built.is_dir(), "a copy is built apart, in the cache under its own name: {}", built.display());
}

#[test]
fn copies_of_flink_and_spark_register_set_up_and_start_outside_the_checkout() {
    let dir = teams_dir("engine-path-flink-spark");
    new_engine("team-flink", "flink", &dir);
    new_engine("team-spark", "spark", &dir);
    let path = dir.display().to_string();
    let list = boontadata().args(["list", "--engine-path", &path]).output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    for expected in [
        "team-flink    team-flink, a copy of boontadata's flink engine to edit (its window logic first: job.sql)",
        &format!("window logic: {path}/team-flink/job.sql"),
        "--team-flink-cluster: Flink: where the job runs",
        "team-spark    team-spark, a copy of boontadata's spark engine to edit (its window logic first: windows.py)",
        "--team-spark-master: Spark:",
    ] {
        assert!(listed.contains(expected), "list shows {expected:?}:\n{listed}");
    }
    // Their setup finds what the engines share in the checkout, and the originals' virtualenvs in the cache.
    let setup = boontadata().args(["setup", "--engine-path", &path, "team-flink", "team-spark"]).output().unwrap();
    assert!(setup.status.success(), "setup of the copies: {}", String::from_utf8_lossy(&setup.stderr));
    let cache = boontadata::install::cache_dir();
    for (name, holds, own_flag) in [("team-flink", "pyflink-", "--checkpoint-ms"), ("team-spark", "pyspark-", "--master")] {
        let venv = std::fs::read_link(cache.join(name).join("venv")).unwrap_or_else(|e| panic!("{name}'s setup links its virtualenv: {e}"));
        assert!(venv.file_name().unwrap().to_string_lossy().starts_with(holds), "{name} shares the original's virtualenv: {}", venv.display());
        // Its job starts from its own folder, named as the harness names it, and answers.
        let started = Command::new(dir.join(name).join("start"))
            .arg("--help")
            .env("BOONTADATA_ENGINE", name)
            .env("BOONTADATA_HOME", env!("CARGO_MANIFEST_DIR"))
            .env("BOONTADATA_CACHE", &cache)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&started.stdout);
        assert!(
            started.status.success() && help.contains("--mode") && help.contains(own_flag),
            "{name}/start --help: {help}{}",
            String::from_utf8_lossy(&started.stderr)
        );
    }
}
