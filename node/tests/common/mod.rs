//! The test harness: boots the real `pvm-node` binary on a free loopback
//! port with its own temp data dir, and cleans up after itself.
#![allow(dead_code)]

pub mod browser;
pub mod inprocess;

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
    // Tests never multicast on a real network: mDNS stays off unless a test names lo.
    cmd.env("PVM_MDNS", "off");
    cmd.arg("--data-dir").arg(dir);
    cmd
}

/// Runs a `pvm-node` subcommand to completion.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    pvm_node(dir).args(args).output().expect("pvm-node runs")
}

/// The admin every test node starts with.
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// Creates a staff account with the CLI (the node may be running or not).
pub fn admin_create(dir: &Path, username: &str, role: &str, password: &str) -> Output {
    use std::io::Write;
    let mut child = pvm_node(dir)
        .args(["admin", "create", "--username", username, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pvm-node admin create runs");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{password}");
    }
    child.wait_with_output().expect("admin create finishes")
}

pub struct TestNode {
    child: Child,
    pub url: String,
    /// An access token of the admin.
    pub token: String,
    /// The first-run setup code the node printed, when it had no accounts.
    pub setup_code: Option<String>,
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

    /// A node on a fresh data dir with extra `serve` arguments, logged in.
    pub fn start_with(extra: &[&str]) -> TestNode {
        let temp = tempfile::tempdir().expect("tempdir");
        let out = admin_create(temp.path(), ADMIN, "admin", ADMIN_PASSWORD);
        assert!(out.status.success(), "admin create failed");
        let mut node = TestNode::start_bare_at(temp.path(), "127.0.0.1:0", extra)
            .unwrap_or_else(|e| panic!("{e}"));
        node.token = login(&node.url, ADMIN, ADMIN_PASSWORD).unwrap_or_else(|e| panic!("{e}"));
        node._temp = Some(temp);
        node
    }

