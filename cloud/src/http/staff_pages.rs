//! The admin pages for operators and their staff accounts: a super-admin's
//! list of operators (and a form for a new one); an operator's page with its
//! staff (role, venues, second factor, disabled), a form for a new account,
//! and per account: disable or enable, remove the second factor, set a new
//! password. Owners also set where the operator's alerts go. The same
//! checks as the API (`accounts`); a form that is refused comes back with
//! what was typed (never a password) and what was wrong.

use super::accounts::{
    alter_operator, alter_staff, make_operator, make_staff, NewStaff, OperatorPatch, StaffPatch,
};
use super::admin::{guard, page};
use super::auth::{Caller, OperatorSettings, Operators, Role, StaffManage};
use super::error::ApiError;
use crate::App;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/staff", get(staff_home))
        .route("/admin/operators", post(new_operator))
        .route("/admin/operators/{id}", get(operator_page))
        .route("/admin/operators/{id}/staff", post(new_staff))
        .route("/admin/operators/{id}/settings", post(settings))
        .route("/admin/staff/{id}", post(change))
}

fn refused(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        page("Not allowed", true, html! { p.error { (message) } }),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            true,
            html! { p.error { "No such operator or account." } },
        ),
    )
        .into_response()
}

fn store_error(e: impl Into<ApiError>) -> Response {
    super::admin::page_error(e.into())
}

/// A caller who manages staff, or the page that says they do not.
#[allow(clippy::result_large_err)]
async fn manager(app: &App, headers: &HeaderMap, post: bool) -> Result<Caller, Response> {
    let caller = guard(app, headers, post).await?;
    if !caller.holds::<StaffManage>() {
        return Err(refused(&format!(
            "Your role ({}) does not manage staff accounts.",
            caller.role.label()
        )));
    }
    Ok(caller)
}

/// 404 unless the operator exists and the caller is in it.
async fn seen_operator(
    app: &App,
    caller: &Caller,
    id: Uuid,
) -> Result<crate::store::OperatorRow, Response> {
    let op = app
        .hub
        .store
        .lock()
        .await
        .map_err(store_error)?
        .operator(id)
        .await
        .map_err(store_error)?;
    match op {
        Some(op) if caller.in_operator(id) => Ok(op),
        _ => Err(not_found()),
    }
}

async fn staff_home(State(app): State<App>, headers: HeaderMap) -> Result<Response, Response> {
    let caller = manager(&app, &headers, false).await?;
    if let (Role::Owner | Role::Admin, Some(op)) = (caller.role, caller.operator) {
        return Ok(Redirect::to(&format!("/admin/operators/{op}")).into_response());
    }
    operators_view(&app, None, "").await
}

