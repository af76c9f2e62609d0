//! The comparison held to what it must say of each kind of difference.

use super::explain::Combinations;
use super::*;
use crate::groups::Whole;
use crate::model::{CrashRecord, Fault, LateDrop};
use crate::truth::tests::{sent, TEN};

fn result(end: i64, device: &str, count: i64, m1: i64) -> ResultRow {
    ResultRow {
        engine: "e".into(),
        mode: Mode::EventTime,
        window_end: end,
        device: device.into(),
        category: "cat-1".into(),
        agg: Aggregate { count, m1_sum: m1, m2_sum: m1 as f64 },
        emissions: 1,
        first_emitted_at: end,
        last_emitted_at: end,
        ids: None,
    }
}

/// A job of engine "e", compared by sums.
pub(super) fn job(mode: Mode, crash: Option<CrashRecord>, watermark: WatermarkScope) -> JobRecord {
    JobRecord {
        engine: "e".into(),
        mode,
        status: None,
        log: "e.log".into(),
        crash,
        watermark,
        end_of_stream_window: None,
        ids: false,
        end_inclusive: false,
        dedup: false,
        lateness: true,
        late_drop: LateDrop::AfterItsWindow,
        after_crash: None,
    }
}

/// `mode`'s comparison of `results` for an engine that kept its watermark per partition, after `crash`.
fn compared(mode: Mode, log: &[SentEvent], results: &[ResultRow], crash: Option<CrashRecord>) -> Comparison {
    compare(&job(mode, crash, WatermarkScope::PerPartition), &Whole { events: log, results }, &Setting::of(5000, Clock::Live))
}

fn run(mode: Mode, log: &[SentEvent], results: &[ResultRow]) -> Comparison {
    compared(mode, log, results, None)
}

fn base() -> Vec<SentEvent> {
    vec![
        sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None),
        sent("d-1", "d", TEN + 2000, TEN + 2000, 10, Fault::None),
        sent("d-2", "d", TEN + 3000, TEN + 3000, 5, Fault::None),
    ]
}

#[test]
fn exact_results_have_no_exception() {
    let c = run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 3, 48)]);
    assert_eq!((c.rows, c.exceptions.len()), (1, 0));
    assert_eq!(c.verdict(), "e event-time: 1/1 windows exact");
}

#[test]
fn a_counted_duplicate_is_explained() {
    let mut log = base();
    log.push(sent("d-0", "d", TEN + 1000, TEN + 4000, 33, Fault::Duplicate));
    let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 4, 81)]);
    assert_eq!(c.exceptions[0].causes, vec![Cause::Duplicate]);
    assert_eq!(c.exceptions[0].why, "1 duplicate counted (m1=33)");
}

#[test]
fn a_dropped_late_event_is_explained_even_when_its_window_is_missing() {
    let mut log = base();
    log.push(sent("d-3", "d", TEN - 130_000, TEN + 4000, 49, Fault::Late));
    let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 3, 48)]);
    assert_eq!(c.exceptions.len(), 1);
    let e = &c.exceptions[0];
    assert!(e.result.is_none());
    assert_eq!(e.why, "1 late event dropped (m1=49, 134 s late)");
    assert!(c.verdict().contains("all explained (1 late)"), "{}", c.verdict());
}

#[test]
fn on_a_virtual_clock_lateness_is_read_on_the_device_clock_not_the_wall() {
    // Device times from a virtual epoch years back, sent now, unpaced: 1 ms apart on the wall.
    // Late by 5 s: sent after its device's message at TEN + 7000; out of order by 1.5 s.
    const WALL: i64 = TEN + 10 * 365 * 86_400_000;
    let at = |dt: i64, k: i64, m1: i64, fault: Fault| sent(&format!("d-{k}"), "d", dt, WALL + k, m1, fault);
    let log = vec![
        at(TEN + 1000, 0, 33, Fault::None),
        at(TEN + 7000, 1, 10, Fault::None),
        at(TEN + 2000, 2, 49, Fault::Late),
        at(TEN + 5500, 3, 5, Fault::OutOfOrder),
        at(TEN + 9000, 4, 1, Fault::None),
    ];
    let rows = [result(TEN + 5000, "d", 1, 33), result(TEN + 10_000, "d", 2, 11)];
    let c = compare(&job(Mode::EventTime, None, WatermarkScope::PerPartition), &Whole { events: &log, results: &rows }, &Setting::of(5000, Clock::Virtual));
    let why: Vec<&str> = c.exceptions.iter().map(|e| e.why.as_str()).collect();
    assert_eq!(why, ["1 late event dropped (m1=49, 5 s late)", "1 out-of-order event dropped (m1=5, sent 1.5 s after its time)"]);
}

