//! Venues, registration tokens, nodes, a venue's events and problems: the
//! admin API.

use super::auth::{Caller, Fleet, Require, Scoped, VenuesCreate, VenuesRead};
use super::error::{bad, ApiError, Body};
use crate::{now_ms, App};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub async fn venue_exists(app: &App, id: Uuid) -> Result<(), ApiError> {
    if !app.hub.store.lock().await?.venue_exists(id).await? {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no venue {id}"),
        ));
    }
    Ok(())
}

/// Online, unhealthy (3 heartbeats missed) or offline (5), by the last contact.
fn status(app: &App, last_contact_ms: Option<i64>, now: i64) -> &'static str {
    let every = app.cli.heartbeat_secs.max(1) as i64 * 1000;
    match last_contact_ms.map(|l| now - l) {
        Some(age) if age <= 3 * every => "online",
        Some(age) if age <= 5 * every => "unhealthy",
        _ => "offline",
    }
}

/// Every node: online, unhealthy (3 heartbeats missed) or offline (5), its last figures and contact.
pub async fn list_nodes(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesRead>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = now_ms();
    let (nodes, venues) = {
        let db = app.hub.store.lock().await?;
        (db.node_listings().await?, db.venues().await?)
    };
    let seen = seen_venues(&caller, &venues);
    let out: Vec<serde_json::Value> = nodes
        .into_iter()
        .filter(|n| seen.contains(&n.venue_id))
        .map(|n| {
            json!({
                "node_id": n.node_id,
                "venue_id": n.venue_id,
                "head_seq": n.head_seq,
                "verified_seq": n.verified_seq,
                "last_contact_ms": n.last_contact_ms,
                "status": if n.revoked_ms.is_some() { "revoked" } else { status(&app, n.last_contact_ms, now) },
                "heartbeat": n.heartbeat.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
                "retired_ms": n.retired_ms,
                "revoked_ms": n.revoked_ms,
            })
        })
        .collect();
    Ok(Json(json!(out)))
}

/// The ids of the venues `caller` sees.
pub fn seen_venues(
    caller: &Caller,
    venues: &[crate::store::VenueListing],
) -> std::collections::HashSet<String> {
    venues
        .iter()
        .filter(|v| v.id.parse().is_ok_and(|id| caller.sees(id, v.operator_id)))
        .map(|v| v.id.clone())
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVenue {
    pub name: String,
    /// The operator that owns it: staff may leave it out (theirs) or give
    /// their own; a super-admin may give any, or none.
    #[serde(default)]
    pub operator_id: Option<Uuid>,
}

/// The operator a new venue of `caller` belongs to: 404 for an operator
/// they do not see.
pub async fn venue_owner(
    app: &App,
    caller: &Caller,
    wanted: Option<Uuid>,
) -> Result<Option<Uuid>, ApiError> {
    let operator = wanted.or(caller.operator);
    if let Some(op) = operator {
        let exists = app.hub.store.lock().await?.operator(op).await?.is_some();
        if !exists || !caller.in_operator(op) {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no operator {op}"),
            ));
        }
    }
    Ok(operator)
}

pub async fn insert_venue(app: &App, name: &str, operator: Option<Uuid>) -> Result<Uuid, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(bad("invalid", "name: 1 to 80 characters"));
    }
    let id = Uuid::now_v7();
    app.hub
        .store
        .lock()
        .await?
        .insert_venue(id, name, operator, now_ms())
        .await?;
    Ok(id)
}

pub async fn create_venue(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesCreate>,
    Body(v): Body<NewVenue>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let operator = venue_owner(&app, &caller, v.operator_id).await?;
    let id = insert_venue(&app, &v.name, operator).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "name": v.name.trim(), "operator_id": operator})),
    ))
}

