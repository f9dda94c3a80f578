//! A node whose disk fills up: on a 16 MiB tmpfs made by the test (root, as
//! in CI), writes fail with "the node's disk is full", `/ready` says the
//! node cannot save changes (Docker and the updater see it), reads and the
//! displays go on, and once space is back both work again.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Mount {
    std::fs::create_dir_all(dir).expect("dir");
    let out = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .output()
        .expect("mount runs");
    assert!(
        out.status.success(),
        "this test mounts a small tmpfs and needs root (CI runs as root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Mount(dir.to_owned())
}

/// Fills the filesystem of `dir` with one file until it is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_clearly_and_ready_says_so_until_space_returns() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let _mount = mount_tmpfs(&data, "16m");
    let node = TestNode::start_in(&data).unwrap_or_else(|e| panic!("{e}"));
    let c = node.client();
    let table = |name: String| {
        let c = c.clone();
        let url = node.api("/api/v1/tables");
        async move {
            c.post(url)
                .json(&serde_json::json!({"name": name, "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
                .send()
                .await
                .expect("table")
        }
    };
    assert!(table("Before".into()).await.status().is_success());
    let ready = |c: reqwest::Client, url: String| async move {
        let r = c.get(format!("{url}/ready")).send().await.expect("ready");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    assert_eq!(ready(c.clone(), node.url.clone()).await.0, 200);

    let filler = fill(&data);
    // Writes fail, each with the same clear message; nothing half-stored.
    let mut refused = None;
    for i in 0..50 {
        let r = table(format!("Full {i}")).await;
        if !r.status().is_success() {
            refused = Some((r.status().as_u16(), r.text().await.unwrap_or_default()));
            break;
        }
    }
    let (status, body) = refused.expect("a write on a full disk is refused");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("disk_full") && body.contains("disk is full"),
        "{body}"
    );
    // Many at once: appends sealed into a batch that then fails are refused
    // with it, and the next batch chains on what is stored, never on them.
    let burst: Vec<_> = (0..32).map(|i| table(format!("Burst {i}"))).collect();
    let mut burst_kept = Vec::new();
    for (i, r) in futures_util::future::join_all(burst)
        .await
        .into_iter()
        .enumerate()
    {
        if r.status().is_success() {
            burst_kept.push(format!("Burst {i}"));
        } else {
            assert_eq!(r.status().as_u16(), 503);
        }
    }
    println!(
        "on a full disk, {} of 32 concurrent writes were kept",
        burst_kept.len()
    );
    let (status, body) = ready(c.clone(), node.url.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cannot save changes"), "{body}");
    // The staff home page says so.
    let (staff, _) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let home = staff
        .get(format!("{}/", node.url))
        .send()
        .await
        .expect("home");
    let (status, page) = (
        home.status().as_u16(),
        home.text().await.unwrap_or_default(),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("cannot save changes"), "{page}");
    // Reads and the displays go on.
    let tables = c
        .get(node.api("/api/v1/tables"))
        .send()
        .await
        .expect("tables");
    assert!(tables.status().is_success());
    assert!(tables.text().await.unwrap_or_default().contains("Before"));
    let display = c
        .get(format!("{}/display", node.url))
        .send()
        .await
        .expect("display");
    assert!(display.status().is_success());

    // Space back: ready again without a restart, and writes work.
    std::fs::remove_file(&filler).expect("free space");
    let (status, body) = ready(c.clone(), node.url.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(table("After".into()).await.status().is_success());
    // Exactly the tables whose writes were acknowledged exist.
    let tables: serde_json::Value = c
        .get(node.api("/api/v1/tables"))
        .send()
        .await
        .expect("tables")
        .json()
        .await
        .expect("json");
    let mut names: Vec<String> = tables
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    let mut expected = vec!["After".to_owned(), "Before".to_owned()];
    expected.extend(burst_kept);
    expected.sort();
    assert_eq!(names, expected);
    // verify-log reads the data dir of a stopped node.
    drop(node);
    let out = run(&data, &["verify-log"]);
    assert!(
        out.status.success(),
        "verify-log after a full disk: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
