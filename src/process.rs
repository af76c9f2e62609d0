//! Child processes of a run (the broker, the engines, the store): started so
//! that they die with the harness, on 127.0.0.1 ports of their own, and
//! stopped by PID, politely first.

use anyhow::{bail, Context, Result};
use std::net::{TcpListener, TcpStream};
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Makes `cmd`'s process receive SIGTERM when the harness dies, however it dies.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        })
    }
}

/// How much lower than the harness's an engine's scheduling priority is (see `yield_to_the_stream`).
pub const ENGINE_NICENESS: i32 = 10;

/// Makes `cmd`'s process (and what it starts) yield the CPU to the simulator and the broker: on a
/// machine the engines overload, the stream still follows its schedule and the broker serves it,
/// and what lags is the engines, whose lag is what is measured.
pub fn yield_to_the_stream(cmd: &mut Command) -> &mut Command {
    // SAFETY: nice is async-signal-safe and changes only the child's own priority.
    unsafe {
        cmd.pre_exec(|| {
            libc::nice(ENGINE_NICENESS);
            Ok(())
        })
    }
}

/// Sends SIGTERM to a child process.
pub fn ask_to_stop(pid: u32) {
    // SAFETY: sending a signal to a PID; callers pass their own children's.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
}

/// SIGTERM, then SIGKILL after `grace`. Returns whether the process had to be killed.
pub fn stop(child: &mut Child, grace: Duration) -> bool {
    if child.try_wait().ok().flatten().is_some() {
        return false;
    }
    ask_to_stop(child.id());
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

/// How many times `on_free_ports` starts what lost a port to another process: a port is lost only
/// in the moment between its choice and its bind, so a second try nearly always binds.
const PORT_TRIES: usize = 4;

/// `n` listeners on 127.0.0.1, on distinct ports the kernel chose: bound together, none released.
pub fn listeners(n: usize) -> Result<Vec<TcpListener>> {
    (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<_>>().context("binding free ports on 127.0.0.1")
}

/// `n` distinct ports free on 127.0.0.1 now. They are held bound together before any is released:
/// a port found by binding to 0 and closing can be handed out again by the next such call.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    listeners(n)?.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// Makes `cmd`'s process inherit `fd` (a listener bound here, whose port no other process can then
/// take), which every other child of this process is spared.
pub fn hand_down(cmd: &mut Command, fd: RawFd) -> &mut Command {
    // SAFETY: fcntl is async-signal-safe; it clears close-on-exec on a descriptor the child has from the fork.
    unsafe {
        cmd.pre_exec(move || match libc::fcntl(fd, libc::F_SETFD, 0) {
            -1 => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        })
    }
}

/// Starts what needs `n` ports of its own on 127.0.0.1 (a server, a cluster), on ports free when
/// chosen. Another process can still bind one before `start` does: a start that failed so (with
/// `PortTaken`, or an error that says its address was in use) is tried again on new ports, up to
/// `PORT_TRIES` times. A failed `start` must leave nothing of its own running.
pub fn on_free_ports<T>(n: usize, what: &str, mut start: impl FnMut(&[u16]) -> Result<T>) -> Result<T> {
    let mut lost = Vec::new();
    while lost.len() < PORT_TRIES {
        let ports = free_ports(n)?;
        match start(&ports) {
            Err(e) if lost_a_port(&e) => lost.push(format!("on ports {ports:?}: {e:#}")),
            done => return done,
        }
    }
    bail!("{what} lost a port to another process on each of its {PORT_TRIES} starts:\n  {}", lost.join("\n  "))
}

/// The error of a start that lost one of its ports to another process: what `on_free_ports` tries again.
#[derive(Debug)]
pub struct PortTaken(pub String);

impl std::fmt::Display for PortTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PortTaken {}

fn lost_a_port(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<PortTaken>() || says_port_taken(&cause.to_string()))
}

/// Whether `text` (an error, the end of a server's log) tells of a bind that failed because the
/// address was in use: EADDRINUSE as glibc words it (Rust, Python, PostgreSQL, Java, Kafka) and as
/// musl does (tansu, a static binary), and Cassandra's own words for its client and storage ports.
fn says_port_taken(text: &str) -> bool {
    ["Address already in use", "Address in use", "Failed to bind port", "is in use by another process"].iter().any(|m| text.contains(m))
}

/// Waits until `child` (or a process it started) listens on 127.0.0.1:`port`, failing with `log`
/// named if it exits first or `within` passes; failing with `PortTaken` when another process has
/// the port (it listens there, or `child`'s log says its bind failed), which `child` may outlive.
pub fn wait_listening(child: &mut Child, port: u16, within: Duration, what: &str, log: &Path) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        // Something answers: the child, or another process that took the port first.
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            if listens_in_tree(child.id(), port) {
                return Ok(());
            }
            return Err(PortTaken(format!("another process listens on 127.0.0.1:{port}, a port {what} was given")).into());
        }
        if let Some(status) = child.try_wait()? {
            if says_port_taken(&log_tail(log)) {
                return Err(PortTaken(format!("{what} exited ({status}): another process took a port it was given; see {}", log.display())).into());
            }
            bail!("{what} exited ({status}) before serving on 127.0.0.1:{port}; see {}", log.display());
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen on 127.0.0.1:{port} within {} s; see {}", within.as_secs(), log.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The end of a log, where a server that could not bind says so: a node started again continues a long one.
fn log_tail(log: &Path) -> String {
    let bytes = std::fs::read(log).unwrap_or_default();
    String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(64 * 1024)..]).into_owned()
}

