//! A matrix of runs: every scenario in turn on one broker, each run's jobs in groups of at most
//! `--jobs-at-once`, with the engines that serve jobs started once for all of them.

use super::{run_with, start_broker, Engines, RunOptions};
use crate::clock::{now_ms, stamp_now};
use crate::engine::Job;
use crate::format::utc;
use crate::matrix::Matrix;
use crate::progress;
use crate::report;
use crate::say;
use crate::scenario::Scenario;
use crate::store;
use crate::summary::{self, RunSummary};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Every scenario in turn, in a matrix folder of its own; `matrix.json` and `report.html` are
/// written after each scenario, so that a matrix cut short keeps its cells.
pub fn matrix(o: &RunOptions, scenarios: &[Scenario], jobs_at_once: Option<usize>, stop: &AtomicBool) -> Result<(Matrix, PathBuf)> {
    let dir = o.out.join(format!("matrix-{}", stamp_now()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Open for the whole matrix: a local Cassandra node it starts then serves every run.
    let _store = store::open(&o.store_url())?;
    let mut broker = start_broker(&o.broker, &dir, scenarios)?;
    let created = utc(now_ms());
    let mut runs = Vec::new();
    let mut engines = Engines::default();
    let mut matrix = Matrix::from_runs(created.clone(), &[]);
    let written = |runs: &[(Scenario, RunSummary)]| -> Result<Matrix> {
        let matrix = Matrix::from_runs(created.clone(), runs);
        report::write_matrix(&dir, &matrix)?;
        report::write_page(&dir, &matrix, None)?;
        Ok(matrix)
    };
    let groups: Vec<&[Job]> = o.jobs.chunks(jobs_at_once.unwrap_or(o.jobs.len()).max(1)).collect();
    let runs_in_all = scenarios.len() * groups.len();
    for (i, scenario) in scenarios.iter().enumerate() {
        for (g, jobs) in groups.iter().enumerate() {
            let group = if groups.len() > 1 { format!(", jobs {}/{}", g + 1, groups.len()) } else { String::new() };
            progress::step(format!("matrix {}/{} {}{group}", i + 1, scenarios.len(), scenario.name), Some((i * groups.len() + g, runs_in_all)));
            if g == 0 {
                say!("matrix: {} — {}", scenario.name, scenario.description);
            }
            if groups.len() > 1 {
                say!("matrix: jobs {}/{}: {}", g + 1, groups.len(), jobs.iter().map(Job::label).collect::<Vec<_>>().join(", "));
            }
            // Its runs are kept in folders of the matrix's, and in the store of the output folder.
            let options = RunOptions { scenario: scenario.clone(), jobs: jobs.to_vec(), out: dir.clone(), store: Some(o.store_url()), ..o.clone() };
            let summary = run_with(&options, &mut broker, &mut engines, stop)?;
            say!("{}", summary::table(&summary.engines).trim_end());
            let store_failure = summary.store_failure.clone();
            runs.push((scenario.clone(), summary));
            // The store is gone: the runs so far are kept, and the matrix ends with them.
            if let Some(failure) = store_failure {
                written(&runs)?;
                anyhow::bail!("{failure}; the matrix so far is in {}", dir.display());
            }
        }
        matrix = written(&runs)?;
    }
    progress::done();
    Ok((matrix, dir))
}
