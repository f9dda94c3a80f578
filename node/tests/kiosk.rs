//! `pvm-kiosk` against a real node advertising on loopback: it pairs with
//! the node it finds (checking a signed challenge), keeps its display id,
//! refuses a node with another key, and falls back to the hub's URL.

mod common;

use common::TestNode;
use std::process::Command;

const KIOSK: &str = env!("CARGO_BIN_EXE_pvm-kiosk");

fn kiosk(state: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(KIOSK)
        .args(["--print-url", "--interfaces", "lo", "--state"])
        .arg(state)
        .args(extra)
        .env_remove("PVM_KIOSK_KEY")
        .env_remove("PVM_KIOSK_FALLBACK")
        .output()
        .expect("pvm-kiosk runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_kiosk_pairs_with_the_node_it_finds_and_refuses_another_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = common::admin_create(dir.path(), common::ADMIN, "admin", common::ADMIN_PASSWORD);
    assert!(out.status.success());
    let node = TestNode::start_bare_at(dir.path(), "127.0.0.1:0", &["--mdns", "lo"])
        .unwrap_or_else(|e| panic!("{e}"));
    let state_dir = tempfile::tempdir().expect("tmp");
    let state = state_dir.path().join("kiosk.json");

    let (code, url, err) = kiosk(&state, &["--search-secs", "6"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        url.starts_with(&format!("{}/display/kiosk-", node.url)),
        "{url} / {err}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("json");
    let key = saved["node_key"].as_str().expect("paired key").to_owned();
    assert_eq!(key.len(), 44, "a base64 ed25519 key");

    // After a reboot: the same display id, the same node.
    let (code, again, err) = kiosk(&state, &["--search-secs", "6"]);
    assert_eq!((code, again.as_str()), (0, url.as_str()), "{err}");

    // Paired with another node's key: this one is not trusted; the hub's URL is used.
    let other_state = state_dir.path().join("other.json");
    let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let fallback = "http://127.0.0.1:9/venues/v1/display";
    let (code, url, err) = kiosk(
        &other_state,
        &["--key", wrong, "--fallback", fallback, "--search-secs", "3"],
    );
    assert_eq!((code, url.as_str()), (2, fallback), "{err}");
    assert!(err.contains("another key"), "{err}");
    let (code, _, err) = kiosk(&other_state, &["--key", wrong, "--search-secs", "3"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no node with the paired key answered"),
        "{err}"
    );
    drop(node);
}