/// A venue with its node's state, as the admin pages and API list them.
#[derive(Debug, Clone, Serialize)]
pub struct VenueRow {
    pub id: String,
    pub name: String,
    pub node_id: Option<String>,
    pub head_seq: Option<i64>,
    pub verified_seq: i64,
    pub last_contact_ms: Option<i64>,
    pub events: i64,
    /// online, unhealthy (3 heartbeats missed), offline (5), revoked, or unregistered.
    pub status: String,
    pub backlog: Option<u64>,
    pub heartbeat: Option<String>,
    pub operator_id: Option<Uuid>,
}

/// The venues `caller` sees, with their node's state.
pub async fn venue_rows(app: &App, caller: &Caller) -> Result<Vec<VenueRow>, ApiError> {
    let now = now_ms();
    let venues = app.hub.store.lock().await?.venues().await?;
    Ok(venues
        .into_iter()
        .filter(|v| v.id.parse().is_ok_and(|id| caller.sees(id, v.operator_id)))
        .map(|v| {
            let backlog = v
                .heartbeat
                .as_deref()
                .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
                .and_then(|h| h["backlog"].as_u64());
            VenueRow {
                status: match (&v.node_id, v.revoked_ms) {
                    (None, _) => "unregistered",
                    (Some(_), Some(_)) => "revoked",
                    (Some(_), None) => status(app, v.last_contact_ms, now),
                }
                .into(),
                id: v.id,
                name: v.name,
                node_id: v.node_id,
                head_seq: v.head_seq,
                verified_seq: v.verified_seq,
                last_contact_ms: v.last_contact_ms,
                events: v.events,
                backlog,
                heartbeat: v.heartbeat,
                operator_id: v.operator_id,
            }
        })
        .collect())
}

pub async fn list_venues(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesRead>,
) -> Result<Json<Vec<VenueRow>>, ApiError> {
    Ok(Json(venue_rows(&app, &caller).await?))
}

pub async fn new_token(app: &App, id: Uuid) -> Result<(String, i64), ApiError> {
    venue_exists(app, id).await?;
    let token = format!("pvm_reg_{}", hex::encode(rand::random::<[u8; 24]>()));
    let expires = now_ms() + 24 * 3_600_000;
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    app.hub
        .store
        .lock()
        .await?
        .insert_token(&hash, id, expires)
        .await?;
    Ok((token, expires))
}

pub async fn create_token(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<Fleet>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (token, expires) = new_token(&app, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_ms": expires})),
    ))
}

pub use crate::store::{EventsSummary, ProblemRow};

pub async fn events_summary(app: &App, id: Uuid) -> Result<EventsSummary, ApiError> {
    Ok(app.hub.store.lock().await?.events_summary(id).await?)
}

pub async fn venue_events(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<VenuesRead>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (count, min, max, verified, latest) = events_summary(&app, id).await?;
    let latest: Vec<serde_json::Value> = latest
        .into_iter()
        .map(|(seq, kind, ok)| json!({"seq": seq, "kind": kind, "verified": ok}))
        .collect();
    Ok(Json(
        json!({"count": count, "min_seq": min, "max_seq": max, "verified_seq": verified, "latest": latest}),
    ))
}

/// A venue's problems, oldest first.
pub async fn problem_rows(app: &App, id: Uuid) -> Result<Vec<ProblemRow>, ApiError> {
    Ok(app.hub.store.lock().await?.problems(id).await?)
}

pub async fn venue_problems(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<VenuesRead>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!(problem_rows(&app, id).await?)))
}

