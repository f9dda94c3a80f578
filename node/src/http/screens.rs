//! The screen manager: every display with online/offline, last seen, what it
//! shows and its group; name, assign, identify, forget; announce to all or a
//! group; group playlists; slides; the theme; and the display address with a
//! QR code for screens that cannot find the node over mDNS.

use super::auth::{CsrfToken, DisplaysControl, Require};
use super::displays::display_views;
use super::error::ApiError;
use super::page::{csrf_field, layout, run_parsed, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, PreEscaped};
use pvm_shared::displays::{Announcement, Device, DisplayEvent, Playlist, Slide, Theme, View};
use pvm_shared::tournament::play::Status;
use pvm_shared::venue::VenueState;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/screens", get(page))
        .route(
            "/screens/slide",
            post(upload_slide).layer(axum::extract::DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route(
            "/screens/logo",
            post(upload_logo).layer(axum::extract::DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/screens/{action}", post(action))
}

/// An image and the form fields around it.
const UPLOAD_LIMIT: usize = crate::media::MAX_MEDIA + 64 * 1024;

/// The views a screen can be given, as (form value, label).
const VIEWS: [(&str, &str); 6] = [
    ("clock", "Clock"),
    ("tournaments", "All tournaments"),
    ("seat_draw", "Seat draw"),
    ("waiting_lists", "Waiting lists"),
    ("table_status", "Table status"),
    ("slides", "Slides"),
];

fn view_of(value: &str) -> Option<View> {
    Some(match value {
        "clock" => View::Clock { tournament: None },
        "seat_draw" => View::SeatDraw { tournament: None },
        "waiting_lists" => View::WaitingLists,
        "table_status" => View::TableStatus,
        "slides" => View::Slides,
        "tournaments" => View::Tournaments,
        _ => return None,
    })
}

fn value_of(v: &View) -> &'static str {
    match v {
        View::Clock { .. } => "clock",
        View::SeatDraw { .. } => "seat_draw",
        View::WaitingLists => "waiting_lists",
        View::TableStatus => "table_status",
        View::Slides => "slides",
        View::Tournaments => "tournaments",
    }
}

/// The address screens open, from the address staff reached this page by.
fn display_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
        })
        .unwrap_or("pvm.local:8080");
    format!("http://{host}/display")
}

