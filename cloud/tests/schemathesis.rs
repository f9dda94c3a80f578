//! schemathesis (PyPI) against the hub's OpenAPI document, served by a real
//! pvm-cloud process with a registered node, signed in as an operator's
//! admin: no server error, every status code and body as the document
//! says. `scripts/test` installs schemathesis; without it this fails.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Command;

const PW: &str = "correct horse battery";

async fn post(c: &reqwest::Client, url: String, body: Value) -> Value {
    let r = c.post(&url).json(&body).send().await.expect("post");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

#[tokio::test]
async fn schemathesis_finds_nothing_in_the_hubs_document() {
    let version = Command::new("schemathesis").arg("--version").output();
    let version = version.unwrap_or_else(|e| {
        panic!("schemathesis is not installed ({e}): scripts/test installs it (pip install schemathesis==4.32.5)")
    });
    assert!(version.status.success(), "schemathesis --version failed");
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let admin = cloud.client();
    let url = |p: &str| format!("{}{p}", cloud.url);
    let op = post(
        &admin,
        url("/api/v1/operators"),
        json!({"name": "Acme Poker"}),
    )
    .await;
    let op = op["id"].as_str().expect("operator").to_owned();
    post(
        &admin,
        url(&format!("/api/v1/operators/{op}/staff")),
        json!({"username": "acme-admin", "password": PW, "role": "admin"}),
    )
    .await;
    let login = post(
        &reqwest::Client::new(),
        url("/api/v1/login"),
        json!({"username": "acme-admin", "password": PW}),
    )
    .await;
    let token = login["token"].as_str().expect("token").to_owned();
    let staff = bearer(&token);
    let venue = post(
        &staff,
        url("/api/v1/venues"),
        json!({"name": "Acme Riverside"}),
    )
    .await;
    let venue = venue["id"].as_str().expect("venue").to_owned();
    let reg = post(
        &staff,
        url(&format!("/api/v1/venues/{venue}/tokens")),
        json!({}),
    )
    .await;
    let node_dir = tmp.path().join("node");
    admin_create(&node_dir);
    let out = register(&node_dir, &cloud.url, reg["token"].as_str().expect("token"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let report = tmp.path().join("report");
    let out = Command::new("schemathesis")
        .args(["run", &url("/api/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .args(["--max-examples", "25", "--generation-deterministic"])
        .args(["--request-timeout", "10", "--workers", "1"])
        // Signing out would end the session the run uses; the wipe and
        // revoke would act on the node (both are walked by the
        // permissions test with real effects).
        .args(["--exclude-path", "/api/v1/logout"])
        .args(["--exclude-path-regex", "^/api/v1/nodes/\\{node\\}/(wipe|revoke)$"])
        // A WebSocket upgrade and an event stream never end by themselves.
        .args(["--exclude-path-regex", "^/venues/\\{venue\\}/display/(ws|events)/"])
        .arg("--report-dir")
        .arg(&report)
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    assert!(
        text.contains("passed") && !text.contains("No operations"),
        "schemathesis ran nothing: {text}"
    );
}
