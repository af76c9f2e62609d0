//! The comparison by ids held to what it must say of each event missing or extra, and to the
//! rule that a cause must be possible, not only fit.

use super::super::*;
use crate::groups::Whole;
use crate::model::{CrashRecord, Fault, LateDrop};
use crate::truth::tests::{sent, TEN};

/// A row of device "d" naming `ids`, its count and sums those of the events `log` gives them.
fn named(end: i64, ids: &[&str], log: &[SentEvent]) -> ResultRow {
    let m1: i64 = ids.iter().map(|id| log.iter().find(|e| e.id == *id).map_or(0, |e| e.m1)).sum();
    ResultRow {
        engine: "e".into(),
        mode: Mode::EventTime,
        window_end: end,
        device: "d".into(),
        category: "cat-1".into(),
        agg: Aggregate { count: ids.len() as i64, m1_sum: m1, m2_sum: m1 as f64 },
        emissions: 1,
        first_emitted_at: end,
        last_emitted_at: end,
        ids: Some(ids.iter().map(|s| s.to_string()).collect()),
    }
}

/// A job of engine "e" whose rows name their events.
fn job(mode: Mode, crash: Option<CrashRecord>, watermark: WatermarkScope) -> JobRecord {
    JobRecord { ids: true, ..super::super::tests::job(mode, crash, watermark) }
}

/// Device "d" on partition 0, device "o" (another) on partition 1.
fn setting() -> Setting {
    Setting { partitions: [("d".to_string(), 0), ("o".to_string(), 1)].into(), ..Setting::of(5000, Clock::Live) }
}

fn compared(job: &JobRecord, log: &[SentEvent], rows: &[ResultRow]) -> Comparison {
    compare(job, &Whole { events: log, results: rows }, &setting())
}

fn event_time(log: &[SentEvent], rows: &[ResultRow]) -> Comparison {
    compared(&job(Mode::EventTime, None, WatermarkScope::PerPartition), log, rows)
}

/// Each note of `c`'s exceptions: (id, side, cause).
fn notes(c: &Comparison) -> Vec<(&str, Side, Cause)> {
    c.exceptions.iter().flat_map(|e| &e.events).map(|n| (n.id.as_str(), n.side, n.cause)).collect()
}

/// d-0, d-1, d-2 on time in 10:00:05; d-5 at 10:00:07, d-6 at 10:00:12 (its partition passes 10:00:05 + 1 s at d-6).
fn base() -> Vec<SentEvent> {
    vec![
        sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None),
        sent("d-1", "d", TEN + 2000, TEN + 2000, 10, Fault::None),
        sent("d-2", "d", TEN + 3000, TEN + 3000, 5, Fault::None),
        sent("d-5", "d", TEN + 7000, TEN + 7000, 2, Fault::None),
        sent("d-6", "d", TEN + 12_000, TEN + 12_000, 4, Fault::None),
    ]
}

fn exact_rows(log: &[SentEvent]) -> Vec<ResultRow> {
    vec![named(TEN + 5000, &["d-0", "d-1", "d-2"], log), named(TEN + 10_000, &["d-5"], log), named(TEN + 15_000, &["d-6"], log)]
}

#[test]
fn the_same_ids_and_sums_are_exact() {
    let log = base();
    let c = event_time(&log, &exact_rows(&log));
    assert!(c.by_ids);
    assert_eq!((c.rows, c.exceptions.len()), (3, 0), "{:?}", c.exceptions);
}

#[test]
fn a_duplicate_counted_is_named_with_its_resend() {
    let mut log = base();
    log.push(sent("d-0", "d", TEN + 1000, TEN + 4000, 33, Fault::Duplicate));
    let mut rows = exact_rows(&log);
    rows[0] = named(TEN + 5000, &["d-0", "d-1", "d-2", "d-0"], &log);
    let c = event_time(&log, &rows);
    assert_eq!(notes(&c), [("d-0", Side::Extra, Cause::Duplicate)]);
    assert_eq!(c.exceptions[0].why, "1 duplicate counted (#0: resent 3.0 s after its first send, counted again)");
}