async fn operators_view(app: &App, error: Option<&str>, typed: &str) -> Result<Response, Response> {
    let operators = app
        .hub
        .store
        .lock()
        .await
        .map_err(store_error)?
        .operators()
        .await
        .map_err(store_error)?;
    let body = html! {
        h1 { "Operators " small { (operators.len()) } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        ul.plain { @for o in &operators { li { a href=(format!("/admin/operators/{}", o.id)) { (o.name) } } } }
        @if operators.is_empty() { p.empty { "No operators yet: make the first one, then its owner's account." } }
        section.new {
            h2 { "New operator" }
            form method="post" action="/admin/operators" {
                label { "Name" input name="name" required maxlength="80" value=(typed) placeholder="Acme Poker"; }
                button type="submit" { "Create" }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page("Operators", true, body)).into_response())
}

#[derive(Deserialize, Default)]
struct NameForm {
    #[serde(default)]
    name: String,
}

async fn new_operator(
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<NameForm>,
) -> Result<Response, Response> {
    let caller = guard(&app, &headers, true).await?;
    if !caller.holds::<Operators>() {
        return Err(refused("Only hub super-admins make operators."));
    }
    match make_operator(&app, &f.name).await {
        Ok(op) => Ok(Redirect::to(&format!("/admin/operators/{}", op.id)).into_response()),
        Err(e) => operators_view(&app, Some(&e.2), &f.name).await,
    }
}

/// What the new-account form had (never the password).
#[derive(Default)]
struct Typed {
    username: String,
    display_name: String,
    role: String,
    venues: Vec<String>,
    webhook: Option<String>,
    /// The node-role choice: empty (the role's default), `none` or a role.
    node_role: String,
}

/// The choices for a role at the venues' nodes: (value, words).
const NODE_ROLES: [(&str, &str); 5] = [
    ("none", "does not log in at the venues"),
    ("dealer", "dealer"),
    ("floor", "floor"),
    ("manager", "manager"),
    ("admin", "admin"),
];

/// What a form's node-role choice asks: None (the role's default, on a
/// new account only), Some(None) (none) or a role.
fn node_role_choice(typed: &str) -> Option<Option<String>> {
    match typed {
        "" => None,
        "none" => Some(None),
        r => Some(Some(r.to_owned())),
    }
}

async fn operator_view(
    app: &App,
    caller: &Caller,
    id: Uuid,
    notice: Option<Markup>,
    typed: &Typed,
) -> Result<Response, Response> {
    let op = seen_operator(app, caller, id).await?;
    let (staff, venues) = {
        let db = app.hub.store.lock().await.map_err(store_error)?;
        let staff = db.staff_of(Some(id)).await.map_err(store_error)?;
        let venues: Vec<(String, String)> = db
            .venues()
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|v| v.operator_id == Some(id))
            .map(|v| (v.id, v.name))
            .collect();
        (staff, venues)
    };
    let venue_name = |v: &Uuid| {
        venues
            .iter()
            .find(|(id, _)| *id == v.to_string())
            .map_or_else(|| v.to_string(), |(_, n)| n.clone())
    };
    let roles: Vec<Role> = [Role::Owner, Role::Admin, Role::Regional, Role::Auditor]
        .into_iter()
        .filter(|r| *r != Role::Owner || caller.role != Role::Admin)
        .collect();
    let me = caller.staff.as_ref().map(|s| s.id);
    let body = html! {
        h1 { (op.name) " " small { "staff" } }
        @if let Some(n) = notice { (n) }
        ul.tables {
            @for s in &staff {
                li.table.open[s.disabled_ms.is_none()] {
                    div.summary {
                        span.name { (s.display_name) }
                        span.status { @if s.disabled_ms.is_some() { "disabled" } @else { (Role::parse(&s.role).map_or("?", |r| r.label())) } }
                        span.game {
                            (s.username) @if s.totp_secret.is_some() { " · second factor on" }
                            " · at the venues: " @match (&s.node_role, s.totp_secret.is_some()) {
                                (None, _) => { "none" },
                                (Some(_), true) => { "none while a second factor is on" },
                                (Some(r), false) => { (r) },
                            }
                            @for (v, r) in &s.node_roles { "; " (r) " at " (venue_name(v)) }
                        }
                        @if !s.venues.is_empty() {
                            span.seats { @for (i, v) in s.venues.iter().enumerate() { @if i > 0 { ", " } (venue_name(v)) } }
                        }
                    }
                    @let manageable = Role::parse(&s.role).is_some_and(|r| r != Role::Owner || caller.role != Role::Admin);
                    @if manageable && Some(s.id) != me {
                        div.actions {
                            form.inline method="post" action=(format!("/admin/staff/{}", s.id)) {
                                input type="hidden" name="action" value=(if s.disabled_ms.is_some() { "enable" } else { "disable" });
                                button.link type="submit" { @if s.disabled_ms.is_some() { "Enable" } @else { "Disable" } }
                            }
                            @if s.totp_secret.is_some() {
                                form.inline method="post" action=(format!("/admin/staff/{}", s.id)) {
                                    input type="hidden" name="action" value="totp_off";
                                    button.link type="submit" { "Remove second factor" }
                                }
                            }
                            details {
                                summary { "Role at the venues" }
                                form method="post" action=(format!("/admin/staff/{}", s.id)) {
                                    input type="hidden" name="action" value="node_role";
                                    label { "At the operator's venues' nodes, " (s.username) select name="node_role" {
                                        @for (v, words) in NODE_ROLES {
                                            option value=(v) selected[s.node_role.as_deref().unwrap_or("none") == v] { (words) }
                                        }
                                    } }
                                    button type="submit" { "Set" }
                                }
                            }
                            details {
                                summary { "New password" }
                                form method="post" action=(format!("/admin/staff/{}", s.id)) {
                                    input type="hidden" name="action" value="password";
                                    label { "New password for " (s.username) input name="password" type="password" required minlength="8" maxlength="128" autocomplete="new-password"; }
                                    button type="submit" { "Set" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.new {
            h2 { "New account" }
            form method="post" action=(format!("/admin/operators/{id}/staff")) {
                label { "Username" input name="username" required maxlength="32" autocapitalize="none" value=(typed.username); }
                label { "Name shown" input name="display_name" maxlength="80" value=(typed.display_name); }
                label { "Password (8 to 128 characters)" input name="password" type="password" required minlength="8" maxlength="128" autocomplete="new-password"; }
                label { "Role" select name="role" {
                    @for r in &roles { option value=(r.code()) selected[typed.role == r.code() || (typed.role.is_empty() && *r == Role::Auditor)] { (r.label()) } }
                } }
                label { "At the venues' nodes" select name="node_role" {
                    option value="" selected[typed.node_role.is_empty()] { "as the role suggests" }
                    @for (v, words) in NODE_ROLES { option value=(v) selected[typed.node_role == v] { (words) } }
                } }
                p.meta { "At the venues' nodes, owners and admins are admins, regional managers managers, auditors nothing, unless you choose." }
                @if !venues.is_empty() {
                    fieldset {
                        legend { "A regional manager's venues" }
                        @for (vid, name) in &venues {
                            label.check { input type="checkbox" name="venue" value=(vid) checked[typed.venues.contains(vid)]; " " (name) }
                        }
                    }
                }
                button type="submit" { "Create" }
            }
        }
        @if caller.holds::<OperatorSettings>() {
            section.new {
                h2 { "Where this operator's alerts go" }
                form method="post" action=(format!("/admin/operators/{id}/settings")) {
                    label { "Webhook URL (empty: none)" input name="alert_webhook" type="url" maxlength="2000"
                        value=(typed.webhook.clone().or(op.alert_webhook.clone()).unwrap_or_default()) placeholder="https://hooks.example.com/pvm"; }
                    button type="submit" { "Save" }
                }
            }
        }
    };
    Ok(page(&op.name, true, body).into_response())
}

async fn operator_page(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let caller = manager(&app, &headers, false).await?;
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    operator_view(&app, &caller, id, None, &Typed::default()).await
}

/// The page again after a form: 422 with the error, or the notice.
async fn again(
    app: &App,
    caller: &Caller,
    id: Uuid,
    outcome: Result<Markup, ApiError>,
    typed: &Typed,
) -> Result<Response, Response> {
    match outcome {
        Ok(notice) => operator_view(app, caller, id, Some(notice), &Typed::default()).await,
        Err(e) => {
            let status = e.0;
            let notice = html! { p.error role="alert" { (e.2) } };
            operator_view(app, caller, id, Some(notice), typed)
                .await
                .map(|r| {
                    let (mut parts, body) = r.into_parts();
                    parts.status = status;
                    Response::from_parts(parts, body)
                })
        }
    }
}

async fn new_staff(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    let caller = manager(&app, &headers, true).await?;
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    seen_operator(&app, &caller, id).await?;
    let get = |k: &str| {
        fields
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let typed = Typed {
        username: get("username"),
        display_name: get("display_name"),
        role: get("role"),
        venues: fields
            .iter()
            .filter(|(k, _)| k == "venue")
            .map(|(_, v)| v.clone())
            .collect(),
        webhook: None,
        node_role: get("node_role"),
    };
    let venues: Vec<Uuid> = if typed.role == "regional" {
        typed.venues.iter().filter_map(|v| v.parse().ok()).collect()
    } else {
        Vec::new()
    };
    let display_name = Some(typed.display_name.trim().to_owned()).filter(|n| !n.is_empty());
    let made = make_staff(
        &app,
        &caller,
        id,
        NewStaff {
            username: typed.username.clone(),
            password: get("password"),
            role: typed.role.clone(),
            display_name,
            venues,
            node_role: node_role_choice(&typed.node_role),
            node_roles: None,
        },
    )
    .await
    .map(|s| html! { p.notice { "Made " (s.username) " (" (Role::parse(&s.role).map_or("?", |r| r.label())) "): they sign in at this hub's /admin." } });
    again(&app, &caller, id, made, &typed).await
}

#[derive(Deserialize, Default)]
struct SettingsForm {
    #[serde(default)]
    alert_webhook: String,
}

async fn settings(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<SettingsForm>,
) -> Result<Response, Response> {
    let caller = guard(&app, &headers, true).await?;
    if !caller.holds::<OperatorSettings>() {
        return Err(refused(
            "Only the operator's owners say where its alerts go.",
        ));
    }
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    seen_operator(&app, &caller, id).await?;
    let url = f.alert_webhook.trim().to_owned();
    let outcome = alter_operator(
        &app,
        id,
        OperatorPatch {
            name: None,
            alert_webhook: Some(Some(url.clone()).filter(|u| !u.is_empty())),
        },
    )
    .await
    .map(|op| match op.alert_webhook {
        Some(u) => html! { p.notice { "Alerts of this operator's venues now go to " (u) "." } },
        None => html! { p.notice { "This operator's alerts go to no webhook of its own." } },
    });
    let typed = Typed {
        webhook: Some(url),
        ..Typed::default()
    };
    again(&app, &caller, id, outcome, &typed).await
}

#[derive(Deserialize, Default)]
struct ChangeForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    node_role: String,
}

async fn change(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, Response> {
    let caller = manager(&app, &headers, true).await?;
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let staff = app
        .hub
        .store
        .lock()
        .await
        .map_err(store_error)?
        .staff_by_id(id)
        .await
        .map_err(store_error)?;
    let Some(op) = staff.as_ref().and_then(|s| s.operator_id) else {
        return Err(not_found());
    };
    seen_operator(&app, &caller, op).await?;
    let patch = match f.action.as_str() {
        "disable" => StaffPatch {
            disabled: Some(true),
            ..StaffPatch::default()
        },
        "enable" => StaffPatch {
            disabled: Some(false),
            ..StaffPatch::default()
        },
        "totp_off" => StaffPatch {
            totp_off: Some(true),
            ..StaffPatch::default()
        },
        "password" => StaffPatch {
            password: Some(f.password),
            ..StaffPatch::default()
        },
        "node_role" => StaffPatch {
            node_role: Some(node_role_choice(&f.node_role).flatten()),
            ..StaffPatch::default()
        },
        _ => return Err(not_found()),
    };
    let outcome = alter_staff(&app, &caller, id, patch).await.map(|s| {
        let done = match f.action.as_str() {
            "disable" => "disabled: their sessions ended",
            "enable" => "enabled",
            "totp_off" => "has no second factor now: their sessions ended",
            "node_role" => match &s.node_role {
                Some(_) => {
                    "logs in at the venues with that role once each venue's node hears from the hub"
                }
                None => "no longer logs in at the venues once each venue's node hears from the hub",
            },
            _ => "has a new password: their sessions ended",
        };
        html! { p.notice { (s.username) " " (done) "." } }
    });
    again(&app, &caller, op, outcome, &Typed::default()).await
}
