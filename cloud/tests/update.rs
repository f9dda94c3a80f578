//! `pvm-node update` against a real dockerd: images pushed to a local
//! registry (Debian's docker-registry on loopback) and pulled by digest; a
//! good image is kept; one whose health check fails and one that
//! crash-loops are rolled back to the old one, which answers again; a failed
//! pull leaves the running container alone; an unsigned or foreign-signed
//! manifest is refused; every result is an event that reaches the hub. Also
//! the leaf container restarted through the Docker API when its link sticks.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// The release scripts/test built (PVM_TEST_DIST) and its version; dockerd must run.
fn test_dist() -> (PathBuf, String) {
    assert_dockerd();
    test_release()
}

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn registry(dir: &Path) -> (Registry, String) {
    let bin = Path::new("/usr/bin/docker-registry");
    assert!(
        bin.exists(),
        "docker-registry is not installed: scripts/test installs it (apt-get install docker-registry)"
    );
    let port = free_port();
    let conf = dir.join("registry.yml");
    std::fs::write(
        &conf,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("registry").display()
        ),
    )
    .expect("registry conf");
    let child = Command::new(bin)
        .arg("serve")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("registry.log")).expect("log"))
        .spawn()
        .expect("docker-registry starts");
    wait_port(port, Duration::from_secs(10));
    (Registry(child), format!("127.0.0.1:{port}"))
}

/// Builds a FROM-scratch node image variant and pushes it; returns it by digest.
fn image(dist: &Path, version: &str, reg: &str, tag: &str, tail: &str) -> String {
    let ctx = tempfile::tempdir().expect("ctx");
    std::fs::copy(
        dist.join(format!("pvm-node-{version}-x86_64-linux-musl")),
        ctx.path().join("pvm-node"),
    )
    .expect("pvm-node");
    std::fs::copy(
        dist.join(format!("pvm-probe-{version}-x86_64-linux-musl")),
        ctx.path().join("pvm-probe"),
    )
    .expect("pvm-probe");
    std::fs::create_dir(ctx.path().join("data")).expect("data");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM scratch\n\
             COPY pvm-node pvm-probe /usr/local/bin/\n\
             COPY --chown=65532:65532 data /data\n\
             USER 65532:65532\n\
             ENV PVM_DATA_DIR=/data PVM_LISTEN=0.0.0.0:8080 PVM_MDNS=off\n\
             LABEL pvm.test={tag}\n\
             ENTRYPOINT [\"/usr/local/bin/pvm-node\"]\n\
             {tail}\n"
        ),
    )
    .expect("Dockerfile");
    let name = format!("{reg}/pvm-update-test:{tag}");
    ok(docker(&[
        "build",
        "-q",
        "-t",
        &name,
        ctx.path().to_str().expect("utf-8"),
    ]));
    ok(docker(&["push", &name]));
    // The same bytes may also carry digests from earlier runs' registries: take this one's.
    let digests = ok(docker(&["inspect", "-f", "{{json .RepoDigests}}", &name]));
    let digests: Vec<String> = serde_json::from_str(&digests).expect("digests");
    digests
        .into_iter()
        .find(|d| d.starts_with(&format!("{reg}/")))
        .expect("a digest in this registry")
}

const HEALTHY: &str = "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD [\"/usr/local/bin/pvm-probe\", \"http://127.0.0.1:8080/ready\"]\nCMD [\"serve\"]";
const UNHEALTHY: &str = "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD [\"/usr/local/bin/pvm-probe\", \"http://127.0.0.1:8080/no-such-page\"]\nCMD [\"serve\"]";
const CRASHES: &str = "CMD [\"serve\", \"--listen\", \"not-an-address\"]";

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = docker(&["logs", "--tail", "40", &self.0]);
            eprintln!(
                "--- docker logs {}:\n{}{}",
                self.0,
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        let _ = docker(&["rm", "-f", &self.0, &format!("{}-previous", self.0)]);
    }
}

fn running_image(name: &str) -> String {
    ok(docker(&["inspect", "-f", "{{.Config.Image}}", name]))
}

