//! The conformance suite's rules: a matrix of two scenarios (or a variant's) and a crash, each
//! engine held to what its manifest declares. `tests/conformance.rs` runs them for every
//! registered engine; `tests/engine_path.rs` for engines written with `new-engine` outside the checkout.

use super::{causes, count, engine_row, scenario_rows};
use boontadata::compare::Cause;
use boontadata::engine::{EngineSpec, Guarantee, Variant};
use boontadata::model::{EngineStatus, Mode, WatermarkScope};
use boontadata::summary::EngineSummary;

/// Malformed records mixed into every scenario: each engine must count them all.
pub const MALFORMED: usize = 7;

/// Runs two scenarios (or the variant's) as a matrix and holds every mode of the engine to what it
/// declares; `extra`: more options of `matrix` (`--engine-path DIR`).
pub fn conformance(spec: &EngineSpec, variant: Option<&Variant>, extra: &[&str]) {
    let engine = spec.name.as_str();
    let selection: Vec<String> = spec.modes.iter().map(|m| format!("{engine}:{m}")).collect();
    // `seed`: the original's faults, late events far beyond any lateness.
    // `disorder`: heavy disorder, all of it within the watermark bound and the allowed lateness.
    let scenarios: Vec<String> = match variant {
        Some(v) if !v.scenarios.is_empty() => v.scenarios.clone(),
        _ => vec!["seed".into(), "disorder".into()],
    };
    let (malformed, names, engines) = (MALFORMED.to_string(), scenarios.join(","), selection.join(","));
    let mut args = vec!["--scenarios", &names, "--engines", &engines, "--malformed", &malformed];
    args.extend(spec.conformance_options.iter().map(String::as_str));
    args.extend(variant.iter().flat_map(|v| v.options.iter().map(String::as_str)));
    args.extend(extra);
    let test = format!("{engine}-conformance{}", variant.map_or(String::new(), |v| format!("-{}", v.name)));
    let (m, output) = super::matrix(&test, &args);

    for name in &scenarios {
        let rows = scenario_rows(&m, name);
        for e in &rows {
            assert_eq!(e.status, EngineStatus::Ok, "{engine} {} on {name}: {} (log {})", e.mode, e.status, e.log);
            assert_eq!(e.unexplained, 0, "{engine} {} on {name} has unexplained exceptions: {:?}", e.mode, e.exceptions);
            assert_eq!(e.by_ids, spec.ids, "{engine} {} on {name}: compared by ids exactly where its manifest says it names them", e.mode);
            assert!(e.windows_total > 0, "{engine} {} on {name} compared nothing", e.mode);
            assert!(e.cpu_s.is_some_and(|s| s > 0.0) && e.peak_rss_bytes.is_some_and(|b| b > 0), "{engine} {} on {name}: usage measured", e.mode);
            assert_eq!(e.malformed, Some(MALFORMED as u64), "{engine} {} on {name} counts every malformed record", e.mode);
            let log = std::fs::read_to_string(&e.log).unwrap_or_default();
            for line in variant.iter().flat_map(|v| &v.log_contains) {
                assert!(log.contains(line.as_str()), "{engine} {} on {name}: its log {} says {line:?}", e.mode, e.log);
            }
        }
        let run = &m.cells.iter().find(|c| &c.scenario == name).expect("a cell").run_id;
        let store = boontadata::store::open(&format!("sqlite:{}", super::out_path(&test).join("boontadata.sqlite").display())).unwrap();
        let record = store.runs().unwrap().into_iter().find(|r| &r.id == run).expect("the run is in the store");
        assert!(record.engine_versions.contains(&format!("\"{engine}\"")), "run {run} records {engine}'s version: {}", record.engine_versions);
    }
    assert!(output.status.success(), "a matrix with every exception explained exits 0");
    if spec.serves_jobs && scenarios.len() > 1 {
        for e in &scenario_rows(&m, &scenarios[1]) {
            let log = std::fs::read_to_string(&e.log).unwrap();
            assert!(log.starts_with("$ next job in the engine process"), "{engine} {} served {} as its second job: {}", e.mode, scenarios[1], e.log);
        }
    }
    if scenarios.iter().any(|s| s == "disorder") {
        holds_its_declarations(spec, &scenario_rows(&m, "seed"), &scenario_rows(&m, "disorder"));
    }
}