#[test]
fn a_dropped_out_of_order_event_is_explained() {
    let mut log = base();
    log.push(sent("d-3", "d", TEN + 4500, TEN + 6900, 7, Fault::OutOfOrder));
    let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 3, 48)]);
    assert_eq!(c.exceptions[0].causes, vec![Cause::OutOfOrder]);
    assert!(c.exceptions[0].why.starts_with("1 out-of-order event dropped (m1=7"));
}

#[test]
fn events_crossing_a_window_boundary_are_explained_in_send_time() {
    let mut log = base();
    log.push(sent("d-3", "d", TEN + 4990, TEN + 4990, 7, Fault::None));
    log.push(sent("d-4", "d", TEN + 6000, TEN + 6000, 1, Fault::None));
    // The engine saw d-3 after 10:00:05 and counted it in the next window.
    let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), result(TEN + 10_000, "d", 2, 8)]);
    assert_eq!(c.exceptions.len(), 2);
    assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::Boundary]));
    assert_eq!(c.exceptions[0].why, "1 event sent in the last 10 ms counted in a later window (m1=7)");
    assert_eq!(c.exceptions[1].why, "1 event sent in the 10 ms before this window counted here (m1=7)");
}

#[test]
fn a_timer_that_fires_late_counts_the_first_messages_sent_after_the_phase_end() {
    // Storm on `disorder`: its timer closed the window 8 ms past the phase's end (10:00:10.008), holding
    // d-2, sent 4 ms past it; the truth has d-2 in the next window. d-0 pins the phase on the multiples.
    let mut log = vec![
        sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None),
        sent("d-1", "d", TEN + 7000, TEN + 7000, 3, Fault::None),
        sent("d-2", "d", TEN + 10_004, TEN + 10_004, 83, Fault::None),
    ];
    let late_timer = [result(TEN + 5000, "d", 1, 33), result(TEN + 10_008, "d", 2, 86)];
    let c = run(Mode::ProcessingTime, &log, &late_timer);
    assert_eq!((c.window_phase_ms, c.rows), (0, 3));
    assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::Boundary]), "{:?}", c.exceptions);
    assert_eq!(c.exceptions[0].why, "1 event sent up to 4 ms after this window's end counted here, timer late (m1=83)");
    assert_eq!(c.exceptions[1].why, "1 event sent in the first 4 ms counted in the window before, timer late (m1=83)");
    // Sent after the end the engine gave its window, it cannot be in it: still an engine's error.
    log[2] = sent("d-2", "d", TEN + 10_012, TEN + 10_012, 83, Fault::None);
    let c = run(Mode::ProcessingTime, &log, &late_timer);
    assert_eq!(c.exceptions[0].causes, vec![Cause::Unexplained], "{:?}", c.exceptions);
}

#[test]
fn a_micro_batch_longer_than_a_window_moves_events_several_windows_on() {
    let mut log = base();
    log.push(sent("d-3", "d", TEN + 4000, TEN + 4000, 7, Fault::None));
    log.push(sent("d-4", "d", TEN + 12_000, TEN + 12_000, 1, Fault::None));
    // One batch read d-3 at 10:00:04 + 7 s, with d-4: both in the window ending 10:00:15.
    let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), result(TEN + 15_000, "d", 2, 8)]);
    assert_eq!(c.unexplained(), 0, "{:?}", c.exceptions);
    assert_eq!(c.exceptions[1].why, "1 event sent in the 6000 ms before this window counted here (m1=7)");

    // d-5, sent after d-3, was read by the batch after: it went one window further.
    log.push(sent("d-5", "d", TEN + 4500, TEN + 4500, 20, Fault::None));
    let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), result(TEN + 15_000, "d", 2, 8), result(TEN + 20_000, "d", 1, 20)]);
    assert_eq!(c.unexplained(), 0, "{:?}", c.exceptions);
}

