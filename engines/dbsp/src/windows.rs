//! The window logic alone, as a DBSP circuit: what a Feldera program compiles a table with a
//! `LATENESS` on its time column and a `GROUP BY` over `TUMBLE` into, written with DBSP's own
//! operators.
//!
//! ```text
//! events (Z-set keyed by dt) ─┬─ waterline_monotonic(dt − lateness) ─ delayed one step ─┐
//!                             └─ controlled_key_filter(dt ≥ waterline) ◀─────────────────┘
//!                                  │ on time                     └─ late: dropped, counted
//!                                  ▼
//!                               distinct (a resend is the same record: counted once)
//!                                  ▼
//!                               map_index to (window end, device, category)
//!                                  ▼
//!                               aggregate (Fold: count, sums, ids) ─▶ changes of the view
//! ```
//!
//! The circuit's output at each step is the change of the view: for every window that step
//! touched, its old row retracted (weight −1) and its new row inserted (+1). The waterline bounds
//! the state: records and window groups behind it are forgotten by the traces
//! (`accumulate_integrate_trace_retain_keys`), which is safe because the filter lets nothing
//! behind it in again.

use dbsp::algebra::{Semigroup, F64};
use dbsp::dynamic::DynData;
use dbsp::operator::Fold;
use dbsp::utils::{Tup3, Tup4, Tup5};
use dbsp::{IndexedZSetHandle, OrdIndexedZSet, OrdZSet, OutputHandle, RootCircuit, Stream, TypedBox};

/// An event as the circuit holds it, under its time: (id, device, category, m1, m2).
pub type Reading = Tup5<String, String, String, i64, F64>;
/// A window of one device and category: (window end, device, category).
pub type WindowKey = Tup3<i64, String, String>;
/// What a window counted: (count, m1 sum, m2 sum, the ids counted, empty without `--ids`).
pub type Counted = Tup4<i64, i64, F64, Vec<String>>;

/// The windows' shape and the table's lateness bound.
#[derive(Clone, Copy)]
pub struct Bounds {
    pub window_ms: i64,
    /// How far behind the latest time read a record may still come: the out-of-orderness bound
    /// plus the allowed lateness (Feldera has one `LATENESS` per column, not the two).
    pub lateness_ms: i64,
    /// Whether each window keeps the ids it counted.
    pub ids: bool,
}

/// The circuit's ends: where the events go in, where the view's changes and the late ids come out.
pub struct Ends {
    pub events: IndexedZSetHandle<i64, Reading>,
    pub windows: OutputHandle<OrdIndexedZSet<WindowKey, Counted>>,
    pub late: OutputHandle<OrdZSet<String>>,
}

/// The end of the tumbling window holding time `t`: windows are [start, end).
pub fn window_end(t: i64, window_ms: i64) -> i64 {
    t.div_euclid(window_ms) * window_ms + window_ms
}

/// Two partial counts of one window made one (the semigroup DBSP's aggregators combine with).
#[derive(Clone)]
pub struct Together;

impl Semigroup<Counted> for Together {
    fn combine(a: &Counted, b: &Counted) -> Counted {
        Tup4(a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3.iter().chain(&b.3).cloned().collect())
    }
}

/// Builds the circuit into `circuit`.
pub fn build(circuit: &mut RootCircuit, bounds: Bounds) -> Ends {
    let Bounds { window_ms, lateness_ms, ids } = bounds;
    let (events, events_in) = circuit.add_input_indexed_zset::<i64, Reading>();

    // The waterline as of the previous step: a step's records are judged against what was read
    // before it, not against the latest of their own batch.
    let waterline: Stream<RootCircuit, TypedBox<i64, DynData>> =
        events.waterline_monotonic(|| i64::MIN, move |dt: &i64| dt.saturating_sub(lateness_ms)).transaction_delay_with_initial_value(TypedBox::new(i64::MIN));
    let (on_time, late) = events.controlled_key_filter(&waterline, |waterline: &i64, dt: &i64| dt >= waterline, |_, _, r: &Reading, _| r.0.clone());
    on_time.accumulate_integrate_trace_retain_keys(&waterline, |dt: &i64, waterline: &i64| dt >= waterline);

    let by_window = on_time.distinct().map_index(move |(dt, Tup5(id, device, category, m1, m2))| {
        (Tup3(window_end(*dt, window_ms), device.clone(), category.clone()), Tup3(id.clone(), *m1, *m2))
    });
    // A window whose end the waterline has passed takes no record any more.
    by_window.accumulate_integrate_trace_retain_keys(&waterline, |key: &WindowKey, waterline: &i64| key.0 > *waterline);
    let windows = by_window.aggregate(<Fold<_, _, Together, _, _>>::new(
        Tup4(0, 0, F64::new(0.0), Vec::new()),
        move |acc: &mut Counted, Tup3(id, m1, m2): &Tup3<String, i64, F64>, weight| {
            acc.0 += weight;
            acc.1 += m1 * weight;
            acc.2 += *m2 * F64::new(weight as f64);
            if ids {
                acc.3.push(id.clone());
            }
        },
    ));
    Ends { events: events_in, windows: windows.output(), late: late.output() }
}
