//! The hub's admin pages, in the node's style: venues with their node's
//! status (online / unhealthy / offline), backlog and last contact; one
//! venue's events with their verification state, its problems, and forms to
//! make a registration token, send a template or an announcement.
//!
//! Sign-in is with a hub staff account (username, password, and its TOTP
//! code if it has one) or the admin key; the session is a random id in an
//! HttpOnly, SameSite=Strict cookie, kept in the hub's database as its
//! SHA-256 (a restart signs nobody out; a new admin key signs its sessions
//! out, a new password or a disable the account's), and every form post
//! must come from this origin. Each page shows what the signed-in role sees
//! and offers only the forms it may use.

use super::auth::{Caller, Fleet, Perm, VenuesAct, VenuesCreate};
use crate::{now_ms, App};
use axum::extract::{Form, FromRequest, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const STYLE: &str = include_str!("../../../node/static/staff.css");
const COOKIE: &str = "pvm_hub_session";
const SESSION_MS: i64 = 12 * 3_600_000;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/admin") }))
        .route("/admin/style.css", get(style))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin", get(venues_page))
        .route("/admin/venues", post(create_venue))
        .route("/admin/venues/{id}", get(venue_page))
        .route("/admin/venues/{id}/token", post(make_token))
        .route("/admin/venues/{id}/announce", post(announce))
        .route("/admin/venues/{id}/template", post(template))
        .route("/admin/venues/{id}/revoke", post(revoke))
        .route("/admin/venues/{id}/wipe", post(wipe))
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

pub(super) fn page(title: &str, signed_in: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · PVM hub" }
                link rel="stylesheet" href="/admin/style.css";
            }
            body {
                header.top {
                    span.venue { "PVM hub" }
                    @if signed_in {
                        nav { a href="/admin/console" { "Console" } a href="/admin" { "Venues" } a href="/admin/actions" { "Send" } a href="/admin/reports" { "Reports" }
                            form.logout.inline method="post" action="/admin/logout" { button.link type="submit" { "Sign out" } } }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The stored form of a session cookie's secret.
fn session_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// What sessions record of the admin key they were made with (not the
/// key, nor the hash a login is checked against).
fn key_fingerprint(app: &App) -> String {
    let mut h = Sha256::new();
    h.update(b"pvm-cloud admin session\0");
    h.update(app.admin_key_hash);
    hex::encode(h.finalize())
}

/// Who the request's sign-in is (kept in the hub's database: across
/// restarts and for every pvm-cloud process): a staff account's session, or
/// an admin-key session. A database that does not answer signs nobody in.
async fn signed_in(app: &App, headers: &HeaderMap) -> Option<Caller> {
    let id = cookie(headers)?;
    if id.starts_with(super::auth::SESSION_PREFIX) {
        return super::auth::caller_of(app, &id).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e.2, "hub staff session not checked");
            None
        });
    }
    let valid = match app.hub.store.lock().await {
        Ok(db) => {
            db.session_valid(&session_hash(&id), &key_fingerprint(app), now_ms())
                .await
        }
        Err(e) => Err(e),
    };
    valid
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "admin session not checked");
            false
        })
        .then(Caller::admin_key)
}

/// The caller a live feed's request signed in as, looked up again.
pub(super) async fn signed_in_again(app: &App, headers: &HeaderMap) -> Option<Caller> {
    signed_in(app, headers).await
}

/// A form post from another site is refused: the Origin (or Referer) must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let rest = from.split_once("://").map(|(_, r)| r).unwrap_or_default();
    !host.is_empty() && (rest == host || rest.starts_with(&format!("{host}/")))
}

/// Pages need a session; form posts need a session and this origin.
/// (The error is the response to send: handlers return it as it is.)
#[allow(clippy::result_large_err)]
pub(super) async fn guard(app: &App, headers: &HeaderMap, post: bool) -> Result<Caller, Response> {
    if post && !same_origin(headers) {
        return Err((StatusCode::FORBIDDEN, "form from another site refused").into_response());
    }
    signed_in(app, headers)
        .await
        .ok_or_else(|| Redirect::to("/admin/login").into_response())
}

