//! What the report's pictures share: a chart's frame (a title, axes with round ticks and a label
//! each, a legend under the plot), how values map onto an axis (linear, logarithmic, or named
//! bands), the colour of each cause, and the SVG it is all written as. Every mark can carry a class
//! and a tooltip (`<title>`, shown on hover without any script).

use super::esc;
use crate::compare::Cause;
use std::fmt::Write;

/// The colour of each cause, the same in every picture: Okabe and Ito's colour-blind-safe set,
/// then brown and purple for a crash's causes, red and grey for what is not explained.
pub fn cause_colour(c: Cause) -> &'static str {
    match c {
        Cause::Duplicate => "#e69f00",
        Cause::Late => "#56b4e9",
        Cause::OutOfOrder => "#009e73",
        Cause::Overtaken => "#f0e442",
        Cause::Boundary => "#0072b2",
        Cause::EndInclusive => "#cc79a7",
        Cause::LostInCrash => "#8c564b",
        Cause::CountedTwice => "#9467bd",
        Cause::NeverClosed => "#17a589",
        Cause::Unexplained => "#d62728",
        Cause::SearchBudget => "#7f7f7f",
        Cause::UnknownId => "#000000",
    }
}

/// Colours of series that are not causes (a line per scenario), none of them a cause's.
const SERIES: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#17becf", "#bcbd22", "#e377c2", "#393b79", "#843c39"];

pub fn series_colour(i: usize) -> &'static str {
    SERIES[i % SERIES.len()]
}

/// Dark text on a light fill, white on a dark one.
pub fn text_on(fill: &str) -> &'static str {
    let channel = |i: usize| u8::from_str_radix(fill.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0) as f64;
    let luminance = 0.299 * channel(1) + 0.587 * channel(3) + 0.114 * channel(5);
    if luminance > 150.0 {
        "#222"
    } else {
        "#fff"
    }
}

/// How values map onto an axis.
#[derive(Debug, Clone, PartialEq)]
pub enum Scale {
    /// From `lo` to `hi`, marked every `step`.
    Linear {
        lo: f64,
        hi: f64,
        step: f64,
    },
    Log {
        lo: f64,
        hi: f64,
    },
    /// Named bands, the first at the top: band `i` holds the values `i..i + 1`.
    Bands(Vec<String>),
}

impl Scale {
    /// `lo..hi` widened to round ticks (at least `lo..lo + 1`).
    pub fn linear(lo: f64, hi: f64) -> Scale {
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let step = round_step((hi - lo) / 5.0);
        Scale::Linear { lo: (lo / step).floor() * step, hi: (hi / step).ceil() * step, step }
    }

    /// `lo..hi` (both above 0) widened to 1, 2 or 5 times a power of ten.
    pub fn log(lo: f64, hi: f64) -> Scale {
        let (lo, hi) = (lo.max(1e-9), hi.max(lo.max(1e-9) * 1.01));
        let below = ones_twos_fives(lo / 10.0, lo).into_iter().rev().find(|&v| v <= lo * 1.000_001).unwrap_or(lo);
        let above = ones_twos_fives(hi, hi * 10.0).into_iter().find(|&v| v >= hi * 0.999_999).unwrap_or(hi);
        Scale::Log { lo: below, hi: above }
    }

    /// Where `v` is, from 0 (the axis's start) to 1 (its end).
    pub fn at(&self, v: f64) -> f64 {
        match self {
            Scale::Linear { lo, hi, .. } => (v - lo) / (hi - lo),
            Scale::Log { lo, hi } => (v.max(1e-9).ln() - lo.ln()) / (hi.ln() - lo.ln()),
            Scale::Bands(names) => v / names.len().max(1) as f64,
        }
    }

