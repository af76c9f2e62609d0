//! `boontadata bench` on a local Kafka broker: every figure comes with its baseline from the same
//! sitting, and the reference engine keeps up with a modest paced rate; its page draws the probes.

mod common;

use boontadata::bench::Bench;
use boontadata::html::colours;
use common::boontadata;
use common::chromium::{self, Shot};

#[test]
fn the_bench_gives_baselines_ratios_and_a_sustainable_rate() {
    let out = common::out_dir("bench");
    let run = boontadata()
        .args([
            "bench",
            "--engines",
            "native:event-time",
            "--messages",
            "5",
            "--probe-secs",
            "8",
            "--from-rate",
            "1000",
            "--max-probes",
            "2",
            "--budget",
            "30m",
            "--json",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let b: Bench = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {stderr}"));
    let base = &b.baselines;
    assert!(base.produce_per_s > 0.0 && base.consume_per_s > 0.0 && base.consume_produce_per_s > 0.0, "{base:?}");
    assert!((5000..5600).contains(&b.events), "the backlog is the scenario's: 1,000 devices × 5 messages, and ~10% resent: {}", b.events);
    assert!(base.result_rows > 1000, "a row per window, device and category: {base:?}");
    assert!(b.simulator_per_s > 0.0);
    let native = &b.engines[0];
    assert!(native.backlog_per_s.is_some(), "native read the backlog to its end: {}", native.backlog_status);
    assert!((1..=2).contains(&native.probes.len()), "{:?}", native.probes);
    assert_eq!(native.probes[0].rate, 1000.0);
    assert!(native.probes[0].kept_up, "native keeps up with 1,000 events/s: {:?}", native.probes[0]);
    assert!(native.sustainable_per_s >= Some(1000.0));
    let folder = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.path()).find(|p| p.join("bench.json").exists()).expect("the bench's folder");
    let text = std::fs::read_to_string(folder.join("bench.txt")).unwrap();
    assert!(text.contains("× bare producer") && text.contains("× bare consume + produce"), "each figure with its ratio:\n{text}");
    assert!(text.contains("budget 30:00, took ") && text.contains("; nothing cut"), "two probes fit half an hour:\n{text}");
    let page = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(page.contains("× bare consume + produce</td>") && page.contains("id=\"sustainable\""), "the bench's page:\n{page}");
    // The probes drawn, as Chromium shows them: the rate found on a kept-up probe, the bound a watermark waits for.
    let (report, profile) = (folder.join("report.html"), folder.join("chromium-profile"));
    assert!(chromium::dom(&report, &profile).contains("<figure id=\"probes-native-event-time\"><svg"), "native's probes are in the DOM");
    let shot = Shot::take(&report, &profile, &folder.join("report.png"), (1280, 1200));
    let everywhere = shot.whole();
    let x = shot.column(everywhere, colours::SUSTAINABLE).expect("the sustainable rate drawn");
    let (_, top, _, bottom) = shot.extent((x, 0, x, 1199), colours::SUSTAINABLE).unwrap();
    assert!(bottom - top > 150, "the sustainable rate, a line across the plot at x = {x}: {top} to {bottom}");
    assert!(shot.count((x - 3, top, x + 3, bottom), colours::KEPT_UP) > 20, "a kept-up probe on the line of the rate found, at x = {x}");
    assert!(shot.count(everywhere, colours::KEPT_UP) > 100 && shot.count(everywhere, colours::BOUND) > 100, "the probes, their legend, the bound");
    // Each topic is deleted once its figure is taken, the engine's own too: what the broker still
    // has of them is marked for deletion (a partition's folder renamed `…-delete`).
    let data = folder.join("kafka-1").join("data");
    let kept: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("__") && !name.ends_with("-delete"))
        .collect();
    assert!(kept.is_empty(), "topics left in {}: {kept:?}", data.display());
}