/// A form post that needs permission `P` on venue `id`: the caller, or the
/// page to answer with (403 for a role that may not, 404 for a venue it
/// does not see).
#[allow(clippy::result_large_err)]
async fn guard_venue<P: Perm>(
    app: &App,
    headers: &HeaderMap,
    id: Uuid,
) -> Result<Caller, Response> {
    let caller = guard(app, headers, true).await?;
    if !caller.holds::<P>() {
        return Err((
            StatusCode::FORBIDDEN,
            page(
                "Not allowed",
                true,
                html! { p.error { "Your role (" (caller.role.label()) ") cannot do this." } },
            ),
        )
            .into_response());
    }
    match caller.venue(app, id).await {
        Ok(()) => {}
        Err(e) if e.0 == StatusCode::NOT_FOUND => return Err(not_found()),
        Err(e) => return Err(e.into_response()),
    }
    Ok(caller)
}

/// A venue id in a page's path; one that does not parse is the page's 404.
pub(super) struct PageId(pub Uuid);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PageId {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        match Path::<Uuid>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(PageId(id)),
            Err(_) => Err(not_found()),
        }
    }
}

/// An error for a person: the API's message on a page, with its status
/// (never the API's JSON).
pub(super) fn page_error(e: super::error::ApiError) -> Response {
    let title = if e.0.is_server_error() {
        "Something went wrong"
    } else {
        "That did not work"
    };
    (
        e.0,
        page(
            title,
            true,
            html! {
                p.error role="alert" { (e.2) }
                p { a href="/admin" { "Back to the venues" } }
            },
        ),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        page("Not found", true, html! { p.error { "No such venue." } }),
    )
        .into_response()
}

async fn login_page() -> Markup {
    login_form(&LoginForm::default(), None)
}

/// The sign-in page, keeping what was typed (never a password or key) and
/// naming what was wrong.
fn login_form(typed: &LoginForm, error: Option<&str>) -> Markup {
    page(
        "Sign in",
        false,
        html! {
            main.narrow {
                h1 { "Sign in" }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/admin/login" {
                    label { "Username" input name="username" value=(typed.username) required maxlength="32" autocomplete="username" autocapitalize="none"; }
                    label { "Password" input name="password" type="password" required maxlength="128" autocomplete="current-password"; }
                    label { "Code from your authenticator app (if your account has one)"
                        input name="totp" inputmode="numeric" maxlength="6" autocomplete="one-time-code"; }
                    button.big type="submit" { "Sign in" }
                }
                details {
                    summary { "Sign in with the admin key" }
                    form method="post" action="/admin/login" {
                        label { "Admin key" input name="key" type="password" required autocomplete="off"; }
                        button type="submit" { "Sign in" }
                    }
                    p.meta { "pvm-cloud printed the admin key at its first start; it is also in admin.key in its data dir. Use it to make the first accounts." }
                }
            }
        },
    )
}

/// Every venue's alerts now (docs/OPERATIONS.md, "Alerts").
pub(crate) async fn current_alerts(
    app: &App,
    caller: &Caller,
) -> Result<Vec<crate::alerts::Alert>, super::error::ApiError> {
    let mut listings = app.hub.store.lock().await?.venues().await?;
    listings.retain(|v| v.id.parse().is_ok_and(|id| caller.sees(id, v.operator_id)));
    let rules = crate::serve::alert_rules(&app.cli);
    Ok(crate::alerts::current(&app.hub, &listings, crate::now_ms(), &rules).await?)
}

