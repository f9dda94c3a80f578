//! The release artefacts `scripts/dist --arch all --images` makes (scripts/test
//! builds them and sets PVM_TEST_DIST): every binary static and of the
//! architecture its name says; the aarch64 node, run under qemu user
//! emulation, serving its staff UI; and each image archive saying the right
//! platform and holding exactly the binaries of that architecture.
//!
//! The arm64 images are checked from their archives, not loaded: loading them
//! would replace this machine's amd64 tags that the installer tests use.

mod common;

use common::test_release;
use serde_json::Value;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn file_says(path: &Path) -> String {
    let out = Command::new("file")
        .arg("-b")
        .arg(path)
        .output()
        .expect("`file` is installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `file` says "statically linked", or "static-pie linked" for musl PIE.
fn is_static(said: &str) -> bool {
    said.contains("statically linked") || said.contains("static-pie linked")
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a sum")
        .to_owned()
}

#[test]
fn every_binary_is_static_and_of_its_architecture() {
    let (dist, v) = test_release();
    for (label, says) in [
        ("x86_64-linux-musl", "x86-64"),
        ("aarch64-linux-musl", "ARM aarch64"),
    ] {
        for bin in ["pvm-node", "pvm-cloud", "pvm-kiosk", "pvm-probe"] {
            let path = dist.join(format!("{bin}-{v}-{label}"));
            assert!(path.exists(), "{} is missing", path.display());
            let f = file_says(&path);
            assert!(f.contains(says) && is_static(&f), "{}: {f}", path.display());
            let size = std::fs::metadata(&path).expect("size").len();
            assert!(size <= 30 << 20, "{}: {size} bytes", path.display());
        }
    }
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, buf))
}

/// The Raspberry Pi build runs: the static aarch64 pvm-node under
/// `qemu-aarch64` makes its data dir, migrates, answers /ready and serves the
/// first-run page; the aarch64 nats-server in the arm64 image starts too.
#[test]
fn the_aarch64_node_boots_and_serves_under_emulation() {
    let (dist, v) = test_release();
    let qemu = Command::new("sh")
        .args(["-c", "command -v qemu-aarch64"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        qemu,
        "qemu-aarch64 is not installed: run scripts/test, which installs qemu-user"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let node = Kill(
        Command::new("qemu-aarch64")
            .arg(dist.join(format!("pvm-node-{v}-aarch64-linux-musl")))
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("PVM_MDNS", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-aarch64 runs"),
    );
    let start = Instant::now();
    let ready = loop {
        if let Some((200, body)) = get(port, "/ready") {
            break body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the aarch64 node did not answer /ready within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ready.contains(r#""database":"ok""#), "{ready}");
    // A fresh node sends staff to its first-run page, which renders.
    let (status, head) = get(port, "/login").expect("/login answers");
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /setup"), "{head}");
    let (status, page) = get(port, "/setup").expect("/setup answers");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("password"), "{page}");
    assert!(
        tmp.path()
            .join("data")
            .read_dir()
            .expect("data dir")
            .count()
            > 0,
        "the node wrote nothing into its data dir"
    );
    drop(node);

    // The nats-server that goes into the arm64 image.
    let unpacked = unpack_image(&dist.join(format!("pvm-nats-image-{v}-arm64.tar.gz")));
    let nats = unpacked.root.join("usr/local/bin/nats-server");
    let out = Command::new("qemu-aarch64")
        .arg(&nats)
        .arg("--version")
        .output()
        .expect("qemu-aarch64 runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("v2.15."), "{said}");
}

struct Unpacked {
    _tmp: tempfile::TempDir,
    config: Value,
    root: PathBuf,
    tags: Vec<String>,
}

/// A `docker save` archive: its manifest, image config and the layers
/// unpacked over one another.
fn unpack_image(archive: &Path) -> Unpacked {
    let tmp = tempfile::tempdir().expect("tmp");
    let saved = tmp.path().join("saved");
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&saved).expect("dir");
    std::fs::create_dir_all(&root).expect("dir");
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&saved)
        .status()
        .expect("tar");
    assert!(ok.success(), "cannot unpack {}", archive.display());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(saved.join("manifest.json")).expect("manifest.json"))
            .expect("manifest is JSON");
    let entry = &manifest[0];
    let config: Value = serde_json::from_slice(
        &std::fs::read(saved.join(entry["Config"].as_str().expect("Config"))).expect("config"),
    )
    .expect("config is JSON");
    for layer in entry["Layers"].as_array().expect("Layers") {
        let ok = Command::new("tar")
            .arg("-xf")
            .arg(saved.join(layer.as_str().expect("layer")))
            .arg("-C")
            .arg(&root)
            .status()
            .expect("tar");
        assert!(
            ok.success(),
            "cannot unpack a layer of {}",
            archive.display()
        );
    }
    let tags = entry["RepoTags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Unpacked {
        _tmp: tmp,
        config,
        root,
        tags,
    }
}

#[test]
fn the_images_are_made_for_amd64_and_arm64_from_the_matching_binaries() {
    let (dist, v) = test_release();
    for (platform, label, says) in [
        ("amd64", "x86_64-linux-musl", "x86-64"),
        ("arm64", "aarch64-linux-musl", "ARM aarch64"),
    ] {
        for (img, bin) in [
            ("node", Some("pvm-node")),
            ("cloud", Some("pvm-cloud")),
            ("nats", None),
        ] {
            let archive = dist.join(format!("pvm-{img}-image-{v}-{platform}.tar.gz"));
            assert!(archive.exists(), "{} is missing", archive.display());
            let u = unpack_image(&archive);
            assert_eq!(u.config["os"], "linux", "{}", archive.display());
            assert_eq!(u.config["architecture"], platform, "{}", archive.display());
            assert_eq!(u.tags, vec![format!("pvm-{img}:{v}")]);
            // Non-root, with a health check by pvm-probe.
            assert_eq!(u.config["config"]["User"], "65532:65532");
            let health = u.config["config"]["Healthcheck"]["Test"].to_string();
            assert!(health.contains("/usr/local/bin/pvm-probe"), "{health}");
            // Only what the image needs: its binary, the probe, /data.
            let mut names: Vec<String> = walk(&u.root);
            names.sort();
            let main = match bin {
                Some(b) => format!("usr/local/bin/{b}"),
                None => "usr/local/bin/nats-server".to_owned(),
            };
            for must in [&main, "usr/local/bin/pvm-probe", "data"] {
                assert!(
                    names.iter().any(|n| n == must),
                    "{} lacks {must}: {names:?}",
                    archive.display()
                );
            }
            for f in [&main, "usr/local/bin/pvm-probe"] {
                let path = u.root.join(f);
                let said = file_says(&path);
                assert!(
                    said.contains(says) && is_static(&said),
                    "{} {f}: {said}",
                    archive.display()
                );
            }
            if let Some(b) = bin {
                assert_eq!(
                    sha256(&u.root.join(&main)),
                    sha256(&dist.join(format!("{b}-{v}-{label}"))),
                    "{} holds another {b} than the release's",
                    archive.display()
                );
            }
        }
    }
}

fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).expect("dir").flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                todo.push(p);
            }
            out.push(rel);
        }
    }
    out
}
