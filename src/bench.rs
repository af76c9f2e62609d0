//! The broker's own limits, measured with a bare client in the same sitting as
//! anything compared with them: how fast one librdkafka producer writes
//! records of the events' size, keyed as the simulator keys them, and how fast
//! one consumer reads them back.

use crate::broker::Broker;
use crate::kafka;
use anyhow::{bail, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::BaseRecord;
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// What a bare client did against one broker.
#[derive(Debug, Clone, Serialize)]
pub struct Baselines {
    pub broker: String,
    pub records: usize,
    pub record_bytes: usize,
    pub produce_per_s: f64,
    pub consume_per_s: f64,
}

/// Writes `records` records of ~150 bytes to a new topic of `partitions` partitions on `broker`, then reads them all.
pub fn baselines(broker: &Broker, records: usize, partitions: i32) -> Result<Baselines> {
    let topic = format!("baseline.{}", crate::clock::stamp_now());
    kafka::create_topic(&broker.bootstrap, &topic, partitions, broker.replication)?;
    let payload = [b'x'; 150];
    let keys: Vec<String> = (0..1000).map(|d| format!("device-{d:04}")).collect();
    let producer = kafka::producer(&broker.bootstrap)?;
    let started = Instant::now();
    for i in 0..records {
        let key = &keys[i % keys.len()];
        kafka::send(&producer, BaseRecord::to(&topic).partition((i % keys.len()) as i32 % partitions).key(key.as_bytes()).payload(&payload[..]))?;
    }
    kafka::finish(&producer, "the baseline producer")?;
    let produce_per_s = records as f64 / started.elapsed().as_secs_f64();

    let consumer: BaseConsumer = kafka::assigned_consumer(&broker.bootstrap, &topic, 0..partitions, true)?;
    let started = Instant::now();
    let (mut read, mut at_end) = (0, HashSet::new());
    while at_end.len() < partitions as usize {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => read += 1,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(e.into()),
            None if started.elapsed() > Duration::from_secs(120) => bail!("reading {topic} back: no end after 120 s"),
            None => {}
        }
    }
    let consume_per_s = read as f64 / started.elapsed().as_secs_f64();
    consumer.unassign()?;
    if read != records {
        bail!("the baseline consumer read {read} records of the {records} written to {topic}");
    }
    Ok(Baselines { broker: broker.about.clone(), records, record_bytes: payload.len(), produce_per_s, consume_per_s })
}
