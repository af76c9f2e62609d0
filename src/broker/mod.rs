//! The broker of a run: a local Apache Kafka started for it (one node, or a
//! cluster of nodes on loopback; the default), a local tansu (seconds to
//! start, no JVM, but with faults of its own), or an existing cluster named by
//! `--brokers`. A local broker is stopped by PID when the run ends, however it ends.

pub mod kafka;
pub mod tansu;

use crate::kafka as client;
use crate::process;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// The local brokers boontadata can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Apache Kafka in KRaft mode (each node broker and controller), fetched with Maven.
    Kafka,
    /// tansu, a Kafka-compatible broker in one static binary: starts in a second, but its
    /// in-memory storage can serve a caught-up reader past a batch still being stored.
    Tansu,
}

/// Where a run's broker comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Local {
        kind: Kind,
        nodes: usize,
    },
    /// An existing cluster: HOST:PORT[,…].
    Given(String),
}

/// The broker a run talks to; a local one is stopped when this is dropped.
pub struct Broker {
    /// Bootstrap servers, HOST:PORT[,…].
    pub bootstrap: String,
    /// Replicas of the run's topics; with three or more, `min.insync.replicas` is 2.
    pub replication: i32,
    /// What it is, for the run's summary.
    pub about: String,
    /// How long the local broker took to serve.
    pub startup: Option<Duration>,
    nodes: Nodes,
}

/// The processes of a local broker, stopped by PID when dropped.
pub struct Nodes(Vec<LocalNode>);

/// A node of a local broker: its process, and how to start it again after a crash.
pub struct LocalNode {
    /// The node's id in its cluster.
    pub id: i32,
    /// Where it serves clients on 127.0.0.1.
    pub port: u16,
    pub log: PathBuf,
    pub child: Child,
    pub launch: Box<dyn Fn() -> Result<Child> + Send>,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for node in &mut self.0 {
            process::ask_to_stop(node.child.id());
        }
        for node in &mut self.0 {
            process::stop(&mut node.child, Duration::from_secs(15));
        }
    }
}

impl Broker {
    /// `kill -9` of the node that leads partition 0 of `topic` (a node of a local cluster of three or
    /// more, so that the others keep every partition in sync); returns its id.
    pub fn kill_leader_of(&mut self, topic: &str) -> Result<i32> {
        if self.nodes.0.len() < 3 {
            bail!("a broker crash needs a local cluster of three nodes or more (--broker-nodes 3), not {}", self.about);
        }
        let leader = client::leader_of(&self.bootstrap, topic, 0)?;
        let node = self.nodes.0.iter_mut().find(|n| n.id == leader).with_context(|| format!("no local node has id {leader}, the leader of {topic}"))?;
        process::kill_tree(node.child.id());
        node.child.wait()?;
        Ok(leader)
    }

    /// Starts the node `id` again (on its data, its log continued) and waits until every node is registered.
    pub fn restart(&mut self, id: i32, dir: &Path) -> Result<()> {
        let count = self.nodes.0.len();
        let node = self.nodes.0.iter_mut().find(|n| n.id == id).with_context(|| format!("no local node has id {id}"))?;
        node.child = (node.launch)()?;
        let serving = process::wait_listening(&mut node.child, node.port, Duration::from_secs(90), &format!("Kafka node {id}"), &node.log);
        // Not tried on new ports: the other nodes know this one by its own.
        serving.map_err(|e| {
            if e.is::<process::PortTaken>() {
                e.context(format!("Kafka node {id} cannot start again: it keeps its ports, by which the others know it"))
            } else {
                e
            }
        })?;
        kafka::wait_registered(&self.bootstrap, count, dir)
    }

    /// What the run's summary says of it.
    pub fn info(&self) -> crate::summary::BrokerInfo {
        crate::summary::BrokerInfo { about: self.about.clone(), startup_s: self.startup.map(|d| d.as_secs_f64()) }
    }
}

/// Starts the broker `choice` names (its logs and data in `dir`), or checks that the given one answers.
pub fn start(choice: &Choice, dir: &Path) -> Result<Broker> {
    let started = Instant::now();
    match choice {
        Choice::Given(bootstrap) => {
            client::check_reachable(bootstrap)?;
            let nodes = client::broker_count(bootstrap)?;
            let replication = client::replication_for(nodes);
            Ok(Broker {
                bootstrap: bootstrap.clone(),
                replication,
                about: format!("the cluster at {bootstrap} ({nodes} brokers)"),
                startup: None,
                nodes: Nodes(vec![]),
            })
        }
        Choice::Local { kind: Kind::Tansu, nodes } => {
            if *nodes != 1 {
                bail!("tansu runs as one node here; --broker-nodes {nodes} needs --broker kafka");
            }
            let (nodes, bootstrap) = tansu::start(&dir.join("broker.log"))?;
            let about = format!("tansu {} on {bootstrap}", tansu::VERSION);
            Ok(Broker { bootstrap, replication: 1, about, startup: Some(started.elapsed()), nodes })
        }
        Choice::Local { kind: Kind::Kafka, nodes } => {
            let (children, bootstrap) = kafka::start(*nodes, dir)?;
            let about = format!(
                "Apache Kafka {} (KRaft), {} on {bootstrap}",
                kafka::VERSION,
                if *nodes == 1 { "1 node".to_string() } else { format!("{nodes} nodes") }
            );
            Ok(Broker { bootstrap, replication: client::replication_for(*nodes), about, startup: Some(started.elapsed()), nodes: children })
        }
    }
}
