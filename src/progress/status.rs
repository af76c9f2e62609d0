//! What the status says of a command under way, and how it reads (pure): its step (counted, for a
//! matrix), what the step is doing, the stream's events sent of its total, each engine mode's
//! state, the time elapsed and an estimate of what is left. Times are durations since the command
//! started, given by the caller. Each change worth a line in a log comes back as that line.

use crate::format::elapsed;
use std::time::Duration;

/// An engine mode's state, as the harness knows it.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineState {
    /// Started, not ready yet.
    Starting,
    Ready,
    /// Its rows are being read.
    Reading,
    /// Its end-of-stream row was read.
    Ended,
    /// Killed by a crash scenario.
    Killed,
    /// Started again after the crash, not ready yet.
    Restarting,
    /// Stopped (SIGSTOP) by a stall scenario, until it is continued.
    Stalled,
    /// Why it failed.
    Failed(String),
}

/// What the collector has read of an engine mode so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub label: String,
    pub rows: u64,
    pub end_of_stream: bool,
}

#[derive(Debug, Default)]
pub struct Status {
    step: Option<Step>,
    /// When the first step of a count began: the steps done so far are the basis of the estimate.
    counted_from: Duration,
    doing: Option<String>,
    stream: Option<Stream>,
    engines: Vec<Engine>,
}

#[derive(Debug)]
struct Step {
    what: String,
    since: Duration,
    /// This step's index among the steps of the command, and how many there are.
    counted: Option<(usize, usize)>,
}

#[derive(Debug)]
struct Stream {
    sent: usize,
    total: usize,
    since: Duration,
    /// How long its schedule lasts, when it is paced.
    paced_for: Option<Duration>,
    /// How many quarters of it were said in a line.
    quarters_said: usize,
}

#[derive(Debug)]
struct Engine {
    label: String,
    state: EngineState,
    since: Duration,
    rows: u64,
}

/// `boontadata 1:02: WHAT`: a line of the status in a log, with the command's time elapsed.
pub fn line_at(now: Duration, what: &str) -> String {
    format!("boontadata {}: {what}", elapsed(now))
}

/// What is left of steps that take about as long as those done: the steps after this one, and
/// what is left of this one (none, once it runs over). `None` before a step is done.
pub fn steps_left(index: usize, total: usize, counted_from: Duration, step_since: Duration, now: Duration) -> Option<Duration> {
    if index == 0 || index >= total {
        return None;
    }
    let per_step = step_since.saturating_sub(counted_from) / index as u32;
    let after_this = per_step * (total - index - 1) as u32;
    Some(after_this + per_step.saturating_sub(now.saturating_sub(step_since)))
}

/// What is left of a stream: on its schedule when paced and not behind it, else at its rate so far
/// (once it has sent for a second). `None` when there is no basis yet.
pub fn stream_left(sent: usize, total: usize, sending_for: Duration, paced_for: Option<Duration>) -> Option<Duration> {
    if sent >= total {
        return Some(Duration::ZERO);
    }
    match paced_for {
        Some(schedule) if schedule > sending_for => Some(schedule - sending_for),
        _ if sent == 0 || sending_for < Duration::from_secs(1) => None,
        _ => Some(sending_for.mul_f64((total - sent) as f64 / sent as f64)),
    }
}

/// `line` cut to `width` characters, an ellipsis marking the cut: a line longer than the terminal
/// would wrap, and the status could no longer be rewritten in place.
fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// What a terminal would show of a child's `line` whose progress bar rewrote it with `\r`; in a
/// log, without its escape sequences (a colour, Maven's reset) and control characters.
pub fn child_line(line: &str, terminal: bool) -> String {
    let shown = line.trim_end_matches('\r').rsplit('\r').next().unwrap_or_default();
    if terminal {
        return shown.to_string();
    }
    let mut plain = String::with_capacity(shown.len());
    let mut chars = shown.chars();
    while let Some(c) = chars.next() {
        match c {
            // A CSI sequence ends with a byte from @ to ~.
            '\x1b' if chars.clone().next() == Some('[') => {
                chars.by_ref().skip(1).find(|c| ('@'..='~').contains(c));
            }
            '\t' => plain.push(c),
            c if c.is_control() => {}
            c => plain.push(c),
        }
    }
    plain
}

