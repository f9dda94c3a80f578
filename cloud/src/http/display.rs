//! The display fallback: the hub serves each venue's display pages from its
//! synced copy of the venue's state, at `/venues/<venue>/display/<device>`
//! (what `pvm-kiosk --fallback` points at when the venue's node does not
//! answer). The same page as on the node, marked "possibly delayed": a full
//! snapshot whenever the venue's state changes (checked every second) and
//! every 30 s for the clocks, a tick every 2 s, pongs for the clock offset.

use super::error::PathOf;
use crate::{now_ms, App};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pvm_display::{DeviceInfo, Model};
use std::time::Duration;
use uuid::Uuid;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/display/static/display.js", get(script))
        .route("/display/static/display.css", get(style))
        .route("/venues/{venue}/display/{device}", get(page))
        .route("/venues/{venue}/display/ws/{device}", get(ws))
        .route("/venues/{venue}/display/events/{device}", get(sse))
}

async fn script() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )],
        pvm_display::SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pvm_display::STYLE,
    )
        .into_response()
}

fn known(app: &App, venue: Uuid) -> bool {
    app.hub
        .venues
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(&venue)
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": {"code": "not_found", "message": what}})),
    )
        .into_response()
}

async fn page(State(app): State<App>, PathOf((venue, device)): PathOf<(Uuid, String)>) -> Response {
    if !pvm_shared::displays::valid_device_id(&device) {
        return not_found("a display id is 1 to 64 letters, digits, - or _");
    }
    if !known(&app, venue) {
        return not_found("no synced venue with that id");
    }
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(pvm_display::page(
            &device,
            &format!("/venues/{venue}"),
            true,
            None,
        )),
    )
        .into_response()
}

async fn ws(
    State(app): State<App>,
    PathOf((venue, device)): PathOf<(Uuid, String)>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !pvm_shared::displays::valid_device_id(&device) || !known(&app, venue) {
        return not_found("no such venue or display");
    }
    upgrade
        .max_message_size(4096)
        .max_frame_size(4096)
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .on_upgrade(move |socket| feed(app, venue, device, socket))
}

/// The same feed as server-sent events, for screens whose WebSocket is blocked.
async fn sse(State(app): State<App>, PathOf((venue, device)): PathOf<(Uuid, String)>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    if !pvm_shared::displays::valid_device_id(&device) || !known(&app, venue) {
        return not_found("no such venue or display");
    }
    struct Feed {
        app: App,
        venue: Uuid,
        device: String,
        pacer: Pacer,
        second: tokio::time::Interval,
    }
    let feed = Feed {
        app,
        venue,
        device,
        pacer: Pacer::default(),
        second: tokio::time::interval(Duration::from_secs(1)),
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        loop {
            f.second.tick().await;
            let event = match f.pacer.beat(&f.app, f.venue, &f.device) {
                Beat::Snapshot(version, text) => {
                    Event::default().id(version.to_string()).data(text)
                }
                Beat::Tick(text) => Event::default().data(text),
                Beat::Nothing => continue,
                Beat::Gone => return None,
            };
            return Some((Ok::<Event, std::convert::Infallible>(event), f));
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn send(socket: &mut WebSocket, text: String) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(5),
            socket.send(Message::Text(text.into()))
        )
        .await,
        Ok(Ok(()))
    )
}

fn snapshot(app: &App, venue: Uuid, device: &str, version: u64) -> Option<String> {
    let state = app
        .hub
        .venues
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&venue)
        .cloned()?;
    let now = now_ms() as u64;
    let model = Model::build(&state, now, None);
    let info = DeviceInfo::of(&state, device);
    Some(pvm_display::frame(
        "snapshot",
        version,
        now,
        &model,
        None,
        Some(&info),
    ))
}

/// What a hub screen gets each second, over either feed: a snapshot when
/// the venue's state changed or every 30 s (for the clocks), else a tick
/// every 2 s.
#[derive(Default)]
struct Pacer {
    sent_version: Option<u64>,
    sent_at: i64,
    ticks: u64,
}

enum Beat {
    Snapshot(u64, String),
    Tick(String),
    Nothing,
    /// The venue is no longer known.
    Gone,
}

impl Pacer {
    fn beat(&mut self, app: &App, venue: Uuid, device: &str) -> Beat {
        self.ticks += 1;
        let version = app.hub.version(venue);
        if self.sent_version != Some(version) || now_ms() - self.sent_at > 30_000 {
            let Some(text) = snapshot(app, venue, device, version) else {
                return Beat::Gone;
            };
            self.sent_version = Some(version);
            self.sent_at = now_ms();
            Beat::Snapshot(version, text)
        } else if self.ticks.is_multiple_of(2) {
            Beat::Tick(pvm_display::tick_frame(now_ms() as u64))
        } else {
            Beat::Nothing
        }
    }
}

async fn feed(app: App, venue: Uuid, device: String, mut socket: WebSocket) {
    let mut pacer = Pacer::default();
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut garbage = 0u32;
    loop {
        tokio::select! {
            _ = second.tick() => {
                let text = match pacer.beat(&app, venue, &device) {
                    Beat::Snapshot(_, text) | Beat::Tick(text) => text,
                    Beat::Nothing => continue,
                    Beat::Gone => return,
                };
                if !send(&mut socket, text).await {
                    return;
                }
            }
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => { garbage += 1; if garbage > 20 { return; } continue; }
                    _ => return,
                };
                let ping = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .filter(|v| v["type"] == "ping")
                    .and_then(|v| v["t"].as_f64());
                match ping {
                    Some(t) => {
                        let reply = pvm_display::pong_frame(t, now_ms() as u64);
                        if !send(&mut socket, reply).await {
                            return;
                        }
                    }
                    None => {
                        garbage += 1;
                        if garbage > 20 {
                            return;
                        }
                    }
                }
            }
        }
    }
}
