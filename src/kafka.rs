//! The one Kafka layer every Rust part uses (simulator, collector, native and
//! timely engines): client settings, topics, and a producer that reports
//! delivery failures instead of losing them.

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, DefaultConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How long to wait for a broker before saying it cannot be reached.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers).set("socket.connection.setup.timeout.ms", "4000").set("log_level", "3");
    // librdkafka's own debug contexts (cgrp, fetch, eos, …), to see what a client does.
    if let Ok(contexts) = std::env::var("BOONTADATA_KAFKA_DEBUG") {
        c.set("debug", contexts).set("log_level", "7");
    }
    c
}

/// Fails with one clear line when no broker answers at `brokers`.
pub fn check_reachable(brokers: &str) -> Result<()> {
    let probe: BaseConsumer = config(brokers).create().context("creating a Kafka client")?;
    probe.fetch_metadata(None, CONNECT_TIMEOUT).map(|_| ()).map_err(|e| {
        anyhow!(
            "cannot reach a Kafka broker at {brokers} within {} s ({e}); check --brokers, or leave it out to start a local broker",
            CONNECT_TIMEOUT.as_secs()
        )
    })
}

/// How many brokers the cluster at `brokers` has.
pub fn broker_count(brokers: &str) -> Result<usize> {
    let probe: BaseConsumer = config(brokers).create().context("creating a Kafka client")?;
    Ok(probe.fetch_metadata(None, CONNECT_TIMEOUT).with_context(|| format!("reading the metadata of {brokers}"))?.brokers().len())
}

/// The id of the broker that leads `partition` of `topic`.
pub fn leader_of(brokers: &str, topic: &str, partition: i32) -> Result<i32> {
    let probe: BaseConsumer = config(brokers).create().context("creating a Kafka client")?;
    let md = probe.fetch_metadata(Some(topic), CONNECT_TIMEOUT).with_context(|| format!("reading the metadata of {topic} from {brokers}"))?;
    let leader = md.topics().iter().find(|t| t.name() == topic).and_then(|t| t.partitions().iter().find(|p| p.id() == partition)).map(|p| p.leader());
    leader.filter(|&l| l >= 0).with_context(|| format!("partition {partition} of {topic} has no leader on {brokers}"))
}

/// The replicas of a topic on a cluster of `nodes` brokers: three, or as many as there are.
pub fn replication_for(nodes: usize) -> i32 {
    nodes.min(3) as i32
}

/// Creates `name` with explicit configs (some brokers report only configs set at creation), on
/// `replicas` brokers; with three or more, a write needs two in sync.
pub fn create_topic(brokers: &str, name: &str, partitions: i32, replicas: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = config(brokers).create()?;
    let min_isr = if replicas >= 3 { "2" } else { "1" };
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replicas))
        .set("retention.ms", "86400000")
        .set("cleanup.policy", "delete")
        .set("min.insync.replicas", min_isr);
    let results = futures_executor::block_on(admin.create_topics([&topic], &admin_options())).with_context(|| format!("creating topic {name}"))?;
    each_topic_done(results, RDKafkaErrorCode::TopicAlreadyExists, "creating", brokers)
}

/// Deletes the topics whose name contains `part` (a run's id names all of its topics, the
/// engines' own included).
pub fn delete_topics_named(brokers: &str, part: &str) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = config(brokers).create()?;
    let md = admin.inner().fetch_metadata(None, CONNECT_TIMEOUT).with_context(|| format!("reading the topics of {brokers}"))?;
    let names: Vec<&str> = md.topics().iter().map(|t| t.name()).filter(|n| n.contains(part)).collect();
    if names.is_empty() {
        return Ok(());
    }
    let results = futures_executor::block_on(admin.delete_topics(&names, &admin_options())).with_context(|| format!("deleting the topics of {part}"))?;
    each_topic_done(results, RDKafkaErrorCode::UnknownTopicOrPartition, "deleting", brokers)
}

/// Deletes the records of `topic`'s `partition` before `offset`: its log then starts there.
pub fn delete_records_before(brokers: &str, topic: &str, partition: i32, offset: i64) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = config(brokers).create()?;
    let mut before = TopicPartitionList::new();
    before.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    let done = futures_executor::block_on(admin.delete_records(&before, &admin_options()))
        .with_context(|| format!("deleting the records of {topic} before offset {offset}"))?;
    for p in done.elements() {
        p.error().with_context(|| format!("deleting the records of {topic}/{} before offset {offset}", p.partition()))?;
    }
    Ok(())
}

