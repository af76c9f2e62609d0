//! The embedded default store: one SQLite file.

use super::Store;
use crate::intern::Interner;
use crate::model::{Aggregate, Fault, Metric, ResultRow, RunRecord, SentEvent, TruthRow, View};
use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection};
use std::path::Path;

pub struct Sqlite {
    db: Connection,
}

/// Bumped whenever a table changes, so that an older file is refused with a clear line rather than half written.
const SCHEMA_VERSION: i64 = 3;

/// The tables keyed by more than an integer are clustered on their key (`WITHOUT ROWID`): one
/// B-tree each rather than a table and its index, which stores a big stream's log faster. The truth
/// and the results are keyed by device before window, and each batch is inserted in key order:
/// `run` stores them a group of devices at a time, `inject` its truth by device, and a batch's rows
/// then land in one place per device rather than all over the tree (docs/benchmarks.md). A file made before keeps its tables as they
/// are: the columns and the keys' columns are the same.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, scenario TEXT NOT NULL, seed INTEGER NOT NULL, params TEXT NOT NULL,
    engine_versions TEXT NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER);
CREATE TABLE IF NOT EXISTS events (run TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, device TEXT NOT NULL, category TEXT NOT NULL,
    dt INTEGER NOT NULL, sent_at INTEGER NOT NULL, m1 INTEGER NOT NULL, m2 REAL NOT NULL, fault TEXT NOT NULL, PRIMARY KEY (run, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS truth (run TEXT NOT NULL, view TEXT NOT NULL, window_end INTEGER NOT NULL, device TEXT NOT NULL, category TEXT NOT NULL,
    count INTEGER NOT NULL, m1_sum INTEGER NOT NULL, m2_sum REAL NOT NULL, PRIMARY KEY (run, device, category, view, window_end)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (run TEXT NOT NULL, engine TEXT NOT NULL, mode TEXT NOT NULL, window_end INTEGER NOT NULL, device TEXT NOT NULL,
    category TEXT NOT NULL, count INTEGER NOT NULL, m1_sum INTEGER NOT NULL, m2_sum REAL NOT NULL, emissions INTEGER NOT NULL,
    first_emitted_at INTEGER NOT NULL, last_emitted_at INTEGER NOT NULL, ids TEXT, PRIMARY KEY (run, engine, mode, device, category, window_end)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics (run TEXT NOT NULL, engine TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (run, engine, name));
";

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("store: cannot create folder {}", dir.display()))?;
        }
        let db = Connection::open(path).with_context(|| format!("store: cannot open SQLite file {}", path.display()))?;
        let unusable = || format!("store: {} is not a usable SQLite database", path.display());
        let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0)).with_context(unusable)?;
        let tables: i64 = db.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0)).with_context(unusable)?;
        // Schema 2 lacks only the results' ids: a column added, its rows without ids, as they were written.
        if tables > 0 && version == 2 {
            db.execute_batch("ALTER TABLE results ADD COLUMN ids TEXT").with_context(unusable)?;
        } else if tables > 0 && version != SCHEMA_VERSION {
            bail!(
                "store: {} holds the tables of an earlier boontadata (schema {version}, this one writes {SCHEMA_VERSION}); move it aside or give another --store",
                path.display()
            );
        }
        db.execute_batch(SCHEMA).with_context(unusable)?;
        db.pragma_update(None, "user_version", SCHEMA_VERSION).with_context(unusable)?;
        // Commits of the log's batches are not each waited for on disk (write-ahead log, synced at its
        // checkpoints): a machine that loses power may lose the last of them, never the file.
        db.pragma_update(None, "journal_mode", "WAL").with_context(unusable)?;
        db.pragma_update(None, "synchronous", "NORMAL").with_context(unusable)?;
        Ok(Sqlite { db })
    }

    fn in_transaction(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<()>) -> Result<()> {
        let tx = self.db.transaction()?;
        f(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

impl Store for Sqlite {
    fn put_run(&mut self, r: &RunRecord) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![r.id, r.scenario, r.seed as i64, r.params, r.engine_versions, r.started_at, r.ended_at],
        )?;
        Ok(())
    }

    fn put_events(&mut self, run: &str, first_seq: i64, log: &[SentEvent]) -> Result<()> {
        self.in_transaction(|tx| {
            let mut st = tx.prepare("INSERT OR REPLACE INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?;
            for (seq, e) in log.iter().enumerate() {
                st.execute(params![run, first_seq + seq as i64, e.id, e.device, e.category, e.dt, e.sent_at, e.m1, e.m2, e.fault.as_str()])?;
            }
            Ok(())
        })
    }

    fn put_truth(&mut self, run: &str, rows: &[TruthRow]) -> Result<()> {
        self.in_transaction(|tx| {
            let mut st = tx.prepare("INSERT OR REPLACE INTO truth VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
            let mut in_key_order: Vec<&TruthRow> = rows.iter().collect();
            in_key_order.sort_by_key(|&t| (&t.device, &t.category, t.view.as_str(), t.window_end));
            for t in in_key_order {
                st.execute(params![run, t.view.as_str(), t.window_end, t.device, t.category, t.agg.count, t.agg.m1_sum, t.agg.m2_sum])?;
            }
            Ok(())
        })
    }

    fn put_results(&mut self, run: &str, rows: &[ResultRow]) -> Result<()> {
        self.in_transaction(|tx| {
            let mut st = tx.prepare("INSERT OR REPLACE INTO results VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")?;
            let mut in_key_order: Vec<&ResultRow> = rows.iter().collect();
            in_key_order.sort_by_key(|&r| (&r.engine, r.mode.as_str(), &r.device, &r.category, r.window_end));
            for r in in_key_order {
                st.execute(params![
                    run,
                    r.engine,
                    r.mode.as_str(),
                    r.window_end,
                    r.device,
                    r.category,
                    r.agg.count,
                    r.agg.m1_sum,
                    r.agg.m2_sum,
                    r.emissions,
                    r.first_emitted_at,
                    r.last_emitted_at,
                    super::ids_text(&r.ids)
                ])?;
            }
            Ok(())
        })
    }

    fn put_metric(&mut self, run: &str, engine: &str, name: &str, value: f64) -> Result<()> {
        self.db.execute("INSERT OR REPLACE INTO metrics VALUES (?1, ?2, ?3, ?4)", params![run, engine, name, value])?;
        Ok(())
    }

    fn runs(&self) -> Result<Vec<RunRecord>> {
        let mut st = self.db.prepare("SELECT id, scenario, seed, params, engine_versions, started_at, ended_at FROM runs ORDER BY started_at")?;
        let rows = st.query_map([], |r| {
            Ok(RunRecord {
                id: r.get(0)?,
                scenario: r.get(1)?,
                seed: r.get::<_, i64>(2)? as u64,
                params: r.get(3)?,
                engine_versions: r.get(4)?,
                started_at: r.get(5)?,
                ended_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn events(&self, run: &str, each: &mut dyn FnMut(SentEvent)) -> Result<()> {
        let mut st = self.db.prepare("SELECT id, device, category, dt, sent_at, m1, m2, fault FROM events WHERE run = ?1 ORDER BY seq")?;
        let mut names = Interner::default();
        let mut rows = st.query([run])?;
        while let Some(r) = rows.next()? {
            each(SentEvent {
                id: r.get(0)?,
                device: names.shared(r.get_ref(1)?.as_str()?),
                category: names.shared(r.get_ref(2)?.as_str()?),
                dt: r.get(3)?,
                sent_at: r.get(4)?,
                m1: r.get(5)?,
                m2: r.get(6)?,
                fault: Fault::parse(r.get_ref(7)?.as_str()?).unwrap_or(Fault::None),
            });
        }
        Ok(())
    }

    fn truth(&self, run: &str) -> Result<Vec<TruthRow>> {
        let mut st = self.db.prepare(
            "SELECT view, window_end, device, category, count, m1_sum, m2_sum FROM truth WHERE run = ?1 ORDER BY view, window_end, device, category",
        )?;
        let rows = st.query_map([run], |r| {
            let view: String = r.get(0)?;
            Ok(TruthRow {
                view: View::parse(&view).unwrap_or(View::DeviceTime),
                window_end: r.get(1)?,
                device: r.get(2)?,
                category: r.get(3)?,
                agg: Aggregate { count: r.get(4)?, m1_sum: r.get(5)?, m2_sum: r.get(6)? },
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn results(&self, run: &str, each: &mut dyn FnMut(ResultRow)) -> Result<()> {
        let mut st = self.db.prepare(
            "SELECT engine, mode, window_end, device, category, count, m1_sum, m2_sum, emissions, first_emitted_at, last_emitted_at, ids FROM results WHERE run = ?1 ORDER BY engine, mode, device, category, window_end",
        )?;
        let mut rows = st.query([run])?;
        while let Some(r) = rows.next()? {
            each(ResultRow {
                engine: r.get(0)?,
                mode: r.get_ref(1)?.as_str()?.parse().map_err(|e: String| anyhow::anyhow!("store: a result row of run {run}: {e}"))?,
                window_end: r.get(2)?,
                device: r.get(3)?,
                category: r.get(4)?,
                agg: Aggregate { count: r.get(5)?, m1_sum: r.get(6)?, m2_sum: r.get(7)? },
                emissions: r.get(8)?,
                first_emitted_at: r.get(9)?,
                last_emitted_at: r.get(10)?,
                ids: super::ids_from_text(r.get_ref(11)?.as_str_or_null()?, run)?,
            });
        }
        Ok(())
    }

    fn metrics(&self, run: &str) -> Result<Vec<Metric>> {
        let mut st = self.db.prepare("SELECT engine, name, value FROM metrics WHERE run = ?1 ORDER BY engine, name")?;
        let rows = st.query_map([run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
