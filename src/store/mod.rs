//! The store (docs/SPEC.md §8). Everything goes through the `Store` trait so
//! that another backend (PostgreSQL, Cassandra) is one more implementation
//! chosen by URL; SQLite, embedded, is the default.

mod cassandra;
pub mod local_cassandra;
mod postgres;
mod sqlite;

use crate::groups::{groups_for, GroupedLog, HeldRun, Log, Rows, StoredRun};
use crate::model::{Metric, ResultRow, RunRecord, SentEvent, TruthRow};
use anyhow::{bail, Context, Result};
use std::path::Path;

pub trait Store: Send {
    fn put_run(&mut self, run: &RunRecord) -> Result<()>;
    /// The events of `log`, numbered from `first_seq` in the order sent (a shard's events come after the shards before it).
    fn put_events(&mut self, run: &str, first_seq: i64, log: &[SentEvent]) -> Result<()>;
    fn put_truth(&mut self, run: &str, rows: &[TruthRow]) -> Result<()>;
    fn put_results(&mut self, run: &str, rows: &[ResultRow]) -> Result<()>;
    fn put_metric(&mut self, run: &str, engine: &str, name: &str, value: f64) -> Result<()>;

    fn runs(&self) -> Result<Vec<RunRecord>>;
    /// The run's events in the order sent, each given to `each` as it is read: a run's log of
    /// millions of events is not held as a list of them. The store is busy reading meanwhile:
    /// `each` must not call it.
    fn events(&self, run: &str, each: &mut dyn FnMut(SentEvent)) -> Result<()>;
    fn truth(&self, run: &str) -> Result<Vec<TruthRow>>;
    /// The run's result rows, each given to `each` as it is read, as `events` gives the events.
    fn results(&self, run: &str, each: &mut dyn FnMut(ResultRow)) -> Result<()>;
    fn metrics(&self, run: &str) -> Result<Vec<Metric>>;
}

/// The store URLs there are, as an error names them.
const URLS: &str = "sqlite:PATH, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, cassandra://HOST[:PORT][,…]/KEYSPACE or cassandra:local[:DIR]";

/// The output folder of the commands that have no `--out`: where their `cassandra:local` keeps its node.
const DEFAULT_OUT: &str = "boontadata-out";

/// A `--store` as a command whose output folder is `out` means it: `cassandra:local` is the node
/// keeping its data in OUT/cassandra (`cassandra:local:OUT/cassandra`); any other URL is itself.
pub fn in_output_folder(url: &str, out: &Path) -> String {
    match url {
        "cassandra:local" => format!("cassandra:local:{}", out.join("cassandra").display()),
        _ => url.to_string(),
    }
}

/// Opens the store a URL names: `sqlite:PATH` (or a bare path), `postgres://…`, `cassandra://…`,
/// `cassandra:local:DIR` (a node started for the command, its data in DIR) or `cassandra:local`
/// (the same in boontadata-out/cassandra).
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    match url.split_once(':') {
        Some(("sqlite", path)) => Ok(Box::new(sqlite::Sqlite::open(Path::new(path))?)),
        Some(("postgres" | "postgresql", _)) => Ok(Box::new(postgres::Postgres::open(url)?)),
        Some(("cassandra", _)) => Ok(Box::new(cassandra::Cassandra::open(&in_output_folder(url, Path::new(DEFAULT_OUT)))?)),
        Some((scheme, _)) if !scheme.contains('/') && scheme.len() > 1 => {
            bail!("store URL '{}': unknown scheme '{scheme}'; use {URLS}", shown(url))
        }
        _ => Ok(Box::new(sqlite::Sqlite::open(Path::new(url))?)),
    }
}

/// A store URL as it may be shown: without its password.
pub fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    match rest.split_once('@') {
        Some((user, host)) => format!("{scheme}://{}@{host}", user.split(':').next().unwrap_or_default()),
        None => url.to_string(),
    }
}

/// A result row's ids as the stores keep them: a JSON array, NULL for a row without ids.
fn ids_text(ids: &Option<Vec<String>>) -> Option<String> {
    ids.as_ref().map(|ids| serde_json::to_string(ids).expect("strings always encode"))
}

/// A result row's ids read back from `ids_text`.
fn ids_from_text(text: Option<&str>, run: &str) -> Result<Option<Vec<String>>> {
    text.map(|t| serde_json::from_str(t).with_context(|| format!("store: the ids of a result row of run {run} are not a JSON array of strings"))).transpose()
}

/// What evaluating one run reads of the store: the latest run when `id` is `None`.
pub fn load_run(store: &dyn Store, id: Option<&str>) -> Result<StoredRun> {
    let runs = store.runs()?;
    let record = match id {
        Some(id) => runs.into_iter().find(|r| r.id == id).with_context(|| format!("no run '{id}' in the store"))?,
        None => runs.into_iter().next_back().context("no run in the store; start one with `boontadata run`")?,
    };
    let id = record.id.as_str();
    let (mut events, mut results) = (Log::default(), Rows::default());
    store.events(id, &mut |e| events.push(&e))?;
    store.results(id, &mut |r| results.push(&r))?;
    let metrics = store.metrics(id)?;
    let groups = groups_for(events.events());
    Ok(HeldRun::new(record, metrics, events.grouped(groups), results))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for (url, form) in [
            ("cassandra://user:pw@h", "use cassandra://[USER"),
            ("mysql://user:pw@x", "sqlite:PATH, postgres://"),
            ("cassandra:localhost", "use cassandra://[USER"),
        ] {
            let err = open(url).err().unwrap().to_string();
            assert!(err.contains(form), "{err}");
            assert!(!err.contains("pw@"), "no password shown: {err}");
        }
        let err = open("sqlite:/proc/no/such/dir/x.sqlite").err().unwrap();
        assert!(format!("{err:#}").contains("store:"), "{err:#}");
    }

    #[test]
    fn a_local_cassandra_keeps_its_data_in_the_output_folder() {
        assert_eq!(in_output_folder("cassandra:local", Path::new("out")), "cassandra:local:out/cassandra");
        assert_eq!(in_output_folder("cassandra:local:elsewhere", Path::new("out")), "cassandra:local:elsewhere");
        assert_eq!(in_output_folder("sqlite:x.sqlite", Path::new("out")), "sqlite:x.sqlite");
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(shown("postgres://bench:secret@db:5432/runs"), "postgres://bench@db:5432/runs");
        assert_eq!(shown("postgres://db/runs"), "postgres://db/runs");
    }
}