fn admin_options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).request_timeout(Some(Duration::from_secs(10)))
}

/// Fails on the first topic an admin request did not do, but where the topic was already as asked (`already`).
fn each_topic_done(results: Vec<rdkafka::admin::TopicResult>, already: RDKafkaErrorCode, doing: &str, brokers: &str) -> Result<()> {
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, code)) if code == already => {}
            Err((t, code)) => bail!("{doing} topic {t} on {brokers}: {code}"),
        }
    }
    Ok(())
}

/// Partition count of `topic`, waiting briefly for a just-created topic to appear.
pub fn partition_count(brokers: &str, topic: &str) -> Result<i32> {
    let probe: BaseConsumer = config(brokers).create()?;
    known_to(probe.client(), topic, brokers)
}

/// Waits until `client` knows `topic` and a leader for each of its partitions (5 s at most), and
/// gives their number. A client that asks first for a topic made a moment ago can be told it does
/// not exist and look again only later: a reader assigned to it read its first rows a second late,
/// a producer that first wrote to it seconds later still took ~0.9 s to deliver its first rows.
pub fn known_to<C: rdkafka::ClientContext>(client: &rdkafka::client::Client<C>, topic: &str, brokers: &str) -> Result<i32> {
    for _ in 0..50 {
        let md = client.fetch_metadata(Some(topic), CONNECT_TIMEOUT).with_context(|| format!("reading metadata of {topic} from {brokers}"))?;
        let led = |t: &rdkafka::metadata::MetadataTopic| !t.partitions().is_empty() && t.partitions().iter().all(|p| p.leader() >= 0);
        if let Some(t) = md.topics().iter().find(|t| t.name() == topic && t.error().is_none() && led(t)) {
            return Ok(t.partitions().len() as i32);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("topic {topic} does not exist on {brokers}")
}

/// The next message or error, except the errors a client recovers from by itself (a broker node
/// gone, a partition's leader being elected), which are said on stderr and read as "nothing yet".
pub fn poll<C: ConsumerContext>(consumer: &BaseConsumer<C>, timeout: Duration) -> Option<KafkaResult<BorrowedMessage<'_>>> {
    match consumer.poll(timeout) {
        Some(Err(KafkaError::MessageConsumption(code))) if recovers(code) => {
            crate::say!("kafka: {code} (the client reconnects)");
            None
        }
        other => other,
    }
}

fn recovers(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        BrokerTransportFailure | AllBrokersDown | NotLeaderForPartition | LeaderNotAvailable | NetworkException | RequestTimedOut | OperationTimedOut
    )
}

/// What every consumer here is: in `group`, from the earliest offset where the group has none.
fn consumer_config(brokers: &str, group: &str) -> ClientConfig {
    let mut c = config(brokers);
    c.set("group.id", group).set("auto.offset.reset", "earliest").set("fetch.wait.max.ms", "200");
    // A reader that stops polling for a moment (an engine committing a transaction) overfills
    // its fetch queue; librdkafka then holds the next fetch back for this long, 1 s by default,
    // though the queue drains in a fraction of that: the native engine read a backlog at 117k
    // events/s with the default, at 245k with 0, and at 290–385k with 10 ms (docs/benchmarks.md).
    c.set("fetch.queue.backoff.ms", "10");
    c
}