#[test]
fn an_engine_that_lags_may_count_a_message_as_many_windows_on_as_it_lags() {
    let mut log = base();
    log.push(sent("d-3", "d", TEN + 4000, TEN + 4000, 7, Fault::None));
    log.push(sent("d-4", "d", TEN + 32_000, TEN + 32_000, 1, Fault::None));
    // d-3 read 28 s late, with d-4: six windows on. The engine emitted that window 8 s after its end.
    let late_row = ResultRow { first_emitted_at: TEN + 43_000, ..result(TEN + 35_000, "d", 2, 8) };
    let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), late_row.clone()]);
    assert_eq!(c.unexplained(), 1, "emitting 8 s late does not make 28 s of lag plausible: {:?}", c.exceptions);
    let lagging = ResultRow { first_emitted_at: TEN + 63_000, ..late_row };
    let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), lagging]);
    assert_eq!(c.unexplained(), 0, "an engine that emits 28 s late can read 28 s late: {:?}", c.exceptions);
}

#[test]
fn in_a_burst_the_last_sent_cross_first_even_within_one_millisecond() {
    let mut log = base();
    for (i, m1) in [(3, 7), (4, 1), (5, 40)] {
        log.push(sent(&format!("d-{i}"), "d", TEN + 4999, TEN + 4999, m1, Fault::None));
    }
    // The last two sent (m1 = 1 and 40), in the same millisecond as m1 = 7, crossed.
    let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 4, 55), result(TEN + 10_000, "d", 2, 41)]);
    assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::Boundary]), "{:?}", c.exceptions);
}

#[test]
fn combinations_are_every_subset_of_one_size() {
    let all: Vec<Vec<usize>> = Combinations::new(4, 2).collect();
    assert_eq!(all, vec![vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]);
    assert_eq!(Combinations::new(3, 0).collect::<Vec<_>>(), vec![Vec::<usize>::new()]);
    assert_eq!(Combinations::new(2, 3).count(), 0);
}

#[test]
fn a_whole_window_moved_on_by_a_slow_first_batch_is_explained() {
    // A device's first 30 messages, sent in the window ending 10:00:05, and 30 in the next:
    // the first micro-batch started after 10:00:05 and every message landed one window on.
    let mut log = base();
    for i in 0..60 {
        let at = TEN + 5000 + 150 * i - 4600;
        log.push(sent(&format!("e-{i}"), "e", at, at, 1 + i * 7 % 97, Fault::None));
    }
    let sum = |range: std::ops::Range<i64>| range.map(|i| 1 + i * 7 % 97).sum::<i64>();
    let (first, second) = (sum(0..31), sum(31..60));
    let c = run(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 3, 48), result(TEN + 10_000, "e", 31, first), result(TEN + 15_000, "e", 29, second)]);
    assert_eq!(c.unexplained(), 0, "{:#?}", c.exceptions);
    assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::Boundary]), "{:#?}", c.exceptions);
}

#[test]
fn a_difference_no_fault_accounts_for_is_unexplained() {
    let c = run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 3, 47)]);
    assert_eq!(c.exceptions[0].causes, vec![Cause::Unexplained]);
    assert_eq!(c.unexplained(), 1);
    assert!(c.verdict().contains("1 of 1 exceptions UNEXPLAINED"));
    // A window the truth never had is unexplained too.
    let c = run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 3, 48), result(TEN + 5000, "ghost", 1, 1)]);
    assert_eq!((c.rows, c.unexplained()), (2, 1));
}

#[test]
fn several_causes_in_one_window_are_all_named() {
    let mut log = base();
    log.push(sent("d-0", "d", TEN + 1000, TEN + 4000, 33, Fault::Duplicate));
    log.push(sent("d-3", "d", TEN + 4000, TEN + 200_000, 20, Fault::Late));
    // Counted the duplicate, dropped the late one.
    let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 4, 81)]);
    assert_eq!(c.exceptions[0].causes, vec![Cause::Duplicate, Cause::Late]);
}

