//! The capability matrix end to end: a small matrix against a real broker,
//! its JSON, and its HTML report opened in headless Chromium; a crash run's page, its rows
//! around the kill drawn.

mod common;

use boontadata::compare::Cause;
use boontadata::html::{cause_colour, colours};
use boontadata::matrix::Verdict;
use boontadata::model::Mode;
use boontadata::summary::RunSummary;
use common::boontadata;
use common::chromium::{self, Shot};
use std::path::{Path, PathBuf};

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
    let dom = chromium::dom(&report, &profile);
    assert!(dom.contains("<table id=\"matrix\">"), "the matrix table is in the DOM Chromium built:\n{}", &dom[..dom.len().min(2000)]);
    for c in &m.cells {
        let id = format!("id=\"cell-{}-{}-{}\"", c.scenario, c.summary.engine, c.summary.mode);
        assert!(html.contains(&id) && dom.contains(&id), "{id} in the page and in the DOM");
    }
    let pictures = scenarios.iter().map(|s| format!("exceptions-{s}")).chain(["latency-native-event-time".into(), "latency-native-processing-time".into()]);
    for id in pictures {
        assert!(dom.contains(&format!("<figure id=\"{id}\"><svg")), "the picture {id} is in the DOM");
    }
    assert_eq!(dom.matches("<svg").count(), 5, "exceptions by cause per scenario, a latency plot per engine mode");
    let window_logic = std::fs::read_to_string(boontadata::engine::folder::engines_dir().join("native/window.rs")).unwrap();
    assert!(window_logic.contains("pub struct Windows {"));
    assert!(dom.contains("id=\"code-native\"") && html.contains("pub struct Windows {"), "the page shows native's window logic itself");

    let shot = Shot::take(&report, &profile, &dir.join("report.png"), (1280, 2400));
    assert!(shot.colours(shot.whole()) > 20, "the screenshot is not blank: {} colours", shot.colours(shot.whole()));
    // Each cause's bars are drawn in its colour, with their swatch in the legend under the picture.
    let drawn: Vec<Cause> = m.cells.iter().flat_map(|c| c.summary.exceptions.iter().map(|(cause, _)| *cause)).collect();
    assert!(drawn.contains(&Cause::Late) && drawn.contains(&Cause::Boundary), "late-beyond's late events, processing time's boundaries: {drawn:?}");
    for cause in drawn {
        let colour = cause_colour(cause);
        let (left, top, right, bottom) = shot.extent(shot.whole(), colour).unwrap_or_else(|| panic!("no {cause:?} ({colour}) in the screenshot"));
        assert!(
            bottom - top > 30 && right > left && shot.count(shot.whole(), colour) > 200,
            "{cause:?}'s bars and its legend: {left},{top} to {right},{bottom}"
        );
    }
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

#[test]
fn a_crash_run_s_page_draws_its_rows_stopping_at_the_kill_and_coming_back() {
    let (summary, output) = common::run("crash-page", &["--scenario", "engine-crash", "--engines", "native:event-time"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let e = &summary.engines[0];
    assert_eq!(e.windows_exact, e.windows_total, "native is exactly-once across a crash");
    let crash = e.crash.as_ref().expect("the run records the crash");
    let t = crash.timeline.as_ref().expect("and its timeline");
    assert_eq!(t.rows.iter().sum::<u64>(), e.windows_total as u64, "every row counted once, in the second the collector first read it");
    let (from, step) = (t.from_ms, t.step_ms);
    // The rows of the seconds that begin at `start` or later and end by `end`.
    let rows_in = |start: i64, end: i64| -> u64 {
        t.rows.iter().enumerate().filter(|(i, _)| from + *i as i64 * step >= start && from + (*i as i64 + 1) * step <= end).map(|(_, n)| n).sum()
    };
    assert!(rows_in(i64::MIN, t.killed_ms + step) > 0 && rows_in(t.restarted_ms, i64::MAX) > 0, "rows before the kill and after the restart: {t:?}");
    // (A row the engine committed as it was killed may be read just after.)
    assert_eq!(rows_in(t.killed_ms + 500, t.restarted_ms), 0, "none while it was down: {t:?}");
    // `compare` reads the same timeline off the store.
    let dir = Path::new(&summary.out_dir);
    let store = format!("sqlite:{}", dir.parent().unwrap().join("boontadata.sqlite").display());
    let again = boontadata().args(["compare", "--store", &store, "--json"]).output().unwrap();
    let again: RunSummary = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again.engines[0].crash, e.crash);

    let report = boontadata().arg("report").arg(dir).output().unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let (page, profile) = (dir.join("report.html"), dir.join("chromium-profile"));
    let dom = chromium::dom(&page, &profile);
    for id in ["crash-engine-crash-native-event-time", "exceptions-engine-crash", "latency-native-event-time"] {
        assert!(dom.contains(&format!("<figure id=\"{id}\"><svg")), "the picture {id} is in the DOM");
    }
    let shot = Shot::take(&page, &profile, &dir.join("report.png"), (1280, 1800));
    // The time down is shaded over the plot's height: the kill at its left edge, rows left of it and right of it.
    let down = shot.extent(shot.whole(), colours::DOWN).expect("the time down shaded");
    let (left, top, right, bottom) = down;
    assert!(right - left > 20 && bottom - top > 100, "the time down spans seconds, the plot's height: {down:?}");
    let plot_rows = |from: usize, to: usize| shot.count((from, top, to, bottom), colours::ROWS);
    assert!(plot_rows(0, left) > 100 && plot_rows(right, 1279) > 100, "rows before the kill and after ready again, beside the time down {down:?}");
    assert!(shot.count((left.saturating_sub(2), top, left + 2, bottom), colours::KILL) > 100, "the kill at the left edge of the time down");
    assert!(shot.count((right.saturating_sub(2), top, right + 2, bottom), colours::READY) > 50, "ready again at its right edge");
}
