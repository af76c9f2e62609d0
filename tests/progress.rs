//! What a person sees while `run` runs: on a terminal (a tmux pane) a status rewritten in place,
//! gone once the run ends; in a pipe (a CI log) a line per step and state change, with no control
//! character at all.

mod common;

use common::boontadata;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A small paced run (seed's pace, about 5 s of stream), in one engine mode.
const RUN: [&str; 6] = ["run", "--engines", "native:event-time", "--messages", "100", "--out"];

#[test]
fn in_a_pipe_progress_is_a_line_per_step_without_control_characters() {
    let out = common::out_dir("progress-pipe");
    let run = boontadata().args(RUN).arg(&out).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains(|c: char| c.is_control() && c != '\n'), "no control character in a log:\n{stderr:?}");
    let progress: Vec<&str> = stderr.lines().filter(|l| l.starts_with("boontadata 0:")).collect();
    let at = |what: &str| progress.iter().position(|l| l.contains(what)).unwrap_or_else(|| panic!("no line with {what:?} in:\n{stderr}"));
    let stream: Vec<&str> = progress.iter().copied().filter(|l| l.contains(": events ") && l.contains(" sent (")).collect();
    assert_eq!(stream.len(), 4, "a line at each quarter of the stream:\n{stderr}");
    assert!(stream[3].contains(" sent (100%)"), "{}", stream[3]);
    assert!(at(": run seed") < at("native event-time ready after") && at("ready after") < at(": events "), "{stderr}");
    assert!(at(" sent (100%)") < at("native event-time: end of stream, ") && at("end of stream") < at("run seed done in "), "{stderr}");
    assert!(!stdout.contains("boontadata 0:") && !stdout.lines().any(sent_of_total), "stdout is the results':\n{stdout}");
}

/// A line of the status that says the events sent of the total: `events 57/105 sent (54%)` (the
/// summary's `105 events sent (0 malformed records)` is not one).
fn sent_of_total(line: &str) -> bool {
    line.contains(" sent (") && line.contains("%)") && line.contains('/')
}

/// A tmux server of the test's own (its own socket), killed when dropped, also when the test fails.
struct Tmux(String);

impl Tmux {
    fn new(name: &str) -> Tmux {
        let found = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
        assert!(found, "tmux is missing: install Debian's `tmux` package (.ci/run does)");
        Tmux(format!("boontadata-{name}-{}", std::process::id()))
    }

    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.0]);
        cmd
    }

    /// What the pane shows; with `history`, what scrolled off it too.
    fn capture(&self, history: bool) -> String {
        let mut cmd = self.tmux();
        cmd.args(["capture-pane", "-p", "-t", "progress"]);
        if history {
            cmd.args(["-S", "-"]);
        }
        String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

#[test]
fn on_a_terminal_the_status_is_rewritten_in_place_and_cleared_at_the_end() {
    let out = common::out_dir("progress-terminal");
    let quoted = |p: &Path| format!("'{}'", p.display());
    let command = format!("{} {} {}; echo boontadata exited $?; sleep 600", quoted(Path::new(env!("CARGO_BIN_EXE_boontadata"))), RUN.join(" "), quoted(&out));
    let tmux = Tmux::new("progress");
    let started = tmux.tmux().args(["new-session", "-d", "-s", "progress", "-x", "120", "-y", "30", &command]).status().unwrap();
    assert!(started.success());
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut during = None;
    let screen = loop {
        let screen = tmux.capture(false);
        if screen.contains("boontadata exited") {
            break screen;
        }
        let engine = screen.lines().any(|l| l.trim_start().starts_with("native event-time") && ["ready", "reading", "ended"].iter().any(|s| l.contains(s)));
        if during.is_none() && engine && screen.lines().any(sent_of_total) {
            during = Some(screen.clone());
        }
        assert!(Instant::now() < deadline, "the run did not end within 180 s:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let during = during.unwrap_or_else(|| panic!("no status with events sent and an engine's state while it ran; at the end:\n{screen}"));
    let head = during.lines().find(|l| l.starts_with("run seed · ")).unwrap_or_else(|| panic!("no status line:\n{during}"));
    assert!(head.contains(" elapsed · ") && head.ends_with(" left"), "{head}");
    let stream = during.lines().find(|l| sent_of_total(l)).unwrap();
    assert!(stream.trim_start().starts_with("events "), "events sent of the total: {stream}");
    assert!(screen.contains("boontadata exited 0") && screen.contains("verdict: native event-time"), "{screen}");
    let everything = tmux.capture(true);
    assert!(!everything.contains(" elapsed · ") && !everything.lines().any(sent_of_total), "the status is gone once the run ends:\n{everything}");
    assert!(everything.contains("run seed done in "), "the steps stay, above:\n{everything}");
}
