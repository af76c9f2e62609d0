//! How long each phase of a command took and how much memory the harness held at its end: what
//! `docs/benchmarks.md` measures the harness's own cost by. One line on stderr when the command
//! ends: `boontadata: inject phases: plan 0.2 s (59 MB), send 3.9 s (163 MB), …; peak 163 MB`.

use std::time::Instant;

pub struct Phases {
    last: Instant,
    done: Vec<(&'static str, f64, Option<u64>)>,
}

impl Default for Phases {
    fn default() -> Self {
        Phases { last: Instant::now(), done: Vec::new() }
    }
}

impl Phases {
    /// Ends the phase running since the last one ended (or since `default`).
    pub fn done(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, (now - self.last).as_secs_f64(), memory().map(|m| m.resident)));
        self.last = now;
    }

    /// The phases, and the harness's peak resident memory so far.
    pub fn line(&self) -> String {
        let mb = |b: u64| format!("{} MB", b / 1_000_000);
        let phases: Vec<String> =
            self.done.iter().map(|(name, s, rss)| format!("{name} {s:.1} s{}", rss.map_or(String::new(), |b| format!(" ({})", mb(b))))).collect();
        let peak = memory().map_or(String::new(), |m| format!("; peak {}", mb(m.peak)));
        format!("phases: {}{peak}", phases.join(", "))
    }
}

/// This process's resident memory now and at its peak, in bytes.
struct Memory {
    resident: u64,
    peak: u64,
}

fn memory() -> Option<Memory> {
    parse_status(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// `VmRSS` and `VmHWM` of a `/proc/PID/status`, given in kB.
fn parse_status(status: &str) -> Option<Memory> {
    let kb = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        Some(line[key.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok()? * 1024)
    };
    Some(Memory { resident: kb("VmRSS:")?, peak: kb("VmHWM:")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_file_gives_resident_and_peak_memory() {
        let m = parse_status("Name:\tboontadata\nVmPeak:\t  900000 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\n").unwrap();
        assert_eq!((m.resident, m.peak), (40 << 20, 80 << 20));
        assert!(parse_status("Name:\tx\n").is_none());
    }

    #[test]
    fn each_phase_is_timed_from_the_end_of_the_last() {
        let mut p = Phases::default();
        p.done("plan");
        std::thread::sleep(std::time::Duration::from_millis(30));
        p.done("send");
        let (plan, send) = (p.done[0].1, p.done[1].1);
        assert!(plan < 0.03 && send >= 0.03, "{plan} {send}");
        let line = p.line();
        let (phases, peak) = line.split_once("; peak ").unwrap();
        let names: Vec<&str> = phases.trim_start_matches("phases: ").split(", ").map(|p| p.split(' ').next().unwrap()).collect();
        assert_eq!(names, ["plan", "send"], "{line}");
        assert!(phases.ends_with(" MB)") && peak.ends_with(" MB"), "{line}");
    }
}
