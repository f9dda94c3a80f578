//! The page kit every staff page is built with: the layout, the CSRF
//! field, the message page, form results, the built-in static files and the
//! venue's colours. Uses `auth` and `error` only; the page modules use it.

use super::auth::{CsrfToken, CSRF_FIELD};
use super::error::ApiError;
pub(super) use super::markup::head;
use super::AppState;
use crate::auth::Principal;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use pvm_shared::auth::Permission;
use pvm_shared::venue::VenueSettings;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/staff.css", get(css))
        .route("/brand.css", get(brand_css))
}

pub(super) const STAFF_CSS: &str = include_str!("../../static/staff.css");

/// A file built into the binary, cached for five minutes.
pub(super) fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn css() -> Response {
    static_file("text/css; charset=utf-8", STAFF_CSS)
}

/// The venue's colours as CSS variables, so branding needs no inline style.
pub(super) async fn brand_css(State(s): State<AppState>) -> Result<Response, ApiError> {
    let b = s.reader.settings().await?.branding;
    Ok((
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        format!(
            ":root {{ --primary: {}; --accent: {}; --bg: {}; }}\n",
            b.primary, b.accent, b.background
        ),
    )
        .into_response())
}

/// The hidden field every form carries.
pub(super) fn csrf_field(csrf: &CsrfToken) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(csrf.0); }
}

/// A page with the venue's name, the signed-in user and `body`.
pub(super) fn layout(
    settings: &VenueSettings,
    who: &Principal,
    csrf: &CsrfToken,
    title: &str,
    error: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{title} · {}", settings.name)))
            body {
                header.top {
                    span.venue { (settings.name) }
                    nav {
                        a href="/" { "Tables" }
                        @if Permission::CashOperate.allows(who.role) { a href="/cash" { "Lists" } }
                        @if Permission::Players.allows(who.role) { a href="/players" { "Players" } }
                        a href="/tournaments" { "Tournaments" }
                        a href="/screens" { "Screens" }
                        @if Permission::LogRead.allows(who.role) { a href="/log" { "Log" } }
                        @if Permission::StaffManage.allows(who.role) { a href="/staff" { "Staff" } }
                        @if Permission::ApiKeys.allows(who.role) { a href="/keys" { "Keys" } }
                        @if Permission::VenueManage.allows(who.role) { a href="/settings" { "Venue" } }
                        a href="/api/docs" { "API" }
                        form.logout method="post" action="/logout" {
                            (csrf_field(csrf))
                            span.who { (who.name) " · " (who.role) }
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    @if let Some(message) = error {
                        p.error role="alert" { (message) }
                    }
                    (body)
                }
            }
        }
    }
}

pub(super) type FormResult<T> = Result<Form<T>, axum::extract::rejection::FormRejection>;

/// A refused change as a page shows it: the status and the message.
pub(super) fn refusal(e: crate::store::AppendError) -> (StatusCode, String) {
    let e = ApiError::from(e);
    (e.status, e.message)
}

/// A parsed form's change, run: on a bad form 422 with why, on a refusal
/// the status and message the API would give.
pub(super) async fn run_parsed<T, F, Fut>(
    parsed: Result<T, String>,
    run: F,
) -> Result<(), (StatusCode, String)>
where
    F: FnOnce(T) -> Fut,
    Fut: std::future::Future<Output = Result<crate::store::Committed, crate::store::AppendError>>,
{
    let value = parsed.map_err(|m| (StatusCode::UNPROCESSABLE_ENTITY, m))?;
    run(value).await.map(|_| ()).map_err(refusal)
}

/// The cookie that carries what an action did to the page it redirects to.
const FLASH_COOKIE: &str = "pvm_flash";
/// Longer messages are cut (a cookie holds a few KB; ours say one thing).
const FLASH_MAX: usize = 400;

/// Post/redirect/get with a message: the next page shows `message` once
/// ("Dana E. marked no-show, moved to 3rd."). It rides in a cookie for
/// `path`, hex-encoded, for a minute at most, so a crafted link cannot put
/// words on the page and a reload does not repeat the action.
pub(super) fn redirect_saying(to: &str, path: &str, message: &str) -> Response {
    let mut cut = message.to_owned();
    if cut.len() > FLASH_MAX {
        let mut end = FLASH_MAX;
        while !cut.is_char_boundary(end) {
            end -= 1;
        }
        cut.truncate(end);
    }
    let value = format!(
        "{FLASH_COOKIE}={}; Path={path}; Max-Age=60; HttpOnly; SameSite=Strict",
        hex::encode(cut.as_bytes())
    );
    match axum::http::HeaderValue::from_str(&value) {
        Ok(v) => redirect_with_cookies(to, vec![v]),
        Err(_) => Redirect::to(to).into_response(),
    }
}

/// The message a redirect left for a page (see [`redirect_saying`]), read
/// once: [`Flash::spend`] adds the header that clears it to the page that
/// shows it.
pub(super) struct Flash(Option<(String, axum::http::HeaderValue)>);

impl Flash {
    pub(super) fn take(headers: &axum::http::HeaderMap, path: &str) -> Flash {
        let read = || {
            let raw = super::auth::cookie(headers, FLASH_COOKIE)?;
            let text = hex::decode(raw)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())?;
            let spent = axum::http::HeaderValue::from_str(&format!(
                "{FLASH_COOKIE}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Strict"
            ))
            .ok()?;
            Some((text, spent))
        };
        Flash(read())
    }

    pub(super) fn text(&self) -> Option<&str> {
        self.0.as_ref().map(|(text, _)| text.as_str())
    }

    pub(super) fn spend(self, mut page: Response) -> Response {
        if let Some((_, spent)) = self.0 {
            page.headers_mut().append(header::SET_COOKIE, spent);
        }
        page
    }
}

pub(super) fn redirect_with_cookies(to: &str, cookies: Vec<axum::http::HeaderValue>) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}