#[test]
fn a_late_event_dropped_behind_its_partition_is_late() {
    let mut log = base();
    // Sent after d-6 (10:00:12): its partition had passed 10:00:05 and the 1 s bound.
    log.push(sent("d-3", "d", TEN + 4000, TEN + 130_000, 49, Fault::Late));
    let c = event_time(&log, &exact_rows(&log));
    assert_eq!(notes(&c), [("d-3", Side::Missing, Cause::Late)]);
    assert_eq!(c.exceptions[0].why, "1 late event dropped (#3: 126 s late, past the bound)");
    assert_eq!(c.exceptions[0].truth.as_ref().map(|t| t.count), Some(4));
}

#[test]
fn an_out_of_order_event_held_back_within_the_bound_cannot_have_been_dropped_as_late() {
    // The new user's engine: an event held back 667 ms (under the 1 s bound), dropped by a bug.
    let mut log = base();
    log.insert(3, sent("d-3", "d", TEN + 4500, TEN + 5167, 7, Fault::OutOfOrder));
    let c = event_time(&log, &exact_rows(&log));
    assert_eq!(notes(&c), [("d-3", Side::Missing, Cause::Unexplained)]);
    assert!(
        c.exceptions[0].why.contains("held back 0.7 s, but no watermark of this engine could have passed its window when it came"),
        "{}",
        c.exceptions[0].why
    );
    assert!(c.verdict().contains("UNEXPLAINED"));
}

#[test]
fn an_out_of_order_event_held_back_past_the_bound_is_out_of_order() {
    let mut log = base();
    log.push(sent("d-3", "d", TEN + 4500, TEN + 12_500, 7, Fault::OutOfOrder));
    let c = event_time(&log, &exact_rows(&log));
    assert_eq!(notes(&c), [("d-3", Side::Missing, Cause::OutOfOrder)]);
}

#[test]
fn an_on_time_event_dropped_is_unexplained_and_named() {
    let log = base();
    let mut rows = exact_rows(&log);
    rows[0] = named(TEN + 5000, &["d-0", "d-2"], &log);
    let c = event_time(&log, &rows);
    assert_eq!(notes(&c), [("d-1", Side::Missing, Cause::Unexplained)]);
    assert_eq!(c.exceptions[0].why, "1 event missing, UNEXPLAINED (#1: on time, counted nowhere)");
    assert_eq!(c.unexplained(), 1);
    let text = render(&c, None);
    assert!(
        text.contains("     missing  d-1  dt 1970-01-01 10:00:02.000  sent 1970-01-01 10:00:02.000  none          unexplained: on time, counted nowhere"),
        "{text}"
    );
}

#[test]
fn a_difference_the_sums_hide_is_found_by_ids() {
    // Two events of m1 = 5 swapped between windows: the sums agree, the ids do not.
    let log = vec![sent("d-0", "d", TEN + 1000, TEN + 1000, 5, Fault::None), sent("d-1", "d", TEN + 6000, TEN + 6000, 5, Fault::None)];
    let rows = [named(TEN + 5000, &["d-1"], &log), named(TEN + 10_000, &["d-0"], &log)];
    let c = event_time(&log, &rows);
    assert_eq!(c.exceptions.len(), 2);
    assert!(c.exceptions.iter().all(|e| e.causes == [Cause::Unexplained]), "{:?}", c.exceptions);
}

#[test]
fn a_shifted_window_is_unexplained_in_event_time() {
    let log = base();
    let rows = [named(TEN + 10_000, &["d-0", "d-1", "d-2"], &log), named(TEN + 15_000, &["d-5"], &log), named(TEN + 20_000, &["d-6"], &log)];
    let c = event_time(&log, &rows);
    assert!(notes(&c).iter().all(|n| n.2 == Cause::Unexplained), "{:?}", notes(&c));
    assert_eq!(notes(&c).len(), 10);
}

#[test]
fn an_event_at_a_windows_end_counted_in_it_is_end_inclusive_only_where_the_engine_declares_it() {
    let mut log = base();
    log.push(sent("d-4", "d", TEN + 5000, TEN + 5000, 8, Fault::None));
    let rows = [named(TEN + 5000, &["d-0", "d-1", "d-2", "d-4"], &log), named(TEN + 10_000, &["d-5"], &log), named(TEN + 15_000, &["d-6"], &log)];
    let declared = JobRecord { end_inclusive: true, ..job(Mode::EventTime, None, WatermarkScope::PerPartition) };
    let c = compared(&declared, &log, &rows);
    assert_eq!(notes(&c), [("d-4", Side::Extra, Cause::EndInclusive), ("d-4", Side::Missing, Cause::EndInclusive)]);
    let c = event_time(&log, &rows);
    assert!(notes(&c).iter().all(|n| n.2 == Cause::Unexplained));
}

