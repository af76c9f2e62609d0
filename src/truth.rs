//! The simulator's version of the truth (SPEC §4): from the log of what was
//! really sent, the right aggregate of every (window, device, category) in two
//! views, each row annotated with the faults that fell into it.

use crate::simulate::Fault;
use crate::window::window_end;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// One record as it was really sent: the simulator's log, kept in the store so
/// that every difference can later be explained event by event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentEvent {
    pub id: String,
    pub device: String,
    pub category: String,
    pub dt: i64,
    /// Wall-clock send time (the Kafka record timestamp).
    pub sent_at: i64,
    pub m1: i64,
    pub m2: f64,
    pub fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// Windows by device time: the right answer for an event-time engine.
    DeviceTime,
    /// Windows by send time: what a processing-time engine should come close to.
    SendTime,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::DeviceTime => "devicetime",
            View::SendTime => "sendtime",
        }
    }

    pub fn parse(s: &str) -> Option<View> {
        [View::DeviceTime, View::SendTime].into_iter().find(|v| v.as_str() == s)
    }

    /// The time an event is windowed by in this view.
    pub fn time_of(self, e: &SentEvent) -> i64 {
        match self {
            View::DeviceTime => e.dt,
            View::SendTime => e.sent_at,
        }
    }
}

/// (window_end, device, category): the key every row of truth and results has.
pub type RowKey = (i64, String, String);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub count: i64,
    pub m1_sum: i64,
    pub m2_sum: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthRow {
    pub view: View,
    pub window_end: i64,
    pub device: String,
    pub category: String,
    #[serde(flatten)]
    pub agg: Aggregate,
    pub n_late: i64,
    pub n_dup: i64,
    pub n_ooo: i64,
    pub late_m1: i64,
    pub dup_m1: i64,
}

impl TruthRow {
    pub fn key(&self) -> RowKey {
        (self.window_end, self.device.clone(), self.category.clone())
    }
}

/// Whether each logged send is the first of its id (counted once) or a resend.
/// The log is in sending order, so the first occurrence is the one that counts.
pub fn first_sends(log: &[SentEvent]) -> Vec<bool> {
    let mut seen = HashSet::with_capacity(log.len());
    log.iter().map(|e| seen.insert(e.id.as_str())).collect()
}

/// Both views of the truth. Rows where no message counts (only resends fell
/// there) are left out: both sides agree on an empty window.
pub fn compute(log: &[SentEvent], window_ms: i64) -> Vec<TruthRow> {
    let first = first_sends(log);
    let mut rows: BTreeMap<(View, i64, &str, &str), TruthRow> = BTreeMap::new();
    for view in [View::DeviceTime, View::SendTime] {
        for (e, &counted) in log.iter().zip(&first) {
            let end = window_end(view.time_of(e), window_ms);
            let row = rows.entry((view, end, &e.device, &e.category)).or_insert_with(|| TruthRow {
                view,
                window_end: end,
                device: e.device.clone(),
                category: e.category.clone(),
                agg: Aggregate::default(),
                n_late: 0,
                n_dup: 0,
                n_ooo: 0,
                late_m1: 0,
                dup_m1: 0,
            });
            if counted {
                row.agg.count += 1;
                row.agg.m1_sum += e.m1;
                row.agg.m2_sum += e.m2;
                match e.fault {
                    Fault::Late => (row.n_late, row.late_m1) = (row.n_late + 1, row.late_m1 + e.m1),
                    Fault::OutOfOrder => row.n_ooo += 1,
                    Fault::None | Fault::Duplicate => {}
                }
            } else {
                row.n_dup += 1;
                row.dup_m1 += e.m1;
            }
        }
    }
    rows.into_values().filter(|r| r.agg.count > 0).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
    fn resends_count_once_and_are_annotated_where_they_were_sent() {
        let log = vec![
            sent("d-0", "d", TEN + 1000, TEN + 1000, 33, Fault::None),
            sent("d-1", "d", TEN + 2000, TEN + 2000, 10, Fault::None),
            sent("d-0", "d", TEN + 1000, TEN + 6000, 33, Fault::Duplicate),
        ];
        let rows = compute(&log, 5000);
        let dev: Vec<&TruthRow> = rows.iter().filter(|r| r.view == View::DeviceTime).collect();
        assert_eq!(dev.len(), 1);
        assert_eq!((dev[0].agg.count, dev[0].agg.m1_sum, dev[0].n_dup, dev[0].dup_m1), (2, 43, 1, 33));
        // In send time the resend fell alone into the next window: nothing counts there, so no row.
        let send: Vec<&TruthRow> = rows.iter().filter(|r| r.view == View::SendTime).collect();
        assert_eq!((send.len(), send[0].n_dup), (1, 0));
    }

    #[test]
    fn late_and_out_of_order_messages_are_annotated_in_both_views() {
        let log = vec![sent("d-0", "d", TEN + 1000, TEN + 131_000, 49, Fault::Late), sent("d-1", "d", TEN + 4000, TEN + 6000, 7, Fault::OutOfOrder)];
        let rows = compute(&log, 5000);
        let dev = rows.iter().find(|r| r.view == View::DeviceTime).unwrap();
        assert_eq!((dev.window_end, dev.n_late, dev.late_m1, dev.n_ooo, dev.agg.count), (TEN + 5000, 1, 49, 1, 2));
        let late_sent = rows.iter().find(|r| r.view == View::SendTime && r.window_end == TEN + 135_000).unwrap();
        assert_eq!((late_sent.n_late, late_sent.agg.m1_sum), (1, 49));
    }
}
