//! The wall displays' own side over HTTP: the kiosk page
//! (`/display/<device-id>`), its script and service worker, its live feed
//! (WebSocket, SSE as fallback) and the challenge a kiosk checks the node's
//! key with. Staff control screens through `displays`.
//!
//! Feed protocol (JSON text frames): on connect `snapshot` with every part
//! of the model and what the device is told about itself; after each change
//! a `delta` with the parts that changed; `tick` every 2 s (server time, and
//! proof the link is alive); `pong` answers a screen's `ping` for its clock
//! offset; `identify` flashes the code. Anything else a screen sends is
//! ignored, and a screen that keeps sending garbage or stops reading is cut off.

use super::auth::ClientAddr;
use super::error::{ApiError, ErrorBody};
use super::extract::AppPath;
use super::page::static_file;
use super::AppState;
use crate::displays::{Admitted, Published, Refusal};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ed25519_dalek::Signer;
use pvm_display::{DeviceInfo, Model};
use pvm_shared::displays::valid_device_id;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// A screen that has not read a frame for this long is cut off.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames a screen may send that are not a ping before it is cut off.
const MAX_GARBAGE: u32 = 20;

#[derive(OpenApi)]
#[openapi(paths(challenge), components(schemas(Challenge)))]
pub struct DisplayFeedDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/display", get(page_new))
        .route("/display/static/display.js", get(script))
        .route("/display/static/display.css", get(style))
        .route("/display/static/icon.svg", get(icon))
        .route("/display/manifest.webmanifest", get(manifest))
        .route("/display/sw.js", get(service_worker))
        .route("/display/challenge", get(challenge))
        .route("/display/ws/{device}", get(ws))
        .route("/display/events/{device}", get(sse))
        .route("/display/{device}", get(page))
}

async fn script() -> Response {
    static_file("application/javascript; charset=utf-8", pvm_display::SCRIPT)
}

async fn style() -> Response {
    static_file("text/css; charset=utf-8", pvm_display::STYLE)
}

async fn icon() -> Response {
    static_file("image/svg+xml", pvm_display::ICON)
}

async fn manifest() -> Response {
    static_file("application/manifest+json", pvm_display::MANIFEST)
}

/// The service worker: never cached by HTTP (a browser checks it for
/// updates), and allowed to control the bare `/display` as well.
async fn service_worker() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::HeaderName::from_static("service-worker-allowed"),
                "/display",
            ),
        ],
        pvm_display::SERVICE_WORKER,
    )
        .into_response()
}

fn page_html(app: &AppState, device: &str) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(pvm_display::page(device, "", false, app.sync.hub_display())),
    )
        .into_response()
}

/// A bare `/display`: the page makes the screen an id and keeps it.
async fn page_new(State(app): State<AppState>) -> Response {
    page_html(&app, "")
}

pub(super) fn checked_device(device: &str) -> Result<(), ApiError> {
    if valid_device_id(device) {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "a display id is 1 to 64 letters, digits, - or _",
        ))
    }
}

async fn page(
    State(app): State<AppState>,
    AppPath(device): AppPath<String>,
) -> Result<Response, ApiError> {
    checked_device(&device)?;
    Ok(page_html(&app, &device))
}

/// What a kiosk checks before it trusts an address it found over mDNS.
#[derive(Debug, Serialize, ToSchema)]
pub struct Challenge {
    pub node_id: Uuid,
    pub venue_id: Uuid,
    /// The node's ed25519 public key, base64 (the same as in the mDNS TXT record).
    pub public_key: String,
    /// base64 ed25519 signature over `pvm-kiosk-challenge:` + nonce.
    pub signature: String,
}

#[derive(Debug, Deserialize)]
struct NonceQuery {
    nonce: String,
}

/// The bytes a challenge signature covers.
pub fn challenge_message(nonce: &str) -> Vec<u8> {
    format!("pvm-kiosk-challenge:{nonce}").into_bytes()
}

/// Sign a kiosk's nonce with the node key (public: proves which node answers).
#[utoipa::path(get, path = "/display/challenge", tag = "displays", security(()),
    params(("nonce" = String, Query, description = "16 to 128 hex characters")),
    responses((status = 200, body = Challenge), (status = 422, body = ErrorBody)))]
async fn challenge(
    State(s): State<AppState>,
    q: Result<Query<NonceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Challenge>, ApiError> {
    let Query(q) = q?;
    let ok = (16..=128).contains(&q.nonce.len()) && q.nonce.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        return Err(ApiError::invalid("nonce: 16 to 128 hex characters"));
    }
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let id = &s.identity;
    Ok(Json(Challenge {
        node_id: id.node_id,
        venue_id: id.venue_id,
        public_key: b64.encode(id.key.verifying_key().as_bytes()),
        signature: b64.encode(id.key.sign(&challenge_message(&q.nonce)).to_bytes()),
    }))
}

/// A frame for one device: the parts that changed since `sent`, and what it
/// is told about itself when that changed.
fn frame(
    kind: &str,
    p: &Published,
    sent: Option<&Model>,
    device: Option<&DeviceInfo>,
    server_ms: u64,
) -> String {
    pvm_display::frame(kind, p.version, server_ms, &p.model, sent, device)
}

