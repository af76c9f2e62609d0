//! One store interface, one suite: what is written reads back the same from every backend, on a
//! real database (SQLite's file; PostgreSQL's server and a Cassandra node, started for the test),
//! and a run stored in PostgreSQL or Cassandra is compared again from there exactly as the run
//! printed it; a store lost during a run leaves the run in a SQLite file of its folder.

mod common;

use boontadata::groups::DeviceGroups;
use boontadata::model::{Aggregate, Fault, Mode, ResultRow, RunRecord, SentEvent, TruthRow, View};
use boontadata::store;
use boontadata::store::local_cassandra;
use common::boontadata;
use common::postgres::LocalPostgres;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

const TEN: i64 = 36_000_000;

fn sent(id: &str, sent_at: i64, fault: Fault) -> SentEvent {
    SentEvent { id: id.into(), device: "d".into(), category: "cat-1".into(), dt: TEN, sent_at, m1: 3, m2: 0.25, fault }
}

fn written_reads_back(url: &str) {
    let mut store = store::open(url).unwrap();
    // Devices of different groups, interleaved: a store that spreads a run's events by device (Cassandra's) merges them back in the order sent.
    let of = |device: &str, e: SentEvent| SentEvent { id: format!("{device}-0"), device: device.into(), ..e };
    let log = vec![
        sent("d-0", TEN + 5, Fault::Late),
        of("a", sent("", TEN + 6, Fault::None)),
        of("b", sent("", TEN + 7, Fault::None)),
        sent("d-0", TEN + 9, Fault::Duplicate),
        of("c", sent("", TEN + 9, Fault::OutOfOrder)),
    ];
    let truth = vec![
        TruthRow {
            view: View::DeviceTime,
            window_end: TEN + 5000,
            device: "d".into(),
            category: "cat-1".into(),
            agg: Aggregate { count: 1, m1_sum: 3, m2_sum: 0.25 },
        },
        TruthRow {
            view: View::SendTime,
            window_end: TEN + 5000,
            device: "d".into(),
            category: "cat-1".into(),
            agg: Aggregate { count: 1, m1_sum: 3, m2_sum: 0.25 },
        },
    ];
    let result = ResultRow {
        engine: "native".into(),
        mode: Mode::EventTime,
        window_end: TEN + 5000,
        device: "d".into(),
        category: "cat-1".into(),
        agg: Aggregate { count: 1, m1_sum: 3, m2_sum: 3.0 },
        emissions: 2,
        first_emitted_at: 1,
        last_emitted_at: 2,
        // A duplicate counted twice is named twice, and read back so.
        ids: Some(vec!["d-0".into(), "d-0".into()]),
    };
    let run =
        RunRecord { id: "r1".into(), scenario: "seed".into(), seed: 34, params: "{}".into(), engine_versions: "{}".into(), started_at: 5, ended_at: None };
    store.put_run(&run).unwrap();
    // In two parts, the later one first, as two shards of a run may write them: read back in seq order.
    store.put_events("r1", 1 << 32, &log[3..]).unwrap();
    store.put_events("r1", 0, &log[..3]).unwrap();
    store.put_truth("r1", &truth).unwrap();
    store.put_results("r1", std::slice::from_ref(&result)).unwrap();
    store.put_metric("r1", "native", "malformed", 3.0).unwrap();
    // Written again, a row is replaced, not added.
    let ended = RunRecord { ended_at: Some(6), ..run };
    store.put_run(&ended).unwrap();
    let again = ResultRow { emissions: 3, last_emitted_at: 4, ..result };
    store.put_results("r1", std::slice::from_ref(&again)).unwrap();
    store.put_metric("r1", "native", "malformed", 4.0).unwrap();
    drop(store);

    let store = store::open(url).unwrap();
    assert_eq!(store.runs().unwrap(), vec![ended.clone()]);
    let (mut events, mut results) = (Vec::new(), Vec::new());
    store.events("r1", &mut |e| events.push(e)).unwrap();
    store.results("r1", &mut |r| results.push(r)).unwrap();
    assert_eq!(events, log);
    assert_eq!(store.truth("r1").unwrap(), truth);
    assert_eq!(results, vec![again.clone()]);
    assert_eq!(store.metrics("r1").unwrap(), vec![("native".into(), "malformed".into(), 4.0)]);
    let stored = store::load_run(&*store, None).unwrap();
    let group = stored.group(0);
    assert_eq!((&stored.record, &group.events[..], &group.results[..]), (&ended, &log[..], &[again][..]));
    assert!(store::load_run(&*store, Some("r2")).unwrap_err().to_string().contains("no run 'r2'"));
}

#[test]
fn sqlite_reads_back_what_it_was_given() {
    let dir = common::out_dir("store-sqlite");
    written_reads_back(&format!("sqlite:{}", dir.join("s.sqlite").display()));
}

#[test]
fn postgresql_reads_back_what_it_was_given() {
    let pg = LocalPostgres::start("store-postgresql");
    written_reads_back(&pg.url);
}

