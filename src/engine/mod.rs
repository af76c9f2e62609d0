//! The engines the bench knows, and what each declares. An engine is a folder
//! with an `engine.toml` (under `engines/`, or on the engine path: `--engine-path`,
//! `$BOONTADATA_ENGINE_PATH`), named after its folder: its modes, what it promises
//! (deduplication, allowed lateness), how it is started, the options of its
//! own that `run` and `matrix` take for it, and the variants the conformance
//! suite runs it in. Nothing else in the harness names an engine.
//!
//! This file is the pure part (manifests, `--engines`); `folder` finds the
//! manifests and runs an engine's scripts, `running` is an engine process,
//! `protocol` what the harness hears from it, `scaffold` writes a new engine's folder.

pub mod folder;
pub mod protocol;
pub mod running;
pub mod scaffold;

pub use crate::model::Guarantee;
use crate::model::{LateDrop, Mode, WatermarkScope};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One engine, as its `NAME/engine.toml` declares it; the conformance suite holds it to this.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// The folder's name: the engine's name everywhere (`--engines`, its result rows, its topics).
    #[serde(skip)]
    pub name: String,
    /// Its folder, in the checkout's `engines/` or on the engine path.
    #[serde(skip)]
    pub folder: PathBuf,
    pub about: String,
    pub modes: Vec<Mode>,
    /// Modes run when `--engines` names the engine without a mode (default: all of them).
    #[serde(default)]
    pub default_modes: Vec<Mode>,
    /// Drops resent messages by id.
    pub dedup: bool,
    /// Honours `--allowed-lateness-ms`: late events within it still update their window.
    pub lateness: bool,
    /// Takes further jobs on stdin, so that one process serves every scenario of a matrix.
    #[serde(default)]
    pub serves_jobs: bool,
    /// Its windows hold their end, (start, end] rather than [start, end): an event at exactly a
    /// window's end is counted in it (the comparison's `end-inclusive`).
    #[serde(default)]
    pub end_inclusive: bool,
    /// What its event-time watermark is taken over.
    #[serde(default)]
    pub watermark: WatermarkScope,
    /// What it drops as late: an event after its window, or any behind the watermark.
    #[serde(default)]
    pub late_drop: LateDrop,
    /// Names the events each window counted when its job is given `--ids true` (docs/SPEC.md §5):
    /// it is then compared event by event rather than by sums.
    #[serde(default)]
    pub ids: bool,
    /// What its windows keep after `kill -9` and a restart of the same job (the `engine-crash` scenario).
    pub after_crash: Guarantee,
    pub launch: Launch,
    /// The file of the folder that holds the window logic, shown in the report to compare the code.
    pub window_logic: String,
    /// Options of this engine's own, taken by `run` and `matrix`.
    #[serde(default, rename = "option")]
    pub options: Vec<EngineOption>,
    /// Conformance runs beyond the default one.
    #[serde(default, rename = "conformance")]
    pub variants: Vec<Variant>,
    /// Options of `matrix` and `run` every conformance trial of this engine adds: a smaller stream
    /// for an engine that reads slower than the suite's scenarios send (`--devices 100`).
    #[serde(default)]
    pub conformance_options: Vec<String>,
    /// Flags every job of this engine gets, after the harness's: an alias's choice among its base's options.
    #[serde(default)]
    pub job_args: Vec<String>,
    /// How `--instances N` runs N instances of a job; without it, the engine runs one.
    #[serde(default)]
    pub instances: Option<Instances>,
}

/// How an engine runs N instances of a job (`instances` in its manifest).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Instances {
    /// `"processes"`: N processes of the job in its consumer group, each with a state folder of its
    /// own, the group sharing the partitions among them (Kafka Streams' application instances).
    Processes,
    /// `"--FLAG"`: one process, N-way parallel inside, by this job flag (Timely's `--workers`).
    Flag(String),
}

