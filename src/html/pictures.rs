//! The report's pictures, each an `<svg>` drawn on the shared `charts::Chart`: an engine mode's
//! emit-latency distribution, a scenario's exceptions by cause, a job's results around a crash,
//! and an engine mode's probes of the bench (throughput against emit latency).

use super::charts::{cause_colour, number, series_colour, text_on, Axis, Chart, Dash, Scale, Swatch};
use crate::compare::Cause;
use crate::summary::Timeline;
use crate::sustainable::Probe;
use colours::*;

/// The colours of the pictures' marks, besides the causes' (`charts::cause_colour`).
pub mod colours {
    /// A crash's picture: the rows, the time down, the kill, the restart, ready again, caught up.
    pub const ROWS: &str = "#4e79a7";
    pub const DOWN: &str = "#fbe3d6";
    pub const KILL: &str = "#b2182b";
    pub const RESTART: &str = "#ef8a62";
    pub const READY: &str = "#1a9850";
    pub const CAUGHT_UP: &str = "#762a83";
    /// A bench's probes: kept up, fell behind, the sustainable rate, the out-of-orderness bound.
    pub const KEPT_UP: &str = "#1a9850";
    pub const BEHIND: &str = "#b2182b";
    pub const SUSTAINABLE: &str = "#2166ac";
    pub const BOUND: &str = "#555555";
}

/// Emit latency of one engine mode: the share of windows emitted within a time after their end, a
/// line per scenario (its distribution at `summary::LATENCY_PERCENTILES`).
pub fn latency(title: &str, lines: &[(&str, &[(f64, i64)])]) -> String {
    let values = || lines.iter().flat_map(|(_, d)| d.iter().map(|&(_, v)| v as f64));
    let (min, max) = (values().fold(0.0, f64::min), values().fold(1.0, f64::max));
    let x = Axis { label: "ms after the window's end (first emission)".into(), scale: Scale::linear(min, max) };
    let y = Axis { label: "% of windows emitted".into(), scale: Scale::linear(0.0, 100.0) };
    let mut chart = Chart::new(title, x, y, 200.0);
    for (i, (scenario, distribution)) in lines.iter().enumerate() {
        let colour = series_colour(i);
        let points: Vec<(f64, f64)> = distribution.iter().map(|&(p, v)| (chart.x(v as f64), chart.y(p))).collect();
        chart.polyline(&points, colour, 2.0, &format!("class=\"latency\" data-scenario=\"{}\"", super::esc(scenario)));
        chart.legend(Swatch::Line(colour, Dash::Solid), scenario);
    }
    chart.svg()
}

/// One engine mode's bar in a scenario's exceptions: the engine mode, a note (how many windows
/// differ), its exceptions by cause.
pub struct Bar {
    pub row: String,
    pub note: String,
    pub causes: Vec<(Cause, usize)>,
}

/// A scenario's exceptions: a bar per engine mode, a segment per cause, its count written in it
/// where it fits; a legend of the causes shown.
pub fn exceptions(title: &str, bars: &[Bar]) -> String {
    let total = |b: &Bar| b.causes.iter().map(|(_, n)| *n).sum::<usize>();
    // Whole counts: at least 0 to 5 on the axis.
    let most = bars.iter().map(total).max().unwrap_or(0).max(5);
    let x = Axis { label: "exceptions (one with two causes counts in both)".into(), scale: Scale::linear(0.0, most as f64) };
    let y = Axis { label: String::new(), scale: Scale::Bands(bars.iter().map(|b| format!("{}: {}", b.row, b.note)).collect()) };
    let mut chart = Chart::new(title, x, y, 40.0 * bars.len().max(1) as f64);
    for (i, bar) in bars.iter().enumerate() {
        let (top, bottom) = (chart.y(i as f64) + 18.0, chart.y(i as f64 + 1.0) - 5.0);
        let mut from = 0;
        for &(cause, n) in bar.causes.iter().filter(|(_, n)| *n > 0) {
            // A segment of a few among thousands still shows: 2 pixels at least.
            let (x0, x1) = (chart.x(from as f64), chart.x((from + n) as f64).max(chart.x(from as f64) + 2.0));
            let (colour, what) = (cause_colour(cause), cause.as_str());
            let attributes = format!("class=\"bar\" data-cause=\"{what}\" data-row=\"{}\"", super::esc(&bar.row));
            chart.rect((x0, top), (x1, bottom), colour, &attributes, &format!("{}: {n} {what}", bar.row));
            let count = n.to_string();
            if x1 - x0 >= count.len() as f64 * 7.0 + 6.0 {
                chart.text(((x0 + x1) / 2.0, bottom - 5.0), "middle", text_on(colour), &count);
            }
            from += n;
        }
    }
    for cause in Cause::ALL {
        if bars.iter().any(|b| b.causes.iter().any(|&(c, n)| c == cause && n > 0)) {
            chart.legend(Swatch::Box(cause_colour(cause)), cause.as_str());
        }
    }
    chart.svg()
}

