//! The hub's HTTP surface: [`app`] builds the whole router (the admin API,
//! registration, the admin pages, the display fallback, media, the release
//! files) with its security headers. Feature modules use `error` and
//! `auth` (who calls, and what they may do); those use none of them.

pub mod accounts;
pub mod actions;
pub mod admin;
pub mod auth;
pub mod console;
pub mod display;
pub mod dist;
pub mod downstream;
pub mod error;
pub mod hub_keys;
pub mod leaf_credentials;
pub mod media;
pub mod register;
pub mod reports;
pub mod staff_pages;
pub mod venues;

use crate::{b64, App};
use axum::extract::State;
use axum::http::header;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;
use std::sync::atomic::Ordering;

/// Every route the hub serves, with its security headers.
pub fn app(state: App) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/api/openapi.json",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    include_str!("../../api/openapi.json"),
                )
            }),
        )
        .route("/api/v1/hub", get(hub_info))
        .route(
            "/api/v1/venues",
            post(venues::create_venue).get(venues::list_venues),
        )
        .route("/api/v1/venues/{id}/tokens", post(venues::create_token))
        .route("/api/v1/venues/{id}/events", get(venues::venue_events))
        .route("/api/v1/venues/{id}/problems", get(venues::venue_problems))
        .route("/api/v1/register", post(register::register))
        .route("/api/v1/resync", post(register::resync))
        .route("/api/v1/nodes", get(venues::list_nodes))
        .route("/api/v1/alerts", get(venues::list_alerts))
        .route("/api/v1/nodes/{node}/revoke", post(venues::revoke))
        .route("/api/v1/nodes/{node}/wipe", post(venues::wipe))
        .merge(accounts::routes())
        .merge(actions::routes())
        .merge(admin::routes())
        .merge(console::routes())
        .merge(reports::routes())
        .merge(hub_keys::routes())
        .merge(leaf_credentials::routes())
        .merge(staff_pages::routes())
        .merge(display::routes())
        .merge(media::routes())
        .merge(dist::routes())
        .route(
            "/api/v1/venues/{id}/templates",
            post(downstream::send_template),
        )
        .route(
            "/api/v1/venues/{id}/announcements",
            post(downstream::send_announcement),
        )
        .route("/api/v1/venues/{id}/updates", post(downstream::send_update))
        .with_state(state)
        .layer(headers(
            header::CONTENT_SECURITY_POLICY,
            pvm_shared::web::CSP,
        ))
        // Not `no-referrer` as on the node: the admin forms are checked by
        // their Origin, which browsers send as "null" under `no-referrer`.
        .layer(headers(header::REFERRER_POLICY, "same-origin"))
        .layer(headers(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(headers(header::X_FRAME_OPTIONS, "DENY"))
        .layer(axum::middleware::map_request(host_from_authority))
}

/// HTTP/2 (what browsers and curl speak to the hub over TLS) carries the
/// host as the `:authority` of the URI, not a `Host` header: give it one, so
/// the admin forms' origin check and `/install.sh`'s address see it.
pub async fn host_from_authority(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.headers().contains_key(header::HOST) {
        let authority = req
            .uri()
            .authority()
            .and_then(|a| header::HeaderValue::from_str(a.as_str()).ok());
        if let Some(host) = authority {
            req.headers_mut().insert(header::HOST, host);
        }
    }
    req
}

/// A response header every answer gets (unless the handler set it), as on the node.
pub fn headers(
    name: header::HeaderName,
    value: &'static str,
) -> tower_http::set_header::SetResponseHeaderLayer<header::HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::if_not_present(
        name,
        header::HeaderValue::from_static(value),
    )
}

/// Public facts about the hub: its key, JetStream domain and the leaf
/// link's CA (nodes registered before the leaf link had TLS fetch it here).
pub async fn hub_info(State(app): State<App>) -> Json<serde_json::Value> {
    Json(json!({
        "public_key": b64().encode(app.key.current().verifying_key().as_bytes()),
        "nats_domain": "hub",
        "leaf_ca": &*app.leaf_ca,
    }))
}

pub async fn metrics(State(app): State<App>) -> String {
    let c = &app.hub.counts;
    format!(
        "pvm_cloud_events_accepted_total {}\npvm_cloud_events_duplicate_total {}\npvm_cloud_events_rejected_total {}\npvm_cloud_events_waiting_total {}\npvm_cloud_ingest_batches_total {}\npvm_cloud_heartbeats_dropped_total {}\npvm_cloud_events_folded_total {}\npvm_cloud_partitions_owned {}\n",
        c.accepted.load(Ordering::Relaxed),
        c.duplicate.load(Ordering::Relaxed),
        c.rejected.load(Ordering::Relaxed),
        c.waiting.load(Ordering::Relaxed),
        c.batches.load(Ordering::Relaxed),
        c.heartbeats_dropped.load(Ordering::Relaxed),
        c.folded.load(Ordering::Relaxed),
        c.partitions.load(Ordering::Relaxed),
    )
}
