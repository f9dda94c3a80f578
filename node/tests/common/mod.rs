//! The test harness: boots the real `pvm-node` binary on a free loopback
//! port with its own temp data dir, and cleans up after itself.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_pvm-node");

/// A `pvm-node` command with a data dir and no stray `PVM_*` settings from the environment.
pub fn pvm_node(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("PVM_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("--data-dir").arg(dir);
    cmd
}

/// Runs a `pvm-node` subcommand to completion.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    pvm_node(dir).args(args).output().expect("pvm-node runs")
}

pub struct TestNode {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl TestNode {
    /// A node on a fresh data dir.
    pub fn start() -> TestNode {
        let temp = tempfile::tempdir().expect("tempdir");
        let mut node = TestNode::start_in(temp.path()).unwrap_or_else(|e| panic!("{e}"));
        node._temp = Some(temp);
        node
    }

    /// A node on `dir` (kept after the node stops). Err carries its stderr if it would not start.
    pub fn start_in(dir: &Path) -> Result<TestNode, String> {
        let log = dir.with_extension(format!("log-{}", rand_suffix()));
        let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut child = pvm_node(dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("PVM node serving on ") {
                    let _ = tx.send(url.trim_end_matches('/').to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => Ok(TestNode {
                child,
                url,
                dir: dir.to_owned(),
                log,
                _temp: None,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "pvm-node did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ))
            }
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Stops the node with SIGTERM and waits for it.
    pub fn terminate(&mut self) -> ExitStatus {
        signal(&self.child, "TERM");
        wait_for(&mut self.child, Duration::from_secs(20))
    }

    /// Kills the node with SIGKILL, as a power cut would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status();
}

fn wait_for(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("pvm-node did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rand_suffix() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub fn table_json(name: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}})
}
