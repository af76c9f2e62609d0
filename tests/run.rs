//! A run end to end, as a user runs it: what it prints, and `compare` printing it again from the store;
//! the local brokers it starts.

mod common;

use boontadata::broker::{self, Choice, Kind};
use boontadata::model::EngineStatus;
use boontadata::{kafka, process};
use common::boontadata;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::net::TcpListener;
use std::time::Duration;

#[test]
fn compare_prints_again_exactly_what_run_printed() {
    let out = common::out_dir("compare-again");
    let run = boontadata().args(["run", "--engines", "native", "--scenario", "late-beyond", "--messages", "60", "--out"]).arg(&out).output().unwrap();
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{printed}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(printed.contains("== native event-time") && printed.contains("== native processing-time") && printed.contains("late event"), "{printed}");
    let store = format!("sqlite:{}", out.join("boontadata.sqlite").display());
    let again = boontadata().args(["compare", "--store", &store]).output().unwrap();
    assert_eq!(again.status.code(), run.status.code());
    let again = String::from_utf8_lossy(&again.stdout).replace(&store, "STORE");
    assert_eq!(again, printed.replace(&store, "STORE"), "compare reads the store and prints what run printed");
}

#[test]
fn a_three_node_cluster_replicates_the_runs_topics_and_the_engines_run_unchanged() {
    let dir = common::out_dir("three-nodes");
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = broker::start(&Choice::Local { kind: Kind::Kafka, nodes: 3 }, &dir).unwrap();
    assert_eq!(cluster.bootstrap.split(',').count(), 3);
    assert!(cluster.about.contains("3 nodes"), "{}", cluster.about);
    let (summary, output) = common::run("three-nodes-run", &["--brokers", &cluster.bootstrap, "--engines", "native,timely", "--messages", "60"]);
    assert!(output.status.success(), "{:?}", summary.engines);
    assert!(summary.engines.iter().all(|e| e.status == EngineStatus::Ok && e.unexplained == 0 && e.windows_total > 0), "{:#?}", summary.engines);
    let probe: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &cluster.bootstrap).create().unwrap();
    let results = summary.engines.iter().map(|e| format!("results.{}.{}.{}", summary.run_id, e.engine, e.mode));
    for topic in std::iter::once(format!("events.{}", summary.run_id)).chain(results) {
        let metadata = probe.fetch_metadata(Some(&topic), Duration::from_secs(5)).unwrap();
        let partitions = metadata.topics()[0].partitions();
        assert!(!partitions.is_empty(), "{topic}");
        assert!(partitions.iter().all(|p| p.replicas().len() == 3 && p.isr().len() == 3), "{topic}: three replicas of each partition, in sync");
    }
}

#[test]
fn a_broker_whose_port_another_process_took_starts_on_new_ones() {
    let dir = common::out_dir("port-taken");
    std::fs::create_dir_all(&dir).unwrap();
    let tansu = broker::tansu::install().unwrap();
    let (mut tried, mut taken) = (Vec::new(), Vec::new());
    // The broker's nodes are stopped by PID when they are dropped, at the end or in a failure's unwinding.
    let (_nodes, bootstrap) = process::on_free_ports(1, "the local tansu broker", |ports| {
        tried.push(ports[0]);
        if taken.is_empty() {
            // Another process binds the port between its choice and the broker's start.
            taken.push(TcpListener::bind(("127.0.0.1", ports[0])).unwrap());
        }
        broker::tansu::start_on(&tansu, ports[0], &dir.join("broker.log"))
    })
    .unwrap();
    assert_eq!(tried.len(), 2, "tried on {tried:?}");
    assert_eq!(bootstrap, format!("127.0.0.1:{}", tried[1]));
    kafka::create_topic(&bootstrap, "port-taken", 1, 1).unwrap();
    assert_eq!(kafka::partition_count(&bootstrap, "port-taken").unwrap(), 1, "the broker of the second try serves");
}

#[test]
fn a_native_job_stopped_past_its_session_and_transaction_timeouts_wakes_up_and_keeps_exactly_once() {
    let native = boontadata::engine::folder::registry().unwrap().iter().find(|e| e.name == "native").expect("native is registered");
    common::conformance::crash(native, "engine-stall", &[]);
}

#[test]
fn kafka_streams_run_as_two_processes_shares_the_partitions_between_them_and_stays_exact() {
    let args = ["--engines", "kafka-streams:event-time", "--instances", "2", "--scenario", "disorder", "--devices", "100", "--messages", "20"];
    let (summary, output) = common::run("two-instances", &args);
    let e = &summary.engines[0];
    assert!(output.status.success(), "{:?}", summary.engines);
    assert_eq!((e.status.clone(), e.windows_exact), (EngineStatus::Ok, e.windows_total), "{e:?}");
    // Each process its own log, in which it read part of the stream.
    let first = std::path::Path::new(&e.log);
    let second = first.with_file_name(first.file_name().unwrap().to_string_lossy().replace(".log", "-2.log"));
    for log in [first, second.as_path()] {
        let text = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let consumed = text.lines().filter_map(|l| l.strip_prefix("boontadata: metric consumed ")).filter_map(|n| n.trim().parse::<f64>().ok()).next_back();
        assert!(consumed.is_some_and(|n| n > 0.0), "{} read events: {consumed:?}", log.display());
    }
}
