//! The wall displays over HTTP: the kiosk page (`/display/<device-id>`), its
//! live feed (WebSocket, SSE as fallback), the challenge a kiosk checks the
//! node's key with, and the API staff control screens through.
//!
//! Feed protocol (JSON text frames): on connect `snapshot` with every part
//! of the model and what the device is told about itself; after each change
//! a `delta` with the parts that changed; `tick` every 2 s (server time, and
//! proof the link is alive); `pong` answers a screen's `ping` for its clock
//! offset; `identify` flashes the code. Anything else a screen sends is
//! ignored, and a screen that keeps sending garbage or stops reading is cut off.

use super::auth::{ClientAddr, DisplaysControl, Require};
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath};
use super::page::static_file;
use super::AppState;
use crate::displays::{Admitted, Published, Refusal};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ed25519_dalek::Signer;
use pvm_display::{DeviceInfo, Model};
use pvm_shared::displays::{
    valid_device_id, Announcement, Device, DisplayEvent, Playlist, Slide, Theme,
};
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
#[openapi(
    paths(list_displays, save_display, forget_display, identify, announce, end_announcement,
        save_group, save_slide, remove_slide, set_theme, set_logo, upload_media, media, challenge),
    components(schemas(DisplayView, DeviceRequest, AnnounceRequest, GroupRequest, SlideRequest,
        ThemeRequest, LogoRequest, Uploaded, Challenge, Device, Playlist, Announcement, Slide, Theme, pvm_shared::displays::View)),
    tags((name = "displays", description = "Wall displays: devices, views, announcements"))
)]
pub struct DisplayDoc;

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
        .route("/api/v1/displays", get(list_displays))
        .route(
            "/api/v1/displays/{device}",
            put(save_display).delete(forget_display),
        )
        .route("/api/v1/displays/{device}/identify", post(identify))
        .route("/api/v1/announcements", post(announce))
        .route(
            "/api/v1/announcements/{id}",
            axum::routing::delete(end_announcement),
        )
        .route("/api/v1/display-groups/{name}", put(save_group))
        .route("/api/v1/slides", post(save_slide))
        .route("/api/v1/slides/{id}", axum::routing::delete(remove_slide))
        .route("/api/v1/display-theme", put(set_theme))
        .route("/api/v1/display-logo", put(set_logo))
        .route(
            "/api/v1/media",
            post(upload_media).layer(axum::extract::DefaultBodyLimit::max(
                crate::media::MAX_MEDIA + 1,
            )),
        )
        .route("/display/media/{name}", get(media))
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

fn checked_device(device: &str) -> Result<(), ApiError> {
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

/// A display as the screen manager shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisplayView {
    pub id: String,
    pub code: String,
    /// None until staff name it.
    pub name: Option<String>,
    pub group: Option<String>,
    pub online: bool,
    pub last_seen_ms: Option<u64>,
    /// The view it shows (the first of its playlist).
    pub view: String,
    pub playlist: Playlist,
    /// Its own playlist, not its group's.
    pub own_playlist: bool,
}

pub(super) fn display_views(s: &AppState) -> Vec<DisplayView> {
    let state = s.log.venue();
    let seen = s.displays.seen();
    let mut ids: Vec<String> = state.displays.devices.keys().cloned().collect();
    for id in seen.keys() {
        if !state.displays.devices.contains_key(id) {
            ids.push(id.clone());
        }
    }
    let mut out: Vec<DisplayView> = ids
        .into_iter()
        .map(|id| {
            let device = state.displays.devices.get(&id);
            let playlist = state.displays.playlist_of(&id);
            let seen = seen.get(&id);
            DisplayView {
                code: pvm_shared::displays::device_code(&id),
                name: device.map(|d| d.name.clone()),
                group: device.and_then(|d| d.group.clone()),
                online: seen.is_some_and(|x| x.connections > 0),
                last_seen_ms: seen.map(|x| x.last_seen_ms),
                view: playlist
                    .views
                    .iter()
                    .map(|v| v.label())
                    .collect::<Vec<_>>()
                    .join(" → "),
                own_playlist: device.is_some_and(|d| d.playlist.is_some()),
                playlist,
                id,
            }
        })
        .collect();
    // Unnamed screens first (they want attention), then by name.
    out.sort_by(|a, b| {
        (a.name.is_some(), a.name.clone(), a.id.clone()).cmp(&(
            b.name.is_some(),
            b.name.clone(),
            b.id.clone(),
        ))
    });
    out
}