impl Status {
    /// A new step: the last one's stream and engines are forgotten. The lines that say it, and
    /// that the last one is done.
    pub fn step(&mut self, what: String, counted: Option<(usize, usize)>, now: Duration) -> Vec<String> {
        let mut lines: Vec<String> = self.done(now).into_iter().collect();
        if counted.is_some_and(|(index, _)| index == 0) {
            self.counted_from = now;
        }
        self.step = Some(Step { what, since: now, counted });
        let left = self.counted_left(now).map_or(String::new(), |d| format!("; about {} left", elapsed(d)));
        lines.push(format!("{}{left}", self.step.as_ref().map_or("", |s| &s.what)));
        lines
    }

    /// The current step is done, what it did forgotten: the line that says so, and how long it took.
    pub fn done(&mut self, now: Duration) -> Option<String> {
        (self.doing, self.stream) = (None, None);
        self.engines.clear();
        let last = self.step.take()?;
        Some(format!("{} done in {}", last.what, elapsed(now.saturating_sub(last.since))))
    }

    pub fn doing(&mut self, what: &str) {
        self.doing = Some(what.to_string());
    }

    /// A stream of `total` events begins to be sent.
    pub fn stream(&mut self, total: usize, paced_for: Option<Duration>, now: Duration) {
        self.stream = Some(Stream { sent: 0, total, since: now, paced_for, quarters_said: 0 });
    }

    /// `sent` events of the stream are sent: a line at each quarter of it.
    pub fn sent(&mut self, sent: usize, now: Duration) -> Option<String> {
        let s = self.stream.as_mut()?;
        s.sent = sent.min(s.total);
        let quarters = (s.sent * 4).checked_div(s.total).unwrap_or(0);
        if quarters <= s.quarters_said {
            return None;
        }
        s.quarters_said = quarters;
        let left = self.left(now).map_or(String::new(), |d| format!("; about {} left", elapsed(d)));
        Some(format!("{}{left}", self.stream_text()?))
    }

    /// An engine mode is in `state` now: a line when it is ready.
    pub fn engine(&mut self, label: &str, state: EngineState, now: Duration) -> Option<String> {
        let i = match self.engines.iter().position(|e| e.label == label) {
            Some(i) => i,
            None => {
                self.engines.push(Engine { label: label.to_string(), state: state.clone(), since: now, rows: 0 });
                return None;
            }
        };
        let e = &mut self.engines[i];
        if e.state == state {
            return None;
        }
        let was = std::mem::replace(&mut e.state, state);
        let took = now.saturating_sub(std::mem::replace(&mut e.since, now));
        match (&was, &e.state) {
            (EngineState::Starting, EngineState::Ready) => Some(format!("{label} ready after {:.1} s", took.as_secs_f64())),
            (EngineState::Restarting, EngineState::Ready) => Some(format!("{label} ready again after {:.1} s", took.as_secs_f64())),
            _ => None,
        }
    }

    /// What the collector has read of an engine mode: it is reading, or has read to the end of the
    /// stream (a line then). A mode that is not running (starting, killed, failed) keeps its state.
    pub fn rows(&mut self, read: &Rows, now: Duration) -> Option<String> {
        let e = self.engines.iter_mut().find(|e| e.label == read.label)?;
        e.rows = read.rows;
        let state = match e.state {
            EngineState::Ready | EngineState::Reading if read.end_of_stream => EngineState::Ended,
            EngineState::Ready if read.rows > 0 => EngineState::Reading,
            _ => return None,
        };
        (e.state, e.since) = (state, now);
        (e.state == EngineState::Ended).then(|| format!("{}: end of stream, {} rows", e.label, e.rows))
    }

    /// What is left of the command: from the steps done when it counts them, else from the stream
    /// being sent (not while steps are to come: their time is not the stream's).
    pub fn left(&self, now: Duration) -> Option<Duration> {
        let steps_to_come = self.step.as_ref().and_then(|s| s.counted).is_some_and(|(index, total)| index + 1 < total);
        self.counted_left(now).or_else(|| {
            let s = self.stream.as_ref().filter(|s| s.sent < s.total && !steps_to_come)?;
            stream_left(s.sent, s.total, now.saturating_sub(s.since), s.paced_for)
        })
    }

    fn counted_left(&self, now: Duration) -> Option<Duration> {
        let step = self.step.as_ref()?;
        let (index, total) = step.counted?;
        steps_left(index, total, self.counted_from, step.since, now)
    }

    /// Whether there is anything to show.
    pub fn is_live(&self) -> bool {
        self.step.is_some() || self.doing.is_some()
    }