/// Whether a process of `root`'s tree holds a socket listening on TCP `port` (IPv4, or IPv6 as a JVM binds), from /proc.
fn listens_in_tree(root: u32, port: u16) -> bool {
    let tables = ["/proc/net/tcp", "/proc/net/tcp6"].map(|t| std::fs::read_to_string(t).unwrap_or_default());
    let sockets: Vec<String> = tables.iter().flat_map(|t| listening_sockets(t, port)).map(|inode| format!("socket:[{inode}]")).collect();
    let tree = descendants(&processes(), root).unwrap_or_default();
    tree.iter()
        .flat_map(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten())
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str())))
}

/// The inodes of the sockets listening on `port` in a `/proc/net/tcp` or `tcp6` table.
fn listening_sockets(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            (local_port == port && *fields.get(3)? == LISTEN).then(|| fields.get(9)?.parse().ok())?
        })
        .collect()
}

/// What a process and all its descendants use right now, from /proc.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User + system CPU seconds, including those of descendants that have ended and were waited for.
    pub cpu_s: f64,
    /// Resident memory, summed over the tree.
    pub rss_bytes: u64,
}

/// The usage of `root` and its descendants (an engine's start script, its JVM, its workers…); `None` once `root` is gone.
pub fn tree_usage(root: u32) -> Option<Usage> {
    let stats = processes();
    let tree = descendants(&stats, root)?;
    // SAFETY: sysconf has no preconditions.
    let (hz, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK) as f64, libc::sysconf(libc::_SC_PAGESIZE) as u64) };
    let mine = stats.iter().filter(|s| tree.contains(&s.0));
    Some(mine.fold(Usage::default(), |u, s| Usage { cpu_s: u.cpu_s + s.2 / hz, rss_bytes: u.rss_bytes + s.3 * page }))
}

/// `kill -9` of `root` and every process under it, as a machine that loses power would end them:
/// no shutdown hook runs, nothing is flushed.
pub fn kill_tree(root: u32) {
    // Stopped first, so that no process of the tree starts another or reacts to the others' deaths.
    signal_tree(root, &[libc::SIGSTOP, libc::SIGKILL]);
}

/// SIGSTOP of `root` and every process under it, as a long GC pause or a frozen VM would stop
/// them: their sockets stay open, their session timeouts run out. `resume_tree` continues them.
pub fn pause_tree(root: u32) {
    signal_tree(root, &[libc::SIGSTOP]);
}

pub fn resume_tree(root: u32) {
    signal_tree(root, &[libc::SIGCONT]);
}

/// Each of `signals`, in turn, to `root` and its descendants as they are now.
fn signal_tree(root: u32, signals: &[libc::c_int]) {
    let Some(tree) = descendants(&processes(), root) else { return };
    for &signal in signals {
        for &pid in &tree {
            // SAFETY: sending a signal to a PID of the tree this harness started.
            unsafe { libc::kill(pid as i32, signal) };
        }
    }
}

/// Every process: (pid, parent pid, CPU ticks, resident pages), from /proc.
fn processes() -> Vec<(u32, u32, f64, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (ppid, ticks, rss_pages) = parse_stat(&stat)?;
            Some((pid, ppid, ticks, rss_pages))
        })
        .collect()
}

/// `root` and its descendants, root first; `None` when `root` is not among `stats`.
fn descendants(stats: &[(u32, u32, f64, u64)], root: u32) -> Option<Vec<u32>> {
    if !stats.iter().any(|s| s.0 == root) {
        return None;
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(stats.iter().filter(|s| s.1 == parent && s.0 != root).map(|s| s.0));
        i += 1;
    }
    Some(tree)
}

