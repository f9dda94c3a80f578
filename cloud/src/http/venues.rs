//! Venues, registration tokens, nodes, a venue's events and problems: the
//! admin API.

use super::admin_key::admin;
use super::error::{bad, ApiError};
use crate::{now_ms, App};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub async fn venue_exists(app: &App, id: Uuid) -> Result<(), ApiError> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query("SELECT 1 FROM venues WHERE id = ?1", [id.to_string()])
        .await?;
    if rows.next().await?.is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no venue {id}"),
        ));
    }
    Ok(())
}

/// Every node: online, unhealthy (3 heartbeats missed) or offline (5), its last figures and contact.
pub async fn list_nodes(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(&app, &headers)?;
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query("SELECT node_id, venue_id, head_seq, verified_seq, last_contact_ms, heartbeat, retired_ms FROM nodes ORDER BY venue_id, registered_ms", ())
        .await?;
    let every = app.cli.heartbeat_secs.max(1) as i64 * 1000;
    let now = now_ms();
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let last: Option<i64> = r.get(4)?;
        let status = match last.map(|l| now - l) {
            Some(age) if age <= 3 * every => "online",
            Some(age) if age <= 5 * every => "unhealthy",
            _ => "offline",
        };
        let beat: Option<String> = r.get(5)?;
        out.push(json!({
            "node_id": r.get::<String>(0)?,
            "venue_id": r.get::<String>(1)?,
            "head_seq": r.get::<i64>(2)?,
            "verified_seq": r.get::<i64>(3)?,
            "last_contact_ms": last,
            "status": status,
            "heartbeat": beat.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
            "retired_ms": r.get::<Option<i64>>(6)?,
        }));
    }
    Ok(Json(json!(out)))
}

#[derive(Deserialize)]
pub struct NewVenue {
    pub name: String,
}

pub async fn insert_venue(app: &App, name: &str) -> Result<Uuid, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(bad("invalid", "name: 1 to 80 characters"));
    }
    let id = Uuid::now_v7();
    let conn = app.hub.store.conn.lock().await;
    conn.execute(
        "INSERT INTO venues (id, name, created_ms) VALUES (?1, ?2, ?3)",
        libsql::params![id.to_string(), name, now_ms()],
    )
    .await?;
    Ok(id)
}

pub async fn create_venue(
    State(app): State<App>,
    headers: HeaderMap,
    Json(v): Json<NewVenue>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    admin(&app, &headers)?;
    let id = insert_venue(&app, &v.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "name": v.name.trim()})),
    ))
}

/// A venue with its node's state, as the admin pages and API list them.
#[derive(Debug, Serialize)]
pub struct VenueRow {
    pub id: String,
    pub name: String,
    pub node_id: Option<String>,
    pub head_seq: Option<i64>,
    pub verified_seq: i64,
    pub last_contact_ms: Option<i64>,
    pub events: i64,
    /// online, unhealthy (3 heartbeats missed), offline (5), or unregistered.
    pub status: String,
    pub backlog: Option<u64>,
    pub heartbeat: Option<String>,
}

pub async fn venue_rows(app: &App) -> Result<Vec<VenueRow>, ApiError> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT v.id, v.name, n.node_id, n.head_seq, n.verified_seq, n.last_contact_ms, n.heartbeat, \
             (SELECT COUNT(*) FROM events e WHERE e.node_id = n.node_id) FROM venues v LEFT JOIN nodes n ON n.venue_id = v.id AND n.retired_ms IS NULL ORDER BY v.name",
            (),
        )
        .await?;
    let every = app.cli.heartbeat_secs.max(1) as i64 * 1000;
    let now = now_ms();
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let node_id: Option<String> = r.get(2)?;
        let last: Option<i64> = r.get(5)?;
        let heartbeat: Option<String> = r.get(6)?;
        let status = match (&node_id, last.map(|l| now - l)) {
            (None, _) => "unregistered",
            (Some(_), Some(age)) if age <= 3 * every => "online",
            (Some(_), Some(age)) if age <= 5 * every => "unhealthy",
            _ => "offline",
        };
        let backlog = heartbeat
            .as_deref()
            .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
            .and_then(|h| h["backlog"].as_u64());
        out.push(VenueRow {
            id: r.get(0)?,
            name: r.get(1)?,
            node_id,
            head_seq: r.get(3)?,
            verified_seq: r.get::<Option<i64>>(4)?.unwrap_or(0),
            last_contact_ms: last,
            events: r.get(7)?,
            status: status.into(),
            backlog,
            heartbeat,
        });
    }
    Ok(out)
}

