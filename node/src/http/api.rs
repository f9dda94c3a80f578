//! The REST API under `/api/v1`, described by the OpenAPI document it serves.
//!
//! Handlers take their input through extractors, make one call to the log
//! or the reader, and map the result to a response.

use super::auth::{LogRead, Require, StaffUi, TablesManage, TablesOperate, VenueManage};
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath, AppQuery};
use super::AppState;
use crate::ops;
use crate::ops::tables::Change;
use crate::store::Committed;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pvm_shared::envelope::Envelope;
use pvm_shared::venue::{
    Branding, Game, PokerTable, Stakes, TableName, TableStatus, VenueSettings,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

/// The response header carrying the seq of the event a write appended.
pub const EVENT_SEQ_HEADER: &str = "pvm-event-seq";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PVM node API",
        description = "The venue node's REST API. Every change is an event in the node's signed log; reads come from its projections.",
        license(name = "Apache-2.0")
    ),
    paths(
        get_venue, put_venue, list_tables, create_table, get_table, rename_table, set_table_game,
        open_table, close_table, list_events, get_node, get_sync
    ),
    components(schemas(
        VenueSettings, Branding, PokerTable, Game, Stakes, TableStatus, NewTable, TableRename,
        TableGame, EventRecord, NodeInfo, SyncView, crate::sync::Fork, ErrorBody
    )),
    tags(
        (name = "venue", description = "Venue settings and branding"),
        (name = "tables", description = "Poker tables in the room"),
        (name = "log", description = "The node's event log")
    )
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/venue", get(get_venue).put(put_venue))
        .route("/api/v1/tables", get(list_tables).post(create_table))
        .route("/api/v1/tables/{id}", get(get_table).patch(rename_table))
        .route(
            "/api/v1/tables/{id}/game",
            axum::routing::put(set_table_game),
        )
        .route("/api/v1/tables/{id}/open", post(open_table))
        .route("/api/v1/tables/{id}/close", post(close_table))
        .route("/api/v1/events", get(list_events))
        .route("/api/v1/node", get(get_node))
        .route("/api/v1/sync", get(get_sync))
}

fn with_seq(committed: &Committed, mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&committed.seq.to_string()) {
        response.headers_mut().insert(EVENT_SEQ_HEADER, v);
    }
    response
}

/// The venue's settings.
#[utoipa::path(get, path = "/api/v1/venue", tag = "venue", security(()),
    responses((status = 200, body = VenueSettings)))]
async fn get_venue(State(s): State<AppState>) -> Result<Json<VenueSettings>, ApiError> {
    Ok(Json(s.reader.settings().await?))
}

/// Replace the venue's settings (name, time zone, branding colours).
#[utoipa::path(put, path = "/api/v1/venue", tag = "venue", request_body = VenueSettings, security(("bearer" = ["venue:manage"])),
    responses((status = 200, body = VenueSettings), (status = 422, body = ErrorBody)))]
async fn put_venue(
    State(s): State<AppState>,
    who: Require<VenueManage>,
    AppJson(settings): AppJson<VenueSettings>,
) -> Result<Response, ApiError> {
    let committed = ops::venue::update_settings(&s.log, who.principal().actor(), settings).await?;
    let body = Json(s.reader.settings().await?).into_response();
    Ok(with_seq(&committed, body))
}

/// Every table, by name.
#[utoipa::path(get, path = "/api/v1/tables", tag = "tables", security(()),
    responses((status = 200, body = [PokerTable])))]
async fn list_tables(State(s): State<AppState>) -> Result<Json<Vec<PokerTable>>, ApiError> {
    Ok(Json(s.reader.tables().await?))
}

/// A new table. It starts closed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTable {
    pub name: TableName,
    pub game: Game,
    pub stakes: Stakes,
    /// 2 to 10; 9 when left out.
    #[serde(default = "default_seats")]
    pub seats: u8,
}

fn default_seats() -> u8 {
    9
}

