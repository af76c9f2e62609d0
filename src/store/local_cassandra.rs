//! A local Apache Cassandra node for the store (`--store cassandra:local[:DIR]`): one node on
//! 127.0.0.1 ports of its own (CQL and storage; JMX off), its `cassandra.yaml` written here, its data and its
//! log in DIR, so that a later command finds the runs there again. The jars come from Maven
//! (`stores/cassandra/pom.xml`) into the cache, once.

use crate::{install, process, say};
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The Cassandra release of `cassandra:local`; `stores/cassandra/pom.xml` has it as its default.
pub const VERSION: &str = "5.0.6";

/// The keyspace the local node keeps the store's tables in.
const KEYSPACE: &str = "boontadata";

/// How long the node may take to serve CQL: a JVM on a busy 2-core machine, replaying its commit log.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// How long the node may take to stop: on SIGTERM it flushes its memtables, so that the next start replays nothing.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// What Cassandra's `conf/jvm17-server.options` gives it on Java 17: the JDK internals it reaches into.
const JAVA17_ACCESS: &[&str] = &[
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-Djdk.attach.allowAttachSelf=true",
    "-Dio.netty.tryReflectionSetAccessible=true",
];

fn folder() -> PathBuf {
    install::checkout().join("stores").join("cassandra")
}

/// Fetches Cassandra's jars into the cache (a no-op once there); returns their folder.
pub fn install() -> Result<PathBuf> {
    let libs = install::cache_dir().join(format!("cassandra-{VERSION}")).join("libs");
    install::maven_copy(&folder().join("pom.xml"), &libs, &format!("Apache Cassandra {VERSION}"), &[("cassandra.version", VERSION)])?;
    Ok(libs)
}

/// A running local node; stopped by PID when dropped.
pub struct LocalCassandra {
    dir: PathBuf,
    /// Where it serves the store: `cassandra://127.0.0.1:PORT/boontadata`.
    pub url: String,
    child: Child,
    /// Held while the node runs: a second node on the same data would corrupt it.
    _lock: File,
}

/// The local nodes of this process. A command opens its store more than once (`run` checks the
/// URL before it starts the broker, then opens the store for each run): every open of one folder
/// shares one node, which stops when the last store handle on it is dropped.
static RUNNING: Mutex<Vec<Weak<LocalCassandra>>> = Mutex::new(Vec::new());

/// The node keeping its data in `dir`: the one this process runs already, else one started now.
pub fn shared(dir: &Path) -> Result<Arc<LocalCassandra>> {
    let dir = std::path::absolute(dir).with_context(|| format!("store: the folder {}", dir.display()))?;
    let mut running = RUNNING.lock().expect("the local Cassandra nodes' lock");
    running.retain(|node| node.strong_count() > 0);
    if let Some(node) = running.iter().filter_map(Weak::upgrade).find(|node| node.dir == dir) {
        return Ok(node);
    }
    let node = Arc::new(start(&dir)?);
    running.push(Arc::downgrade(&node));
    Ok(node)
}

fn start(dir: &Path) -> Result<LocalCassandra> {
    let libs = install()?;
    std::fs::create_dir_all(dir).with_context(|| format!("store: cannot create folder {}", dir.display()))?;
    let lock = lock(dir)?;
    say!("boontadata: starting a local Apache Cassandra {VERSION} node (data in {}) …", dir.display());
    let started = Instant::now();
    let node = process::on_free_ports(2, "store: the local Cassandra node", |ports| start_on(ports[0], ports[1], &libs, dir, &lock))?;
    say!("boontadata: Cassandra serves {}, started in {:.1} s", node.url, started.elapsed().as_secs_f64());
    Ok(node)
}

/// The node of `dir` serving CQL on `port`, talking to itself on `storage_port`.
fn start_on(port: u16, storage_port: u16, libs: &Path, dir: &Path, lock: &File) -> Result<LocalCassandra> {
    let url = format!("cassandra://127.0.0.1:{port}/{KEYSPACE}");
    // What another command that finds the folder locked can read the node at meanwhile.
    lock.set_len(0)?;
    lock.write_all_at(url.as_bytes(), 0)?;
    let config = dir.join("cassandra.yaml");
    std::fs::write(&config, yaml(port, storage_port)).with_context(|| format!("store: writing {}", config.display()))?;
    let log = dir.join("node.log");
    let out = File::create(&log).with_context(|| format!("store: creating {}", log.display()))?;
    let mut java = java(libs, dir, &config);
    java.stdout(out.try_clone()?).stderr(out);
    let child = process::die_with_parent(&mut java).spawn().context("store: starting Cassandra (java)")?;
    // Made first, so that a node that fails to serve is stopped when this returns the error.
    let mut node = LocalCassandra { dir: dir.to_path_buf(), url, child, _lock: lock.try_clone()? };
    if let Err(e) = process::wait_listening(&mut node.child, port, START_TIMEOUT, &format!("the local Cassandra node of {}", dir.display()), &log) {
        if e.is::<process::PortTaken>() {
            return Err(e); // tried again on new ports
        }
        bail!("store: {e}; its last lines:\n{}", last_lines(&log, 20));
    }
    Ok(node)
}

