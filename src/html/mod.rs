//! The self-contained HTML pages, nothing loaded from the network and no script needed: a matrix's
//! or one run's (`matrix`), a bench's (`bench`), their pictures (`pictures`) inline SVG drawn on one
//! chart code (`charts`: axes, legend, the colour of each cause).

mod bench;
mod charts;
mod matrix;
mod pictures;

pub use bench::bench_page;
pub use charts::cause_colour;
pub use matrix::{render, EngineCode};
pub use pictures::colours;

use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `native event-time` as a part of an element's id: `native-event-time`.
fn slug(s: &str) -> String {
    s.replace(' ', "-")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}\
th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}\
td.pass{background:#d7f5d7}td.partial{background:#fff1c4}td.fail{background:#f8caca}small{color:#555}\
.plots{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-size:13px;color:#444;max-width:560px}\
.code{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1em}pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}";

/// A whole page: its title, its style, `body`.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        esc(title)
    )
}

/// A picture with its id and, under it, `caption` (none if empty).
fn figure(h: &mut String, id: &str, svg: &str, caption: &str) {
    let caption = if caption.is_empty() { String::new() } else { format!("<figcaption>{}</figcaption>", esc(caption)) };
    let _ = writeln!(h, "<figure id=\"{}\">{svg}{caption}</figure>", esc(id));
}

/// A row of plain text cells.
fn table_row(h: &mut String, cells: &[String]) {
    h.push_str("<tr>");
    for c in cells {
        let _ = write!(h, "<td>{}</td>", esc(c));
    }
    h.push_str("</tr>\n");
}
