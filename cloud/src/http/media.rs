//! Display images at the hub: nodes upload the images their screens show
//! (content-addressed, signed by the node's key), and the hub's display
//! fallback serves them at the same path the node does, `/display/media/<name>`.

use super::error::ApiError;
use super::error::PathOf;
use crate::{now_ms, App};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use base64::Engine;
use pvm_display::media::{upload_message, MediaError, MAX_MEDIA};
use uuid::Uuid;

/// How far a node's clock may be from the hub's for an upload.
const CLOCK_SLACK_MS: i64 = 10 * 60 * 1000;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/display/media/{name}", get(media))
        .route(
            "/api/v1/nodes/{node}/media/{name}",
            put(upload).layer(axum::extract::DefaultBodyLimit::max(MAX_MEDIA + 1)),
        )
}

async fn media(State(app): State<App>, PathOf(name): PathOf<String>) -> Result<Response, ApiError> {
    let (bytes, content_type) = app.media.get(&name).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no image {name}"),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        bytes,
    )
        .into_response())
}

fn refused(code: &'static str, message: &str) -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, code, message.to_owned())
}

/// A node's upload: signed by its key over (node, name, time); the name must be the content's.
async fn upload(
    State(app): State<App>,
    PathOf((node, name)): PathOf<(Uuid, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    if !pvm_display::media::valid_name(&name) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "bad_name",
            "a media name is 32 hex digits and .png, .jpg or .webp".into(),
        ));
    }
    let key = app
        .hub
        .nodes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&node)
        .map(|n| n.public_key);
    let key = key.ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "unknown_node",
            format!("node {node} is not registered"),
        )
    })?;
    let at_ms: i64 = headers
        .get("x-pvm-time")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| refused("unsigned", "x-pvm-time (ms) is missing"))?;
    if (now_ms() - at_ms).abs() > CLOCK_SLACK_MS {
        return Err(refused(
            "stale",
            "x-pvm-time is more than 10 minutes from the hub's clock",
        ));
    }
    let sig = headers
        .get("x-pvm-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
        .ok_or_else(|| refused("unsigned", "x-pvm-signature is missing or not a signature"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| refused("bad_signature", "the node's key is unusable"))?;
    key.verify_strict(&upload_message(node, &name, at_ms as u64), &sig)
        .map_err(|_| refused("bad_signature", "not signed by this node's key"))?;
    let revoked = app
        .hub
        .store
        .lock()
        .await?
        .resync_node(node)
        .await?
        .is_some_and(|n| n.revoked_ms.is_some());
    if revoked {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "node_revoked",
            "this node was revoked by the hub's admin".into(),
        ));
    }
    let media_error = |e: MediaError| match e {
        MediaError::TooLarge => ApiError(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
        MediaError::NotAnImage => ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_an_image",
            e.to_string(),
        ),
        MediaError::Io(e) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let actual = pvm_display::media::name_of(&body).map_err(media_error)?;
    if actual != name {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "content_mismatch",
            format!("the bytes are {actual}, not {name}"),
        ));
    }
    app.media.put(&body).map_err(media_error)?;
    Ok(StatusCode::NO_CONTENT)
}