#[test]
fn the_flush_device_is_ignored_and_the_output_keeps_the_original_shape() {
    let c = run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 3, 40), result(TEN + 9000, FLUSH_DEVICE, 1, 0)]);
    assert_eq!(c.rows, 1);
    let text = render(&c, None);
    assert!(text.contains("Comparing ingest device and downstream for m1_sum\n1 exceptions out of 1\nExceptions are:\n"), "{text}");
    assert_eq!(render(&c, Some(1)), text, "all shown: nothing more to say");
    let first_none = render(&c, Some(0));
    assert!(first_none.contains(" … and 1 more (all of them in the run's compare.txt)\n") && !first_none.contains("10:00:05"), "{first_none}");
    assert!(text.contains("1970-01-01 10:00:05"), "{text}");
    assert!(text.contains("m1_sum_ingest_devicetime"));
}

/// Four events of one window, sent a second apart; the engine killed after the third was sent.
fn crashed() -> (Vec<SentEvent>, CrashRecord) {
    let mut log = base();
    log.push(sent("d-3", "d", TEN + 4000, TEN + 4000, 7, Fault::None));
    (log, CrashRecord { killed_at: TEN + 3500, restarted_at: TEN + 8500, ready_again_at: Some(TEN + 9000), node: None, stalled: false })
}

#[test]
fn events_a_crash_lost_are_explained_with_how_many() {
    let (log, crash) = crashed();
    // The engine had read the first two and lost them with its state; it read on from the third.
    let c = compared(Mode::EventTime, &log, &[result(TEN + 5000, "d", 2, 12)], Some(crash));
    assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].lost, c.exceptions[0].doubled), (&[Cause::LostInCrash][..], 2, 0));
    assert!(c.exceptions[0].why.contains("2 events sent up to 2.5 s before the kill lost in the crash (m1=33+10)"), "{}", c.exceptions[0].why);
    let without = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 2, 12)]);
    assert_eq!(without.unexplained(), 1, "no crash, no such explanation");
}

#[test]
fn events_read_again_after_a_restart_are_counted_twice() {
    let (log, crash) = crashed();
    // Offsets committed before the second event, state kept after the third: the second and third read again.
    let c = compared(Mode::EventTime, &log, &[result(TEN + 5000, "d", 6, 70)], Some(crash));
    assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].lost, c.exceptions[0].doubled), (&[Cause::CountedTwice][..], 0, 2));
    // The fourth was sent after the kill: it cannot have been counted before it.
    let c = compared(Mode::EventTime, &log, &[result(TEN + 5000, "d", 5, 62)], Some(crash));
    assert_eq!(c.unexplained(), 1, "{:?}", c.exceptions[0].why);
}

#[test]
fn on_the_wall_clock_events_read_late_are_crossings_and_read_again_from_far_back_doubled() {
    let (log, _) = crashed();
    let crash = CrashRecord { killed_at: TEN + 3500, restarted_at: TEN + 8500, ready_again_at: None, node: None, stalled: false };
    let own = result(TEN + 5000, "d", 4, 55);
    let with = |later: ResultRow| compared(Mode::ProcessingTime, &log, &[own.clone(), later], Some(crash));
    // Read two windows late: the engine may have counted them late, which is no crash's doing.
    let c = with(result(TEN + 15_000, "d", 2, 15));
    assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].doubled), (&[Cause::Boundary][..], 0));
    // Eight windows on, past what a lag of nothing and a second down can hold them: read again after the restart.
    let c = with(result(TEN + 40_000, "d", 2, 15));
    assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].doubled), (&[Cause::CountedTwice][..], 2), "{}", c.exceptions[0].why);
}

#[test]
fn an_engine_down_for_long_counts_what_was_sent_meanwhile_as_late_as_it_was_down() {
    let (log, _) = crashed();
    let crash = CrashRecord { killed_at: TEN + 3500, restarted_at: TEN + 8500, ready_again_at: Some(TEN + 43_500), node: None, stalled: false };
    let c = compared(Mode::ProcessingTime, &log, &[result(TEN + 5000, "d", 2, 43), result(TEN + 45_000, "d", 2, 12)], Some(crash));
    assert!(c.exceptions.iter().all(|e| e.causes == [Cause::Boundary]), "{:?}", c.exceptions);
}