/// A node's last heartbeat for a person: its version and figures, named.
fn heartbeat_words(stored: &str) -> String {
    let Ok(beat) = serde_json::from_str::<serde_json::Value>(stored) else {
        return "unreadable".into();
    };
    let n = |k: &str| beat[k].as_u64();
    let mut out = Vec::new();
    if let Some(v) = beat["version"].as_str() {
        out.push(format!("version {v}"));
    }
    if let Some(b) = n("backlog") {
        out.push(format!("{} waiting to sync", pvm_shared::words::grouped(b)));
    }
    if let Some(mb) = n("disk_free_mb") {
        out.push(format!(
            "{} MB free on disk",
            pvm_shared::words::grouped(mb)
        ));
    }
    if let Some(kb) = n("mem_available_kb") {
        out.push(format!(
            "{} MB memory free",
            pvm_shared::words::grouped(kb / 1024)
        ));
    }
    if let Some(c) = beat["cpu_temp_c"].as_f64() {
        out.push(format!("CPU {c:.0} °C"));
    }
    if let Some(s) = n("uptime_s") {
        out.push(format!("up {} h {} min", s / 3600, s / 60 % 60));
    }
    if out.is_empty() {
        "no figures".into()
    } else {
        out.join(" · ")
    }
}

fn alert_label(kind: &str) -> &'static str {
    match kind {
        "offline" => "offline",
        "backlog" => "sync backlog",
        "disk_low" => "disk low",
        "clock_skew" => "clock off",
        "fork" => "log forked",
        _ => "events rejected",
    }
}

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
}

async fn login(State(app): State<App>, request: axum::extract::Request) -> Response {
    let headers = request.headers().clone();
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "form from another site refused").into_response();
    }
    let address = super::accounts::client_address(
        &app,
        &headers,
        super::accounts::peer(request.extensions()),
    );
    let Ok(Form(f)) = Form::<LoginForm>::from_request(request, &()).await else {
        return (
            StatusCode::BAD_REQUEST,
            login_form(
                &LoginForm::default(),
                Some("The form did not arrive whole: try again."),
            ),
        )
            .into_response();
    };
    if f.key.is_empty() {
        return staff_login(&app, &headers, f, &address).await;
    }
    let hash: [u8; 32] = Sha256::digest(f.key.trim().as_bytes()).into();
    if hash != app.admin_key_hash {
        return (
            StatusCode::UNAUTHORIZED,
            login_form(&LoginForm::default(), Some("That is not the admin key.")),
        )
            .into_response();
    }
    let id = hex::encode(rand::random::<[u8; 24]>());
    let now = now_ms();
    let stored = match app.hub.store.lock().await {
        Ok(db) => {
            db.insert_session(
                &session_hash(&id),
                &key_fingerprint(&app),
                now,
                now + SESSION_MS,
            )
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "admin session not stored");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            login_form(
                &LoginForm::default(),
                Some("The hub's database does not answer: try again in a minute."),
            ),
        )
            .into_response();
    }
    session_cookie(&app, &headers, &id)
}

/// Signs a staff account in from the form: the page again, with what was
/// typed and what was wrong, or the venues page with its session cookie.
async fn staff_login(app: &App, headers: &HeaderMap, f: LoginForm, address: &str) -> Response {
    use super::accounts::LoginError;
    let code = Some(f.totp.as_str()).filter(|c| !c.trim().is_empty());
    match super::accounts::sign_in(app, &f.username, &f.password, code, address).await {
        Ok((secret, _, _)) => session_cookie(app, headers, &secret),
        Err(e) => {
            let (status, why) = match &e {
                LoginError::BadCredentials => (StatusCode::UNAUTHORIZED, "Wrong username, password or code.".to_owned()),
                LoginError::TotpRequired => (StatusCode::UNAUTHORIZED, "This account has a second factor: type the code from its authenticator app too.".to_owned()),
                LoginError::Disabled => (StatusCode::FORBIDDEN, "This account is disabled: ask your operator's owner or admin.".to_owned()),
                LoginError::LockedOut { minutes } => (StatusCode::TOO_MANY_REQUESTS, format!("Too many failed sign-ins: try again in {minutes} min.")),
                LoginError::Store(err) => {
                    tracing::error!(error = %err, "hub sign-in failed");
                    (StatusCode::SERVICE_UNAVAILABLE, "The hub's database does not answer: try again in a minute.".to_owned())
                }
            };
            (status, login_form(&f, Some(&why))).into_response()
        }
    }
}

