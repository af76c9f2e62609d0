//! The window logic as Timely Dataflow operators. A reading travels at its
//! event time (the timely timestamp is the time it is windowed by, in ms); a
//! source that has read past a time downgrades its capability, so the input
//! frontier of every operator below IS the watermark, the minimum over every
//! source of every worker and process. No operator keeps a watermark of its own.
//!
//! ```text
//! source ─▶ exchange(device) ─▶ deduplicate ─▶ tumbling_windows ─▶ sink
//! ```
//!
//! `tumbling_windows` holds, per window end, the window's cells and a
//! capability at its end; when the frontier reaches the end no reading of the
//! window can come any more, so it emits the window at that capability and
//! drops it. A late reading (one a source sent at its capability because its
//! own time was already behind it) still updates its window while
//! end + allowed lateness is ahead of the time it travels at, and the update
//! is emitted at once (a late firing); later than that, it is dropped.

use crate::model::{window_end, Aggregate};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

/// One event on its way from a source to its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub device: String,
    pub category: String,
    /// The message id's hash (dedup).
    pub id: u64,
    /// The time it is windowed by (event, ingestion or processing time), in ms.
    pub t: i64,
    pub m1: i64,
    pub m2: f64,
    /// The message id as sent, carried where the job names the events each window counted.
    pub named: Option<String>,
}

/// One window of one device and category, as `tumbling_windows` emits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRow {
    pub window_end: i64,
    pub device: String,
    pub category: String,
    pub agg: Aggregate,
    /// The ids of the readings it counted, where they were named.
    pub ids: Vec<String>,
}

/// What the operators drop, counted per worker.
#[derive(Debug, Default)]
pub struct Dropped {
    pub late: Cell<u64>,
    pub duplicates: Cell<u64>,
}

/// The window logic, on a stream of readings exchanged by device.
pub trait Windowing<'s> {
    /// Drops a reading whose id this worker has seen. An id is remembered until a
    /// resend could no longer reach an open window: its window's end plus the
    /// allowed lateness, and at least `horizon_ms` past its time (where a resend
    /// gets a new time of its own, as in processing time).
    fn deduplicate(self, window_ms: i64, lateness_ms: i64, horizon_ms: i64, dropped: Rc<Dropped>) -> StreamVec<'s, u64, Reading>;

    /// Tumbling windows of `window_ms` per (device, category), emitted once the frontier reaches their end.
    fn tumbling_windows(self, window_ms: i64, lateness_ms: i64, dropped: Rc<Dropped>) -> StreamVec<'s, u64, WindowRow>;
}

impl<'s> Windowing<'s> for StreamVec<'s, u64, Reading> {
    fn deduplicate(self, window_ms: i64, lateness_ms: i64, horizon_ms: i64, dropped: Rc<Dropped>) -> StreamVec<'s, u64, Reading> {
        self.unary_frontier(Pipeline, "Deduplicate", move |_, _| {
            let mut seen: HashMap<u64, u64> = HashMap::new();
            let mut pruned_at = 0;
            move |(input, frontier), output| {
                input.for_each_stamp(|cap, batches| {
                    let mut session = output.session(&cap);
                    for r in batches.flat_map(|b| b.drain(..)) {
                        let forget_at = (window_end(r.t, window_ms) + lateness_ms).max(r.t + horizon_ms) as u64;
                        if seen.insert(r.id, forget_at).is_some() {
                            dropped.duplicates.set(dropped.duplicates.get() + 1);
                        } else {
                            session.give(r);
                        }
                    }
                });
                let now = frontier.frontier().iter().next().copied().unwrap_or(u64::MAX);
                if now.saturating_sub(pruned_at) >= window_ms as u64 {
                    seen.retain(|_, forget_at| *forget_at > now);
                    pruned_at = now;
                }
            }
        })
    }

    fn tumbling_windows(self, window_ms: i64, lateness_ms: i64, dropped: Rc<Dropped>) -> StreamVec<'s, u64, WindowRow> {
        self.unary_frontier(Pipeline, "TumblingWindows", move |_, _| {
            let mut open: BTreeMap<u64, Window> = BTreeMap::new();
            move |(input, frontier), output| {
                let port = output.output_index();
                input.for_each_stamp(|cap, batches| {
                    let Some(&time) = cap.least() else { return };
                    for r in batches.flat_map(|b| b.drain(..)) {
                        let end = window_end(r.t, window_ms);
                        if end + lateness_ms <= time as i64 {
                            dropped.late.set(dropped.late.get() + 1);
                            continue;
                        }
                        let window = open
                            .entry(end as u64)
                            .or_insert_with(|| Window { unfired: Some(cap.delayed(&(end as u64).max(time), port)), cells: HashMap::new() });
                        let key = (r.device, r.category);
                        let cell = window.cells.entry(key.clone()).or_default();
                        accumulate(cell, r.m1, r.m2, r.named);
                        if window.unfired.is_none() {
                            // The window has fired: a late firing, at the time the reading travels at.
                            let (agg, ids) = (cell.0.clone(), cell.1.clone());
                            output.session(&cap).give(WindowRow { window_end: end, device: key.0, category: key.1, agg, ids });
                        }
                    }
                });
                for (&end, window) in open.iter_mut() {
                    if frontier.less_than(&end) {
                        break;
                    }
                    if let Some(cap) = window.unfired.take() {
                        let rows = window.cells.iter().map(|((d, c), (agg, ids))| WindowRow {
                            window_end: end as i64,
                            device: d.clone(),
                            category: c.clone(),
                            agg: agg.clone(),
                            ids: ids.clone(),
                        });
                        output.session(&cap).give_iterator(rows);
                    }
                }
                // Past end + lateness every reading of a window is dropped as late: its cells can go.
                open.retain(|&end, _| frontier.less_than(&(end + lateness_ms as u64)));
            }
        })
    }
}