/// Every screen: named ones and new ones waiting to be named, online or not.
#[utoipa::path(get, path = "/api/v1/displays", tag = "displays", security(("bearer" = ["displays:control"])),
    responses((status = 200, body = [DisplayView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_displays(
    State(s): State<AppState>,
    _who: Require<DisplaysControl>,
) -> Json<Vec<DisplayView>> {
    Json(display_views(&s))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    pub name: String,
    #[serde(default)]
    pub group: Option<String>,
    /// Its own views; leave out to follow its group's playlist.
    #[serde(default)]
    pub playlist: Option<Playlist>,
}

pub(super) async fn change(
    s: &AppState,
    who: &crate::auth::Principal,
    change: DisplayEvent,
) -> Result<(), ApiError> {
    crate::ops::displays::change(&s.log, who.actor(), s.clock.now_ms(), change).await?;
    Ok(())
}

/// Name a display, put it in a group, and choose what it shows.
#[utoipa::path(put, path = "/api/v1/displays/{device}", tag = "displays", request_body = DeviceRequest,
    security(("bearer" = ["displays:control"])), params(("device" = String, Path, description = "Display id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_display(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppPath(device): AppPath<String>,
    AppJson(req): AppJson<DeviceRequest>,
) -> Result<StatusCode, ApiError> {
    checked_device(&device)?;
    let d = Device {
        id: device,
        name: req.name,
        group: req.group,
        playlist: req.playlist,
    };
    change(&s, who.principal(), DisplayEvent::DeviceSaved { device: d }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Forget a display (it shows up again as new if it reconnects).
#[utoipa::path(delete, path = "/api/v1/displays/{device}", tag = "displays",
    security(("bearer" = ["displays:control"])), params(("device" = String, Path, description = "Display id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn forget_display(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppPath(device): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    change(
        &s,
        who.principal(),
        DisplayEvent::DeviceForgotten { device_id: device },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Flash the display's code on its screen for ten seconds.
#[utoipa::path(post, path = "/api/v1/displays/{device}/identify", tag = "displays",
    security(("bearer" = ["displays:control"])), params(("device" = String, Path, description = "Display id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn identify(
    State(s): State<AppState>,
    _who: Require<DisplaysControl>,
    AppPath(device): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    checked_device(&device)?;
    let known = s.log.venue().displays.devices.contains_key(&device)
        || s.displays.seen().contains_key(&device);
    if !known {
        return Err(ApiError::not_found(format!("no display {device}")));
    }
    s.displays.identify(&device);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnounceRequest {
    pub text: String,
    /// A group's screens only; leave out for every screen.
    #[serde(default)]
    pub group: Option<String>,
    /// How long it shows, 1 to 1440.
    pub minutes: u32,
}

/// Show a message over every screen, or a group's, until it expires.
#[utoipa::path(post, path = "/api/v1/announcements", tag = "displays", request_body = AnnounceRequest,
    security(("bearer" = ["displays:control"])),
    responses((status = 201, body = Announcement), (status = 422, body = ErrorBody)))]
async fn announce(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppJson(req): AppJson<AnnounceRequest>,
) -> Result<(StatusCode, Json<Announcement>), ApiError> {
    let a = Announcement {
        id: Uuid::now_v7(),
        text: req.text,
        group: req.group,
        until_ms: s.clock.now_ms() + req.minutes.min(100_000) as u64 * 60_000,
    };
    change(
        &s,
        who.principal(),
        DisplayEvent::Announced {
            announcement: a.clone(),
        },
    )
    .await?;
    let saved = s
        .log
        .venue()
        .displays
        .announcements
        .get(&a.id)
        .cloned()
        .unwrap_or(a);
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Take an announcement down early.
#[utoipa::path(delete, path = "/api/v1/announcements/{id}", tag = "displays",
    security(("bearer" = ["displays:control"])), params(("id" = Uuid, Path, description = "Announcement id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn end_announcement(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    change(&s, who.principal(), DisplayEvent::AnnouncementEnded { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    pub playlist: Playlist,
}

/// A group's playlist, for its screens that have none of their own.
#[utoipa::path(put, path = "/api/v1/display-groups/{name}", tag = "displays", request_body = GroupRequest,
    security(("bearer" = ["displays:control"])), params(("name" = String, Path, description = "Group name")),
    responses((status = 204), (status = 422, body = ErrorBody)))]
async fn save_group(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppPath(name): AppPath<String>,
    AppJson(req): AppJson<GroupRequest>,
) -> Result<StatusCode, ApiError> {
    change(
        &s,
        who.principal(),
        DisplayEvent::GroupSaved {
            name,
            playlist: req.playlist,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlideRequest {
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// An image uploaded with `POST /api/v1/media`.
    #[serde(default)]
    pub image: Option<String>,
}

/// Refuses an image name that was never uploaded here.
pub(super) fn uploaded(s: &AppState, image: Option<&str>) -> Result<(), ApiError> {
    match image {
        Some(name) if !s.media.has(name) => Err(ApiError::invalid(format!(
            "image: {name:?} was not uploaded here (POST /api/v1/media first)"
        ))),
        _ => Ok(()),
    }
}

/// Add a text slide.
#[utoipa::path(post, path = "/api/v1/slides", tag = "displays", request_body = SlideRequest,
    security(("bearer" = ["displays:control"])),
    responses((status = 201, body = Slide), (status = 422, body = ErrorBody)))]
async fn save_slide(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppJson(req): AppJson<SlideRequest>,
) -> Result<(StatusCode, Json<Slide>), ApiError> {
    uploaded(&s, req.image.as_deref())?;
    let slide = Slide {
        id: Uuid::now_v7(),
        title: req.title,
        body: req.body,
        image: req.image,
    };
    change(
        &s,
        who.principal(),
        DisplayEvent::SlideSaved {
            slide: slide.clone(),
        },
    )
    .await?;
    let saved = s
        .log
        .venue()
        .displays
        .slides
        .get(&slide.id)
        .cloned()
        .unwrap_or(slide);
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Remove a slide.
#[utoipa::path(delete, path = "/api/v1/slides/{id}", tag = "displays",
    security(("bearer" = ["displays:control"])), params(("id" = Uuid, Path, description = "Slide id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_slide(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    change(&s, who.principal(), DisplayEvent::SlideRemoved { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThemeRequest {
    pub theme: Theme,
}

/// The displays' theme: dark, high contrast or light.
#[utoipa::path(put, path = "/api/v1/display-theme", tag = "displays", request_body = ThemeRequest,
    security(("bearer" = ["displays:control"])),
    responses((status = 204), (status = 422, body = ErrorBody)))]
async fn set_theme(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppJson(req): AppJson<ThemeRequest>,
) -> Result<StatusCode, ApiError> {
    change(
        &s,
        who.principal(),
        DisplayEvent::ThemeSet { theme: req.theme },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoRequest {
    /// An image uploaded with `POST /api/v1/media`; null for none.
    pub image: Option<String>,
}

/// The venue's logo on every screen.
#[utoipa::path(put, path = "/api/v1/display-logo", tag = "displays", request_body = LogoRequest,
    security(("bearer" = ["displays:control"])),
    responses((status = 204), (status = 422, body = ErrorBody)))]
async fn set_logo(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    AppJson(req): AppJson<LogoRequest>,
) -> Result<StatusCode, ApiError> {
    uploaded(&s, req.image.as_deref())?;
    change(
        &s,
        who.principal(),
        DisplayEvent::LogoSet { image: req.image },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An uploaded image, by the name its content gives it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub name: String,
    pub url: String,
}

/// Upload an image for slides or the logo: PNG, JPEG or WebP, up to 2 MiB, as the raw body.
#[utoipa::path(post, path = "/api/v1/media", tag = "displays", request_body(content = Vec<u8>, content_type = "image/png"),
    security(("bearer" = ["displays:control"])),
    responses((status = 201, body = Uploaded), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn upload_media(
    State(s): State<AppState>,
    _who: Require<DisplaysControl>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let name = store_media(&s, &body)?;
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            url: format!("/display/media/{name}"),
            name,
        }),
    ))
}

pub(super) fn store_media(s: &AppState, bytes: &[u8]) -> Result<String, ApiError> {
    use crate::media::MediaError;
    s.media.put(bytes).map_err(|e| match e {
        MediaError::TooLarge => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        MediaError::NotAnImage => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_an_image",
            e.to_string(),
        ),
        MediaError::Io(_) => ApiError::internal(e),
    })
}

/// An uploaded image (public: screens show it).
#[utoipa::path(get, path = "/display/media/{name}", tag = "displays", security(()),
    params(("name" = String, Path, description = "Image name")),
    responses((status = 200, description = "the image"), (status = 404, body = ErrorBody)))]
async fn media(
    State(s): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    let (bytes, content_type) = s
        .media
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("no image {name}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        bytes,
    )
        .into_response())
}