fn qr_svg(text: &str) -> Option<String> {
    use base64::Engine;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(180, 180)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

fn ago(now: u64, then: Option<u64>) -> String {
    then.map_or_else(|| "never".into(), |t| super::time_ago(now, t))
}

/// Which tournament a screen's clock and seat draw follow: the running one
/// (the newest running, else the newest registering), or one chosen here, so
/// a screen beside a satellite never switches to the main event by itself.
fn tournament_select(state: &VenueState, views: &[View]) -> Markup {
    let chosen = views.iter().find_map(|v| match v {
        View::Clock { tournament } | View::SeatDraw { tournament } => *tournament,
        _ => None,
    });
    html! {
        label { "Clock and seat draw of"
            select name="tournament" {
                option value="" selected[chosen.is_none()] { "the running tournament" }
                @for t in state.tournaments.values().filter(|t| !matches!(t.status, Status::Finished | Status::Bagged) || Some(t.id) == chosen) {
                    option value=(t.id) selected[Some(t.id) == chosen] { (t.name) }
                }
            }
        }
    }
}

/// The views ticked, their clock and seat draw following `tournament`.
fn pinned(views: &[View], tournament: Option<Uuid>) -> Vec<View> {
    views
        .iter()
        .map(|v| match v {
            View::Clock { .. } => View::Clock { tournament },
            View::SeatDraw { .. } => View::SeatDraw { tournament },
            other => other.clone(),
        })
        .collect()
}

fn view_boxes(prefix: &str, selected: &[View]) -> Markup {
    html! {
        @for (value, label) in VIEWS {
            label.check { input type="checkbox" name=(prefix) value=(value) checked[selected.iter().any(|v| value_of(v) == value)]; " " (label) }
        }
    }
}

async fn render(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let state = s.log.venue();
    let now = s.clock.now_ms();
    let url = display_url(headers);
    let mut groups: Vec<String> = state.displays.groups.keys().cloned().collect();
    for d in state.displays.devices.values() {
        if let Some(g) = &d.group {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
    }
    groups.sort();
    let body = html! {
        h1 { "Screens" }
        section.new.connect {
            p { "A TV or kiosk opens " strong { (url) } " (or finds this node by itself over mDNS). New screens show a code and appear below." }
            @if let Some(src) = qr_svg(&url) { img.qr src=(src) alt=(format!("QR code for {url}")) width="180" height="180"; }
        }
        ul.tables {
            @for d in display_views(s) {
                li.table.open[d.online] {
                    div.summary {
                        span.name { (d.name.clone().unwrap_or_else(|| format!("New screen {}", d.code))) }
                        span.status { @if d.online { "online" } @else { "offline" } }
                        span.game { "code " strong { (d.code) } " · " (d.view) @if let Some(g) = &d.group { " · group " (g) } }
                        span.seats { "seen " (ago(now, d.last_seen_ms)) }
                    }
                    details open[d.name.is_none()] {
                        summary { @if d.name.is_none() { "Name and assign" } @else { "Change" } }
                        form method="post" action="/screens/save" {
                            (csrf_field(csrf))
                            input type="hidden" name="device" value=(d.id);
                            label { "Name" input name="name" required maxlength="60" value=(d.name.clone().unwrap_or_default()) placeholder="Bar TV"; }
                            label { "Group" input name="group" maxlength="40" value=(d.group.clone().unwrap_or_default()) list="groups" placeholder="none"; }
                            fieldset { legend { "Shows (none ticked: its group's playlist)" }
                                (view_boxes("view", if d.own_playlist { &d.playlist.views } else { &[] })) }
                            (tournament_select(&state, if d.own_playlist { &d.playlist.views } else { &[] }))
                            label { "Seconds per view" input name="rotate" inputmode="numeric" value=(d.playlist.rotate_secs); }
                            button type="submit" { "Save" }
                        }
                        div.buttons {
                            form.inline method="post" action="/screens/identify" { (csrf_field(csrf)) input type="hidden" name="device" value=(d.id); button.secondary type="submit" { "Identify" } }
                            @if d.name.is_some() {
                                form.inline method="post" action="/screens/forget" { (csrf_field(csrf)) input type="hidden" name="device" value=(d.id); button.danger type="submit" { "Forget" } }
                            }
                        }
                    }
                }
            }
        }
        datalist id="groups" { @for g in &groups { option value=(g) {} } }
        section.new {
            h2 { "Announce" }
            form method="post" action="/screens/announce" {
                (csrf_field(csrf))
                label { "Message" input name="text" required maxlength="280" placeholder="Dinner break in 10 minutes"; }
                label { "Screens" select name="group" { option value="" { "all screens" } @for g in &groups { option value=(g) { "group " (g) } } } }
                label { "Minutes" input name="minutes" inputmode="numeric" value="10" required; }
                button type="submit" { "Announce" }
            }
            ul.plain {
                @for a in state.displays.announcements.values().filter(|a| a.until_ms > now) {
                    li { (a.text) " · " (a.group.clone().map(|g| format!("group {g}")).unwrap_or_else(|| "all screens".into()))
                        " · until " (ago(a.until_ms, Some(now)).replace(" ago", "")) " more "
                        form.inline method="post" action="/screens/end" { (csrf_field(csrf)) input type="hidden" name="id" value=(a.id); button.link type="submit" { "End now" } } }
                }
            }
        }
        section.new {
            h2 { "Group playlists" }
            @for (name, p) in &state.displays.groups {
                p { strong { (name) } ": " (p.views.iter().map(|v| v.label()).collect::<Vec<_>>().join(" → ")) ", " (p.rotate_secs) " s each" }
            }
            form method="post" action="/screens/group" {
                (csrf_field(csrf))
                label { "Group" input name="group" required maxlength="40" list="groups"; }
                fieldset { legend { "Shows" } (view_boxes("view", &[])) }
                (tournament_select(&state, &[]))
                label { "Seconds per view" input name="rotate" inputmode="numeric" value="20"; }
                button type="submit" { "Save playlist" }
            }
        }
        section.new {
            h2 { "Slides" }
            ul.plain {
                @for sl in state.displays.slides.values() {
                    li { strong { (sl.title) } " " (sl.body)
                        form.inline method="post" action="/screens/unslide" { (csrf_field(csrf)) input type="hidden" name="id" value=(sl.id); button.link type="submit" { "Remove" } } }
                }
            }
            form method="post" action=(format!("/screens/slide?_csrf={}", csrf.0)) enctype="multipart/form-data" {
                label { "Title" input name="title" required maxlength="80" placeholder="Sunday Deepstack"; }
                label { "Text" input name="body" maxlength="1000" placeholder="Noon start · 50k stack · 300 buy-in"; }
                label { "Image (PNG, JPEG or WebP, up to 2 MiB; optional)" input name="image" type="file" accept="image/png,image/jpeg,image/webp"; }
                button type="submit" { "Add slide" }
            }
        }
        section.new {
            h2 { "Logo" }
            @if let Some(logo) = &state.displays.logo {
                p { img.logo src=(format!("/display/media/{logo}")) alt="the venue's logo" height="60";
                    form.inline method="post" action="/screens/nologo" { (csrf_field(csrf)) button.link type="submit" { "Remove" } } }
            }
            form method="post" action=(format!("/screens/logo?_csrf={}", csrf.0)) enctype="multipart/form-data" {
                label { "Logo for every screen" input name="image" type="file" required accept="image/png,image/jpeg,image/webp"; }
                button type="submit" { "Upload logo" }
            }
        }
        section.new {
            h2 { "Theme" }
            form method="post" action="/screens/theme" {
                (csrf_field(csrf))
                select name="theme" {
                    @for (v, label) in [("dark", "Dark"), ("contrast", "High contrast"), ("light", "Light")] {
                        option value=(v) selected[serde_json::to_value(state.displays.theme).ok().and_then(|t| t.as_str().map(|x| x == v)).unwrap_or(false)] { (label) }
                    }
                }
                button type="submit" { "Set theme" }
            }
        }
        (PreEscaped(""))
    };
    Ok((status, layout(&settings, who, csrf, "Screens", error, body)).into_response())
}

async fn page(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    csrf: CsrfToken,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    render(&s, who.principal(), &csrf, &headers, StatusCode::OK, None).await
}

async fn action(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    csrf: CsrfToken,
    headers: HeaderMap,
    Path(action): Path<String>,
    form: FormResult<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Form(fields) = form?;
    let who = who.principal();
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let views: Vec<View> = fields
        .iter()
        .filter(|(k, _)| k == "view")
        .filter_map(|(_, v)| view_of(v))
        .collect();
    let tournament = || -> Result<Option<Uuid>, String> {
        let raw = get("tournament");
        if raw.is_empty() {
            return Ok(None);
        }
        Uuid::parse_str(&raw)
            .ok()
            .filter(|id| s.log.venue().tournaments.contains_key(id))
            .map(Some)
            .ok_or_else(|| format!("tournament: no tournament {raw:?}"))
    };
    let rotate = || -> Result<u32, String> {
        let r = get("rotate");
        if r.is_empty() {
            return Ok(20);
        }
        r.parse()
            .map_err(|_| format!("seconds per view: {r:?} is not a number"))
    };
    let uuid = |k: &str| Uuid::parse_str(&get(k)).map_err(|_| format!("{k}: not an id"));
    let now = s.clock.now_ms();
    let change: Result<DisplayEvent, String> = match action.as_str() {
        "save" => rotate().and_then(|rotate_secs| {
            let views = pinned(&views, tournament()?);
            Ok(DisplayEvent::DeviceSaved {
                device: Device {
                    id: get("device"),
                    name: get("name"),
                    group: Some(get("group")),
                    playlist: (!views.is_empty()).then_some(Playlist { views, rotate_secs }),
                },
            })
        }),
        "forget" => Ok(DisplayEvent::DeviceForgotten {
            device_id: get("device"),
        }),
        "identify" => {
            s.displays.identify(&get("device"));
            return Ok(Redirect::to("/screens").into_response());
        }
        "announce" => match get("minutes").parse::<u64>() {
            Ok(minutes) => Ok(DisplayEvent::Announced {
                announcement: Announcement {
                    id: Uuid::now_v7(),
                    text: get("text"),
                    group: Some(get("group")),
                    until_ms: now + minutes.min(100_000) * 60_000,
                },
            }),
            Err(_) => Err("minutes: a whole number".into()),
        },
        "end" => uuid("id").map(|id| DisplayEvent::AnnouncementEnded { id }),
        "group" => rotate().and_then(|rotate_secs| {
            Ok(DisplayEvent::GroupSaved {
                name: get("group"),
                playlist: Playlist {
                    views: pinned(&views, tournament()?),
                    rotate_secs,
                },
            })
        }),
        "nologo" => Ok(DisplayEvent::LogoSet { image: None }),
        "unslide" => uuid("id").map(|id| DisplayEvent::SlideRemoved { id }),
        "theme" => match get("theme").as_str() {
            "dark" => Ok(DisplayEvent::ThemeSet { theme: Theme::Dark }),
            "contrast" => Ok(DisplayEvent::ThemeSet {
                theme: Theme::Contrast,
            }),
            "light" => Ok(DisplayEvent::ThemeSet {
                theme: Theme::Light,
            }),
            other => Err(format!("no theme {other:?}")),
        },
        other => return Err(ApiError::not_found(format!("no action {other:?}"))),
    };
    let done = run_parsed(change, |change| {
        ops::displays::change(&s.log, who.actor(), now, change)
    })
    .await;
    match done {
        Ok(()) => Ok(Redirect::to("/screens").into_response()),
        Err((status, m)) => render(&s, who, &csrf, &headers, status, Some(&m)).await,
    }
}

/// The text fields and the file of an upload form.
async fn read_upload(
    mut form: axum::extract::Multipart,
) -> Result<(Vec<(String, String)>, Option<Vec<u8>>), String> {
    let mut fields = Vec::new();
    let mut file = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| format!("the upload could not be read: {e}"))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "image" {
            let bytes = field
                .bytes()
                .await
                .map_err(|e| format!("the image could not be read: {e}"))?;
            if !bytes.is_empty() {
                file = Some(bytes.to_vec());
            }
        } else {
            let text = field.text().await.map_err(|e| format!("{name}: {e}"))?;
            fields.push((name, text));
        }
    }
    Ok((fields, file))
}