/// Add a table to the room.
#[utoipa::path(post, path = "/api/v1/tables", tag = "tables", request_body = NewTable, security(("bearer" = ["tables:manage"])),
    responses((status = 201, body = PokerTable), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_table(
    State(s): State<AppState>,
    who: Require<TablesManage>,
    AppJson(new): AppJson<NewTable>,
) -> Result<Response, ApiError> {
    let new = ops::tables::NewTable {
        name: new.name,
        game: new.game,
        stakes: new.stakes,
        seats: new.seats,
    };
    let (table_id, committed) = ops::tables::create(&s.log, who.principal().actor(), new).await?;
    let table = load_table(&s, table_id).await?;
    let mut response = (StatusCode::CREATED, Json(table)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/tables/{table_id}")) {
        response.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(with_seq(&committed, response))
}

async fn load_table(s: &AppState, id: Uuid) -> Result<PokerTable, ApiError> {
    s.reader
        .table(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no table with id {id}")))
}

/// One table.
#[utoipa::path(get, path = "/api/v1/tables/{id}", tag = "tables", security(()),
    params(("id" = Uuid, Path, description = "Table id")),
    responses((status = 200, body = PokerTable), (status = 404, body = ErrorBody)))]
async fn get_table(
    State(s): State<AppState>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<PokerTable>, ApiError> {
    Ok(Json(load_table(&s, id).await?))
}

/// A table's new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableRename {
    pub name: TableName,
}

/// Rename a table.
#[utoipa::path(patch, path = "/api/v1/tables/{id}", tag = "tables", request_body = TableRename,
    security(("bearer" = ["tables:manage"])),
    params(("id" = Uuid, Path, description = "Table id")),
    responses((status = 200, body = PokerTable), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rename_table(
    State(s): State<AppState>,
    who: Require<TablesManage>,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<TableRename>,
) -> Result<Response, ApiError> {
    let change = Change::Rename(body.name);
    table_command(&s, who.principal().actor(), id, change).await
}

/// The game and stakes dealt at a table.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableGame {
    pub game: Game,
    pub stakes: Stakes,
}

/// Change the game and stakes at a table.
#[utoipa::path(put, path = "/api/v1/tables/{id}/game", tag = "tables", request_body = TableGame,
    security(("bearer" = ["tables:operate"])),
    params(("id" = Uuid, Path, description = "Table id")),
    responses((status = 200, body = PokerTable), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_table_game(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<TableGame>,
) -> Result<Response, ApiError> {
    let change = Change::Deal {
        game: body.game,
        stakes: body.stakes,
    };
    table_command(&s, who.principal().actor(), id, change).await
}

/// Open a table for play.
#[utoipa::path(post, path = "/api/v1/tables/{id}/open", tag = "tables", security(("bearer" = ["tables:operate"])),
    params(("id" = Uuid, Path, description = "Table id")),
    responses((status = 200, body = PokerTable), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn open_table(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Response, ApiError> {
    table_command(&s, who.principal().actor(), id, Change::Open).await
}

/// Close a table.
#[utoipa::path(post, path = "/api/v1/tables/{id}/close", tag = "tables", security(("bearer" = ["tables:operate"])),
    params(("id" = Uuid, Path, description = "Table id")),
    responses((status = 200, body = PokerTable), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn close_table(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Response, ApiError> {
    table_command(&s, who.principal().actor(), id, Change::Close).await
}

async fn table_command(
    s: &AppState,
    actor: pvm_shared::Actor,
    id: Uuid,
    change: Change,
) -> Result<Response, ApiError> {
    let committed = ops::tables::change(&s.log, actor, id, change).await?;
    let body = Json(load_table(s, id).await?).into_response();
    Ok(with_seq(&committed, body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events with a seq above this (default 0).
    #[serde(default)]
    pub after: u64,
    /// At most this many, 1 to 1000 (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// One event of the log, as read back.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventRecord {
    pub seq: u64,
    pub id: Uuid,
    pub kind: String,
    /// Hybrid logical clock: wall milliseconds and counter.
    pub hlc: String,
    pub actor: String,
    pub payload: serde_json::Value,
    /// SHA-256 of the event's canonical bytes, hex.
    pub hash: String,
    pub signed: bool,
}

/// Read the event log in order.
#[utoipa::path(get, path = "/api/v1/events", tag = "log", params(EventQuery), security(("bearer" = ["log:read"])),
    responses((status = 200, body = [EventRecord]), (status = 400, body = ErrorBody)))]
async fn list_events(
    State(s): State<AppState>,
    _who: Require<LogRead>,
    AppQuery(q): AppQuery<EventQuery>,
) -> Result<Json<Vec<EventRecord>>, ApiError> {
    if !(1..=1000).contains(&q.limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1 to 1000 (got {})", q.limit),
        ));
    }
    let page = s.reader.events_after(q.after, q.limit).await?;
    let mut out = Vec::with_capacity(page.len());
    for (seq, bytes) in page {
        let env = Envelope::decode(&bytes)
            .map_err(|e| ApiError::internal(format!("event {seq} is unreadable: {e}")))?;
        out.push(EventRecord {
            seq,
            id: env.header.id,
            kind: env.kind.clone(),
            hlc: env.header.hlc.to_string(),
            actor: env.header.actor.to_string(),
            payload: redact(serde_json::from_slice(&env.payload).unwrap_or_default()),
            hash: hex::encode(env.hash),
            signed: env.sig.is_some(),
        });
    }
    Ok(Json(out))
}

/// Hashes of passwords, PINs and API keys stay in the log (the hub needs them
/// to sync accounts) but are never shown by the API: at any depth (the hub's
/// accounts list carries one per account).
pub(super) fn redact(mut payload: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value, depth: usize) {
        if depth > 16 {
            return;
        }
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if ["password_hash", "pin_hash", "secret_hash"].contains(&k.as_str()) {
                        if !v.is_null() {
                            *v = serde_json::Value::String("[redacted]".into());
                        }
                    } else {
                        walk(v, depth + 1);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, depth + 1)),
            _ => {}
        }
    }
    walk(&mut payload, 0);
    payload
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn hashes_are_redacted_at_any_depth() {
        let v = super::redact(serde_json::json!({
            "password_hash": "$argon2id$a",
            "pin_hash": null,
            "accounts": [{"username": "olive", "password_hash": "$argon2id$b"}],
        }));
        assert_eq!(v["password_hash"], "[redacted]");
        assert!(v["pin_hash"].is_null());
        assert_eq!(v["accounts"][0]["password_hash"], "[redacted]");
        assert_eq!(v["accounts"][0]["username"], "olive");
        assert!(!v.to_string().contains("argon2"));
    }
}

/// Who this node is.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeInfo {
    pub node_id: Uuid,
    pub venue_id: Uuid,
    /// The node's ed25519 public key, hex.
    pub public_key: String,
    pub version: String,
}