pub async fn list_venues(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<Vec<VenueRow>>, ApiError> {
    admin(&app, &headers)?;
    Ok(Json(venue_rows(&app).await?))
}

pub async fn new_token(app: &App, id: Uuid) -> Result<(String, i64), ApiError> {
    venue_exists(app, id).await?;
    let conn = app.hub.store.conn.lock().await;
    let token = format!("pvm_reg_{}", hex::encode(rand::random::<[u8; 24]>()));
    let expires = now_ms() + 24 * 3_600_000;
    conn.execute(
        "INSERT INTO reg_tokens (hash, venue_id, expires_ms) VALUES (?1, ?2, ?3)",
        libsql::params![
            hex::encode(Sha256::digest(token.as_bytes())),
            id.to_string(),
            expires
        ],
    )
    .await?;
    Ok((token, expires))
}

pub async fn create_token(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    admin(&app, &headers)?;
    let (token, expires) = new_token(&app, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_ms": expires})),
    ))
}

/// (count, first seq, last seq, verified seq, latest 50 as (seq, kind, verified)).
pub type EventsSummary = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Vec<(i64, String, bool)>,
);

pub async fn events_summary(app: &App, id: Uuid) -> Result<EventsSummary, ApiError> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT COUNT(*), MIN(seq), MAX(seq), (SELECT MAX(verified_seq) FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL) FROM events \
             WHERE venue_id = ?1 AND node_id IN (SELECT node_id FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL)",
            [id.to_string()],
        )
        .await?;
    let r = rows
        .next()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    let (count, min, max, verified): (i64, Option<i64>, Option<i64>, Option<i64>) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    let mut kinds = conn
        .query(
            "SELECT seq, kind FROM events WHERE venue_id = ?1 AND node_id IN \
             (SELECT node_id FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL) ORDER BY seq DESC LIMIT 50",
            [id.to_string()],
        )
        .await?;
    let mut latest = Vec::new();
    while let Some(k) = kinds.next().await? {
        let seq: i64 = k.get(0)?;
        latest.push((seq, k.get::<String>(1)?, verified.is_some_and(|v| seq <= v)));
    }
    Ok((count, min, max, verified, latest))
}

pub async fn venue_events(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(&app, &headers)?;
    let (count, min, max, verified, latest) = events_summary(&app, id).await?;
    let latest: Vec<serde_json::Value> = latest
        .into_iter()
        .map(|(seq, kind, ok)| json!({"seq": seq, "kind": kind, "verified": ok}))
        .collect();
    Ok(Json(
        json!({"count": count, "min_seq": min, "max_seq": max, "verified_seq": verified, "latest": latest}),
    ))
}

/// (seq, kind, detail, at_ms), oldest first.
pub async fn problem_rows(app: &App, id: Uuid) -> Result<Vec<ProblemRow>, ApiError> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT p.seq, p.kind, p.detail, p.at_ms, p.count, COALESCE(p.last_ms, p.at_ms) FROM problems p LEFT JOIN nodes n ON n.node_id = p.node_id \
             WHERE n.venue_id = ?1 OR p.node_id IS NULL OR n.node_id IS NULL ORDER BY p.id",
            [id.to_string()],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(ProblemRow {
            seq: r.get(0)?,
            kind: r.get(1)?,
            detail: r.get(2)?,
            at_ms: r.get(3)?,
            count: r.get(4)?,
            last_ms: r.get(5)?,
        });
    }
    Ok(out)
}

/// A kind of problem a node had: the first one's seq and detail, how many
/// there were, and when it was last seen.
#[derive(Debug, Serialize)]
pub struct ProblemRow {
    pub seq: Option<i64>,
    pub kind: String,
    pub detail: String,
    pub at_ms: i64,
    pub count: i64,
    pub last_ms: i64,
}

pub async fn venue_problems(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(&app, &headers)?;
    Ok(Json(json!(problem_rows(&app, id).await?)))
}
