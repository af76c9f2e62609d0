//! The capability matrix end to end: a small matrix against a real broker,
//! its JSON, and its HTML report opened in headless Chromium.

mod common;

use boontadata::matrix::Verdict;
use boontadata::model::Mode;
use common::boontadata;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(user_data: &Path) -> Command {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: install Debian's `chromium` package (.ci/run does)");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", user_data.display()));
    cmd
}

fn matrix_dir(out: &Path) -> PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("matrix-"))
        .expect("a matrix folder")
}

#[test]
fn a_small_matrix_writes_its_cells_and_a_report_that_renders() {
    let out = common::out_dir("matrix");
    let scenarios = ["duplicates", "out-of-order", "late-beyond"];
    // One job at a time: each scenario run twice on its seeded stream, once per mode, and still one column.
    let output =
        boontadata().args(["matrix", "--engines", "native", "--jobs-at-once", "1", "--scenarios", &scenarios.join(","), "--out"]).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "matrix failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.lines().next().unwrap().starts_with("engine mode"), "the terminal matrix comes first:\n{stdout}");
    // Its progress in a pipe: a line as each run begins, then what is left, from the runs done.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(|c: char| c.is_control() && c != '\n'), "no control character in a log:\n{stderr:?}");
    assert!(stderr.contains(": matrix 1/3 duplicates, jobs 1/2\n") && stderr.contains(": matrix 1/3 duplicates, jobs 1/2 done in "), "{stderr}");
    assert!(stderr.contains(": matrix 3/3 late-beyond, jobs 2/2; about ") && stderr.contains(" left\n"), "{stderr}");

    let dir = matrix_dir(&out);
    let m = boontadata::report::load(&dir).unwrap();
    assert_eq!(m.scenarios.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), scenarios);
    assert_eq!(m.cells.len(), 6, "native in event and processing time, three scenarios");
    assert!(m.cells.iter().all(|c| c.verdict() != Verdict::Fail), "{:#?}", m.cells);
    let cell = |scenario: &str, mode: Mode| m.cells.iter().find(|c| c.scenario == scenario && c.summary.mode == mode).unwrap();
    assert_eq!(cell("duplicates", Mode::EventTime).verdict(), Verdict::Pass, "dedup: every window exact");
    assert_eq!(cell("out-of-order", Mode::EventTime).verdict(), Verdict::Pass, "disorder within the bound: exact");
    assert_eq!(cell("late-beyond", Mode::EventTime).verdict(), Verdict::Partial, "late beyond the lateness: dropped, explained");
    assert_ne!(cell("duplicates", Mode::EventTime).run_id, cell("duplicates", Mode::ProcessingTime).run_id, "a run per job");
    for c in m.cells.iter().filter(|c| c.scenario != scenarios[0]) {
        let log = std::fs::read_to_string(&c.summary.log).unwrap();
        assert!(log.starts_with("$ next job in the engine process"), "native serves jobs: one process per mode for the whole matrix ({})", c.summary.log);
    }

    let report = dir.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    let profile = out.join("chromium-profile");
    let dom = chromium(&profile).arg("--dump-dom").arg(format!("file://{}", report.display())).output().unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<table id=\"matrix\">"), "the matrix table is in the DOM Chromium built:\n{}", &dom[..dom.len().min(2000)]);
    for c in &m.cells {
        let id = format!("id=\"cell-{}-{}-{}\"", c.scenario, c.summary.engine, c.summary.mode);
        assert!(html.contains(&id) && dom.contains(&id), "{id} in the page and in the DOM");
    }
    assert_eq!(dom.matches("<svg").count(), 2, "a latency plot per engine mode");
    let window_logic = std::fs::read_to_string(boontadata::engine::folder::engines_dir().join("native/window.rs")).unwrap();
    assert!(window_logic.contains("pub struct Windows {"));
    assert!(dom.contains("id=\"code-native\"") && html.contains("pub struct Windows {"), "the page shows native's window logic itself");

    let shot = dir.join("report.png");
    let status = chromium(&profile)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,1600")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&status.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let colours: std::collections::HashSet<&[u8]> = pixels[..info.buffer_size()].chunks(info.color_type.samples()).collect();
    assert!(colours.len() > 20, "the screenshot is not blank: {} colours", colours.len());
}

#[test]
fn report_regenerates_the_page_of_a_run_folder_and_history_lists_runs() {
    let (summary, _) = common::run("report", &["--engines", "native:event-time", "--messages", "60", "--pacing", "none", "--clock", "virtual"]);
    let dir = Path::new(&summary.out_dir);
    let output = boontadata().arg("report").arg(dir).arg("--against").arg(dir).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"cell-seed-native-event-time\"") && html.contains("id=\"against\""));
    let store = format!("sqlite:{}", dir.parent().unwrap().join("boontadata.sqlite").display());
    let history = boontadata().args(["history", "--store", &store]).output().unwrap();
    let text = String::from_utf8_lossy(&history.stdout);
    assert!(text.contains(&summary.run_id) && text.contains("native/event-time"), "{text}");
}

#[test]
fn a_matrix_keeps_the_cells_of_the_engines_that_run_when_one_cannot() {
    // Nothing listens on port 1: the Flink job cannot be submitted, in either scenario.
    let args = ["--engines", "native:event-time,flink:event-time", "--flink-cluster", "127.0.0.1:1", "--scenarios", "duplicates,late-beyond"];
    let (m, output) = common::matrix("dead-cluster", &args);
    assert_eq!(output.status.code(), Some(1), "a failed engine fails the matrix");
    for scenario in ["duplicates", "late-beyond"] {
        let native = m.cell("native event-time", scenario).expect("native's cell");
        assert_ne!(native.verdict(), Verdict::Fail, "native ran {scenario}: {}", native.symbol());
        let flink = m.cell("flink event-time", scenario).expect("flink's cell");
        assert_eq!(flink.verdict(), Verdict::Fail);
        assert!(flink.symbol().starts_with("✗ not ready: exited"), "{scenario}: {}", flink.symbol());
    }
    let dir = matrix_dir(&common::out_path("dead-cluster"));
    assert_eq!(boontadata::report::load(&dir).unwrap(), m, "matrix.json holds every cell");
}