#[test]
fn in_send_time_a_message_counted_a_window_later_crossed_the_boundary() {
    let mut log = base();
    log.push(sent("d-4", "d", TEN + 4990, TEN + 4990, 8, Fault::None));
    // Its resend, in the window it was counted in, is not what was counted there: the first send crossed.
    log.push(sent("d-4", "d", TEN + 4990, TEN + 6000, 8, Fault::Duplicate));
    let mut rows = exact_rows(&log);
    rows[1] = named(TEN + 10_000, &["d-5", "d-4"], &log);
    let c = compared(&job(Mode::ProcessingTime, None, WatermarkScope::PerPartition), &log, &rows);
    assert_eq!(notes(&c), [("d-4", Side::Missing, Cause::Boundary), ("d-4", Side::Extra, Cause::Boundary)]);
    assert!(c.exceptions[0].why.contains("#4: sent 10 ms before its window's end, counted 1 window later"), "{}", c.exceptions[0].why);
}

#[test]
fn in_send_time_an_engine_that_read_far_behind_counts_as_many_windows_late_as_it_lagged() {
    let mut log = base();
    log.push(sent("d-4", "d", TEN + 4990, TEN + 4990, 8, Fault::None));
    let mut rows = exact_rows(&log);
    rows.push(named(TEN + 100_000, &["d-4"], &log));
    let lagging = |end_of_stream| JobRecord { end_of_stream_window: end_of_stream, ..job(Mode::ProcessingTime, None, WatermarkScope::PerPartition) };
    // Its end-of-stream row, 93 s after the last send: it read the stream 19 windows behind, past the search of sums' 16.
    let c = compared(&lagging(Some(TEN + 105_000)), &log, &rows);
    assert_eq!(notes(&c), [("d-4", Side::Missing, Cause::Boundary), ("d-4", Side::Extra, Cause::Boundary)]);
    assert!(c.exceptions[0].why.contains("counted 19 windows later"), "{}", c.exceptions[0].why);
    let c = compared(&lagging(None), &log, &rows);
    assert_eq!(notes(&c), [("d-4", Side::Missing, Cause::Unexplained), ("d-4", Side::Extra, Cause::Unexplained)]);
}

#[test]
fn an_id_the_stream_never_had_and_a_row_without_ids_are_named_not_explained() {
    let log = base();
    let mut rows = exact_rows(&log);
    rows[0] = named(TEN + 5000, &["d-0", "d-1", "d-2", "x-9"], &log);
    rows[1].ids = None;
    let c = event_time(&log, &rows);
    assert_eq!(c.exceptions.len(), 2);
    assert_eq!(c.exceptions[0].causes, [Cause::UnknownId]);
    assert!(c.exceptions[0].why.contains("1 unknown id counted (x-9: an id the stream never had)"), "{}", c.exceptions[0].why);
    assert_eq!(c.exceptions[1].why, "the row names no ids (it counts 1)");
    assert_eq!(c.not_explained(), 2);
    assert!(c.verdict().contains("2 naming ids the stream never had"), "{}", c.verdict());
}

#[test]
fn a_row_whose_count_is_not_its_ids_says_so() {
    let log = base();
    let mut rows = exact_rows(&log);
    rows[0].agg.count = 4;
    let c = event_time(&log, &rows);
    assert_eq!(c.exceptions[0].why, "the row counts 4 events but names 3");
    assert_eq!(c.unexplained(), 1);
}

#[test]
fn a_crash_loses_what_was_sent_before_the_engine_read_again_and_doubles_what_was_sent_before_the_kill() {
    let log = base();
    let crash = CrashRecord { killed_at: TEN + 2500, restarted_at: TEN + 6000, ready_again_at: Some(TEN + 6500), node: None, stalled: false };
    let rows = [named(TEN + 5000, &["d-0", "d-1", "d-0"], &log), named(TEN + 10_000, &["d-5"], &log), named(TEN + 15_000, &["d-6"], &log)];
    let c = compared(&job(Mode::EventTime, Some(crash), WatermarkScope::PerPartition), &log, &rows);
    assert_eq!(notes(&c), [("d-2", Side::Missing, Cause::LostInCrash), ("d-0", Side::Extra, Cause::CountedTwice)]);
    assert_eq!((c.exceptions[0].lost, c.exceptions[0].doubled), (1, 1));
}

