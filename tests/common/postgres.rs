//! A PostgreSQL server for a test: the machine's own (Debian's `postgresql` package), in a folder
//! of the test's, on a 127.0.0.1 port of its own, stopped by its PID when the test ends, failed or not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalPostgres {
    server: Child,
    dir: PathBuf,
    pub url: String,
}

/// The newest PostgreSQL server installed, by its `bin` folder.
fn server_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten().map(|e| e.path().join("bin")).collect();
    found.sort_by_key(|p| p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    found
        .pop()
        .filter(|b| b.join("postgres").exists())
        .unwrap_or_else(|| panic!("no PostgreSQL server in /usr/lib/postgresql: install Debian's (apt-get install -y postgresql; .ci/run does)"))
}

/// `program` as the user that may run the server: PostgreSQL refuses to run as root, so root runs it as `postgres`.
fn as_server_user(program: &Path) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl LocalPostgres {
    pub fn start(test: &str) -> LocalPostgres {
        let bin = server_bin();
        let dir = super::out_dir(&format!("{test}-postgres"));
        std::fs::create_dir_all(&dir).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            let chown = Command::new("chown").args(["-R", "postgres"]).arg(&dir).status().unwrap();
            assert!(chown.success(), "chown of {} to postgres failed", dir.display());
        }
        let init = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "boontadata", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(init.status.success(), "initdb failed: {}", String::from_utf8_lossy(&init.stderr));
        boontadata::process::on_free_ports(1, "the test's PostgreSQL", |ports| serve(&bin, &dir, ports[0])).unwrap()
    }
}

/// The server of `dir` on 127.0.0.1:`port`, once it takes connections.
fn serve(bin: &Path, dir: &Path, port: u16) -> anyhow::Result<LocalPostgres> {
    let log = dir.join("server.log");
    let server = as_server_user(&bin.join("postgres"))
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .arg("-k")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    // Held from here on, so that a server that fails to start is stopped.
    let mut pg = LocalPostgres { server, dir: dir.to_path_buf(), url: format!("postgres://boontadata@127.0.0.1:{port}/postgres") };
    boontadata::process::wait_listening(&mut pg.server, port, Duration::from_secs(30), "PostgreSQL", &log)?;
    // It listens before it has recovered its data: it takes connections after.
    let deadline = Instant::now() + Duration::from_secs(30);
    while postgres::Client::connect(&pg.url, postgres::NoTls).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "PostgreSQL did not take connections within 30 s; its log: {}", log.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(pg)
}

impl Drop for LocalPostgres {
    /// A fast shutdown (SIGINT to the postmaster, by the PID in its pid file), so that it leaves no shared memory behind; a kill if it lingers.
    fn drop(&mut self) {
        let pid_file = self.dir.join("data/postmaster.pid");
        let postmaster = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.lines().next()?.trim().parse::<i32>().ok());
        if let Some(pid) = postmaster {
            unsafe { libc::kill(pid, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while pid_file.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        boontadata::process::kill_tree(self.server.id());
        let _ = self.server.wait();
    }
}