impl TryFrom<String> for Instances {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "processes" => Ok(Instances::Processes),
            flag if flag.starts_with("--") => Ok(Instances::Flag(s)),
            _ => Err(format!("`instances` is \"processes\" or the job flag that sets its parallelism (\"--workers\"), not \"{s}\"")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Launch {
    /// Compiled into this binary: `boontadata engine NAME` (listed in `engines/mod.rs`).
    Builtin,
    /// An engine of another ecosystem: `NAME/setup` installs it into the cache
    /// (idempotent, quick once done) and `NAME/start` runs its job.
    Scripts,
}

/// `--NAME VALUE` on `run` and `matrix`, given to this engine's jobs as `JOB_FLAG VALUE`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineOption {
    pub name: String,
    pub job_flag: String,
    pub help: String,
    #[serde(default)]
    pub value_name: Option<String>,
    /// Given to every job when the option is not.
    #[serde(default)]
    pub default: Option<String>,
}

/// A conformance run of the engine with some of its options set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// Options of `matrix` (the engine's own, say).
    pub options: Vec<String>,
    /// Scenarios, when not the default suite's.
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// Lines each job's log must hold (that the variant really ran as it says).
    #[serde(default)]
    pub log_contains: Vec<String>,
}

impl EngineSpec {
    /// Reads `manifest`, the `engine.toml` of `folder`: the engine is named after the folder.
    pub fn parse(folder: &Path, manifest: &str) -> Result<EngineSpec> {
        Ok(Self::parse_with_aliases(folder, manifest)?.swap_remove(0))
    }

    /// Reads `manifest`, the `engine.toml` of `folder`: the engine named after the folder, then
    /// each of its `[[alias]]`es, an engine of its own that is the same folder with every key the
    /// alias gives taken instead of the base's, and its `job_args` on every job (its choice among the
    /// base's options: one pipeline on another runner); it has no options or conformance runs of its own.
    pub fn parse_with_aliases(folder: &Path, manifest: &str) -> Result<Vec<EngineSpec>> {
        let file = folder.join("engine.toml");
        let file = file.display();
        let mut base: toml::Table = toml::from_str(manifest).with_context(|| format!("{file} is not a valid manifest"))?;
        let aliases = match base.remove("alias") {
            None => Vec::new(),
            Some(toml::Value::Array(aliases)) => aliases,
            Some(_) => bail!("{file}: `alias` is a list of tables, each `[[alias]]` with a `name`"),
        };
        let name = folder.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if let Err(why) = check_name(&name) {
            bail!("{file}: the engine's name, its folder's, {why}");
        }
        let mut engines = vec![Self::from_table(folder, name, base.clone(), &file.to_string())?];
        base.remove("option");
        base.remove("conformance");
        for alias in aliases {
            let toml::Value::Table(mut alias) = alias else { bail!("{file}: an `[[alias]]` is a table") };
            let Some(toml::Value::String(name)) = alias.remove("name") else { bail!("{file}: an `[[alias]]` has no `name`") };
            if let Err(why) = check_name(&name) {
                bail!("{file}: the alias's name {why}");
            }
            if let Some(key) = ["option", "conformance"].into_iter().find(|k| alias.contains_key(*k)) {
                bail!("{file}: alias {name} declares `{key}`: an alias is the base engine with its options chosen (`job_args`), with none of its own");
            }
            let mut merged = base.clone();
            merged.extend(alias);
            engines.push(Self::from_table(folder, name.clone(), merged, &format!("{file}: alias {name}"))?);
        }
        Ok(engines)
    }

    /// The engine `name` of `folder` as `table` declares it; `whose` names the manifest (and alias) in errors.
    fn from_table(folder: &Path, name: String, table: toml::Table, whose: &str) -> Result<EngineSpec> {
        let mut spec: EngineSpec = toml::Value::Table(table).try_into().with_context(|| format!("{whose} is not a valid manifest"))?;
        spec.name = name;
        spec.folder = folder.to_path_buf();
        if spec.modes.is_empty() {
            bail!("{whose}: `modes` names no mode");
        }
        if spec.default_modes.is_empty() {
            spec.default_modes = spec.modes.clone();
        }
        if let Some(m) = spec.default_modes.iter().find(|m| !spec.modes.contains(m)) {
            bail!("{whose}: default mode {m} is not one of its modes");
        }
        Ok(spec)
    }
}

/// Names `boontadata setup` takes for what is not an engine.
pub const NOT_ENGINE_NAMES: [&str; 3] = ["kafka", "tansu", "cassandra"];