#[test]
fn on_time_events_dropped_behind_a_watermark_over_all_partitions_are_overtaken_if_the_engine_says_so() {
    let over_all = |results: &[ResultRow], late_dropped| {
        compare(
            &job(Mode::EventTime, None, WatermarkScope::AllPartitions),
            &Whole { events: &base(), results },
            &Setting { late_dropped: Some(late_dropped), ..Setting::of(5000, Clock::Live) },
        )
    };
    // The first two, read while their partition was behind the others, dropped as late.
    let c = over_all(&[result(TEN + 5000, "d", 1, 5)], 2);
    assert_eq!((c.exceptions[0].causes.as_slice(), c.exceptions[0].overtaken), (&[Cause::Overtaken][..], 2));
    assert_eq!(c.exceptions[0].why, "2 on-time events dropped as late, the watermark gone on without their partition (m1=33+10)");
    let c = over_all(&[result(TEN + 5000, "d", 1, 5)], 1);
    assert_eq!(c.unexplained(), 1, "more overtaken than the engine dropped as late: {:?}", c.exceptions);
    // The watermark rose past the first while it was read and not past the second: the first and the third go without it.
    let c = over_all(&[result(TEN + 5000, "d", 1, 10)], 2);
    assert_eq!(c.exceptions[0].why, "2 on-time events dropped as late, the watermark gone on without their partition (m1=33+5)");
    // An engine whose watermark waits for every partition has no such excuse.
    assert_eq!(run(Mode::EventTime, &base(), &[result(TEN + 5000, "d", 1, 5)]).unexplained(), 1);
}

#[test]
fn a_long_window_overtaken_in_a_run_or_here_and_there_is_explained() {
    let log: Vec<SentEvent> = (0..60).map(|i| sent(&format!("d-{i}"), "d", TEN + 10 + i * 80, TEN + 10 + i * 80, 1 + (i * 7) % 97, Fault::None)).collect();
    let overtaken = |dropped: &dyn Fn(usize) -> bool| {
        let kept: Vec<&SentEvent> = log.iter().enumerate().filter(|(i, _)| !dropped(*i)).map(|(_, e)| e).collect();
        let r = result(TEN + 5000, "d", kept.len() as i64, kept.iter().map(|e| e.m1).sum());
        let c = compare(
            &job(Mode::EventTime, None, WatermarkScope::AllPartitions),
            &Whole { events: &log, results: &[r] },
            &Setting { late_dropped: Some(100), ..Setting::of(5000, Clock::Live) },
        );
        (c.exceptions[0].causes.clone(), c.exceptions[0].overtaken)
    };
    assert_eq!(overtaken(&|i| (10..40).contains(&i)), (vec![Cause::Overtaken], 30), "a run of 30 of the 60, found by its sums");
    assert_eq!(overtaken(&|i| [3, 20, 50].contains(&i)), (vec![Cause::Overtaken], 3), "three here and there");
}

#[test]
fn a_window_that_holds_its_end_counts_the_message_at_its_end() {
    let mut log = base();
    log.push(sent("d-3", "d", TEN + 5000, TEN + 5000, 7, Fault::None));
    log.push(sent("d-4", "d", TEN + 6000, TEN + 6000, 1, Fault::None));
    // The truth has d-3 in the window ending 10:00:10; an engine whose windows are (start, end] has it in 10:00:05.
    let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 4, 55), result(TEN + 10_000, "d", 1, 1)]);
    assert_eq!(c.unexplained(), 0, "{:?}", c.exceptions);
    assert!(c.exceptions.iter().all(|e| e.causes == vec![Cause::EndInclusive]), "{:?}", c.exceptions);
    assert_eq!(c.exceptions[0].why, "1 event at this window's very end counted in it (m1=7)");
    assert_eq!(c.exceptions[1].why, "1 event at the previous window's very end counted there (m1=7)");
}

