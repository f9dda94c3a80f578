//! The staff page in a real headless Chromium: it renders the tables, fits a
//! phone screen, and loads nothing from outside the node.

mod common;

use common::{client, table_json, TestNode};
use std::path::Path;
use std::process::Command;

fn chromium() -> &'static str {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return candidate;
        }
    }
    panic!(
        "chromium is not installed: run scripts/test, which installs it (apt-get install chromium)"
    );
}

/// Runs headless Chromium with the flags that work on these machines (see PARTS.md).
fn headless(profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

#[tokio::test]
async fn the_staff_page_renders_in_chromium_on_a_phone_sized_screen() {
    let node = TestNode::start();
    let c = client();
    for name in ["Table 1", "Table 2", "Feature"] {
        c.post(node.api("/api/v1/tables"))
            .json(&table_json(name))
            .send()
            .await
            .expect("post");
    }
    let profile = tempfile::tempdir().expect("profile");
    let url = format!("{}/", node.url);

    let dom = headless(profile.path(), &["--dump-dom", &url]);
    let html = String::from_utf8_lossy(&dom.stdout);
    for name in ["Table 1", "Table 2", "Feature", "Add table"] {
        assert!(html.contains(name), "rendered DOM lacks {name:?}: {html}");
    }

    let shot = profile.path().join("staff.png");
    let out = headless(
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=390,844",
            &url,
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 5_000,
        "screenshot is suspiciously small ({} bytes)",
        png.len()
    );
    if let Ok(dir) = std::env::var("PVM_SCREENSHOT_DIR") {
        let _ = std::fs::copy(&shot, Path::new(&dir).join("staff-phone.png"));
    }
}
