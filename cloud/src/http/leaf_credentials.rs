//! Rotating a venue's leaf credentials without downtime (docs/OPERATIONS.md,
//! "Rotating a venue's leaf credentials"):
//!
//! 1. an admin asks (`POST /api/v1/nodes/{node}/leaf-credentials`): the
//!    node is sent a hub-signed `leaf_credentials` message (no secret in it);
//! 2. at its next contact the node takes new credentials over HTTPS, asking
//!    with its own key (`POST /api/v1/leaf-credentials`): the hub makes a
//!    new leaf user and password, keeps the password's bcrypt hash as the
//!    node's next user, and lets both users link;
//! 3. the node's leaf links with the new user and the node says so
//!    (`POST /api/v1/leaf-credentials/confirm`, signed too): the new user
//!    replaces the old one, which may link no more.

use super::auth::{Fleet, Scoped};
use super::error::{bad, ApiError, Body};
use crate::leaf_users::{bcrypt_hash, write_leaf_users};
use crate::{b64, now_ms, App};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/nodes/{node}/leaf-credentials", post(ask))
        .route("/api/v1/leaf-credentials", post(take))
        .route("/api/v1/leaf-credentials/confirm", post(confirm))
}

/// How far a node's clock may be from the hub's when it asks.
const SKEW_MS: u64 = 5 * 60_000;

/// `POST /api/v1/nodes/{node}/leaf-credentials`: tells the node to take new
/// leaf credentials at its next contact.
async fn ask(
    State(app): State<App>,
    Scoped { id: node, .. }: Scoped<Fleet>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let venue = super::venues::live_node_venue(
        &app,
        node,
        "this node can no longer link to the hub (replaced by a resync, or revoked)",
    )
    .await?;
    let id = crate::downstream::send_down(
        &app,
        venue,
        "leaf_credentials",
        pvm_shared::down::DownBody::LeafCredentials { node_id: node },
    )
    .await
    .map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "hub_unavailable",
            format!("the hub's message server did not take it ({e}): nothing was sent; try again"),
        )
    })?;
    tracing::info!(%node, %venue, message = %id, "new leaf credentials asked of the node");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "node_id": node, "venue_id": venue})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Signed {
    node_id: Uuid,
    venue_id: Uuid,
    at_ms: u64,
    /// The new leaf user the node links with (confirm only).
    #[serde(default)]
    leaf_user: Option<String>,
    /// base64 ed25519 signature by the node's key over
    /// `pvm_shared::signing::leaf_credentials_statement`.
    signature: String,
}

/// Checks that the node itself signed `r` (its live key, a fresh time):
/// its current leaf user.
async fn node_signed(app: &App, r: &Signed) -> Result<String, ApiError> {
    let signature = b64()
        .decode(&r.signature)
        .ok()
        .and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok())
        .ok_or_else(|| bad("invalid", "signature: a base64 ed25519 signature"))?;
    if r.leaf_user.as_ref().is_some_and(|u| u.len() > 128) {
        return Err(bad("invalid", "leaf_user: at most 128 characters"));
    }
    let now = u64::try_from(now_ms()).unwrap_or(0);
    if r.at_ms.abs_diff(now) > SKEW_MS {
        return Err(bad(
            "invalid",
            "at_ms: more than 5 minutes from the hub's clock (check the node's clock)",
        ));
    }
    let unknown = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "unknown_node",
            "no such live node of that venue is registered here".into(),
        )
    };
    let db = app.hub.store.lock().await?;
    let node = db.resync_node(r.node_id).await?.ok_or_else(unknown)?;
    if node.venue_id != r.venue_id.to_string() || node.retired {
        return Err(unknown());
    }
    let key = node.public_key.clone();
    drop(db);
    let key = b64()
        .decode(&key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| anyhow::anyhow!("the stored key of node {} is unusable", r.node_id))?;
    let statement = pvm_shared::signing::leaf_credentials_statement(
        r.node_id,
        r.venue_id,
        r.at_ms,
        r.leaf_user.as_deref(),
    );
    key.verify_strict(&statement, &signature).map_err(|_| {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "not_this_node",
            "the signature is not this node's".into(),
        )
    })?;
    // Said only to the node itself (its key proven).
    if node.revoked_ms.is_some() {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "node_revoked",
            "this node was revoked by the hub's admin".into(),
        ));
    }
    Ok(node.leaf_user)
}

/// `POST /api/v1/leaf-credentials`: new leaf credentials for the node that
/// signed the request; both its users may link until it confirms.
async fn take(State(app): State<App>, Body(r): Body<Signed>) -> Result<Json<Value>, ApiError> {
    if r.leaf_user.is_some() {
        return Err(bad("invalid", "leaf_user: only for confirm"));
    }
    node_signed(&app, &r).await?;
    let user = format!("leaf-{}", Uuid::now_v7().simple());
    let mut secret = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let password = hex::encode(secret);
    let hash = bcrypt_hash(password.clone()).await?;
    if !app
        .hub
        .store
        .lock()
        .await?
        .set_leaf_next(
            r.node_id,
            &user,
            &hash,
            i64::try_from(r.at_ms).unwrap_or(i64::MAX),
        )
        .await?
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "replayed",
            "a request no later than one already taken (a replay): sign a new one".into(),
        ));
    }
    write_leaf_users(&app).await.map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "hub_unavailable",
            format!("the hub's message server did not take the new user ({e}): ask again"),
        )
    })?;
    tracing::info!(node = %r.node_id, user, "new leaf credentials taken by the node");
    Ok(Json(json!({"leaf_user": user, "leaf_password": password})))
}

/// `POST /api/v1/leaf-credentials/confirm`: the node's leaf links with its
/// new user, which replaces the old one.
async fn confirm(State(app): State<App>, Body(r): Body<Signed>) -> Result<StatusCode, ApiError> {
    let Some(user) = r.leaf_user.clone() else {
        return Err(bad("invalid", "leaf_user: the new leaf user"));
    };
    let current = node_signed(&app, &r).await?;
    let promoted = current != user
        && app
            .hub
            .store
            .lock()
            .await?
            .promote_leaf_next(r.node_id, &user)
            .await?;
    // Confirmed already (the users file may not have been taken then):
    // the same answer, and the file written again.
    if !promoted && current != user {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "not_next",
            "that is not this node's next leaf user (taken again since, or confirmed already)"
                .into(),
        ));
    }
    write_leaf_users(&app).await.map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "hub_unavailable",
            format!("the hub's message server did not take the users file ({e}): the old user still links until it does"),
        )
    })?;
    tracing::info!(node = %r.node_id, user, "the node's new leaf credentials replaced the old");
    Ok(StatusCode::NO_CONTENT)
}