/// Revokes a node (a stolen box, or one taken out of service): its leaf
/// user leaves the hub's nats-server at once, so it can no longer send or
/// receive; it may not resync or upload; what it already sent stays, still
/// folded into its venue. Saying it again answers the same and writes the
/// users file again (the way to finish one that answered 503).
pub async fn revoke_node(app: &App, node: Uuid) -> Result<(Uuid, i64), ApiError> {
    let (venue, revoked_ms) = {
        let db = app.hub.store.lock().await?;
        let Some(found) = db.resync_node(node).await? else {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "unknown_node",
                format!("no node {node} is registered here"),
            ));
        };
        if found.retired {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "retired",
                "this node was replaced by a resync: it has no leaf user to revoke; revoke the node that replaced it".into(),
            ));
        }
        let venue: Uuid = found
            .venue_id
            .parse()
            .map_err(|_| anyhow::anyhow!("bad venue id stored for node {node}"))?;
        let at = db
            .revoke_node(node, now_ms())
            .await?
            .ok_or_else(|| anyhow::anyhow!("node {node} vanished while being revoked"))?;
        (venue, at)
    };
    // Refused by ingest and heartbeats in this process from now on (others
    // see it at their next catch-up with the database).
    if let Some(row) = app
        .hub
        .nodes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_mut(&node)
    {
        row.revoked = true;
    }
    // Nothing more comes down to it: its downstream consumer goes.
    if let Err(e) = app
        .js
        .delete_consumer_from_stream(format!("node-{node}"), crate::ingest::DOWN_STREAM)
        .await
    {
        tracing::info!(error = %e, %node, "the revoked node's downstream consumer was not deleted (gone already?)");
    }
    crate::leaf_users::write_leaf_users(app)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, %node, "revoked, but the leaf users were not reloaded");
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "hub_unavailable",
                format!("the node is revoked, but the hub's message server did not take it yet ({e}): revoke it again in a minute"),
            )
        })?;
    tracing::warn!(%node, %venue, "node revoked");
    Ok((venue, revoked_ms))
}

/// `POST /api/v1/nodes/{node}/revoke`.
pub async fn revoke(
    State(app): State<App>,
    Scoped { id: node, .. }: Scoped<Fleet>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (venue, revoked_ms) = revoke_node(&app, node).await?;
    Ok(Json(json!({
        "node_id": node,
        "venue_id": venue,
        "revoked_ms": revoked_ms,
    })))
}

/// Orders a node to erase its data and return to first boot (a stolen
/// box): a message signed by the hub's key on `PVM_DOWN`, taken by the node
/// at its next contact; the node records the order, waits until the hub
/// has that record, then wipes. Refused for a revoked node (it can no
/// longer hear from the hub: wipe first, then revoke).
/// The venue of a node that can still hear from the hub: 404 for an
/// unknown node, 409 (saying `why_not`) for a resynced or revoked one.
pub async fn live_node_venue(app: &App, node: Uuid, why_not: &str) -> Result<Uuid, ApiError> {
    let found = app.hub.store.lock().await?.resync_node(node).await?;
    let Some(found) = found else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "unknown_node",
            format!("no node {node} is registered here"),
        ));
    };
    if found.retired || found.revoked_ms.is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            if found.retired {
                "retired"
            } else {
                "node_revoked"
            },
            why_not.into(),
        ));
    }
    Ok(found
        .venue_id
        .parse()
        .map_err(|_| anyhow::anyhow!("bad venue id stored for node {node}"))?)
}

pub async fn wipe_node(app: &App, node: Uuid) -> Result<(Uuid, Uuid), ApiError> {
    let venue = live_node_venue(
        app,
        node,
        "this node can no longer hear from the hub (replaced by a resync, or revoked): a wipe cannot reach it",
    )
    .await?;
    let id = crate::downstream::send_down(
        app,
        venue,
        "wipe",
        pvm_shared::down::DownBody::Wipe { node_id: node },
    )
    .await
    .map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "hub_unavailable",
            format!("the hub's message server did not take the order ({e}): nothing was sent; try again"),
        )
    })?;
    tracing::warn!(%node, %venue, message = %id, "node wipe ordered");
    Ok((id, venue))
}

/// `POST /api/v1/nodes/{node}/wipe`.
pub async fn wipe(
    State(app): State<App>,
    Scoped { id: node, .. }: Scoped<Fleet>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (id, venue) = wipe_node(&app, node).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "node_id": node, "venue_id": venue})),
    ))
}

/// `GET /api/v1/alerts`: every venue's alerts now (docs/OPERATIONS.md, "Alerts").
pub async fn list_alerts(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesRead>,
) -> Result<Json<Vec<crate::alerts::Alert>>, ApiError> {
    Ok(Json(super::admin::current_alerts(&app, &caller).await?))
}