#[test]
fn an_on_time_event_is_overtaken_only_by_a_watermark_over_other_partitions() {
    // "o" on partition 1 runs 20 s ahead; d-2 of partition 0 was dropped.
    let mut log = base();
    log.push(sent("o-0", "o", TEN + 22_000, TEN + 2500, 1, Fault::None));
    let mut rows = exact_rows(&log);
    rows[0] = named(TEN + 5000, &["d-0", "d-1"], &log);
    let ahead = |r: &mut Vec<ResultRow>| r.push(ResultRow { device: "o".into(), ..named(TEN + 25_000, &["o-0"], &log) });
    ahead(&mut rows);
    let storm = compared(&job(Mode::EventTime, None, WatermarkScope::AllPartitions), &log, &rows);
    assert_eq!(notes(&storm), [("d-2", Side::Missing, Cause::Overtaken)]);
    assert_eq!(storm.exceptions[0].overtaken, 1);
    let per_partition = event_time(&log, &rows);
    assert_eq!(notes(&per_partition), [("d-2", Side::Missing, Cause::Unexplained)]);
}

#[test]
fn an_on_time_event_read_after_its_window_closed_on_the_wall_clock_is_overtaken() {
    // The stream reached 10:00:05 + 1 s on partition 1 (o-0) 3.5 s after d-2 was sent: a job reading
    // that far behind finds the wall clock has closed d-2's window.
    let mut log = base();
    log.push(sent("o-0", "o", TEN + 6500, TEN + 6500, 1, Fault::None));
    let mut rows = exact_rows(&log);
    rows[0] = named(TEN + 5000, &["d-0", "d-1"], &log);
    rows.push(ResultRow { device: "o".into(), ..named(TEN + 10_000, &["o-0"], &log) });
    let faust = compared(&job(Mode::EventTime, None, WatermarkScope::WallClock), &log, &rows);
    assert_eq!(notes(&faust), [("d-2", Side::Missing, Cause::Overtaken)]);
    let detail = &faust.exceptions[0].events[0].detail;
    assert!(detail.contains("read at least 3500 ms after it was sent, once the wall clock had passed its window"), "{detail}");
    assert_eq!(notes(&event_time(&log, &rows)), [("d-2", Side::Missing, Cause::Unexplained)], "a watermark of its own partition had not passed it");
}

#[test]
fn a_partition_silent_past_the_idle_timeout_lets_a_per_active_partition_watermark_go_on() {
    let log = vec![
        sent("d-0", "d", TEN + 500, TEN + 500, 2, Fault::None),
        sent("o-0", "o", TEN + 1000, TEN + 1000, 1, Fault::None),
        sent("o-1", "o", TEN + 20_000, TEN + 2000, 1, Fault::None),
        // d's partition silent 10.5 s before d-1, while o's had gone on to 10:00:20.
        sent("d-1", "d", TEN + 3000, TEN + 11_000, 33, Fault::None),
    ];
    let of_o = |end, ids: &[&str]| ResultRow { device: "o".into(), ..named(end, ids, &log) };
    let rows = [named(TEN + 5000, &["d-0"], &log), of_o(TEN + 5000, &["o-0"]), of_o(TEN + 25_000, &["o-1"])];
    let native = compared(&job(Mode::EventTime, None, WatermarkScope::PerActivePartition), &log, &rows);
    assert_eq!(notes(&native), [("d-1", Side::Missing, Cause::Overtaken)]);
    assert!(native.exceptions[0].why.contains("its partition 0 silent 10.5 s before it"), "{}", native.exceptions[0].why);
    let waits = event_time(&log, &rows);
    assert_eq!(notes(&waits), [("d-1", Side::Missing, Cause::Unexplained)]);
}

