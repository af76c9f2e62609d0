//! The simulator's version of the truth (docs/SPEC.md §4): from the log of
//! what was really sent, the right aggregate of every (window, device,
//! category) in two views. Which faults fell into a window is in the log itself.

use crate::intern::Interner;
use crate::model::{window_end_at_phase, Aggregate, SentEvent, TruthRow, View};
use std::collections::HashMap;

/// Both views of the truth. A window where no message counts (only resends
/// fell there) has no row: both sides agree on an empty window.
pub fn compute(log: &[SentEvent], window_ms: i64) -> Vec<TruthRow> {
    of_first_sends(log, Truth::new(&View::BOTH, window_ms, 0))
}

/// One view of the truth, with windows ending `phase_ms` past the multiples of `window_ms`.
pub fn compute_view(log: &[SentEvent], view: View, window_ms: i64, phase_ms: i64) -> Vec<TruthRow> {
    of_first_sends(log, Truth::new(&[view], window_ms, phase_ms))
}

fn of_first_sends(log: &[SentEvent], mut truth: Truth) -> Vec<TruthRow> {
    for e in log.iter().filter(|e| e.counts()) {
        truth.count(e);
    }
    truth.rows()
}

/// The truth built as events go by, so that a stream's log need not be held to know it: each
/// device and category name is kept once, each window as numbers.
pub struct Truth {
    window_ms: i64,
    phase_ms: i64,
    names: Interner,
    views: Vec<(View, Windows)>,
}

/// One view's windows: (window end, device, category), the names numbered, → what counts there.
type Windows = HashMap<(i64, u32, u32), Aggregate>;

impl Truth {
    pub fn new(views: &[View], window_ms: i64, phase_ms: i64) -> Truth {
        Truth { window_ms, phase_ms, names: Interner::default(), views: views.iter().map(|&v| (v, HashMap::new())).collect() }
    }

    /// Counts `e` in its window of each view: the caller has made sure it counts (`SentEvent::counts`).
    pub fn count(&mut self, e: &SentEvent) {
        let (device, category) = (self.names.id(&e.device), self.names.id(&e.category));
        for (view, windows) in &mut self.views {
            let end = window_end_at_phase(view.time_of(e), self.window_ms, self.phase_ms);
            let agg = windows.entry((end, device, category)).or_default();
            agg.count += 1;
            agg.m1_sum += e.m1;
            agg.m2_sum += e.m2;
        }
    }

    pub fn rows(self) -> Vec<TruthRow> {
        let mut rows = Vec::new();
        let Ok(()) = self.in_batches::<std::convert::Infallible>(usize::MAX, |batch| {
            rows.extend(batch);
            Ok(())
        });
        rows
    }

    /// The rows, view by view, each view's by device, category and window end (the order the
    /// store keeps them in), given to `each` `batch` at a time: a big stream's truth is not held
    /// twice, as numbers and as rows.
    pub fn in_batches<E>(self, batch: usize, mut each: impl FnMut(Vec<TruthRow>) -> Result<(), E>) -> Result<(), E> {
        let numbered = self.names.into_names();
        let mut in_name_order: Vec<u32> = (0..numbered.len() as u32).collect();
        in_name_order.sort_unstable_by(|&a, &b| numbered[a as usize].cmp(&numbered[b as usize]));
        // Numbered again in name order, so that windows sort as numbers.
        let mut rank = vec![0; numbered.len()];
        for (r, &n) in in_name_order.iter().enumerate() {
            rank[n as usize] = r as u32;
        }
        let names: Vec<&str> = in_name_order.iter().map(|&n| &*numbered[n as usize]).collect();
        for (view, windows) in self.views {
            let mut windows: Vec<_> = windows.into_iter().map(|((end, d, c), agg)| ((rank[d as usize], rank[c as usize], end), agg)).collect();
            windows.sort_unstable_by_key(|(key, _)| *key);
            for chunk in windows.chunks(batch) {
                let rows = chunk.iter().map(|&((d, c, window_end), ref agg)| TruthRow {
                    view,
                    window_end,
                    device: names[d as usize].to_string(),
                    category: names[c as usize].to_string(),
                    agg: agg.clone(),
                });
                each(rows.collect())?;
            }
        }
        Ok(())
    }
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
    fn the_truth_counted_as_the_events_go_by_is_the_whole_logs() {
        let sc = crate::scenario::Scenario { devices: 20, ..Default::default() };
        let plan = crate::simulate::Plan::new(&sc, TEN);
        let log: Vec<SentEvent> = plan.sends().map(|s| plan.sent_event(s, s.at + 40)).collect();
        let rows = compute(&log, 5000);
        assert!(rows.len() > 500, "{} rows", rows.len());
        let key = |r: &TruthRow| (r.view, r.device.clone(), r.category.clone(), r.window_end);
        assert!(rows.windows(2).all(|w| key(&w[0]) < key(&w[1])), "in order");
        let counted: i64 = rows.iter().filter(|r| r.view == View::DeviceTime).map(|r| r.agg.count).sum();
        assert_eq!(counted as usize, log.iter().filter(|e| e.fault != Fault::Duplicate).count(), "each message once");
        let by_hand: Vec<TruthRow> = View::BOTH.into_iter().flat_map(|v| sum_by_hand(&log, v)).collect();
        assert_eq!(rows, by_hand);
    }

    /// The truth of one view summed the plainest way, each id counted at its first send (not by
    /// its fault mark), to check the counting one against.
    fn sum_by_hand(log: &[SentEvent], view: View) -> Vec<TruthRow> {
        let mut rows: std::collections::BTreeMap<(String, String, i64), Aggregate> = Default::default();
        let mut seen = std::collections::HashSet::new();
        for e in log {
            if seen.insert(&e.id) {
                let agg = rows.entry((e.device.to_string(), e.category.to_string(), crate::model::window_end(view.time_of(e), 5000))).or_default();
                (agg.count, agg.m1_sum, agg.m2_sum) = (agg.count + 1, agg.m1_sum + e.m1, agg.m2_sum + e.m2);
            }
        }
        rows.into_iter().map(|((device, category, window_end), agg)| TruthRow { view, window_end, device, category, agg }).collect()
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
