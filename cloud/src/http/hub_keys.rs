//! Rotating and retiring the hub's signing keys (super-admins; see
//! `crate::hub_keys` and docs/OPERATIONS.md, "Rotating the hub's key").

use super::auth::{Operators, Require};
use super::error::{bad, ApiError, Body};
use crate::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ed25519_dalek::VerifyingKey;
use pvm_shared::down::{DownBody, MAX_HUB_KEYS};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/hub/keys", get(list))
        .route("/api/v1/hub/keys/rotate", post(rotate))
        .route("/api/v1/hub/keys/retire", post(retire))
}

/// How long after a rotation the key it replaced may be retired.
const RETIRE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// One rotation or retirement at a time in this process.
static CHANGING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn kid(k: &VerifyingKey) -> String {
    pvm_shared::auth::key_id(k)
}

fn view(app: &App, venues: Option<usize>) -> Value {
    use base64::Engine;
    let current = app.key.current().verifying_key();
    let keys: Vec<Value> = app
        .key
        .trusted()
        .iter()
        .map(|k| {
            json!({
                "kid": kid(k),
                "public_key": base64::engine::general_purpose::STANDARD.encode(k.as_bytes()),
                "current": *k == current,
            })
        })
        .collect();
    let mut v = json!({"current": kid(&current), "keys": keys});
    if let Some(n) = venues {
        v["venues"] = json!(n);
    }
    v
}

async fn list(State(app): State<App>, Require(..): Require<Operators>) -> Json<Value> {
    Json(view(&app, None))
}

/// The venues with a live node.
async fn live_venues(app: &App) -> Result<Vec<Uuid>, ApiError> {
    Ok(app
        .hub
        .store
        .lock()
        .await?
        .venues()
        .await?
        .into_iter()
        .filter(|v| v.node_id.is_some() && v.revoked_ms.is_none())
        .filter_map(|v| v.id.parse().ok())
        .collect())
}

/// Sends `trusted` to `venues`' nodes, signed by the current key: how
/// many; 503 naming the venues the message server did not take.
async fn tell_venues(
    app: &App,
    trusted: &[VerifyingKey],
    venues: &[Uuid],
) -> Result<usize, ApiError> {
    use base64::Engine;
    let keys: Vec<String> = trusted
        .iter()
        .map(|k| base64::engine::general_purpose::STANDARD.encode(k.as_bytes()))
        .collect();
    let mut failed = Vec::new();
    for venue in venues {
        let body = DownBody::HubKeys { keys: keys.clone() };
        if let Err(e) = crate::downstream::send_down(app, *venue, "hub_keys", body).await {
            tracing::warn!(error = %e, %venue, "the hub's keys were not sent to the venue");
            failed.push(venue.to_string());
        }
    }
    if !failed.is_empty() {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "hub_unavailable",
            format!(
                "the hub's message server did not take the keys for {} of {} venues ({}): the hub's keys are unchanged; try again",
                failed.len(),
                venues.len(),
                failed.join(", ")
            ),
        ));
    }
    Ok(venues.len())
}

/// A new current key: every venue's node is told to trust it (signed by
/// the key it replaces), then the hub signs with it. The old key stays
/// trusted until it is retired.
async fn rotate(
    State(app): State<App>,
    Require(..): Require<Operators>,
) -> Result<Json<Value>, ApiError> {
    let _turn = CHANGING.lock().await;
    let _files = crate::hub_keys::FilesLock::take(app.key.dir()).await?;
    // What another process changed meanwhile first.
    app.key.reload_held()?;
    let before = app.key.trusted();
    if before.len() >= MAX_HUB_KEYS {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "too_many_keys",
            format!("nodes trust at most {MAX_HUB_KEYS} hub keys: retire an old one first"),
        ));
    }
    let new = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    // What the nodes are told: every key, the new one last (the one the
    // hub signs with next).
    let mut told = before.clone();
    told.push(new.verifying_key());
    // Meanwhile the hub trusts it too (its current key still last), so a
    // node registering now is handed it.
    let mut meanwhile = before.clone();
    meanwhile.insert(meanwhile.len().saturating_sub(1), new.verifying_key());
    app.key.save_trusted(meanwhile)?;
    let venues = live_venues(&app).await?;
    if let Err(e) = tell_venues(&app, &told, &venues).await {
        app.key.save_trusted(before)?;
        return Err(e);
    }
    app.key.install(new, told.clone())?;
    // A node registered while the list went out was handed it at
    // registration, or is told now (signed by the new key it was handed).
    let late: Vec<Uuid> = live_venues(&app)
        .await?
        .into_iter()
        .filter(|v| !venues.contains(v))
        .collect();
    let _ = tell_venues(&app, &told, &late).await;
    let venues = venues.len();
    tracing::warn!(current = %kid(&app.key.current().verifying_key()), venues, "the hub's signing key was rotated");
    Ok(Json(view(&app, Some(venues))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Retire {
    kid: String,
}

/// Stops every venue's node trusting an old key (not the current one).
async fn retire(
    State(app): State<App>,
    Require(..): Require<Operators>,
    Body(body): Body<Retire>,
) -> Result<Json<Value>, ApiError> {
    let _turn = CHANGING.lock().await;
    let _files = crate::hub_keys::FilesLock::take(app.key.dir()).await?;
    app.key.reload_held()?;
    let current = app.key.current().verifying_key();
    if body.kid == kid(&current) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "current_key",
            "the hub signs with this key: rotate first, then retire it".into(),
        ));
    }
    let mut trusted = app.key.trusted();
    let before = trusted.len();
    trusted.retain(|k| kid(k) != body.kid);
    if trusted.len() == before {
        return Err(bad(
            "invalid",
            format!(
                "kid: {} is not one of the hub's keys",
                body.kid.chars().take(64).collect::<String>()
            ),
        ));
    }
    // Another process sharing the data dir may sign with a key this one
    // replaced until it reloads: not retired until they all have.
    let replaced = app.key.replaced_at(&body.kid);
    if replaced.is_some_and(|at| at.elapsed().unwrap_or_default() < RETIRE_AFTER) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "just_rotated",
            format!(
                "this key was replaced less than {} s ago: every pvm-cloud process takes a rotation within {} s; retire it after that",
                RETIRE_AFTER.as_secs(),
                crate::hub_keys::RELOAD_EVERY.as_secs()
            ),
        ));
    }
    let venues = live_venues(&app).await?;
    let venues = tell_venues(&app, &trusted, &venues).await?;
    app.key.save_trusted(trusted)?;
    tracing::warn!(retired = %body.kid, venues, "a hub key was retired");
    Ok(Json(view(&app, Some(venues))))
}
