//! The collector against tansu, the broker whose race it was written for:
//! several engine processes write one results topic at once, as a timely
//! cluster's workers do when a window fires, and tansu can serve a caught-up
//! reader past a record batch still being stored.

mod common;

use boontadata::broker::{self, Choice, Kind};
use boontadata::model::{Mode, WindowResult};
use boontadata::{collect, kafka};
use rdkafka::producer::BaseRecord;
use std::sync::{Arc, Barrier};

#[test]
fn on_tansu_reading_after_the_writers_stop_gets_every_row_of_every_burst() {
    let dir = common::out_dir("collect");
    std::fs::create_dir_all(&dir).unwrap();
    let broker = broker::start(&Choice::Local { kind: Kind::Tansu, nodes: 1 }, &dir).unwrap();
    let (topic, partitions, writers, bursts, rows_per_burst) = ("results.collect", 4, 2, 20, 500);
    kafka::create_topic(&broker.bootstrap, topic, partitions, 1).unwrap();

    let stop_live = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (live, live_thread) = collect::spawn(&broker.bootstrap, &[topic.to_string()], partitions, stop_live.clone()).unwrap();
    let together = Arc::new(Barrier::new(writers));
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (brokers, together) = (broker.bootstrap.clone(), together.clone());
            std::thread::spawn(move || {
                let producer = kafka::producer(&brokers).unwrap();
                let mut buf = Vec::new();
                for burst in 0..bursts {
                    kafka::finish(&producer, "a burst").unwrap();
                    together.wait();
                    for i in 0..rows_per_burst {
                        let device = format!("device-{w}-{i}");
                        let row = WindowResult {
                            engine: "timely".into(),
                            mode: Mode::EventTime,
                            window_end: burst * 5000,
                            di: device.as_str().into(),
                            c: "cat-1".into(),
                            count: 1,
                            m1_sum: i,
                            m2_sum: 0.0,
                            emitted_at: burst,
                            ids: None,
                        };
                        row.encode_into(&mut buf);
                        kafka::send(&producer, BaseRecord::to(topic).key(device.as_bytes()).payload(&buf[..])).unwrap();
                    }
                }
                kafka::finish(&producer, "the last burst").unwrap();
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    stop_live.store(true, std::sync::atomic::Ordering::Relaxed);
    live_thread.join().unwrap().unwrap();

    let mut collected = live.lock().unwrap();
    let live_rows: u64 = collected.progress.values().map(|p| p.rows_received).sum();
    collected.complete_with(collect::read_all(&broker.bootstrap, &[topic.to_string()], partitions).unwrap());
    let expected = writers * bursts as usize * rows_per_burst as usize;
    let rows = collected.take_rows().group(0);
    assert_eq!(rows.len(), expected, "every row once (the live read noted {live_rows})");
    assert!(rows.iter().all(|r| r.emissions == 1), "no row read twice");
}
