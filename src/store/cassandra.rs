//! The store in Apache Cassandra, through the `scylla` driver: the tables of docs/SPEC.md §8 in a
//! keyspace, created when missing, partitioned as the bench reads them (all runs; one run's events,
//! truth and metrics; one run's results engine by engine), so that every read is of whole
//! partitions, in the order of their clustering columns — the order the SQLite backend sorts in;
//! a run's events are spread over `EVENT_GROUPS` partitions by device, merged back in the order sent.
//! A batch of rows is written as unlogged batches of one partition each, of one prepared statement.
//! `cassandra:local[:DIR]` is a node started for the command (`local_cassandra`).

use super::local_cassandra::{self, LocalCassandra};
use super::{shown, Store};
use crate::groups::device_group;
use crate::intern::Interner;
use crate::model::{Aggregate, Fault, Metric, ResultRow, RunRecord, SentEvent, TruthRow, View};
use anyhow::{anyhow, bail, Context, Result};
use futures::{StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// How the URL is written, as an error says it.
const FORM: &str = "cassandra://[USER[:PASSWORD]@]HOST[:PORT][,HOST[:PORT]…]/KEYSPACE[?replication=N|DC:N[,DC:N…]] or cassandra:local[:DIR]";

/// The version of the §8 tables, numbered as the other backends number theirs (4: the same tables as
/// their 3, with a run's events partitioned by device group): an older keyspace is refused with a
/// clear line rather than half written.
const SCHEMA_VERSION: i32 = 4;

/// The partitions of a run's events, by device (`groups::device_group`): a run of 10M events is
/// not one partition on one node's disk, and its writes go to every node.
const EVENT_GROUPS: usize = 16;

/// `view` is a reserved word of CQL: quoted wherever it is named.
const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS boontadata_schema (id int PRIMARY KEY, version int)",
    // Every run in one partition (bucket 0): the one read of this table is all of it, and a bench keeps hundreds of runs, not millions.
    "CREATE TABLE IF NOT EXISTS runs (bucket int, id text, scenario text, seed bigint, params text, engine_versions text, started_at bigint, ended_at bigint,
        PRIMARY KEY (bucket, id))",
    "CREATE TABLE IF NOT EXISTS events (run text, device_group int, seq bigint, id text, device text, category text, dt bigint, sent_at bigint, m1 bigint,
        m2 double, fault text, PRIMARY KEY ((run, device_group), seq))",
    "CREATE TABLE IF NOT EXISTS truth (run text, \"view\" text, window_end bigint, device text, category text, count bigint, m1_sum bigint, m2_sum double,
        PRIMARY KEY (run, \"view\", window_end, device, category))",
    // A partition per run and engine: a run of many jobs holds as many result rows as events per job.
    "CREATE TABLE IF NOT EXISTS results (run text, engine text, mode text, window_end bigint, device text, category text, count bigint, m1_sum bigint,
        m2_sum double, emissions bigint, first_emitted_at bigint, last_emitted_at bigint, ids text, PRIMARY KEY ((run, engine), mode, window_end, device, category))",
    // The engines a run has results of: the partitions of `results` that reading the run's results reads.
    "CREATE TABLE IF NOT EXISTS result_engines (run text, engine text, PRIMARY KEY (run, engine))",
    "CREATE TABLE IF NOT EXISTS metrics (run text, engine text, name text, value double, PRIMARY KEY (run, engine, name))",
];

/// Rows in one unlogged batch: one partition's, well under Cassandra's limit on one mutation (half a commit log segment).
const BATCH_ROWS: usize = 500;
/// Batches written at once.
const IN_FLIGHT: usize = 4;

/// A `cassandra://` URL, taken apart.
#[derive(Debug, PartialEq)]
struct Address {
    nodes: Vec<String>,
    user: Option<(String, String)>,
    keyspace: String,
    /// The `replication` map a missing keyspace is created with.
    replication: String,
}