    /// The values to mark on the axis, each with its label.
    fn ticks(&self) -> Vec<(f64, String)> {
        match self {
            Scale::Linear { lo, hi, step } => {
                let n = ((hi - lo) / step).round() as i64;
                (0..=n).map(|i| lo + i as f64 * step).map(|v| (v, number(v))).collect()
            }
            Scale::Log { lo, hi } => {
                let all = ones_twos_fives(*lo, *hi);
                // Over many decades, the powers of ten alone.
                let shown: Vec<f64> = if all.len() > 9 { all.into_iter().filter(|v| (v.log10().round() - v.log10()).abs() < 1e-9).collect() } else { all };
                shown.into_iter().map(|v| (v, number(v))).collect()
            }
            Scale::Bands(_) => Vec::new(),
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn round_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&s| s >= raw * 0.999_999).unwrap_or(10.0 * power)
}

/// The values 1, 2 and 5 times a power of ten from `lo` to `hi`.
fn ones_twos_fives(lo: f64, hi: f64) -> Vec<f64> {
    let mut values = Vec::new();
    let mut power = 10f64.powf(lo.log10().floor() - 1.0);
    while power <= hi * 10.0 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * power;
            if v >= lo * 0.999_999 && v <= hi * 1.000_001 {
                values.push(v);
            }
        }
        power *= 10.0;
    }
    values
}

/// A figure for a person: 1,234,567, 2.5, −300.
pub fn number(v: f64) -> String {
    let sign = if v < 0.0 { "−" } else { "" };
    let a = v.abs();
    let digits = if a >= 1000.0 {
        crate::format::thousands(a)
    } else if (a - a.round()).abs() < 1e-9 {
        format!("{a:.0}")
    } else if a >= 1.0 {
        format!("{a:.1}")
    } else {
        format!("{a:.2}")
    };
    format!("{sign}{digits}")
}

/// An axis: its label (with its unit) and its scale.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
}

impl Dash {
    fn attribute(self) -> &'static str {
        match self {
            Dash::Solid => "",
            Dash::Dashed => " stroke-dasharray=\"7 4\"",
            Dash::Dotted => " stroke-dasharray=\"2 3\"",
        }
    }
}

