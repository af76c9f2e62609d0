//! The capability matrix: every chosen engine and mode over scenarios that
//! each isolate one behaviour, measured rather than declared. A cell is what
//! one engine mode did on one scenario. Data and its terminal rendering only:
//! `run::matrix` runs one, `report` writes its page.

use crate::compare::Cause;
use crate::scenario::Scenario;
use crate::summary::{EngineSummary, RunSummary};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// The scenarios of a full matrix, in the order they are shown.
pub const SCENARIOS: &[&str] = &["duplicates", "out-of-order", "late-within", "late-beyond", "many-devices", "burst", "idle", "seed"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every window exact.
    Pass,
    /// Some windows differ, every difference explained.
    Partial,
    /// A difference nobody can explain, or the engine failed.
    Fail,
    /// Measured, not compared (`EngineSummary::not_compared` says why).
    NotCompared,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub scenario: String,
    pub run_id: String,
    pub summary: EngineSummary,
}

impl Cell {
    pub fn verdict(&self) -> Verdict {
        let s = &self.summary;
        if s.not_compared.is_some() && !s.failed() {
            Verdict::NotCompared
        } else if s.failed() || s.windows_total == 0 {
            Verdict::Fail
        } else if s.windows_exact == s.windows_total {
            Verdict::Pass
        } else {
            Verdict::Partial
        }
    }

    /// `✓`, `partial 18/27`, `✗ 3 unexplained`, `✗ 1 not explained (search budget)`, `✗ crashed (…)`
    /// or `✗ exactly-once broken (3 lost, 0 doubled)`.
    pub fn symbol(&self) -> String {
        let s = &self.summary;
        let count = |cause| s.exceptions.iter().find(|(c, _)| *c == cause).map_or(0, |(_, n)| *n);
        match self.verdict() {
            Verdict::Pass => "✓".into(),
            Verdict::Partial => format!("partial {}/{}", s.windows_exact, s.windows_total),
            Verdict::NotCompared => "– not compared".into(),
            Verdict::Fail if !s.status.is_ok() => format!("✗ {}", s.status),
            Verdict::Fail if s.windows_total == 0 => "✗ no windows".into(),
            Verdict::Fail if s.unexplained == 0 && s.broken_promise().is_some() => format!("✗ {}", s.broken_promise().unwrap_or_default()),
            Verdict::Fail => {
                let (unexplained, budget, unknown) = (count(Cause::Unexplained), count(Cause::SearchBudget), count(Cause::UnknownId));
                let parts = [(unexplained, "unexplained"), (budget, "not explained (search budget)"), (unknown, "naming unknown ids")];
                format!("✗ {}", parts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect::<Vec<_>>().join(", "))
            }
        }
    }

    pub fn row_label(&self) -> String {
        format!("{} {}", self.summary.engine, self.summary.mode)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub created: String,
    /// Scenario name → what it isolates.
    pub scenarios: Vec<(String, String)>,
    pub cells: Vec<Cell>,
}

impl Matrix {
    /// The matrix of `runs`, made at `created` (UTC).
    pub fn from_runs(created: String, runs: &[(Scenario, RunSummary)]) -> Matrix {
        Matrix {
            created,
            // A scenario run in several groups of jobs is one column.
            scenarios: runs.iter().map(|(s, _)| (s.name.clone(), s.description.clone())).fold(Vec::new(), |mut seen, s| {
                if !seen.contains(&s) {
                    seen.push(s);
                }
                seen
            }),
            cells: runs
                .iter()
                .flat_map(|(s, r)| r.engines.iter().map(|e| Cell { scenario: s.name.clone(), run_id: r.run_id.clone(), summary: e.clone() }))
                .collect(),
        }
    }

    /// Engine-mode rows, in first-seen order.
    pub fn rows(&self) -> Vec<String> {
        let mut rows: Vec<String> = Vec::new();
        for c in &self.cells {
            if !rows.contains(&c.row_label()) {
                rows.push(c.row_label());
            }
        }
        rows
    }

    pub fn cell(&self, row: &str, scenario: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.row_label() == row && c.scenario == scenario)
    }

    pub fn failed(&self) -> bool {
        self.cells.iter().any(|c| c.verdict() == Verdict::Fail)
    }
}