/// Whether `name` can name an engine: it goes into topic names (`results.RUN.NAME.MODE`),
/// consumer groups, `--engines NAME:MODE` and the cache's folders. `Err` says why not.
pub fn check_name(name: &str) -> Result<(), String> {
    let fits = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 40 || !name.starts_with(|c: char| c.is_ascii_lowercase()) || !name.chars().all(fits) {
        return Err(format!("'{name}' is not a name: a lowercase letter, then up to 39 lowercase letters, digits, '-' or '_'"));
    }
    if NOT_ENGINE_NAMES.contains(&name) {
        return Err(format!("'{name}' is taken: `boontadata setup {name}` installs the {name} of the bench, not an engine"));
    }
    Ok(())
}

/// One engine in one mode, as a run starts it.
#[derive(Debug, Clone)]
pub struct Job {
    pub spec: &'static EngineSpec,
    pub mode: Mode,
}

impl Job {
    pub fn label(&self) -> String {
        format!("{} {}", self.spec.name, self.mode)
    }

    /// `ENGINE/MODE`: how the store's metrics and the collector name this job.
    pub fn key(&self) -> String {
        format!("{}/{}", self.spec.name, self.mode)
    }
}

pub fn known_engines(engines: &[EngineSpec]) -> String {
    let modes = |e: &EngineSpec| e.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
    engines.iter().map(|e| format!("{} ({})", e.name, modes(e))).collect::<Vec<_>>().join("; ")
}

/// Sets `spec`'s instances flag to `n` in `args`, its options as given (their defaults included), for
/// an engine that runs them inside its process: an error for one that declares no way to run
/// several, or whose own option for that flag was given another value.
pub fn instances_args(spec: &EngineSpec, n: u32, args: &mut Vec<String>) -> Result<()> {
    let flag = match &spec.instances {
        None => bail!("engine {} runs one instance of a job (its engine.toml declares no `instances`): run it with --instances 1", spec.name),
        Some(Instances::Processes) => return Ok(()),
        Some(Instances::Flag(flag)) => flag,
    };
    let n = n.to_string();
    match args.iter().position(|a| a == flag) {
        None => args.extend([flag.clone(), n]),
        Some(at) => {
            let option = spec.options.iter().find(|o| &o.job_flag == flag);
            let given = &args[at + 1];
            if let Some(o) = option.filter(|o| o.default.as_ref() != Some(given) && *given != n) {
                bail!("--instances {n} and --{} {given} both set {}'s {flag}: give one of them", o.name, spec.name);
            }
            args[at + 1] = n;
        }
    }
    Ok(())
}

