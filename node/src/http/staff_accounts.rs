//! The staff accounts page (admins): who can log in and with which role;
//! add an account, change a role, disable or enable one, give a new
//! password or PIN (the way back in after a lockout). Every change goes
//! through `ops::staff`, as the API's does, and the page says what happened.

use super::auth::{CsrfToken, Require, StaffManage};
use super::error::ApiError;
use super::page::{csrf_field, layout, redirect_saying, Flash, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops;
use crate::ops::staff::{AccountChange, NewAccount};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use pvm_shared::auth::Role;
use pvm_shared::staff::{StaffUser, Username};
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff", get(accounts_page).post(create_account))
        .route("/staff/{id}", post(change_account))
}

/// What the create form held (secrets are never sent back to the browser).
#[derive(Debug, Default, Deserialize)]
struct NewForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    pin: String,
}

#[derive(Debug, Default, Deserialize)]
struct ChangeForm {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    pin: Option<String>,
}

/// An empty field is "not given".
fn given(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// A password or PIN field: empty is "not given"; anything else is taken as
/// typed, spaces included, as login takes it.
fn secret(raw: Option<&str>) -> Option<String> {
    raw.filter(|s| !s.is_empty()).map(String::from)
}

fn role_select(selected: Role) -> Markup {
    html! {
        select name="role" {
            @for r in Role::ALL {
                option value=(r.code()) selected[r == selected] { (role_label(r)) }
            }
        }
    }
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Dealer => "Dealer",
        Role::Floor => "Floor",
        Role::Manager => "Manager",
        Role::Admin => "Admin",
    }
}

fn account_card(u: &StaffUser, csrf: &CsrfToken) -> Markup {
    let action = format!("/staff/{}", u.id);
    html! {
        li.table.open[u.enabled] id=(format!("staff-{}", u.id)) {
            div.summary {
                span.name { (u.display_name) }
                span.status { @if u.enabled { "Enabled" } @else { "Disabled" } }
                span.game { (u.username) " · " (role_label(u.role)) }
                span.seats {
                    @match (u.password_hash.is_some(), u.pin_hash.is_some()) {
                        (true, true) => { "password and PIN" },
                        (true, false) => { "password" },
                        (false, true) => { "PIN" },
                        (false, false) => { "no way to log in yet" },
                    }
                }
            }
            div.actions {
                form.inline method="post" action=(action) {
                    (csrf_field(csrf))
                    label { "Role" (role_select(u.role)) }
                    button.secondary type="submit" { "Save role" }
                }
                form method="post" action=(action) {
                    (csrf_field(csrf))
                    @if u.enabled {
                        input type="hidden" name="enabled" value="false";
                        button.danger type="submit" title="Ends this account's sessions and API keys at once" { "Disable" }
                    } @else {
                        input type="hidden" name="enabled" value="true";
                        button type="submit" { "Enable" }
                    }
                }
                details {
                    summary { "New password or PIN" }
                    form method="post" action=(action) {
                        (csrf_field(csrf))
                        label { "New password (8 to 128 characters)" input name="password" type="password" autocomplete="new-password" minlength="8" maxlength="128"; }
                        label { "New PIN (4 to 8 digits)" input name="pin" type="password" inputmode="numeric" autocomplete="off" pattern="[0-9]{4,8}"; }
                        button type="submit" { "Set" }
                    }
                }
            }
        }
    }
}

fn new_form(typed: &NewForm, csrf: &CsrfToken) -> Markup {
    let role = Role::from_code(&typed.role).unwrap_or(Role::Floor);
    html! {
        section.new {
            h2 { "New account" }
            form method="post" action="/staff" {
                (csrf_field(csrf))
                label { "Username" input name="username" value=(typed.username) required maxlength="32" autocomplete="off" placeholder="dana"; }
                label { "Name shown" input name="display_name" value=(typed.display_name) required maxlength="80" placeholder="Dana E."; }
                label { "Role" (role_select(role)) }
                label { "Password (8 to 128 characters)" input name="password" type="password" autocomplete="new-password" minlength="8" maxlength="128"; }
                label { "PIN for a shared tablet (4 to 8 digits)" input name="pin" type="password" inputmode="numeric" autocomplete="off" pattern="[0-9]{4,8}"; }
                button type="submit" { "Add account" }
            }
        }
    }
}

/// What a saved change did, in words.
fn saved_message(u: &StaffUser, what: &str) -> String {
    let who = format!("{} ({})", u.display_name, u.username);
    match what {
        "created" => format!("{who} can now log in as {}.", role_label(u.role)),
        "role" => format!("{who} is now {}.", role_label(u.role)),
        "disabled" => format!("{who} is disabled: their sessions and API keys ended."),
        "enabled" => format!("{who} is enabled again."),
        _ => format!("{who}: new password or PIN saved; any lockout is lifted, and their sessions and API keys ended."),
    }
}

