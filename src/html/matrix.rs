//! The page of a matrix (or of one run): the matrix, the scenarios, exceptions by cause (a picture
//! per scenario and a table), each job's results around a crash in a crash scenario, measurements,
//! emit-latency distributions, and each engine's window logic, so a reader can compare the code.

use super::pictures::{self, Bar};
use super::{esc, figure, page, slug};
use crate::compare::Cause;
use crate::format::thousands;
use crate::matrix::{Cell, Matrix, Verdict};
use std::fmt::Write;

/// One engine's window logic, to show beside the others'.
#[derive(Debug, Clone)]
pub struct EngineCode {
    pub engine: String,
    pub about: String,
    /// The file, in the engine's folder.
    pub file: String,
    pub text: String,
}

fn id(cell: &Cell) -> String {
    format!("cell-{}-{}-{}", cell.scenario, cell.summary.engine, cell.summary.mode)
}

pub fn render(m: &Matrix, against: Option<&Matrix>, code: &[EngineCode]) -> String {
    let mut h = String::new();
    let _ = writeln!(h, "<h1>boontadata — capability matrix</h1><p>Measured {} UTC. ✓ every window exact; partial: some windows differ and every difference is explained; ✗ a difference nobody can explain, or the engine failed.</p>", esc(&m.created));
    matrix_table(&mut h, m);
    scenarios(&mut h, m);
    exceptions(&mut h, m);
    crashes(&mut h, m);
    measurements(&mut h, m);
    latency_plots(&mut h, m);
    window_logic(&mut h, code);
    if let Some(other) = against {
        comparison(&mut h, m, other);
    }
    page(&format!("boontadata matrix {}", m.created), &h)
}

