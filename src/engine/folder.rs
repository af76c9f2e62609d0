//! The engines' folders on disk: where they are, their manifests, and the
//! scripts of the engines of other ecosystems.

use super::{EngineSpec, Launch};
use crate::progress::PassingThrough;
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The `engines/` folder of the checkout this binary was built from, or of `$BOONTADATA_HOME`.
pub fn engines_dir() -> PathBuf {
    crate::install::checkout().join("engines")
}

/// Every engine: each folder of `engines/` that holds an `engine.toml`, by name. Read once.
pub fn registry() -> Result<&'static [EngineSpec]> {
    static REGISTRY: OnceLock<Result<Vec<EngineSpec>, String>> = OnceLock::new();
    let loaded = REGISTRY.get_or_init(|| read_registry().map_err(|e| format!("{e:#}")));
    loaded.as_deref().map_err(|e| anyhow!("{e}"))
}

fn read_registry() -> Result<Vec<EngineSpec>> {
    let dir = engines_dir();
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("reading the engines' folder {}; set BOONTADATA_HOME to the boontadata checkout", dir.display()))?;
    let mut engines = Vec::new();
    for entry in entries {
        let folder = entry?.path();
        let manifest = folder.join("engine.toml");
        if !manifest.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
        engines.push(EngineSpec::parse(&folder.file_name().unwrap_or_default().to_string_lossy(), &text)?);
    }
    if engines.is_empty() {
        bail!("no engine.toml in the folders of {}; set BOONTADATA_HOME to the boontadata checkout", dir.display());
    }
    engines.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(engines)
}

/// A file of the engine's folder that must be there.
pub fn engine_file(spec: &EngineSpec, file: &str) -> Result<PathBuf> {
    let path = engines_dir().join(&spec.name).join(file);
    if !path.exists() {
        bail!("engine {}: {} not found; set BOONTADATA_HOME to the boontadata checkout", spec.name, path.display());
    }
    Ok(path)
}

/// The engine's window logic, as the report shows it.
pub fn window_logic(spec: &EngineSpec) -> Result<String> {
    let path = engine_file(spec, &spec.window_logic)?;
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Installs an engine's runtime (a no-op for built-in engines and for engines already installed).
pub fn setup(spec: &EngineSpec) -> Result<()> {
    if spec.launch == Launch::Builtin {
        return Ok(());
    }
    let script = engine_file(spec, "setup")?;
    let status = Command::new(&script)
        .env("BOONTADATA_CACHE", crate::install::cache_dir())
        .env("BOONTADATA_HOME", crate::install::checkout())
        .stdin(Stdio::null())
        .passing_through()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("setting up engine {} failed ({status}); its setup printed why above ({})", spec.name, script.display());
    }
    Ok(())
}

/// The command that starts a new process of the engine, before the job's flags.
pub fn command(spec: &EngineSpec) -> Result<Command> {
    Ok(match spec.launch {
        Launch::Builtin => {
            let mut cmd = Command::new(std::env::current_exe().context("locating the boontadata binary")?);
            cmd.args(["engine", &spec.name]);
            cmd
        }
        Launch::Scripts => {
            let mut cmd = Command::new(engine_file(spec, "start")?);
            cmd.env("BOONTADATA_CACHE", crate::install::cache_dir());
            // What the engine's scripts share (engines/jvm) is in the checkout, wherever its folder is.
            cmd.env("BOONTADATA_HOME", crate::install::checkout());
            cmd
        }
    })
}
