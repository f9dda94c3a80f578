//! The hub in-process: `pvm_cloud::http::app` called with `oneshot` (no
//! HTTP socket), over a real nats-server and a real libSQL file, as the
//! node's router is tested.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use clap::Parser;
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;
use common::HubNats;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, value)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hub_router_answers_in_process() {
    let dir = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&dir.path().join("hub"));
    let data = dir.path().join("cloud");
    let leaf_url = format!("nats-leaf://127.0.0.1:{}", hub.leaf_port);
    let tls_dir = hub.tls.clone().expect("tls dir");
    let cli = pvm_cloud::Cli::parse_from([
        "pvm-cloud",
        "--data-dir",
        &data.display().to_string(),
        "--nats",
        &hub.cloud_url(),
        "--leaf-url",
        &leaf_url,
        "--leaf-tls-dir",
        &tls_dir.display().to_string(),
    ]);
    let key = pvm_cloud::hub_key(&data).expect("hub key");
    let started = pvm_cloud::start(cli, key).await.expect("hub starts");
    let admin = std::fs::read_to_string(data.join("admin.key"))
        .expect("admin key")
        .trim()
        .to_owned();
    let app = pvm_cloud::http::app(started.app.clone());

    let (status, headers, body) = call(&app, "GET", "/health", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    assert_eq!(
        headers.get(header::X_FRAME_OPTIONS).map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));

    let new_venue = Some(json!({"name": "  Riverside Card Room "}));
    let (status, _, body) = call(&app, "POST", "/api/v1/venues", None, new_venue.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _, venue) = call(&app, "POST", "/api/v1/venues", Some(&admin), new_venue).await;
    assert_eq!(status, StatusCode::CREATED, "{venue}");
    assert_eq!(venue["name"], "Riverside Card Room");
    let id = venue["id"].as_str().expect("id").to_owned();

    let (status, _, list) = call(&app, "GET", "/api/v1/venues", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let listed = list
        .as_array()
        .and_then(|l| l.iter().find(|v| v["id"] == id.as_str()))
        .expect("listed");
    assert_eq!(listed["status"], "unregistered");

    let (status, _, token) = call(
        &app,
        "POST",
        &format!("/api/v1/venues/{id}/tokens"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    assert!(token["token"]
        .as_str()
        .is_some_and(|t| t.starts_with("pvm_reg_")));

    let unknown = uuid::Uuid::now_v7();
    let (status, _, body) = call(
        &app,
        "POST",
        &format!("/api/v1/venues/{unknown}/tokens"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    let (status, _, body) = call(
        &app,
        "POST",
        "/api/v1/register",
        None,
        Some(json!({
            "token": "pvm_reg_0000",
            "node_id": uuid::Uuid::now_v7(),
            "venue_id": uuid::Uuid::now_v7(),
            "public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "bad_token");

    let (status, _, events) = call(
        &app,
        "GET",
        &format!("/api/v1/venues/{id}/events"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events["count"], 0);
    let (status, _, hub_info) = call(&app, "GET", "/api/v1/hub", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hub_info["leaf_ca"]
        .as_str()
        .is_some_and(|c| c.contains("BEGIN CERTIFICATE")));

    started.stop.cancel();
    let _ = started.ingest.await;
}
