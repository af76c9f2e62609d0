//! The simulator alone (`boontadata inject`) against a real Kafka broker: the shards of a run,
//! sent by separate processes as separate machines would, add up to the run sent whole.

mod common;

use boontadata::broker::{self, Choice, Kind};
use boontadata::model::{SentEvent, View, FLUSH_DEVICE};
use boontadata::{kafka, store};
use common::boontadata;
use std::path::Path;
use std::time::Duration;

/// `boontadata inject` of a small seeded stream to `topic`, kept in `store` as run `run`.
fn inject(brokers: &str, topic: &str, store: &str, run: &str, shard: Option<&str>) -> String {
    let mut cmd = boontadata();
    cmd.args(["inject", "--clock", "virtual", "--pacing", "none", "--devices", "7", "--messages", "40", "--malformed", "5", "--partitions", "4"]);
    cmd.args(["--brokers", brokers, "--topic", topic, "--store", store, "--run", run]);
    if let Some(shard) = shard {
        cmd.args(["--shard", shard]);
    }
    let out = cmd.output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{printed}\n{}", String::from_utf8_lossy(&out.stderr));
    printed
}

/// What was sent, without the send times (the shards and the whole run are sent at different moments).
fn sent(store: &dyn store::Store, run: &str) -> Vec<(String, String, i64, i64, String)> {
    let mut sent = Vec::new();
    store.events(run, &mut |e: SentEvent| sent.push((e.id, e.category.to_string(), e.dt, e.m1, e.fault.as_str().to_string()))).unwrap();
    sent.sort();
    sent
}

/// The devices of every record on `topic`.
fn devices_on(brokers: &str, topic: &str) -> Vec<String> {
    let mut keys = Vec::new();
    kafka::read_to_end(brokers, topic, 4, "the events", Duration::from_secs(30), |m| {
        keys.push(String::from_utf8_lossy(rdkafka::Message::key(m).unwrap_or_default()).into_owned());
        Ok(())
    })
    .unwrap();
    keys
}

#[test]
fn three_shards_give_the_truth_of_the_run_sent_whole() {
    let dir = common::out_dir("inject-shards");
    std::fs::create_dir_all(&dir).unwrap();
    let broker = broker::start(&Choice::Local { kind: Kind::Kafka, nodes: 1 }, &dir).unwrap();
    let url = |name: &str| format!("sqlite:{}", Path::new(&dir).join(name).display());
    let (shards, whole) = (url("shards.sqlite"), url("whole.sqlite"));

    for shard in ["1/3", "2/3", "3/3"] {
        let printed = inject(&broker.bootstrap, "events.shards", &shards, "sharded", Some(shard));
        assert!(printed.contains(&format!("run sharded (shard {shard}, no end-of-stream flush)")), "{printed}");
    }
    let before = boontadata::clock::now_ms();
    inject(&broker.bootstrap, "events.whole", &whole, "whole", None);
    let after = boontadata::clock::now_ms();

    let (shards, whole) = (store::open(&shards).unwrap(), store::open(&whole).unwrap());
    // Device-time windows: send-time ones depend on when each process sent.
    let truth = |s: &dyn store::Store, run| s.truth(run).unwrap().into_iter().filter(|t| t.view == View::DeviceTime).collect::<Vec<_>>();
    let (of_shards, of_whole) = (truth(&*shards, "sharded"), truth(&*whole, "whole"));
    assert!(of_whole.len() > 20, "a stream with windows to compare: {}", of_whole.len());
    assert!(of_shards == of_whole, "the shards' truths add up to the whole run's: {} rows vs {}", of_shards.len(), of_whole.len());
    assert!(sent(&*shards, "sharded") == sent(&*whole, "whole"), "and so do their events");
    assert_eq!(shards.runs().unwrap().len(), 1, "one run for the three shards");
    // Listed in `history` when it was sent, not at its virtual clock's epoch (2017).
    let started = whole.runs().unwrap()[0].started_at;
    assert!((before..=after).contains(&started), "started at {started}, sent between {before} and {after}");

    let (on_shards, on_whole) = (devices_on(&broker.bootstrap, "events.shards"), devices_on(&broker.bootstrap, "events.whole"));
    assert!(!on_shards.iter().any(|d| d == FLUSH_DEVICE), "a shard sends no end-of-stream flush");
    assert_eq!(on_whole.iter().filter(|d| *d == FLUSH_DEVICE).count(), 8, "the whole run ends with two flushes on each of 4 partitions");
    assert_eq!(on_shards.len(), on_whole.len() - 8, "every other record, malformed ones included, is sent by one of the shards");
}

#[test]
fn a_shard_without_a_run_id_is_refused_with_the_fix() {
    let (code, stderr, _) = common::outcome(boontadata().args(["inject", "--stdout", "--shard", "1/3"]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--run"), "names the missing option: {stderr}");
    let (code, stderr, _) = common::outcome(boontadata().args(["inject", "--stdout", "--shard", "4/3", "--run", "r"]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("counted from 1"), "{stderr}");
}