/// Kills the engine part-way through a stream (`engine-crash`, or stops and continues it:
/// `engine-stall`), starts the same job again, and holds its windows to what the manifest says
/// they keep across a crash; `extra` as for `conformance`.
pub fn crash(spec: &EngineSpec, scenario: &str, extra: &[&str]) {
    let engine = spec.name.as_str();
    let mode = if spec.modes.contains(&Mode::EventTime) { Mode::EventTime } else { spec.modes[0] };
    let selection = format!("{engine}:{mode}");
    let mut args = vec!["--scenario", scenario, "--engines", &selection];
    args.extend(spec.conformance_options.iter().map(String::as_str));
    args.extend(extra);
    let (summary, output) = super::run(&format!("{engine}-{scenario}"), &args);
    let e = engine_row(&summary.engines, engine, mode);
    assert_eq!(e.status, EngineStatus::Ok, "{engine} {mode} after {scenario}: {} (log {})", e.status, e.log);
    assert_eq!(e.unexplained, 0, "{engine} {mode}: every difference after {scenario} is explained: {:?}", e.exceptions);
    let crash = e.crash.as_ref().expect("the run records the crash");
    assert_eq!(crash.stalled, scenario == "engine-stall", "the run says whether {engine} was stalled or killed");
    assert_eq!(crash.promise, Some(spec.after_crash), "the run holds {engine} to what its manifest declares");
    assert!(crash.first_row_s.is_some(), "{engine} {mode} wrote results again after {scenario} (log {})", e.log);
    let causes: Vec<Cause> = e.exceptions.iter().map(|(c, _)| *c).collect();
    let (lost, doubled) = (causes.contains(&Cause::LostInCrash), causes.contains(&Cause::CountedTwice));
    match spec.after_crash {
        Guarantee::ExactlyOnce => assert!(!lost && !doubled, "{engine} {mode} declares exactly-once across a crash: {}", crash.describe()),
        Guarantee::AtLeastOnce => assert!(!lost, "{engine} {mode} declares at-least-once across a crash: {}", crash.describe()),
        Guarantee::None => {}
    }
    assert!(output.status.success(), "a run with every difference explained exits 0");
}

/// Deduplication, allowed lateness, window ends and the clocks, as the manifest declares them.
pub fn holds_its_declarations(spec: &EngineSpec, seed: &[EngineSummary], disorder: &[EngineSummary]) {
    let engine = spec.name.as_str();
    // Where a window ends is the engine's declared choice: besides the causes each mode allows below, only that;
    // and so is what closes it: a clock per key leaves each device's last windows open at the end of the stream.
    let declared = |c: &Cause| *c == Cause::EndInclusive && spec.end_inclusive || *c == Cause::NeverClosed && spec.watermark == WatermarkScope::PerKey;
    // One watermark over all it reads goes on without a partition read behind the others, and one on the wall clock
    // without a job that reads behind (a busy machine falls behind on a live stream too): events that were not late come after it.
    let overtaken = |c: &Cause| {
        *c == Cause::Overtaken && matches!(spec.watermark, WatermarkScope::AllPartitions | WatermarkScope::PerKeyWallClock | WatermarkScope::WallClock)
    };
    if spec.modes.contains(&Mode::EventTime) {
        let late = count(seed, engine, Mode::EventTime, Cause::Late);
        assert!(late > 0, "seed's events 120+ s late are beyond the allowed lateness: they must show as dropped");
        let row = engine_row(disorder, engine, Mode::EventTime);
        if spec.lateness {
            assert!(
                row.exceptions.iter().all(|(c, _)| declared(c) || overtaken(c)),
                "event time with enough lateness gets every window of disorder right: {:?}",
                row.exceptions
            );
        } else {
            assert!(
                row.exceptions.iter().all(|(c, _)| matches!(c, Cause::Late | Cause::OutOfOrder) || declared(c) || overtaken(c)),
                "without allowed lateness, event time only drops what comes after the watermark: {:?}",
                row.exceptions
            );
        }
        if spec.dedup {
            for rows in [seed, disorder] {
                assert_eq!(count(rows, engine, Mode::EventTime, Cause::Duplicate), 0, "a deduplicating engine counts no resend");
            }
        }
    }
    if spec.modes.contains(&Mode::ProcessingTime) {
        for rows in [seed, disorder] {
            let causes = causes(rows, engine, Mode::ProcessingTime);
            assert!(
                causes.iter().all(|(c, _)| matches!(c, Cause::Boundary | Cause::Duplicate) || declared(c)),
                "processing time differs from send time only at window boundaries: {causes:?}"
            );
        }
    }
    if spec.modes.contains(&Mode::IngestionTime) {
        let row = engine_row(disorder, engine, Mode::IngestionTime);
        assert!(
            row.exceptions.iter().all(|(c, _)| declared(c)),
            "ingestion time windows by send time: every window of disorder is exact, but for what the engine declares: {:?}",
            row.exceptions
        );
    }
}