    /// The status as a few lines rewritten in place, each at most `width` characters, at most
    /// `height` lines: what it does, then the stream, then each engine mode.
    pub fn block(&self, now: Duration, width: usize, height: usize) -> Vec<String> {
        let left = self.left(now).map_or("? left".to_string(), |d| format!("about {} left", elapsed(d)));
        let head = self.doings().chain([format!("{} elapsed", elapsed(now)), left]).collect::<Vec<_>>().join(" · ");
        let mut lines = vec![head];
        lines.extend(self.stream_text().map(|s| format!("  {s}")));
        let label_width = self.engines.iter().map(|e| e.label.chars().count()).max().unwrap_or(0);
        let room = height.saturating_sub(lines.len()).max(1);
        for (i, e) in self.engines.iter().enumerate() {
            if i + 1 == room && self.engines.len() > room {
                lines.push(format!("  … and {} more engine modes", self.engines.len() - i));
                break;
            }
            lines.push(format!("  {:label_width$}  {}", e.label, self.engine_text(e, now)));
        }
        lines.iter().map(|l| fit(l, width)).collect()
    }

    /// The status as one line of a log.
    pub fn line(&self, now: Duration) -> String {
        let left = self.left(now).map_or("? left".to_string(), |d| format!("about {} left", elapsed(d)));
        let engines = self.engines.iter().map(|e| format!("{} {}", e.label, self.engine_text(e, now)));
        self.doings().chain(self.stream_text()).chain(engines).chain([left]).collect::<Vec<_>>().join("; ")
    }