async fn answers(url: &str) -> bool {
    reqwest::get(url)
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn update(node_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(node_bin())
        .arg("--data-dir")
        .arg(node_dir)
        .arg("update")
        .args(args)
        .output()
        .expect("pvm-node update");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn updates_are_kept_only_when_healthy_rolled_back_otherwise_and_reported_to_the_hub() {
    let (dist, version) = test_dist();
    let tmp = tempfile::tempdir().expect("tmp");

    // A registered node (its log records the results) and the hub.
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Update Test Room").await;
    let leaf = Leaf::start(&node_dir);
    let _node = NodeProc::start(&node_dir, &leaf, &[]);

    // Images by digest in a local registry.
    let (_registry, reg) = registry(tmp.path());
    let v1 = image(&dist, &version, &reg, "v1", HEALTHY);
    let v2 = image(&dist, &version, &reg, "v2", HEALTHY);
    let sick = image(&dist, &version, &reg, "sick", UNHEALTHY);
    let crashes = image(&dist, &version, &reg, "crashes", CRASHES);

    // The running version: v1, published on a loopback port, restarted by Docker.
    let name = format!("pvm-update-test-{}", free_port());
    let _container = Container(name.clone());
    let port = free_port();
    ok(docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--restart",
        "always",
        "--init",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        &v1,
    ]));
    let ready = format!("http://127.0.0.1:{port}/ready");
    until(Duration::from_secs(20), "v1 answers", || answers(&ready)).await;
    let base = [
        "--container",
        &name,
        "--healthy-secs",
        "3",
        "--check-url",
        &ready,
    ];
    let with = |image: &str| {
        let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        a.push("--image".into());
        a.push(image.to_owned());
        a
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        update(&node_dir, &refs)
    };

    // A good image: kept, the old container gone.
    let (success, out) = run(with(&v2));
    assert!(success, "{out}");
    assert!(out.contains("updated:"), "{out}");
    assert_eq!(running_image(&name), v2);
    assert!(!docker(&["inspect", &format!("{name}-previous")])
        .status
        .success());
    assert!(answers(&ready).await);

    // An image whose health check fails: rolled back to v2, which answers again.
    let (success, out) = run(with(&sick));
    assert!(!success, "{out}");
    assert!(
        out.contains("rolled_back:") && out.contains("health check"),
        "{out}"
    );
    assert_eq!(running_image(&name), v2);
    until(
        Duration::from_secs(20),
        "v2 answers after the rollback",
        || answers(&ready),
    )
    .await;

    // One that crash-loops: rolled back too.
    let (success, out) = run(with(&crashes));
    assert!(!success, "{out}");
    assert!(out.contains("rolled_back:"), "{out}");
    assert_eq!(running_image(&name), v2);
    until(Duration::from_secs(20), "v2 answers again", || {
        answers(&ready)
    })
    .await;

    // A pull that fails (a digest the registry does not have): nothing touched.
    let id_before = ok(docker(&["inspect", "-f", "{{.Id}}", &name]));
    let missing = format!("{reg}/pvm-update-test@sha256:{}", "0".repeat(64));
    let (success, out) = run(with(&missing));
    assert!(!success, "{out}");
    assert!(out.contains("pull_failed:"), "{out}");
    assert_eq!(ok(docker(&["inspect", "-f", "{{.Id}}", &name])), id_before);

    // Manifests: unsigned, signed by someone else, then signed by the hub.
    let manifest = tmp.path().join("manifest.json");
    std::fs::write(
        &manifest,
        serde_json::json!({"version": "0.0.1-test", "images": {"node": v1}}).to_string(),
    )
    .expect("manifest");
    let by_manifest = || {
        let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        a.push("--manifest".into());
        a.push(manifest.display().to_string());
        a
    };
    let (success, out) = run(by_manifest());
    assert!(!success && out.contains("not signed"), "{out}");
    let other = tmp.path().join("other-hub");
    std::fs::create_dir_all(&other).expect("dir");
    let sign = |data_dir: &Path| {
        let out = Command::new(CLOUD)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("sign")
            .arg(&manifest)
            .output()
            .expect("sign");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sign(&other);
    let (success, out) = run(by_manifest());
    assert!(
        !success && out.contains("not signed by this node's hub"),
        "{out}"
    );
    assert_eq!(
        running_image(&name),
        v2,
        "a refused manifest changes nothing"
    );
    sign(&cloud.dir);
    let (success, out) = run(by_manifest());
    assert!(success, "{out}");
    assert_eq!(running_image(&name), v1);

    // Every result (updated, rolled back twice, pull failed, refused twice,
    // updated) is in the node's log and reaches the hub.
    until(
        Duration::from_secs(15),
        "seven update results at the hub",
        || async {
            let events = cloud.events(&venue).await;
            events["latest"].as_array().map_or(0, |l| {
                l.iter().filter(|e| e["kind"] == "update_finished").count()
            }) == 7
        },
    )
    .await;
}

/// The hub asks a venue's node, running in a container, to update itself: a
/// helper container replaces it, the new node is kept once it is ready with
/// its leaf linked, and both steps reach the hub as events.
#[tokio::test]
async fn the_hub_updates_a_node_in_a_container_through_a_helper() {
    let (dist, version) = test_dist();
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Self Update Room").await;
    let leaf = Leaf::start(&node_dir);
    let (_registry, reg) = registry(tmp.path());
    // On the host's network the node listens on its own port; its health check too.
    let port = free_port();
    let healthy_here = HEALTHY.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let v1 = image(&dist, &version, &reg, "self-v1", &healthy_here);
    let v2 = image(&dist, &version, &reg, "self-v2", &healthy_here);

    let name = format!("pvm-self-test-{}", free_port());
    let _container = Container(name.clone());
    let _helper = Container(format!("{name}-updater"));
    ok(docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--user",
        "0:0",
        "--init",
        "--restart",
        "always",
        "-v",
        &format!("{}:/data", node_dir.display()),
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-e",
        &format!("PVM_LISTEN=127.0.0.1:{port}"),
        "-e",
        &format!("PVM_NATS=nats://127.0.0.1:{}", leaf.port),
        "-e",
        &format!("PVM_LEAF_MONITOR=http://127.0.0.1:{}", leaf.monitor),
        "-e",
        &format!("PVM_SELF_CONTAINER={name}"),
        "-e",
        "PVM_SELF_UPDATE_HEALTHY_SECS=3",
        "-e",
        "PVM_HEARTBEAT_SECS=1",
        &v1,
    ]));
    let ready = format!("http://127.0.0.1:{port}/ready?leaf=connected");
    until(
        Duration::from_secs(30),
        "the node in its container, linked",
        || answers(&ready),
    )
    .await;

    let c = cloud.client();
    let refused = c
        .post(format!("{}/api/v1/venues/{venue}/updates", cloud.url))
        .json(&serde_json::json!({"version": "t2", "images": {"node": "pvm-node:latest"}}))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 422, "a tag is not a digest");
    let sent = c
        .post(format!("{}/api/v1/venues/{venue}/updates", cloud.url))
        .json(&serde_json::json!({"version": "t2", "images": {"node": v2}}))
        .send()
        .await
        .expect("post");
    assert_eq!(sent.status().as_u16(), 201);
    let node_url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    loop {
        let on_v2 = docker(&["inspect", "-f", "{{.Config.Image}}", &name]).stdout;
        let events = cloud.events(&venue).await;
        let updates = events["latest"].as_array().map_or(0, |l| {
            l.iter().filter(|e| e["kind"] == "update_finished").count()
        });
        if String::from_utf8_lossy(&on_v2).trim() == v2 && updates == 2 {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            panic!(
                "not replaced by v2 with both steps at the hub within 120 s; the node's update records:\n{}",
                update_records(&node_url).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();
    eprintln!("updated through the helper in {took:?}");
    assert!(
        answers(&ready).await,
        "the new node answers with its leaf linked"
    );
    assert!(
        !docker(&["inspect", &format!("{name}-previous")])
            .status
            .success(),
        "the old container was removed"
    );
}

/// The node's `update_finished` events with their payloads (for failure messages).
async fn update_records(node_url: &str) -> String {
    let c = reqwest::Client::new();
    let Ok(login) = c
        .post(format!("{node_url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "boss", "password": "boss-password-1"}))
        .send()
        .await
    else {
        return "(the node does not answer)".into();
    };
    let token: serde_json::Value = login.json().await.unwrap_or_default();
    let token = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Ok(events) = c
        .get(format!("{node_url}/api/v1/events?after=0&limit=1000"))
        .bearer_auth(token)
        .send()
        .await
    else {
        return "(no events)".into();
    };
    let events: serde_json::Value = events.json().await.unwrap_or_default();
    events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "update_finished")
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// In compose the leaf is its own container and the node's image has no
/// shell: a leaf whose link sticks (a one-hour reconnect interval, as
/// nats-server #7615 behaves) is restarted through the Docker API
/// (`--leaf-container`) once the hub answers again, and sync resumes.
#[tokio::test]
async fn a_stuck_leaf_container_is_restarted_through_the_docker_api() {
    let (dist, version) = test_dist();
    let tmp = tempfile::tempdir().expect("tmp");
    let mut hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Leaf Container Room").await;
    let leaf = Leaf::configure_stuck(&node_dir);

    // The leaf image as images/nats/Dockerfile makes it: nats-server and the probe.
    let ctx = tempfile::tempdir().expect("ctx");
    std::fs::copy(nats_executable(), ctx.path().join("nats-server")).expect("nats-server");
    std::fs::copy(
        dist.join(format!("pvm-probe-{version}-x86_64-linux-musl")),
        ctx.path().join("pvm-probe"),
    )
    .expect("pvm-probe");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY nats-server pvm-probe /usr/local/bin/\nENTRYPOINT [\"/usr/local/bin/nats-server\"]\n",
    )
    .expect("Dockerfile");
    let name = format!("pvm-leaf-test-{}", leaf.port);
    let tag = format!("pvm-leaf-test:{}", leaf.port);
    let _image = Image(tag.clone());
    ok(docker(&[
        "build",
        "-q",
        "-t",
        &tag,
        ctx.path().to_str().expect("utf-8"),
    ]));
    let _container = Container(name.clone());
    ok(docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--user",
        "0:0",
        "-v",
        &format!("{}:/etc/nats/nats.conf:ro", leaf.conf.display()),
        // The hub's leaf CA, at the path leaf-config wrote into the conf.
        "-v",
        &format!("{0}:{0}:ro", leaf.conf.with_extension("ca.pem").display()),
        &tag,
        "-c",
        "/etc/nats/nats.conf",
    ]));
    let started_at = || ok(docker(&["inspect", "-f", "{{.State.StartedAt}}", &name]));
    let first_start = started_at();

    let monitor = format!("http://127.0.0.1:{}", leaf.monitor);
    let node = NodeProc::start(
        &node_dir,
        &leaf,
        &[
            "--leaf-container",
            &name,
            "--leaf-monitor",
            &monitor,
            "--leaf-restart-after",
            "2",
        ],
    );
    let token = node.token().await;
    let sync = || node.sync(&token);
    until(
        Duration::from_secs(20),
        "the leaf container links and the backlog drains",
        || async {
            let s = sync().await;
            s["leaf"]["connected"] == true && s["pending"] == 0
        },
    )
    .await;
    let s = sync().await;
    assert_eq!(s["leaf"]["restart_method"], "container");
    assert_eq!(s["leaf"]["restarts"], 0, "no restart while linked: {s}");
    assert_eq!(started_at(), first_start, "not restarted while linked");

    hub.stop();
    until(
        Duration::from_secs(10),
        "the leaf link is seen down",
        || async { sync().await["leaf"]["connected"] == false },
    )
    .await;
    hub.restart();
    let took = until(
        Duration::from_secs(40),
        "the leaf container restarted and relinked",
        || async {
            let s = sync().await;
            s["leaf"]["restarts"] == 1 && s["leaf"]["connected"] == true && s["pending"] == 0
        },
    )
    .await;
    eprintln!("leaf container restarted and relinked {took:?} after the hub came back");
    let s = sync().await;
    assert_eq!(s["leaf"]["last_error"], serde_json::Value::Null, "{s}");
    assert_ne!(started_at(), first_start, "the container was restarted");
    until(
        Duration::from_secs(10),
        "the restart reaches the hub",
        || async {
            let events = cloud.events(&venue).await;
            events["latest"]
                .as_array()
                .is_some_and(|l| l.iter().any(|e| e["kind"] == "leaf_restarted"))
        },
    )
    .await;
}

/// A test image, removed when dropped (after the container that uses it).
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

/// The nats-server program itself (an image needs the static binary, not
/// pyenv's shell shim that PATH may find first).
fn nats_executable() -> PathBuf {
    let bin = nats_bin();
    let elf = std::fs::read(&bin).is_ok_and(|b| b.starts_with(b"\x7fELF"));
    if elf {
        return bin;
    }
    let out = Command::new("pyenv")
        .args(["which", "nats-server"])
        .output()
        .expect("nats-server on PATH is a shim; pyenv resolves it");
    let real = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        std::fs::read(&real).is_ok_and(|b| b.starts_with(b"\x7fELF")),
        "no nats-server binary found behind {}",
        bin.display()
    );
    real
}

/// A dockerd of the test's own (with its own containerd, data and exec
/// roots, socket and cgroup), so that a power cut can be dealt to it and
/// everything it runs at once without touching the shared engine: the
/// daemons and every container process sit under one freezer cgroup, which
/// is frozen, SIGKILLed and thawed.
struct PrivateDocker {
    dir: PathBuf,
    cgroup: PathBuf,
    parent: String,
    /// Its own bridge (`--bridge none` would make dockerd delete the
    /// shared engine's docker0, and the default would share it).
    bridge: String,
    daemons: Vec<Child>,
}

impl PrivateDocker {
    fn new(dir: &Path) -> Self {
        assert!(
            Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"0")),
            "the power-cut test runs its own dockerd and needs root (scripts/test runs as root in CI)"
        );
        let freezer = Path::new("/sys/fs/cgroup/freezer");
        assert!(
            freezer.is_dir(),
            "the power-cut test needs the cgroup v1 freezer at {} to cut everything at once",
            freezer.display()
        );
        let n = free_port();
        let parent = format!("pvm-power-cut-{n}");
        let cgroup = freezer.join(&parent);
        // A bridge of its own with a link-local address: nothing routes off the box.
        let bridge = format!("pvmcut{n}");
        let ip = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .output()
                .expect("ip (iproute2) runs: scripts/test installs it");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["link", "add", "name", &bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("169.254.{}.1/24", n % 250 + 1),
            "dev",
            &bridge,
        ]);
        ip(&["link", "set", &bridge, "up"]);
        std::fs::create_dir_all(&cgroup).expect("freezer cgroup");
        std::fs::create_dir_all(dir).expect("dir");
        std::fs::write(dir.join("containerd.toml"), "").expect("containerd config");
        std::fs::write(dir.join("daemon.json"), "{}").expect("daemon config");
        PrivateDocker {
            dir: dir.to_owned(),
            cgroup,
            parent,
            bridge,
            daemons: Vec::new(),
        }
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// Boots containerd and dockerd inside the cgroup (as after a reboot).
    fn boot(&mut self) {
        let d = self.dir.display().to_string();
        let cgroup = self.cgroup.join("cgroup.procs").display().to_string();
        let spawn = |cmd: String, log: &str| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("echo $$ > {cgroup} && exec {cmd}"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(self.dir.join(log)).expect("log"))
                .spawn()
                .expect("daemon starts")
        };
        let _ = std::fs::remove_file(self.dir.join("containerd.sock"));
        let containerd = spawn(
            format!("containerd -c {d}/containerd.toml --root {d}/ctd-root --state {d}/ctd-state --address {d}/containerd.sock"),
            "containerd.log",
        );
        self.daemons.push(containerd);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !self.dir.join("containerd.sock").exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "containerd did not start: see {d}/containerd.log"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let dockerd = spawn(
            format!(
                "dockerd --config-file {d}/daemon.json --data-root {d}/root --exec-root {d}/exec \
                 --pidfile {d}/docker.pid -H unix://{d}/docker.sock --containerd {d}/containerd.sock \
                 --bridge {} --iptables=false --ip6tables=false --ip-masq=false --storage-driver vfs \
                 --cgroup-parent /{} --userland-proxy=false",
                self.bridge, self.parent
            ),
            "dockerd.log",
        );
        self.daemons.push(dockerd);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !self.cli(&["info"]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "the test's dockerd did not start: see {d}/dockerd.log"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            .args(args)
            .output()
            .expect("docker runs")
    }

    fn client(&self) -> bollard::Docker {
        bollard::Docker::connect_with_unix(
            &self.sock().display().to_string(),
            120,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("client")
    }

    /// Every process of the cgroup and its children (the containers').
    fn processes(&self) -> Vec<i32> {
        fn walk(dir: &Path, out: &mut Vec<i32>) {
            if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&entry.path(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.cgroup, &mut out);
        out
    }

    /// The power goes: everything stops at once, mid-write.
    fn power_cut(&mut self) {
        let survivors = self.cut();
        assert!(
            survivors.is_empty(),
            "processes survived the cut: {survivors:?}"
        );
    }

    /// Freezes, kills and thaws the cgroup; returns what is still alive.
    fn cut(&mut self) -> Vec<i32> {
        let state = self.cgroup.join("freezer.state");
        std::fs::write(&state, "FROZEN").expect("freeze");
        for _ in 0..100 {
            if std::fs::read_to_string(&state).is_ok_and(|s| s.trim() == "FROZEN") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for pid in self.processes() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        std::fs::write(&state, "THAWED").expect("thaw");
        for mut d in self.daemons.drain(..) {
            let _ = d.wait();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.processes().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // What the kernel would have dropped with the power: mounts.
        self.unmount();
        self.processes()
    }

    fn unmount(&self) {
        let dir = self.dir.display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&dir))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
    }
}

impl Drop for PrivateDocker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for log in ["dockerd.log", "containerd.log"] {
                let text = std::fs::read_to_string(self.dir.join(log)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                eprintln!("--- {log} (last lines, newest first):\n{}", tail.join("\n"));
            }
        }
        if !self.daemons.is_empty() {
            let _ = self.cut();
        }
        fn remove(dir: &Path) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&entry.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        remove(&self.cgroup);
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .status();
    }
}