#[test]
fn shards_opening_a_new_postgresql_database_at_once_make_one_set_of_tables() {
    let pg = LocalPostgres::start("store-postgresql-at-once");
    // As the shards of one run, started together on a database nobody has used yet.
    let opened: Vec<String> = std::thread::scope(|s| {
        let shards: Vec<_> = (0..6).map(|_| s.spawn(|| store::open(&pg.url).err().map(|e| format!("{e:#}")))).collect();
        shards.into_iter().filter_map(|shard| shard.join().unwrap()).collect()
    });
    assert!(opened.is_empty(), "every shard opens the store: {opened:?}");
    let mut db = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let versions: i64 = db.query_one("SELECT count(*) FROM boontadata_schema", &[]).unwrap().get(0);
    assert_eq!(versions, 1, "one schema version, written once");
}

#[test]
fn cassandra_reads_back_what_it_was_given() {
    // Started as `--store cassandra:local` starts it; stopped when the test ends, failed or not.
    let node = local_cassandra::shared(&common::out_dir("store-cassandra")).unwrap_or_else(|e| panic!("{e:#}"));
    written_reads_back(&node.url);
}

#[test]
fn a_run_stored_in_postgresql_is_compared_again_from_there() {
    let pg = LocalPostgres::start("run-postgresql");
    let out = common::out_dir("run-postgresql");
    let run = boontadata()
        .args(["run", "--engines", "native", "--scenario", "late-beyond", "--messages", "60", "--store", &pg.url, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{printed}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(printed.contains(&format!("(store {})", pg.url)), "the run says where it is stored:\n{printed}");
    assert!(!out.join("boontadata.sqlite").exists(), "nothing went to the default SQLite file");
    let again = boontadata().args(["compare", "--store", &pg.url]).output().unwrap();
    assert_eq!(again.status.code(), run.status.code());
    assert_eq!(String::from_utf8_lossy(&again.stdout), printed, "compare reads PostgreSQL and prints what run printed");
}

/// `history` on a store of `scheme` where nothing listens: one line, exit 2, the URL without its password, and `fix`.
fn an_unreachable_store_is_one_line_without_its_password(scheme: &str, fix: &str) {
    let port = boontadata::process::free_ports(1).unwrap()[0];
    let url = format!("{scheme}://bench:secret@127.0.0.1:{port}/runs");
    let (code, stderr, _) = common::outcome(boontadata().args(["history", "--store", &url]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{scheme}://bench@127.0.0.1:{port}/runs")) && !stderr.contains("secret"), "{stderr}");
    assert!(stderr.contains(fix), "the line names the fix: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn an_unreachable_postgresql_is_one_line_without_its_password() {
    an_unreachable_store_is_one_line_without_its_password("postgres", "check that the server runs");
}

#[test]
fn a_run_stored_in_a_local_cassandra_is_compared_again_from_there() {
    let out = common::out_dir("run-cassandra");
    let run = boontadata()
        .args(["run", "--engines", "native", "--scenario", "late-beyond", "--messages", "60", "--store", "cassandra:local", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let (printed, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{printed}\n{stderr}");
    assert_eq!(stderr.matches("starting a local Apache Cassandra").count(), 1, "one node for the whole command:\n{stderr}");
    let url = format!("cassandra:local:{}", out.join("cassandra").display());
    assert!(printed.contains(&format!("(store {url})")), "the run says where it is stored:\n{printed}");
    assert!(!out.join("boontadata.sqlite").exists(), "nothing went to the default SQLite file");
    // A node of its own, started again on the run's data, and stopped once it has read it.
    let again = boontadata().args(["compare", "--store", &url]).output().unwrap();
    assert_eq!(again.status.code(), run.status.code(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(String::from_utf8_lossy(&again.stdout), printed, "compare reads Cassandra and prints what run printed");
}

#[test]
fn an_unreachable_cassandra_is_one_line_without_its_password() {
    an_unreachable_store_is_one_line_without_its_password("cassandra", "check that Cassandra runs there");
}

#[test]
fn a_store_lost_during_a_run_leaves_the_run_in_its_folder() {
    let pg = LocalPostgres::start("lost-postgresql");
    let out = common::out_dir("lost-postgresql");
    let mut run = boontadata()
        .args(["run", "--engines", "native", "--scenario", "late-beyond", "--messages", "60", "--store", &pg.url, "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The run is in the store once its engines start; the server goes away while the stream is sent.
    let mut stderr = BufReader::new(run.stderr.take().unwrap()).lines().map_while(Result::ok);
    let mut said: Vec<String> = stderr.by_ref().take_while(|l| !l.contains("waiting until they are ready")).collect();
    drop(pg);
    said.extend(stderr);
    let said = said.join("\n");
    let mut printed = String::new();
    run.stdout.take().unwrap().read_to_string(&mut printed).unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(2), "{printed}\n{said}");

    let last = said.lines().last().unwrap_or_default();
    let folder = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.path()).find(|p| p.join("summary.json").exists()).expect("the run's folder");
    let fallback = format!("sqlite:{}", folder.join("boontadata.sqlite").display());
    assert!(last.starts_with("boontadata: error: the store postgres://boontadata@127.0.0.1:"), "one line says which store failed: {said}");
    assert!(last.contains(&format!("the run is kept in {fallback} instead")), "and where the run is: {said}");
    let summary: boontadata::summary::RunSummary = serde_json::from_slice(&std::fs::read(folder.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.store_failure.as_deref(), last.strip_prefix("boontadata: error: "), "summary.json says it too");
    assert!(summary.engines.iter().all(|e| e.windows_total > 0), "the run's results are in its summary: {summary:?}");
    let again = boontadata().args(["compare", "--store", &fallback]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), printed, "compare reads the folder's file and prints what run printed");
}