/// The session cookie set, and on to the venues.
fn session_cookie(app: &App, headers: &HeaderMap, secret: &str) -> Response {
    (
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                SESSION_MS / 1000,
                secure(app, headers)
            ),
        )],
        Redirect::to("/admin"),
    )
        .into_response()
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers) {
        let removed = match app.hub.store.lock().await {
            Ok(db) if id.starts_with(super::auth::SESSION_PREFIX) => {
                db.delete_staff_session(&session_hash(&id)).await
            }
            Ok(db) => db.delete_session(&session_hash(&id)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            tracing::error!(error = %e, "admin session not removed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                page("Sign out", true, html! { p.error { "The hub's database does not answer, so you are still signed in: try again in a minute." } }),
            )
                .into_response();
        }
    }
    (
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
                secure(&app, &headers)
            ),
        )],
        Redirect::to("/admin/login"),
    )
        .into_response()
}

/// `; Secure` when the browser reached the hub over TLS: pvm-cloud serving
/// HTTPS itself, or a TLS proxy in front saying so (`X-Forwarded-Proto`).
fn secure(app: &App, headers: &HeaderMap) -> &'static str {
    let proxied = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if app.cli.tls_cert.is_some() || proxied {
        "; Secure"
    } else {
        ""
    }
}

pub(super) fn ago(ms: Option<i64>) -> String {
    match ms {
        None => "never".into(),
        Some(t) => {
            let s = (now_ms() - t).max(0) / 1000;
            match s {
                0..=59 => format!("{s} s ago"),
                60..=3599 => format!("{} min ago", s / 60),
                3600..=172_799 => format!("{} h ago", s / 3600),
                _ => format!("{} days ago", s / 86_400),
            }
        }
    }
}

async fn venues_page(State(app): State<App>, headers: HeaderMap) -> Result<Response, Response> {
    let caller = guard(&app, &headers, false).await?;
    venues_view(&app, &caller, None, &NameForm::default()).await
}

/// The venues page; after a refused new-venue form, with what was wrong
/// and what was typed.
async fn venues_view(
    app: &App,
    caller: &Caller,
    error: Option<&str>,
    typed: &NameForm,
) -> Result<Response, Response> {
    let venues = super::venues::venue_rows(app, caller)
        .await
        .map_err(page_error)?;
    // The venues still show if the alerts cannot be worked out.
    let alerts = current_alerts(app, caller).await.map_err(|_| ());
    let operators = match caller.role {
        super::auth::Role::Super => app
            .hub
            .store
            .lock()
            .await
            .map_err(|e| page_error(e.into()))?
            .operators()
            .await
            .map_err(|e| page_error(e.into()))?,
        _ => Vec::new(),
    };
    let body = html! {
        h1 { "Venues " small { (venues.len()) } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if alerts.is_err() {
            p.error { "The alerts could not be worked out just now; see the hub's log." }
        }
        @if let Ok(alerts) = &alerts { @if !alerts.is_empty() {
            section.alerts {
                h2 { "Alerts " small { (alerts.len()) } }
                ul.plain {
                    @for a in alerts {
                        li { strong { (a.venue_name) } " · " (alert_label(a.kind)) ": " (a.detail) }
                    }
                }
            }
        } }
        ul.tables {
            @for v in &venues {
                li.table.open[v.status == "online"] {
                    div.summary {
                        span.name { a href=(format!("/admin/venues/{}", v.id)) { (v.name) } }
                        span.status { (v.status) }
                        span.game { (v.events) @if v.events == 1 { " event" } @else { " events" } " · verified to " (v.verified_seq) }
                        span.seats { "contact " (ago(v.last_contact_ms)) @if let Some(b) = v.backlog { " · backlog " (b) } }
                    }
                }
            }
        }
        @if caller.holds::<VenuesCreate>() {
        section.new {
            h2 { "New venue" }
            form method="post" action="/admin/venues" {
                label { "Name" input name="name" required maxlength="80" placeholder="Riverside Card Room" value=(typed.name); }
                @if !operators.is_empty() {
                    label { "Operator" select name="operator" {
                        option value="" { "(none: only hub super-admins see it)" }
                        @for o in &operators { option value=(o.id) selected[typed.operator == o.id.to_string()] { (o.name) } }
                    } }
                }
                button type="submit" { "Create" }
            }
        }
        }
        p.meta { "Signed in as " (caller.staff.as_ref().map_or("the admin key", |s| s.display_name.as_str())) " · " (caller.role.label())
            @if caller.holds::<super::auth::StaffManage>() { " · " a href="/admin/staff" { "Staff accounts" } } }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, page("Venues", true, body)).into_response())
}

