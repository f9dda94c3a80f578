//! The `pvm-node` command line: start-up refusals, verify-log, backup, init.

mod common;

use common::{client, pvm_node, run, table_json, TestNode};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// `pvm-node serve` as an unprivileged user when we are root (root ignores file modes).
fn serve_unprivileged(dir: &Path) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            common::BIN,
        ]);
        c
    } else {
        std::process::Command::new(common::BIN)
    };
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--mdns", "off"]);
    cmd.output().expect("runs")
}

async fn node_with_tables(n: usize) -> TestNode {
    let node = TestNode::start();
    let c = node.client();
    for i in 0..n {
        let resp = c
            .post(node.api("/api/v1/tables"))
            .json(&table_json(&format!("Table {i}")))
            .send()
            .await
            .expect("post");
        assert!(resp.status().is_success());
    }
    node
}

#[test]
fn init_makes_a_private_key_and_is_safe_to_repeat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = run(&data, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("node id"));
    let key_mode = std::fs::metadata(data.join("node.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(&data).expect("dir").permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let key = std::fs::read(data.join("node.key")).expect("key");
    let again = run(&data, &["init"]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("already initialised"));
    assert_eq!(
        std::fs::read(data.join("node.key")).expect("key"),
        key,
        "init must never replace a key"
    );
}

#[test]
fn help_explains_every_setting() {
    let out = pvm_node(Path::new("x"))
        .arg("--help")
        .output()
        .expect("help");
    let text = stdout(&out);
    for s in [
        "--data-dir",
        "PVM_DATA_DIR",
        "--listen",
        "PVM_LISTEN",
        "0.0.0.0:8080",
        "--config",
        "verify-log",
        "backup",
        "init",
        "serve",
    ] {
        assert!(text.contains(s), "--help does not mention {s}:\n{text}");
    }
}

#[test]
fn a_second_node_on_the_same_data_dir_refuses_clearly() {
    let node = TestNode::start();
    let out = pvm_node(&node.dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already using data dir"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_corrupt_database_stops_start_up_naming_the_file_and_is_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(run(dir.path(), &["init"]).status.success());
    let db = dir.path().join("pvm.db");
    let garbage: Vec<u8> = (0..16384u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&db, &garbage).expect("write");
    let out = pvm_node(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(
        err.contains("corrupt") || err.contains("not a database"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&db).expect("read"),
        garbage,
        "start-up changed the corrupt file"
    );
}

#[test]
fn a_data_dir_that_is_a_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("oops");
    std::fs::write(&file, b"x").expect("write");
    let out = pvm_node(&file)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&file.display().to_string()),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_data_dir_without_permission_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("locked");
    assert!(run(&data, &["init"]).status.success());
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    if !is_root() {
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    } else {
        // The temp dir itself is private to root; let the unprivileged user reach the data dir.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let out = serve_unprivileged(&data);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod back");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&data.display().to_string()), "{err}");
    assert!(err.contains("ermission denied"), "{err}");
}

#[test]
fn an_unreadable_database_file_is_named() {
    if !is_root() {
        return unreadable_database_as_user();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data = dir.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    // The unprivileged user owns the data dir and its key, but not the database.
    std::fs::write(data.join("pvm.db"), b"").expect("db");
    std::fs::set_permissions(data.join("pvm.db"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    for f in ["", "node.key", "node.json", "pvm-node.lock"] {
        let status = std::process::Command::new("chown")
            .arg("65534:65534")
            .arg(data.join(f))
            .status()
            .expect("chown");
        assert!(status.success());
    }
    let out = serve_unprivileged(&data);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&data.join("pvm.db").display().to_string()),
        "{err}"
    );
}

fn unreadable_database_as_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(run(dir.path(), &["init"]).status.success());
    let db = dir.path().join("pvm.db");
    std::fs::write(&db, b"").expect("db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let out = serve_unprivileged(dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&db.display().to_string()),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn an_edited_migration_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut node = TestNode::start_bare(dir.path()).expect("start");
        assert!(node.terminate().success());
    }
    sql(
        &dir.path().join("pvm.db"),
        "UPDATE schema_migrations SET checksum = 'abc' WHERE name = '0001_event_log.sql'",
    )
    .await;
    let out = pvm_node(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("0001_event_log.sql was edited after it was applied"),
        "{}",
        stderr(&out)
    );
}

async fn sql(db: &Path, statement: &str) {
    {
        let db = libsql::Builder::new_local(db).build().await.expect("open");
        let conn = db.connect().expect("connect");
        conn.execute(statement, ()).await.expect("execute");
    }
}

async fn flip_payload_byte(db: &Path, seq: i64) {
    {
        let db = libsql::Builder::new_local(db).build().await.expect("open");
        let conn = db.connect().expect("connect");
        let mut rows = conn
            .query("SELECT envelope FROM events WHERE seq = ?1", [seq])
            .await
            .expect("query");
        let row = rows.next().await.expect("row").expect("exists");
        let mut blob: Vec<u8> = row.get(0).expect("blob");
        drop(rows);
        // "Table 2" -> "Table 3" inside the payload: still valid JSON, different meaning.
        let at = blob
            .windows(7)
            .position(|w| w == b"Table 2")
            .expect("name in payload");
        blob[at + 6] = b'3';
        conn.execute(
            "UPDATE events SET envelope = ?1 WHERE seq = ?2",
            (blob, seq),
        )
        .await
        .expect("update");
    }
}

#[tokio::test]
async fn verify_log_names_an_altered_event_and_a_missing_one() {
    let mut node = node_with_tables(5).await;
    let ok = run(&node.dir, &["verify-log"]);
    assert!(
        ok.status.success(),
        "while running: {} {}",
        stdout(&ok),
        stderr(&ok)
    );
    assert!(stdout(&ok).contains("6 events"), "{}", stdout(&ok));
    assert!(node.terminate().success());
    let db = node.dir.join("pvm.db");

    // seq 1 is the admin account, so "Table 2" is seq 4.
    flip_payload_byte(&db, 4).await;
    let out = run(&node.dir, &["verify-log"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("hash mismatch at seq 4"),
        "{}",
        stdout(&out)
    );

    sql(&db, "DELETE FROM events WHERE seq = 4").await;
    let out = run(&node.dir, &["verify-log"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("gap at seq 4"), "{}", stdout(&out));
}

#[tokio::test]
async fn an_online_backup_is_a_complete_verifiable_database() {
    let node = node_with_tables(12).await;
    let out_dir = tempfile::tempdir().expect("tempdir");
    let target = out_dir.path().join("snapshot.db");
    let out = run(&node.dir, &["backup", target.to_str().expect("utf8")]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("backup written"));
    // Refuses to overwrite.
    let again = run(&node.dir, &["backup", target.to_str().expect("utf8")]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already exists"));

    // The snapshot, with the node's identity, is a working node with every event.
    let restored = out_dir.path().join("restored");
    std::fs::create_dir(&restored).expect("mkdir");
    for f in ["node.key", "node.json"] {
        std::fs::copy(node.dir.join(f), restored.join(f)).expect("copy");
    }
    std::fs::copy(&target, restored.join("pvm.db")).expect("copy");
    let out = run(&restored, &["verify-log"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("13 events"));
    let restored_node = TestNode::start_in(&restored).expect("restored node starts");
    let tables: Vec<serde_json::Value> = client()
        .get(restored_node.api("/api/v1/tables"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(tables.len(), 12);
}
