//! What a person sees of a command that runs a while (`run`, `matrix`, `bench`, `setup`,
//! `inject`): its status on stderr, what it says in `status`. On a terminal the status is a few
//! lines rewritten in place a few times a second, and the harness's own lines (`say!`) print above
//! it. Elsewhere (a pipe, a CI log, `TERM=dumb`) nothing is rewritten and no control character is
//! written: a line per step and per change of state (an engine ready, a quarter of the stream sent,
//! an engine's end of stream), and the whole status in one line at most every 10 s while nothing
//! else is said. stdout stays the results'.
//!
//! The status is the process's, as stderr is: whoever says something or changes a state calls in
//! here; a command that shows no status (`compare`, an engine's process) says its lines plainly.

mod status;

pub use status::{EngineState, Rows};

use status::{child_line, line_at, Status};
use std::fmt;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Says a line of the harness on stderr, as `eprintln!` does, above the status when one is shown.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::progress::say(format_args!($($arg)*)) };
}

/// The status of the command, while it is shown.
static SHOWN: Mutex<Option<Shown>> = Mutex::new(None);
/// Events of the stream sent so far: stored by the sending loop at every event (a lock there would
/// slow a stream of millions), read at the status's pace.
static SENT: AtomicUsize = AtomicUsize::new(0);

/// How often the status is brought up to date (and redrawn on a terminal, when it changed).
const TICK: Duration = Duration::from_millis(200);
/// In a log, the whole status in one line at most this often, when nothing else was said.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// A terminal's status holds no more lines than this: a small block, not a screen.
const MOST_LINES: usize = 16;

/// What the collector has read of each engine mode so far, asked at the status's pace.
type Watch = Arc<dyn Fn() -> Vec<Rows> + Send + Sync>;

struct Shown {
    status: Status,
    started: Instant,
    /// On a terminal: the lines of the status on the screen now, the cursor at the end of the last.
    drawn: Option<Vec<String>>,
    /// When a line was last written (in a log: the status's own, every `LOG_EVERY` at most).
    last_line: Duration,
    watches: Vec<(u64, Watch)>,
    next_watch: u64,
}

