//! What the collector keeps of the results topics (docs/SPEC.md §5): per
//! (engine, mode, window, device, category) the last value, how many times it
//! was emitted and when it was first and last emitted — when the live read got
//! it, where it did, else the engine's own stamp; and per engine mode its
//! progress, which tells the harness when the engine has read to the end.
//!
//! A backlog of millions of events gives millions of rows: what is read is kept
//! as numbers (names numbered once, each emission and each time of reading a
//! fixed-size entry in a list) and folded into rows once, when they are taken.

use crate::groups::{CountedIds, Folded, RowId, Rows};
use crate::intern::Interner;
use crate::model::{Aggregate, Mode, WindowResult, FLUSH_DEVICE};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

/// What the collector knows of one engine run (engine + mode) so far.
#[derive(Debug, Default, Clone)]
pub struct EngineProgress {
    pub rows_received: u64,
    pub last_received: Option<Instant>,
    /// The latest window of its rows of the flush device: it has read to the end of the stream
    /// (in processing time, in that window of the wall clock).
    pub flush_window_end: Option<i64>,
}

impl EngineProgress {
    pub fn flush_seen(&self) -> bool {
        self.flush_window_end.is_some()
    }
}

#[derive(Debug, Default)]
pub struct Collected {
    pub progress: HashMap<(String, Mode), EngineProgress>,
    /// Records on the results topic that are not a window result: an engine writing something else.
    pub undecodable: u64,
    /// The engine, device and category names of the emissions, numbered in the order first read.
    names: Interner,
    /// Every window row read by `add`, in the order read, each as a row of one emission.
    emissions: Vec<(RowId, Folded)>,
    /// Every time the live read got a window row (wall clock, ms), by `read_key`: a hash, not the
    /// row's names, as the live read keeps no names.
    read_at: Vec<(u64, i64)>,
}

/// The key of a row in `Collected::read_at`.
fn read_key(engine: &str, mode: Mode, window_end: i64, device: &str, category: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (engine, mode, window_end, device, category).hash(&mut h);
    h.finish()
}

impl Collected {
    /// Folds one record of the complete read in: its engine's progress and its row.
    pub fn add(&mut self, payload: &[u8]) {
        let Some(r) = self.note(payload, None) else { return };
        let id =
            RowId { engine: self.names.id(&r.engine), mode: r.mode, window_end: r.window_end, device: self.names.id(&r.di), category: self.names.id(&r.c) };
        let agg = Aggregate { count: r.count, m1_sum: r.m1_sum, m2_sum: r.m2_sum };
        let ids = r.ids.as_ref().map(|ids| CountedIds::of(&r.di, ids.iter().map(|id| id.as_ref())));
        self.emissions.push((id, Folded { agg, emissions: 1, first_emitted_at: r.emitted_at, last_emitted_at: r.emitted_at, ids }));
    }