#[derive(Deserialize, Default)]
struct NameForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    operator: String,
}

async fn create_venue(
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<NameForm>,
) -> Result<Response, Response> {
    let caller = guard(&app, &headers, true).await?;
    if !caller.holds::<VenuesCreate>() {
        return Err((
            StatusCode::FORBIDDEN,
            page(
                "Not allowed",
                true,
                html! { p.error { "Your role (" (caller.role.label()) ") cannot make venues." } },
            ),
        )
            .into_response());
    }
    let wanted = f.operator.trim().parse::<Uuid>().ok();
    let made = match super::venues::venue_owner(&app, &caller, wanted).await {
        Ok(operator) => super::venues::insert_venue(&app, &f.name, operator).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(id) => Ok(Redirect::to(&format!("/admin/venues/{id}")).into_response()),
        Err(e) if e.0.is_client_error() => venues_view(&app, &caller, Some(&e.2), &f).await,
        Err(e) => Err(page_error(e)),
    }
}

async fn venue_view(
    app: &App,
    caller: &Caller,
    id: Uuid,
    notice: Option<Markup>,
) -> Result<Response, Response> {
    let venues = super::venues::venue_rows(app, caller)
        .await
        .map_err(page_error)?;
    let Some(v) = venues.into_iter().find(|v| v.id == id.to_string()) else {
        return Err(not_found());
    };
    let (act, fleet) = (caller.holds::<VenuesAct>(), caller.holds::<Fleet>());
    // What runs there now and what it finished, from the hub's fold.
    let state = app
        .hub
        .venues
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned();
    let now_glance = state.as_ref().and_then(|s| {
        let states = std::collections::HashMap::from([(id, s.clone())]);
        crate::console::glance(vec![v.clone()], &states, now_ms() as u64)
            .into_iter()
            .next()
    });
    let finished = state
        .as_deref()
        .map(|s| crate::console::finished(s, 10))
        .unwrap_or_default();
    let events = super::venues::events_summary(app, id)
        .await
        .map_err(page_error)?;
    let problems = super::venues::problem_rows(app, id)
        .await
        .map_err(page_error)?;
    let templates = pvm_shared::tournament::structure::templates();
    // This venue's alerts; the page still shows if they cannot be worked out.
    let alerts: Vec<crate::alerts::Alert> = current_alerts(app, caller)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.venue_id == v.id)
        .collect();
    let body = html! {
        h1 { (v.name) " " small { (v.status) } }
        @if let Some(n) = notice { (n) }
        @if !alerts.is_empty() {
            section.alerts {
                h2 { "Alerts " small { (alerts.len()) } }
                ul.plain { @for a in &alerts { li { strong { (alert_label(a.kind)) } ": " (a.detail) } } }
            }
        }
        p.meta { "Node " (v.node_id.clone().unwrap_or_else(|| "not registered yet".into())) " · contact " (ago(v.last_contact_ms))
            @if let Some(b) = v.backlog { " · backlog " (b) } }
        @if let Some(hb) = &v.heartbeat { p.meta { "Last heartbeat: " (heartbeat_words(hb)) } }
        h2 { "Now" }
        @match &now_glance {
            Some(g) => { (super::console::activity(g)) }
            None => { p.empty { "Nothing synced from this venue yet." } }
        }
        @if !finished.is_empty() {
            h2 { "Finished tournaments" }
            ul.plain { @for t in &finished { li {
                strong { (t.name) } " · " (t.entries) " entries"
                @if t.reentries > 0 { ", " (t.reentries) " re-entries" }
                @for (place, name) in &t.podium { " · " (place) ". " (name) }
            } } }
        }
        h2 { "Events" }
        p { (events.0) " stored, seq " (events.1.unwrap_or(0)) " to " (events.2.unwrap_or(0)) ", verified to " (events.3.unwrap_or(0)) }
        table.api {
            thead { tr { th { "seq" } th { "kind" } th { "verified" } } }
            tbody { @for (seq, kind, ok) in &events.4 { tr { td { (seq) } td { (kind) } td { @if *ok { "yes" } @else { "waiting for its batch's signature" } } } } }
        }
        h2 { "Problems " small { (problems.len()) } }
        @if problems.is_empty() { p.empty { "None: every event arrived in order and verified." } }
        ul.plain { @for p in &problems { li {
            strong { (p.kind) } @if let Some(seq) = p.seq { " seq " (seq) } ": " (p.detail) " · " (ago(Some(p.at_ms)))
            @if p.count > 1 { " · " (p.count) " times, last " (ago(Some(p.last_ms))) }
        } } }
        // A venue has one node: a token is for a venue without one.
        @if v.node_id.is_none() && fleet {
            section.new {
                h2 { "Register a node" }
                form method="post" action=(format!("/admin/venues/{id}/token")) { button type="submit" { "Make a registration token (24 h, one use)" } }
            }
        }
        @if v.status == "revoked" {
            p.meta { "This venue's node is revoked: nothing more is sent to it, and what it sends is refused. Its history stays here." }
        } @else {
        @if act {
        section.new {
            h2 { "Announce on this venue's screens" }
            form method="post" action=(format!("/admin/venues/{id}/announce")) {
                label { "Message" input name="text" required maxlength="280"; }
                label { "Minutes" input name="minutes" inputmode="numeric" value="30" required; }
                button type="submit" { "Send" }
            }
        }
        }
        @if v.node_id.is_some() && v.status != "revoked" && fleet {
            section.new {
                h2 { "Erase this venue's node remotely" }
                p.meta { "For a stolen box: at its next contact it reports the order, erases all its data and starts again as a new, unregistered box. Revoke it only once its events here show wipe_ordered: a revoke stops the order reaching it." }
                form method="post" action=(format!("/admin/venues/{id}/wipe")) {
                    label.check { input type="checkbox" name="confirm" value="yes" required; " Yes, erase everything on this node" }
                    button.danger type="submit" { "Erase the node" }
                }
            }
            section.new {
                h2 { "Revoke this venue's node" }
                p.meta { "For a stolen box, or one taken out of service. From now on the hub refuses what it sends and sends it nothing; once its link drops it cannot link again. Everything it already sent stays here." }
                form method="post" action=(format!("/admin/venues/{id}/revoke")) {
                    label.check { input type="checkbox" name="confirm" value="yes" required; " Yes, cut this node off for good" }
                    button.danger type="submit" { "Revoke the node" }
                }
            }
        }
        @if act {
        section.new {
            h2 { "Send a tournament template" }
            form method="post" action=(format!("/admin/venues/{id}/template")) {
                label { "Based on" select name="base" { @for t in &templates { option value=(t.name) { (t.name) } } } }
                label { "Name at the venue" input name="name" required maxlength="80" placeholder="Series Daily"; }
                button type="submit" { "Send" }
            }
        }
        }
        }
    };
    Ok(page(&v.name, true, body).into_response())
}