    /// A node on `dir` (kept after the node stops), with an admin made first on a
    /// new dir. Err carries its stderr if it would not start.
    pub fn start_in(dir: &Path) -> Result<TestNode, String> {
        if !dir.join("pvm.db").exists() {
            let out = admin_create(dir, ADMIN, "admin", ADMIN_PASSWORD);
            if !out.status.success() {
                return Err(format!(
                    "admin create failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        let mut node = TestNode::start_bare(dir)?;
        node.token = login(&node.url, ADMIN, ADMIN_PASSWORD)?;
        Ok(node)
    }

    /// A node on `dir` as it is: no accounts made, nobody logged in.
    pub fn start_bare(dir: &Path) -> Result<TestNode, String> {
        TestNode::start_bare_at(dir, "127.0.0.1:0", &[])
    }

    /// The node on `dir` again, on the same address (a restart), logged in.
    pub fn restart(&self) -> Result<TestNode, String> {
        let listen = self.url.trim_start_matches("http://").to_owned();
        let mut node = TestNode::start_bare_at(&self.dir, &listen, &[])?;
        node.token = login(&node.url, ADMIN, ADMIN_PASSWORD)?;
        Ok(node)
    }

    /// A node on `dir` listening on `listen`, with extra `serve` arguments.
    pub fn start_bare_at(dir: &Path, listen: &str, extra: &[&str]) -> Result<TestNode, String> {
        let log = dir.with_extension(format!("log-{}", rand_suffix()));
        let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut child = pvm_node(dir)
            .args(["serve", "--listen", listen, "--log-format", "json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // The setup line, if any, comes before the URL.
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut url, mut setup_code) = (None, None);
        while url.is_none() && Instant::now() < deadline {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(rest) = line.split("enter the setup code ").nth(1) {
                        setup_code = rest.split_whitespace().next().map(str::to_owned);
                    }
                    url = line
                        .strip_prefix("PVM node serving on ")
                        .map(|u| u.trim_end_matches('/').to_owned())
                }
                Err(_) => break,
            }
        }
        match url {
            Some(url) => Ok(TestNode {
                child,
                url,
                token: String::new(),
                setup_code,
                dir: dir.to_owned(),
                log,
                _temp: None,
            }),
            None => {
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

    /// A client that sends the admin's token.
    pub fn client(&self) -> reqwest::Client {
        client_with_token(&self.token)
    }

    /// Creates a user with `role` through the API and returns a token of theirs.
    pub async fn user_token(&self, username: &str, role: &str) -> String {
        let password = format!("{username}-password");
        let resp = self
            .client()
            .post(self.api("/api/v1/staff"))
            .json(&serde_json::json!({"username": username, "display_name": username, "role": role, "password": password}))
            .send()
            .await
            .expect("create user");
        assert_eq!(
            resp.status().as_u16(),
            201,
            "creating {username}: {}",
            resp.text().await.unwrap_or_default()
        );
        let url = self.url.clone();
        let username = username.to_owned();
        tokio::task::spawn_blocking(move || login(&url, &username, &password))
            .await
            .expect("join")
            .expect("login")
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

    /// The node's resident memory in kB (from /proc).
    pub fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
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

/// Logs in over the API and returns the access token.
pub fn login(url: &str, username: &str, password: &str) -> Result<String, String> {
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    let answer = post_json_blocking(url, "/api/v1/auth/login", &body)?;
    let v: serde_json::Value = serde_json::from_str(&answer)
        .map_err(|e| format!("login answer is not JSON ({e}): {answer}"))?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("login refused: {v}"))
}

/// A plain HTTP/1.1 POST over a std socket, for code that cannot await. Returns the body.
fn post_json_blocking(url: &str, path: &str, body: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    Ok(raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A browser-like client logged in through the login form: cookies, CSRF field and all.
/// Returns it with the CSRF token to put in forms.
pub async fn browser_login(url: &str, username: &str, password: &str) -> (reqwest::Client, String) {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let page = c
        .get(format!("{url}/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("text");
    let csrf = csrf_of(&page);
    let resp = c
        .post(format!("{url}/login"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("username", username),
            ("secret", password),
            ("method", "password"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(
        resp.status().as_u16(),
        303,
        "login form refused: {}",
        resp.text().await.unwrap_or_default()
    );
    (c, csrf)
}

/// The CSRF token a rendered page put in its forms.
pub fn csrf_of(page: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = page
        .find(marker)
        .map(|i| i + marker.len())
        .expect("page has a CSRF field");
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
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

/// A real 48x24 green PNG, for image uploads.
pub const GREEN_PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 48, 0, 0, 0, 24, 8, 2,
    0, 0, 0, 51, 159, 233, 139, 0, 0, 0, 44, 73, 68, 65, 84, 120, 218, 237, 206, 1, 9, 0, 0, 8, 3,
    176, 55, 177, 144, 201, 76, 109, 13, 193, 193, 2, 44, 53, 125, 74, 132, 132, 132, 132, 132,
    132, 132, 132, 132, 132, 132, 132, 126, 133, 22, 136, 50, 78, 189, 237, 192, 78, 29, 0, 0, 0,
    0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// The read tables of the stopped node's database at `db` and of a replay
/// of its log from empty into a fresh one, each dumped as text: a node's
/// read tables must be exactly what its log replays to.
pub async fn dump_and_replay(db: &Path) -> (String, String) {
    let db = pvm_node::store::Db::open(db).await.expect("db");
    let original = pvm_node::store::Reader::new(&db).await.expect("reader");
    let out = tempfile::tempdir().expect("tmp");
    let replayed = pvm_node::store::replay_into(&original, &out.path().join("replayed.db"))
        .await
        .expect("replay");
    (
        original.dump_read_tables().await.expect("dump"),
        replayed.dump_read_tables().await.expect("dump"),
    )
}