/// A job's results around a crash: the rows it first emitted in each second (`Timeline`), the time
/// it was down shaded, and the kill, the restart, ready again and caught up (`caught_up_s` after
/// the kill) as vertical lines; for a `stalled` job, its SIGSTOP and SIGCONT instead of the kill and the restart.
pub fn crash(title: &str, t: &Timeline, caught_up_s: Option<f64>, stalled: bool) -> String {
    let s = |ms: i64| ms as f64 / 1000.0;
    let step = s(t.step_ms);
    let caught_up_ms = caught_up_s.map(|c| t.killed_ms + (c * 1000.0).round() as i64);
    let (kill, restart, down) =
        if stalled { ("SIGSTOP", "SIGCONT", "stopped: from SIGSTOP to SIGCONT") } else { ("kill -9", "started again", "down: from the kill to ready again") };
    let marks = [
        (Some(t.killed_ms), KILL, Dash::Solid, "kill", kill),
        (Some(t.restarted_ms), RESTART, Dash::Dashed, "restart", restart),
        (t.ready_again_ms.filter(|_| !stalled), READY, Dash::Solid, "ready", "ready again"),
        (caught_up_ms, CAUGHT_UP, Dash::Dotted, "caught-up", "caught up"),
    ];
    let end = marks.iter().filter_map(|m| m.0).map(s).fold(s(t.from_ms) + step * t.rows.len() as f64, f64::max);
    let per = if t.step_ms == 1000 { "s".to_string() } else { format!("{} s", number(step)) };
    let x = Axis { label: "s since the stream's first event was sent (wall clock)".into(), scale: Scale::linear(s(t.from_ms).min(0.0), end + step) };
    // Room above the highest bar: the time down shows over the plot's whole height.
    let most = t.rows.iter().copied().max().unwrap_or(0).max(5) as f64 * 1.1;
    let y = Axis { label: format!("result rows first emitted per {per}"), scale: Scale::linear(0.0, most) };
    let mut chart = Chart::new(title, x, y, 200.0);
    let (top, bottom) = chart.top_bottom();
    let back = t.ready_again_ms.unwrap_or(t.restarted_ms);
    chart.rect((chart.x(s(t.killed_ms)), top), (chart.x(s(back)), bottom), DOWN, "class=\"down\"", down);
    for (i, &n) in t.rows.iter().enumerate().filter(|(_, n)| **n > 0) {
        let from = s(t.from_ms) + step * i as f64;
        let (x0, x1) = (chart.x(from), chart.x(from + step));
        let gap = if x1 - x0 > 4.0 { 1.0 } else { 0.0 };
        let tooltip = format!("{}–{} s: {n} rows", number(from), number(from + step));
        chart.rect((x0, chart.y(n as f64)), (x1 - gap, bottom), ROWS, &format!("class=\"rows\" data-from-s=\"{from}\""), &tooltip);
    }
    chart.legend(Swatch::Box(ROWS), &format!("rows first emitted per {per}"));
    for (at, colour, dash, class, what) in marks {
        let Some(at) = at else { continue };
        let x = chart.x(s(at));
        chart.line((x, top), (x, bottom), colour, 2.0, dash, &format!("class=\"mark {class}\" data-s=\"{}\"", s(at)));
        chart.legend(Swatch::Line(colour, dash), &format!("{what} at {} s", number(s(at))));
    }
    chart.svg()
}

