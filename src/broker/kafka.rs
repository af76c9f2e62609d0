//! A local Apache Kafka in KRaft mode: each node both broker and controller,
//! on 127.0.0.1 ports of its own, its data and its log in the run's folder. The jars
//! come from Maven (`brokers/kafka/pom.xml`) into the cache, once.

use super::{LocalNode, Nodes};
use crate::install;
use crate::process;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Kafka release the bench runs; `brokers/kafka/pom.xml` has it as its default.
pub const VERSION: &str = "4.1.2";

/// How long a node may take to serve: a JVM on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);

fn folder() -> PathBuf {
    install::checkout().join("brokers").join("kafka")
}

/// Fetches the broker's jars into the cache (a no-op once there); returns their folder.
pub fn install() -> Result<PathBuf> {
    let libs = install::cache_dir().join(format!("kafka-{VERSION}")).join("libs");
    install::maven_copy(&folder().join("pom.xml"), &libs, &format!("Apache Kafka {VERSION}"), &[("kafka.version", VERSION)])?;
    Ok(libs)
}

/// One node's ports: clients, and the controllers' quorum.
struct Node {
    id: usize,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
}

/// Starts a cluster of `nodes` nodes; returns them and the bootstrap servers.
pub fn start(nodes: usize, dir: &Path) -> Result<(Nodes, String)> {
    if nodes == 0 {
        bail!("--broker-nodes 0: a cluster needs one node at least");
    }
    let libs = install()?;
    let cluster_id = cluster_id()?;
    // Two ports a node, and each node names every other's controller port: a lost port starts the whole cluster again.
    process::on_free_ports(2 * nodes, "the local Kafka cluster", |ports| start_on(ports, dir, &libs, &cluster_id))
}

/// The cluster on `ports`, a client and a controller port for each node, in turn.
fn start_on(ports: &[u16], dir: &Path, libs: &Path, cluster_id: &str) -> Result<(Nodes, String)> {
    let nodes = ports.len() / 2;
    let cluster: Vec<Node> =
        ports.chunks(2).zip(1..).map(|(p, id)| Node { id, port: p[0], controller_port: p[1], dir: dir.join(format!("kafka-{id}")) }).collect();
    let voters: Vec<String> = cluster.iter().map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port)).collect();
    let classpath = format!("{}/*", libs.display());
    let mut formats = Vec::new();
    for node in &cluster {
        // A try before this one, on other ports, may have left its own storage there.
        if node.dir.exists() {
            std::fs::remove_dir_all(&node.dir).with_context(|| format!("emptying {}", node.dir.display()))?;
        }
        std::fs::create_dir_all(&node.dir).with_context(|| format!("creating {}", node.dir.display()))?;
        std::fs::write(node.dir.join("server.properties"), properties(node, nodes, &voters.join(",")))?;
        let mut format = java(&classpath, "256m", "kafka.tools.StorageTool");
        format.args(["format", "-t", cluster_id, "-c"]).arg(node.dir.join("server.properties"));
        let log = std::fs::File::create(node.dir.join("format.log"))?;
        formats.push((node, format.stdout(log.try_clone()?).stderr(log).spawn().context("running Kafka's storage tool (java)")?));
    }
    for (node, mut format) in formats {
        let status = format.wait()?;
        if !status.success() {
            bail!("formatting the storage of Kafka node {} failed ({status}); see {}", node.id, node.dir.join("format.log").display());
        }
    }
    // Held from the first launch on, so that a cluster that fails to start is stopped.
    let mut started = Nodes(Vec::new());
    let heap = if nodes == 1 { "1g" } else { "768m" };
    for node in &cluster {
        let log_path = if nodes == 1 { dir.join("broker.log") } else { dir.join(format!("broker-{}.log", node.id)) };
        std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let (classpath, properties, log) = (classpath.clone(), node.dir.join("server.properties"), log_path.clone());
        // A node started again after a crash continues its log, on its own data.
        let launch = move || -> Result<Child> {
            let file = std::fs::OpenOptions::new().append(true).open(&log).with_context(|| format!("opening {}", log.display()))?;
            let mut cmd = java(&classpath, heap, "kafka.Kafka");
            cmd.arg(&properties).stdout(file.try_clone()?).stderr(file);
            process::die_with_parent(&mut cmd).spawn().context("starting Kafka (java)")
        };
        started.0.push(LocalNode { id: node.id as i32, port: node.port, log: log_path, child: launch()?, launch: Box::new(launch) });
    }
    let deadline = Instant::now() + START_TIMEOUT;
    for node in &mut started.0 {
        let left = deadline.saturating_duration_since(Instant::now());
        process::wait_listening(&mut node.child, node.port, left, &format!("Kafka node {}", node.id), &node.log)?;
    }
    let bootstrap = cluster.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",");
    wait_registered(&bootstrap, nodes, dir)?;
    Ok((started, bootstrap))
}