/// How a legend entry shows what it names.
#[derive(Debug, Clone, Copy)]
pub enum Swatch {
    /// A filled box (a bar).
    Box(&'static str),
    /// A line.
    Line(&'static str, Dash),
    /// A filled dot, a ring, a cross (points).
    Dot(&'static str),
    Ring(&'static str),
    Cross(&'static str),
}

const WIDTH: f64 = 560.0;
const TOP: f64 = 30.0;
const RIGHT: f64 = 16.0;
/// Tick labels and the x axis's label, under the plot.
const UNDER: f64 = 46.0;
const LEGEND_ROW: f64 = 18.0;
/// About how wide a character of the 11–12 px labels is.
const CHAR: f64 = 6.6;

/// A chart under way: its frame, then marks drawn in the axes' values, then the legend.
pub struct Chart {
    title: String,
    x: Axis,
    y: Axis,
    left: f64,
    plot_height: f64,
    marks: String,
    legend: Vec<(Swatch, String)>,
}

impl Chart {
    /// A chart whose plot is `plot_height` pixels high.
    pub fn new(title: &str, x: Axis, y: Axis, plot_height: f64) -> Chart {
        let widest = y.scale.ticks().iter().map(|(_, label)| label.chars().count()).max().unwrap_or(0) as f64;
        let left = if matches!(y.scale, Scale::Bands(_)) { 12.0 } else { 30.0 + widest * CHAR };
        Chart { title: title.into(), x, y, left, plot_height, marks: String::new(), legend: Vec::new() }
    }

    fn plot_width(&self) -> f64 {
        WIDTH - self.left - RIGHT
    }

    /// The pixel column of `v` on the x axis, whole.
    pub fn x(&self, v: f64) -> f64 {
        (self.left + self.x.scale.at(v) * self.plot_width()).round()
    }

    /// The pixel row of `v` on the y axis (bands from the top, values from the bottom), whole.
    pub fn y(&self, v: f64) -> f64 {
        let at = self.y.scale.at(v);
        let from_top = if matches!(self.y.scale, Scale::Bands(_)) { at } else { 1.0 - at };
        (TOP + from_top * self.plot_height).round()
    }

    /// The plot's top and bottom rows.
    pub fn top_bottom(&self) -> (f64, f64) {
        (TOP, TOP + self.plot_height)
    }

    /// The plot's left and right columns.
    pub fn left_right(&self) -> (f64, f64) {
        (self.left, self.left + self.plot_width())
    }

    /// A filled box between two pixel corners.
    pub fn rect(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), fill: &str, attributes: &str, tooltip: &str) {
        let (x, y, w, h) = (x0.min(x1), y0.min(y1), (x1 - x0).abs(), (y1 - y0).abs());
        let _ = writeln!(self.marks, "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{fill}\" {attributes}>{}</rect>", tip(tooltip));
    }

    /// A line between two pixel points.
    pub fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), stroke: &str, width: f64, dash: Dash, attributes: &str) {
        let _ = writeln!(
            self.marks,
            "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{} shape-rendering=\"crispEdges\" {attributes}/>",
            dash.attribute()
        );
    }

    /// A line through pixel points.
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64, attributes: &str) {
        let points: Vec<String> = points.iter().map(|(x, y)| format!("{x},{y}")).collect();
        let _ = writeln!(
            self.marks,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\" stroke-linejoin=\"round\" {attributes}/>",
            points.join(" ")
        );
    }

    /// A point at a pixel position, drawn as its swatch shows it.
    pub fn point(&mut self, (x, y): (f64, f64), swatch: Swatch, attributes: &str, tooltip: &str) {
        let _ = writeln!(self.marks, "<g data-x=\"{x}\" data-y=\"{y}\" {attributes}>{}{}</g>", shape(swatch, x, y, 5.0), tip(tooltip));
    }

    /// Text at a pixel position (`anchor`: start, middle or end).
    pub fn text(&mut self, (x, y): (f64, f64), anchor: &str, fill: &str, text: &str) {
        let _ = writeln!(self.marks, "<text x=\"{x}\" y=\"{y}\" text-anchor=\"{anchor}\" font-size=\"11\" fill=\"{fill}\">{}</text>", esc(text));
    }

    /// An entry of the legend, in the order added.
    pub fn legend(&mut self, swatch: Swatch, label: &str) {
        self.legend.push((swatch, label.into()));
    }

    /// The chart as an `<svg>` element: frame, marks, axes' labels and the legend.
    pub fn svg(self) -> String {
        let plot_bottom = TOP + self.plot_height;
        let (legend, height) = self.legend_svg(plot_bottom);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" role=\"img\" aria-label=\"{}\">\n",
            esc(&self.title)
        );
        let _ = writeln!(s, "<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#fff\"/>");
        let _ = writeln!(s, "<text x=\"{}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{}</text>", self.left, esc(&self.title));
        s.push_str(&self.grid_svg(plot_bottom));
        s.push_str(&self.marks);
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\" shape-rendering=\"crispEdges\"/>",
            self.left,
            self.plot_width(),
            self.plot_height
        );
        s.push_str(&self.axis_labels_svg(plot_bottom));
        s.push_str(&legend);
        s.push_str("</svg>");
        s
    }

    /// The legend, flowing left to right under the x axis's label, in rows; and the chart's height with it.
    fn legend_svg(&self, plot_bottom: f64) -> (String, f64) {
        let mut legend = String::new();
        let (mut lx, mut ly) = (self.left, plot_bottom + UNDER + 12.0);
        for (swatch, label) in &self.legend {
            let width = 26.0 + label.chars().count() as f64 * CHAR + 14.0;
            if lx > self.left && lx + width > WIDTH - 4.0 {
                (lx, ly) = (self.left, ly + LEGEND_ROW);
            }
            let _ = writeln!(
                legend,
                "<g class=\"legend\">{}<text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text></g>",
                shape(*swatch, lx + 9.0, ly - 4.0, 5.0),
                lx + 22.0,
                ly,
                esc(label)
            );
            lx += width;
        }
        let height = if self.legend.is_empty() { plot_bottom + UNDER } else { ly + 10.0 };
        (legend, height)
    }

    /// The grid lines at the axes' ticks, their labels, and the names of a banded axis.
    fn grid_svg(&self, plot_bottom: f64) -> String {
        let mut s = String::new();
        let plot_right = WIDTH - RIGHT;
        for (v, label) in self.x.scale.ticks() {
            let x = self.x(v);
            let _ = writeln!(s, "<line x1=\"{x}\" y1=\"{TOP}\" x2=\"{x}\" y2=\"{plot_bottom}\" stroke=\"#e4e4e4\" shape-rendering=\"crispEdges\"/>");
            let _ = writeln!(s, "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444\">{label}</text>", plot_bottom + 15.0);
        }
        for (v, label) in self.y.scale.ticks() {
            let y = self.y(v);
            let _ = writeln!(s, "<line x1=\"{}\" y1=\"{y}\" x2=\"{plot_right}\" y2=\"{y}\" stroke=\"#e4e4e4\" shape-rendering=\"crispEdges\"/>", self.left);
            let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\" fill=\"#444\">{label}</text>", self.left - 5.0, y + 4.0);
        }
        if let Scale::Bands(names) = &self.y.scale {
            for (i, name) in names.iter().enumerate() {
                let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>", self.left + 4.0, self.y(i as f64) + 14.0, esc(name));
            }
        }
        s
    }

    /// The axes' own labels: under the x axis, and turned along the y axis.
    fn axis_labels_svg(&self, plot_bottom: f64) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
            self.left + self.plot_width() / 2.0,
            plot_bottom + 34.0,
            esc(&self.x.label)
        );
        if !self.y.label.is_empty() {
            let (x, y) = (14.0, TOP + self.plot_height / 2.0);
            let _ = writeln!(
                s,
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 {x} {y})\">{}</text>",
                esc(&self.y.label)
            );
        }
        s
    }
}