async fn venue_page(
    State(app): State<App>,
    headers: HeaderMap,
    PageId(id): PageId,
) -> Result<Response, Response> {
    let caller = guard(&app, &headers, false).await?;
    venue_view(&app, &caller, id, None).await
}

async fn make_token(
    State(app): State<App>,
    headers: HeaderMap,
    PageId(id): PageId,
) -> Result<Response, Response> {
    let caller = guard_venue::<Fleet>(&app, &headers, id).await?;
    let (token, _) = super::venues::new_token(&app, id)
        .await
        .map_err(page_error)?;
    let notice = html! {
        div.error {
            p { "Registration token (shown once, valid 24 h, one use):" }
            p { code { (token) } }
            p { "On the venue's box: " code { "pvm-node register --hub THIS-HUB-URL --token " (token) } }
        }
    };
    venue_view(&app, &caller, id, Some(notice)).await
}

#[derive(Deserialize)]
struct AnnounceForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    minutes: String,
}

async fn announce(
    State(app): State<App>,
    headers: HeaderMap,
    PageId(id): PageId,
    Form(f): Form<AnnounceForm>,
) -> Result<Response, Response> {
    let caller = guard_venue::<VenuesAct>(&app, &headers, id).await?;
    let minutes: u64 = f.minutes.trim().parse().unwrap_or(0);
    let notice = match super::downstream::announce_down(
        &app,
        id,
        super::downstream::NewAnnouncement {
            text: f.text,
            group: None,
            minutes,
        },
    )
    .await
    {
        Ok(_) => html! { p.meta { "Sent: it shows on the venue's screens once its node has it." } },
        Err(e) => html! { p.error { (e.2) } },
    };
    venue_view(&app, &caller, id, Some(notice)).await
}

