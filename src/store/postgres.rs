//! The store in PostgreSQL: the tables of docs/SPEC.md §8, created when missing, each batch
//! copied in binary (`COPY … FROM STDIN BINARY`) into a temporary table and upserted from there,
//! so that writing a row again replaces it, as in every backend.

use super::{shown, Store};
use crate::intern::Interner;
use crate::model::{Aggregate, Fault, Metric, ResultRow, RunRecord, SentEvent, TruthRow, View};
use anyhow::{anyhow, bail, Context, Result};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Row};
use std::cell::RefCell;

pub struct Postgres {
    db: RefCell<Client>,
}

/// Bumped whenever a table changes, so that an older database is refused with a clear line rather than half written.
const SCHEMA_VERSION: i32 = 3;

/// The advisory lock (its key, "boon") under which the tables are made.
const SCHEMA_LOCK: i64 = 0x626f_6f6e;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS boontadata_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, scenario TEXT NOT NULL, seed BIGINT NOT NULL, params TEXT NOT NULL,
    engine_versions TEXT NOT NULL, started_at BIGINT NOT NULL, ended_at BIGINT);
CREATE TABLE IF NOT EXISTS events (run TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL, device TEXT NOT NULL, category TEXT NOT NULL,
    dt BIGINT NOT NULL, sent_at BIGINT NOT NULL, m1 BIGINT NOT NULL, m2 DOUBLE PRECISION NOT NULL, fault TEXT NOT NULL, PRIMARY KEY (run, seq));
CREATE TABLE IF NOT EXISTS truth (run TEXT NOT NULL, view TEXT NOT NULL, window_end BIGINT NOT NULL, device TEXT NOT NULL, category TEXT NOT NULL,
    count BIGINT NOT NULL, m1_sum BIGINT NOT NULL, m2_sum DOUBLE PRECISION NOT NULL, PRIMARY KEY (run, view, window_end, device, category));
CREATE TABLE IF NOT EXISTS results (run TEXT NOT NULL, engine TEXT NOT NULL, mode TEXT NOT NULL, window_end BIGINT NOT NULL, device TEXT NOT NULL,
    category TEXT NOT NULL, count BIGINT NOT NULL, m1_sum BIGINT NOT NULL, m2_sum DOUBLE PRECISION NOT NULL, emissions BIGINT NOT NULL,
    first_emitted_at BIGINT NOT NULL, last_emitted_at BIGINT NOT NULL, ids TEXT, PRIMARY KEY (run, engine, mode, window_end, device, category));
CREATE TABLE IF NOT EXISTS metrics (run TEXT NOT NULL, engine TEXT NOT NULL, name TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run, engine, name));
";

impl Postgres {
    pub fn open(url: &str) -> Result<Postgres> {
        let mut db = Client::connect(url, NoTls)
            .map_err(|e| anyhow!("store: cannot connect to {} ({e}); check that the server runs there and takes this user and password", shown(url)))?;
        let version: Option<i32> = db
            .query_opt("SELECT version FROM boontadata_schema", &[])
            .map(|row| row.map(|r| r.get(0)))
            .or_else(|e| if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) { Ok(None) } else { Err(e) })
            .with_context(|| format!("store: reading the schema version in {}", shown(url)))?;
        match version {
            // Schema 2 lacks only the results' ids: a column added, its rows without ids, as they were written.
            Some(2) => db
                .batch_execute(&format!("ALTER TABLE results ADD COLUMN ids TEXT; UPDATE boontadata_schema SET version = {SCHEMA_VERSION}"))
                .with_context(|| format!("store: adding the results' ids to the tables of {}", shown(url)))?,
            Some(v) if v != SCHEMA_VERSION => bail!(
                "store: {} holds the tables of an earlier boontadata (schema {v}, this one writes {SCHEMA_VERSION}); give another database in --store",
                shown(url)
            ),
            Some(_) => {}
            None => {
                let mut tx = db.transaction()?;
                // Shards of one run start at once on a new database: one creates the tables, the others wait for it
                // (two CREATE TABLE IF NOT EXISTS at once collide), then find them made and the version written.
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
                tx.batch_execute(SCHEMA)
                    .with_context(|| format!("store: cannot create the tables in {} (does this user have CREATE rights there?)", shown(url)))?;
                tx.execute("INSERT INTO boontadata_schema SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM boontadata_schema)", &[&SCHEMA_VERSION])?;
                tx.commit()?;
            }
        }
        Ok(Postgres { db: RefCell::new(db) })
    }

    /// Writes `rows` into `table` (columns `columns`, of `types`, the first `key` of them its key), replacing rows of the same key.
    fn upsert<'a>(&self, table: &str, columns: &[&str], types: &[Type], key: usize, rows: impl Iterator<Item = Vec<&'a (dyn ToSql + Sync)>>) -> Result<()> {
        let mut db = self.db.borrow_mut();
        let mut tx = db.transaction()?;
        tx.batch_execute(&format!("CREATE TEMPORARY TABLE incoming (LIKE {table}) ON COMMIT DROP"))?;
        let mut writer = BinaryCopyInWriter::new(tx.copy_in(&format!("COPY incoming ({}) FROM STDIN BINARY", columns.join(", ")))?, types);
        for row in rows {
            writer.write(&row)?;
        }
        writer.finish()?;
        let set: Vec<String> = columns[key..].iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let on_conflict = if set.is_empty() { "DO NOTHING".to_string() } else { format!("DO UPDATE SET {}", set.join(", ")) };
        tx.batch_execute(&format!("INSERT INTO {table} SELECT * FROM incoming ON CONFLICT ({}) {on_conflict}", columns[..key].join(", ")))?;
        tx.commit()?;
        Ok(())
    }

    fn query<T>(&self, sql: &str, run: &str, row: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
        let mut all = Vec::new();
        self.each_row(sql, run, |r| {
            all.push(row(r)?);
            Ok(())
        })?;
        Ok(all)
    }

    /// Gives `each` the rows of `sql` for `run` as they come from the server, not gathered first.
    fn each_row(&self, sql: &str, run: &str, mut each: impl FnMut(&Row) -> Result<()>) -> Result<()> {
        let mut db = self.db.borrow_mut();
        let mut rows = db.query_raw(sql, [run])?;
        while let Some(r) = rows.next()? {
            each(&r)?;
        }
        Ok(())
    }
}