async fn upload(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    headers: &HeaderMap,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
    make: impl FnOnce(Vec<(String, String)>, Option<String>) -> Result<DisplayEvent, String>,
) -> Result<Response, ApiError> {
    let refuse = |status: StatusCode, m: String| async move {
        render(s, who, csrf, headers, status, Some(&m)).await
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.body_text()).await,
    };
    let (fields, file) = match read_upload(form).await {
        Ok(x) => x,
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m).await,
    };
    // The Venue page uploads the logo too, and wants its answer there.
    if field(&fields, "back") == "venue"
        && pvm_shared::auth::Permission::VenueManage.allows(who.role)
    {
        let refuse = |status: StatusCode, m: String| async move {
            super::staff::render_venue(s, who, csrf, status, Some(&m), None).await
        };
        let image = match file {
            Some(bytes) => match super::displays::store_media(s, &bytes) {
                Ok(name) => Some(name),
                Err(e) => return refuse(e.status, e.message).await,
            },
            None => None,
        };
        return match run_parsed(make(fields, image), |change| {
            ops::displays::change(&s.log, who.actor(), s.clock.now_ms(), change)
        })
        .await
        {
            Ok(()) => Ok(Redirect::to("/settings?logo=saved").into_response()),
            Err((status, m)) => refuse(status, m).await,
        };
    }
    let image = match file {
        Some(bytes) => match super::displays::store_media(s, &bytes) {
            Ok(name) => Some(name),
            Err(e) => return refuse(e.status, e.message).await,
        },
        None => None,
    };
    let done = run_parsed(make(fields, image), |change| {
        ops::displays::change(&s.log, who.actor(), s.clock.now_ms(), change)
    })
    .await;
    match done {
        Ok(()) => Ok(Redirect::to("/screens").into_response()),
        Err((status, m)) => refuse(status, m).await,
    }
}

fn field(fields: &[(String, String)], k: &str) -> String {
    fields
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

async fn upload_slide(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    upload(
        &s,
        who.principal(),
        &csrf,
        &headers,
        form,
        |fields, image| {
            Ok(DisplayEvent::SlideSaved {
                slide: Slide {
                    id: Uuid::now_v7(),
                    title: field(&fields, "title"),
                    body: field(&fields, "body"),
                    image,
                },
            })
        },
    )
    .await
}

async fn upload_logo(
    State(s): State<AppState>,
    who: Require<DisplaysControl>,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    upload(
        &s,
        who.principal(),
        &csrf,
        &headers,
        form,
        |_, image| match image {
            Some(image) => Ok(DisplayEvent::LogoSet { image: Some(image) }),
            None => Err("choose an image file".into()),
        },
    )
    .await
}
