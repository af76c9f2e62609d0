//! The store (SPEC §8). Everything goes through the `Store` trait so that
//! another backend (PostgreSQL, Cassandra) is one more implementation chosen
//! by URL; SQLite, embedded, is the default.

use crate::collect::ResultRow;
use crate::simulate::Fault;
use crate::truth::{Aggregate, SentEvent, TruthRow, View};
use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub scenario: String,
    pub seed: u64,
    /// The scenario and options of the run, as JSON.
    pub params: String,
    /// Engine name → version, as JSON.
    pub engine_versions: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

pub trait Store {
    fn put_run(&mut self, run: &RunRecord) -> Result<()>;
    fn put_events(&mut self, run: &str, log: &[SentEvent]) -> Result<()>;
    fn put_truth(&mut self, run: &str, rows: &[TruthRow]) -> Result<()>;
    fn put_results(&mut self, run: &str, rows: &[ResultRow]) -> Result<()>;
    fn put_metric(&mut self, run: &str, engine: &str, name: &str, value: f64) -> Result<()>;

    fn runs(&self) -> Result<Vec<RunRecord>>;
    fn events(&self, run: &str) -> Result<Vec<SentEvent>>;
    fn truth(&self, run: &str) -> Result<Vec<TruthRow>>;
    fn results(&self, run: &str) -> Result<Vec<ResultRow>>;
    fn metrics(&self, run: &str) -> Result<Vec<(String, String, f64)>>;
}

/// Opens the store a URL names: `sqlite:PATH` (or a bare path).
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    match url.split_once(':') {
        Some(("sqlite", path)) => Ok(Box::new(Sqlite::open(Path::new(path))?)),
        Some((scheme @ ("postgres" | "postgresql" | "cassandra"), _)) => {
            bail!("store URL '{url}': the {scheme} backend is not built yet; use sqlite:PATH")
        }
        Some((scheme, _)) if !scheme.contains('/') && scheme.len() > 1 => {
            bail!("store URL '{url}': unknown scheme '{scheme}'; use sqlite:PATH")
        }
        _ => Ok(Box::new(Sqlite::open(Path::new(url))?)),
    }
}

pub struct Sqlite {
    db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, scenario TEXT NOT NULL, seed INTEGER NOT NULL, params TEXT NOT NULL,
    engine_versions TEXT NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER);
CREATE TABLE IF NOT EXISTS events (run TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, device TEXT NOT NULL, category TEXT NOT NULL,
    dt INTEGER NOT NULL, sent_at INTEGER NOT NULL, m1 INTEGER NOT NULL, m2 REAL NOT NULL, fault TEXT NOT NULL, PRIMARY KEY (run, seq));
CREATE TABLE IF NOT EXISTS truth (run TEXT NOT NULL, view TEXT NOT NULL, window_end INTEGER NOT NULL, device TEXT NOT NULL, category TEXT NOT NULL,
    count INTEGER NOT NULL, m1_sum INTEGER NOT NULL, m2_sum REAL NOT NULL, n_late INTEGER NOT NULL, n_dup INTEGER NOT NULL, n_ooo INTEGER NOT NULL,
    late_m1 INTEGER NOT NULL, dup_m1 INTEGER NOT NULL, PRIMARY KEY (run, view, window_end, device, category));
CREATE TABLE IF NOT EXISTS results (run TEXT NOT NULL, engine TEXT NOT NULL, mode TEXT NOT NULL, window_end INTEGER NOT NULL, device TEXT NOT NULL,
    category TEXT NOT NULL, count INTEGER NOT NULL, m1_sum INTEGER NOT NULL, m2_sum REAL NOT NULL, emissions INTEGER NOT NULL,
    first_emitted_at INTEGER NOT NULL, last_emitted_at INTEGER NOT NULL, PRIMARY KEY (run, engine, mode, window_end, device, category));