fn matrix_table(h: &mut String, m: &Matrix) {
    h.push_str("<h2>Matrix</h2><table id=\"matrix\"><tr><th>engine mode</th>");
    for (s, _) in &m.scenarios {
        let _ = write!(h, "<th>{}</th>", esc(s));
    }
    h.push_str("</tr>\n");
    for row in m.rows() {
        let _ = write!(h, "<tr><th>{}</th>", esc(&row));
        for (s, _) in &m.scenarios {
            match m.cell(&row, s) {
                Some(c) => {
                    let class = match c.verdict() {
                        Verdict::Pass => "pass",
                        Verdict::Partial => "partial",
                        Verdict::Fail => "fail",
                        Verdict::NotCompared => "not-compared",
                    };
                    let mut notes: Vec<String> = c.summary.exceptions.iter().map(|(c, n)| format!("{n} {}", c.as_str())).collect();
                    notes.extend(c.summary.latency_p50_ms.map(|l| format!("p50 {l} ms")));
                    let _ = write!(
                        h,
                        "<td id=\"{}\" class=\"{class}\">{}<br><small>{}{}</small></td>",
                        esc(&id(c)),
                        esc(&c.symbol()),
                        esc(&notes.join(" · ")),
                        links(c)
                    );
                }
                None => h.push_str("<td>-</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

/// Where a cell's differences are, in its run's folder beside the page: every exception, and,
/// where the engine named its events, every event of them.
fn links(c: &Cell) -> String {
    if c.summary.windows_exact == c.summary.windows_total {
        return String::new();
    }
    let run = esc(&c.run_id);
    let events = if c.summary.by_ids { format!(" · <a href=\"{run}/exceptions.jsonl\">their events</a>") } else { String::new() };
    format!("<br><a href=\"{run}/compare.txt\">exceptions</a>{events}")
}

fn scenarios(h: &mut String, m: &Matrix) {
    h.push_str("<h2>Scenarios</h2><ul>");
    for (name, about) in &m.scenarios {
        let _ = write!(h, "<li><b>{}</b>: {}</li>", esc(name), esc(about));
    }
    h.push_str("</ul>\n");
}

/// How many of a cell's windows differ, in words.
fn differ(c: &Cell) -> String {
    let s = &c.summary;
    match c.verdict() {
        Verdict::Pass => "every window exact".into(),
        Verdict::Partial => format!("{} of {} windows differ", thousands((s.windows_total - s.windows_exact) as f64), thousands(s.windows_total as f64)),
        Verdict::NotCompared => "not compared".into(),
        Verdict::Fail => c.symbol(),
    }
}

/// A picture per scenario (a bar per engine mode, a segment per cause), then the numbers.
fn exceptions(h: &mut String, m: &Matrix) {
    h.push_str("<h2>Exceptions by cause</h2><p>Per scenario, each engine mode's exceptions by cause (hover a segment for its count; the table under the pictures has every number).</p><div class=\"plots\">\n");
    for (scenario, _) in &m.scenarios {
        let bars: Vec<Bar> = m
            .rows()
            .iter()
            .filter_map(|row| m.cell(row, scenario))
            .map(|c| Bar { row: c.row_label(), note: differ(c), causes: c.summary.exceptions.clone() })
            .collect();
        figure(h, &format!("exceptions-{scenario}"), &pictures::exceptions(&format!("{scenario}: exceptions by cause"), &bars), "");
    }
    h.push_str("</div>\n<details><summary>Every number: exceptions by cause of each scenario and engine mode</summary><table id=\"exceptions\"><tr><th>scenario</th><th>engine mode</th><th>windows exact</th>");
    for c in Cause::ALL {
        let _ = write!(h, "<th>{}</th>", c.as_str());
    }
    h.push_str("</tr>\n");
    for c in &m.cells {
        let windows = c.summary.not_compared.clone().unwrap_or_else(|| format!("{}/{}", c.summary.windows_exact, c.summary.windows_total));
        let _ = write!(h, "<tr><td>{}</td><td>{}</td><td>{}</td>", esc(&c.scenario), esc(&c.row_label()), esc(&windows));
        for cause in Cause::ALL {
            let n = c.summary.exceptions.iter().find(|(x, _)| *x == cause).map_or(0, |(_, n)| *n);
            let _ = write!(h, "<td>{}</td>", if n == 0 { String::new() } else { n.to_string() });
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></details>\n");
}

/// In a crash scenario, each job's result rows over the run, the crash marked.
fn crashes(h: &mut String, m: &Matrix) {
    let crashed: Vec<&Cell> = m.cells.iter().filter(|c| c.summary.crash.as_ref().is_some_and(|k| k.timeline.is_some())).collect();
    if crashed.is_empty() {
        return;
    }
    h.push_str("<h2>Around the crash</h2><p>The result rows each job first wrote (as the collector first read them) in each second of the wall clock, from the stream's first send: the shaded span is from the kill to the job (or the broker node) being ready again, or from an engine's SIGSTOP to its SIGCONT, a gap in the rows and then its catch-up.</p><div class=\"plots\">\n");
    for c in crashed {
        let Some((crash, timeline)) = c.summary.crash.as_ref().and_then(|k| Some((k, k.timeline.as_ref()?))) else { continue };
        let svg = pictures::crash(&format!("{}: {}", c.scenario, c.row_label()), timeline, crash.caught_up_s, crash.stalled);
        figure(h, &format!("crash-{}-{}", c.scenario, slug(&c.row_label())), &svg, &format!("{}: {}", c.row_label(), crash.describe()));
    }
    h.push_str("</div>\n");
}

fn measurements(h: &mut String, m: &Matrix) {
    h.push_str("<h2>Measurements</h2><table id=\"measurements\"><tr><th>scenario</th><th>engine mode</th><th>events/s</th><th>latency p50/p99/max ms</th><th>after last send p50/p99/max ms</th><th>emissions per window</th><th>CPU s</th><th>peak RSS MB</th><th>start-up s</th><th>status</th></tr>\n");
    let num = |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    let ms = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    for c in &m.cells {
        let s = &c.summary;
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}/{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.scenario),
            esc(&c.row_label()),
            num(s.events_per_s, 0),
            ms(s.latency_p50_ms),
            ms(s.latency_p99_ms),
            ms(s.latency_max_ms),
            s.after_last_send_ms.map_or("-".into(), |p| p.to_string()),
            num(s.emissions_per_window, 2),
            num(s.cpu_s, 2),
            num(s.peak_rss_bytes.map(|b| b as f64 / 1e6), 0),
            num(s.startup_s, 1),
            esc(&s.status.to_string())
        );
    }
    h.push_str(
        "</table>\n<p>CPU and memory are those of the engine's whole process tree (its JVMs, its workers) during the scenario. \
        Start-up is from starting the job to the engine saying it is ready: an engine that serves jobs starts its process for the \
        first scenario only, and a new job in it for the others.</p>\n",
    );
}

/// One picture per engine mode: the cumulative distribution of emit latency, a line per scenario.
fn latency_plots(h: &mut String, m: &Matrix) {
    h.push_str("<h2>Emit latency</h2><p>Share of windows emitted within a given time after the window's end (first emission, as the collector read it).</p><div class=\"plots\">\n");
    for row in m.rows() {
        let lines: Vec<(&str, &[(f64, i64)])> = m
            .cells
            .iter()
            .filter(|c| c.row_label() == row && !c.summary.latency_distribution_ms.is_empty())
            .map(|c| (c.scenario.as_str(), c.summary.latency_distribution_ms.as_slice()))
            .collect();
        if !lines.is_empty() {
            figure(h, &format!("latency-{}", slug(&row)), &pictures::latency(&format!("{row}: emit latency"), &lines), "");
        }
    }
    h.push_str("</div>\n");
}

/// Each engine's window logic, as its folder holds it, side by side.
fn window_logic(h: &mut String, code: &[EngineCode]) {
    h.push_str("<h2>Compare the code</h2><p>The window logic of each engine, in the engine's own idiom.</p><div class=\"code\">\n");
    for c in code {
        let _ = writeln!(
            h,
            "<details open id=\"code-{}\"><summary><b>{}</b> — {} (<code>engines/{}/{}</code>)</summary><pre>{}</pre></details>",
            esc(&c.engine),
            esc(&c.engine),
            esc(&c.about),
            esc(&c.engine),
            esc(&c.file),
            esc(&c.text)
        );
    }
    h.push_str("</div>\n");
}

/// This matrix beside an earlier one: the same cells, both runs.
fn comparison(h: &mut String, m: &Matrix, other: &Matrix) {
    let _ = writeln!(h, "<h2>Against the run of {} UTC</h2><table id=\"against\"><tr><th>scenario</th><th>engine mode</th><th>now</th><th>then</th><th>events/s now</th><th>events/s then</th></tr>", esc(&other.created));
    for c in &m.cells {
        let Some(o) = other.cell(&c.row_label(), &c.scenario) else { continue };
        let eps = |c: &Cell| c.summary.events_per_s.map_or("-".into(), |e| format!("{e:.0}"));
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.scenario),
            esc(&c.row_label()),
            esc(&c.symbol()),
            esc(&o.symbol()),
            eps(c),
            eps(o)
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EngineStatus, Mode};
    use crate::summary::{CrashSummary, EngineSummary, Timeline};

    fn cell(scenario: &str, mode: Mode, exact: usize) -> Cell {
        Cell {
            scenario: scenario.into(),
            run_id: "r".into(),
            summary: EngineSummary {
                engine: "native".into(),
                mode,
                windows_exact: exact,
                windows_total: 10,
                exceptions: if exact < 10 { vec![(Cause::Boundary, 10 - exact)] } else { vec![] },
                unexplained: 0,
                by_ids: false,
                malformed: Some(0),
                events_per_s: Some(1234.0),
                latency_p50_ms: Some(40),
                latency_p99_ms: Some(90),
                latency_max_ms: Some(95),
                after_last_send_ms: None,
                latency_growth_ms: None,
                startup_s: Some(2.0),
                latency_distribution_ms: vec![(1.0, 5), (50.0, 40), (99.0, 90), (100.0, 95)],
                emissions_per_window: Some(1.0),
                cpu_s: Some(0.3),
                peak_rss_bytes: Some(20_000_000),
                status: EngineStatus::Ok,
                log: "x".into(),
                crash: None,
                not_compared: None,
            },
        }
    }

    #[test]
    fn every_cell_is_in_the_page_with_its_verdict_and_a_plot_per_row() {
        let m = Matrix {
            created: "2026-11-23 10:00:00".into(),
            scenarios: vec![("duplicates".into(), "dups <only>".into()), ("burst".into(), "a burst".into())],
            cells: vec![cell("duplicates", Mode::EventTime, 10), cell("burst", Mode::EventTime, 7), cell("duplicates", Mode::ProcessingTime, 9)],
        };
        let mut by_ids = m.clone();
        by_ids.cells[1].summary.by_ids = true;
        let page = render(&by_ids, None, &[]);
        let burst = page.split("id=\"cell-burst-native-event-time\"").nth(1).unwrap().split("</td>").next().unwrap();
        assert!(burst.contains("<a href=\"r/compare.txt\">exceptions</a> · <a href=\"r/exceptions.jsonl\">their events</a>"), "{burst}");
        let exact = page.split("id=\"cell-duplicates-native-event-time\"").nth(1).unwrap().split("</td>").next().unwrap();
        assert!(!exact.contains("<a "), "an exact cell links nowhere: {exact}");
        let by_sums = page.split("id=\"cell-duplicates-native-processing-time\"").nth(1).unwrap().split("</td>").next().unwrap();
        assert!(by_sums.contains("compare.txt") && !by_sums.contains("exceptions.jsonl"), "{by_sums}");
        let code =
            [EngineCode { engine: "native".into(), about: "the reference".into(), file: "window.rs".into(), text: "if end <= watermark { fire(); }".into() }];
        let page = render(&m, Some(&m), &code);
        assert!(page.contains("id=\"cell-duplicates-native-event-time\" class=\"pass\">✓"));
        assert!(page.contains("id=\"cell-burst-native-event-time\" class=\"partial\">partial 7/10"));
        assert!(page.contains("id=\"cell-duplicates-native-processing-time\" class=\"partial\""));
        assert!(page.contains("dups &lt;only&gt;"), "text is escaped");
        assert!(
            page.contains("id=\"latency-native-event-time\"") && page.contains("id=\"latency-native-processing-time\""),
            "a latency picture per engine mode"
        );
        assert!(page.contains("id=\"exceptions-duplicates\"") && page.contains("id=\"exceptions-burst\""), "an exceptions picture per scenario");
        assert_eq!(page.matches("<svg").count(), 4);
        assert!(!page.contains("id=\"crash-"), "no crash, no picture of one");
        assert!(page.contains("id=\"against\""));
        assert!(page.contains("<pre>if end &lt;= watermark { fire(); }</pre>"), "the window logic is in the page itself");
        assert!(
            !page.contains("http://") || page.matches("http://").count() == page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
            "nothing from the network"
        );
    }

    #[test]
    fn a_scenario_s_picture_has_a_bar_per_engine_mode_its_causes_and_how_many_windows_differ() {
        let m = Matrix {
            created: "now".into(),
            scenarios: vec![("burst".into(), "a burst".into())],
            cells: vec![cell("burst", Mode::EventTime, 10), cell("burst", Mode::ProcessingTime, 7)],
        };
        let page = render(&m, None, &[]);
        let picture = page.split("id=\"exceptions-burst\"").nth(1).unwrap().split("</figure>").next().unwrap();
        assert!(picture.contains(">native event-time: every window exact<") && picture.contains(">native processing-time: 3 of 10 windows differ<"));
        assert_eq!(picture.matches("data-cause=\"boundary\" data-row=\"native processing-time\"").count(), 1, "{picture}");
        assert_eq!(picture.matches("class=\"bar\"").count(), 1);
    }

    #[test]
    fn a_crash_scenario_shows_each_job_s_rows_around_its_crash() {
        let timeline = Timeline { from_ms: -200, step_ms: 1000, rows: vec![3, 0, 0, 5], killed_ms: 900, restarted_ms: 2000, ready_again_ms: Some(2500) };
        let crash = CrashSummary {
            events_lost: 0,
            events_doubled: 0,
            first_row_s: Some(2.0),
            caught_up_s: None,
            timeline: Some(timeline),
            promise: None,
            stalled: false,
        };
        let mut crashed = cell("engine-crash", Mode::EventTime, 10);
        crashed.summary.crash = Some(crash);
        let m = Matrix { created: "now".into(), scenarios: vec![("engine-crash".into(), "kill".into())], cells: vec![crashed] };
        let page = render(&m, None, &[]);
        let picture = page.split("id=\"crash-engine-crash-native-event-time\"").nth(1).expect("the crash's picture").split("</figure>").next().unwrap();
        assert_eq!(picture.matches("class=\"rows\"").count(), 2);
        assert!(picture.contains("class=\"mark kill\"") && picture.contains("class=\"mark restart\"") && picture.contains("class=\"mark ready\""));
        assert!(picture.contains("0 lost, 0 doubled; writing again after 2.0 s"), "its caption: {picture}");
        let older = cell("engine-crash", Mode::EventTime, 10);
        let m = Matrix {
            cells: vec![Cell {
                summary: EngineSummary { crash: Some(CrashSummary { timeline: None, ..m.cells[0].summary.crash.clone().unwrap() }), ..older.summary },
                ..older
            }],
            ..m
        };
        assert!(!render(&m, None, &[]).contains("Around the crash"), "a summary written before the timeline was kept has no picture");
    }
}
