//! The simulator's version of the truth (docs/SPEC.md §4): from the log of
//! what was really sent, the right aggregate of every (window, device,
//! category) in two views. Which faults fell into a window is in the log itself.

use crate::model::{window_end_at_phase, Aggregate, SentEvent, TruthRow, View};
use std::collections::{BTreeMap, HashSet};

/// Whether each logged send is the first of its id (counted once) or a resend.
/// The log is in sending order, so the first occurrence is the one that counts.
pub fn first_sends(log: &[SentEvent]) -> Vec<bool> {
    let mut seen = HashSet::with_capacity(log.len());
    log.iter().map(|e| seen.insert(e.id.as_str())).collect()
}

/// Both views of the truth. A window where no message counts (only resends
/// fell there) has no row: both sides agree on an empty window.
pub fn compute(log: &[SentEvent], window_ms: i64) -> Vec<TruthRow> {
    [View::DeviceTime, View::SendTime].into_iter().flat_map(|view| compute_view(log, view, window_ms, 0)).collect()
}

/// One view of the truth, with windows ending `phase_ms` past the multiples of `window_ms`.
pub fn compute_view(log: &[SentEvent], view: View, window_ms: i64, phase_ms: i64) -> Vec<TruthRow> {
    let mut rows: BTreeMap<(i64, &str, &str), TruthRow> = BTreeMap::new();
    for (e, counted) in log.iter().zip(first_sends(log)) {
        if !counted {
            continue;
        }
        let end = window_end_at_phase(view.time_of(e), window_ms, phase_ms);
        let row = rows.entry((end, &e.device, &e.category)).or_insert_with(|| TruthRow {
            view,
            window_end: end,
            device: e.device.clone(),
            category: e.category.clone(),
            agg: Aggregate::default(),
        });
        row.agg.count += 1;
        row.agg.m1_sum += e.m1;
        row.agg.m2_sum += e.m2;
    }
    rows.into_values().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Fault;

    pub const TEN: i64 = 36_000_000; // 10:00:00

    pub fn sent(id: &str, device: &str, dt: i64, sent_at: i64, m1: i64, fault: Fault) -> SentEvent {
        SentEvent { id: id.into(), device: device.into(), category: "cat-1".into(), dt, sent_at, m1, m2: m1 as f64, fault }
    }

    fn talk_example() -> Vec<SentEvent> {
        // The talk's table: object A's values in m1, object B's in m2.
        let a = [(0, 100), (4, 85), (7, 40), (8, 100)];
        let b = [(0, 2000.0), (3, 1800.0), (7, 2500.0), (9, 3000.0)];
        let mut log: Vec<SentEvent> = a.iter().map(|&(s, v)| sent(&format!("A-{s}"), "A", TEN + s * 1000, TEN + s * 1000, v, Fault::None)).collect();
        for (s, v) in b {
            log.push(SentEvent { m1: 0, m2: v, ..sent(&format!("B-{s}"), "B", TEN + s * 1000, TEN + s * 1000, 0, Fault::None) });
        }
        log
    }

    #[test]
    fn the_talks_worked_example() {
        let rows = compute(&talk_example(), 5000);
        let get = |dev: &str, end: i64| rows.iter().find(|r| r.view == View::DeviceTime && r.device == dev && r.window_end == end).unwrap();
        assert_eq!(get("A", TEN + 5000).agg.m1_sum, 185);
        assert_eq!(get("A", TEN + 10_000).agg.m1_sum, 140);
        let avg = |r: &TruthRow| r.agg.m2_sum / r.agg.count as f64;
        assert_eq!(avg(get("B", TEN + 5000)), 1900.0);
        assert_eq!(avg(get("B", TEN + 10_000)), 2750.0);
        assert_eq!(rows.len(), 8, "4 rows in each view");
    }

    #[test]
    fn resends_count_once() {
        let log = vec![
            sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None),
            sent("d-1", "d", TEN + 2000, TEN + 2000, 10, Fault::None),
            sent("d-0", "d", TEN + 1000, TEN + 6000, 33, Fault::Duplicate),
        ];
        let rows = compute(&log, 5000);
        let dev: Vec<&TruthRow> = rows.iter().filter(|r| r.view == View::DeviceTime).collect();
        assert_eq!(dev.len(), 1);
        assert_eq!((dev[0].agg.count, dev[0].agg.m1_sum), (2, 43));
        // In send time the resend fell alone into the next window: nothing counts there, so no row.
        let send: Vec<&TruthRow> = rows.iter().filter(|r| r.view == View::SendTime).collect();
        assert_eq!((send.len(), send[0].window_end), (1, TEN + 5000));
    }

    #[test]
    fn late_and_out_of_order_messages_count_where_each_view_puts_them() {
        let log = vec![sent("d-0", "d", TEN + 1000, TEN + 131_000, 49, Fault::Late), sent("d-1", "d", TEN + 4000, TEN + 6000, 7, Fault::OutOfOrder)];
        let rows = compute(&log, 5000);
        let dev = rows.iter().find(|r| r.view == View::DeviceTime).unwrap();
        assert_eq!((dev.window_end, dev.agg.count, dev.agg.m1_sum), (TEN + 5000, 2, 56));
        let by_send: Vec<(i64, i64)> = rows.iter().filter(|r| r.view == View::SendTime).map(|r| (r.window_end, r.agg.m1_sum)).collect();
        assert_eq!(by_send, vec![(TEN + 10_000, 7), (TEN + 135_000, 49)]);
    }
}