/// (parent pid, CPU ticks of the process and its waited-for children, resident pages) from a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(u32, f64, u64)> {
    // The command name may hold spaces and parentheses: the fields start after its last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let number = |i: usize| fields.get(i)?.parse::<f64>().ok();
    let ticks = number(11)? + number(12)? + number(13)? + number(14)?;
    Some((fields.get(1)?.parse().ok()?, ticks, fields.get(21)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn ports_taken_together_are_distinct_and_free_once_returned() {
        // Found one at a time by binding to 0 and closing, 500 ports here held some 20 twice.
        let ports = free_ports(500).unwrap();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{} ports given twice", ports.len() - distinct.len());
        let bound: Vec<TcpListener> = ports.iter().map(|p| TcpListener::bind(("127.0.0.1", *p)).unwrap()).collect();
        assert_eq!(bound.len(), 500, "none is held once returned");
    }

    #[test]
    fn a_bind_that_failed_is_read_from_the_error_or_the_log() {
        // As each server of the harness says it, read from their logs.
        for said in [
            "org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:53466: Address already in use.",
            "LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use",
            "ERROR tansu_broker::broker: 138: err=Io(Os { code: 98, kind: AddrInUse, message: \"Address in use\" })",
            "java.lang.IllegalStateException: Failed to bind port 57870 on 127.0.0.1.",
            "ConfigurationException: /127.0.0.1:35282 is in use by another process.  Change listen_address:storage_port in cassandra.yaml",
            "OSError: [Errno 98] Address already in use",
        ] {
            assert!(says_port_taken(said), "{said}");
        }
        assert!(!says_port_taken("java.net.BindException: Cannot assign requested address"), "an address, not a port, to change");
        let taken = anyhow::Error::from(PortTaken("another process listens on 127.0.0.1:1".into())).context("Kafka node 2 cannot start again");
        assert!(lost_a_port(&taken), "a PortTaken under a context");
        assert!(!lost_a_port(&anyhow::anyhow!("no such file")));
    }

    #[test]
    fn the_listening_sockets_of_a_port_are_read_from_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:87CB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:87CB 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 4444 1";
        assert_eq!(listening_sockets(table, 0x87CB), vec![4242], "the connected socket on the same port is not a listener");
        assert_eq!(listening_sockets(table, 8080), vec![4444], "an IPv6 socket, as a JVM binds 127.0.0.1");
        assert!(listening_sockets(table, 9092).is_empty());
    }

    /// A child of a test, stopped by its PID when the test ends, failed or not.
    struct Running(Child);

    impl Running {
        /// A real server of the machine's, on 127.0.0.1:`port` only, its output in `log`.
        fn server(port: u16, log: &Path) -> Running {
            let out = std::fs::File::create(log).unwrap();
            let cmd = Command::new("python3")
                .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn();
            Running(cmd.expect("python3 on the PATH"))
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            stop(&mut self.0, Duration::from_secs(5));
        }
    }

    fn log(test: &str) -> PathBuf {
        std::env::temp_dir().join(format!("boontadata-process-{test}-{}.log", std::process::id()))
    }

    #[test]
    fn a_port_another_process_listens_on_is_lost_not_served() {
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        let mut child = Running(Command::new("sleep").arg("30").spawn().unwrap());
        let started = Instant::now();
        let err = wait_listening(&mut child.0, port, Duration::from_secs(10), "sleep", &log("other")).unwrap_err();
        assert!(err.is::<PortTaken>() && err.to_string().contains(&format!("another process listens on 127.0.0.1:{port}")), "{err:#}");
        assert!(started.elapsed() < Duration::from_secs(2), "told at once, not at the deadline");
    }

    #[test]
    fn a_server_whose_bind_failed_lost_its_port() {
        // A connection's own end holds a port as much as a listener does, and is not listened on.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let connection = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let port = connection.local_addr().unwrap().port();
        let log = log("bind-failed");
        let mut server = Running::server(port, &log);
        let err = wait_listening(&mut server.0, port, Duration::from_secs(20), "the test's server", &log).unwrap_err();
        assert!(err.is::<PortTaken>() && err.to_string().contains("exited"), "{err:#}\n{}", log_tail(&log));
        let _ = std::fs::remove_file(log);
    }

    #[test]
    fn a_start_that_lost_its_port_is_tried_again_on_new_ones() {
        let log = log("retried");
        let (mut tried, mut taken) = (Vec::new(), Vec::new());
        let (server, port) = on_free_ports(1, "the test's server", |ports| {
            tried.push(ports[0]);
            if taken.is_empty() {
                // Another process binds the port between its choice and the server's start.
                taken.push(TcpListener::bind(("127.0.0.1", ports[0])).unwrap());
            }
            let mut server = Running::server(ports[0], &log);
            wait_listening(&mut server.0, ports[0], Duration::from_secs(20), "the test's server", &log)?;
            Ok((server, ports[0]))
        })
        .unwrap();
        assert_eq!(tried.len(), 2, "tried on {tried:?}");
        assert_eq!(port, tried[1]);
        assert!(listens_in_tree(server.0.id(), port), "the server of the second try serves");
        drop(server);
        let _ = std::fs::remove_file(log);
    }

    #[test]
    fn a_start_that_always_loses_its_ports_says_what_it_tried_and_other_failures_are_not_tried_again() {
        let mut starts = 0;
        let err = on_free_ports(2, "the test's cluster", |ports| -> Result<()> {
            starts += 1;
            Err(PortTaken(format!("another process listens on 127.0.0.1:{}", ports[1])).into())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(starts, PORT_TRIES);
        assert!(err.starts_with("the test's cluster lost a port to another process on each of its 4 starts"), "{err}");
        assert_eq!(err.matches("on ports [").count(), PORT_TRIES, "{err}");
        let mut starts = 0;
        let err = on_free_ports(1, "the test's server", |_| -> Result<()> {
            starts += 1;
            bail!("no such file")
        });
        assert_eq!((starts, err.unwrap_err().to_string()), (1, "no such file".to_string()));
    }

    #[test]
    fn stat_fields_are_read_after_the_last_parenthesis() {
        let stat = "4242 (a (weird) name) S 17 4242 4242 0 -1 4194560 1 0 0 0 150 50 7 3 20 0 1 0 100 1000 321 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((17, 210.0, 321)));
    }

    #[test]
    fn a_tree_counts_the_memory_of_its_descendants() {
        let mut child = Command::new("sh").args(["-c", "sleep 30 & sleep 30 & wait"]).process_group(0).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let shell_alone = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok().and_then(|s| parse_stat(&s)).unwrap().2;
        let tree = tree_usage(child.id()).unwrap();
        // SAFETY: sysconf has no preconditions; the signal goes to the process group this test made.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        assert!(tree.rss_bytes > shell_alone * page, "the two sleeps count too: {tree:?} vs {shell_alone} pages");
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
        assert_eq!(tree_usage(child.id()), None);
    }

    #[test]
    fn stop_ends_a_process_that_ignores_nothing_and_usage_reads_proc() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        // Between fork and exec the child can have no resident pages yet: read until it has.
        let deadline = Instant::now() + Duration::from_secs(5);
        let u = std::iter::repeat_with(|| tree_usage(child.id()).unwrap()).find(|u| u.rss_bytes > 0 || Instant::now() > deadline).unwrap();
        assert!(u.cpu_s >= 0.0 && u.rss_bytes > 0, "{u:?}");
        let started = Instant::now();
        assert!(!stop(&mut child, Duration::from_secs(5)), "sleep ends on SIGTERM");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn kill_tree_ends_a_process_and_its_children_at_once() {
        let mut child = Command::new("sh").args(["-c", "trap '' TERM; sleep 30 & wait"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let tree = descendants(&processes(), child.id()).unwrap();
        assert_eq!(tree.len(), 2, "the shell and its sleep: {tree:?}");
        kill_tree(child.id());
        assert!(child.wait().unwrap().code().is_none(), "killed by a signal");
        std::thread::sleep(Duration::from_millis(100));
        let left: Vec<u32> = processes()
            .iter()
            .filter(|p| tree.contains(&p.0) && std::fs::read_to_string(format!("/proc/{}/stat", p.0)).is_ok_and(|s| !s.contains(") Z ")))
            .map(|p| p.0)
            .collect();
        assert!(left.is_empty(), "nothing of the tree runs on: {left:?}");
    }

    #[test]
    fn pause_tree_stops_every_process_of_the_tree_and_resume_tree_continues_them() {
        let mut child = Command::new("sh").args(["-c", "sleep 30 & wait"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let tree = descendants(&processes(), child.id()).unwrap();
        assert_eq!(tree.len(), 2, "the shell and its sleep: {tree:?}");
        // The state letter after the command's closing parenthesis: T is stopped by a signal.
        let states = || -> Vec<String> {
            tree.iter().map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().rsplit_once(") ").unwrap().1[..1].to_string()).collect()
        };
        pause_tree(child.id());
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(states(), ["T", "T"]);
        resume_tree(child.id());
        std::thread::sleep(Duration::from_millis(100));
        assert!(states().iter().all(|s| s != "T"), "{:?}", states());
        kill_tree(child.id());
        let _ = child.wait();
    }

    #[test]
    fn stop_kills_a_process_that_ignores_sigterm() {
        let mut child =
            Command::new("sh").args(["-c", "trap '' TERM; sleep 30"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(stop(&mut child, Duration::from_millis(300)));
    }
}