/// An engine mode's probes of the sustainable-rate search: each probe's events/s against its emit
/// latency (p99 marked kept up or fell behind, p50 where known), the sustainable rate found, and
/// `bound_ms`, the out-of-orderness bound a watermark engine cannot emit before.
pub fn probes(title: &str, probes: &[Probe], sustainable: Option<(f64, bool)>, bound_ms: Option<i64>) -> String {
    let rates = || probes.iter().map(|p| p.rate);
    let (lo, hi) = (rates().fold(f64::INFINITY, f64::min), rates().fold(0.0, f64::max));
    let (lo, hi) = if lo.is_finite() { (lo / 1.4, hi * 1.4) } else { (100.0, 1000.0) };
    let latencies: Vec<f64> = probes.iter().flat_map(|p| [p.latency_p99_ms, p.latency_p50_ms]).flatten().chain(bound_ms).map(|ms| ms as f64).collect();
    let most = latencies.iter().copied().fold(1.0, f64::max);
    let least = latencies.iter().copied().filter(|&v| v > 0.0).fold(most, f64::min);
    // Over a wide range (a probe that fell far behind), a log scale keeps the others apart.
    let (scale, unit) = if most / least > 50.0 { (Scale::log(least, most), ", log scale") } else { (Scale::linear(0.0, most * 1.05), "") };
    let x = Axis { label: "events/s sent (log scale)".into(), scale: Scale::log(lo, hi) };
    let y = Axis { label: format!("emit latency after window end, ms{unit}"), scale };
    let mut chart = Chart::new(title, x, y, 220.0);
    let (top, bottom) = chart.top_bottom();
    if let Some(bound) = bound_ms {
        let (y, (left, right)) = (chart.y(bound as f64), chart.left_right());
        chart.line((left, y), (right, y), BOUND, 2.0, Dash::Dashed, "class=\"bound\"");
        chart.legend(Swatch::Line(BOUND, Dash::Dashed), &format!("out-of-orderness bound, {} ms: no watermark emits sooner", number(bound as f64)));
    }
    if let Some((rate, at_least)) = sustainable {
        let x = chart.x(rate);
        chart.line((x, top), (x, bottom), SUSTAINABLE, 2.0, Dash::Dashed, "class=\"sustainable\"");
        chart.legend(Swatch::Line(SUSTAINABLE, Dash::Dashed), &format!("sustainable: {}{} events/s", if at_least { "≥ " } else { "" }, number(rate)));
    }
    let mut by_rate: Vec<&Probe> = probes.iter().filter(|p| p.latency_p99_ms.is_some()).collect();
    by_rate.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let curve: Vec<(f64, f64)> = by_rate.iter().map(|p| (chart.x(p.rate), chart.y(p.latency_p99_ms.unwrap_or(0) as f64))).collect();
    chart.polyline(&curve, "#aaaaaa", 1.0, "class=\"curve\"");
    for p in probes {
        let (colour, how) = if p.kept_up { (KEPT_UP, "kept up") } else { (BEHIND, "fell behind") };
        let x = chart.x(p.rate);
        let latency = [("p99", p.latency_p99_ms), ("p50", p.latency_p50_ms)]
            .iter()
            .filter_map(|(what, v)| v.map(|v| format!("{what} {} ms", number(v as f64))))
            .collect::<Vec<_>>()
            .join(", ");
        let tooltip = format!("{} events/s: {how}{}{}", number(p.rate), if latency.is_empty() { String::new() } else { format!("; {latency}") }, why(p));
        let marker = if p.kept_up { Swatch::Dot(colour) } else { Swatch::Cross(colour) };
        let class = format!("class=\"probe {}\" data-rate=\"{}\"", if p.kept_up { "kept-up" } else { "behind" }, p.rate);
        match (p.latency_p99_ms, p.latency_p50_ms) {
            (Some(p99), p50) => {
                if let Some(p50) = p50 {
                    chart.line((x, chart.y(p50 as f64)), (x, chart.y(p99 as f64)), colour, 1.0, Dash::Solid, "class=\"spread\"");
                    chart.point((x, chart.y(p50 as f64)), Swatch::Ring(colour), "class=\"p50\"", &tooltip);
                }
                chart.point((x, chart.y(p99 as f64)), marker, &class, &tooltip);
            }
            // No latency to show (the job failed): the probe at the top, its tooltip says why.
            (None, _) => chart.point((x, top + 8.0), marker, &class, &tooltip),
        }
    }
    let legend = [
        (probes.iter().any(|p| p.kept_up), Swatch::Dot(KEPT_UP), "p99, kept up"),
        (probes.iter().any(|p| !p.kept_up), Swatch::Cross(BEHIND), "p99, fell behind"),
        (probes.iter().any(|p| p.latency_p50_ms.is_some()), Swatch::Ring(KEPT_UP), "p50 (below its p99)"),
    ];
    for (_, swatch, label) in legend.into_iter().filter(|(shown, _, _)| *shown) {
        chart.legend(swatch, label);
    }
    chart.svg()
}