#[test]
fn an_engine_that_read_the_stream_late_may_count_its_messages_as_late_as_it_read_its_end() {
    // Sent in the window ending 10:00:05, counted six windows on by a timer that emits on time.
    let late = [ResultRow { mode: Mode::ProcessingTime, ..result(TEN + 35_000, "d", 3, 48) }];
    let read_end_in = |end| {
        let job = JobRecord { end_of_stream_window: Some(end), ..job(Mode::ProcessingTime, None, WatermarkScope::PerPartition) };
        compare(&job, &Whole { events: &base(), results: &late }, &Setting::of(5000, Clock::Live))
    };
    let read_at_the_end = read_end_in(TEN + 35_000);
    assert!(read_at_the_end.exceptions.iter().all(|e| e.causes == [Cause::Boundary]), "{:?}", read_at_the_end.exceptions);
    assert_eq!(read_end_in(TEN + 5000).unexplained(), 1, "read on time, it has no such excuse for the late arrival");
}

#[test]
fn the_window_phase_does_not_depend_on_the_order_the_rows_are_read_in() {
    // Half the windows end on the multiples, half 2,500 ms past: either reading is as good, and the
    // one taken must not depend on which row comes first (a run read in groups of devices).
    let ends = [TEN + 5000, TEN + 2500, TEN + 10_000, TEN + 7500];
    let phase = window_phase(&ends, 5000);
    assert_eq!(phase, 2500, "read from the earliest end");
    let mut reordered = ends;
    reordered.rotate_left(2);
    assert_eq!(window_phase(&reordered, 5000), phase);
    reordered.reverse();
    assert_eq!(window_phase(&reordered, 5000), phase);
}

#[test]
fn an_engine_whose_windows_start_with_its_own_clock_is_held_to_the_truth_in_its_windows() {
    // Windows ending 3456 ms past the multiples of 5 s, reported a millisecond or two late, as a timer fires.
    let log: Vec<SentEvent> = (0..40).map(|i| sent(&format!("d-{i}"), "d", TEN + 250 * i, TEN + 250 * i, i, Fault::None)).collect();
    let truth = truth::compute_view(&log, View::SendTime, 5000, 3456);
    let results: Vec<ResultRow> = truth
        .iter()
        .enumerate()
        .map(|(k, t)| ResultRow { mode: Mode::ProcessingTime, ..result(t.window_end + k as i64 % 3, "d", t.agg.count, t.agg.m1_sum) })
        .map(|r| ResultRow { agg: Aggregate { m2_sum: r.agg.m1_sum as f64, ..r.agg }, ..r })
        .collect();
    let c = run(Mode::ProcessingTime, &log, &results);
    assert_eq!(c.window_phase_ms, 3456);
    assert_eq!((c.exact(), c.rows), (truth.len(), truth.len()), "{:?}", c.exceptions);
    assert!(render(&c, None).contains("the engine's windows end 3456 ms past the multiples"));
    let aligned = run(Mode::ProcessingTime, &base(), &[result(TEN + 5000, "d", 3, 48), result(TEN + 9000, FLUSH_DEVICE, 1, 0)]);
    assert_eq!(aligned.window_phase_ms, 0, "the end-of-stream row's window says nothing of the engine's");
}

#[test]
fn a_search_that_gives_up_says_so_rather_than_unexplained() {
    // Forty resends in one window and a result below the truth: no set of resends
    // can lower a count, but proving it means trying every subset, past the budget.
    let mut log = base();
    for i in 0..3 {
        for k in 0..14 {
            log.push(sent(&format!("d-{i}"), "d", TEN + 1000 * (i + 1), TEN + 4000 + k, 1 + i + k, Fault::Duplicate));
        }
    }
    let c = run(Mode::EventTime, &log, &[result(TEN + 5000, "d", 2, 15)]);
    assert_eq!(c.exceptions[0].causes, vec![Cause::SearchBudget]);
    assert_eq!(c.exceptions[0].why, "not explained (search budget)");
    assert_eq!((c.unexplained(), c.not_explained()), (0, 1));
    assert!(c.verdict().contains("1 not explained within the search budget"), "{}", c.verdict());
}
