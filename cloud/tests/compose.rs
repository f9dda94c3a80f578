//! `compose/cloud.yml` run as its README says: the hub's nats-server and
//! pvm-cloud from the release images (scripts/dist --images, PVM_TEST_DIST)
//! under docker-compose on a real dockerd, published on free loopback ports.
//! A node registers with it, links its leaf, and its events reach the hub;
//! the containers' health checks pass; /install.sh and /dist/ are served.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

fn ok(what: &str, o: Output) -> String {
    assert!(
        o.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo")
        .to_owned()
}

/// `docker-compose` (Debian's) or the `docker compose` plugin.
fn compose_cmd() -> Vec<&'static str> {
    let v1 = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if v1 {
        return vec!["docker-compose"];
    }
    let v2 = docker(&["compose", "version"]).status.success();
    assert!(
        v2,
        "neither docker-compose nor `docker compose` is installed: scripts/test installs docker-compose"
    );
    vec!["docker", "compose"]
}

struct Stack {
    dir: PathBuf,
    project: String,
}

impl Stack {
    fn compose(&self, args: &[&str]) -> Output {
        let cmd = compose_cmd();
        Command::new(cmd[0])
            .args(&cmd[1..])
            .current_dir(&self.dir)
            .args(["-p", &self.project, "-f", "cloud.yml"])
            .args(args)
            .output()
            .expect("compose runs")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for c in ["pvm-hub-nats", "pvm-cloud"] {
                let logs = docker(&["logs", "--tail", "40", c]);
                eprintln!(
                    "--- docker logs {c}:\n{}{}",
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
        }
        let _ = self.compose(&["down", "-v", "--remove-orphans"]);
    }
}

fn health(container: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Health.Status}}", container])
        .stdout
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn the_hub_runs_from_compose_and_a_venue_syncs_through_it() {
    let (dist, version) = test_release();
    assert_dockerd();
    for img in ["cloud", "nats"] {
        let tar = dist.join(format!("pvm-{img}-image-{version}-amd64.tar.gz"));
        ok(
            "docker load",
            Command::new("sh")
                .arg("-c")
                .arg(format!("gzip -dc '{}' | docker load", tar.display()))
                .output()
                .expect("docker load"),
        );
    }
    // A hub left over from an earlier run of this test.
    let _ = docker(&["rm", "-f", "pvm-hub-nats", "pvm-cloud"]);

    // The README's steps, with this test's ports.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hub");
    std::fs::create_dir_all(dir.join("nats")).expect("nats dir");
    std::fs::create_dir_all(dir.join("dist")).expect("dist dir");
    for f in ["cloud.yml", "hub.conf"] {
        std::fs::copy(repo().join("compose").join(f), dir.join(f)).expect("copy");
    }
    std::fs::copy(repo().join("compose/node.yml"), dir.join("dist/node.yml")).expect("copy");
    std::fs::write(
        dir.join("nats/users.conf"),
        "users = [ { user: \"pvm-cloud\", password: \"compose-test-secret\" } ]\n",
    )
    .expect("users.conf");
    ok(
        "chown",
        Command::new("chown")
            .args(["-R", "65532:65532"])
            .arg(dir.join("nats"))
            .output()
            .expect("chown"),
    );
    let (leaf_port, client_port, cloud_port) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.join(".env"),
        format!(
            "PVM_CLOUD_NATS_PASSWORD=compose-test-secret\nPVM_HUB_HOST=127.0.0.1\n\
             PVM_HUB_LEAF_PORT={leaf_port}\nPVM_HUB_CLIENT_PORT={client_port}\nPVM_CLOUD_PORT={cloud_port}\n\
             PVM_NATS_IMAGE=pvm-nats:{version}\nPVM_CLOUD_IMAGE=pvm-cloud:{version}\n"
        ),
    )
    .expect(".env");
    let stack = Stack {
        dir: dir.clone(),
        project: format!("pvmhubtest{cloud_port}"),
    };
    ok("compose up", stack.compose(&["up", "-d"]));

    let url = format!("http://127.0.0.1:{cloud_port}");
    until(Duration::from_secs(60), "pvm-cloud answers /health", || {
        let u = format!("{url}/health");
        async move { reqwest::get(u).await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    // The admin key, printed once in the log.
    let logs = docker(&["logs", "pvm-cloud"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
    let admin_key = text
        .lines()
        .find(|l| l.starts_with("Admin key"))
        .and_then(|l| l.split(": ").nth(1))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no admin key in pvm-cloud's log:\n{text}"));
    // The common helpers want a process: follow the container's log.
    let log = tmp.path().join("cloud.log");
    let follower = Command::new("docker")
        .args(["logs", "-f", "pvm-cloud"])
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("docker logs -f");
    let cloud = Cloud {
        proc: Proc {
            child: follower,
            log,
        },
        url: url.clone(),
        admin_key,
        dir: dir.clone(),
        pg: None,
    };

    // A venue registers (the hub rewrites nats' users and reloads it through
    // the shared process namespace), links its leaf and syncs.
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Compose Hub Room").await;
    let conf_users = std::fs::read_to_string(dir.join("nats/users.conf")).expect("users.conf");
    assert!(
        !conf_users.contains("compose-test-secret"),
        "the hub keeps only hashes in users.conf:\n{conf_users}"
    );
    let leaf = Leaf::start(&node_dir);
    let leaf_conf = std::fs::read_to_string(&leaf.conf).expect("leaf conf");
    assert!(
        leaf_conf.contains(&format!("127.0.0.1:{leaf_port}")),
        "the leaf goes to the published leaf port:\n{leaf_conf}"
    );
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    let token = node.token().await;
    let made = reqwest::Client::new()
        .post(format!("{}/api/v1/tables", node.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Compose T1", "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
        .send()
        .await
        .expect("table");
    assert!(made.status().is_success());
    let sync = || node.sync(&token);
    until(
        Duration::from_secs(30),
        "every event of the node at the hub, verified",
        || async {
            let s = sync().await;
            let e = cloud.events(&venue).await;
            s["pending"] == 0
                && s["acked_seq"].as_u64().is_some_and(|a| a > 0)
                && e["max_seq"] == s["acked_seq"]
                && e["verified_seq"] == s["acked_seq"]
        },
    )
    .await;

    // Both containers' own health checks (pvm-probe inside FROM-scratch images).
    let start = Instant::now();
    while !(health("pvm-hub-nats") == "healthy" && health("pvm-cloud") == "healthy") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "health: nats {}, cloud {}",
            health("pvm-hub-nats"),
            health("pvm-cloud")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The installer and the release, served for venues.
    let script = reqwest::get(format!("{url}/install.sh"))
        .await
        .expect("install.sh")
        .text()
        .await
        .expect("text");
    assert!(script.trim_end().ends_with("main \"$@\""), "{script}");
    let served = reqwest::get(format!("{url}/dist/node.yml"))
        .await
        .expect("dist");
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(
        served.bytes().await.expect("bytes").as_ref(),
        std::fs::read(repo().join("compose/node.yml"))
            .expect("node.yml")
            .as_slice()
    );
    let before = sync().await["acked_seq"].as_u64();
    // restart: always brings the hub's nats-server back after a crash (its
    // process killed from the host; `docker kill` would count as a manual
    // stop); pvm-cloud stays up and reconnects; the venue syncs on.
    let pid = ok(
        "inspect",
        docker(&["inspect", "-f", "{{.State.Pid}}", "pvm-hub-nats"]),
    );
    ok(
        "kill -9",
        Command::new("kill")
            .args(["-9", &pid])
            .output()
            .expect("kill"),
    );
    let made = reqwest::Client::new()
        .post(format!("{}/api/v1/tables", node.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Compose T2", "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
        .send()
        .await
        .expect("table");
    assert!(made.status().is_success());
    let c = cloud.client();
    let events_url = format!("{url}/api/v1/venues/{venue}/events");
    // pvm-cloud goes down with the namespace and comes back: tolerate the gap.
    let hub_max = || async {
        let r = c.get(&events_url).send().await.ok()?;
        r.json::<serde_json::Value>().await.ok()?["max_seq"].as_u64()
    };
    until(
        Duration::from_secs(60),
        "the event made as the hub's nats crashed reaches the hub",
        || async {
            let s = sync().await;
            s["pending"] == 0
                && s["acked_seq"].as_u64() > before
                && hub_max().await == s["acked_seq"].as_u64()
        },
    )
    .await;
    let restarts = ok(
        "inspect",
        docker(&["inspect", "-f", "{{.RestartCount}}", "pvm-hub-nats"]),
    );
    assert_eq!(restarts, "1", "restarted by its policy");
    let cloud_state = ok(
        "inspect",
        docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "pvm-cloud",
        ]),
    );
    assert_eq!(cloud_state, "running 0", "pvm-cloud lives on");

    // A venue registered after the crash: its leaf user reaches the restarted
    // nats-server through the reload signal (its new pid from the pid file).
    let node2_dir = tmp.path().join("node2");
    let venue2 = registered_node(&node2_dir, &cloud, "Compose Second Room").await;
    let leaf2 = Leaf::start(&node2_dir);
    let node2 = NodeProc::start(&node2_dir, &leaf2, &[]);
    until(
        Duration::from_secs(30),
        "the second venue's events at the hub",
        || async { cloud.events(&venue2).await["count"].as_u64() > Some(0) },
    )
    .await;
    drop(node2);
    drop(stack);
}

/// `compose/cloud-cluster.yml` (3 nats-servers, PostgreSQL, 2 pvm-cloud,
/// Caddy) is a compose file docker-compose accepts with the README's
/// `.env`, and `compose/hub-cluster.conf` a configuration nats-server 2.15
/// accepts for each of its three servers, with the users file and the leaf
/// certificate made as the stack makes them. (The stack itself needs the
/// postgres and caddy images from a registry, which tests cannot reach.)
#[test]
fn the_cluster_stack_files_are_valid() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    for f in ["cloud-cluster.yml", "hub-cluster.conf", "Caddyfile"] {
        std::fs::copy(repo().join("compose").join(f), dir.join(f)).expect("copy");
    }
    std::fs::write(
        dir.join(".env"),
        "PVM_DB_PASSWORD=db-secret\nPVM_CLOUD_NATS_PASSWORD=nats-secret\nPVM_HUB_HOST=hub.example.com\n",
    )
    .expect(".env");
    let cmd = compose_cmd();
    let config = ok(
        "compose config",
        Command::new(cmd[0])
            .args(&cmd[1..])
            .args(["-f", "cloud-cluster.yml", "config"])
            .current_dir(dir)
            .output()
            .expect("compose runs"),
    );
    for want in [
        "nats-a:",
        "nats-c:",
        "cloud-b:",
        "postgres://pvm:db-secret@postgres:5432/pvm",
        "PVM_CLOUD_STREAM_REPLICAS: '3'",
        "nats-leaf://hub.example.com:7424",
    ] {
        assert!(config.contains(want), "{want} in the stack: {config}");
    }

    // The three servers' configuration, with the container's paths here.
    let run = dir.join("run");
    std::fs::create_dir_all(&run).expect("run");
    std::fs::write(
        run.join("users.conf"),
        "users = [ { user: \"pvm-cloud\", password: \"nats-secret\" } ]\n",
    )
    .expect("users");
    ok(
        "pvm-cloud leaf-tls",
        Command::new(CLOUD)
            .args(["--data-dir"])
            .arg(dir.join("cloud"))
            .arg("leaf-tls")
            .env("PVM_CLOUD_LEAF_URL", "nats-leaf://hub.example.com:7422")
            .env("PVM_CLOUD_LEAF_TLS_DIR", run.join("tls"))
            .output()
            .expect("pvm-cloud runs"),
    );
    let conf = std::fs::read_to_string(dir.join("hub-cluster.conf"))
        .expect("conf")
        .replace("/etc/nats/run", &run.display().to_string())
        .replace("/data/jetstream", &dir.join("js").display().to_string());
    let here = dir.join("hub-here.conf");
    std::fs::write(&here, &conf).expect("conf");
    for name in ["hub-a", "hub-b", "hub-c"] {
        let checked = Command::new(nats_bin())
            .arg("-t")
            .arg("-c")
            .arg(&here)
            .env("PVM_NATS_NAME", name)
            .env("PVM_NATS_PID_FILE", run.join(format!("{name}.pid")))
            .output()
            .expect("nats-server runs");
        ok(&format!("nats-server -t for {name}"), checked);
    }
    // Without its name a server is refused (the check can fail).
    let unnamed = Command::new(nats_bin())
        .arg("-t")
        .arg("-c")
        .arg(&here)
        .env_remove("PVM_NATS_NAME")
        .env("PVM_NATS_PID_FILE", run.join("x.pid"))
        .output()
        .expect("nats-server runs");
    assert!(!unnamed.status.success(), "a server without PVM_NATS_NAME");
}
