//! The report on disk: a matrix folder's `matrix.json` and its `report.html`,
//! written after every scenario of a matrix; a bench folder's `bench.json`,
//! `bench.txt` and `report.html`; each read back to write the page again
//! (`boontadata report`).

use crate::bench::{self, Bench};
use crate::engine::folder;
use crate::html::{self, EngineCode};
use crate::matrix::Matrix;
use crate::scenario::Scenario;
use crate::summary::RunSummary;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes `matrix.json` into a matrix folder.
pub fn write_matrix(dir: &Path, m: &Matrix) -> Result<()> {
    let json = dir.join("matrix.json");
    std::fs::write(&json, serde_json::to_string_pretty(m)?).with_context(|| format!("writing {}", json.display()))
}

/// Writes `report.html` (beside `against`, if given) into `dir`; returns its path.
pub fn write_page(dir: &Path, m: &Matrix, against: Option<&Matrix>) -> Result<PathBuf> {
    let page = dir.join("report.html");
    std::fs::write(&page, html::render(m, against, &window_logic(m)?)).with_context(|| format!("writing {}", page.display()))?;
    Ok(page)
}

/// The window logic of every engine in the matrix, in the order they first appear.
fn window_logic(m: &Matrix) -> Result<Vec<EngineCode>> {
    let registry = folder::registry()?;
    let mut code: Vec<EngineCode> = Vec::new();
    for cell in &m.cells {
        let engine = &cell.summary.engine;
        let Some(spec) = registry.iter().find(|e| &e.name == engine) else { continue };
        if code.iter().all(|c| &c.engine != engine) {
            code.push(EngineCode { engine: engine.clone(), about: spec.about.clone(), file: spec.window_logic.clone(), text: folder::window_logic(spec)? });
        }
    }
    Ok(code)
}

/// A matrix folder's matrix, or a one-scenario matrix made of a run folder's summary.
pub fn load(dir: &Path) -> Result<Matrix> {
    let path = dir.join("matrix.json");
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_str(&text).with_context(|| format!("{} is not a matrix", path.display()));
    }
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{} has neither matrix.json nor summary.json", dir.display()))?;
    let summary: RunSummary = serde_json::from_str(&text).with_context(|| format!("{} is not a run summary", path.display()))?;
    let scenario = Scenario::built_in(&summary.scenario).unwrap_or_else(|_| Scenario { name: summary.scenario.clone(), ..Scenario::default() });
    let created =
        std::fs::metadata(&path).and_then(|m| m.modified()).map_or(0, |t| t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64));
    Ok(Matrix::from_runs(crate::format::utc(created), &[(scenario, summary)]))
}

/// Writes what a sitting measured into its folder: `bench.json`, `bench.txt` and `report.html`.
pub fn write_bench(dir: &Path, b: &Bench) -> Result<()> {
    let write = |file: &str, text: String| {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("bench.json", serde_json::to_string_pretty(b)?)?;
    write("bench.txt", bench::render(b))?;
    write_bench_page(dir, b).map(|_| ())
}

/// Writes a sitting's `report.html` into `dir`; returns its path.
pub fn write_bench_page(dir: &Path, b: &Bench) -> Result<PathBuf> {
    let path = dir.join("report.html");
    std::fs::write(&path, html::bench_page(b)).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The bench of a bench folder, or `None` when `dir` holds no `bench.json`.
pub fn load_bench(dir: &Path) -> Result<Option<Bench>> {
    let path = dir.join("bench.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).map(Some).with_context(|| format!("{} is not a bench", path.display()))
}
