//! Templates, updates and announcements sent to a venue's node (admin API
//! and the admin pages' forms). Each is checked once into a hub message
//! body ([`template_body`], [`announcement_body`], [`update_body`]), which
//! one venue or many (`actions`) are sent.

use super::auth::{Fleet, Scoped, VenuesAct};
use super::error::{bad, ApiError, Body};
use super::venues::venue_exists;
use crate::downstream::send_down;
use crate::{now_ms, App};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pvm_shared::down::DownBody;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// A message body, checked: its kind and what it is, in words.
pub struct Checked {
    pub kind: &'static str,
    pub label: String,
    pub body: DownBody,
}

/// A tournament template, checked.
pub fn template_body(structure: pvm_shared::tournament::Structure) -> Result<Checked, ApiError> {
    structure
        .validate()
        .map_err(|e| bad("invalid", format!("structure: {e}")))?;
    if pvm_shared::tournament::structure::templates()
        .iter()
        .any(|t| t.name.eq_ignore_ascii_case(structure.name.trim()))
    {
        return Err(bad(
            "invalid",
            "give the template a name of its own (the built-in names are taken at every venue)",
        ));
    }
    Ok(Checked {
        kind: "template",
        label: format!("template {}", structure.name.trim()),
        body: DownBody::Template { structure },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAnnouncement {
    pub text: String,
    #[serde(default)]
    pub group: Option<String>,
    pub minutes: u64,
}

/// An announcement for the screens, checked; it shows until `minutes` from now.
pub fn announcement_body(a: NewAnnouncement) -> Result<Checked, ApiError> {
    let text = a.text.trim().to_owned();
    if text.is_empty() || text.chars().count() > 280 || !(1..=1440).contains(&a.minutes) {
        return Err(bad(
            "invalid",
            "text: 1 to 280 characters; minutes: 1 to 1440",
        ));
    }
    Ok(Checked {
        kind: "announcement",
        label: format!("announcement “{text}” for {} min", a.minutes),
        body: DownBody::Announcement {
            id: Uuid::now_v7(),
            text,
            group: a.group,
            until_ms: now_ms() as u64 + a.minutes * 60_000,
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUpdate {
    pub version: String,
    pub images: std::collections::BTreeMap<String, String>,
}

/// An update (images by digest), checked.
pub fn update_body(u: NewUpdate) -> Result<Checked, ApiError> {
    if u.images.is_empty() || u.version.trim().is_empty() {
        return Err(bad("invalid", "give a version and at least one image"));
    }
    if let Some((role, image)) = u
        .images
        .iter()
        .find(|(_, i)| !pvm_shared::down::by_digest(i))
    {
        return Err(bad(
            "not_by_digest",
            format!("{role}: {image} is not named by digest (repo@sha256:...)"),
        ));
    }
    let version = u.version.trim().to_owned();
    Ok(Checked {
        kind: "update",
        label: format!("update to version {version}"),
        body: DownBody::Update {
            version,
            images: u.images,
        },
    })
}

/// Sends a checked message to one venue's node: its message id.
pub async fn send_checked(app: &App, venue: Uuid, c: &Checked) -> Result<Uuid, ApiError> {
    venue_exists(app, venue).await?;
    send_down(app, venue, c.kind, c.body.clone())
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "hub_unavailable",
                format!(
                    "the hub's message server did not take it ({e}): nothing was sent; try again"
                ),
            )
        })
}

pub async fn template_down(
    app: &App,
    id: Uuid,
    structure: pvm_shared::tournament::Structure,
) -> Result<Uuid, ApiError> {
    send_checked(app, id, &template_body(structure)?).await
}

pub async fn announce_down(app: &App, id: Uuid, a: NewAnnouncement) -> Result<Uuid, ApiError> {
    send_checked(app, id, &announcement_body(a)?).await
}

/// A tournament template for a venue's node.
pub async fn send_template(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<VenuesAct>,
    Body(structure): Body<pvm_shared::tournament::Structure>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let sent = template_down(&app, id, structure).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": sent}))))
}

/// Tell a venue's node to update itself (downstream, hub-signed): images by digest.
pub async fn send_update(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<Fleet>,
    Body(u): Body<NewUpdate>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let sent = send_checked(&app, id, &update_body(u)?).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": sent}))))
}

/// An announcement for a venue's screens.
pub async fn send_announcement(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<VenuesAct>,
    Body(a): Body<NewAnnouncement>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let sent = announce_down(&app, id, a).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": sent}))))
}
