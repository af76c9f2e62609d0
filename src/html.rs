//! The self-contained HTML page of a matrix (or of one run): the matrix,
//! exceptions by cause, measurements, latency distributions drawn as inline
//! SVG, and each engine's window logic, so a reader can compare the code;
//! and the page of a bench. Nothing is loaded from the network.

use crate::bench::{self, Bench};
use crate::compare::Cause;
use crate::matrix::{Cell, Matrix, Verdict};
use anyhow::Result;
use plotters::prelude::*;
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn id(cell: &Cell) -> String {
    format!("cell-{}-{}-{}", cell.scenario, cell.summary.engine, cell.summary.mode)
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}\
th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}\
td.pass{background:#d7f5d7}td.partial{background:#fff1c4}td.fail{background:#f8caca}small{color:#555}\
.plots{display:flex;flex-wrap:wrap;gap:1em}.code{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1em}pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}";

pub fn render(m: &Matrix, against: Option<&Matrix>, code: &[EngineCode]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>boontadata matrix {}</title><style>{STYLE}</style></head><body>\n",
        esc(&m.created)
    );
    let _ = writeln!(h, "<h1>boontadata — capability matrix</h1><p>Measured {} UTC. ✓ every window exact; partial: some windows differ and every difference is explained; ✗ a difference nobody can explain, or the engine failed.</p>", esc(&m.created));
    matrix_table(&mut h, m);
    scenarios(&mut h, m);
    exceptions(&mut h, m);
    measurements(&mut h, m);
    latency_plots(&mut h, m);
    window_logic(&mut h, code);
    if let Some(other) = against {
        comparison(&mut h, m, other);
    }
    h.push_str("</body></html>\n");
    h
}

/// The page of a bench: what it ran on, each figure beside its baseline (what, events/s, ratio),
/// and each engine mode's sustainable rate (engine mode, rate, probes, latency).
pub fn bench_page(b: &Bench) -> String {
    let (rates_heading, rates) = (bench::sustainable_heading(b), bench::sustainable_rates(b));
    let mut h =
        format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>boontadata bench</title><style>{STYLE}</style></head><body>\n");
    let _ = writeln!(h, "<h1>boontadata — bench</h1><p>{}. Every figure is read beside its baseline from the same sitting.</p>", esc(&bench::heading(b)));
    h.push_str("<table id=\"figures\"><tr><th></th><th>events/s</th><th>ratio</th></tr>\n");
    for row in &bench::figures(b) {
        table_row(&mut h, row);
    }
    h.push_str("</table>\n");
    if !rates.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Sustainable rate</h2><p>{}.</p><table id=\"sustainable\"><tr><th>engine mode</th><th>rate</th><th>probes</th><th>latency</th></tr>",
            esc(&rates_heading)
        );
        for row in &rates {
            table_row(&mut h, row);
        }
        h.push_str("</table>\n");
    }
    h.push_str("</body></html>\n");
    h
}

/// A row of plain text cells.
fn table_row(h: &mut String, cells: &[String]) {
    h.push_str("<tr>");
    for c in cells {
        let _ = write!(h, "<td>{}</td>", esc(c));
    }
    h.push_str("</tr>\n");
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
                    let _ = write!(h, "<td id=\"{}\" class=\"{class}\">{}<br><small>{}</small></td>", esc(&id(c)), esc(&c.symbol()), esc(&notes.join(" · ")));
                }
                None => h.push_str("<td>-</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn scenarios(h: &mut String, m: &Matrix) {
    h.push_str("<h2>Scenarios</h2><ul>");
    for (name, about) in &m.scenarios {
        let _ = write!(h, "<li><b>{}</b>: {}</li>", esc(name), esc(about));
    }
    h.push_str("</ul>\n");
}

fn exceptions(h: &mut String, m: &Matrix) {
    h.push_str("<h2>Exceptions by cause</h2><table id=\"exceptions\"><tr><th>scenario</th><th>engine mode</th><th>windows exact</th>");
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
    h.push_str("</table>\n");
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

/// One plot per engine mode: the cumulative distribution of emit latency, a line per scenario.
fn latency_plots(h: &mut String, m: &Matrix) {
    h.push_str("<h2>Emit latency</h2><p>Share of windows emitted within a given time after the window's end (first emission, as the collector read it).</p><div class=\"plots\">\n");
    for row in m.rows() {
        let cells: Vec<&Cell> = m.cells.iter().filter(|c| c.row_label() == row && !c.summary.latency_distribution_ms.is_empty()).collect();
        if cells.is_empty() {
            continue;
        }
        match latency_svg(&row, &cells) {
            Ok(svg) => h.push_str(&svg),
            Err(e) => {
                let _ = write!(h, "<p>{}: no plot ({})</p>", esc(&row), esc(&e.to_string()));
            }
        }
    }
    h.push_str("</div>\n");
}

fn latency_svg(title: &str, cells: &[&Cell]) -> Result<String> {
    let max = cells.iter().flat_map(|c| c.summary.latency_distribution_ms.iter().map(|(_, v)| *v)).max().unwrap_or(1).max(1) as f64;
    let min = cells.iter().flat_map(|c| c.summary.latency_distribution_ms.iter().map(|(_, v)| *v)).min().unwrap_or(0).min(0) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (460, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(min..max * 1.05, 0f64..100f64)?;
        chart.configure_mesh().x_desc("ms after window end").y_desc("% of windows").draw()?;
        for (i, c) in cells.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points: Vec<(f64, f64)> = c.summary.latency_distribution_ms.iter().map(|(p, v)| (*v as f64, *p)).collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(c.scenario.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::LowerRight).draw()?;
        root.present()?;
    }
    Ok(svg)
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
    use crate::summary::EngineSummary;

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
        let code =
            [EngineCode { engine: "native".into(), about: "the reference".into(), file: "window.rs".into(), text: "if end <= watermark { fire(); }".into() }];
        let page = render(&m, Some(&m), &code);
        assert!(page.contains("id=\"cell-duplicates-native-event-time\" class=\"pass\">✓"));
        assert!(page.contains("id=\"cell-burst-native-event-time\" class=\"partial\">partial 7/10"));
        assert!(page.contains("id=\"cell-duplicates-native-processing-time\" class=\"partial\""));
        assert!(page.contains("dups &lt;only&gt;"), "text is escaped");
        assert_eq!(page.matches("<svg").count(), 2, "one latency plot per engine mode");
        assert!(page.contains("id=\"against\""));
        assert!(page.contains("<pre>if end &lt;= watermark { fire(); }</pre>"), "the window logic is in the page itself");
        assert!(
            !page.contains("http://") || page.matches("http://").count() == page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
            "nothing from the network"
        );
    }

    #[test]
    fn the_page_shows_every_figure_with_its_ratio_and_the_sustainable_rates() {
        let page = bench_page(&crate::bench::tests::sample());
        assert!(page.contains("<td>simulator, end to end</td><td>120,000</td><td>0.20 × bare producer</td>"), "{page}");
        assert!(page.contains("<td>native event-time, on the backlog</td><td>100,000</td><td>0.25 × bare consume + produce</td>"), "{page}");
        assert!(page.contains("<td>native event-time</td><td>1,000 events/s, 0.0025 × bare consume + produce</td>"), "{page}");
        assert!(page.contains("2,000 ✗ (emit latency grew by 4000 ms over the stream)"), "{page}");
    }
}