    /// Counts one record towards its engine's progress only (read `now` by the live read); returns
    /// it when it is a window row.
    fn note<'a>(&mut self, payload: &'a [u8], now: Option<Instant>) -> Option<WindowResult<'a>> {
        let Ok(r) = serde_json::from_slice::<WindowResult>(payload) else {
            self.undecodable += 1;
            return None;
        };
        let progress = self.progress.entry((r.engine.to_string(), r.mode)).or_default();
        progress.rows_received += 1;
        progress.last_received = now.or(progress.last_received);
        if r.di == FLUSH_DEVICE {
            progress.flush_window_end = progress.flush_window_end.max(Some(r.window_end));
            return None;
        }
        Some(r)
    }

    /// Notes one record of the live read, which came at `now`, `wall_ms` on the wall clock: its
    /// engine's progress, and when its row could be read. An engine may stamp a row long before a
    /// reader can have it: rows written in a Kafka transaction are read at its commit.
    pub fn note_live(&mut self, payload: &[u8], now: Instant, wall_ms: i64) {
        let Some(r) = self.note(payload, Some(now)) else { return };
        self.read_at.push((read_key(&r.engine, r.mode, r.window_end, &r.di, &r.c), wall_ms));
    }

    /// Takes the rows of a complete read (`read_all`), and from it whether each
    /// engine's end-of-stream row came; keeps the live read's timings, and each
    /// row's times of reading where the live read got it.
    pub fn complete_with(&mut self, complete: Collected) {
        self.names = complete.names;
        self.emissions = complete.emissions;
        self.undecodable = complete.undecodable;
        for (key, p) in complete.progress {
            let live = self.progress.entry(key).or_default();
            live.rows_received = p.rows_received;
            live.flush_window_end = live.flush_window_end.max(p.flush_window_end);
        }
    }

    /// The rows, each the fold of its emissions: the latest emitted wins (emissions can arrive
    /// out of order across partitions), emitted when the live read first and last got it.
    /// Handed over once the run is collected, folded in place, not copied.
    pub fn take_rows(&mut self) -> Rows {
        let mut rows = std::mem::take(&mut self.emissions);
        // Stable: of two emissions stamped alike, the one read last wins.
        rows.sort_by_key(|(id, e)| (*id, e.last_emitted_at));
        rows.dedup_by(|(id, later), (kept_id, kept)| {
            let same = id == kept_id;
            if same {
                (kept.agg, kept.last_emitted_at) = (later.agg.clone(), later.last_emitted_at);
                kept.ids = later.ids.take();
                kept.emissions += later.emissions;
            }
            same
        });
        rows.shrink_to_fit();
        let mut read_at = std::mem::take(&mut self.read_at);
        read_at.sort_unstable();
        let names = std::mem::take(&mut self.names);
        for (id, row) in rows.iter_mut() {
            let key = read_key(names.name(id.engine), id.mode, id.window_end, names.name(id.device), names.name(id.category));
            let read = &read_at[read_at.partition_point(|&(k, _)| k < key)..read_at.partition_point(|&(k, _)| k <= key)];
            if let (Some(first), Some(last)) = (read.first(), read.last()) {
                (row.first_emitted_at, row.last_emitted_at) = (first.1, last.1);
            }
        }
        Rows::folded(names, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::device_group;

    fn record(m1: i64, emitted_at: i64, di: &str) -> Vec<u8> {
        serde_json::to_vec(&WindowResult {
            engine: "native".into(),
            mode: Mode::EventTime,
            window_end: 5000,
            di: di.to_string().into(),
            c: "cat-1".into(),
            count: 1,
            m1_sum: m1,
            m2_sum: 1.0,
            emitted_at,
            ids: None,
        })
        .unwrap()
    }

    #[test]
    fn keeps_the_last_value_and_counts_emissions() {
        let mut c = Collected::default();
        c.add(&record(10, 100, "d"));
        c.add(&record(30, 300, "d"));
        c.add(&record(20, 200, "d")); // arrives late, but was emitted before the 300 one
        let rows = c.take_rows().group(0);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].agg.m1_sum, rows[0].emissions, rows[0].first_emitted_at, rows[0].last_emitted_at), (30, 3, 100, 300));
    }

    #[test]
    fn of_two_emissions_stamped_alike_the_one_read_last_wins_and_rows_stay_apart() {
        let mut c = Collected::default();
        for (m1, device) in [(1, "d"), (5, "e"), (2, "d"), (6, "e"), (3, "d")] {
            c.add(&record(m1, 100, device));
        }
        let rows: Vec<(String, i64, i64)> = c.take_rows().group(0).into_iter().map(|r| (r.device, r.agg.m1_sum, r.emissions)).collect();
        assert_eq!(rows, [("d".to_string(), 3, 3), ("e".to_string(), 6, 2)]);
        let mut c = Collected::default();
        for device in ["a", "b", "c", "d", "e", "f"] {
            c.add(&record(1, 100, device));
        }
        let rows = c.take_rows().grouped(3);
        let groups: Vec<Vec<String>> = (0..3).map(|g| rows.group(g).into_iter().map(|r| r.device).collect()).collect();
        for (g, devices) in groups.iter().enumerate() {
            assert!(devices.iter().all(|d| device_group(d, 3) == g), "group {g}: {devices:?}");
        }
        assert_eq!(groups.concat().len(), 6, "every row in one group: {groups:?}");
        assert!(groups.iter().filter(|g| !g.is_empty()).count() >= 2, "{groups:?}");
    }

    #[test]
    fn flush_rows_mark_progress_and_garbage_is_counted() {
        let mut c = Collected::default();
        c.add(&record(0, 1, FLUSH_DEVICE));
        c.add(b"not json");
        assert!(c.take_rows().group(0).is_empty());
        assert_eq!(c.progress[&("native".to_string(), Mode::EventTime)].flush_window_end, Some(5000));
        assert_eq!(c.undecodable, 1);
    }

    #[test]
    fn a_complete_read_brings_the_rows_and_the_end_a_live_read_missed_and_keeps_its_timings_and_times_of_reading() {
        let key = ("native".to_string(), Mode::EventTime);
        let early = Instant::now();
        let mut live = Collected::default();
        live.note_live(&record(10, 100, "d"), early, 900);
        live.note_live(&record(12, 150, "d"), early, 950);
        let mut complete = Collected::default();
        for r in [record(10, 100, "d"), record(12, 150, "d"), record(7, 100, "e"), record(0, 200, FLUSH_DEVICE)] {
            complete.add(&r);
        }
        live.complete_with(complete);
        let rows = live.take_rows().group(0);
        let seen: Vec<(&str, i64, i64, i64)> = rows.iter().map(|r| (r.device.as_str(), r.agg.m1_sum, r.first_emitted_at, r.last_emitted_at)).collect();
        assert_eq!(seen, [("d", 12, 900, 950), ("e", 7, 100, 100)], "emitted when the live read got it; the engine's stamp where it missed it");
        let p = &live.progress[&key];
        assert!(p.flush_seen());
        assert_eq!((p.rows_received, p.last_received), (4, Some(early)), "rows counted by the complete read, the time by the live one");
    }
}
