//! The one-line installer (provisioning/install.sh, served by the hub at
//! /install.sh): shellcheck, the plan of a dry run, refusal of tampered or
//! foreign-signed artefacts, and a real install against a real dockerd on
//! this machine: a registered node answering /health, and a second run that
//! changes nothing.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo")
        .to_owned()
}

fn tool(name: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is not installed: run scripts/test, which installs it"
    );
}

#[test]
fn the_installer_and_scripts_are_shellcheck_clean() {
    tool("shellcheck");
    let root = repo();
    let out = Command::new("shellcheck")
        .arg(root.join("provisioning/install.sh"))
        .arg(root.join("scripts/dist"))
        .arg(root.join("scripts/test"))
        .arg(root.join("scripts/node"))
        .arg(root.join("scripts/check-readme-run"))
        .output()
        .expect("shellcheck runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A hub serving a signed release made of small stand-in files (a dry run
/// verifies them but loads nothing).
struct Release {
    _tmp: tempfile::TempDir,
    _hub: HubNats,
    cloud: Cloud,
    dist: PathBuf,
}

fn sha256sums(dist: &Path) {
    let out = Command::new("sh")
        .current_dir(dist)
        .args([
            "-c",
            "sha256sum -- $(ls | grep -v '^SHA256SUMS') > SHA256SUMS",
        ])
        .output()
        .expect("sha256sum");
    assert!(out.status.success());
}

fn sign(cloud_dir: &Path, dist: &Path) {
    let out = Command::new(CLOUD)
        .arg("--data-dir")
        .arg(cloud_dir)
        .arg("sign-dist")
        .arg(dist)
        .output()
        .expect("sign-dist");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A hub serving `dist` at /dist/, its manifest signed with the hub's key.
fn serve_release(dir: &Path, dist: &Path) -> (HubNats, Cloud) {
    let hub = HubNats::start(&dir.join("hub"));
    let cloud_dir = dir.join("cloud");
    std::fs::create_dir_all(&cloud_dir).expect("cloud dir");
    let cloud = Cloud::start_with(
        &cloud_dir,
        &hub,
        None,
        &["--dist-dir", dist.to_str().expect("utf-8")],
    );
    sign(&cloud_dir, dist);
    (hub, cloud)
}

fn release() -> Release {
    let tmp = tempfile::tempdir().expect("tmp");
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    for arch in ["amd64", "arm64"] {
        for img in ["node", "nats"] {
            std::fs::write(
                dist.join(format!("pvm-{img}-image-9.9.9-{arch}.tar.gz")),
                format!("stand-in {img} {arch}"),
            )
            .expect("artefact");
        }
    }
    std::fs::copy(repo().join("compose/node.yml"), dist.join("node.yml")).expect("compose");
    sha256sums(&dist);
    let (hub, cloud) = serve_release(tmp.path(), &dist);
    Release {
        _tmp: tmp,
        _hub: hub,
        cloud,
        dist,
    }
}

/// `curl -fsSL HUB/install.sh | sh -s -- ARGS`, as a venue would run it.
fn install(hub_url: &str, args: &[&str]) -> Output {
    install_with_path(hub_url, args, None)
}

/// The same, with a directory put first on the script's PATH.
fn install_with_path(hub_url: &str, args: &[&str], first: Option<&Path>) -> Output {
    let path = std::env::var("PATH").unwrap_or_default();
    match first {
        Some(dir) => install_on_path(hub_url, args, &format!("{}:{path}", dir.display())),
        None => install_on_path(hub_url, args, &path),
    }
}

/// The same with exactly this PATH. The test hubs serve plain http on
/// loopback, so `--insecure-http` goes first (`install_as_given` leaves it out).
fn install_on_path(hub_url: &str, args: &[&str], path: &str) -> Output {
    let mut all = vec!["--insecure-http"];
    all.extend(args);
    install_as_given(hub_url, &all, path)
}

fn install_as_given(hub_url: &str, args: &[&str], path: &str) -> Output {
    // bash only for pipefail around the pipe; the script itself runs in sh (dash).
    Command::new("/bin/bash")
        .env("PATH", path)
        .arg("-c")
        .arg(format!(
            "set -o pipefail; curl -fsSL {hub_url}/install.sh | sh -s -- \"$@\""
        ))
        .arg("install")
        .args(args)
        .output()
        .expect("sh runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let r = release();
    let prefix = r._tmp.path().join("opt-pvm");
    let out = install(
        &r.cloud.url,
        &[
            "--dry-run",
            "--token",
            "pvm_reg_example",
            "--prefix",
            prefix.to_str().expect("utf-8"),
            "--port",
            "18080",
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for step in [
        "dry run: nothing will be changed",
        "release manifest: signed by the hub",
        "artefacts: version 9.9.9, every file matches the signed manifest",
        "would run: docker load",
        "compose.yml: writing",
        "registration: registering with",
        "would run: docker run --rm --network host",
        "register --hub",
        "--insecure-http",
        "leaf-config --out /data/leaf.conf",
        "--ca-path /etc/nats/leaf-ca.pem",
        "up -d",
    ] {
        assert!(t.contains(step), "the plan lacks {step:?}:\n{t}");
    }
    assert!(!prefix.exists(), "a dry run wrote {}", prefix.display());

    // Without --insecure-http an http:// hub is refused before anything is done.
    let path = std::env::var("PATH").unwrap_or_default();
    let out = install_as_given(
        &r.cloud.url,
        &["--dry-run", "--token", "pvm_reg_example"],
        &path,
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("is plain http") && t.contains("--insecure-http"),
        "{t}"
    );
}

/// On a Raspberry Pi (`uname -m` says aarch64) the installer picks the arm64
/// images of the release and verifies them. This machine is x86-64, so a
/// `uname` that answers aarch64 for `-m` stands in for the Pi's kernel.
#[test]
fn on_a_raspberry_pi_the_plan_uses_the_arm64_images() {
    let r = release();
    let prefix = r._tmp.path().join("opt-pvm");
    let bin = r._tmp.path().join("pi-bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let uname = bin.join("uname");
    std::fs::write(
        &uname,
        "#!/bin/sh\n[ \"$1\" = -m ] && { echo aarch64; exit 0; }\nexec /usr/bin/uname \"$@\"\n",
    )
    .expect("uname");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let args = [
        "--dry-run",
        "--token",
        "pvm_reg_example",
        "--prefix",
        prefix.to_str().expect("utf-8"),
    ];
    let out = install_with_path(&r.cloud.url, &args, Some(&bin));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(", arm64"), "the system line names arm64:\n{t}");
    assert!(
        t.contains("docker load -i pvm-node-image-9.9.9-arm64.tar.gz")
            && t.contains("docker load -i pvm-nats-image-9.9.9-arm64.tar.gz"),
        "the plan loads the arm64 images:\n{t}"
    );
    assert!(!t.contains("amd64.tar.gz"), "{t}");
    // A 64-bit kernel under a 32-bit Raspberry Pi OS is refused, saying what to install.
    let dpkg = bin.join("dpkg");
    std::fs::write(
        &dpkg,
        "#!/bin/sh\n[ \"$1\" = --print-architecture ] && { echo armhf; exit 0; }\nexit 1\n",
    )
    .expect("dpkg");
    std::fs::set_permissions(&dpkg, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = install_with_path(&r.cloud.url, &args, Some(&bin));
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("this system is 32-bit (armhf) on a 64-bit processor")
            && t.contains("install the 64-bit OS"),
        "{t}"
    );
    std::fs::remove_file(&dpkg).expect("rm dpkg");
    // A release without arm64 images stops with a message saying what to do.
    for img in ["node", "nats"] {
        std::fs::remove_file(r.dist.join(format!("pvm-{img}-image-9.9.9-arm64.tar.gz")))
            .expect("rm");
    }
    sha256sums(&r.dist);
    sign(&r.cloud.dir, &r.dist);
    let out = install_with_path(&r.cloud.url, &args, Some(&bin));
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("the hub has no arm64 images in its release")
            && t.contains("publish the arm64 build"),
        "{t}"
    );
}

/// A PATH holding every program of this machine except `leave_out`
/// (symlinks), for a machine without Docker.
fn path_without(dir: &Path, leave_out: &[&str]) -> PathBuf {
    let bin = dir.join("bin-without");
    std::fs::create_dir_all(&bin).expect("bin");
    for from in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let Ok(entries) = std::fs::read_dir(from) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(n) = name.to_str() else { continue };
            if leave_out.contains(&n) || n.starts_with("docker") || bin.join(n).exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), bin.join(n));
        }
    }
    bin
}

/// On a machine without Docker the plan installs Debian's docker.io and
/// docker-compose with apt-get and enables the daemon; without apt-get
/// either, it stops and says how to install Docker. (Dry runs: this machine
/// has Docker, and the tests must not remove it.)
#[test]
fn without_docker_the_plan_installs_debians_docker() {
    let r = release();
    let prefix = r._tmp.path().join("opt-pvm");
    let args = [
        "--dry-run",
        "--token",
        "pvm_reg_example",
        "--prefix",
        prefix.to_str().expect("utf-8"),
    ];
    let bin = path_without(r._tmp.path(), &[]);
    let out = install_on_path(&r.cloud.url, &args, bin.to_str().expect("utf-8"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for step in [
        "docker: missing; installing Debian's docker.io",
        "would run: apt-get update",
        "apt-get install -y -qq docker.io",
        "docker compose: missing; installing Debian's docker-compose",
        "apt-get install -y -qq docker-compose",
        "would run: docker load -i pvm-node-image-9.9.9-",
    ] {
        assert!(t.contains(step), "the plan lacks {step:?}:\n{t}");
    }
    assert!(!prefix.exists(), "a dry run wrote {}", prefix.display());

    let bare = r._tmp.path().join("bare");
    let bin = path_without(&bare, &["apt-get"]);
    let out = install_on_path(&r.cloud.url, &args, bin.to_str().expect("utf-8"));
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("Docker is missing and there is no apt-get")
            && t.contains("docs.docker.com/engine/install"),
        "{t}"
    );
}

#[test]
fn tampered_or_foreign_signed_artefacts_are_refused() {
    let r = release();
    let prefix = r._tmp.path().join("opt-pvm");
    let args = [
        "--dry-run",
        "--token",
        "pvm_reg_example",
        "--prefix",
        prefix.to_str().expect("utf-8"),
    ];
    // One byte of an image changed after signing.
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    let image = r.dist.join(format!("pvm-node-image-9.9.9-{arch}.tar.gz"));
    let original = std::fs::read(&image).expect("image");
    let mut changed = original.clone();
    changed[0] ^= 1;
    std::fs::write(&image, &changed).expect("tamper");
    let out = install(&r.cloud.url, &args);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains(
            "does not match the signed manifest (tampered or damaged): refusing to install it"
        ),
        "{t}"
    );
    // Re-summed by someone without the hub's key: the signature no longer fits.
    sha256sums(&r.dist);
    let out = install(&r.cloud.url, &args);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("the release manifest is not signed by the hub's key"),
        "{t}"
    );
    // Signed by another hub's key.
    let other = r._tmp.path().join("other-hub");
    std::fs::create_dir_all(&other).expect("dir");
    sign(&other, &r.dist);
    let out = install(&r.cloud.url, &args);
    assert!(
        text(&out).contains("the release manifest is not signed by the hub's key"),
        "{}",
        text(&out)
    );
    // Signed again by this hub: accepted.
    sign(&r.cloud.dir, &r.dist);
    let out = install(&r.cloud.url, &args);
    assert!(out.status.success(), "{}", text(&out));
    // Bad arguments are named.
    let out = install(&r.cloud.url, &["--prefix"]);
    assert!(
        text(&out).contains("--prefix needs a value"),
        "{}",
        text(&out)
    );
    let out = install(&r.cloud.url, &["--token", "hello", "--dry-run"]);
    assert!(
        text(&out).contains("is not a registration token"),
        "{}",
        text(&out)
    );
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

/// Removes what a real install made, whatever happened.
struct Installed {
    prefix: PathBuf,
    hub_url: String,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in ["pvm-node", "pvm-leaf"] {
                let logs = docker(&["logs", "--tail", "30", name]);
                eprintln!("--- docker logs {name}:\n{}", text(&logs));
            }
        }
        let _ = install(
            &self.hub_url,
            &[
                "--uninstall",
                "--purge",
                "--prefix",
                self.prefix.to_str().unwrap_or("/nonexistent"),
            ],
        );
        let _ = docker(&["rm", "-f", "pvm-node", "pvm-leaf"]);
    }
}