fn lock() -> MutexGuard<'static, Option<Shown>> {
    // A thread that panicked while saying a line leaves the status as usable as it was.
    SHOWN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` with the status shown on stderr, and clears it afterwards (also when `f` panics), so
/// that what the command prints next is not mixed with it.
pub fn shown<T>(f: impl FnOnce() -> T) -> T {
    let terminal = std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
    let status = Status::default();
    *lock() = Some(Shown { status, started: Instant::now(), drawn: terminal.then(Vec::new), last_line: Duration::ZERO, watches: Vec::new(), next_watch: 0 });
    let stop = Arc::new(AtomicBool::new(false));
    let ticking = stop.clone();
    let ticker = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            while !ticking.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                tick();
            }
        })
        .ok();
    let _shown = Showing { stop, ticker };
    f()
}

/// The status while `shown` runs; cleared when dropped.
struct Showing {
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Showing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        if let Some(Shown { drawn: Some(drawn), .. }) = lock().take() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{}", erase(drawn.len()));
            let _ = err.flush();
        }
    }
}

/// Brings the status up to date: the events sent, the rows read; said and drawn.
fn tick() {
    let Some(watches) = lock().as_ref().map(|s| s.watches.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>()) else { return };
    // Asked outside the status's lock: a watch takes the collector's, whose holder may say a line.
    let read: Vec<Rows> = watches.iter().flat_map(|w| w()).collect();
    with_shown(|s, now| {
        for r in &read {
            let line = s.status.rows(r, now);
            s.tell(line, now);
        }
    });
}

/// `change` made to the status, if one is shown, with the time since the command started; then
/// the status said or drawn as it is now.
fn with_shown(change: impl FnOnce(&mut Shown, Duration)) {
    let mut guard = lock();
    let Some(s) = guard.as_mut() else { return };
    let now = s.started.elapsed();
    let line = s.status.sent(SENT.load(Ordering::Relaxed), now);
    s.tell(line, now);
    change(s, now);
    s.refresh(now);
}

/// The next step of the command: `counted` is its index among the command's steps and their
/// number, when they take about as long as each other (what is left is estimated from those
/// done). It is said, with what is left, and that the last step is done.
pub fn step(what: impl Into<String>, counted: Option<(usize, usize)>) {
    with_shown(|s, now| {
        for line in s.status.step(what.into(), counted, now) {
            s.above(&line_at(now, &line), false, now);
        }
    });
}

/// The current step is done: said, with how long it took.
pub fn done() {
    with_shown(|s, now| {
        let line = s.status.done(now);
        if let Some(line) = line {
            s.above(&line_at(now, &line), false, now);
        }
    });
}

/// What the current step is doing now ("sending", "comparing").
pub fn doing(what: &str) {
    with_shown(|s, _| s.status.doing(what));
}

/// An engine mode is in `state` now.
pub fn engine(label: &str, state: EngineState) {
    with_shown(|s, now| {
        let line = s.status.engine(label, state, now);
        s.tell(line, now);
    });
}

/// A stream of `total` events begins to be sent; it lasts `paced_for` when it is paced.
pub fn stream(total: usize, paced_for: Option<Duration>) {
    with_shown(|s, now| {
        SENT.store(0, Ordering::Relaxed);
        s.status.stream(total, paced_for, now);
    });
}

/// `n` events of the stream are sent.
pub fn sent(n: usize) {
    SENT.store(n, Ordering::Relaxed);
}

/// What the collector has read of each engine mode, asked by the status a few times a second
/// until the `Watching` returned is dropped.
pub fn watch(rows: impl Fn() -> Vec<Rows> + Send + Sync + 'static) -> Watching {
    let mut guard = lock();
    let Some(s) = guard.as_mut() else { return Watching(None) };
    let id = s.next_watch;
    s.next_watch += 1;
    s.watches.push((id, Arc::new(rows)));
    Watching(Some(id))
}

/// A watch of the status, ended when dropped.
pub struct Watching(Option<u64>);

impl Drop for Watching {
    fn drop(&mut self) {
        if let (Some(id), Some(s)) = (self.0, lock().as_mut()) {
            s.watches.retain(|(w, _)| *w != id);
        }
    }
}

/// A line of the harness on stderr (`say!`), above the status when one is shown.
pub fn say(line: fmt::Arguments) {
    write_line(line, false);
}

/// A line of the command's results on stdout, printed while the status is shown: above it, when
/// both are the same terminal.
pub fn print(line: fmt::Arguments) {
    write_line(line, true);
}

fn write_line(line: fmt::Arguments, stdout: bool) {
    let mut guard = lock();
    match guard.as_mut() {
        Some(s) => {
            let now = s.started.elapsed();
            s.above(&line.to_string(), stdout, now);
        }
        None if stdout => println!("{line}"),
        None => eprintln!("{line}"),
    }
}

/// A child process whose output is said above the status.
pub trait PassingThrough {
    /// Runs the command (an install script, Maven) with its output, stdout and stderr, said line
    /// by line on stderr: a child writing to the terminal itself would garble the status, and
    /// stdout is the results'.
    fn passing_through(&mut self) -> std::io::Result<ExitStatus>;
}

impl PassingThrough for Command {
    fn passing_through(&mut self) -> std::io::Result<ExitStatus> {
        let mut child = self.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let out = child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>);
        let err = child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>);
        std::thread::scope(|scope| {
            for pipe in [out, err].into_iter().flatten() {
                scope.spawn(move || {
                    for line in BufReader::new(pipe).split(b'\n').map_while(Result::ok) {
                        say_child_line(&String::from_utf8_lossy(&line));
                    }
                });
            }
            child.wait()
        })
    }
}

/// A line of a child's output, as the status says it (`status::child_line`).
fn say_child_line(line: &str) {
    let mut guard = lock();
    match guard.as_mut() {
        Some(s) => {
            let now = s.started.elapsed();
            let line = child_line(line, s.drawn.is_some());
            s.above(&line, false, now);
        }
        None => eprintln!("{}", child_line(line, false)),
    }
}

impl Shown {
    /// A change worth a line in a log; on a terminal the status shows it.
    fn tell(&mut self, line: Option<String>, now: Duration) {
        let Some(line) = line else { return };
        if self.drawn.is_none() {
            eprintln!("{}", line_at(now, &line));
            self.last_line = now;
        }
    }

    /// `text` written on stderr (or on stdout), the status redrawn below it on a terminal.
    fn above(&mut self, text: &str, stdout: bool, now: Duration) {
        let mut err = std::io::stderr().lock();
        if let Some(drawn) = &mut self.drawn {
            let _ = write!(err, "{}", erase(drawn.len()));
            let _ = err.flush();
            drawn.clear();
        }
        if stdout {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        } else {
            let _ = writeln!(err, "{text}");
        }
        drop(err);
        self.last_line = now;
        self.refresh(now);
    }

    /// On a terminal, the status redrawn if it changed; in a log, the whole status in a line when
    /// nothing was said for `LOG_EVERY`.
    fn refresh(&mut self, now: Duration) {
        let live = self.status.is_live();
        match &mut self.drawn {
            Some(drawn) => {
                let (width, height) = terminal_size();
                let frame = if live { self.status.block(now, width.saturating_sub(1), height.saturating_sub(1).min(MOST_LINES)) } else { Vec::new() };
                if frame != *drawn {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "{}{}", erase(drawn.len()), frame.join("\n"));
                    let _ = err.flush();
                    *drawn = frame;
                }
            }
            None if live && now.saturating_sub(self.last_line) >= LOG_EVERY => {
                eprintln!("{}", line_at(now, &self.status.line(now)));
                self.last_line = now;
            }
            None => {}
        }
    }
}

/// What takes the cursor back to the first of `lines` lines it ends, and erases them.
fn erase(lines: usize) -> String {
    match lines {
        0 => String::new(),
        1 => "\r\x1b[J".into(),
        n => format!("\r\x1b[{}A\x1b[J", n - 1),
    }
}

/// The terminal's width and height, in characters.
fn terminal_size() -> (usize, usize) {
    // SAFETY: TIOCGWINSZ fills the winsize it is given, and nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let known = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0;
    if known {
        (size.ws_col as usize, size.ws_row.max(2) as usize)
    } else {
        (80, 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasing_goes_back_to_the_first_line_of_the_status() {
        assert_eq!([erase(0), erase(1), erase(3)], ["", "\r\x1b[J", "\r\x1b[2A\x1b[J"]);
    }

    #[test]
    fn without_a_status_shown_lines_are_said_plainly_and_changes_are_dropped() {
        step("a step", None);
        engine("native event-time", EngineState::Ready);
        sent(3);
        let _watching = watch(Vec::new);
        crate::say!("said {}", 1);
        assert!(lock().is_none());
    }
}
