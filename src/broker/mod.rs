//! The broker of a run: a local Apache Kafka started for it (one node, or a
//! cluster of nodes on loopback; the default), a local tansu (seconds to
//! start, no JVM, but with faults of its own), or an existing cluster named by
//! `--brokers`. A local broker is stopped by PID when the run ends, however it ends.

pub mod kafka;
pub mod tansu;

use crate::kafka as client;
use anyhow::{bail, Context, Result};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
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
    _processes: Nodes,
}

/// The processes of a local broker, stopped by PID when dropped.
pub struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            crate::process::ask_to_stop(child.id());
        }
        for child in &mut self.0 {
            crate::process::stop(child, Duration::from_secs(15));
        }
    }
}

impl Broker {
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
            let replication = nodes.min(3) as i32;
            Ok(Broker {
                bootstrap: bootstrap.clone(),
                replication,
                about: format!("the cluster at {bootstrap} ({nodes} brokers)"),
                startup: None,
                _processes: Nodes(vec![]),
            })
        }
        Choice::Local { kind: Kind::Tansu, nodes } => {
            if *nodes != 1 {
                bail!("tansu runs as one node here; --broker-nodes {nodes} needs --broker kafka");
            }
            let (child, bootstrap) = tansu::start(&dir.join("broker.log"))?;
            let about = format!("tansu {} on {bootstrap}", tansu::VERSION);
            Ok(Broker { bootstrap, replication: 1, about, startup: Some(started.elapsed()), _processes: Nodes(vec![child]) })
        }
        Choice::Local { kind: Kind::Kafka, nodes } => {
            let (children, bootstrap) = kafka::start(*nodes, dir)?;
            let about = format!(
                "Apache Kafka {} (KRaft), {} on {bootstrap}",
                kafka::VERSION,
                if *nodes == 1 { "1 node".to_string() } else { format!("{nodes} nodes") }
            );
            Ok(Broker { bootstrap, replication: (*nodes).min(3) as i32, about, startup: Some(started.elapsed()), _processes: Nodes(children) })
        }
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?.local_addr()?.port())
}

/// Waits until something listens on `address`, failing with `log` named if `child` exits first or `within` passes.
fn wait_listening(child: &mut Child, address: &str, within: Duration, what: &str, log: &Path) -> Result<()> {
    let deadline = Instant::now() + within;
    while TcpStream::connect(address).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited ({status}) before serving on {address}; see {}", log.display());
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen on {address} within {} s; see {}", within.as_secs(), log.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