async fn render(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    notice: Option<String>,
    error: Option<&str>,
    typed: &NewForm,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let staff = s.log.staff();
    let mut users: Vec<&StaffUser> = staff.users.values().collect();
    users.sort_by(|a, b| (!a.enabled, &a.username).cmp(&(!b.enabled, &b.username)));
    let enabled = users.iter().filter(|u| u.enabled).count();
    let body = html! {
        @if let Some(n) = &notice { p.notice role="status" { (n) } }
        h1 { "Staff " small { (enabled) " enabled of " (users.len()) } }
        p.meta { "Floor staff run waiting lists and tournaments; managers also set up tables, games, structures, screens and the venue, read the event log and make API keys; admins also manage these accounts. A venue always keeps one enabled admin." }
        ul.tables {
            @for u in &users { (account_card(u, csrf)) }
        }
        @if !staff.hub.is_empty() {
            h2 { "From the hub " small { (staff.hub.len()) } }
            p.meta { "The operator's own accounts, sent by the hub: they log in here with their hub password and the role shown. Change or disable them at the hub; the node takes the change at its next contact." }
            ul.tables id="hub-accounts" {
                @for u in staff.hub.values() {
                    li.table.open id=(format!("hub-staff-{}", u.id)) {
                        div.summary {
                            span.name { (u.display_name) }
                            span.status { "From the hub" }
                            span.game { (u.username) " · " (role_label(u.role)) }
                        }
                    }
                }
            }
        }
        (new_form(typed, csrf))
    };
    Ok((status, layout(&settings, who, csrf, "Staff", error, body)).into_response())
}

async fn accounts_page(
    State(s): State<AppState>,
    who: Require<StaffManage>,
    csrf: CsrfToken,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let flash = Flash::take(&headers, "/staff");
    let page = render(
        &s,
        who.principal(),
        &csrf,
        StatusCode::OK,
        flash.text().map(String::from),
        None,
        &NewForm::default(),
    )
    .await?;
    Ok(flash.spend(page))
}

async fn create_account(
    State(s): State<AppState>,
    who: Require<StaffManage>,
    csrf: CsrfToken,
    form: FormResult<NewForm>,
) -> Result<Response, ApiError> {
    let Form(typed) = form?;
    let who = who.principal();
    let parsed = (|| {
        let username = Username::parse(&typed.username).map_err(ApiError::from)?;
        let role = Role::from_code(&typed.role)
            .ok_or_else(|| ApiError::invalid(format!("role: {:?} is not a role", typed.role)))?;
        Ok::<_, ApiError>(NewAccount {
            username,
            display_name: typed.display_name.clone(),
            role,
            password: secret(Some(&typed.password)),
            pin: secret(Some(&typed.pin)),
        })
    })();
    let failure = match parsed {
        Ok(new) => match ops::staff::create(&s.log, who.actor(), new).await {
            Ok(user) => {
                return Ok(redirect_saying(
                    "/staff",
                    "/staff",
                    &saved_message(&user, "created"),
                ))
            }
            Err(e) => ApiError::from(e),
        },
        Err(e) => e,
    };
    render(
        &s,
        who,
        &csrf,
        failure.status,
        None,
        Some(&failure.message),
        &typed,
    )
    .await
}

async fn change_account(
    State(s): State<AppState>,
    who: Require<StaffManage>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    form: FormResult<ChangeForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let who = who.principal();
    let parsed = (|| {
        let role = match given(form.role.as_deref()) {
            Some(code) => Some(
                Role::from_code(&code)
                    .ok_or_else(|| ApiError::invalid(format!("role: {code:?} is not a role")))?,
            ),
            None => None,
        };
        let enabled = match given(form.enabled.as_deref()).as_deref() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "enabled: {other:?} is neither true nor false"
                )))
            }
            None => None,
        };
        Ok(AccountChange {
            role,
            enabled,
            password: secret(form.password.as_deref()),
            pin: secret(form.pin.as_deref()),
        })
    })();
    let what = match &parsed {
        Ok(c) if c.password.is_some() || c.pin.is_some() => "secret",
        Ok(AccountChange {
            enabled: Some(false),
            ..
        }) => "disabled",
        Ok(AccountChange {
            enabled: Some(true),
            ..
        }) => "enabled",
        _ => "role",
    };
    let failure = match parsed {
        Ok(change) => match ops::staff::change(&s.log, &s.auth, who.actor(), id, change).await {
            Ok(user) => {
                return Ok(redirect_saying(
                    "/staff",
                    "/staff",
                    &saved_message(&user, what),
                ))
            }
            Err(e) => ApiError::from(e),
        },
        Err(e) => e,
    };
    let named = s
        .log
        .staff()
        .users
        .get(&id)
        .map(|u| format!("{}: {}", u.display_name, failure.message))
        .unwrap_or(failure.message);
    render(
        &s,
        who,
        &csrf,
        failure.status,
        None,
        Some(&named),
        &NewForm::default(),
    )
    .await
}
