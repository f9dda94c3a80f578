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

/// An operator's own webhook: its owner sets it; its venues' alerts go
/// there (with no hub webhook at all), another operator's hears nothing,
/// and an admin of the operator may not change where alerts go.
#[tokio::test]
async fn an_operators_webhook_hears_its_own_venues_only() {
    use serde_json::json;
    let (hook_a, got_a) = receiver().await;
    let (hook_b, got_b) = receiver().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start_with(
        &tmp.path().join("cloud"),
        &hub,
        None,
        // The receivers are on loopback.
        &["--alert-offline-secs", "3", "--allow-private-webhooks"],
    );
    let admin = cloud.client();
    let post = |c: reqwest::Client, url: String, body: Value| async move {
        let r = c.post(&url).json(&body).send().await.expect("post");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{url}: {status} {v}");
        v
    };
    let login = |user: &'static str| {
        let url = format!("{}/api/v1/login", cloud.url);
        async move {
            let v = post(
                reqwest::Client::new(),
                url,
                json!({"username": user, "password": "correct horse battery"}),
            )
            .await;
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", v["token"].as_str().expect("token"))
                    .parse()
                    .expect("header"),
            );
            reqwest::Client::builder()
                .default_headers(h)
                .build()
                .expect("client")
        }
    };
    let mut owners = Vec::new();
    for (name, user, hook) in [("Acme", "a-owner", &hook_a), ("Bravo", "b-owner", &hook_b)] {
        let op = post(
            admin.clone(),
            format!("{}/api/v1/operators", cloud.url),
            json!({"name": name}),
        )
        .await;
        let id = op["id"].as_str().expect("id").to_owned();
        for (u, role) in [(user, "owner"), (&*format!("{user}-admin"), "admin")] {
            post(
                admin.clone(),
                format!("{}/api/v1/operators/{id}/staff", cloud.url),
                json!({"username": u, "password": "correct horse battery", "role": role}),
            )
            .await;
        }
        let owner = login(user).await;
        // An admin may not say where alerts go; the owner may.
        let admin_of = login(if user == "a-owner" {
            "a-owner-admin"
        } else {
            "b-owner-admin"
        })
        .await;
        let r = admin_of
            .patch(format!("{}/api/v1/operators/{id}", cloud.url))
            .json(&json!({"alert_webhook": hook}))
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status().as_u16(), 403);
        let r = owner
            .patch(format!("{}/api/v1/operators/{id}", cloud.url))
            .json(&json!({"alert_webhook": "ftp://nope"}))
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status().as_u16(), 422);
        let r = owner
            .patch(format!("{}/api/v1/operators/{id}", cloud.url))
            .json(&json!({"alert_webhook": hook}))
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["alert_webhook"], json!(hook));
        owners.push(owner);
    }
    // Acme's venue with a node that then goes quiet.
    let venue = post(
        owners[0].clone(),
        format!("{}/api/v1/venues", cloud.url),
        json!({"name": "Acme Riverside"}),
    )
    .await;
    let venue = venue["id"].as_str().expect("venue").to_owned();
    let token = post(
        owners[0].clone(),
        format!("{}/api/v1/venues/{venue}/tokens", cloud.url),
        json!({}),
    )
    .await;
    let node_dir = tmp.path().join("node");
    admin_create(&node_dir);
    let out = register(
        &node_dir,
        &cloud.url,
        token["token"].as_str().expect("token"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let venue = venue_of(&node_dir);
    let leaf = Leaf::start(&node_dir);
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    node.token().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop(node);
    until(
        Duration::from_secs(20),
        "the offline alert at Acme's webhook",
        || async { posted(&got_a, "firing", "offline", &venue) == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(posted(&got_a, "firing", "offline", &venue), 1, "once");
    assert_eq!(
        got_b.lock().unwrap_or_else(|p| p.into_inner()).len(),
        0,
        "Bravo hears nothing of Acme's venues"
    );
    // Acme's webhook removed: the alert's end goes nowhere, and nothing fails.
    let r = owners[0]
        .patch(format!("{}/api/v1/operators/{}", cloud.url, {
            let me: Value = owners[0]
                .get(format!("{}/api/v1/me", cloud.url))
                .send()
                .await
                .expect("me")
                .json()
                .await
                .expect("json");
            me["operator_id"].as_str().expect("op").to_owned()
        }))
        .json(&json!({"alert_webhook": null}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["alert_webhook"], Value::Null);
}
