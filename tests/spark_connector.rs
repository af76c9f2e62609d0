//! The Spark engine's Kafka connector (`engines/spark/connector`) against a
//! real broker, through a tiny Spark job (`tests/spark_echo.py`) that prints
//! every record it reads: each record once, in offset order; the last write
//! read without waiting for another (tansu reports end offsets one write late);
//! a restart from the checkpoint goes on where the last run stopped.

mod common;

use boontadata::broker::{cache_dir, LocalBroker};
use boontadata::kafka;
use rdkafka::producer::BaseRecord;
use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

type Record = (i32, i64, String);

struct Echo {
    child: Child,
    lines: Receiver<String>,
    checkpoint: PathBuf,
    /// The id of the last micro-batch it printed.
    last_batch: Cell<Option<String>>,
}

impl Echo {
    /// Starts the job with the environment `engines/spark/start` gives the engine's job.
    fn start(brokers: &str, topic: &str, checkpoint: &Path, log: &Path) -> Echo {
        let home = cache_dir().join("spark");
        let jars = format!("{},{}", home.join("boontadata-spark-kafka.jar").display(), home.join("kafka-clients.jar").display());
        let mut child = Command::new(home.join("venv/bin/python"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spark_echo.py"))
            .args([brokers, topic])
            .arg(checkpoint)
            .env("BOONTADATA_SPARK_JARS", jars)
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("starting tests/spark_echo.py");
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
        Echo { child, lines, checkpoint: checkpoint.to_path_buf(), last_batch: Cell::new(None) }
    }

    /// Every record printed until `n` have come and their batch has ended.
    fn read(&self, n: usize, timeout: Duration, log: &Path) -> Vec<Record> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("{} of {n} records after {timeout:?}: {got:?}; log:\n{}", got.len(), std::fs::read_to_string(log).unwrap_or_default())
            });
            match line.split_once(' ') {
                Some(("record", rest)) => {
                    let mut parts = rest.splitn(3, ' ');
                    let (p, o, v) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
                    got.push((p.parse().unwrap(), o.parse().unwrap(), v.to_string()));
                }
                Some(("batch", id)) => {
                    self.last_batch.set(Some(id.trim().to_string()));
                    if got.len() >= n {
                        return got;
                    }
                }
                _ => {}
            }
        }
    }

    /// Stops the job once the last batch it printed is in its checkpoint's commit log: Spark
    /// writes that entry after the batch's output, and replays a batch stopped before it.
    fn stop(mut self) {
        if let Some(id) = self.last_batch.take() {
            let commit = self.checkpoint.join("commits").join(&id);
            let deadline = Instant::now() + Duration::from_secs(30);
            while !commit.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(commit.exists(), "batch {id} was not committed ({} missing after 30 s)", commit.display());
        }
        boontadata::process::stop(&mut self.child, Duration::from_secs(30));
    }
}

fn write(brokers: &str, topic: &str, records: &[(i32, &str)]) {
    let producer = kafka::producer(brokers).unwrap();
    for (p, v) in records {
        kafka::send(&producer, BaseRecord::to(topic).partition(*p).payload(v.as_bytes())).unwrap();
    }
    kafka::finish(&producer, "test records").unwrap();
}

fn values(records: &[Record]) -> Vec<&str> {
    let mut v: Vec<&str> = records.iter().map(|r| r.2.as_str()).collect();
    v.sort_unstable();
    v
}

#[test]
fn spark_connector_reads_every_record_once_and_resumes_from_its_checkpoint() {
    let (code, stderr, _) = common::outcome(common::boontadata().args(["setup", "spark"]));
    assert_eq!(code, Some(0), "boontadata setup spark failed:\n{stderr}");
    let dir = common::out_dir("spark-connector");
    std::fs::create_dir_all(&dir).unwrap();
    let broker = LocalBroker::start(&dir.join("broker.log")).unwrap();
    let (brokers, topic) = (broker.brokers.as_str(), "connector-test");
    kafka::create_topic(brokers, topic, 3).unwrap();
    let checkpoint = dir.join("checkpoint");

    let first: Vec<(i32, String)> = (0..30).map(|i| (i % 3, format!("a{i:02}"))).collect();
    write(brokers, topic, &first.iter().map(|(p, v)| (*p, v.as_str())).collect::<Vec<_>>());
    let log = dir.join("echo-1.log");
    let echo = Echo::start(brokers, topic, &checkpoint, &log);
    let got = echo.read(30, Duration::from_secs(240), &log);
    assert_eq!(values(&got), values(&first.iter().map(|(p, v)| (*p, 0, v.clone())).collect::<Vec<_>>()), "the records written before the job started");
    for p in 0..3 {
        let offsets: Vec<i64> = got.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
        assert_eq!(offsets, (0..10).collect::<Vec<i64>>(), "partition {p} read in offset order, each once");
    }

    // One record alone, and nothing after it: it must come all the same.
    write(brokers, topic, &[(2, "b00")]);
    assert_eq!(echo.read(1, Duration::from_secs(60), &log), vec![(2, 10, "b00".to_string())]);
    echo.stop();

    write(brokers, topic, &[(0, "c00"), (1, "c01")]);
    let log = dir.join("echo-2.log");
    let echo = Echo::start(brokers, topic, &checkpoint, &log);
    let got = echo.read(2, Duration::from_secs(240), &log);
    assert_eq!(got, vec![(0, 10, "c00".to_string()), (1, 10, "c01".to_string())], "after a restart: only what was not read yet");
    echo.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