/// A consumer in group `group` subscribed to `topic`: from the group's
/// committed offsets, else the earliest (the offsets rule every engine keeps).
/// Its offsets are committed by the transactions of the engine's output, not by the consumer.
pub fn group_consumer(brokers: &str, group: &str, topic: &str) -> Result<BaseConsumer<GroupMember>> {
    let c: BaseConsumer<GroupMember> = consumer_config(brokers, group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        // Group joins wait for about half the session timeout on some brokers: keep it short.
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create_with_context(GroupMember::default())?;
    c.subscribe(&[topic]).with_context(|| format!("subscribing to {topic}"))?;
    Ok(c)
}

/// A consumer in group `group` of the given partitions of `topic`, assigned
/// rather than subscribed: from the group's committed offsets, else the
/// earliest (the offsets rule every engine keeps), committing as it reads.
pub fn partition_consumer(brokers: &str, group: &str, topic: &str, partitions: impl IntoIterator<Item = i32>) -> Result<BaseConsumer> {
    let c: BaseConsumer = consumer_config(brokers, group).set("enable.auto.commit", "true").create()?;
    let mut wanted = TopicPartitionList::new();
    for p in partitions {
        wanted.add_partition(topic, p);
    }
    // Asked of the group's coordinator, which a cluster may still be electing: a few tries.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let committed = loop {
        match c.committed_offsets(wanted.clone(), CONNECT_TIMEOUT) {
            Ok(committed) => break committed,
            Err(e) if std::time::Instant::now() > deadline => return Err(e).with_context(|| format!("reading the offsets group {group} committed on {topic}")),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    let mut from = TopicPartitionList::new();
    for p in committed.elements() {
        let offset = if let Offset::Offset(n) = p.offset() { Offset::Offset(n) } else { Offset::Beginning };
        from.add_partition_offset(topic, p.partition(), offset)?;
    }
    c.assign(&from).with_context(|| format!("assigning partitions of {topic}"))?;
    Ok(c)
}

/// A reader of the first `partitions` partitions of each of `topics` from the
/// beginning, without joining a group. With `report_end`, polling yields
/// `KafkaError::PartitionEOF` each time it reaches the end of a partition.
pub fn assigned_consumer(brokers: &str, topics: &[&str], partitions: i32, report_end: bool) -> Result<BaseConsumer> {
    // librdkafka wants a group even for a manual assignment; nothing is committed to it.
    let c: BaseConsumer<DefaultConsumerContext> = consumer_config(brokers, "boontadata-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", report_end.to_string())
        // Rows of a transaction an engine aborted (or has not committed yet) are not results.
        .set("isolation.level", "read_committed")
        .create()?;
    for topic in topics {
        known_to(c.client(), topic, brokers)?;
    }
    let mut tpl = TopicPartitionList::new();
    for (topic, p) in topics.iter().flat_map(|t| (0..partitions).map(move |p| (t, p))) {
        // Offset 0 rather than asking the broker for the earliest: tansu can answer
        // past a partition's first batch when two producers wrote it first at once.
        // Where a topic starts later (the native engine's state topic drops what its
        // whole snapshots replace), `earliest` applies.
        tpl.add_partition_offset(topic, p, Offset::Offset(0))?;
    }
    c.assign(&tpl)?;
    Ok(c)
}

/// Reads `topic` from the beginning to the end of each of its first `partitions` partitions
/// (`read_committed`), giving every record to `each`; fails, naming `what` it reads, when the
/// partitions not yet at their end send nothing for `stall`.
pub fn read_to_end(
    brokers: &str,
    topic: &str,
    partitions: i32,
    what: &str,
    stall: Duration,
    mut each: impl FnMut(&BorrowedMessage) -> Result<()>,
) -> Result<()> {
    let consumer = assigned_consumer(brokers, &[topic], partitions, true)?;
    let mut at_end = std::collections::HashSet::new();
    let mut last_heard = std::time::Instant::now();
    while at_end.len() < partitions as usize {
        match poll(&consumer, Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                each(&msg)?;
                at_end.remove(&msg.partition());
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(e).with_context(|| format!("reading {what} from {topic}")),
            None if last_heard.elapsed() > stall => {
                bail!(
                    "reading {what} from {topic}: {} of {partitions} partitions reached their end, the others sent nothing for {} s",
                    at_end.len(),
                    stall.as_secs()
                )
            }
            None => continue,
        }
        last_heard = std::time::Instant::now();
    }
    Ok(())
}

/// Counts failed deliveries and keeps the first reason, so a producer never loses records silently.
#[derive(Default)]
pub struct DeliveryReport {
    pub failed: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryReport {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        say(level, fac, log_message);
    }
}

/// A group consumer's context: it says librdkafka's log lines on stderr (the engine's log), and
/// keeps what the group's rebalances did for the consumer's loop to take (`take_rebalance`),
/// from the callbacks librdkafka runs inside a poll, before the poll's messages.
#[derive(Default)]
pub struct GroupMember {
    /// Something in `news`: one relaxed load per look when nothing is.
    changed: AtomicBool,
    news: Mutex<Rebalanced>,
}

/// What rebalances did since the consumer's loop last looked.
#[derive(Debug, Default)]
pub struct Rebalanced {
    /// Partitions were taken from the member (a rebalance, or its session ran out while it was
    /// stopped): what it read of them since its last commit is read again from the committed offsets.
    pub revoked: bool,
    /// The partitions assigned to it now, when a rebalance assigned them.
    pub assigned: Option<Vec<i32>>,
}

impl GroupMember {
    /// What rebalances did since the last call; `None`: nothing.
    pub fn take_rebalance(&self) -> Option<Rebalanced> {
        if !self.changed.load(Ordering::Relaxed) || !self.changed.swap(false, Ordering::Acquire) {
            return None;
        }
        Some(std::mem::take(&mut *self.news.lock().expect("rebalance lock")))
    }
}

impl ClientContext for GroupMember {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        say(level, fac, log_message);
    }
}

impl ConsumerContext for GroupMember {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut news = self.news.lock().expect("rebalance lock");
        match rebalance {
            Rebalance::Revoke(partitions) if partitions.count() > 0 => news.revoked = true,
            Rebalance::Assign(partitions) => news.assigned = Some(partitions.elements().iter().map(|p| p.partition()).collect()),
            _ => return,
        }
        self.changed.store(true, Ordering::Release);
    }
}