/// The terminal table: engine × scenario, a symbol per cell.
pub fn render(m: &Matrix) -> String {
    let scenarios: Vec<&str> = m.scenarios.iter().map(|(n, _)| n.as_str()).collect();
    let rows = m.rows();
    let mut table: Vec<Vec<String>> = vec![std::iter::once("engine mode".to_string()).chain(scenarios.iter().map(|s| s.to_string())).collect()];
    for row in &rows {
        let mut line = vec![row.clone()];
        line.extend(scenarios.iter().map(|s| m.cell(row, s).map_or("-".into(), Cell::symbol)));
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len()).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for line in &table {
        let cells: Vec<String> = line.iter().zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EngineStatus, Guarantee, Mode};
    use crate::summary::CrashSummary;

    fn summary(exact: usize, total: usize, unexplained: usize, status: EngineStatus) -> EngineSummary {
        EngineSummary {
            engine: "native".into(),
            mode: Mode::EventTime,
            windows_exact: exact,
            windows_total: total,
            exceptions: if exact < total { vec![(Cause::Late, total - exact - unexplained), (Cause::Unexplained, unexplained)] } else { vec![] },
            unexplained,
            by_ids: false,
            malformed: Some(0),
            events_per_s: Some(100.0),
            latency_p50_ms: Some(1000),
            latency_p99_ms: Some(1200),
            latency_max_ms: Some(1300),
            after_last_send_ms: None,
            latency_growth_ms: None,
            startup_s: Some(1.0),
            latency_distribution_ms: vec![(50.0, 1000), (100.0, 1300)],
            emissions_per_window: Some(1.0),
            cpu_s: Some(0.1),
            peak_rss_bytes: Some(1 << 20),
            status,
            log: "engine.log".into(),
            crash: None,
            not_compared: None,
        }
    }

    fn cell(s: EngineSummary) -> Cell {
        Cell { scenario: "duplicates".into(), run_id: "r".into(), summary: s }
    }

    #[test]
    fn every_window_exact_is_a_pass() {
        let c = cell(summary(27, 27, 0, EngineStatus::Ok));
        assert_eq!((c.verdict(), c.symbol()), (Verdict::Pass, "✓".to_string()));
    }

    #[test]
    fn explained_differences_are_partial_with_the_numbers() {
        let c = cell(summary(18, 27, 0, EngineStatus::Ok));
        assert_eq!((c.verdict(), c.symbol()), (Verdict::Partial, "partial 18/27".to_string()));
    }

    #[test]
    fn an_unexplained_difference_or_a_failed_engine_is_a_fail() {
        let c = cell(summary(18, 27, 3, EngineStatus::Ok));
        assert_eq!((c.verdict(), c.symbol()), (Verdict::Fail, "✗ 3 unexplained".to_string()));
        let c = cell(summary(27, 27, 0, EngineStatus::Crashed("signal: 9".into())));
        assert_eq!((c.verdict(), c.symbol()), (Verdict::Fail, "✗ crashed (signal: 9)".to_string()));
        let c = cell(EngineSummary { exceptions: vec![(Cause::SearchBudget, 2)], ..summary(25, 27, 2, EngineStatus::Ok) });
        assert_eq!(c.symbol(), "✗ 2 not explained (search budget)");
        let c = cell(summary(0, 0, 0, EngineStatus::Ok));
        assert_eq!((c.verdict(), c.symbol()), (Verdict::Fail, "✗ no windows".to_string()));
        let lost = CrashSummary {
            events_lost: 3,
            events_doubled: 0,
            first_row_s: None,
            caught_up_s: None,
            timeline: None,
            promise: Some(Guarantee::ExactlyOnce),
            stalled: false,
        };
        let c = cell(EngineSummary { crash: Some(lost), ..summary(25, 27, 0, EngineStatus::Ok) });
        assert_eq!((c.verdict(), c.symbol()), (Verdict::Fail, "✗ exactly-once broken (3 lost, 0 doubled)".to_string()));
    }

    #[test]
    fn a_job_measured_but_not_compared_neither_passes_nor_fails() {
        let not_compared = EngineSummary { not_compared: Some("not compared: on a backlog".into()), ..summary(0, 0, 0, EngineStatus::Ok) };
        let c = cell(not_compared.clone());
        assert_eq!((c.verdict(), c.symbol()), (Verdict::NotCompared, "– not compared".to_string()));
        let m = Matrix { created: "now".into(), scenarios: vec![("duplicates".into(), "d".into())], cells: vec![c] };
        assert!(!m.failed());
        let c = cell(EngineSummary { status: EngineStatus::NoEndOfStream, ..not_compared });
        assert_eq!(c.verdict(), Verdict::Fail, "an engine that failed still fails");
    }

    #[test]
    fn the_terminal_matrix_has_a_row_per_engine_mode_and_a_column_per_scenario() {
        let mut m = Matrix { created: "now".into(), scenarios: vec![("duplicates".into(), "d".into()), ("late-beyond".into(), "l".into())], cells: vec![] };
        m.cells.push(cell(summary(27, 27, 0, EngineStatus::Ok)));
        m.cells.push(Cell { scenario: "late-beyond".into(), ..cell(summary(18, 27, 0, EngineStatus::Ok)) });
        m.cells.push(Cell {
            summary: EngineSummary { mode: Mode::ProcessingTime, ..summary(1, 2, 1, EngineStatus::Ok) },
            ..cell(summary(0, 0, 0, EngineStatus::Ok))
        });
        let text = render(&m);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("engine mode") && lines[0].contains("duplicates") && lines[0].contains("late-beyond"));
        assert!(lines[1].starts_with("native event-time") && lines[1].contains("✓") && lines[1].contains("partial 18/27"), "{text}");
        assert!(lines[2].contains("✗ 1 unexplained") && lines[2].trim_end().ends_with('-'), "{text}");
        assert!(m.failed());
    }
}
