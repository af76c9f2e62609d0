//! What the broker allows, measured with bare librdkafka clients on the scenario's own records,
//! keyed and partitioned as the simulator sends them: the baselines a bench's figures are read
//! against. Produced to a topic of the scenario's partitions, read back, then read back again
//! while writing a result row per window.

use crate::bench::Baselines;
use crate::broker::Broker;
use crate::clock::stamp_now;
use crate::inject::key_and_partition;
use crate::kafka;
use crate::model::window_end;
use crate::scenario::Scenario;
use crate::simulate::{Plan, Record};
use anyhow::Result;
use rdkafka::producer::BaseRecord;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The plan's records as the simulator would send them: key, partition, value.
type Records<'p> = Vec<(&'p str, i32, Vec<u8>)>;

/// The baselines on the plan's records, and their mean size in bytes.
pub(super) fn measure(broker: &Broker, plan: &Plan, sc: &Scenario) -> Result<(Baselines, usize)> {
    let topic = format!("bench.baseline.{}", stamp_now());
    let mut buf = Vec::new();
    let records: Records = plan
        .records
        .iter()
        .map(|r| {
            plan.encode(r, &mut buf);
            let (key, partition) = key_and_partition(plan, r, sc.partitions);
            (key, partition, buf.clone())
        })
        .collect();
    let mean_record_bytes = records.iter().map(|r| r.2.len()).sum::<usize>() / records.len().max(1);
    let producer = kafka::producer(&broker.bootstrap)?;
    // Once untimed, so that the timed pass finds the client connected and the broker warm, as the simulator does after it.
    produce(broker, &producer, &records, &format!("{topic}.warm-up"), sc.partitions)?;
    let produce_per_s = produce(broker, &producer, &records, &topic, sc.partitions)?;
    let consume_per_s = consume(broker, &topic, sc.partitions, records.len())?;
    let windows: HashSet<(i64, u32, u32)> = plan
        .records
        .iter()
        .filter_map(|r| if let Record::Event(s) = r { Some((window_end(s.dt, sc.window_ms), s.device, s.category)) } else { None })
        .collect();
    let consume_produce_per_s = consume_produce(broker, &producer, &topic, sc.partitions, records.len(), windows.len())?;
    kafka::delete_topics_named(&broker.bootstrap, &topic)?;
    Ok((Baselines { produce_per_s, consume_per_s, consume_produce_per_s, result_rows: windows.len() }, mean_record_bytes))
}

/// Records/s of a bare producer writing `records` to a new `topic`.
fn produce(broker: &Broker, producer: &kafka::Sender, records: &Records, topic: &str, partitions: i32) -> Result<f64> {
    kafka::create_topic(&broker.bootstrap, topic, partitions, broker.replication)?;
    let started = Instant::now();
    for (key, partition, payload) in records {
        kafka::send(producer, BaseRecord::to(topic).partition(*partition).key(key.as_bytes()).payload(&payload[..]))?;
    }
    kafka::finish(producer, "the baseline producer")?;
    Ok(records.len() as f64 / started.elapsed().as_secs_f64())
}

/// Records/s of a bare consumer reading `topic`, which holds `written` records, to its end.
fn consume(broker: &Broker, topic: &str, partitions: i32, written: usize) -> Result<f64> {
    let started = Instant::now();
    let mut read = 0usize;
    kafka::read_to_end(&broker.bootstrap, topic, partitions, "the baseline's records", Duration::from_secs(30), |_| {
        read += 1;
        Ok(())
    })?;
    anyhow::ensure!(read == written, "the baseline consumer read {read} records of the {written} written to {topic}");
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

/// Records/s of a bare consumer reading `topic` to its end while writing `rows` rows of a result's
/// size, spread evenly over the stream: what a window engine has to do at least.
fn consume_produce(broker: &Broker, producer: &kafka::Sender, topic: &str, partitions: i32, written: usize, rows: usize) -> Result<f64> {
    let results = format!("{topic}.results");
    kafka::create_topic(&broker.bootstrap, &results, partitions, broker.replication)?;
    let row = [b'r'; 160];
    let (started, mut read, mut rows_written) = (Instant::now(), 0usize, 0usize);
    kafka::read_to_end(&broker.bootstrap, topic, partitions, "the baseline's records", Duration::from_secs(30), |m| {
        read += 1;
        while rows_written * written < read * rows {
            kafka::send(producer, BaseRecord::to(&results).partition(rdkafka::Message::partition(m)).key(&b"row"[..]).payload(&row[..]))?;
            rows_written += 1;
        }
        Ok(())
    })?;
    kafka::finish(producer, "the baseline producer of result rows")?;
    Ok(read as f64 / started.elapsed().as_secs_f64())
}