impl Drop for LocalCassandra {
    fn drop(&mut self) {
        process::stop(&mut self.child, STOP_GRACE);
    }
}

/// Locks `dir` for this process's node, or says which command has it.
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join("node.lock");
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
    // SAFETY: flock on a descriptor this function owns; the lock goes with it.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let url = std::fs::read_to_string(&path).unwrap_or_default();
        bail!(
            "store: another boontadata command runs the local Cassandra node of {}; wait until it ends, or read that node meanwhile with --store {url}",
            dir.display()
        );
    }
    Ok(file)
}

fn java(libs: &Path, dir: &Path, config: &Path) -> Command {
    let mut cmd = Command::new("java");
    cmd.args(["-Xms512m", "-Xmx512m", "-Xss256k", "-XX:+UseG1GC", "-XX:CICompilerCount=2", "-Djava.net.preferIPv4Stack=true"])
        // Cassandra's advice: a node out of memory may write corrupt data, better it stops.
        .arg("-XX:+ExitOnOutOfMemoryError")
        .args(JAVA17_ACCESS)
        .arg(format!("-Dcassandra.config=file://{}", config.display()))
        // Its data, commit log, hints and caches, each in a folder of DIR.
        .arg(format!("-Dcassandra.storagedir={}", dir.display()))
        .arg(format!("-Dlogback.configurationFile={}", folder().join("logback.xml").display()))
        // It logs to its stdout, which it closes unless it runs in the foreground.
        .arg("-Dcassandra-foreground=yes")
        // One node: there is no gossip from peers to wait for.
        .arg("-Dcassandra.skip_wait_for_gossip_to_settle=0")
        .args(["-cp", &format!("{}/*", libs.display()), "org.apache.cassandra.service.CassandraDaemon"])
        .stdin(Stdio::null());
    cmd
}

/// The node's `cassandra.yaml`: one node on loopback, serving CQL on `port`; every other setting is Cassandra's default.
fn yaml(port: u16, storage_port: u16) -> String {
    format!(
        "cluster_name: boontadata
# One node owns the whole ring: one token, no vnodes to allocate.
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: \"127.0.0.1:{storage_port}\"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: {storage_port}
native_transport_port: {port}
# The node shares a machine the bench keeps busy: a request may wait for a core far longer than
# Cassandra's defaults allow (2 s a write). Slow is fine here, failing is not; the driver waits 30 s.
write_request_timeout: 20000ms
read_request_timeout: 20000ms
range_request_timeout: 20000ms
request_timeout: 20000ms
native_transport_timeout: 20000ms
"
    )
}

/// The last `n` lines of `log`, for an error that says why the node did not start.
fn last_lines(log: &Path, n: usize) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_pom_pins_the_same_cassandra() {
        let pom = std::fs::read_to_string(folder().join("pom.xml")).unwrap();
        assert!(pom.contains(&format!("<cassandra.version>{VERSION}</cassandra.version>")), "stores/cassandra/pom.xml pins Cassandra {VERSION}");
    }

    #[test]
    fn a_node_serves_on_loopback_its_own_ports() {
        let y = yaml(9142, 7100);
        for line in
            ["native_transport_port: 9142", "storage_port: 7100", "listen_address: 127.0.0.1", "rpc_address: 127.0.0.1", "      - seeds: \"127.0.0.1:7100\""]
        {
            assert!(y.lines().any(|l| l == line), "{line} in\n{y}");
        }
    }

    #[test]
    fn a_folder_in_use_names_the_url_of_its_node() {
        let dir = std::env::temp_dir().join(format!("boontadata-cassandra-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut held = lock(&dir).unwrap();
        held.write_all(b"cassandra://127.0.0.1:4242/boontadata").unwrap();
        let err = lock(&dir).unwrap_err().to_string();
        assert!(err.contains("another boontadata command") && err.contains("--store cassandra://127.0.0.1:4242/boontadata"), "{err}");
        drop(held);
        lock(&dir).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
