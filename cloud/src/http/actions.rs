//! One action, many venues: a template, an announcement or an update sent
//! to a chosen set of the caller's venues (or all of them) at once, with
//! each venue's delivery state: `sent` (on its way, or waiting for the
//! node's next contact), `applied` or `refused` as the node reported back
//! (`EventKind::DownHandled`, in the hub's fold of its events), or `failed`
//! (the hub's message server did not take it). The API and the page
//! `/admin/actions`.

use super::admin::{ago, guard, page};
use super::auth::{Caller, Fleet, Require, Role, Scoped, VenuesAct};
use super::downstream::{
    announcement_body, send_checked, template_body, update_body, Checked, NewAnnouncement,
    NewUpdate,
};
use super::error::{bad, ApiError, Body};
use crate::store::{ActionRow, DeliveryRow};
use crate::{now_ms, App};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use maud::html;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Venues one action reaches, at most.
pub const MAX_VENUES: usize = 500;
/// Actions listed, at most.
const LISTED: u32 = 50;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/actions", get(list).post(create))
        .route("/api/v1/actions/{id}", get(one))
        .route("/admin/actions", get(actions_page).post(actions_form))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAction {
    /// The venues; leave out (or null) with `all: true` for every venue the
    /// caller may act on.
    #[serde(default)]
    venues: Option<Vec<Uuid>>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    template: Option<pvm_shared::tournament::Structure>,
    #[serde(default)]
    announcement: Option<NewAnnouncement>,
    #[serde(default)]
    update: Option<NewUpdate>,
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub venue_id: Uuid,
    pub venue_name: String,
    pub message_id: Option<Uuid>,
    /// `sent`, `applied`, `started` (an update under way), `refused` or `failed`.
    pub state: &'static str,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    #[serde(flatten)]
    pub action: ActionRow,
    pub deliveries: Vec<Delivery>,
}

/// The venues an action of `caller` goes to: the ones named (each must be
/// theirs to act on: 404 otherwise), or all of them.
async fn targets(
    app: &App,
    caller: &Caller,
    named: Option<Vec<Uuid>>,
    all: bool,
) -> Result<Vec<Uuid>, ApiError> {
    let mut venues = match (named, all) {
        (Some(v), false) if !v.is_empty() => v,
        (None, true) => super::venues::venue_rows(app, caller)
            .await?
            .iter()
            .filter(|v| v.node_id.is_some() && v.status != "revoked")
            .filter_map(|v| v.id.parse().ok())
            .collect(),
        _ => {
            return Err(bad(
                "invalid",
                "venues: name at least one venue, or send all: true (not both)",
            ))
        }
    };
    venues.sort();
    venues.dedup();
    if venues.len() > MAX_VENUES {
        return Err(bad("invalid", format!("venues: at most {MAX_VENUES}")));
    }
    for v in &venues {
        caller.venue(app, *v).await?;
    }
    Ok(venues)
}

/// Sends `checked` to each venue and records the action.
async fn send(
    app: &App,
    caller: &Caller,
    venues: Vec<Uuid>,
    checked: Checked,
) -> Result<ActionView, ApiError> {
    let mut deliveries = Vec::with_capacity(venues.len());
    for venue in venues {
        let sent = send_checked(app, venue, &checked).await;
        deliveries.push(match sent {
            Ok(id) => DeliveryRow {
                venue_id: venue,
                message_id: Some(id),
                error: None,
            },
            Err(e) => DeliveryRow {
                venue_id: venue,
                message_id: None,
                error: Some(e.2),
            },
        });
    }
    let action = ActionRow {
        id: Uuid::now_v7(),
        operator_id: caller.operator,
        kind: checked.kind.into(),
        label: checked.label,
        sent_by: caller.staff.as_ref().map(|s| s.id),
        created_ms: now_ms(),
    };
    app.hub
        .store
        .lock()
        .await?
        .insert_action(&action, &deliveries)
        .await?;
    tracing::info!(action = %action.id, kind = action.kind, venues = deliveries.len(), "action sent");
    view(app, caller, action, deliveries).await
}