/// Waits until every one of `nodes` nodes is registered with the controllers: topics can then have all their replicas.
pub fn wait_registered(bootstrap: &str, nodes: usize, dir: &Path) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while crate::kafka::broker_count(bootstrap).unwrap_or(0) < nodes {
        if Instant::now() > deadline {
            bail!("the {nodes} Kafka nodes did not all register within {} s; see {}", START_TIMEOUT.as_secs(), dir.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn java(classpath: &str, heap: &str, main: &str) -> Command {
    let mut cmd = Command::new("java");
    let log4j = folder().join("log4j2.properties");
    cmd.args(["-Xms256m", &format!("-Xmx{heap}"), "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:CICompilerCount=2", "-Djava.awt.headless=true"])
        .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
        .args(["-cp", classpath, main])
        .stdin(Stdio::null());
    cmd
}

/// A node's `server.properties`: broker and controller, on loopback only.
fn properties(node: &Node, nodes: usize, voters: &str) -> String {
    // Internal topics replicated like the run's: three copies, two in sync, on a cluster.
    let (replicas, min_isr) = if nodes >= 3 { (3, 2) } else { (nodes, 1) };
    let mut p = String::new();
    let _ = writeln!(p, "process.roles=broker,controller\nnode.id={}\ncontroller.quorum.voters={voters}", node.id);
    let _ = writeln!(p, "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}", node.port, node.controller_port);
    let _ = writeln!(p, "advertised.listeners=PLAINTEXT://127.0.0.1:{}", node.port);
    let _ = writeln!(p, "controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT");
    let _ = writeln!(p, "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    let _ = writeln!(p, "log.dirs={}", node.dir.join("data").display());
    let _ = writeln!(p, "offsets.topic.replication.factor={replicas}\ntransaction.state.log.replication.factor={replicas}");
    let _ = writeln!(p, "transaction.state.log.min.isr={min_isr}\nshare.coordinator.state.topic.replication.factor={replicas}");
    let _ = writeln!(p, "share.coordinator.state.topic.min.isr={min_isr}");
    // Topics the engines make (Kafka Streams' changelogs) are replicated like the run's own.
    let _ = writeln!(p, "default.replication.factor={replicas}\nmin.insync.replicas={min_isr}");
    // A consumer group's first member starts at once, as on a broker that already serves a group.
    let _ = writeln!(p, "group.initial.rebalance.delay.ms=0\nnum.partitions=4");
    // Sized for a 2-core machine that also runs the engines: Kafka's defaults (50 partitions for
    // each internal topic, 8 I/O threads) made three nodes take a core between them at rest.
    let _ = writeln!(p, "offsets.topic.num.partitions=4\ntransaction.state.log.num.partitions=4\nshare.coordinator.state.topic.num.partitions=1");
    let _ = writeln!(p, "num.network.threads=2\nnum.io.threads=2\nnum.replica.fetchers=1\nbackground.threads=2\nlog.cleaner.threads=1");
    p
}

/// A random cluster id as Kafka writes them: 16 bytes, URL-safe base64, no padding, not starting with '-'.
fn cluster_id() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut random = std::fs::File::open("/dev/urandom").context("reading /dev/urandom")?;
    loop {
        let mut bytes = [0u8; 16];
        random.read_exact(&mut bytes)?;
        let (mut id, mut acc, mut bits) = (String::new(), 0u32, 0);
        for b in bytes {
            (acc, bits) = (((acc << 8) | b as u32) & 0xffff, bits + 8);
            while bits >= 6 {
                bits -= 6;
                id.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
            }
        }
        id.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pom_pins_the_same_kafka() {
        let pom = std::fs::read_to_string(folder().join("pom.xml")).unwrap();
        assert!(pom.contains(&format!("<kafka.version>{VERSION}</kafka.version>")), "brokers/kafka/pom.xml pins Kafka {VERSION}");
    }

    #[test]
    fn a_cluster_id_is_22_url_safe_characters() {
        let (a, b) = (cluster_id().unwrap(), cluster_id().unwrap());
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') && !a.starts_with('-'));
        assert_ne!(a, b);
    }

    #[test]
    fn a_node_listens_on_loopback_and_replicates_like_the_cluster() {
        let node = Node { id: 2, port: 9092, controller_port: 9093, dir: "/run/kafka-2".into() };
        let p = properties(&node, 3, "1@127.0.0.1:1,2@127.0.0.1:9093,3@127.0.0.1:3");
        for line in [
            "node.id=2",
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "offsets.topic.replication.factor=3",
            "transaction.state.log.min.isr=2",
            "log.dirs=/run/kafka-2/data",
        ] {
            assert!(p.lines().any(|l| l == line), "{line} in\n{p}");
        }
        assert!(properties(&node, 1, "2@127.0.0.1:9093").contains("transaction.state.log.replication.factor=1"));
    }
}
