//! The engines written in Rust and run by this binary (`boontadata engine NAME`).
//! Engines of other ecosystems live beside these folders, each in its own idiom.

pub mod native;
pub mod timely;

use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The engine side of the harness's job lines (src/engine.rs) for an engine of
/// this binary: runs the command line's job; when stdin says `end`, sets `stop`
/// so that `run` returns, says `ended`, and runs the job of the next line.
/// Returns when `terminated` (SIGTERM) is set, or stdin closes between jobs.
pub fn serve<O: clap::Args + clap::FromArgMatches>(
    first: O,
    stop: &'static AtomicBool,
    terminated: &'static AtomicBool,
    run: impl Fn(&O, &'static AtomicBool) -> Result<()>,
) -> Result<()> {
    let (lines, next) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if line.trim() == "end" {
                stop.store(true, Ordering::Relaxed);
            } else if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut job = first;
    loop {
        run(&job, stop)?;
        stop.store(false, Ordering::Relaxed);
        // Checked after the reset: a SIGTERM that came meanwhile set both flags.
        if terminated.load(Ordering::Relaxed) {
            return Ok(());
        }
        println!("boontadata: ended");
        let line = loop {
            match next.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) if !terminated.load(Ordering::Relaxed) => {}
                Err(_) => return Ok(()),
            }
        };
        job = parse_job(&line)?;
    }
}

/// A job line: the JSON array of the flags the command line would hold.
fn parse_job<O: clap::Args + clap::FromArgMatches>(line: &str) -> Result<O> {
    let args: Vec<String> = serde_json::from_str(line).with_context(|| format!("a job line is a JSON array of flags, not {line:?}"))?;
    let matches = O::augment_args(clap::Command::new("job").no_binary_name(true)).try_get_matches_from(args)?;
    Ok(O::from_arg_matches(&matches)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_line_is_parsed_like_a_command_line() {
        let o: native::Options = parse_job(r#"["--mode", "processing-time", "--events", "e.2", "--window-ms", "1000"]"#).unwrap();
        assert_eq!((o.mode, o.events.as_str(), o.window_ms, o.results.as_str()), (native::Mode::ProcessingTime, "e.2", 1000, "results"));
        assert!(parse_job::<native::Options>("--mode event-time").unwrap_err().to_string().contains("JSON array"));
        assert!(parse_job::<native::Options>(r#"["--mode", "sometimes"]"#).is_err());
    }
}