/// The real thing: images built by `scripts/dist --images` (scripts/test
/// does it and sets PVM_TEST_DIST), a real dockerd, the node registered with
/// a real hub on loopback.
#[tokio::test]
async fn a_real_install_registers_a_node_that_answers_and_a_second_run_changes_nothing() {
    let (built, version) = test_release();
    tool("docker");
    assert_dockerd();
    assert!(
        unsafe_free_is_root(),
        "the installer needs root (it runs as root in CI)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    for entry in std::fs::read_dir(&built).expect("PVM_TEST_DIST") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dist.join(entry.file_name())).expect("copy");
    }
    // The installer must load them itself.
    let _ = docker(&["rm", "-f", "pvm-node", "pvm-leaf"]);
    let _ = docker(&[
        "rmi",
        &format!("pvm-node:{version}"),
        &format!("pvm-nats:{version}"),
    ]);
    let (_hub, cloud) = serve_release(tmp.path(), &dist);
    let (_, token) = cloud.venue_token("Installer Test Room").await;
    let prefix = tmp.path().join("opt-pvm");
    let _installed = Installed {
        prefix: prefix.clone(),
        hub_url: cloud.url.clone(),
    };
    let (port, leaf, monitor) = (free_port(), free_port(), free_port());
    let (port_s, leaf_s, monitor_s) = (port.to_string(), leaf.to_string(), monitor.to_string());
    let args = [
        "--prefix",
        prefix.to_str().expect("utf-8"),
        "--port",
        &port_s,
        "--leaf-port",
        &leaf_s,
        "--leaf-monitor-port",
        &monitor_s,
    ];
    let mut first: Vec<&str> = vec!["--token", &token];
    first.extend(args);
    let out = install(&cloud.url, &first);
    let t = text(&out);
    assert!(out.status.success(), "the install failed:\n{t}");
    assert!(
        t.contains(&format!("image pvm-node:{version}: loading")),
        "{t}"
    );
    assert!(t.contains("Staff UI:  http://"), "{t}");
    let health = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .expect("health");
    assert!(health.status().is_success());
    // The venue's first admin, as the staff would make it on the box; the
    // event reaches the hub through the leaf, so the node is registered.
    let mut admin = Command::new("docker")
        .args([
            "exec",
            "-i",
            "pvm-node",
            "/usr/local/bin/pvm-node",
            "admin",
            "create",
            "--username",
            "boss",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker exec");
    {
        use std::io::Write;
        let mut stdin = admin.stdin.take().expect("stdin");
        stdin.write_all(b"boss-password-1\n").expect("password");
    }
    let made = admin.wait_with_output().expect("admin create");
    assert!(made.status.success(), "{}", text(&made));
    // (The venue took the id the node's events carry at registration.)
    let link: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(prefix.join("data/hub.json")).expect("hub.json"),
    )
    .expect("json");
    let venue = link["venue_id"].as_str().expect("venue").to_owned();
    until(
        Duration::from_secs(30),
        "the node's events at the hub",
        || async { cloud.events(&venue).await["count"].as_u64() > Some(0) },
    )
    .await;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(prefix.join("data/hub.json"))
            .expect("hub.json")
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "hub.json is {mode:o}");
    let state = |name: &str| {
        String::from_utf8_lossy(
            &docker(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name]).stdout,
        )
        .trim()
        .to_owned()
    };
    let before = (state("pvm-node"), state("pvm-leaf"));
    let files = |p: &Path| {
        ["compose.yml", ".env", "data/hub.json", "data/leaf.conf"]
            .map(|f| std::fs::metadata(p.join(f)).and_then(|m| m.modified()).ok())
    };
    let files_before = files(&prefix);

    // Again, without a token: nothing changes.
    let out = install(&cloud.url, &args);
    let t = text(&out);
    assert!(out.status.success(), "the second run failed:\n{t}");
    for line in [
        "already loaded",
        "compose.yml: unchanged",
        ".env: unchanged",
        "already registered",
    ] {
        assert!(t.contains(line), "{line:?} missing:\n{t}");
    }
    assert_eq!(
        (state("pvm-node"), state("pvm-leaf")),
        before,
        "containers were recreated"
    );
    assert_eq!(files(&prefix), files_before, "files were rewritten");

    // Uninstall keeps the data.
    let mut un: Vec<&str> = vec!["--uninstall"];
    un.extend(args);
    let out = install(&cloud.url, &un);
    assert!(out.status.success(), "{}", text(&out));
    assert!(prefix.join("data/hub.json").exists(), "the data was kept");
    assert!(!prefix.join("compose.yml").exists());
    assert!(!docker(&["inspect", "pvm-node"]).status.success());
}