/// A tooltip, shown on hover.
fn tip(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("<title>{}</title>", esc(text))
    }
}

/// A swatch's shape centred at `(x, y)`, `r` pixels out.
fn shape(swatch: Swatch, x: f64, y: f64, r: f64) -> String {
    match swatch {
        Swatch::Box(fill) => {
            format!("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"/>", x - r - 1.0, y - r - 1.0, 2.0 * r + 2.0, 2.0 * r + 2.0)
        }
        Swatch::Line(stroke, dash) => {
            format!("<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{stroke}\" stroke-width=\"2\"{}/>", x - 9.0, x + 9.0, dash.attribute())
        }
        Swatch::Dot(fill) => format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"{r}\" fill=\"{fill}\"/>"),
        Swatch::Ring(stroke) => format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"{}\" fill=\"#fff\" stroke=\"{stroke}\" stroke-width=\"2\"/>", r - 1.0),
        Swatch::Cross(stroke) => format!(
            "<path d=\"M{} {}L{} {}M{} {}L{} {}\" stroke=\"{stroke}\" stroke-width=\"3\" stroke-linecap=\"round\"/>",
            x - r,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r,
            x + r,
            y - r
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_axes_widen_to_round_ticks() {
        let labels = |s: &Scale| s.ticks().into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(Scale::linear(0.0, 93.0), Scale::Linear { lo: 0.0, hi: 100.0, step: 20.0 });
        let widened = Scale::linear(-0.3, 21.4);
        assert_eq!(widened, Scale::Linear { lo: -5.0, hi: 25.0, step: 5.0 });
        assert_eq!(labels(&widened), ["−5", "0", "5", "10", "15", "20", "25"], "ticks on the multiples of the step it was widened to");
        assert_eq!(labels(&Scale::linear(0.0, 9000.0)), ["0", "2,000", "4,000", "6,000", "8,000", "10,000"]);
        assert_eq!(Scale::linear(5.0, 5.0), Scale::Linear { lo: 5.0, hi: 6.0, step: 0.2 }, "one value is still an axis");
    }

    #[test]
    fn log_axes_mark_ones_twos_and_fives() {
        let s = Scale::log(1000.0, 3000.0);
        assert_eq!(s, Scale::Log { lo: 1000.0, hi: 5000.0 });
        assert_eq!(s.ticks().into_iter().map(|(_, l)| l).collect::<Vec<_>>(), ["1,000", "2,000", "5,000"]);
        assert!((s.at(2000.0) - (2f64.ln() / 5f64.ln())).abs() < 1e-9);
        let wide: Vec<String> = Scale::log(700.0, 260_000.0).ticks().into_iter().map(|(_, l)| l).collect();
        assert_eq!(wide, ["1,000", "10,000", "100,000"], "over many decades, powers of ten alone");
    }

    #[test]
    fn figures_read_as_a_person_writes_them() {
        assert_eq!((number(-300.0), number(2.5), number(12_000.0), number(0.25)), ("−300".into(), "2.5".into(), "12,000".into(), "0.25".into()));
        assert_eq!((text_on("#f0e442"), text_on("#0072b2")), ("#222", "#fff"));
    }

    #[test]
    fn every_cause_has_a_colour_of_its_own_none_a_series_one() {
        let colours: std::collections::HashSet<&str> = Cause::ALL.iter().map(|&c| cause_colour(c)).collect();
        assert_eq!(colours.len(), Cause::ALL.len());
        assert!(SERIES.iter().all(|s| !colours.contains(s)));
    }
}
