//! The page of a bench: what it ran on, each figure beside its baseline, and each engine mode's
//! sustainable rate, in a table and in a picture of its probes.

use super::{esc, figure, page, pictures, slug, table_row};
use crate::bench::{self, Bench};
use crate::model::Mode;
use std::fmt::Write;

/// The page of a bench: what it ran on, each figure beside its baseline (what, events/s, ratio),
/// each engine mode's sustainable rate (engine mode, rate, probes, latency) and its probes drawn.
pub fn bench_page(b: &Bench) -> String {
    let (rates_heading, rates) = (bench::sustainable_heading(b), bench::sustainable_rates(b));
    let mut h = String::new();
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
        probes(&mut h, b);
    }
    page("boontadata bench", &h)
}

/// A picture per engine mode: its probes' rates against their emit latency.
fn probes(h: &mut String, b: &Bench) {
    h.push_str("<p>Each probe of the search: the events/s it was sent (asked, or what the simulator managed when it was the limit) against its emit latency after the window's end, p99 (p50 below it where known). A probe that fell behind is a cross: its latency grew over the stream, or its job did not end; hover a probe for why. In event time, no window can be emitted before the out-of-orderness bound: the watermark waits that long.</p><div class=\"plots\">\n");
    for e in b.engines.iter().filter(|e| !e.probes.is_empty()) {
        let row = format!("{} {}", e.engine, e.mode);
        let bound = b.out_of_orderness_ms.filter(|_| e.mode == Mode::EventTime);
        let svg = pictures::probes(&format!("{row}: throughput against emit latency"), &e.probes, e.sustainable_per_s.map(|r| (r, e.simulator_bound)), bound);
        figure(h, &format!("probes-{}", slug(&row)), &svg, "");
    }
    h.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_shows_every_figure_with_its_ratio_and_the_sustainable_rates() {
        let page = bench_page(&crate::bench::tests::sample());
        assert!(page.contains("<td>simulator, end to end</td><td>120,000</td><td>0.20 × bare producer</td>"), "{page}");
        assert!(page.contains("<td>native event-time, on the backlog</td><td>100,000</td><td>0.25 × bare consume + produce</td>"), "{page}");
        assert!(page.contains("<td>native event-time</td><td>1,000 events/s, 0.0025 × bare consume + produce</td>"), "{page}");
        assert!(page.contains("2,000 ✗ (emit latency grew by 4000 ms over the stream)"), "{page}");
    }

    #[test]
    fn each_engine_mode_s_probes_are_drawn_with_the_bound_in_event_time() {
        let mut b = crate::bench::tests::sample();
        let picture = |page: &str, id: &str| page.split(&format!("id=\"{id}\"")).nth(1).map(|p| p.split("</figure>").next().unwrap().to_string());
        let page = bench_page(&b);
        let native = picture(&page, "probes-native-event-time").expect("native's probes drawn");
        assert_eq!((native.matches("class=\"probe kept-up\"").count(), native.matches("class=\"probe behind\"").count()), (1, 1));
        assert!(native.contains("class=\"bound\"") && native.contains("class=\"sustainable\""));
        b.engines[0].mode = Mode::ProcessingTime;
        let processing = picture(&bench_page(&b), "probes-native-processing-time").unwrap();
        assert!(!processing.contains("class=\"bound\""), "no watermark in processing time: no bound to draw");
        b.engines[0].probes.clear();
        assert!(!bench_page(&b).contains("<svg"), "no probes, no picture");
    }
}