impl Store for Postgres {
    fn put_run(&mut self, r: &RunRecord) -> Result<()> {
        self.db.get_mut().execute(
            "INSERT INTO runs VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET scenario = EXCLUDED.scenario, seed = EXCLUDED.seed, \
             params = EXCLUDED.params, engine_versions = EXCLUDED.engine_versions, started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at",
            &[&r.id, &r.scenario, &(r.seed as i64), &r.params, &r.engine_versions, &r.started_at, &r.ended_at],
        )?;
        Ok(())
    }

    fn put_events(&mut self, run: &str, first_seq: i64, log: &[SentEvent]) -> Result<()> {
        let seqs: Vec<i64> = (first_seq..first_seq + log.len() as i64).collect();
        let faults: Vec<&str> = log.iter().map(|e| e.fault.as_str()).collect();
        let names: Vec<(&str, &str)> = log.iter().map(|e| (&*e.device, &*e.category)).collect();
        let columns = ["run", "seq", "id", "device", "category", "dt", "sent_at", "m1", "m2", "fault"];
        let (text, int, real) = (Type::TEXT, Type::INT8, Type::FLOAT8);
        let types = [text.clone(), int.clone(), text.clone(), text.clone(), text.clone(), int.clone(), int.clone(), int, real, text];
        let rows = log
            .iter()
            .enumerate()
            .map(|(i, e)| -> Vec<&(dyn ToSql + Sync)> { vec![&run, &seqs[i], &e.id, &names[i].0, &names[i].1, &e.dt, &e.sent_at, &e.m1, &e.m2, &faults[i]] });
        self.upsert("events", &columns, &types, 2, rows)
    }

    fn put_truth(&mut self, run: &str, rows: &[TruthRow]) -> Result<()> {
        let views: Vec<&str> = rows.iter().map(|t| t.view.as_str()).collect();
        let columns = ["run", "view", "window_end", "device", "category", "count", "m1_sum", "m2_sum"];
        let (text, int) = (Type::TEXT, Type::INT8);
        let types = [text.clone(), text.clone(), int.clone(), text.clone(), text, int.clone(), int, Type::FLOAT8];
        let rows = rows.iter().enumerate().map(|(i, t)| -> Vec<&(dyn ToSql + Sync)> {
            vec![&run, &views[i], &t.window_end, &t.device, &t.category, &t.agg.count, &t.agg.m1_sum, &t.agg.m2_sum]
        });
        self.upsert("truth", &columns, &types, 5, rows)
    }