/// librdkafka's log lines go to stderr, where an engine's log or the harness's output has them.
fn say(level: RDKafkaLogLevel, fac: &str, message: &str) {
    crate::say!("librdkafka {level:?} {fac}: {message}");
}

impl ProducerContext for DeliveryReport {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.first_error.lock().expect("delivery lock").get_or_insert_with(|| e.to_string());
        }
    }
}

pub type Sender = BaseProducer<DeliveryReport>;

pub fn producer(brokers: &str) -> Result<Sender> {
    Ok(producer_config(brokers).create_with_context(DeliveryReport::default())?)
}

fn producer_config(brokers: &str) -> ClientConfig {
    let mut c = config(brokers);
    // A queue of 100,000 records (librdkafka's default) keeps a sender that outruns the broker
    // waiting rather than holding the stream in memory (1M queued records held 350 MB more).
    c.set("linger.ms", "20").set("batch.num.messages", "10000").set("queue.buffering.max.messages", "100000").set("message.timeout.ms", "30000");
    // A retry after a broker node fails (a lost acknowledgement, a new leader) must not write a record twice.
    c.set("enable.idempotence", "true");
    c
}

/// How long a transaction's steps may take before the engine gives up.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A producer whose records are written in transactions under `transactional_id`, the first one
/// begun. Starting it fences any earlier producer of that id (a process killed mid-transaction)
/// and aborts what that one left open.
pub fn transactional_producer(brokers: &str, transactional_id: &str) -> Result<Sender> {
    let p: Sender = producer_config(brokers).set("transactional.id", transactional_id).create_with_context(DeliveryReport::default())?;
    p.init_transactions(TRANSACTION_TIMEOUT).with_context(|| format!("starting the transactions of {transactional_id} on {brokers}"))?;
    p.begin_transaction()?;
    Ok(p)
}

/// Enqueues one record, waiting while the producer's queue is full.
pub fn send(producer: &Sender, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(5));
                record = back;
            }
            Err((e, _)) => return Err(e).context("sending a record"),
        }
    }
}

/// Waits until every record `producer` holds is delivered, or fails after `timeout`, sending at
/// once what lingers. rdkafka's own `flush` waits in steps of up to 100 ms that a delivery does not
/// cut short (the last few records of a transaction took ~100 ms to flush that way); waiting for
/// the deliveries alone, they still waited out their linger (20 ms): a native commit at a low rate
/// flushed in 10–60 ms.
pub fn flush(producer: &Sender, timeout: Duration) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    while producer.in_flight_count() > 0 {
        if std::time::Instant::now() > deadline {
            bail!("{} records still undelivered after {:.0} s", producer.in_flight_count(), timeout.as_secs_f64());
        }
        // While a librdkafka flush is under way its broker threads send without lingering. Delivery
        // reports come as events this loop serves, so a flush of librdkafka's own only waits a step.
        // SAFETY: the handle is the producer's own, alive for the call.
        unsafe { rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), FLUSH_STEP_MS) };
        producer.poll(Duration::ZERO);
    }
    Ok(())
}

/// How long each of `flush`'s steps lets librdkafka send without lingering before serving deliveries.
const FLUSH_STEP_MS: i32 = 2;

/// Waits until every record is delivered; fails if any was not.
pub fn finish(producer: &Sender, what: &str) -> Result<()> {
    flush(producer, Duration::from_secs(30)).with_context(|| format!("{what}: records not delivered"))?;
    let report = producer.context();
    match report.failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => bail!("{what}: {n} records were not delivered (first error: {})", report.first_error.lock().expect("delivery lock").clone().unwrap_or_default()),
    }
}
