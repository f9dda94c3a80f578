//! Templates, updates and announcements sent to a venue's node (admin API
//! and the admin pages' forms).

use super::auth::{Fleet, Scoped, VenuesAct};
use super::error::{bad, ApiError, Body};
use super::venues::venue_exists;
use crate::downstream::send_down;
use crate::{now_ms, App};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

pub async fn template_down(
    app: &App,
    id: Uuid,
    structure: pvm_shared::tournament::Structure,
) -> Result<Uuid, ApiError> {
    venue_exists(app, id).await?;
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
    Ok(send_down(
        app,
        id,
        "template",
        pvm_shared::down::DownBody::Template { structure },
    )
    .await?)
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

#[derive(Deserialize)]
pub struct NewUpdate {
    pub version: String,
    pub images: std::collections::BTreeMap<String, String>,
}

/// Tell a venue's node to update itself (downstream, hub-signed): images by digest.
pub async fn send_update(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<Fleet>,
    Body(u): Body<NewUpdate>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
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
    let body = pvm_shared::down::DownBody::Update {
        version: u.version.trim().to_owned(),
        images: u.images,
    };
    let sent = send_down(&app, id, "update", body).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": sent}))))
}

#[derive(Deserialize)]
pub struct NewAnnouncement {
    pub text: String,
    #[serde(default)]
    pub group: Option<String>,
    pub minutes: u64,
}

pub async fn announce_down(
    app: &App,
    id: Uuid,
    text: String,
    group: Option<String>,
    minutes: u64,
) -> Result<Uuid, ApiError> {
    venue_exists(app, id).await?;
    let text = text.trim().to_owned();
    if text.is_empty() || text.chars().count() > 280 || !(1..=1440).contains(&minutes) {
        return Err(bad(
            "invalid",
            "text: 1 to 280 characters; minutes: 1 to 1440",
        ));
    }
    let body = pvm_shared::down::DownBody::Announcement {
        id: Uuid::now_v7(),
        text,
        group,
        until_ms: now_ms() as u64 + minutes * 60_000,
    };
    Ok(send_down(app, id, "announcement", body).await?)
}

/// An announcement for a venue's screens.
pub async fn send_announcement(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<VenuesAct>,
    Body(a): Body<NewAnnouncement>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let sent = announce_down(&app, id, a.text, a.group, a.minutes).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": sent}))))
}
