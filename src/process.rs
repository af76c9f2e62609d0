//! Child processes of a run (the broker, the engines): started so that they
//! die with the harness, and stopped by PID, politely first.

use std::os::unix::process::CommandExt;
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
    let Some(tree) = descendants(&processes(), root) else { return };
    // Stopped first, so that no process of the tree starts another or reacts to the others' deaths.
    for signal in [libc::SIGSTOP, libc::SIGKILL] {
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
    fn stop_kills_a_process_that_ignores_sigterm() {
        let mut child =
            Command::new("sh").args(["-c", "trap '' TERM; sleep 30"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(stop(&mut child, Duration::from_millis(300)));
    }
}