CREATE TABLE IF NOT EXISTS metrics (run TEXT NOT NULL, engine TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (run, engine, name));
";

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("store: cannot create folder {}", dir.display()))?;
        }
        let db = Connection::open(path).with_context(|| format!("store: cannot open SQLite file {}", path.display()))?;
        db.execute_batch(SCHEMA).with_context(|| format!("store: {} is not a usable SQLite database", path.display()))?;
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

    fn put_events(&mut self, run: &str, log: &[SentEvent]) -> Result<()> {
        self.in_transaction(|tx| {
            let mut st = tx.prepare("INSERT OR REPLACE INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?;
            for (seq, e) in log.iter().enumerate() {
                st.execute(params![run, seq as i64, e.id, e.device, e.category, e.dt, e.sent_at, e.m1, e.m2, e.fault.as_str()])?;
            }
            Ok(())
        })
    }

    fn put_truth(&mut self, run: &str, rows: &[TruthRow]) -> Result<()> {
        self.in_transaction(|tx| {
            let mut st = tx.prepare("INSERT OR REPLACE INTO truth VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")?;
            for t in rows {
                st.execute(params![
                    run,
                    t.view.as_str(),
                    t.window_end,
                    t.device,
                    t.category,
                    t.agg.count,
                    t.agg.m1_sum,
                    t.agg.m2_sum,
                    t.n_late,
                    t.n_dup,
                    t.n_ooo,
                    t.late_m1,
                    t.dup_m1
                ])?;
            }
            Ok(())
        })
    }

    fn put_results(&mut self, run: &str, rows: &[ResultRow]) -> Result<()> {
        self.in_transaction(|tx| {
            let mut st = tx.prepare("INSERT OR REPLACE INTO results VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")?;
            for r in rows {
                st.execute(params![
                    run,
                    r.engine,
                    r.mode,
                    r.window_end,
                    r.device,
                    r.category,
                    r.agg.count,
                    r.agg.m1_sum,
                    r.agg.m2_sum,
                    r.emissions,
                    r.first_emitted_at,
                    r.last_emitted_at
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

    fn events(&self, run: &str) -> Result<Vec<SentEvent>> {
        let mut st = self.db.prepare("SELECT id, device, category, dt, sent_at, m1, m2, fault FROM events WHERE run = ?1 ORDER BY seq")?;
        let rows = st.query_map([run], |r| {
            let fault: String = r.get(7)?;
            Ok(SentEvent {
                id: r.get(0)?,
                device: r.get(1)?,
                category: r.get(2)?,
                dt: r.get(3)?,
                sent_at: r.get(4)?,
                m1: r.get(5)?,
                m2: r.get(6)?,
                fault: Fault::parse(&fault).unwrap_or(Fault::None),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn truth(&self, run: &str) -> Result<Vec<TruthRow>> {
        let mut st = self.db.prepare(
            "SELECT view, window_end, device, category, count, m1_sum, m2_sum, n_late, n_dup, n_ooo, late_m1, dup_m1 FROM truth WHERE run = ?1 ORDER BY view, window_end, device, category",
        )?;
        let rows = st.query_map([run], |r| {
            let view: String = r.get(0)?;
            Ok(TruthRow {
                view: View::parse(&view).unwrap_or(View::DeviceTime),
                window_end: r.get(1)?,
                device: r.get(2)?,
                category: r.get(3)?,
                agg: Aggregate { count: r.get(4)?, m1_sum: r.get(5)?, m2_sum: r.get(6)? },
                n_late: r.get(7)?,
                n_dup: r.get(8)?,
                n_ooo: r.get(9)?,
                late_m1: r.get(10)?,
                dup_m1: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn results(&self, run: &str) -> Result<Vec<ResultRow>> {
        let mut st = self.db.prepare(
            "SELECT engine, mode, window_end, device, category, count, m1_sum, m2_sum, emissions, first_emitted_at, last_emitted_at FROM results WHERE run = ?1 ORDER BY engine, mode, window_end, device, category",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(ResultRow {
                engine: r.get(0)?,
                mode: r.get(1)?,
                window_end: r.get(2)?,
                device: r.get(3)?,
                category: r.get(4)?,
                agg: Aggregate { count: r.get(5)?, m1_sum: r.get(6)?, m2_sum: r.get(7)? },
                emissions: r.get(8)?,
                first_emitted_at: r.get(9)?,
                last_emitted_at: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn metrics(&self, run: &str) -> Result<Vec<(String, String, f64)>> {
        let mut st = self.db.prepare("SELECT engine, name, value FROM metrics WHERE run = ?1 ORDER BY engine, name")?;
        let rows = st.query_map([run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::compute;
    use crate::truth::tests::{sent, TEN};

    #[test]
    fn everything_written_reads_back() {
        let dir = std::env::temp_dir().join(format!("boontadata-store-{}", std::process::id()));
        let path = dir.join("s.sqlite");
        let mut store = open(&format!("sqlite:{}", path.display())).unwrap();
        let log = vec![sent("d-0", "d", TEN, TEN + 5, 3, Fault::Late), sent("d-0", "d", TEN, TEN + 9, 3, Fault::Duplicate)];
        let truth = compute(&log, 5000);
        let result = ResultRow {
            engine: "native".into(),
            mode: "event-time".into(),
            window_end: TEN + 5000,
            device: "d".into(),
            category: "cat-1".into(),
            agg: Aggregate { count: 1, m1_sum: 3, m2_sum: 3.0 },
            emissions: 2,
            first_emitted_at: 1,
            last_emitted_at: 2,
        };
        let run = RunRecord {
            id: "r1".into(),
            scenario: "seed".into(),
            seed: 34,
            params: "{}".into(),
            engine_versions: "{}".into(),
            started_at: 5,
            ended_at: Some(6),
        };
        store.put_run(&run).unwrap();
        store.put_events("r1", &log).unwrap();
        store.put_truth("r1", &truth).unwrap();
        store.put_results("r1", std::slice::from_ref(&result)).unwrap();
        store.put_metric("r1", "native", "malformed", 3.0).unwrap();
        drop(store);
        let store = open(path.to_str().unwrap()).unwrap();
        assert_eq!(store.runs().unwrap(), vec![run]);
        assert_eq!(store.events("r1").unwrap(), log);
        let mut back = store.truth("r1").unwrap();
        back.sort_by_key(|t| t.view);
        assert_eq!(back, truth);
        assert_eq!(store.results("r1").unwrap(), vec![result]);
        assert_eq!(store.metrics("r1").unwrap(), vec![("native".into(), "malformed".into(), 3.0)]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_urls_say_what_to_use() {
        for url in ["postgres://x", "cassandra://h", "mysql://x"] {
            let err = open(url).err().unwrap().to_string();
            assert!(err.contains("sqlite:PATH"), "{err}");
        }
        let err = open("sqlite:/proc/no/such/dir/x.sqlite").err().unwrap();
        assert!(format!("{err:#}").contains("store:"), "{err:#}");
    }
}
