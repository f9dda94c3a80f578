//! Alerts reach the webhook the hub was given: a real hub (nats-server,
//! pvm-cloud) and a registered pvm-node with its leaf; the node is stopped
//! and the hub POSTs "offline" to a receiver this test runs on loopback,
//! then "resolved" once the node is back. The thresholds of every rule are
//! unit-tested in `pvm_cloud::alerts`.

mod common;

use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An HTTP server on loopback that keeps every JSON body POSTed to `/hook`.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

fn posted(got: &Arc<Mutex<Vec<Value>>>, state: &str, kind: &str, venue: &str) -> usize {
    got.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|b| b["state"] == state && b["kind"] == kind && b["venue_id"] == venue)
        .count()
}

#[tokio::test]
async fn a_node_that_goes_quiet_is_posted_offline_and_then_resolved() {
    let (hook, got) = receiver().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start_with(
        &tmp.path().join("cloud"),
        &hub,
        None,
        &["--alert-webhook", &hook, "--alert-offline-secs", "3"],
    );
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Riverside Card Room").await;
    let leaf = Leaf::start(&node_dir);
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    let nodes = || async {
        cloud
            .client()
            .get(format!("{}/api/v1/nodes", cloud.url))
            .send()
            .await
            .expect("nodes")
            .json::<Value>()
            .await
            .expect("json")
    };
    until(
        Duration::from_secs(15),
        "a heartbeat with the node's clock",
        || async { nodes().await[0]["heartbeat"]["clock_ms"].as_u64() > Some(0) },
    )
    .await;
    // Healthy: nothing is posted.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        got.lock().unwrap_or_else(|p| p.into_inner()).len(),
        0,
        "a healthy node raises no alert"
    );

    drop(node);
    until(
        Duration::from_secs(20),
        "the offline alert at the webhook",
        || async { posted(&got, "firing", "offline", &venue) == 1 },
    )
    .await;
    let body = got
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|b| b["kind"] == "offline")
        .cloned()
        .unwrap_or_default();
    assert_eq!(body["venue_name"], "Riverside Card Room");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no contact for "),
        "{body}"
    );
    // Said once, not at every look.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(posted(&got, "firing", "offline", &venue), 1);
    // The same alert in the API and on the venue's page.
    let listed: Value = cloud
        .client()
        .get(format!("{}/api/v1/alerts", cloud.url))
        .send()
        .await
        .expect("alerts")
        .json()
        .await
        .expect("json");
    assert!(
        listed
            .as_array()
            .expect("a list")
            .iter()
            .any(|a| a["kind"] == "offline" && a["venue_id"] == venue.as_str()),
        "{listed}"
    );
    let refused = reqwest::get(format!("{}/api/v1/alerts", cloud.url))
        .await
        .expect("alerts");
    assert_eq!(refused.status().as_u16(), 401, "admins only");

    let _node = NodeProc::start(&node_dir, &leaf, &[]);
    until(
        Duration::from_secs(20),
        "the offline alert resolved",
        || async { posted(&got, "resolved", "offline", &venue) == 1 },
    )
    .await;
}
