//! The API keys page (managers and admins): the keys you made (an admin
//! sees everyone's), a new one shown once, and revoking one. Keys act as
//! their owner and die with the owner's password or PIN (see docs/AUTH.md).
//! Through `ops::staff` and `AuthService`, as the API's are.

use super::auth::{ApiKeys, CsrfToken, Require};
use super::error::ApiError;
use super::page::{csrf_field, layout, redirect_saying, Flash, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use pvm_shared::auth::Role;
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys", get(keys_page).post(create_key))
        .route("/keys/{id}/revoke", post(revoke_key))
}

#[derive(Debug, Default, Deserialize)]
struct NewKeyForm {
    #[serde(default)]
    name: String,
}

/// What the page says besides the keys.
#[derive(Default)]
struct Say<'a> {
    notice: Option<&'a str>,
    error: Option<&'a str>,
    /// A key just made: its name and its secret, shown this once.
    made: Option<(&'a str, &'a str)>,
    /// The name typed into the new-key form, kept after a refusal.
    typed: &'a str,
}

async fn render(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    say: Say<'_>,
) -> Result<Response, ApiError> {
    let Say {
        notice,
        error,
        made,
        typed,
    } = say;
    let settings = s.reader.settings().await?;
    let keys = ops::staff::keys_visible_to(&s.log, who);
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some((name, key)) = made {
            div.notice role="status" {
                p { "New key “" (name) "”. Copy it now: it is shown this once, and only its hash is kept." }
                pre { code { (key) } }
                p.meta { "Send it as " code { "Authorization: Bearer …" } "; it acts as you, with your role." }
            }
        }
        h1 { "API keys " small { (pvm_shared::words::count(keys.iter().filter(|k| k.live).count() as u64, "working key", "working keys")) } }
        p.meta {
            "For a website or a script that reads or runs the venue through the API (see " a href="/api/docs" { "the API" } "). "
            @if who.role == Role::Admin { "As an admin you see everyone's keys." } @else { "You see the keys you made." }
            " A key stops working when its owner's password or PIN changes or the account is disabled."
        }
        @if keys.is_empty() { p.empty { "No keys yet." } }
        ul.tables {
            @for k in &keys {
                li.table.open[k.live] {
                    div.summary {
                        span.name { (k.name) }
                        span.status { @if k.revoked { "Revoked" } @else if k.live { "Works" } @else { "Stopped (owner's credentials changed)" } }
                        span.game { "acts as " (k.username) }
                    }
                    @if !k.revoked {
                        div.actions {
                            details.confirm {
                                summary.danger { "Revoke" }
                                form method="post" action=(format!("/keys/{}/revoke", k.id)) {
                                    (csrf_field(csrf))
                                    button.danger type="submit" { "Revoke “" (k.name) "” for good" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.new {
            h2 { "New key" }
            form method="post" action="/keys" {
                (csrf_field(csrf))
                label { "What it is for" input name="name" value=(typed) required maxlength="80" placeholder="Leaderboard website"; }
                button type="submit" { "Make a key" }
            }
        }
    };
    // A new key's secret must not stay in a cache or the back button's history.
    Ok((
        status,
        [(header::CACHE_CONTROL, "no-store")],
        layout(&settings, who, csrf, "API keys", error, body),
    )
        .into_response())
}

async fn keys_page(
    State(s): State<AppState>,
    who: Require<ApiKeys>,
    csrf: CsrfToken,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let flash = Flash::take(&headers, "/keys");
    let page = render(
        &s,
        who.principal(),
        &csrf,
        StatusCode::OK,
        Say {
            notice: flash.text(),
            ..Say::default()
        },
    )
    .await?;
    Ok(flash.spend(page))
}

/// Answers with the page itself (not a redirect): the secret is never put
/// in a URL or a cookie.
async fn create_key(
    State(s): State<AppState>,
    who: Require<ApiKeys>,
    csrf: CsrfToken,
    form: FormResult<NewKeyForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let who = who.principal();
    match s.auth.create_api_key(who, &form.name).await {
        Ok((_, key)) => {
            let name = form.name.trim();
            render(
                &s,
                who,
                &csrf,
                StatusCode::CREATED,
                Say {
                    made: Some((name, &key)),
                    ..Say::default()
                },
            )
            .await
        }
        Err(e) => {
            let e = ApiError::from(e);
            render(
                &s,
                who,
                &csrf,
                e.status,
                Say {
                    error: Some(&e.message),
                    typed: &form.name,
                    ..Say::default()
                },
            )
            .await
        }
    }
}

async fn revoke_key(
    State(s): State<AppState>,
    who: Require<ApiKeys>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let who = who.principal();
    match ops::staff::revoke_key(&s.log, who, id).await {
        Ok(name) => Ok(redirect_saying(
            "/keys",
            "/keys",
            &format!("Key “{name}” revoked: anything using it is refused from now on."),
        )),
        Err(e) => {
            let e = ApiError::from(e);
            render(
                &s,
                who,
                &csrf,
                e.status,
                Say {
                    error: Some(&e.message),
                    ..Say::default()
                },
            )
            .await
        }
    }
}
