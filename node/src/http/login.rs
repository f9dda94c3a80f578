//! Logging in and out, and the first run's setup page (the one-time code
//! the node prints at start). Sessions are cookies set by `auth`.

use super::auth::{
    clear_session_cookies, cookie, device_cookie, session_cookies, ClientAddr, CsrfToken, Require,
    StaffUi,
};
use super::error::ApiError;
use super::page::{csrf_field, head, redirect_with_cookies, FormResult};
use super::AppState;
use crate::auth::{AuthError, Secret};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use pvm_shared::venue::VenueSettings;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/setup", get(setup_page).post(setup))
        .route("/logout", post(logout))
}

fn login_form(
    settings: &VenueSettings,
    csrf: &CsrfToken,
    error: Option<&str>,
    no_users: bool,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("Log in · {}", settings.name)))
            body {
                main.narrow {
                    h1 { (settings.name) }
                    @if no_users {
                        p.error role="alert" {
                            "This node has no staff accounts yet. Restart it and follow the setup link it prints, or on the node run "
                            code { "pvm-node admin create --username NAME" }
                            " to make the first admin."
                        }
                    }
                    @if let Some(message) = error {
                        p.error role="alert" { (message) }
                    }
                    form.login method="post" action="/login" {
                        (csrf_field(csrf))
                        label { "Username" input name="username" required autocomplete="username" autocapitalize="none"; }
                        label { "Password or PIN" input name="secret" type="password" required autocomplete="current-password"; }
                        div.buttons {
                            button type="submit" name="method" value="password" { "Log in" }
                            button.secondary type="submit" name="method" value="pin" { "Log in with PIN" }
                        }
                    }
                }
            }
        }
    }
}

async fn login_page(State(s): State<AppState>, csrf: CsrfToken) -> Result<Response, ApiError> {
    // A node with no account of its own yet goes to its first-run setup,
    // unless the hub's accounts may log in here.
    if s.auth.setup_open() && s.log.staff().hub.is_empty() {
        return Ok(Redirect::to("/setup").into_response());
    }
    let settings = s.reader.settings().await?;
    let no_users = s.log.staff().users.is_empty();
    Ok(login_form(&settings, &csrf, None, no_users).into_response())
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    method: String,
}

async fn login(
    State(s): State<AppState>,
    ClientAddr(address): ClientAddr,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: FormResult<LoginForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let secret = if form.method == "pin" {
        Secret::Pin(&form.secret)
    } else {
        Secret::Password(&form.secret)
    };
    let device = cookie(&headers, crate::auth::DEVICE_COOKIE);
    match s
        .auth
        .login(&form.username, secret, &address, device.as_deref())
        .await
    {
        Ok(done) => {
            let mut cookies = session_cookies(&done.tokens, &headers);
            cookies.push(device_cookie(&done.device, &headers));
            Ok(redirect_with_cookies("/", cookies))
        }
        Err(e) => {
            let status = match e {
                AuthError::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
                AuthError::BadCredentials | AuthError::Disabled => StatusCode::UNAUTHORIZED,
                _ => return Err(e.into()),
            };
            let settings = s.reader.settings().await?;
            Ok((
                status,
                login_form(&settings, &csrf, Some(&e.to_string()), false),
            )
                .into_response())
        }
    }
}

async fn logout(State(s): State<AppState>, who: Require<StaffUi>) -> Result<Response, ApiError> {
    s.auth.logout(who.principal()).await?;
    Ok(redirect_with_cookies("/login", clear_session_cookies()))
}

fn setup_form(settings: &VenueSettings, csrf: &CsrfToken, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("First run · {}", settings.name)))
            body {
                main.narrow {
                    h1 { "Welcome to PVM" }
                    p { "This node has no staff accounts yet. Create the first admin. "
                        "The setup code is printed in the node's console (or its log) when it starts." }
                    @if let Some(message) = error {
                        p.error role="alert" { (message) }
                    }
                    form.login method="post" action="/setup" {
                        (csrf_field(csrf))
                        label { "Setup code" input name="code" required autocomplete="one-time-code" placeholder="123-456"; }
                        label { "Username" input name="username" required autocapitalize="none" autocomplete="username"; }
                        label { "Your name" input name="display_name" required maxlength="60"; }
                        label { "Password (8 or more characters)" input name="password" type="password" required minlength="8" autocomplete="new-password"; }
                        button type="submit" { "Create admin" }
                    }
                }
            }
        }
    }
}

async fn setup_page(State(s): State<AppState>, csrf: CsrfToken) -> Result<Response, ApiError> {
    if !s.auth.setup_open() {
        return Ok(Redirect::to("/login").into_response());
    }
    let settings = s.reader.settings().await?;
    Ok(setup_form(&settings, &csrf, None).into_response())
}

#[derive(Debug, Deserialize)]
struct SetupForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

async fn setup(
    State(s): State<AppState>,
    ClientAddr(address): ClientAddr,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: FormResult<SetupForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    if !s.auth.setup_open() {
        return Ok(Redirect::to("/login").into_response());
    }
    let new = crate::auth::NewAdmin {
        username: form.username,
        display_name: form.display_name,
        role: pvm_shared::auth::Role::Admin,
        password: form.password,
    };
    match s.auth.finish_setup(&form.code, &new, &address).await {
        Ok((pair, _)) => Ok(redirect_with_cookies("/", session_cookies(&pair, &headers))),
        Err(e) => {
            let status = match e {
                AuthError::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
                AuthError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => return Err(e.into()),
            };
            let settings = s.reader.settings().await?;
            Ok((status, setup_form(&settings, &csrf, Some(&e.to_string()))).into_response())
        }
    }
}
