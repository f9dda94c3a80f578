//! HTTP: the REST API under `/api/v1`, the staff pages, health and metrics.
//!
//! `router` builds the whole app from its state, so tests can call it
//! without a socket; `serve` runs it on a listener until `shutdown` fires.

mod account;
pub mod api;
pub mod auth;
mod board;
pub mod cash;
mod display_feed;
mod displays;
mod docs;
pub mod error;
pub mod extract;
mod keys_page;
mod list_rules;
mod log_page;
mod login;
mod markup;
pub mod openapi;
mod page;
mod players_page;
mod screens;
mod staff;
mod staff_accounts;
mod structure_pages;
mod tournament_field;
mod tournament_pages;
mod tournaments;

use crate::identity::NodeIdentity;
use crate::metrics::Metrics;
use crate::store::{Log, Reader};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use error::ApiError;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;

/// Request bodies above this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;

/// No inline script or style, nothing from elsewhere, never framed.
pub use pvm_shared::web::CSP;

#[derive(Clone)]
pub struct AppState {
    pub sync: Arc<crate::sync::SyncStatus>,
    pub media: Arc<crate::media::MediaStore>,
    pub displays: Arc<crate::displays::DisplayFeeds>,
    pub auth: Arc<crate::auth::AuthService>,
    pub clock: Arc<dyn crate::store::writer::TimeSource>,
    pub log: Log,
    pub reader: Reader,
    pub metrics: Arc<Metrics>,
    pub identity: Arc<NodeIdentity>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`).
    pub proxies: Arc<auth::TrustedProxies>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(account::routes())
        .merge(cash::routes())
        .merge(tournaments::routes())
        .merge(tournament_field::routes())
        .merge(display_feed::routes())
        .merge(displays::routes())
        .merge(screens::routes())
        .merge(tournament_pages::routes())
        .merge(structure_pages::routes())
        .merge(staff::routes())
        .merge(staff_accounts::routes())
        .merge(players_page::routes())
        .merge(list_rules::routes())
        .merge(log_page::routes())
        .merge(keys_page::routes())
        .merge(board::routes())
        .merge(docs::routes())
        .merge(openapi::routes())
        .merge(page::routes())
        .merge(login::routes())
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::sessions,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .with_state(state)
}

/// A client must send a request's whole header within this, also the next
/// request on a kept-alive connection (so it is the idle timeout too):
/// a slowloris connection is closed, never held. HTTP/1 only: browsers
/// never speak plain-text HTTP/2, and its preface would be read untimed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open HTTP connections at once (staff, API, SSE feeds); past it a new
/// connection is closed as soon as it is accepted. A WebSocket leaves this
/// count when it upgrades and counts against the display feed limits instead.
pub const MAX_CONNECTIONS: usize = 6_000;
/// How long a stopping node waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves until `shutdown` is cancelled, then finishes in-flight requests
/// (for up to 10 s). Every connection has a header-read and idle timeout
/// and counts against `MAX_CONNECTIONS`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::Service;
    // Live screens end their feeds as soon as the node begins to stop, so
    // the graceful shutdown below never waits on an endless stream.
    let displays = state.displays.clone();
    let closing = shutdown.clone();
    tokio::spawn(async move {
        closing.cancelled().await;
        displays.close_feeds();
    });
    let metrics = state.metrics.clone();
    let app = router(state);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = tokio_util::task::TaskTracker::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, never spin.
                    metrics.connection_refused();
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connection_refused();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                app.clone().call(req.map(axum::body::Body::new))
            });
        let conn = http1
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = shutdown.clone();
        connections.spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    // Finish the request in flight, take no more.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests still running after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

/// Times every request by its route template (not its raw path, which would explode the label set).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    let took = start.elapsed();
    state
        .metrics
        .observe_request(&method, &route, response.status().as_u16(), took);
    tracing::info!(
        method,
        route,
        status = response.status().as_u16(),
        ms = took.as_secs_f64() * 1e3,
        "request"
    );
    response
}

/// Liveness: the process is up and answering.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers. With `?leaf=connected` (what the
/// updater checks before it keeps a new node), a registered node is ready
/// only once its leaf is linked to the hub.
async fn ready(
    State(state): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let want_leaf = query.as_deref() == Some("leaf=connected");
    if want_leaf
        && state
            .sync
            .registered
            .load(std::sync::atomic::Ordering::Relaxed)
        && state.sync.leaf().connected != Some(true)
    {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the leaf is not linked to the hub",
        )
        .into_response();
    }
    // Writes: a node that reads but cannot commit is not ready (a writer
    // stopped or failed for good, or a full disk).
    if let Err(reason) = state.log.ready().await {
        tracing::error!(%reason, "readiness: the writer cannot commit");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("the node cannot save changes: {reason}"),
        )
        .into_response();
    }
    match state.reader.ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ready", "database": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database is not answering",
            )
            .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write;
    let mut text = state.metrics.render();
    let _ = writeln!(
        text,
        "# HELP pvm_display_feeds_refused_total Display feeds refused (429) past a limit, by limit.\n\
         # TYPE pvm_display_feeds_refused_total counter"
    );
    for why in crate::displays::Refusal::ALL {
        let _ = writeln!(
            text,
            "pvm_display_feeds_refused_total{{limit=\"{}\"}} {}",
            why.label(),
            state.displays.refused(why)
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such page or endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// "12 s ago", "5 min ago", "3 h ago".
pub(crate) fn time_ago(now: u64, then: u64) -> String {
    let s = now.saturating_sub(then) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

#[cfg(test)]
mod layering {
    use std::collections::{BTreeMap, BTreeSet};

    /// Which sibling modules each `http` module names (`super::x`).
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
        let files: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("src/http")
            .filter_map(|e| {
                let path = e.ok()?.path();
                let name = path.file_stem()?.to_str()?.to_owned();
                (name != "mod").then(|| Some((name, std::fs::read_to_string(&path).ok()?)))?
            })
            .collect();
        let names: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
        files
            .iter()
            .map(|(name, text)| {
                let used = text
                    .match_indices("super::")
                    .filter_map(|(at, _)| {
                        let rest = &text[at + "super::".len()..];
                        let word: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect();
                        (names.contains(&word) && &word != name).then_some(word)
                    })
                    .collect();
                (name.clone(), used)
            })
            .collect()
    }

    #[test]
    fn http_modules_import_in_one_direction_only() {
        let graph = imports();
        assert!(graph.len() > 10, "{graph:?}");
        // The kit at the bottom uses no feature module.
        for base in ["error", "markup", "extract"] {
            let used = &graph[base];
            assert!(
                used.iter()
                    .all(|u| ["error", "markup"].contains(&u.as_str())),
                "{base} uses {used:?}"
            );
        }
        for (from, to) in graph
            .iter()
            .flat_map(|(f, ts)| ts.iter().map(move |t| (f, t)))
        {
            // Is `from` reachable again from `to`?
            let mut seen = BTreeSet::new();
            let mut stack = vec![to.clone()];
            while let Some(m) = stack.pop() {
                assert!(
                    &m != from,
                    "http::{from} uses http::{to}, which leads back to {from}: {graph:?}"
                );
                if seen.insert(m.clone()) {
                    stack.extend(graph.get(&m).into_iter().flatten().cloned());
                }
            }
        }
    }
}