/// An action with each delivery's state now (the venues the caller sees).
async fn view(
    app: &App,
    caller: &Caller,
    action: ActionRow,
    deliveries: Vec<DeliveryRow>,
) -> Result<ActionView, ApiError> {
    let names: std::collections::HashMap<String, String> = app
        .hub
        .store
        .lock()
        .await?
        .venues()
        .await?
        .into_iter()
        .filter(|v| v.id.parse().is_ok_and(|id| caller.sees(id, v.operator_id)))
        .map(|v| (v.id, v.name))
        .collect();
    let states = app
        .hub
        .venues
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let deliveries = deliveries
        .into_iter()
        .filter_map(|d| {
            let name = names.get(&d.venue_id.to_string())?.clone();
            let handled = d.message_id.and_then(|m| {
                states
                    .get(&d.venue_id)
                    .and_then(|s| s.down.get(&m))
                    .cloned()
            });
            let (state, detail) = match (&d.message_id, handled) {
                (None, _) => ("failed", d.error.clone()),
                (Some(_), Some(h)) if h.outcome == "applied" => ("applied", Some(h.detail)),
                (Some(_), Some(h)) if h.outcome == "started" => ("started", Some(h.detail)),
                (Some(_), Some(h)) => ("refused", Some(h.detail)),
                (Some(_), None) => ("sent", None),
            };
            Some(Delivery {
                venue_id: d.venue_id,
                venue_name: name,
                message_id: d.message_id,
                state,
                detail,
            })
        })
        .collect();
    Ok(ActionView { action, deliveries })
}

async fn create(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesAct>,
    Body(body): Body<NewAction>,
) -> Result<(StatusCode, Json<ActionView>), ApiError> {
    let checked = match (body.template, body.announcement, body.update) {
        (Some(t), None, None) => template_body(t)?,
        (None, Some(a), None) => announcement_body(a)?,
        (None, None, Some(u)) => {
            if !caller.holds::<Fleet>() {
                return Err(super::auth::forbidden(&caller, "fleet"));
            }
            update_body(u)?
        }
        _ => {
            return Err(bad(
                "invalid",
                "send one of template, announcement or update",
            ))
        }
    };
    let venues = targets(&app, &caller, body.venues, body.all).await?;
    let view = send(&app, &caller, venues, checked).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The actions the caller's operator sent (a super-admin: every one).
async fn recent(app: &App, caller: &Caller) -> Result<Vec<ActionView>, ApiError> {
    let operator = match caller.role {
        Role::Super => None,
        _ => caller.operator,
    };
    let rows = {
        let db = app.hub.store.lock().await?;
        let mut out = Vec::new();
        for a in db.actions(operator, LISTED).await? {
            if let Some(found) = db.action(a.id).await? {
                out.push(found);
            }
        }
        out
    };
    let mut views = Vec::with_capacity(rows.len());
    for (a, d) in rows {
        let v = view(app, caller, a, d).await?;
        // A regional manager sees the actions that reached their venues.
        if caller.role == Role::Super || !v.deliveries.is_empty() {
            views.push(v);
        }
    }
    Ok(views)
}

async fn list(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesAct>,
) -> Result<Json<Vec<ActionView>>, ApiError> {
    Ok(Json(recent(&app, &caller).await?))
}

async fn one(
    State(app): State<App>,
    Scoped { caller, id, .. }: Scoped<VenuesAct>,
) -> Result<Json<ActionView>, ApiError> {
    let found = app.hub.store.lock().await?.action(id).await?;
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no action {id}"),
        )
    };
    let (a, d) = found.ok_or_else(not_found)?;
    let v = view(&app, &caller, a, d).await?;
    // A regional manager sees the actions that reached their venues.
    if caller.role != Role::Super && v.deliveries.is_empty() {
        return Err(not_found());
    }
    Ok(Json(v))
}

fn state_words(state: &str) -> &'static str {
    match state {
        "applied" => "applied at the venue",
        "refused" => "refused by the venue",
        "failed" => "not sent",
        "started" => "started at the venue (the update is under way)",
        _ => "sent, waiting for the venue",
    }
}

async fn actions_page(State(app): State<App>, headers: HeaderMap) -> Result<Response, Response> {
    render(&app, &headers, None, &ActionForm::default()).await
}

#[derive(Deserialize, Default)]
struct ActionForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    base: String,
    #[serde(default)]
    name: String,
    /// "all", or "chosen" with the `venue` fields.
    #[serde(default)]
    scope: String,
    #[serde(skip)]
    venues: Vec<String>,
}