fn why(p: &Probe) -> String {
    if p.why.is_empty() {
        String::new()
    } else {
        format!(" ({})", p.why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers of an attribute in every element of `svg` that has `marker` in it.
    fn attribute(svg: &str, marker: &str, name: &str) -> Vec<f64> {
        svg.lines().filter(|l| l.contains(marker)).filter_map(|l| l.split(&format!(" {name}=\"")).nth(1)?.split('"').next()?.parse().ok()).collect()
    }

    #[test]
    fn a_scenario_s_exceptions_are_a_bar_per_engine_mode_and_a_segment_per_cause() {
        let bars = [
            Bar { row: "native event-time".into(), note: "3 of 10 windows differ".into(), causes: vec![(Cause::Late, 2), (Cause::OutOfOrder, 1)] },
            Bar { row: "native processing-time".into(), note: "40 of 50 windows differ".into(), causes: vec![(Cause::Boundary, 40)] },
            Bar { row: "spark event-time".into(), note: "every window exact".into(), causes: vec![] },
        ];
        let svg = exceptions("late-beyond", &bars);
        assert_eq!(svg.matches("class=\"bar\"").count(), 3, "{svg}");
        for (cause, row) in [("late", "native event-time"), ("out-of-order", "native event-time"), ("boundary", "native processing-time")] {
            assert!(svg.contains(&format!("data-cause=\"{cause}\" data-row=\"{row}\"")), "a {cause} segment in {row}'s bar: {svg}");
        }
        // Segments side by side, as long as their counts: boundary's 40 is the full width, late's 2 a twentieth of it.
        let widths = attribute(&svg, "class=\"bar\"", "width");
        assert!((widths[0] / widths[2] - 0.05).abs() < 0.01 && (widths[1] / widths[2] - 0.025).abs() < 0.01, "{widths:?}");
        let xs = attribute(&svg, "class=\"bar\"", "x");
        assert_eq!(xs[0] + widths[0], xs[1], "out-of-order follows late");
        assert!(svg.contains(">40</text>") && svg.contains(">spark event-time: every window exact<"), "counts and labels readable: {svg}");
        let legend: Vec<&str> = svg.lines().filter(|l| l.contains("class=\"legend\"")).collect();
        assert_eq!(legend.len(), 3, "the legend names the causes shown, once each");
        assert!(legend[0].contains(cause_colour(Cause::Late)) && legend[0].contains(">late<"));
    }

    #[test]
    fn a_crash_s_marks_stand_where_its_rows_stop_and_start_again() {
        // Rows every second for 20 s but seconds 8 to 12: killed at 8 s, started again at 13, ready at 13.5.
        let rows: Vec<u64> = (0..20).map(|s| if (8..13).contains(&s) { 0 } else { 40 + s }).collect();
        let t = Timeline { from_ms: 0, step_ms: 1000, rows, killed_ms: 8000, restarted_ms: 13_000, ready_again_ms: Some(13_500) };
        let svg = crash("native event-time", &t, Some(7.0), false);
        assert_eq!(svg.matches("class=\"rows\"").count(), 15, "a bar per second with rows");
        // A bar's left edge and width; a bar leaves a pixel before the next.
        let bar = |s: u32| {
            let marker = format!("data-from-s=\"{s}\"");
            (attribute(&svg, &marker, "x").first().copied().unwrap_or_else(|| panic!("a bar at {s} s: {svg}")), attribute(&svg, &marker, "width")[0])
        };
        let mark_x = |class: &str| attribute(&svg, &format!("class=\"mark {class}\""), "x1")[0];
        assert_eq!(mark_x("kill"), bar(7).0 + bar(7).1 + 1.0, "the kill where second 7's rows end");
        assert_eq!(mark_x("restart"), bar(13).0, "the restart where the rows start again");
        assert!(mark_x("ready") > mark_x("restart") && mark_x("ready") < bar(14).0);
        assert_eq!(mark_x("caught-up"), bar(15).0, "caught up 7 s after the kill");
        assert!(svg.contains("kill -9 at 8 s") && svg.contains("ready again at 13.5 s") && svg.contains("result rows first emitted per s"), "{svg}");
        let stall = Timeline { restarted_ms: 13_000, ready_again_ms: Some(13_000), ..t };
        let svg = crash("native event-time", &stall, Some(7.0), true);
        assert!(
            svg.contains("SIGSTOP at 8 s") && svg.contains("SIGCONT at 13 s") && !svg.contains("class=\"mark ready\"") && !svg.contains("kill -9"),
            "{svg}"
        );
    }

    #[test]
    fn a_probe_is_a_point_marked_as_it_went_with_the_rate_found_and_the_bound() {
        let probe = |rate: f64, kept_up: bool, p99: Option<i64>| Probe {
            rate,
            sent_rate: rate,
            kept_up,
            why: if kept_up { String::new() } else { "emit latency grew by 4000 ms over the stream".into() },
            latency_p99_ms: p99,
            latency_p50_ms: p99.map(|p| p - 500),
            after_last_send_ms: None,
        };
        let probes = [probe(1000.0, true, Some(2100)), probe(2000.0, true, Some(2200)), probe(4000.0, false, Some(9000)), probe(3000.0, false, None)];
        let svg = super::probes("native event-time", &probes, Some((2000.0, false)), Some(2000));
        assert_eq!(svg.matches("class=\"probe kept-up\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"probe behind\"").count(), 2);
        assert_eq!(svg.matches("class=\"p50\"").count(), 3, "p50 where known");
        let at = |rate: u32, axis: &str| attribute(&svg, &format!("data-rate=\"{rate}\""), axis)[0];
        assert!(at(1000, "data-x") < at(2000, "data-x") && at(2000, "data-x") < at(3000, "data-x") && at(3000, "data-x") < at(4000, "data-x"));
        assert_eq!(attribute(&svg, "class=\"sustainable\"", "x1"), [at(2000, "data-x")], "the rate found on its probe");
        let bound_y = attribute(&svg, "class=\"bound\"", "y1")[0];
        assert!(at(1000, "data-y") < bound_y && at(4000, "data-y") < at(1000, "data-y"), "2,100 ms above the 2,000 ms bound, 9,000 ms higher still");
        assert!(svg.contains("sustainable: 2,000 events/s") && svg.contains("out-of-orderness bound, 2,000 ms"));
        assert!(svg.contains("emit latency grew by 4000 ms"), "a probe's tooltip says why it fell behind");
    }
}
