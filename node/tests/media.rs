//! Display images on the node's disk: written durably, checked against
//! their name on every read, and written again when a power cut (or a bad
//! card) left one damaged.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};

mod common;
use common::inprocess::{body_of_login, token_of, Venue};

/// A small real PNG (1×1).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn upload(v: &Venue, token: &str) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/media")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from(PNG))
        .expect("request");
    let (status, _, body) = v.send(req).await;
    (status, body)
}

async fn fetch(v: &Venue, name: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .uri(format!("/display/media/{name}"))
        .body(Body::empty())
        .expect("request");
    let (status, _, bytes) = v.send_raw(req).await;
    (status, bytes.to_vec())
}

#[tokio::test]
async fn an_image_cut_short_on_disk_is_not_served_and_is_written_again_on_upload() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (status, body) = upload(&v, &boss).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let name = body["name"].as_str().expect("name").to_owned();
    assert_eq!(fetch(&v, &name).await, (StatusCode::OK, PNG.to_vec()));

    // A power cut left it half written.
    let path = dir.path().join("media").join(&name);
    std::fs::write(&path, &PNG[..20]).expect("cut short");
    let (status, _) = fetch(&v, &name).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a damaged image is never served"
    );
    // Slides cannot point at it until it is whole again.
    let (status, body) = v
        .request(
            "PUT",
            "/api/v1/display-logo",
            Some(&boss),
            Some(serde_json::json!({"image": name})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The same image uploaded again replaces the damaged copy.
    let (status, body) = upload(&v, &boss).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"].as_str(), Some(name.as_str()));
    assert_eq!(fetch(&v, &name).await, (StatusCode::OK, PNG.to_vec()));
    assert_eq!(std::fs::read(&path).expect("on disk"), PNG);
    v.node.close().await;
}
