//! `pvm-cloud migrate`: a hub that drained a venue on its libSQL file moves
//! to PostgreSQL with every event verified on the way, refuses a tampered
//! copy and a database that is not empty, and goes on ingesting there.

mod common;

use common::postgres::PgServer;
use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn migrate(from: &str, to: &str) -> std::process::Output {
    Command::new(CLOUD)
        .args(["migrate", "--from", from, "--to", to])
        .env("PVM_LOG", "warn")
        .output()
        .expect("pvm-cloud migrate runs")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn node_head(node: &NodeProc, token: &str) -> u64 {
    node.sync(token).await["head_seq"]
        .as_u64()
        .expect("head_seq")
}

async fn venues(cloud: &Cloud) -> Value {
    cloud
        .client()
        .get(format!("{}/api/v1/venues", cloud.url))
        .send()
        .await
        .expect("venues")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn a_hub_moves_from_its_file_to_postgres_with_every_event_verified() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud_dir = tmp.path().join("cloud");
    let file = cloud_dir.join("cloud.db").display().to_string();
    let cloud = Cloud::start_with(&cloud_dir, &hub, None, &["--database", &file]);
    let key = cloud.admin_key.clone();
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Riverside Card Room").await;
    let leaf = Leaf::start(&node_dir);
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    let token = node.token().await;
    make_tables(&node, &token, 0, 30).await;
    let head = node_head(&node, &token).await;
    until(
        Duration::from_secs(20),
        "the hub has every event",
        || async { cloud.events(&venue).await["max_seq"].as_u64() == Some(head) },
    )
    .await;
    let (events_before, venues_before) = (cloud.events(&venue).await, venues(&cloud).await);
    drop(cloud);

    let pg = PgServer::start();
    // A copy with one event altered is refused, naming it; nothing is written.
    let tampered = tmp.path().join("tampered");
    std::fs::create_dir_all(&tampered).expect("dir");
    for f in ["cloud.db", "cloud.db-wal"] {
        if cloud_dir.join(f).exists() {
            std::fs::copy(cloud_dir.join(f), tampered.join(f)).expect("copy");
        }
    }
    {
        let db = libsql::Builder::new_local(tampered.join("cloud.db"))
            .build()
            .await
            .expect("open copy");
        let conn = db.connect().expect("connect");
        let mut rows = conn
            .query("SELECT envelope FROM events WHERE seq = 7", ())
            .await
            .expect("read");
        let mut bytes: Vec<u8> = rows
            .next()
            .await
            .expect("row")
            .expect("seq 7")
            .get(0)
            .expect("bytes");
        drop(rows);
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        conn.execute("UPDATE events SET envelope = ?1 WHERE seq = 7", [bytes])
            .await
            .expect("tamper");
    }
    let refused_url = pg.new_database("refused");
    let out = migrate(
        &tampered.join("cloud.db").display().to_string(),
        &refused_url,
    );
    assert!(
        !out.status.success(),
        "a tampered copy migrates: {}",
        text(&out)
    );
    assert!(text(&out).contains("event 7"), "{}", text(&out));
    assert_eq!(pg.psql_on("refused", "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM venues) + (SELECT count(*) FROM nodes)"), "0");

    // The real file moves, once, with a leaf-credentials rotation under way
    // (the node took its next user; both link until it confirms).
    {
        let db = libsql::Builder::new_local(&file)
            .build()
            .await
            .expect("open file");
        let conn = db.connect().expect("connect");
        conn.execute(
            "UPDATE nodes SET leaf_user_next = leaf_user || '-next', leaf_hash_next = leaf_password, leaf_take_ms = 1234",
            (),
        )
        .await
        .expect("rotation under way");
    }
    let url = pg.new_database("hub");
    let out = migrate(&file, &url);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        pg.psql_on(
            "hub",
            "SELECT leaf_user_next = leaf_user || '-next', leaf_hash_next = leaf_password, leaf_take_ms FROM nodes"
        ),
        "t|t|1234",
        "the rotation under way moved with the node"
    );
    assert!(
        text(&out).contains(&format!("Moved 1 venues, 1 nodes, {head} events")),
        "{}",
        text(&out)
    );
    let again = migrate(&file, &url);
    assert!(!again.status.success());
    assert!(text(&again).contains("already holds"), "{}", text(&again));
    assert_eq!(
        pg.psql_on("hub", "SELECT count(*) FROM events"),
        head.to_string()
    );

    // The hub on PostgreSQL shows what it showed and goes on ingesting.
    let cloud = Cloud::start_with(&cloud_dir, &hub, Some(key), &["--database", &url]);
    assert_eq!(cloud.events(&venue).await, events_before);
    assert_eq!(venues(&cloud).await["venues"], venues_before["venues"]);
    make_tables(&node, &token, 30, 5).await;
    let head = node_head(&node, &token).await;
    until(
        Duration::from_secs(20),
        "new events reach PostgreSQL",
        || async { cloud.events(&venue).await["max_seq"].as_u64() == Some(head) },
    )
    .await;
    assert_eq!(
        pg.psql_on("hub", "SELECT count(*) FROM events"),
        head.to_string()
    );
}