/// Parses `--engines`: `native`, `native:ingestion-time`, `a,b:mode`, ….
pub fn parse_selection(engines: &'static [EngineSpec], selection: &str) -> Result<Vec<Job>> {
    let mut jobs: Vec<Job> = Vec::new();
    for item in selection.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, mode) = item.split_once(':').map_or((item, None), |(n, m)| (n, Some(m)));
        let Some(spec) = engines.iter().find(|e| e.name == name) else {
            bail!("unknown engine '{name}'; known engines: {}", known_engines(engines));
        };
        let modes: Vec<Mode> = match mode.map(|m| (m, m.parse::<Mode>())) {
            None => spec.default_modes.clone(),
            Some((_, Ok(m))) if spec.modes.contains(&m) => vec![m],
            Some((m, _)) => {
                bail!("engine '{name}' has no mode '{m}'; its modes: {}", spec.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "))
            }
        };
        for m in modes {
            if !jobs.iter().any(|j| j.spec.name == name && j.mode == m) {
                jobs.push(Job { spec, mode: m });
            }
        }
    }
    if jobs.is_empty() {
        bail!("no engine selected; known engines: {}", known_engines(engines));
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIVE: &str = r#"
about = "the reference"
modes = ["event-time", "processing-time", "ingestion-time"]
default_modes = ["event-time", "processing-time"]
dedup = true
lateness = true
serves_jobs = true
after_crash = "exactly-once"
launch = "builtin"
window_logic = "window.rs"
"#;

    fn engines() -> &'static [EngineSpec] {
        let flink = "about = \"f\"\nmodes = [\"event-time\"]\ndedup = true\nlateness = false\nafter_crash = \"none\"\nlaunch = \"scripts\"\nwindow_logic = \"job.sql\"\n\
                     [[option]]\nname = \"flink-cluster\"\njob_flag = \"--cluster\"\nhelp = \"where\"\n";
        let (native, flink_dir) = (Path::new("engines/native"), Path::new("/elsewhere/flink"));
        Box::leak(vec![EngineSpec::parse(native, NATIVE).unwrap(), EngineSpec::parse(flink_dir, flink).unwrap()].into_boxed_slice())
    }

    #[test]
    fn an_alias_is_the_same_folder_with_its_options_chosen() {
        let manifest = "about = \"a pipeline\"\nmodes = [\"event-time\"]\ndedup = true\nlateness = true\nafter_crash = \"none\"\nlaunch = \"scripts\"\nwindow_logic = \"P.java\"\n\
                        [[option]]\nname = \"pipe-runner\"\njob_flag = \"--runner\"\nhelp = \"which\"\n\
                        [[conformance]]\nname = \"other\"\noptions = [\"--pipe-runner\", \"b\"]\nscenarios = [\"seed\"]\n\
                        [[alias]]\nname = \"pipe-b\"\njob_args = [\"--runner\", \"b\"]\nafter_crash = \"exactly-once\"\nconformance_options = [\"--devices\", \"100\"]\n";
        let engines = EngineSpec::parse_with_aliases(Path::new("/e/pipe"), manifest).unwrap();
        let (base, alias) = (&engines[0], &engines[1]);
        assert_eq!((base.name.as_str(), base.after_crash, base.options.len(), base.variants.len(), base.job_args.len()), ("pipe", Guarantee::None, 1, 1, 0));
        assert_eq!((alias.name.as_str(), alias.after_crash, alias.options.len(), alias.variants.len()), ("pipe-b", Guarantee::ExactlyOnce, 0, 0));
        assert_eq!(
            (base.conformance_options.len(), alias.conformance_options.as_slice()),
            (0, &["--devices".to_string(), "100".into()][..]),
            "a slower runner's smaller streams"
        );
        assert_eq!(
            (alias.folder.as_path(), alias.about.as_str(), alias.job_args.as_slice()),
            (Path::new("/e/pipe"), "a pipeline", &["--runner".to_string(), "b".into()][..])
        );
        assert_eq!(EngineSpec::parse(Path::new("/e/pipe"), manifest).unwrap(), *base, "parse gives the base engine");
        let with_options = format!("{manifest}[[alias.option]]\nname = \"x\"\njob_flag = \"--x\"\nhelp = \"x\"\n");
        let refused = format!("{:#}", EngineSpec::parse_with_aliases(Path::new("/e/pipe"), &with_options).unwrap_err());
        assert!(refused.contains("alias pipe-b declares `option`"), "{refused}");
        let typo = manifest.replace("after_crash = \"exactly-once\"", "after_crash = \"always\"");
        let refused = format!("{:#}", EngineSpec::parse_with_aliases(Path::new("/e/pipe"), &typo).unwrap_err());
        assert!(refused.contains("/e/pipe/engine.toml: alias pipe-b is not a valid manifest"), "{refused}");
        let badly_named = manifest.replace("name = \"pipe-b\"", "name = \"Pipe B\"");
        assert!(EngineSpec::parse_with_aliases(Path::new("/e/pipe"), &badly_named)
            .unwrap_err()
            .to_string()
            .contains("the alias's name 'Pipe B' is not a name"));
    }

    #[test]
    fn a_manifest_declares_modes_promises_and_options() {
        let e = engines();
        assert_eq!((e[0].name.as_str(), e[0].default_modes.as_slice(), e[0].launch), ("native", &[Mode::EventTime, Mode::ProcessingTime][..], Launch::Builtin));
        assert_eq!((e[1].default_modes.as_slice(), e[1].serves_jobs, e[1].options[0].job_flag.as_str()), (&[Mode::EventTime][..], false, "--cluster"));
        assert_eq!((e[1].name.as_str(), e[1].folder.as_path()), ("flink", Path::new("/elsewhere/flink")), "named after its folder, wherever it is");
        let typo = NATIVE.replace("dedup", "dedupe");
        assert!(format!("{:#}", EngineSpec::parse(Path::new("/teams/x"), &typo).unwrap_err()).contains("/teams/x/engine.toml"));
        let bad_default = NATIVE.replace("modes = [\"event-time\", \"processing-time\", \"ingestion-time\"]", "modes = [\"ingestion-time\"]");
        assert!(EngineSpec::parse(Path::new("x"), &bad_default).unwrap_err().to_string().contains("is not one of its modes"));
        let badly_named = EngineSpec::parse(Path::new("/teams/My Engine"), NATIVE).unwrap_err().to_string();
        assert!(badly_named.contains("/teams/My Engine/engine.toml: the engine's name, its folder's, 'My Engine' is not a name"), "{badly_named}");
    }

    #[test]
    fn an_engine_name_fits_topics_groups_and_selections() {
        for good in ["native", "kafka-streams", "mine2", "team_a"] {
            assert_eq!(check_name(good), Ok(()));
        }
        for bad in ["", "Mine", "2fast", "a.b", "a:b", "a,b", "-x", &"x".repeat(41)] {
            assert!(check_name(bad).unwrap_err().contains("is not a name"), "{bad}");
        }
        assert!(check_name("kafka").unwrap_err().contains("is taken"));
    }

    #[test]
    fn selection_expands_default_modes_and_rejects_unknown_names() {
        let jobs = parse_selection(engines(), "native").unwrap();
        assert_eq!(jobs.iter().map(|j| j.mode).collect::<Vec<_>>(), vec![Mode::EventTime, Mode::ProcessingTime]);
        let jobs = parse_selection(engines(), "native:ingestion-time, native:ingestion-time").unwrap();
        assert_eq!((jobs.len(), jobs[0].key()), (1, "native/ingestion-time".to_string()));
        let err = parse_selection(engines(), "flonk").unwrap_err().to_string();
        assert!(err.contains("unknown engine 'flonk'") && err.contains("native (event-time"), "{err}");
        assert!(parse_selection(engines(), "native:sometimes").unwrap_err().to_string().contains("its modes"));
        assert!(parse_selection(engines(), "flink:processing-time").unwrap_err().to_string().contains("its modes: event-time"));
        assert!(parse_selection(engines(), " , ").is_err());
    }

    #[test]
    fn instances_set_the_engines_flag_its_own_option_at_its_default_or_refuse() {
        let workers =
            "about = \"t\"\nmodes = [\"event-time\"]\ndedup = true\nlateness = true\nafter_crash = \"none\"\nlaunch = \"builtin\"\nwindow_logic = \"d.rs\"\n\
                       instances = \"--workers\"\n[[option]]\nname = \"t-workers\"\njob_flag = \"--workers\"\ndefault = \"1\"\nhelp = \"threads\"\n";
        let spec = EngineSpec::parse(Path::new("/e/t"), workers).unwrap();
        let with = |given: &[&str]| {
            let mut args: Vec<String> = given.iter().map(|s| s.to_string()).collect();
            instances_args(&spec, 3, &mut args).map(|()| args)
        };
        assert_eq!(with(&[]).unwrap(), ["--workers", "3"]);
        assert_eq!(with(&["--other", "x", "--workers", "1"]).unwrap(), ["--other", "x", "--workers", "3"], "the option at its default: replaced");
        assert_eq!(with(&["--workers", "3"]).unwrap(), ["--workers", "3"], "the same value given twice");
        let both = with(&["--workers", "2"]).unwrap_err().to_string();
        assert!(both.contains("--instances 3 and --t-workers 2 both set t's --workers"), "{both}");
        let one = instances_args(&engines()[0], 2, &mut Vec::new()).unwrap_err().to_string();
        assert!(one.contains("engine native runs one instance") && one.contains("--instances 1"), "{one}");
        let processes = EngineSpec::parse(Path::new("/e/t"), &workers.replace("\"--workers\"\n[[option]]", "\"processes\"\n[[option]]")).unwrap();
        let mut args = vec!["--workers".to_string(), "1".to_string()];
        instances_args(&processes, 3, &mut args).unwrap();
        assert_eq!(args, ["--workers", "1"], "N processes, each as one");
        let bad = EngineSpec::parse(Path::new("/e/t"), &workers.replace("\"--workers\"\n[[option]]", "\"many\"\n[[option]]")).unwrap_err();
        assert!(format!("{bad:#}").contains("`instances` is \"processes\" or the job flag"), "{bad:#}");
    }
}