/// Updates survive a power cut at any step: the update (run by the helper
/// the node starts) is stopped at each journaled phase, the power is cut
/// (daemons and every container at once), and after the "reboot" exactly
/// one node container runs: the old one, or the new one when the cut came
/// after it had proved itself; the helper stands down and the journal is gone.
#[tokio::test]
async fn an_update_survives_a_power_cut_at_every_step() {
    let (dist, version) = test_dist();
    let tmp = tempfile::tempdir().expect("tmp");
    let (_registry, reg) = registry(tmp.path());
    let port = free_port();
    let healthy_here = HEALTHY.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let unhealthy_here = UNHEALTHY.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let v1 = image(&dist, &version, &reg, "cut-v1", &healthy_here);
    let v2 = image(&dist, &version, &reg, "cut-v2", &healthy_here);
    let bad = image(&dist, &version, &reg, "cut-bad", &unhealthy_here);
    // Short paths: unix socket paths are limited to 108 bytes.
    let engine = tempfile::Builder::new()
        .prefix("pvm-cut")
        .tempdir_in("/tmp")
        .expect("engine dir");
    let mut docker = PrivateDocker::new(&engine.path().join("d"));
    docker.boot();
    ok(docker.cli(&["pull", "-q", &v1]));
    let node_dir = tmp.path().join("node");
    std::fs::create_dir_all(&node_dir).expect("node dir");
    let name = "pvm-cut-node";
    let ready = format!("http://127.0.0.1:{port}/ready");
    let cases = [
        ("begun", &v2, &v1),
        ("old_stopped", &v2, &v1),
        ("new_created", &v2, &v1),
        ("proving", &v2, &v1),
        ("promoting", &v2, &v2),
        ("rolling_back", &bad, &v1),
    ];
    for (phase, target, survivor) in cases {
        // A node on v1, started at boot, as the installer runs it.
        for c in [
            name.to_string(),
            format!("{name}-previous"),
            format!("{name}-updater"),
        ] {
            let _ = docker.cli(&["rm", "-f", &c]);
        }
        ok(docker.cli(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            "--user",
            "0:0",
            "--init",
            "--restart",
            "always",
            "-v",
            &format!("{}:/data", node_dir.display()),
            "-v",
            &format!("{}:/var/run/docker.sock", docker.sock().display()),
            "-e",
            &format!("PVM_LISTEN=127.0.0.1:{port}"),
            "-e",
            &format!("PVM_SELF_CONTAINER={name}"),
            &v1,
        ]));
        until(Duration::from_secs(30), "the node on v1 answers", || {
            answers(&ready)
        })
        .await;
        std::fs::write(node_dir.join("update.hold"), phase).expect("hold");
        let su = pvm_node::update::SelfUpdate {
            container: name.into(),
            check_url: ready.clone(),
            healthy_secs: 2,
        };
        let helper = pvm_node::update::spawn_helper(&docker.client(), &su, target)
            .await
            .expect("helper starts");
        let journal = node_dir.join("update.json");
        until(
            Duration::from_secs(60),
            &format!("the update reaches {phase}"),
            || {
                let at = std::fs::read_to_string(&journal)
                    .ok()
                    .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
                    .is_some_and(|j| j["phase"] == phase);
                async move { at }
            },
        )
        .await;
        // The helper checks the hold file right after the journal is on disk.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // What the cut meets: from `proving` on, the new version runs under the name.
        if ["proving", "promoting", "rolling_back"].contains(&phase) {
            let state = ok(docker.cli(&[
                "inspect",
                "-f",
                "{{.State.Running}} {{.Config.Image}}",
                name,
            ]));
            assert_eq!(state, format!("true {target}"), "before the cut at {phase}");
        }
        docker.power_cut();
        std::fs::remove_file(node_dir.join("update.hold")).expect("hold gone");
        docker.boot();
        let settled = until(
            Duration::from_secs(90),
            &format!("after a cut at {phase}: the helper finished and stood down"),
            || {
                let helper_done = docker.cli(&["inspect", "-f", "{{.State.Running}}", &helper]);
                let done = String::from_utf8_lossy(&helper_done.stdout).trim() == "false"
                    && !journal.exists();
                async move { done }
            },
        )
        .await;
        let running = ok(docker.cli(&["ps", "--format", "{{.Names}}"]));
        let logs = docker.cli(&["logs", &helper]);
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        );
        assert_eq!(
            running, name,
            "cut at {phase}: exactly one container runs, the node (helper said:\n{logs})"
        );
        assert_eq!(
            ok(docker.cli(&["inspect", "-f", "{{.Config.Image}}", name])),
            **survivor,
            "cut at {phase}: the node runs the expected version (helper said:\n{logs})"
        );
        assert_eq!(
            ok(docker.cli(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", name])),
            "always",
            "cut at {phase}: the node that runs starts at boot"
        );
        assert_eq!(
            ok(docker.cli(&[
                "inspect",
                "-f",
                "{{.HostConfig.RestartPolicy.Name}}",
                &helper
            ])),
            "no",
            "cut at {phase}: the helper stood down"
        );
        assert!(
            !docker
                .cli(&["inspect", &format!("{name}-previous")])
                .status
                .success(),
            "cut at {phase}: the other version is gone"
        );
        until(Duration::from_secs(30), "the node answers", || {
            answers(&ready)
        })
        .await;
        let expected = if survivor == &v2 {
            "updated"
        } else {
            "rolled_back"
        };
        assert!(
            logs.contains(&format!("{expected}: ")),
            "cut at {phase}: the helper says {expected}:\n{logs}"
        );
        eprintln!("cut at {phase}: settled {settled:?} after the reboot; {expected}");
        // A second reboot changes nothing: the same single node comes back.
        docker.power_cut();
        docker.boot();
        until(
            Duration::from_secs(30),
            "the node answers after another reboot",
            || answers(&ready),
        )
        .await;
        assert_eq!(ok(docker.cli(&["ps", "--format", "{{.Names}}"])), name);
    }

    // A journal left behind by an earlier update (the helper stood down but
    // the power went before the journal was cleared) does not swallow the
    // next one: it is finished with, and the update asked for runs.
    assert_eq!(
        ok(docker.cli(&["inspect", "-f", "{{.Config.Image}}", name])),
        v1
    );
    let old_id = ok(docker.cli(&["inspect", "-f", "{{.Id}}", name]));
    std::fs::write(
        node_dir.join("update.json"),
        serde_json::json!({"phase": "rolling_back", "container": name, "old_id": old_id,
            "from": v1, "to": bad, "restart": "always", "reason": "its health check failed"})
        .to_string(),
    )
    .expect("stale journal");
    let _ = docker.cli(&["rm", "-f", &format!("{name}-updater")]);
    let su = pvm_node::update::SelfUpdate {
        container: name.into(),
        check_url: ready.clone(),
        healthy_secs: 2,
    };
    let helper = pvm_node::update::spawn_helper(&docker.client(), &su, &v2)
        .await
        .expect("helper starts");
    until(
        Duration::from_secs(90),
        "the asked-for update after a stale journal",
        || {
            let state = docker.cli(&["inspect", "-f", "{{.State.Running}}", &helper]);
            let done = String::from_utf8_lossy(&state.stdout).trim() == "false";
            async move { done }
        },
    )
    .await;
    let logs = docker.cli(&["logs", &helper]);
    assert_eq!(
        ok(docker.cli(&["inspect", "-f", "{{.Config.Image}}", name])),
        v2,
        "the update asked for ran (helper said:\n{}{})",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
    assert!(!node_dir.join("update.json").exists());
    assert_eq!(ok(docker.cli(&["ps", "--format", "{{.Names}}"])), name);
}