/// This node's id, venue and public key.
#[utoipa::path(get, path = "/api/v1/node", tag = "log", security(()), responses((status = 200, body = NodeInfo)))]
async fn get_node(State(s): State<AppState>) -> Json<NodeInfo> {
    Json(NodeInfo {
        node_id: s.identity.node_id,
        venue_id: s.identity.venue_id,
        public_key: s.identity.public_key_hex(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// How far the hub has this node's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncView {
    /// Registered with a hub at all.
    pub registered: bool,
    /// The pump is publishing through the leaf right now.
    pub connected: bool,
    pub head_seq: u64,
    pub acked_seq: u64,
    /// Events made here that the hub has not acknowledged yet.
    pub pending: u64,
    /// When the hub last acknowledged anything (ms); null for never.
    pub last_contact_ms: Option<u64>,
    /// Shown to staff after 72 hours without contact.
    pub warning: Option<String>,
    /// The local leaf nats-server's link to the hub, and restarts made.
    pub leaf: crate::leaf::LeafHealth,
    /// Set when this node's log forked from the hub's copy (e.g. restored
    /// from an older backup): nothing more is sent until `pvm-node resync`.
    pub fork: Option<crate::sync::Fork>,
}

/// After this long without the hub, staff are told (everything keeps working).
pub const OFFLINE_WARNING_MS: u64 = 72 * 3_600_000;

pub fn sync_view(s: &AppState, head_seq: u64) -> SyncView {
    use std::sync::atomic::Ordering;
    let st = &s.sync;
    let acked = st.acked_seq.load(Ordering::Relaxed);
    let last = st.last_contact_ms.load(Ordering::Relaxed);
    let registered = st.registered.load(Ordering::Relaxed);
    let now = s.clock.now_ms();
    // A forked log says so itself (and is not sent): no 72-hour warning too.
    let offline_long = registered
        && st.fork().is_none()
        && head_seq > acked
        && (last == 0 || now.saturating_sub(last) > OFFLINE_WARNING_MS);
    SyncView {
        registered,
        connected: st.connected.load(Ordering::Relaxed),
        head_seq,
        acked_seq: acked,
        pending: head_seq.saturating_sub(acked),
        last_contact_ms: (last > 0).then_some(last),
        warning: offline_long.then(|| {
            "No contact with the hub for over 72 hours. Everything here keeps working; \
             the events made meanwhile are kept and will sync when the line is back."
                .to_string()
        }),
        leaf: st.leaf(),
        fork: st.fork(),
    }
}

/// Sync status: pending events, last contact, and the 72-hour warning.
#[utoipa::path(get, path = "/api/v1/sync", tag = "log", security(("bearer" = ["staff:ui"])),
    responses((status = 200, body = SyncView), (status = 401, body = ErrorBody)))]
async fn get_sync(
    State(s): State<AppState>,
    _who: Require<StaffUi>,
) -> Result<Json<SyncView>, ApiError> {
    let head = s.reader.head_seq().await?;
    Ok(Json(sync_view(&s, head)))
}