fn unsafe_free_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `provisioning/systemd/pvm-node.service` as systemd would run it (its
/// Environment= lines and ExecStart=, with this test's paths and ports in
/// place of /var/lib/pvm, /usr/local/bin and the default ports): the node
/// starts its leaf itself and links to the hub.
#[tokio::test]
async fn the_systemd_units_command_runs_a_node_that_links_its_own_leaf() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let data = tmp.path().join("var-lib-pvm");
    let venue = registered_node(&data, &cloud, "Systemd Room").await;
    let leaf = Leaf::configure(&data);
    std::fs::copy(&leaf.conf, data.join("leaf.conf")).expect("leaf.conf");

    let unit = std::fs::read_to_string(repo().join("provisioning/systemd/pvm-node.service"))
        .expect("unit");
    let port = free_port();
    let here = |s: &str| {
        s.replace("/var/lib/pvm", data.to_str().expect("utf-8"))
            .replace(
                "/usr/local/bin/pvm-node",
                node_bin().to_str().expect("utf-8"),
            )
            .replace(
                "/usr/local/bin/nats-server",
                nats_bin().to_str().expect("utf-8"),
            )
            .replace("0.0.0.0:8080", &format!("127.0.0.1:{port}"))
    };
    let mut cmd = Command::new("sh");
    for line in unit.lines() {
        if let Some((k, v)) = line
            .strip_prefix("Environment=")
            .and_then(|kv| kv.split_once('='))
        {
            cmd.env(k, here(v));
        }
    }
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    assert!(exec.contains("--leaf-run"), "{exec}");
    let log = tmp.path().join("node.log");
    let child = cmd
        .arg("-c")
        .arg(format!("exec {}", here(exec)))
        // The unit relies on leaf-config's default ports; this test's are free ones.
        .env("PVM_NATS", format!("nats://127.0.0.1:{}", leaf.port))
        .env(
            "PVM_LEAF_MONITOR",
            format!("http://127.0.0.1:{}", leaf.monitor),
        )
        .env("PVM_MDNS", "off")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("the unit's command starts");
    let _node = Proc { child, log };
    let ready = format!("http://127.0.0.1:{port}/ready?leaf=connected");
    until(
        Duration::from_secs(30),
        "the node answers with the leaf it started linked to the hub",
        || async {
            reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;
    until(
        Duration::from_secs(15),
        "the node's events at the hub",
        || async { cloud.events(&venue).await["count"].as_u64() > Some(0) },
    )
    .await;
}