fn parse(url: &str) -> Result<Address> {
    let bad = |why: &str| anyhow!("store URL '{}': {why}; use {FORM}", shown(url));
    let rest = url.strip_prefix("cassandra://").ok_or_else(|| bad("not a cassandra:// URL"))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, keyspace) = rest.split_once('/').ok_or_else(|| bad("no keyspace"))?;
    let (user, hosts) = authority.rsplit_once('@').map_or((None, authority), |(user, hosts)| (Some(user), hosts));
    let user = user.map(|u| u.split_once(':').unwrap_or((u, ""))).map(|(name, password)| (name.to_string(), password.to_string()));
    let nodes: Vec<String> = hosts.split(',').filter(|h| !h.is_empty()).map(|h| if h.contains(':') { h.to_string() } else { format!("{h}:9042") }).collect();
    if nodes.is_empty() {
        return Err(bad("no host"));
    }
    let identifier = |s: &str| {
        s.len() <= 48 && s.starts_with(|c: char| c.is_ascii_lowercase()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !identifier(keyspace) {
        return Err(bad(&format!("keyspace '{keyspace}' is not 1 to 48 lowercase letters, digits or '_', starting with a letter")));
    }
    let replication = match query.split_once('=') {
        None if query.is_empty() => simple_strategy(1),
        Some(("replication", factor)) if factor.parse::<u32>().is_ok_and(|n| n > 0) => simple_strategy(factor.parse()?),
        Some(("replication", per_dc)) => {
            let dc = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            let pairs = per_dc.split(',').map(|pair| match pair.split_once(':') {
                Some((name, n)) if dc(name) && n.parse::<u32>().is_ok() => Ok(format!("'{name}': {n}")),
                _ => Err(bad(&format!("replication '{per_dc}' is neither a factor (3) nor data centres and factors (dc1:3,dc2:2)"))),
            });
            format!("{{'class': 'NetworkTopologyStrategy', {}}}", pairs.collect::<Result<Vec<_>>>()?.join(", "))
        }
        _ => return Err(bad(&format!("unknown parameter '{query}'"))),
    };
    Ok(Address { nodes, user, keyspace: keyspace.to_string(), replication })
}

fn simple_strategy(factor: u32) -> String {
    format!("{{'class': 'SimpleStrategy', 'replication_factor': {factor}}}")
}

/// The prepared statements of every write and read.
struct Statements {
    put_run: PreparedStatement,
    put_event: PreparedStatement,
    put_truth: PreparedStatement,
    put_result: PreparedStatement,
    put_result_engine: PreparedStatement,
    put_metric: PreparedStatement,
    runs: PreparedStatement,
    events: PreparedStatement,
    truth: PreparedStatement,
    result_engines: PreparedStatement,
    results: PreparedStatement,
    metrics: PreparedStatement,
}

impl Statements {
    async fn prepare(session: &Session) -> Result<Statements> {
        let prepare = |cql: &'static str| async move { session.prepare(cql).await.with_context(|| format!("preparing {cql}")) };
        Ok(Statements {
            put_run: prepare("INSERT INTO runs (bucket, id, scenario, seed, params, engine_versions, started_at, ended_at) VALUES (0, ?, ?, ?, ?, ?, ?, ?)")
                .await?,
            put_event: prepare("INSERT INTO events (run, device_group, seq, id, device, category, dt, sent_at, m1, m2, fault) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .await?,
            put_truth: prepare("INSERT INTO truth (run, \"view\", window_end, device, category, count, m1_sum, m2_sum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .await?,
            put_result: prepare(
                "INSERT INTO results (run, engine, mode, window_end, device, category, count, m1_sum, m2_sum, emissions, first_emitted_at, last_emitted_at, ids) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            put_result_engine: prepare("INSERT INTO result_engines (run, engine) VALUES (?, ?)").await?,
            put_metric: prepare("INSERT INTO metrics (run, engine, name, value) VALUES (?, ?, ?, ?)").await?,
            runs: prepare("SELECT id, scenario, seed, params, engine_versions, started_at, ended_at FROM runs WHERE bucket = 0").await?,
            events: prepare("SELECT seq, id, device, category, dt, sent_at, m1, m2, fault FROM events WHERE run = ? AND device_group = ?").await?,
            truth: prepare("SELECT \"view\", window_end, device, category, count, m1_sum, m2_sum FROM truth WHERE run = ?").await?,
            result_engines: prepare("SELECT engine FROM result_engines WHERE run = ?").await?,
            results: prepare(
                "SELECT engine, mode, window_end, device, category, count, m1_sum, m2_sum, emissions, first_emitted_at, last_emitted_at, ids \
                 FROM results WHERE run = ? AND engine = ?",
            )
            .await?,
            metrics: prepare("SELECT engine, name, value FROM metrics WHERE run = ?").await?,
        })
    }
}

pub struct Cassandra {
    session: Session,
    statements: Statements,
    /// The driver is async: each call of the store waits for its requests on this runtime.
    runtime: tokio::runtime::Runtime,
    /// The URL as errors show it.
    shown: String,
    /// The local node this handle keeps running, for `cassandra:local`; dropped last, after the session.
    _node: Option<Arc<LocalCassandra>>,
}

impl Cassandra {
    /// Opens `cassandra://…`, or `cassandra:local:DIR` (the node of DIR, started if this process does not run it yet).
    pub fn open(url: &str) -> Result<Cassandra> {
        match url.strip_prefix("cassandra:local:") {
            Some(dir) => {
                let node = local_cassandra::shared(Path::new(dir))?;
                Cassandra::connect(&node.url.clone(), url, Some(node))
            }
            None => Cassandra::connect(url, url, None),
        }
    }

    fn connect(url: &str, shown_as: &str, node: Option<Arc<LocalCassandra>>) -> Result<Cassandra> {
        let address = parse(url)?;
        let shown = shown(shown_as);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().context("store: starting the Cassandra driver")?;
        let mut builder = SessionBuilder::new().known_nodes(&address.nodes);
        if let Some((name, password)) = &address.user {
            builder = builder.user(name, password);
        }
        let session = runtime
            .block_on(builder.build())
            .map_err(|e| anyhow!("store: cannot connect to {shown} ({e}); check that Cassandra runs there, serves CQL on that port and takes this user"))?;
        let statements = runtime.block_on(async {
            create_schema(&session, &address, &shown).await?;
            Statements::prepare(&session).await.with_context(|| format!("store: {shown}"))
        })?;
        Ok(Cassandra { session, statements, runtime, shown, _node: node })
    }

    /// Writes `rows` (all of one partition, of `statement`) in unlogged batches, a few at once.
    fn write<R: SerializeRow>(&self, statement: &PreparedStatement, rows: &[R], what: &str) -> Result<()> {
        self.write_partitions(statement, [rows], what)
    }

    /// Writes the rows of each partition in `partitions` in unlogged batches of that partition, a few at once.
    fn write_partitions<'r, R: SerializeRow + 'r>(
        &self,
        statement: &PreparedStatement,
        partitions: impl IntoIterator<Item = &'r [R]>,
        what: &str,
    ) -> Result<()> {
        let batches = partitions.into_iter().flat_map(|rows| rows.chunks(BATCH_ROWS)).map(|chunk| {
            let mut batch = Batch::new(BatchType::Unlogged);
            // A row written twice is the same row: the driver may send a batch again after a failure.
            batch.set_is_idempotent(true);
            for _ in chunk {
                batch.append_statement(statement.clone());
            }
            async move { self.session.batch(&batch, chunk).await }
        });
        let written = futures::stream::iter(batches).buffer_unordered(IN_FLIGHT).try_for_each(|_| async { Ok(()) });
        self.runtime.block_on(written).with_context(|| format!("store: writing {what} to {}", self.shown))
    }

    /// One statement's rows, in the order Cassandra returns them: a partition's clustering order.
    fn read<R>(&self, statement: &PreparedStatement, values: impl SerializeRow, what: &str) -> Result<Vec<R>>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let mut all = Vec::new();
        self.each(statement, values, what, |r| {
            all.push(r);
            Ok(())
        })?;
        Ok(all)
    }

    /// Gives `each` the rows of `statement` as they come, page by page, not gathered first.
    fn each<R>(&self, statement: &PreparedStatement, values: impl SerializeRow, what: &str, mut each: impl FnMut(R) -> Result<()>) -> Result<()>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let rows = async {
            let mut rows = self.session.execute_iter(statement.clone(), values).await?.rows_stream::<R>()?;
            while let Some(r) = rows.try_next().await? {
                each(r)?;
            }
            Ok::<_, anyhow::Error>(())
        };
        self.runtime.block_on(rows).with_context(|| format!("store: reading {what} from {}", self.shown))
    }
}

/// Creates the keyspace and the tables where they are missing; refuses the tables of an earlier boontadata.
async fn create_schema(session: &Session, address: &Address, shown: &str) -> Result<()> {
    let ks = &address.keyspace;
    let found = |cql: &'static str| async move {
        let rows = session.query_unpaged(cql, (ks,)).await?.into_rows_result()?;
        Ok::<_, anyhow::Error>(rows.rows_num() > 0)
    };
    let reading = || format!("store: reading the schema of keyspace {ks} in {shown}");
    let user = address.user.as_ref().map_or("…", |(name, _)| name.as_str());
    if !found("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?").await.with_context(reading)? {
        session.query_unpaged(format!("CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {}", address.replication), ()).await.map_err(|e| {
            anyhow!("store: cannot create keyspace {ks} in {shown} ({e}); create it, or give this user the right to (GRANT CREATE ON ALL KEYSPACES TO {user})")
        })?;
    }
    session.use_keyspace(ks, false).await.with_context(reading)?;
    let version =
        if found("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'boontadata_schema'").await.with_context(reading)? {
            let read = async {
                Ok::<_, anyhow::Error>(
                    session.query_unpaged("SELECT version FROM boontadata_schema WHERE id = 0", ()).await?.into_rows_result()?.maybe_first_row::<(i32,)>()?,
                )
            };
            read.await.with_context(reading)?
        } else {
            None
        };
    match version {
        // Schema 2 lacks only the results' ids: a column added, its rows without ids, as they were written.
        Some((2,)) => {
            let adding = || format!("store: adding the results' ids to keyspace {ks} of {shown}");
            session.query_unpaged("ALTER TABLE results ADD ids text", ()).await.with_context(adding)?;
            session.query_unpaged("UPDATE boontadata_schema SET version = ? WHERE id = 0", (SCHEMA_VERSION,)).await.with_context(adding)?;
            Ok(())
        }
        Some((v,)) if v != SCHEMA_VERSION => {
            bail!("store: keyspace {ks} of {shown} holds the tables of an earlier boontadata (schema {v}, this one writes {SCHEMA_VERSION}); give another keyspace in --store")
        }
        Some(_) => Ok(()),
        None => {
            let cannot = |e| {
                anyhow!(
                    "store: cannot create the tables in keyspace {ks} of {shown} ({e}); give this user the right to (GRANT CREATE ON KEYSPACE {ks} TO {user})"
                )
            };
            for cql in TABLES {
                session.query_unpaged(*cql, ()).await.map_err(cannot)?;
            }
            session.query_unpaged("INSERT INTO boontadata_schema (id, version) VALUES (0, ?)", (SCHEMA_VERSION,)).await.map_err(cannot)?;
            Ok(())
        }
    }
}

impl Store for Cassandra {
    fn put_run(&mut self, r: &RunRecord) -> Result<()> {
        let row = (&r.id, &r.scenario, r.seed as i64, &r.params, &r.engine_versions, r.started_at, r.ended_at);
        self.write(&self.statements.put_run, &[row], &format!("run {}", r.id))
    }

    fn put_events(&mut self, run: &str, first_seq: i64, log: &[SentEvent]) -> Result<()> {
        let mut partitions = vec![Vec::new(); EVENT_GROUPS];
        for (i, e) in log.iter().enumerate() {
            let group = device_group(&e.device, EVENT_GROUPS);
            partitions[group].push((run, group as i32, first_seq + i as i64, &e.id, &e.device, &e.category, e.dt, e.sent_at, e.m1, e.m2, e.fault.as_str()));
        }
        self.write_partitions(&self.statements.put_event, partitions.iter().map(Vec::as_slice), &format!("the events of run {run}"))
    }

    fn put_truth(&mut self, run: &str, rows: &[TruthRow]) -> Result<()> {
        let rows: Vec<_> = rows.iter().map(|t| (run, t.view.as_str(), t.window_end, &t.device, &t.category, t.agg.count, t.agg.m1_sum, t.agg.m2_sum)).collect();
        self.write(&self.statements.put_truth, &rows, &format!("the truth of run {run}"))
    }

    fn put_results(&mut self, run: &str, rows: &[ResultRow]) -> Result<()> {
        let mut by_engine: BTreeMap<&str, Vec<_>> = BTreeMap::new();
        for r in rows {
            by_engine.entry(r.engine.as_str()).or_default().push((
                run,
                &r.engine,
                r.mode.as_str(),
                r.window_end,
                &r.device,
                &r.category,
                r.agg.count,
                r.agg.m1_sum,
                r.agg.m2_sum,
                r.emissions,
                r.first_emitted_at,
                r.last_emitted_at,
                super::ids_text(&r.ids),
            ));
        }
        for (engine, rows) in &by_engine {
            let what = format!("the results of {engine} in run {run}");
            self.write(&self.statements.put_result, rows, &what)?;
            self.write(&self.statements.put_result_engine, &[(run, engine)], &what)?;
        }
        Ok(())
    }

    fn put_metric(&mut self, run: &str, engine: &str, name: &str, value: f64) -> Result<()> {
        self.write(&self.statements.put_metric, &[(run, engine, name, value)], &format!("metric {name} of run {run}"))
    }

    fn runs(&self) -> Result<Vec<RunRecord>> {
        type Row = (String, String, i64, String, String, i64, Option<i64>);
        let rows: Vec<Row> = self.read(&self.statements.runs, (), "the runs")?;
        let mut runs: Vec<RunRecord> = rows
            .into_iter()
            .map(|(id, scenario, seed, params, engine_versions, started_at, ended_at)| RunRecord {
                id,
                scenario,
                seed: seed as u64,
                params,
                engine_versions,
                started_at,
                ended_at,
            })
            .collect();
        // Clustered by id; the other backends list runs by when they started.
        runs.sort_by_key(|r| r.started_at);
        Ok(runs)
    }

    /// Merges the run's device groups, each in the order sent, back into one order sent.
    fn events(&self, run: &str, each: &mut dyn FnMut(SentEvent)) -> Result<()> {
        type Row = (i64, String, String, String, i64, i64, i64, f64, String);
        let mut names = Interner::default();
        let merged = async {
            let mut groups = Vec::with_capacity(EVENT_GROUPS);
            for group in 0..EVENT_GROUPS as i32 {
                groups.push(self.session.execute_iter(self.statements.events.clone(), (run, group)).await?.rows_stream::<Row>()?);
            }
            let mut heads = Vec::with_capacity(EVENT_GROUPS);
            for rows in &mut groups {
                heads.push(rows.try_next().await?);
            }
            // The head with the least seq, of at most EVENT_GROUPS: a scan, not a heap.
            while let Some(g) = (0..heads.len()).filter(|&g| heads[g].is_some()).min_by_key(|&g| heads[g].as_ref().map(|r| r.0)) {
                let next = groups[g].try_next().await?;
                let (_, id, device, category, dt, sent_at, m1, m2, fault) = std::mem::replace(&mut heads[g], next).expect("a head that is there");
                let (device, category) = (names.shared(&device), names.shared(&category));
                each(SentEvent { id, device, category, dt, sent_at, m1, m2, fault: Fault::parse(&fault).unwrap_or(Fault::None) });
            }
            Ok::<_, anyhow::Error>(())
        };
        self.runtime.block_on(merged).with_context(|| format!("store: reading the events of run {run} from {}", self.shown))
    }

    fn truth(&self, run: &str) -> Result<Vec<TruthRow>> {
        type Row = (String, i64, String, String, i64, i64, f64);
        let rows: Vec<Row> = self.read(&self.statements.truth, (run,), &format!("the truth of run {run}"))?;
        Ok(rows
            .into_iter()
            .map(|(view, window_end, device, category, count, m1_sum, m2_sum)| TruthRow {
                view: View::parse(&view).unwrap_or(View::DeviceTime),
                window_end,
                device,
                category,
                agg: Aggregate { count, m1_sum, m2_sum },
            })
            .collect())
    }

    fn results(&self, run: &str, each: &mut dyn FnMut(ResultRow)) -> Result<()> {
        type Row = (String, String, i64, String, String, i64, i64, f64, i64, i64, i64, Option<String>);
        let what = format!("the results of run {run}");
        let engines: Vec<(String,)> = self.read(&self.statements.result_engines, (run,), &what)?;
        for (engine,) in engines {
            self.each(&self.statements.results, (run, &engine), &what, |row: Row| {
                let (engine, mode, window_end, device, category, count, m1_sum, m2_sum, emissions, first_emitted_at, last_emitted_at, ids) = row;
                each(ResultRow {
                    engine,
                    mode: mode.parse().map_err(|e: String| anyhow!("store: a result row of run {run}: {e}"))?,
                    window_end,
                    device,
                    category,
                    agg: Aggregate { count, m1_sum, m2_sum },
                    emissions,
                    first_emitted_at,
                    last_emitted_at,
                    ids: super::ids_from_text(ids.as_deref(), run)?,
                });
                Ok(())
            })?;
        }
        Ok(())
    }

    fn metrics(&self, run: &str) -> Result<Vec<Metric>> {
        self.read(&self.statements.metrics, (run,), &format!("the metrics of run {run}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_its_nodes_keyspace_user_and_replication() {
        let a = parse("cassandra://bench:s3cret@db1:9142,db2/runs?replication=3").unwrap();
        assert_eq!(a.nodes, ["db1:9142", "db2:9042"]);
        assert_eq!(a.user, Some(("bench".to_string(), "s3cret".to_string())));
        assert_eq!(a.keyspace, "runs");
        assert_eq!(a.replication, "{'class': 'SimpleStrategy', 'replication_factor': 3}");
        assert_eq!(parse("cassandra://db/runs").unwrap().replication, "{'class': 'SimpleStrategy', 'replication_factor': 1}");
        let per_dc = parse("cassandra://db/runs?replication=dc1:3,dc2:2").unwrap().replication;
        assert_eq!(per_dc, "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}");
    }

    #[test]
    fn a_bad_url_says_the_form_without_its_password() {
        for (url, why) in [
            ("cassandra://u:pw@db", "no keyspace"),
            ("cassandra://u:pw@/runs", "no host"),
            ("cassandra://u:pw@db/Runs", "keyspace 'Runs'"),
            ("cassandra://u:pw@db/runs; DROP", "keyspace 'runs; DROP'"),
            ("cassandra://u:pw@db/runs?replication=three", "neither a factor"),
            ("cassandra://u:pw@db/runs?consistency=one", "unknown parameter 'consistency=one'"),
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("use cassandra://[USER") && !err.contains("pw@"), "{url}: {err}");
        }
    }
}
