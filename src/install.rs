//! What boontadata installs, and where: the cache folder, and fetching the
//! JVM parts (the Kafka broker, the engines' connectors) with Maven from the
//! poms kept in the repository. Nothing built or fetched goes into the repository.

use crate::progress::PassingThrough;
use crate::say;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The boontadata checkout this binary was built from, or `$BOONTADATA_HOME`: its engines, its poms.
pub fn checkout() -> PathBuf {
    std::env::var_os("BOONTADATA_HOME").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Where boontadata keeps what it installs: `$BOONTADATA_CACHE`, else `~/.cache/boontadata`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BOONTADATA_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache"));
    base.join("boontadata")
}

/// Fails with the fix when `program` is not on the PATH.
pub fn require(program: &str, version_flag: &str, for_what: &str, install: &str) -> Result<()> {
    match Command::new(program).arg(version_flag).stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => Ok(()),
        Err(_) => bail!("{for_what} needs {program}, which is not on the PATH; install it ({install})"),
    }
}

/// Copies the runtime dependencies of `pom` (and what it names) into `dest`, once:
/// a no-op when `dest` holds them already. Maven's own lines are the progress.
pub fn maven_copy(pom: &Path, dest: &Path, what: &str, properties: &[(&str, &str)]) -> Result<()> {
    let done = dest.join(".complete");
    if done.exists() {
        return Ok(());
    }
    require("java", "-version", what, "apt-get install -y openjdk-17-jdk-headless")?;
    require("mvn", "-v", what, "apt-get install -y maven")?;
    let part = dest.with_extension("part");
    let _ = std::fs::remove_dir_all(&part);
    say!("boontadata: fetching {what} with Maven (from {}) into {} …", pom.display(), dest.display());
    let mut cmd = Command::new("mvn");
    cmd.args(["-B", "-Dstyle.color=never", "-s"])
        .arg(checkout().join("maven-settings.xml"))
        .arg("-f")
        .arg(pom)
        .args(["dependency:copy-dependencies", "-DincludeScope=runtime"])
        .arg(format!("-DoutputDirectory={}", part.display()));
    cmd.args(properties.iter().map(|(k, v)| format!("-D{k}={v}")));
    // Maven's lines go to stderr: stdout is the harness's (`run --json` prints its summary there).
    let status = cmd.stdin(Stdio::null()).passing_through().context("running mvn")?;
    if !status.success() {
        bail!("fetching {what} with Maven failed ({status}); its lines above say why (is Maven Central reachable?)");
    }
    let _ = std::fs::remove_dir_all(dest);
    std::fs::rename(&part, dest).with_context(|| format!("moving {} to {}", part.display(), dest.display()))?;
    std::fs::write(&done, "").with_context(|| format!("writing {}", done.display()))?;
    say!("boontadata: {what} is in {}", dest.display());
    Ok(())
}
