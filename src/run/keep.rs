//! A run's last phase: its summary written into its folder, then the run kept in the store, or,
//! when the store fails, in a SQLite file of its folder instead, so that nothing of it is lost.

use super::gather::Gathered;
use crate::compare;
use crate::groups::{DeviceGroups, GroupedLog};
use crate::model::SentEvent;
use crate::store::{self, Store};
use crate::summary::{self, RunSummary};
use crate::truth;
use anyhow::{Context, Result};
use std::path::Path;

/// Events stored at once.
const EVENTS_BATCH: usize = 65_536;

/// `summary.json`, `compare.txt` and `exceptions.jsonl` (the events of every exception, where the
/// engines name them) in the run's folder: written before the store is, so that a store that fails leaves them.
pub(super) fn write_summary(dir: &Path, summary: &RunSummary) -> Result<()> {
    let mut events = String::new();
    summary.comparisons.iter().for_each(|c| compare::event_lines(c, &mut events));
    let written = std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(summary)?);
    written
        .and_then(|_| std::fs::write(dir.join("compare.txt"), summary::render(summary, None)))
        .and_then(|_| std::fs::write(dir.join("exceptions.jsonl"), events))
        .with_context(|| format!("writing the summary into {}", dir.display()))
}

/// Keeps a run in `store`, with the verdict of each engine mode that `history` lists; the events
/// and the truth first, so that a store that fails later still has them.
pub(super) fn keep(store: &mut dyn Store, run: &Gathered, window_ms: i64, summary: &RunSummary) -> Result<()> {
    let id = &run.record.id;
    let (mut events, mut seq) = (run.log.events(), 0);
    loop {
        let batch: Vec<SentEvent> = events.by_ref().take(EVENTS_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        store.put_events(id, seq, &batch)?;
        seq += batch.len() as i64;
    }
    for g in 0..run.count() {
        store.put_truth(id, &truth::compute(&run.log.group(g), window_ms))?;
    }
    for g in 0..run.count() {
        store.put_results(id, &run.rows.group(g))?;
    }
    for (who, name, value) in &run.metrics {
        store.put_metric(id, who, name, *value)?;
    }
    for e in &summary.engines {
        for (name, value) in e.verdict_metrics() {
            store.put_metric(id, &format!("{}/{}", e.engine, e.mode), name, value)?;
        }
    }
    store.put_run(&run.record)
}

/// Keeps a run whose store failed in a SQLite file of its own folder; says so in `summary`.
pub(super) fn keep_elsewhere(dir: &Path, run: &Gathered, window_ms: i64, summary: &mut RunSummary, failure: anyhow::Error) {
    let fallback = format!("sqlite:{}", dir.join("boontadata.sqlite").display());
    let failed = format!("the store {} failed while keeping run {}: {failure:#}", summary.store, run.record.id);
    summary.store_failure = Some(match store::open(&fallback).and_then(|mut s| keep(&mut *s, run, window_ms, summary)) {
        Ok(()) => {
            summary.store = fallback.clone();
            format!("{failed}; the run is kept in {fallback} instead (`boontadata compare --store {fallback}`)")
        }
        Err(e) => format!("{failed}; keeping it in {fallback} instead failed too ({e:#}): only its summary is left, in {}", dir.join("summary.json").display()),
    });
}
