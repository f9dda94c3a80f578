//! The wall displays' API, through which staff control screens: names,
//! groups, playlists, announcements, slides, theme, logo and images. The
//! screens' own page and feed are `display_feed`.

use super::auth::{DisplaysControl, Require};
use super::display_feed::checked_device;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath};
use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pvm_shared::displays::{Announcement, Device, DisplayEvent, Playlist, Slide, Theme};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

#[derive(OpenApi)]
#[openapi(
    paths(list_displays, save_display, forget_display, identify, announce, end_announcement,
        save_group, save_slide, remove_slide, set_theme, set_logo, upload_media, media),
    components(schemas(DisplayView, DeviceRequest, AnnounceRequest, GroupRequest, SlideRequest,
        ThemeRequest, LogoRequest, Uploaded, Device, Playlist, Announcement, Slide, Theme, pvm_shared::displays::View)),
    tags((name = "displays", description = "Wall displays: devices, views, announcements"))
)]
pub struct DisplayDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
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