/// A screen connects: a well-formed id, and room for its feed within every
/// limit (docs/OPERATIONS.md, "Wall displays").
fn admit(s: &AppState, device: &str, address: &str) -> Result<Admitted, ApiError> {
    checked_device(device)?;
    let known = s.log.venue().displays.devices.contains_key(device);
    s.displays.admit(device, known, address).map_err(|why| {
        let message = match why {
            Refusal::Unnamed => {
                "too many unnamed screens are waiting: name some in the screen manager"
            }
            Refusal::Device => "this display id already has as many live feeds as it may",
            Refusal::Address => "too many live display feeds from this address",
            Refusal::Total => "the node is serving as many live display feeds as it can",
        };
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_screens", message)
    })
}

async fn ws(
    State(s): State<AppState>,
    AppPath(device): AppPath<String>,
    ClientAddr(address): ClientAddr,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let admitted = admit(&s, &device, &address)?;
    // Small buffers: 2,000 screens must fit in a Pi's memory.
    Ok(upgrade
        .max_message_size(4096)
        .max_frame_size(4096)
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .on_upgrade(move |socket| async move {
            feed(&s, &device, socket).await;
            drop(admitted);
        }))
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

async fn feed(s: &AppState, device: &str, mut socket: WebSocket) {
    let closing = s.displays.closing();
    tokio::pin!(closing);
    let mut models = s.displays.subscribe();
    let mut identify = s.displays.identify_events();
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    ticker.tick().await;
    let first = models.borrow_and_update().clone();
    let mut info = DeviceInfo::of(&first.state, device);
    s.displays.touch(
        device,
        info.playlist.views.first().map_or("", |v| v.label()),
    );
    if !send(
        &mut socket,
        frame("snapshot", &first, None, Some(&info), s.displays.now_ms()),
    )
    .await
    {
        return;
    }
    let mut sent = first.model;
    let mut garbage = 0u32;
    loop {
        tokio::select! {
            _ = &mut closing => {
                // The node is stopping: say so; the screen reconnects (or falls back).
                let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(None))).await;
                return;
            }
            changed = models.changed() => {
                if changed.is_err() {
                    return;
                }
                let p = models.borrow_and_update().clone();
                let now_info = DeviceInfo::of(&p.state, device);
                let device_changed = now_info != info;
                if device_changed {
                    info = now_info;
                    s.displays.touch(device, info.playlist.views.first().map_or("", |v| v.label()));
                }
                if Arc::ptr_eq(&p.model, &sent) && !device_changed {
                    continue;
                }
                let text = frame("delta", &p, Some(&sent), device_changed.then_some(&info), s.displays.now_ms());
                if !send(&mut socket, text).await {
                    return;
                }
                sent = p.model;
            }
            _ = ticker.tick() => {
                s.displays.touch(device, "");
                let text = pvm_display::tick_frame(s.displays.now_ms());
                if !send(&mut socket, text).await {
                    return;
                }
            }
            who = identify.recv() => {
                if matches!(who.as_deref(), Ok(d) if d == device) {
                    let text = "{\"type\":\"identify\"}".to_string();
                    if !send(&mut socket, text).await {
                        return;
                    }
                }
            }
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(Message::Binary(_))) => {
                        garbage += 1;
                        if garbage > MAX_GARBAGE { return; }
                        continue;
                    }
                };
                match serde_json::from_str::<Ping>(&text) {
                    Ok(Ping { kind, t }) if kind == "ping" => {
                        let reply = pvm_display::pong_frame(t, s.displays.now_ms());
                        if !send(&mut socket, reply).await {
                            return;
                        }
                    }
                    _ => {
                        garbage += 1;
                        if garbage > MAX_GARBAGE {
                            let _ = socket.send(Message::Close(None)).await;
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct Ping {
    #[serde(rename = "type")]
    kind: String,
    t: f64,
}

/// The SSE fallback: a snapshot whenever the model changes (the event id is
/// its version; a screen that reconnects with the current one gets no
/// repeat), and a tick every 2 s.
async fn sse(
    State(s): State<AppState>,
    AppPath(device): AppPath<String>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let admitted = admit(&s, &device, &address)?;
    let last_id: Option<u64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let models = s.displays.subscribe();
    struct Feed {
        s: AppState,
        device: String,
        models: tokio::sync::watch::Receiver<Published>,
        last: Option<u64>,
        ticker: tokio::time::Interval,
        closing: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
        /// Released when the stream is dropped.
        _admitted: Admitted,
    }
    let closing = Box::pin(s.displays.closing());
    let feed = Feed {
        s,
        device,
        models,
        last: last_id,
        ticker: tokio::time::interval(Duration::from_secs(2)),
        closing,
        _admitted: admitted,
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        let current = f.models.borrow_and_update().clone();
        if f.last != Some(current.version) {
            f.last = Some(current.version);
            let info = DeviceInfo::of(&current.state, &f.device);
            let text = frame(
                "snapshot",
                &current,
                None,
                Some(&info),
                f.s.displays.now_ms(),
            );
            let event = Event::default().id(current.version.to_string()).data(text);
            return Some((Ok::<Event, std::convert::Infallible>(event), f));
        }
        tokio::select! {
            // The node is stopping: the stream ends (the screen reconnects).
            _ = f.closing.as_mut() => None,
            changed = f.models.changed() => {
                // No more models (the fan-out stopped): end, never spin.
                changed.ok()?;
                let event = Event::default().comment("changed");
                Some((Ok(event), f))
            }
            _ = f.ticker.tick() => {
                f.s.displays.touch(&f.device, "");
                let text = pvm_display::tick_frame(f.s.displays.now_ms());
                Some((Ok(Event::default().data(text)), f))
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