async fn render(
    app: &App,
    headers: &HeaderMap,
    notice: Option<maud::Markup>,
    typed: &ActionForm,
) -> Result<Response, Response> {
    let caller = guard(app, headers, false).await?;
    if !caller.holds::<VenuesAct>() {
        return Err((
            StatusCode::FORBIDDEN,
            page("Not allowed", true, html! { p.error { "Your role (" (caller.role.label()) ") sends nothing to venues." } }),
        )
            .into_response());
    }
    let venues: Vec<_> = super::venues::venue_rows(app, &caller)
        .await
        .map_err(super::admin::page_error)?
        .into_iter()
        .filter(|v| v.node_id.is_some() && v.status != "revoked")
        .collect();
    let past = recent(app, &caller)
        .await
        .map_err(super::admin::page_error)?;
    let templates = pvm_shared::tournament::structure::templates();
    let body = html! {
        h1 { "Send to venues" }
        @if let Some(n) = notice { (n) }
        section.new {
            h2 { "Announce on the screens, or send a template" }
            @if venues.is_empty() { p.empty { "No venue with a node to send to yet." } }
            @else {
            form method="post" action="/admin/actions" {
                fieldset {
                    legend { "Venues" }
                    label.check { input type="radio" name="scope" value="all" checked[typed.scope != "chosen"]; " All " (venues.len()) " of my venues with a node" }
                    label.check { input type="radio" name="scope" value="chosen" checked[typed.scope == "chosen"]; " Only these:" }
                    @for v in &venues {
                        label.check { input type="checkbox" name="venue" value=(v.id) checked[typed.venues.contains(&v.id)]; " " (v.name) }
                    }
                }
                label { "What" select name="kind" {
                    option value="announcement" selected[typed.kind != "template"] { "An announcement" }
                    option value="template" selected[typed.kind == "template"] { "A tournament template" }
                } }
                label { "Announcement text" input name="text" maxlength="280" value=(typed.text); }
                label { "Minutes on screen" input name="minutes" inputmode="numeric" value=(if typed.minutes.is_empty() { "30" } else { typed.minutes.as_str() }); }
                label { "Template based on" select name="base" { @for t in &templates { option value=(t.name) selected[typed.base == t.name] { (t.name) } } } }
                label { "Template name at the venues" input name="name" maxlength="80" value=(typed.name) placeholder="Series Daily"; }
                button type="submit" { "Send" }
            }
            }
        }
        h2 { "Sent " small { (past.len()) } }
        @if past.is_empty() { p.empty { "Nothing sent yet." } }
        @for a in &past {
            section.action {
                h3 { (a.action.label) " " small { (ago(Some(a.action.created_ms))) } }
                ul.plain { @for d in &a.deliveries {
                    li { strong { (d.venue_name) } " · " (state_words(d.state))
                        @if let Some(detail) = &d.detail { ": " (detail) } }
                } }
            }
        }
    };
    Ok(page("Send to venues", true, body).into_response())
}

/// The form: checked like the API, sent, and the page again with what
/// happened (or what was wrong, keeping what was typed).
async fn actions_form(
    State(app): State<App>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    let caller = guard(&app, &headers, true).await?;
    if !caller.holds::<VenuesAct>() {
        return Err((
            StatusCode::FORBIDDEN,
            page("Not allowed", true, html! { p.error { "Your role (" (caller.role.label()) ") sends nothing to venues." } }),
        )
            .into_response());
    }
    let get = |k: &str| {
        fields
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let typed = ActionForm {
        kind: get("kind"),
        text: get("text"),
        minutes: get("minutes"),
        base: get("base"),
        name: get("name"),
        scope: get("scope"),
        venues: fields
            .iter()
            .filter(|(k, _)| k == "venue")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let chosen: Vec<Uuid> = fields
        .iter()
        .filter(|(k, _)| k == "venue")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let checked = match typed.kind.as_str() {
        "template" => match pvm_shared::tournament::structure::templates()
            .into_iter()
            .find(|t| t.name == typed.base)
        {
            Some(mut s) => {
                s.name = typed.name.trim().to_owned();
                template_body(s)
            }
            None => Err(bad("invalid", "Template based on: choose one")),
        },
        _ => announcement_body(NewAnnouncement {
            text: typed.text.clone(),
            group: None,
            minutes: typed.minutes.trim().parse().unwrap_or(0),
        }),
    };
    let result = match checked {
        Err(e) => Err(e),
        Ok(checked) => {
            let named = (typed.scope == "chosen").then_some(chosen);
            match targets(&app, &caller, named.clone(), named.is_none()).await {
                Ok(venues) => send(&app, &caller, venues, checked).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(_) => Ok(Redirect::to("/admin/actions").into_response()),
        Err(e) => {
            let notice = html! { p.error role="alert" { (e.2) } };
            render(&app, &headers, Some(notice), &typed).await.map(|r| {
                let (mut parts, body) = r.into_parts();
                parts.status = StatusCode::UNPROCESSABLE_ENTITY;
                Response::from_parts(parts, body)
            })
        }
    }
}
