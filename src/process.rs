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

/// SIGTERM, then SIGKILL after `grace`. Returns whether the process had to be killed.
pub fn stop(child: &mut Child, grace: Duration) -> bool {
    if child.try_wait().ok().flatten().is_some() {
        return false;
    }
    // SAFETY: sending a signal to our own child's PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
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

/// A process's CPU seconds (user + system) and peak resident memory in bytes, from /proc.
pub fn usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak_kb: u64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks / hz, peak_kb * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_ends_a_process_that_ignores_nothing_and_usage_reads_proc() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let (cpu, rss) = usage(child.id()).unwrap();
        assert!(cpu >= 0.0 && rss > 0);
        let started = Instant::now();
        assert!(!stop(&mut child, Duration::from_secs(5)), "sleep ends on SIGTERM");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn stop_kills_a_process_that_ignores_sigterm() {
        let mut child = Command::new("sh").args(["-c", "trap '' TERM; sleep 30"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(stop(&mut child, Duration::from_millis(300)));
    }
}
