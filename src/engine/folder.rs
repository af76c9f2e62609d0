//! The engines' folders on disk: the checkout's `engines/` and the engine path
//! (`--engine-path`, `$BOONTADATA_ENGINE_PATH`), their manifests, and the
//! scripts of the engines of other ecosystems.

use super::{EngineSpec, Launch};
use crate::progress::PassingThrough;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The variable that adds engine folders, colon-separated like `PATH`.
pub const ENGINE_PATH_VAR: &str = "BOONTADATA_ENGINE_PATH";

/// The `engines/` folder of the checkout this binary was built from, or of `$BOONTADATA_HOME`.
pub fn engines_dir() -> PathBuf {
    crate::install::checkout().join("engines")
}

/// The folders `--engine-path` gave, set once before the registry is read.
static GIVEN_PATH: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// Adds the folders of `--engine-path` to the registry. It must come before the registry is
/// first read, and so before the command line is parsed: the engines' own options are read
/// from the registry to build it (`main` takes them from the raw arguments).
pub fn add_engine_path(dirs: Vec<PathBuf>) -> Result<()> {
    GIVEN_PATH.set(dirs).map_err(|_| anyhow!("the engine path is given once, before the engines' registry is read"))
}

/// The engine path: `$BOONTADATA_ENGINE_PATH`'s folders, then `--engine-path`'s.
pub fn engine_path() -> Vec<PathBuf> {
    let from_env = std::env::var_os(ENGINE_PATH_VAR).map(|v| std::env::split_paths(&v).collect::<Vec<_>>()).unwrap_or_default();
    let given = GIVEN_PATH.get_or_init(Vec::new);
    from_env.into_iter().chain(given.iter().cloned()).filter(|d| !d.as_os_str().is_empty()).collect()
}

/// Every engine: each folder of the checkout's `engines/` that holds an `engine.toml`, and each
/// engine folder of the engine path, by name. Read once.
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
        if folder.join("engine.toml").exists() {
            engines.extend(read_manifest(&folder)?);
        }
    }
    if engines.is_empty() {
        bail!("no engine.toml in the folders of {}; set BOONTADATA_HOME to the boontadata checkout", dir.display());
    }
    for dir in engine_path() {
        for folder in engine_folders(&dir)? {
            for spec in read_manifest(&folder)? {
                add_outside(&mut engines, spec)?;
            }
        }
    }
    let mut options: Vec<(&str, &str)> = Vec::new();
    for e in &engines {
        for o in &e.options {
            if let Some((_, other)) = options.iter().find(|(name, _)| *name == o.name) {
                bail!("engines {other} and {} both declare the option --{}; an engine's options are named after it ({}-…)", e.name, o.name, e.name);
            }
            options.push((&o.name, &e.name));
        }
    }
    engines.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(twins) = engines.windows(2).find(|w| w[0].name == w[1].name) {
        bail!(
            "two engines are named {}: in {} and in {}; an alias is named apart from every engine folder",
            twins[0].name,
            twins[0].folder.display(),
            twins[1].folder.display()
        );
    }
    Ok(engines)
}

/// The engine of `folder`, and its aliases.
fn read_manifest(folder: &Path) -> Result<Vec<EngineSpec>> {
    let manifest = folder.join("engine.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    EngineSpec::parse_with_aliases(folder, &text)
}

/// The engine folders of a folder of the engine path: the folder itself when it holds an
/// `engine.toml`, else each of its folders that does.
fn engine_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    // Absolute: its scripts are started from wherever the harness runs.
    let dir = &dir.canonicalize().with_context(|| format!("reading {} of the engine path (--engine-path, ${ENGINE_PATH_VAR})", dir.display()))?;
    if dir.join("engine.toml").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {} of the engine path (--engine-path, ${ENGINE_PATH_VAR})", dir.display()))?;
    let mut folders = Vec::new();
    for entry in entries {
        let folder = entry?.path();
        if folder.join("engine.toml").is_file() {
            folders.push(folder);
        }
    }
    if folders.is_empty() {
        bail!("{} of the engine path (--engine-path, ${ENGINE_PATH_VAR}) holds no engine: neither {0}/engine.toml nor {0}/*/engine.toml", dir.display());
    }
    folders.sort();
    Ok(folders)
}

/// Adds an engine of the engine path: a name is one folder's (the same folder given twice is one engine).
fn add_outside(engines: &mut Vec<EngineSpec>, spec: EngineSpec) -> Result<()> {
    if spec.launch == Launch::Builtin {
        bail!("{}/engine.toml says launch = \"builtin\", which only the engines built into this binary are; an engine of its own folder says launch = \"scripts\"", spec.folder.display());
    }
    match engines.iter().find(|e| e.name == spec.name) {
        Some(e) if e.folder.canonicalize().ok().as_deref() == Some(spec.folder.as_path()) => Ok(()),
        Some(e) => {
            bail!("two engines are named {}: {} and {}; an engine's name is its folder's, rename one", spec.name, e.folder.display(), spec.folder.display())
        }
        None => {
            engines.push(spec);
            Ok(())
        }
    }
}

/// A file of the engine's folder that must be there.
pub fn engine_file(spec: &EngineSpec, file: &str) -> Result<PathBuf> {
    let path = spec.folder.join(file);
    if !path.exists() {
        bail!("engine {}: {} not found", spec.name, path.display());
    }
    Ok(path)
}

/// Where the engine's folder is, as a person reads it: `engines/NAME` in the checkout, else its path.
pub fn shown_folder(spec: &EngineSpec) -> String {
    match spec.folder.strip_prefix(crate::install::checkout()) {
        Ok(inside) => inside.display().to_string(),
        Err(_) => spec.folder.display().to_string(),
    }
}

/// The engine's window logic, as the report shows it.
pub fn window_logic(spec: &EngineSpec) -> Result<String> {
    let path = engine_file(spec, &spec.window_logic)?;
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// What an engine's scripts are told: the cache, the checkout (what engines share, wherever the
/// engine's folder is), and the engine's name (a copied folder's is not the one it was copied from).
fn environment(cmd: &mut Command, spec: &EngineSpec) {
    cmd.env("BOONTADATA_CACHE", crate::install::cache_dir()).env("BOONTADATA_HOME", crate::install::checkout()).env("BOONTADATA_ENGINE", &spec.name);
}

/// Installs an engine's runtime (a no-op for built-in engines and for engines already installed).
pub fn setup(spec: &EngineSpec) -> Result<()> {
    if spec.launch == Launch::Builtin {
        return Ok(());
    }
    let script = engine_file(spec, "setup")?;
    let mut cmd = Command::new(&script);
    environment(&mut cmd, spec);
    let status = cmd.stdin(Stdio::null()).passing_through().with_context(|| format!("running {}", script.display()))?;
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
            environment(&mut cmd, spec);
            cmd
        }
    })
}
