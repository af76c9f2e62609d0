//! The layout holds: the modules' import graph has no cycle, the contract's
//! records depend on nothing else, the pure modules do no I/O, and the job
//! flags have the same defaults in Rust and in Python.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file of the library (src/ and engines/, but for its packages apart), by the top-level module it belongs to.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut by_module: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (dir, prefix) in [("src", None), ("engines", Some("engines"))] {
        for file in rust_files(&Path::new(ROOT).join(dir)) {
            let relative = file.strip_prefix(Path::new(ROOT).join(dir)).unwrap();
            let first = relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            let module = prefix.map_or(first, String::from);
            if module != "main" && module != "lib" {
                by_module.entry(module).or_default().push(file);
            }
        }
    }
    by_module
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // A folder with a Cargo.toml of its own is a package apart (an engine built by its setup), not the library's.
        if path.is_dir() && !path.join("Cargo.toml").exists() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The code of a file, without its unit tests.
fn code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    text.split("#[cfg(test)]").next().unwrap().to_string()
}

/// The top-level modules a file's code names through `crate::`.
fn uses(file: &Path) -> BTreeSet<String> {
    let text = code(file);
    text.match_indices("crate::").map(|(i, _)| text[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>()).collect()
}

#[test]
fn the_module_graph_has_no_cycle_and_the_model_depends_on_nothing() {
    let modules = modules();
    let graph: BTreeMap<&str, BTreeSet<String>> =
        modules.iter().map(|(m, files)| (m.as_str(), files.iter().flat_map(|f| uses(f)).filter(|u| u != m && modules.contains_key(u)).collect())).collect();
    assert!(graph["model"].is_empty(), "model depends on nothing of the project's: {:?}", graph["model"]);
    for pure in ["compare", "truth", "store"] {
        assert!(!graph[pure].contains("collect") && !graph[pure].contains("simulate"), "{pure} takes its records from model: {:?}", graph[pure]);
    }
    // Depth-first search for a path back to where it started.
    fn cycle<'a>(graph: &'a BTreeMap<&str, BTreeSet<String>>, node: &'a str, path: &mut Vec<&'a str>, done: &mut BTreeSet<&'a str>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            return Some(path[start..].iter().chain([&node]).map(|s| s.to_string()).collect());
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in &graph[node] {
            if let Some(c) = cycle(graph, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = cycle(&graph, node, &mut Vec::new(), &mut done) {
            panic!("the modules import each other in a cycle: {}", c.join(" → "));
        }
    }
}

/// About how long a module may grow before it holds more than one job.
const MODULE_LINES: usize = 600;

#[test]
fn no_module_holds_more_than_one_job_s_worth_of_code() {
    for file in modules().values().flatten() {
        let lines = code(file).lines().count();
        assert!(lines <= MODULE_LINES, "{} has {lines} lines of code besides its tests: split it by job", file.display());
    }
}

#[test]
fn pure_modules_do_no_io() {
    let pure = [
        "src/model.rs",
        "src/intern.rs",
        "src/format.rs",
        "src/groups.rs",
        "src/rng.rs",
        "src/scenario.rs",
        "src/simulate.rs",
        "src/truth.rs",
        "src/compare/mod.rs",
        "src/compare/candidates.rs",
        "src/compare/explain.rs",
        "src/summary.rs",
        "src/sustainable.rs",
        "src/evaluate.rs",
        "src/matrix.rs",
        "src/bench.rs",
        "src/html/mod.rs",
        "src/html/matrix.rs",
        "src/html/bench.rs",
        "src/html/pictures.rs",
        "src/html/charts.rs",
        "src/engine/mod.rs",
        "src/engine/protocol.rs",
        "src/collect/rows.rs",
        "src/progress/status.rs",
        "engines/watermark.rs",
        "engines/native/window.rs",
        "engines/timely/dataflow.rs",
    ];
    let io =
        ["rdkafka", "rusqlite", "std::fs", "std::process", "std::net", "std::io", "std::thread", "std::env", "println!", "eprintln!", "now_ms", "SystemTime"];
    let io_modules = ["kafka", "store", "process", "progress", "broker", "clock", "inject", "collect", "report", "run", "cli", "engines"];
    for file in pure {
        let text = code(&Path::new(ROOT).join(file));
        for word in io {
            assert!(!text.contains(word), "{file} is pure logic, but names {word}");
        }
        let named: BTreeSet<String> = uses(&Path::new(ROOT).join(file));
        for m in io_modules {
            assert!(!named.contains(m), "{file} is pure logic, but uses crate::{m}");
        }
    }
}

#[test]
fn python_jobs_take_the_same_flags_with_the_same_defaults() {
    let script = "import json, protocol; print(json.dumps(vars(protocol.job_parser('x', '').parse_args([]))))";
    let output = std::process::Command::new("python3").arg("-c").arg(script).current_dir(Path::new(ROOT).join("engines")).output().expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let python: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rust = boontadata::engine::protocol::JobFlags::default();
    let mut expected = serde_json::to_value(&rust).unwrap();
    expected["group"] = rust.group_for("x").into();
    assert_eq!(python, expected, "engines/protocol.py's job_parser and src/engine/protocol.rs's JobFlags");
}

#[test]
fn java_jobs_take_the_same_flags_with_the_same_defaults() {
    let classes = std::env::temp_dir().join(format!("boontadata-protocol-{}", std::process::id()));
    let source = Path::new(ROOT).join("engines/jvm/boontadata/Protocol.java");
    let javac = std::process::Command::new("javac").arg("-d").arg(&classes).arg(&source).output().expect("javac (a JDK 17)");
    assert!(javac.status.success(), "{}", String::from_utf8_lossy(&javac.stderr));
    let java = |args: &[&str]| {
        let out = std::process::Command::new("java").arg("-cp").arg(&classes).arg("boontadata.Protocol").args(args).output().expect("java");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let rust = boontadata::engine::protocol::JobFlags::default();
    let mut expected = serde_json::to_value(&rust).unwrap();
    expected["group"] = rust.group_for("x").into();
    assert_eq!(java(&[]), expected, "engines/jvm/boontadata/Protocol.java's Job and src/engine/protocol.rs's JobFlags");
    // And the harness's command line reads back as the flags it was made from.
    let flags = boontadata::engine::protocol::JobFlags {
        mode: boontadata::model::Mode::ProcessingTime,
        group: Some("g".into()),
        state_dir: Some("/a b".into()),
        ..rust
    };
    let args = flags.to_args();
    assert_eq!(java(&args.iter().map(String::as_str).collect::<Vec<_>>()), serde_json::to_value(&flags).unwrap());
    let _ = std::fs::remove_dir_all(classes);
}
