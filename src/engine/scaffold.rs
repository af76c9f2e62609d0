//! `boontadata new-engine`: a folder to start an engine of one's own from, anywhere, that runs
//! as it is (`--engine-path`): a copy of one of the checkout's engines, or the Python template
//! of `templates/python/`. Its manifest says it is a copy, and which file to change first.

use super::{check_name, folder, EngineSpec};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What a new engine starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// A copy of `engines/flink`: Flink SQL from PyFlink.
    Flink,
    /// A copy of `engines/spark`: Spark Structured Streaming from PySpark.
    Spark,
    /// A copy of `engines/kafka-streams`: a Kafka Streams topology in Java.
    KafkaStreams,
    /// `templates/python`: a plain Python job on confluent-kafka.
    Python,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Flink => "flink",
            Template::Spark => "spark",
            Template::KafkaStreams => "kafka-streams",
            Template::Python => "python",
        }
    }

    /// The folder it is copied from: one of the checkout's engines, or a template.
    fn source(self) -> PathBuf {
        match self {
            Template::Python => crate::install::checkout().join("templates/python"),
            engine => folder::engines_dir().join(engine.as_str()),
        }
    }

    /// How the manifest's `about` calls it.
    fn described(self) -> String {
        match self {
            Template::Python => "boontadata's Python template".into(),
            engine => format!("boontadata's {} engine", engine.as_str()),
        }
    }
}

/// A folder `new_engine` wrote.
pub struct Written {
    pub spec: EngineSpec,
    /// The folder that holds it: what `--engine-path` is given.
    pub dir: PathBuf,
}

/// Writes `dir/name/`, a copy of `from`'s folder whose manifest says what it is; refuses a bad or
/// taken name and a folder that exists. `taken`: the engines known already.
pub fn new_engine(name: &str, from: Template, dir: &Path, taken: &[EngineSpec]) -> Result<Written> {
    if let Err(why) = check_name(name) {
        bail!("{why}; an engine is named after its folder");
    }
    if let Some(e) = taken.iter().find(|e| e.name == name) {
        bail!("an engine named {name} exists already ({}); choose another name", e.folder.display());
    }
    let target = std::path::absolute(dir.join(name)).unwrap_or_else(|_| dir.join(name));
    if target.exists() {
        bail!("{} exists already; new-engine writes a new folder: choose another name or --dir", target.display());
    }
    let source = from.source();
    let manifest = std::fs::read_to_string(source.join("engine.toml"))
        .with_context(|| format!("reading {}/engine.toml; set BOONTADATA_HOME to the boontadata checkout", source.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("reading {}", dir.display()))?;
    let (target, part) = (dir.join(name), dir.join(format!(".{name}.part")));
    let _ = std::fs::remove_dir_all(&part);
    let written = copy_folder(&source, &part).and_then(|()| {
        let text = manifest_of_copy(&manifest, from, name);
        std::fs::write(part.join("engine.toml"), &text).with_context(|| format!("writing {}", part.join("engine.toml").display()))?;
        std::fs::rename(&part, &target).with_context(|| format!("moving {} to {}", part.display(), target.display()))?;
        EngineSpec::parse(&target, &text)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&part);
    }
    Ok(Written { spec: written?, dir })
}

/// Copies a folder's files, the scripts' modes with them; what a run leaves (`__pycache__`) stays behind.
fn copy_folder(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("making {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                copy_folder(&path, &target)?;
            }
        } else {
            std::fs::copy(&path, &target).with_context(|| format!("copying {} to {}", path.display(), target.display()))?;
        }
    }
    Ok(())
}

/// The manifest of a copy named `name`: a header and an `about` that say it is a copy to edit and
/// which file holds its window logic, and `from`'s own options renamed after it
/// (`--flink-cluster` → `--NAME-cluster`: two engines cannot declare one option).
pub fn manifest_of_copy(manifest: &str, from: Template, name: &str) -> String {
    let window_logic = manifest.lines().find_map(|l| l.strip_prefix("window_logic = ")).unwrap_or("\"\"").trim_matches('"');
    let mut out = format!(
        "# {name}: written by `boontadata new-engine {name} --from {}`, from {}, to edit:\n\
         # its window logic first ({window_logic}). Run it with `--engine-path` (see README.md of boontadata).\n",
        from.as_str(),
        from.described()
    );
    let (option, flag) = (format!("\"{}-", from.as_str()), format!("\"--{}-", from.as_str()));
    for line in manifest.lines() {
        let line = match line.strip_prefix("about = \"") {
            Some(about) => format!("about = \"{name}, a copy of {} to edit (its window logic first: {window_logic}): {about}", from.described()),
            None => line.replace(&option, &format!("\"{name}-")).replace(&flag, &format!("\"--{name}-")),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What to do next, as `new-engine` prints it.
pub fn next_steps(w: &Written) -> String {
    let (name, dir) = (&w.spec.name, w.dir.display());
    format!(
        "wrote {folder}: {about}\n\
         Change its window logic first: {first}\n\
         \n\
         Run it beside the checkout's engines (--engine-path on run, matrix, bench, list, setup and report):\n\
         \x20 boontadata list --engine-path {dir}\n\
         \x20 boontadata matrix --engine-path {dir} --engines {name} --scenarios seed,disorder\n\
         The matrix is what conformance runs: every difference explained, exit 0. Or once for every command:\n\
         \x20 export BOONTADATA_ENGINE_PATH={dir}\n\
         In a boontadata checkout, the conformance suite holds it to its engine.toml and crashes it:\n\
         \x20 BOONTADATA_ENGINE_PATH={dir} cargo test --release --test conformance -- {name}\n",
        folder = w.spec.folder.display(),
        about = w.spec.about,
        first = w.spec.folder.join(&w.spec.window_logic).display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAFKA_STREAMS: &str = "# Apache Kafka Streams.\nabout = \"Apache Kafka Streams 4.1\"\nmodes = [\"event-time\"]\ndedup = true\nlateness = true\n\
        after_crash = \"exactly-once\"\nlaunch = \"scripts\"\nwindow_logic = \"Windows.java\"\n\n[[option]]\nname = \"kafka-streams-guarantee\"\n\
        job_flag = \"--guarantee\"\nhelp = \"Kafka Streams: the processing guarantee\"\n\n[[conformance]]\nname = \"alo\"\noptions = [\"--kafka-streams-guarantee\", \"at_least_once\"]\n";

    #[test]
    fn a_copy_says_what_it_is_and_renames_the_options_of_its_original() {
        let text = manifest_of_copy(KAFKA_STREAMS, Template::KafkaStreams, "mine");
        let spec = EngineSpec::parse(Path::new("/teams/mine"), &text).unwrap();
        assert_eq!(spec.about, "mine, a copy of boontadata's kafka-streams engine to edit (its window logic first: Windows.java): Apache Kafka Streams 4.1");
        assert_eq!((spec.options[0].name.as_str(), spec.options[0].job_flag.as_str()), ("mine-guarantee", "--guarantee"));
        assert_eq!(spec.variants[0].options, ["--mine-guarantee", "at_least_once"]);
        assert!(text.starts_with("# mine: written by `boontadata new-engine mine --from kafka-streams`"), "{text}");
        assert!(text.contains("# Apache Kafka Streams.\n"), "the original's comments stay");
    }
}