#[test]
fn the_engines_own_drop_count_is_set_beside_the_ids_found_missing() {
    let mut log = base();
    log.push(sent("d-3", "d", TEN + 4000, TEN + 130_000, 49, Fault::Late));
    // Its resend, dropped as late too by an engine that checks lateness first.
    log.push(sent("d-3", "d", TEN + 4000, TEN + 131_000, 49, Fault::Duplicate));
    let reporting = |n| {
        let s = Setting { late_dropped: Some(n), ..setting() };
        compare(&job(Mode::EventTime, None, WatermarkScope::PerPartition), &Whole { events: &log, results: &exact_rows(&log) }, &s)
    };
    assert_eq!(reporting(2).dropped, Some(Dropped { reported: 2, found: 1, late_resends: 1 }));
    for agreeing in [1, 2] {
        assert!(!render(&reporting(agreeing), None).contains("the engine says"), "{agreeing} dropped: the ids, with or without the late resend");
    }
    assert!(render(&reporting(3), None)
        .contains("the engine says it dropped 3 events as late; 1 ids are missing as late, out of order or overtaken, and 1 resends came after"));
}

#[test]
fn every_event_of_an_exception_is_a_json_line() {
    let log = base();
    let mut rows = exact_rows(&log);
    rows[0] = named(TEN + 5000, &["d-0"], &log);
    let c = event_time(&log, &rows);
    let mut out = String::new();
    event_lines(&c, &mut out);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0]["id"].as_str(), lines[0]["side"].as_str(), lines[0]["cause"].as_str()), (Some("d-1"), Some("missing"), Some("unexplained")));
    assert_eq!(lines[1]["window_end"].as_i64(), Some(TEN + 5000));
}

#[test]
fn an_engine_that_drops_resends_cannot_have_counted_one() {
    let mut log = base();
    log.push(sent("d-0", "d", TEN + 1000, TEN + 4000, 33, Fault::Duplicate));
    let mut rows = exact_rows(&log);
    rows[0] = named(TEN + 5000, &["d-0", "d-1", "d-2", "d-0"], &log);
    let dedup = JobRecord { dedup: true, ..job(Mode::EventTime, None, WatermarkScope::PerPartition) };
    let c = compared(&dedup, &log, &rows);
    assert_eq!(notes(&c), [("d-0", Side::Extra, Cause::Unexplained)]);
    assert!(c.exceptions[0].why.contains("counted twice, resent, but the engine drops resends"), "{}", c.exceptions[0].why);
}

#[test]
fn the_end_of_stream_flush_lets_a_watermark_over_all_partitions_pass_the_last_window() {
    // d-6 of the last window dropped: no event reaches 10:00:15 + 1 s, the flush does, after the last send.
    let log = base();
    let rows = [named(TEN + 5000, &["d-0", "d-1", "d-2"], &log), named(TEN + 10_000, &["d-5"], &log)];
    let storm = compared(&job(Mode::EventTime, None, WatermarkScope::AllPartitions), &log, &rows);
    assert_eq!(notes(&storm), [("d-6", Side::Missing, Cause::Overtaken)]);
    assert!(storm.exceptions[0].why.contains("read at least 1 ms behind the others"), "{}", storm.exceptions[0].why);
    assert_eq!(notes(&event_time(&log, &rows)), [("d-6", Side::Missing, Cause::Unexplained)]);
}

#[test]
fn an_engine_that_drops_what_is_behind_its_watermark_may_drop_an_event_of_a_window_still_open() {
    // d-3 held back 2.7 s, sent before the window's end + 1 s: after its window only, it cannot
    // have been dropped; behind the watermark (10:00:04.5 + 1 s, passed by d-4 at 10:00:05.6), it can.
    let mut log = base();
    log.insert(3, sent("d-4", "d", TEN + 5600, TEN + 5600, 1, Fault::None));
    log.insert(4, sent("d-3", "d", TEN + 2500, TEN + 5700, 7, Fault::OutOfOrder));
    let rows = [named(TEN + 5000, &["d-0", "d-1", "d-2"], &log), named(TEN + 10_000, &["d-4", "d-5"], &log), named(TEN + 15_000, &["d-6"], &log)];
    assert_eq!(notes(&event_time(&log, &rows)), [("d-3", Side::Missing, Cause::Unexplained)]);
    let spark = JobRecord { late_drop: LateDrop::BehindTheWatermark, ..job(Mode::EventTime, None, WatermarkScope::PerPartition) };
    assert_eq!(notes(&compared(&spark, &log, &rows)), [("d-3", Side::Missing, Cause::OutOfOrder)]);
}

