//! A PostgreSQL server of the test's own: Debian's `postgresql` package
//! (or the build `PVM_TEST_PG_BIN` names), initdb'd into a temp dir and
//! started with pg_ctl on a free loopback port. Run as `nobody` when the
//! test runs as root (initdb refuses root). Stopped when dropped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgServer {
    pub port: u16,
    pub data: PathBuf,
    bin: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// The directory holding initdb, pg_ctl and psql: `PVM_TEST_PG_BIN`, else the
/// PATH, else the newest `/usr/lib/postgresql/N/bin`.
pub fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PVM_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).find(|p| {
            ["initdb", "pg_ctl", "psql"]
                .iter()
                .all(|t| p.join(t).exists())
        })
    });
    if let Some(dir) = on_path {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((n, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no initdb): run scripts/test, which installs Debian's `postgresql`, or set PVM_TEST_PG_BIN")
    })
}

/// `nobody`'s uid and gid when running as root, else None (run as is).
fn unprivileged() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    (unsafe { libc::geteuid() } == 0).then_some((65534, 65534))
}

impl PgServer {
    /// A new server in a temp dir of its own, removed when dropped.
    pub fn start() -> PgServer {
        let dir = tempfile::Builder::new()
            .prefix("pvm-pg-")
            .tempdir()
            .expect("temp dir");
        let mut server = PgServer::start_in(dir.path());
        server._dir = Some(dir);
        server
    }

    /// The server whose data is `dir/data`: made there the first time,
    /// started again on the same data after a drop (a hub restarted by a
    /// test keeps its database). On a new free port each time.
    pub fn start_in(dir: &Path) -> PgServer {
        let data = dir.join("data");
        let made = data.join("PG_VERSION").exists();
        if !made {
            std::fs::create_dir_all(&data).expect("data dir");
            if let Some((uid, gid)) = unprivileged() {
                reachable_by_others(dir);
                std::os::unix::fs::chown(&data, Some(uid), Some(gid)).expect("chown");
            }
        }
        let mut server = PgServer {
            port: super::free_port(),
            data,
            bin: pg_bin(),
            _dir: None,
        };
        if !made {
            server.run(
                "initdb",
                &[
                    "-D",
                    path(&server.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
            );
        }
        // The free port was free when picked; another test may bind it
        // before the server does. Then another port, a few times.
        let mut tries = 0;
        while let Err(failure) = server.try_pg_ctl(&["start"]) {
            tries += 1;
            assert!(
                tries < 5 && failure.contains("Address already in use"),
                "{failure}"
            );
            server.port = super::free_port();
            let _ = std::fs::remove_file(server.data.join("server.log"));
        }
        println!(
            "PostgreSQL {} from {}",
            server.psql("SHOW server_version"),
            server.bin.display()
        );
        server
    }

    /// A URL for a new, empty database on this server.
    pub fn new_database(&self, name: &str) -> String {
        self.psql(&format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL with psql on the `postgres` database, returning its output
    /// (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        self.psql_on("postgres", sql)
    }

    pub fn psql_on(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `pg_ctl restart -m immediate`: the server stops without a clean
    /// shutdown (every connection cut, crash recovery at start) and comes back.
    pub fn restart_immediate(&self) {
        self.pg_ctl(&["restart", "-m", "immediate"]);
    }

    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    fn pg_ctl(&self, action: &[&str]) {
        if let Err(failure) = self.try_pg_ctl(action) {
            panic!("{failure}");
        }
    }

    fn try_pg_ctl(&self, action: &[&str]) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200",
            self.port,
            path(&self.data)
        );
        let log = self.data.join("server.log");
        let mut args = vec!["-D", path(&self.data), "-l", path(&log), "-w", "-t", "60"];
        args.extend(["-o", &options]);
        args.extend(action);
        self.try_run("pg_ctl", &args)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        if let Err(failure) = self.try_run(tool, args) {
            panic!("{failure}");
        }
    }

    /// Runs a PostgreSQL tool; on failure, what it and the server's log said.
    fn try_run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args).env("LC_ALL", "C");
        if let Some((uid, gid)) = unprivileged() {
            cmd.uid(uid).gid(gid);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| {
                let hint = if e.kind() == std::io::ErrorKind::PermissionDenied && unprivileged().is_some() {
                    " (run as `nobody`, since PostgreSQL refuses root: every folder above the binaries must be open to others; scripts/test puts its PostgreSQL 17 in /var/tmp under root)"
                } else {
                    ""
                };
                panic!("{tool} in {} does not run: {e}{hint}", self.bin.display())
            });
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{tool} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
        ))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut cmd = Command::new(self.bin.join("pg_ctl"));
        cmd.args(["-D", path(&self.data), "stop", "-m", "immediate", "-w"]);
        if let Some((uid, gid)) = unprivileged() {
            cmd.uid(uid).gid(gid);
        }
        let _ = cmd.output();
    }
}

/// Lets `nobody` through `dir` and its parents inside the temp dir (a
/// test's temp dirs are 0700 root).
fn reachable_by_others(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = std::env::temp_dir();
    for d in dir.ancestors().filter(|d| d.starts_with(&tmp) && *d != tmp) {
        if let Ok(meta) = std::fs::metadata(d) {
            let mode = meta.permissions().mode() | 0o711;
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode));
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
