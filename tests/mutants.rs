//! Deliberately wrong engines: copies of the Python template, each with one bug in its window
//! logic, run on a real broker beside each other. The comparison by ids must name every event a
//! bug got wrong as `unexplained` (no fault "explains" a bug), and blame no other event.

mod common;

use boontadata::model::EngineStatus;
use serde_json::Value;
use std::path::Path;

/// A Python snippet: the message's number, the part of its id after the device's.
const SEQ: &str = r#"int(event["id"].rsplit("-", 1)[1])"#;

/// A bug: the engine that has it, the line of windows.py it changes, its new text, and which messages it hits.
struct Mutant {
    engine: &'static str,
    line: &'static str,
    mutated: String,
    hits: fn(u64) -> bool,
}

fn mutants() -> [Mutant; 3] {
    let m = |engine, line, mutated, hits| Mutant { engine, line, mutated, hits };
    [
        // Drops some events whatever their time, after the watermark's own check.
        m("mutant-drop", "        self.seen.add(event[\"id\"])\n", format!("        self.seen.add(event[\"id\"])\n        if {SEQ} % 7 == 3:\n            return []\n"), |n| n % 7 == 3),
        // Counts some events twice.
        m(
            "mutant-twice",
            "        cell[0] += 1\n",
            format!("        cell[0] += 1\n        if {SEQ} % 11 == 5:\n            cell[0] += 1\n            cell[1] += event[\"m1\"]\n            cell[2] += event[\"m2\"]\n            cell[3].append(event[\"id\"])\n"),
            |n| n % 11 == 5,
        ),
        // Puts some events in the window after theirs.
        m(
            "mutant-shift",
            "        end = window_end(t, self.window_ms)\n",
            format!("        end = window_end(t, self.window_ms) + (self.window_ms if {SEQ} % 13 == 7 else 0)\n"),
            |n| n % 13 == 7,
        ),
    ]
}

#[test]
fn every_event_a_bug_got_wrong_is_unexplained_and_no_other() {
    let dir = common::out_dir("mutants");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    for Mutant { engine: name, line, mutated, .. } in mutants() {
        let made = common::boontadata().args(["new-engine", name, "--from", "python", "--dir"]).arg(&dir).output().unwrap();
        assert!(made.status.success(), "new-engine {name}: {}", String::from_utf8_lossy(&made.stderr));
        let windows = dir.join(name).join("windows.py");
        let text = std::fs::read_to_string(&windows).unwrap();
        assert!(text.contains(line), "templates/python/windows.py has the line the {name} bug changes: {line:?}");
        std::fs::write(&windows, text.replacen(line, &mutated, 1)).unwrap();
    }
    let engines = mutants().map(|m| format!("{}:event-time", m.engine)).join(",");
    let path = dir.display().to_string();
    let (summary, output) = common::run("mutants-run", &["--scenario", "disorder", "--engines", &engines, "--engine-path", &path]);
    assert_eq!(output.status.code(), Some(1), "a run with unexplained differences fails");
    let notes = exception_events(Path::new(&summary.out_dir));
    for Mutant { engine: name, hits: hit, .. } in mutants() {
        let e = common::engine_row(&summary.engines, name, boontadata::model::Mode::EventTime);
        assert_eq!(e.status, EngineStatus::Ok, "{name}: {} (log {})", e.status, e.log);
        assert!(e.unexplained > 0, "{name}'s bug shows: {:?}", e.exceptions);
        let of_engine: Vec<&Value> = notes.iter().filter(|n| n["engine"] == name).collect();
        let is_hit = |n: &Value| hit(n["id"].as_str().and_then(|id| id.rsplit_once('-')).and_then(|(_, k)| k.parse().ok()).expect("an id DEVICE-N"));
        let wrong: Vec<&&Value> = of_engine.iter().filter(|n| is_hit(n) && bug_shows(name, n)).collect();
        assert!(!wrong.is_empty(), "{name}: the bug's events are listed in exceptions.jsonl");
        for n in &wrong {
            assert_eq!(n["cause"], "unexplained", "{name}: an event its bug got wrong is not explained by a fault: {n}");
        }
        for n in of_engine.iter().filter(|n| !is_hit(n)) {
            assert_ne!(n["cause"], "unexplained", "{name}: an event its bug did not touch is not blamed: {n}");
        }
    }
}

/// Whether note `n` is one the bug of `name` makes (the others of its messages may have faults of
/// their own: a late message the watermark drops before the bug can drop it).
fn bug_shows(name: &str, n: &Value) -> bool {
    match name {
        "mutant-drop" => n["side"] == "missing" && n["fault"] == "none",
        "mutant-twice" => n["side"] == "extra",
        _ => true,
    }
}

/// Every line of the run's `exceptions.jsonl`.
fn exception_events(run_dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(run_dir.join("exceptions.jsonl")).expect("the run writes exceptions.jsonl");
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}