#[test]
fn a_watermark_on_the_wall_clock_drops_what_a_job_reads_behind_by_no_more_than_it_may_have_lagged() {
    // d-1, 100 ms late, within the bound: its partition passes 10:00:01.5 + 1 s only at d-6, 10.4 s
    // after it was sent. Dropped by a key's watermark that goes on with the wall clock only if the
    // job read it that far behind: as far as its rows came after their windows' ends, beyond the
    // bound, and a window more.
    let log = [
        sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None),
        sent("d-1", "d", TEN + 1500, TEN + 1600, 7, Fault::Late),
        sent("d-6", "d", TEN + 12_000, TEN + 12_000, 4, Fault::None),
    ];
    let rows = [named(TEN + 5000, &["d-0"], &log), named(TEN + 15_000, &["d-6"], &log)];
    let bytewax = JobRecord { late_drop: LateDrop::BehindTheWatermark, ..job(Mode::EventTime, None, WatermarkScope::PerKeyWallClock) };
    assert_eq!(notes(&compared(&bytewax, &log, &rows)), [("d-1", Side::Missing, Cause::Unexplained)], "a job that kept up");
    let lagging: Vec<ResultRow> = rows.iter().map(|r| ResultRow { first_emitted_at: r.window_end + 7000, ..r.clone() }).collect();
    let c = compared(&bytewax, &log, &lagging);
    assert_eq!(notes(&c), [("d-1", Side::Missing, Cause::Overtaken)]);
    assert!(
        c.exceptions[0].events[0].detail.contains("read at least 10400 ms after it was sent (the job may have lagged 11000 ms)"),
        "{:?}",
        c.exceptions[0].events[0]
    );
    // Sent before the job read again after a crash: the crash's, however far behind it read.
    let crash = CrashRecord { killed_at: TEN + 1200, restarted_at: TEN + 6000, ready_again_at: Some(TEN + 6500), node: None, stalled: false };
    let crashed = JobRecord { crash: Some(crash), ..bytewax };
    assert_eq!(notes(&compared(&crashed, &log, &lagging)), [("d-1", Side::Missing, Cause::LostInCrash)]);
}

#[test]
fn a_window_its_key_never_closed_is_never_closed_only_for_a_per_key_engine() {
    let log = base();
    let mut rows = exact_rows(&log);
    rows.pop(); // d-6, at 10:00:12, the device's latest: nothing of "d" passed 10:00:15 + 1 s
    let per_key = compared(&job(Mode::EventTime, None, WatermarkScope::PerKey), &log, &rows);
    assert_eq!(notes(&per_key), [("d-6", Side::Missing, Cause::NeverClosed)]);
    assert_eq!(
        per_key.exceptions[0].why,
        "1 event in a window its key never closed (#6: its device's latest time stops 4.0 s short of its window's end and the bound: no later event of its key closed it)"
    );
    assert_eq!(notes(&event_time(&log, &rows)), [("d-6", Side::Missing, Cause::Unexplained)], "a watermark per partition closes it");
}

#[test]
fn a_window_its_key_passed_was_closed() {
    let log = base();
    let mut rows = exact_rows(&log);
    rows.remove(1); // d-5 of 10:00:10, which d-6 at 10:00:12 closed
    let per_key = compared(&job(Mode::EventTime, None, WatermarkScope::PerKey), &log, &rows);
    assert_eq!(notes(&per_key), [("d-5", Side::Missing, Cause::Unexplained)]);
}

#[test]
fn a_window_its_key_never_closed_is_not_one_its_partition_passed() {
    let mut log = base();
    log.push(sent("o-0", "o", TEN + 30_000, TEN + 12_000, 1, Fault::None));
    let mut rows = exact_rows(&log);
    rows.pop();
    let setting = Setting { partitions: [("d".to_string(), 0), ("o".to_string(), 0)].into(), ..Setting::of(5000, Clock::Live) };
    let per_key = compare(&job(Mode::EventTime, None, WatermarkScope::PerKey), &Whole { events: &log, results: &rows }, &setting);
    assert_eq!(
        notes(&per_key).iter().filter(|n| n.0 == "d-6").collect::<Vec<_>>(),
        [&("d-6", Side::Missing, Cause::NeverClosed)],
        "another device of its partition went past it"
    );
}
