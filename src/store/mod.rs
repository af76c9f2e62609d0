//! The store (docs/SPEC.md §8). Everything goes through the `Store` trait so
//! that another backend (PostgreSQL, Cassandra) is one more implementation
//! chosen by URL; SQLite, embedded, is the default.

mod sqlite;

use crate::model::{Metric, ResultRow, RunRecord, SentEvent, StoredRun, TruthRow};
use anyhow::{bail, Context, Result};
use std::path::Path;

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
    fn metrics(&self, run: &str) -> Result<Vec<Metric>>;
}

/// Opens the store a URL names: `sqlite:PATH` (or a bare path).
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    match url.split_once(':') {
        Some(("sqlite", path)) => Ok(Box::new(sqlite::Sqlite::open(Path::new(path))?)),
        Some((scheme @ ("postgres" | "postgresql" | "cassandra"), _)) => {
            bail!("store URL '{url}': the {scheme} backend is not built yet; use sqlite:PATH")
        }
        Some((scheme, _)) if !scheme.contains('/') && scheme.len() > 1 => {
            bail!("store URL '{url}': unknown scheme '{scheme}'; use sqlite:PATH")
        }
        _ => Ok(Box::new(sqlite::Sqlite::open(Path::new(url))?)),
    }
}

/// Everything the store holds of one run: the latest when `id` is `None`.
pub fn load_run(store: &dyn Store, id: Option<&str>) -> Result<StoredRun> {
    let runs = store.runs()?;
    let record = match id {
        Some(id) => runs.into_iter().find(|r| r.id == id).with_context(|| format!("no run '{id}' in the store"))?,
        None => runs.into_iter().next_back().context("no run in the store; start one with `boontadata run`")?,
    };
    let id = record.id.as_str();
    Ok(StoredRun { events: store.events(id)?, truth: store.truth(id)?, results: store.results(id)?, metrics: store.metrics(id)?, record })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Aggregate, Fault, Mode};
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
            mode: Mode::EventTime,
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
        assert_eq!(store.runs().unwrap(), vec![run.clone()]);
        assert_eq!(store.events("r1").unwrap(), log.clone());
        let mut back = store.truth("r1").unwrap();
        back.sort_by_key(|t| t.view);
        assert_eq!(back, truth);
        assert_eq!(store.results("r1").unwrap(), vec![result]);
        assert_eq!(store.metrics("r1").unwrap(), vec![("native".into(), "malformed".into(), 3.0)]);
        let stored = load_run(&*store, None).unwrap();
        assert_eq!((stored.record, stored.events, stored.results.len()), (run, log, 1));
        assert!(load_run(&*store, Some("r2")).unwrap_err().to_string().contains("no run 'r2'"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_of_an_earlier_schema_is_refused_and_left_as_it_is() {
        let dir = std::env::temp_dir().join(format!("boontadata-store-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.sqlite");
        rusqlite::Connection::open(&path).unwrap().execute_batch("CREATE TABLE truth (run TEXT, n_late INTEGER)").unwrap();
        let err = format!("{:#}", open(&format!("sqlite:{}", path.display())).err().unwrap());
        assert!(err.contains("an earlier boontadata") && err.contains("another --store"), "{err}");
        let tables: i64 = rusqlite::Connection::open(&path).unwrap().query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 1, "nothing was added to it");
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
