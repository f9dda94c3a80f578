//! Sync with real processes: hub nats-server (JetStream), a leaf nats-server
//! for the node, pvm-cloud and pvm-node, on free loopback ports.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Venue {
    _tmp: tempfile::TempDir,
    hub: Hub,
    cloud: Cloud,
    leaf: Leaf,
    node: NodeProc,
    venue: String,
    token: String,
}

async fn venue() -> Venue {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = Hub::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    admin_create(&node_dir);
    let (_, reg) = cloud.venue_token("Riverside Card Room").await;
    let out = run_node(
        &node_dir,
        &["register", "--hub", &cloud.url, "--token", &reg],
    );
    assert!(
        out.status.success(),
        "register: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link: Value = serde_json::from_str(
        &std::fs::read_to_string(node_dir.join("hub.json")).expect("hub.json"),
    )
    .expect("json");
    let venue = link["venue_id"].as_str().expect("venue").to_owned();
    let leaf = Leaf::start(&node_dir);
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    let token = node.token().await;
    Venue {
        _tmp: tmp,
        hub,
        cloud,
        leaf,
        node,
        venue,
        token,
    }
}

impl Venue {
    async fn make_tables(&self, n: usize) {
        let c = reqwest::Client::new();
        for i in 0..n {
            let resp = c
                .post(format!("{}/api/v1/tables", self.node.url))
                .bearer_auth(&self.token)
                .json(&json!({"name": format!("T{i}"), "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
                .send()
                .await
                .expect("table");
            assert!(
                resp.status().is_success(),
                "{}",
                resp.text().await.unwrap_or_default()
            );
        }
    }

    async fn sync(&self) -> Value {
        reqwest::Client::new()
            .get(format!("{}/api/v1/sync", self.node.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("sync")
            .json()
            .await
            .expect("json")
    }
}

#[tokio::test]
async fn online_an_event_made_on_the_node_is_stored_at_the_hub_within_a_second() {
    let v = venue().await;
    // Everything made before registration (the admin account) arrives first.
    until(Duration::from_secs(10), "the backlog drains", || async {
        v.sync().await["pending"] == 0 && v.sync().await["acked_seq"].as_u64() > Some(0)
    })
    .await;
    let before = v.cloud.events(&v.venue).await["count"]
        .as_u64()
        .unwrap_or(0);
    let t0 = Instant::now();
    v.make_tables(1).await;
    let took = until(Duration::from_secs(1), "the event at the hub", || async {
        v.cloud.events(&v.venue).await["count"]
            .as_u64()
            .unwrap_or(0)
            > before
    })
    .await;
    eprintln!(
        "stored at the hub {took:?} after the request ({:?} in all)",
        t0.elapsed()
    );
    let events = v.cloud.events(&v.venue).await;
    assert_eq!(events["min_seq"], 1);
    assert_eq!(events["max_seq"], events["count"], "contiguous from 1");
    assert_eq!(
        events["verified_seq"], events["max_seq"],
        "every event verified (signed batch ends)"
    );
    assert_eq!(events["latest"][0]["kind"], "table_created");
    assert_eq!(v.cloud.problems(&v.venue).await, json!([]));
    let _ = (&v.hub, &v.leaf);
}