    fn put_results(&mut self, run: &str, rows: &[ResultRow]) -> Result<()> {
        let modes: Vec<&str> = rows.iter().map(|r| r.mode.as_str()).collect();
        let ids: Vec<Option<String>> = rows.iter().map(|r| super::ids_text(&r.ids)).collect();
        let columns = [
            "run",
            "engine",
            "mode",
            "window_end",
            "device",
            "category",
            "count",
            "m1_sum",
            "m2_sum",
            "emissions",
            "first_emitted_at",
            "last_emitted_at",
            "ids",
        ];
        let (text, int) = (Type::TEXT, Type::INT8);
        let types = [
            text.clone(),
            text.clone(),
            text.clone(),
            int.clone(),
            text.clone(),
            text.clone(),
            int.clone(),
            int.clone(),
            Type::FLOAT8,
            int.clone(),
            int.clone(),
            int,
            text,
        ];
        let rows = rows.iter().enumerate().map(|(i, r)| -> Vec<&(dyn ToSql + Sync)> {
            vec![
                &run,
                &r.engine,
                &modes[i],
                &r.window_end,
                &r.device,
                &r.category,
                &r.agg.count,
                &r.agg.m1_sum,
                &r.agg.m2_sum,
                &r.emissions,
                &r.first_emitted_at,
                &r.last_emitted_at,
                &ids[i],
            ]
        });
        self.upsert("results", &columns, &types, 6, rows)
    }

    fn put_metric(&mut self, run: &str, engine: &str, name: &str, value: f64) -> Result<()> {
        self.db.get_mut().execute(
            "INSERT INTO metrics VALUES ($1, $2, $3, $4) ON CONFLICT (run, engine, name) DO UPDATE SET value = EXCLUDED.value",
            &[&run, &engine, &name, &value],
        )?;
        Ok(())
    }

    fn runs(&self) -> Result<Vec<RunRecord>> {
        let rows = self.db.borrow_mut().query("SELECT id, scenario, seed, params, engine_versions, started_at, ended_at FROM runs ORDER BY started_at", &[])?;
        Ok(rows
            .iter()
            .map(|r| RunRecord {
                id: r.get(0),
                scenario: r.get(1),
                seed: r.get::<_, i64>(2) as u64,
                params: r.get(3),
                engine_versions: r.get(4),
                started_at: r.get(5),
                ended_at: r.get(6),
            })
            .collect())
    }

    fn events(&self, run: &str, each: &mut dyn FnMut(SentEvent)) -> Result<()> {
        let mut names = Interner::default();
        self.each_row("SELECT id, device, category, dt, sent_at, m1, m2, fault FROM events WHERE run = $1 ORDER BY seq", run, |r| {
            each(SentEvent {
                id: r.get(0),
                device: names.shared(r.get(1)),
                category: names.shared(r.get(2)),
                dt: r.get(3),
                sent_at: r.get(4),
                m1: r.get(5),
                m2: r.get(6),
                fault: Fault::parse(r.get(7)).unwrap_or(Fault::None),
            });
            Ok(())
        })
    }

    fn truth(&self, run: &str) -> Result<Vec<TruthRow>> {
        let sql = "SELECT view, window_end, device, category, count, m1_sum, m2_sum FROM truth WHERE run = $1 ORDER BY view, window_end, device, category";
        self.query(sql, run, |r| {
            Ok(TruthRow {
                view: View::parse(r.get(0)).unwrap_or(View::DeviceTime),
                window_end: r.get(1),
                device: r.get(2),
                category: r.get(3),
                agg: Aggregate { count: r.get(4), m1_sum: r.get(5), m2_sum: r.get(6) },
            })
        })
    }

    fn results(&self, run: &str, each: &mut dyn FnMut(ResultRow)) -> Result<()> {
        let sql = "SELECT engine, mode, window_end, device, category, count, m1_sum, m2_sum, emissions, first_emitted_at, last_emitted_at, ids \
                   FROM results WHERE run = $1 ORDER BY engine, mode, window_end, device, category";
        self.each_row(sql, run, |r| {
            each(ResultRow {
                engine: r.get(0),
                mode: r.get::<_, &str>(1).parse().map_err(|e: String| anyhow!("store: a result row of run {run}: {e}"))?,
                window_end: r.get(2),
                device: r.get(3),
                category: r.get(4),
                agg: Aggregate { count: r.get(5), m1_sum: r.get(6), m2_sum: r.get(7) },
                emissions: r.get(8),
                first_emitted_at: r.get(9),
                last_emitted_at: r.get(10),
                ids: super::ids_from_text(r.get(11), run)?,
            });
            Ok(())
        })
    }

    fn metrics(&self, run: &str) -> Result<Vec<Metric>> {
        self.query("SELECT engine, name, value FROM metrics WHERE run = $1 ORDER BY engine, name", run, |r| Ok((r.get(0), r.get(1), r.get(2))))
    }
}