/// One open window: the capability to emit it at its end, until it has fired, and its cells: the
/// aggregate of each device and category, and the ids it counted where they are named.
struct Window {
    unfired: Option<Capability<u64>>,
    cells: HashMap<(String, String), (Aggregate, Vec<String>)>,
}

fn accumulate(cell: &mut (Aggregate, Vec<String>), m1: i64, m2: f64, named: Option<String>) {
    cell.0.count += 1;
    cell.0.m1_sum += m1;
    cell.0.m2_sum += m2;
    cell.1.extend(named);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use timely::dataflow::operators::vec::UnorderedInput;
    use timely::dataflow::operators::Inspect;

    fn reading(t: i64, id: u64, m1: i64) -> Reading {
        Reading { device: "d".into(), category: "cat-1".into(), id, t, m1, m2: m1 as f64, named: Some(format!("d-{id}")) }
    }

    /// The rows emitted (window end, count, m1 sum), how many after each step, and the readings dropped.
    struct Outcome {
        rows: Vec<(i64, i64, i64)>,
        fired_at: Vec<usize>,
        late: u64,
        duplicates: u64,
    }

    /// Sends each step's readings as the Kafka source does (at their own time, or at the source's
    /// capability when theirs is behind it), then moves the capability to the step's watermark.
    fn windows(lateness_ms: i64, horizon_ms: i64, steps: &[(&[Reading], u64)]) -> Outcome {
        let steps: Vec<(Vec<Reading>, u64)> = steps.iter().map(|(r, w)| (r.to_vec(), *w)).collect();
        timely::execute_directly(move |worker| {
            let dropped = Rc::new(Dropped::default());
            let emitted = Rc::new(RefCell::new(Vec::new()));
            let (sink, counted) = (emitted.clone(), dropped.clone());
            let (mut input, mut cap) = worker.dataflow::<u64, _, _>(|scope| {
                let (input, readings) = scope.new_unordered_input();
                readings
                    .deduplicate(5000, lateness_ms, horizon_ms, counted.clone())
                    .tumbling_windows(5000, lateness_ms, counted)
                    .inspect(move |row: &WindowRow| {
                        assert_eq!(row.ids.len() as i64, row.agg.count, "a row names each reading it counted");
                        sink.borrow_mut().push((row.window_end, row.agg.count, row.agg.m1_sum))
                    });
                input
            });
            let mut fired_at = Vec::new();
            for (batch, watermark) in steps {
                for r in batch {
                    let at = cap.delayed(&(r.t as u64).max(*cap.time()));
                    input.activate().session(&at).give(r);
                }
                cap = cap.delayed(&watermark);
                for _ in 0..5 {
                    worker.step();
                }
                fired_at.push(emitted.borrow().len());
            }
            let rows = emitted.borrow().clone();
            Outcome { rows, fired_at, late: dropped.late.get(), duplicates: dropped.duplicates.get() }
        })
    }

    #[test]
    fn the_frontier_fires_windows_and_late_readings_are_dropped() {
        let Outcome { rows, fired_at, late, duplicates } = windows(
            0,
            0,
            &[
                (&[reading(1000, 1, 1), reading(4200, 2, 1)], 4800),
                (&[reading(4900, 3, 10)], 5100), // 900 ms behind, before the watermark passed its window: counted
                (&[reading(4950, 4, 100), reading(1000, 1, 1)], 5100), // after its window fired: late; and a resend
                (&[reading(9000, 5, 1)], 10_000),
            ],
        );
        assert_eq!(fired_at, vec![0, 1, 1, 2], "a window fires only once the frontier reaches its end");
        assert_eq!(rows, vec![(5000, 3, 12), (10_000, 1, 1)]);
        assert_eq!((late, duplicates), (2, 0), "the late reading, and the resend (its window is gone, so it is late too)");
    }

    #[test]
    fn allowed_lateness_updates_a_fired_window_and_resends_are_dropped_while_it_lives() {
        let Outcome { rows, late, duplicates, .. } = windows(
            3000,
            0,
            &[
                (&[reading(1000, 1, 1), reading(6500, 2, 1)], 5500),
                (&[reading(2000, 3, 10), reading(1000, 1, 1)], 8500), // late, within the lateness: a late firing; a resend: dropped
                (&[reading(3000, 4, 100)], 20_000),                   // sent at 8500 >= 5000 + 3000: dropped
            ],
        );
        assert_eq!(rows, vec![(5000, 1, 1), (5000, 2, 11), (10_000, 1, 1)]);
        assert_eq!((late, duplicates), (1, 1));
    }
}
