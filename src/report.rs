//! The report on disk: a matrix folder's `matrix.json` and its `report.html`,
//! written after every scenario of a matrix, and read back to write the page
//! again (`boontadata report`).

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
    Ok(Matrix::from_runs(crate::model::utc(created), &[(scenario, summary)]))
}
