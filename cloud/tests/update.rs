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