#[derive(Deserialize)]
struct TemplateForm {
    #[serde(default)]
    base: String,
    #[serde(default)]
    name: String,
}

async fn template(
    State(app): State<App>,
    headers: HeaderMap,
    PageId(id): PageId,
    Form(f): Form<TemplateForm>,
) -> Result<Response, Response> {
    let caller = guard_venue::<VenuesAct>(&app, &headers, id).await?;
    let base = pvm_shared::tournament::structure::templates()
        .into_iter()
        .find(|t| t.name == f.base);
    let notice = match base {
        None => html! { p.error { "Choose a template to start from." } },
        Some(mut structure) => {
            structure.name = f.name.trim().to_owned();
            match super::downstream::template_down(&app, id, structure).await {
                Ok(_) => {
                    html! { p.meta { "Sent: it appears in the venue's templates once its node has it." } }
                }
                Err(e) => html! { p.error { (e.2) } },
            }
        }
    };
    venue_view(&app, &caller, id, Some(notice)).await
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

/// The venue's live node, if it has one.
async fn venue_node(app: &App, caller: &Caller, id: Uuid) -> Result<Option<Uuid>, Response> {
    Ok(super::venues::venue_rows(app, caller)
        .await
        .map_err(page_error)?
        .into_iter()
        .find(|v| v.id == id.to_string())
        .and_then(|v| v.node_id)
        .and_then(|n| n.parse::<Uuid>().ok()))
}

/// What the venue page's two danger forms do to its node.
#[derive(Clone, Copy)]
enum NodeAction {
    Wipe,
    Revoke,
}

/// A danger form: the tick checked, the venue's node found, the action
/// taken, and the venue page again with what happened.
async fn node_action(
    app: &App,
    headers: &HeaderMap,
    id: Uuid,
    f: ConfirmForm,
    action: NodeAction,
) -> Result<Response, Response> {
    let caller = guard_venue::<Fleet>(app, headers, id).await?;
    let node = venue_node(app, &caller, id).await?;
    let (tick, verb) = match action {
        NodeAction::Wipe => ("Yes, erase everything on this node", "erase"),
        NodeAction::Revoke => ("Yes, cut this node off for good", "revoke"),
    };
    let notice = match node {
        _ if f.confirm != "yes" => html! { p.error { "Tick “" (tick) "” to " (verb) " it." } },
        None => html! { p.error { "This venue has no registered node to " (verb) "." } },
        Some(node) => {
            let done = match action {
                NodeAction::Wipe => super::venues::wipe_node(app, node).await.map(|_| {
                    html! { p.meta { "Sent: node " (node) " erases its data at its next contact, once it has reported the order here (its log shows “wipe ordered”)." } }
                }),
                NodeAction::Revoke => super::venues::revoke_node(app, node).await.map(|_| {
                    html! { p.meta { "Revoked: node " (node) " is refused by the hub from now on; its events stay here." } }
                }),
            };
            done.unwrap_or_else(|e| html! { p.error { (e.2) } })
        }
    };
    venue_view(app, &caller, id, Some(notice)).await
}

async fn wipe(
    State(app): State<App>,
    headers: HeaderMap,
    PageId(id): PageId,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, Response> {
    node_action(&app, &headers, id, f, NodeAction::Wipe).await
}

async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    PageId(id): PageId,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, Response> {
    node_action(&app, &headers, id, f, NodeAction::Revoke).await
}