    /// The step and what it is doing.
    fn doings(&self) -> impl Iterator<Item = String> + '_ {
        self.step.iter().map(|s| s.what.clone()).chain(self.doing.clone())
    }

    fn stream_text(&self) -> Option<String> {
        let s = self.stream.as_ref()?;
        Some(format!("events {}/{} sent ({}%)", s.sent, s.total, (s.sent * 100).checked_div(s.total).unwrap_or(100)))
    }

    fn engine_text(&self, e: &Engine, now: Duration) -> String {
        let for_s = || now.saturating_sub(e.since).as_secs();
        match &e.state {
            EngineState::Starting => format!("starting {} s", for_s()),
            EngineState::Ready => "ready".into(),
            EngineState::Reading => format!("reading, {} rows", e.rows),
            EngineState::Ended => format!("ended, {} rows", e.rows),
            EngineState::Killed => "killed (kill -9)".into(),
            EngineState::Restarting => format!("restarting {} s", for_s()),
            EngineState::Stalled => format!("stopped (SIGSTOP) {} s", for_s()),
            EngineState::Failed(why) => format!("failed: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn steps_left_comes_from_the_steps_done() {
        assert_eq!(steps_left(0, 8, s(0), s(0), s(5)), None, "no step done: no basis");
        // Two steps done in 60 s: 30 s each; the third began at 60 s and has run 10 s of its 30.
        assert_eq!(steps_left(2, 8, s(0), s(60), s(70)), Some(s(5 * 30 + 20)));
        // Run over: what is left is the steps after it.
        assert_eq!(steps_left(2, 8, s(0), s(60), s(200)), Some(s(5 * 30)));
        assert_eq!(steps_left(7, 8, s(0), s(70), s(75)), Some(s(5)));
    }

    #[test]
    fn stream_left_comes_from_the_schedule_or_the_rate() {
        assert_eq!(stream_left(10, 100, s(2), Some(s(20))), Some(s(18)), "paced: the schedule");
        assert_eq!(stream_left(90, 100, s(25), Some(s(20))), Some(s(25).mul_f64(10.0 / 90.0)), "behind its schedule: its rate");
        assert_eq!(stream_left(50, 100, s(4), None), Some(s(4)));
        assert_eq!(stream_left(50, 100, Duration::from_millis(500), None), None, "half a second is no basis");
        assert_eq!(stream_left(0, 100, s(3), None), None);
        assert_eq!(stream_left(100, 100, s(3), None), Some(Duration::ZERO));
    }

    #[test]
    fn a_child_s_line_in_a_log_has_no_control_characters() {
        assert_eq!(child_line("\x1b[0m[INFO] Scanning for projects...", false), "[INFO] Scanning for projects...");
        assert_eq!(child_line("\x1b[1;31mred\x1b[0m\tand\x07 plain", false), "red\tand plain");
        assert_eq!(child_line(" 10%\r 55%\r100% done\r", false), "100% done", "what the progress bar came to");
        assert_eq!(child_line("\x1b[1mbold\x1b[0m\r", true), "\x1b[1mbold\x1b[0m", "a terminal shows its colours");
    }

    #[test]
    fn a_line_is_cut_to_the_width() {
        assert_eq!(fit("native event-time", 40), "native event-time");
        assert_eq!(fit("native event-time", 8), "native …");
        assert_eq!(fit("é·é·é", 4), "é·é…", "characters, not bytes");
    }

    #[test]
    fn the_block_shows_the_step_the_stream_and_each_engine() {
        let mut st = Status::default();
        assert_eq!(st.step("run seed".into(), None, s(0)), ["run seed"]);
        st.doing("sending");
        st.stream(105, Some(s(5)), s(4));
        assert_eq!(st.engine("native event-time", EngineState::Starting, s(1)), None);
        assert_eq!(st.engine("native processing-time", EngineState::Starting, s(1)), None);
        assert_eq!(st.engine("native event-time", EngineState::Ready, s(3)).as_deref(), Some("native event-time ready after 2.0 s"));
        assert_eq!(st.sent(57, s(6)).as_deref(), Some("events 57/105 sent (54%); about 0:03 left"), "the second quarter");
        assert_eq!(st.sent(60, s(6)), None, "said once a quarter");
        st.rows(&Rows { label: "native event-time".into(), rows: 8, end_of_stream: false }, s(6));
        assert_eq!(
            st.block(s(6), 80, 10),
            [
                "run seed · sending · 0:06 elapsed · about 0:03 left",
                "  events 60/105 sent (57%)",
                "  native event-time       reading, 8 rows",
                "  native processing-time  starting 5 s",
            ]
        );
        assert_eq!(
            st.line(s(6)),
            "run seed; sending; events 60/105 sent (57%); native event-time reading, 8 rows; native processing-time starting 5 s; about 0:03 left"
        );
        assert_eq!(st.block(s(6), 30, 3)[2], "  … and 2 more engine modes", "at most the height");
        assert!(st.block(s(6), 30, 10).iter().all(|l| l.chars().count() <= 30));
    }

    #[test]
    fn an_engine_ends_when_its_end_of_stream_row_is_read() {
        let mut st = Status::default();
        st.engine("a", EngineState::Starting, s(0));
        let read = |rows, end_of_stream| Rows { label: "a".into(), rows, end_of_stream };
        assert_eq!(st.rows(&read(3, false), s(1)), None, "not ready: rows of an earlier job");
        st.engine("a", EngineState::Ready, s(1));
        assert_eq!(st.rows(&read(0, false), s(1)), None);
        assert_eq!(st.rows(&read(4, false), s(2)), None);
        assert_eq!(st.rows(&read(9, true), s(3)).as_deref(), Some("a: end of stream, 9 rows"));
        assert_eq!(st.rows(&read(9, true), s(4)), None, "said once");
        assert_eq!(st.block(s(4), 80, 10)[1], "  a  ended, 9 rows");
        st.engine("a", EngineState::Killed, s(5));
        st.engine("a", EngineState::Restarting, s(6));
        assert_eq!(st.engine("a", EngineState::Ready, s(8)).as_deref(), Some("a ready again after 2.0 s"));
        st.engine("a", EngineState::Stalled, s(9));
        assert_eq!(st.block(s(74), 80, 10)[1], "  a  stopped (SIGSTOP) 65 s");
    }

    #[test]
    fn a_counted_step_says_the_last_one_done_and_what_is_left() {
        let mut st = Status::default();
        assert_eq!(st.step("matrix 1/2 duplicates".into(), Some((0, 2)), s(3)), ["matrix 1/2 duplicates"]);
        st.stream(10, None, s(3));
        st.sent(5, s(5));
        assert_eq!(st.block(s(5), 80, 10)[0], "matrix 1/2 duplicates · 0:05 elapsed · ? left", "no step done: no basis, not the stream's");
        assert_eq!(
            st.step("matrix 2/2 late-beyond".into(), Some((1, 2)), s(33)),
            ["matrix 1/2 duplicates done in 0:30", "matrix 2/2 late-beyond; about 0:30 left"]
        );
        st.stream(10, None, s(34));
        assert_eq!(st.left(s(43)), Some(s(20)), "the steps' estimate before the stream's");
        assert_eq!(st.done(s(50)).as_deref(), Some("matrix 2/2 late-beyond done in 0:17"));
        assert!(!st.is_live() && st.done(s(51)).is_none());
    }
}
