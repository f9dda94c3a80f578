//! The staff pages: server-rendered HTML forms that work on a phone with no
//! JavaScript. Each form posts, the change goes through the same log as the
//! API, and the browser is sent back to the page (post/redirect/get).
//! Permissions come from `Require<P>`; the CSRF token every form carries is
//! checked by the `sessions` layer before any handler runs.

use super::auth::{
    clear_session_cookies, cookie, device_cookie, session_cookies, ClientAddr, CsrfToken, Require,
    StaffUi, TablesManage, TablesOperate, VenueManage, CSRF_FIELD,
};
use super::error::ApiError;
use super::AppState;
use crate::auth::{AuthError, Principal, Secret};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use pvm_shared::auth::Permission;
use pvm_shared::venue::{
    Branding, Colour, Command, Game, PokerTable, Stakes, TableName, TableStatus, Timezone,
    VenueName, VenueSettings,
};
use serde::Deserialize;
use uuid::Uuid;

const STAFF_CSS: &str = include_str!("../../static/staff.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(tables_page))
        .route("/login", get(login_page).post(login))
        .route("/setup", get(setup_page).post(setup))
        .route("/logout", post(logout))
        .route("/tables", post(create_table))
        .route("/tables/{id}/rename", post(rename_table))
        .route("/tables/{id}/game", post(set_game))
        .route("/tables/{id}/open", post(open_table))
        .route("/tables/{id}/close", post(close_table))
        .route("/settings", get(settings_page).post(save_settings))
        .route("/static/staff.css", get(css))
        .route("/brand.css", get(brand_css))
}

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

async fn css() -> Response {
    static_file("text/css; charset=utf-8", STAFF_CSS)
}

/// The venue's colours as CSS variables, so branding needs no inline style.
async fn brand_css(State(s): State<AppState>) -> Result<Response, ApiError> {
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

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href="/static/staff.css";
            link rel="stylesheet" href="/brand.css";
        }
    }
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
                        a href="/tournaments" { "Tournaments" }
                        a href="/screens" { "Screens" }
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

/// A page with just a message, for refusals outside the normal pages.
pub fn message_page(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { main.narrow { h1 { (title) } p { (message) } p { a href="/" { "Back to the tables" } } } }
        }
    }
}

fn game_select(name: &str, selected: Game) -> Markup {
    html! {
        select name=(name) {
            @for g in Game::ALL {
                option value=(g.code()) selected[g == selected] { (g.label()) }
            }
        }
    }
}

fn table_card(t: &PokerTable, who: &Principal, csrf: &CsrfToken) -> Markup {
    let open = t.status == TableStatus::Open;
    let operate = Permission::TablesOperate.allows(who.role);
    let manage = Permission::TablesManage.allows(who.role);
    html! {
        li.table.open[open] id=(format!("table-{}", t.id)) {
            div.summary {
                span.name { (t.name) }
                span.game { (t.game.label()) " " (t.stakes) }
                span.seats { (t.seats) " seats" }
                span.status { (if open { "Open" } else { "Closed" }) }
            }
            @if operate {
                div.actions {
                    @if open {
                        form method="post" action=(format!("/tables/{}/close", t.id)) {
                            (csrf_field(csrf))
                            button.secondary type="submit" { "Close" }
                        }
                    } @else {
                        form method="post" action=(format!("/tables/{}/open", t.id)) {
                            (csrf_field(csrf))
                            button type="submit" { "Open" }
                        }
                    }
                    details {
                        summary { "Edit" }
                        form.edit method="post" action=(format!("/tables/{}/game", t.id)) {
                            (csrf_field(csrf))
                            label { "Game" (game_select("game", t.game)) }
                            label { "Small blind" input name="small_blind" type="number" min="1" value=(t.stakes.small_blind()) required; }
                            label { "Big blind" input name="big_blind" type="number" min="1" value=(t.stakes.big_blind()) required; }
                            button type="submit" { "Set game" }
                        }
                        @if manage {
                            form.edit method="post" action=(format!("/tables/{}/rename", t.id)) {
                                (csrf_field(csrf))
                                label { "Name" input name="name" value=(t.name) required maxlength="40"; }
                                button.secondary type="submit" { "Rename" }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn render_tables(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let tables = s.reader.tables().await?;
    let open = tables
        .iter()
        .filter(|t| t.status == TableStatus::Open)
        .count();
    let sync = super::api::sync_view(s, s.reader.head_seq().await?);
    let now = s.clock.now_ms();
    // The writer's state, as /ready sees it (a full disk, a failed database).
    let saving = s.log.ready().await.err();
    let body = html! {
        @if let Some(reason) = &saving {
            p.mustmove.saving { "This node cannot save changes now: " (reason) ". Nothing is lost; free space on the node (see docs/OPERATIONS.md, \"Disk full\") and it recovers by itself." }
        }
        @if let Some(w) = &sync.warning { p.mustmove.sync { (w) } }
        @if let Some(f) = &sync.fork { p.mustmove.sync.fork { (f.message) } }
        @if sync.registered {
            p.meta.sync {
                "Hub: "
                @if sync.pending == 0 { "everything synced" } @else { (sync.pending) " events waiting to sync" }
                " · last contact "
                @match sync.last_contact_ms { Some(t) => { (super::time_ago(now, t)) }, None => { "never" } }
            }
            @if let (Some(false), Some(since)) = (sync.leaf.connected, sync.leaf.down_since_ms) {
                p.meta.sync.leaf {
                    "The leaf link to the hub went down " (super::time_ago(now, since))
                    @if sync.leaf.hub_reachable == Some(true) && sync.leaf.restart_method != "off" {
                        " — the hub answers; the leaf will be restarted if it stays down"
                    } @else if sync.leaf.hub_reachable == Some(false) {
                        " — the hub does not answer (internet line down?)"
                    }
                }
            }
            @if let Some(t) = sync.leaf.last_restart_ms {
                p.meta.sync.leaf {
                    "The leaf was restarted " (super::time_ago(now, t)) " because its link to the hub had stuck"
                    @if sync.leaf.restarts > 1 { " (" (sync.leaf.restarts) " times since the node started)" }
                    @if let Some(e) = &sync.leaf.last_error { ": the restart failed: " (e) }
                }
            }
        }
        h1 { "Tables " small { (open) " open of " (tables.len()) } }
        @if tables.is_empty() {
            p.empty { "No tables yet." }
        }
        ul.tables {
            @for t in &tables { (table_card(t, who, csrf)) }
        }
        @if Permission::TablesManage.allows(who.role) {
            section.new {
                h2 { "New table" }
                form method="post" action="/tables" {
                    (csrf_field(csrf))
                    label { "Name" input name="name" required maxlength="40" placeholder="Table 1"; }
                    label { "Game" (game_select("game", Game::Nlhe)) }
                    label { "Small blind" input name="small_blind" type="number" min="1" value="1" required; }
                    label { "Big blind" input name="big_blind" type="number" min="1" value="2" required; }
                    label { "Seats" input name="seats" type="number" min="2" max="10" value="9" required; }
                    button type="submit" { "Add table" }
                }
            }
        }
    };
    Ok((status, layout(&settings, who, csrf, "Tables", error, body)).into_response())
}

async fn tables_page(
    State(s): State<AppState>,
    who: Require<StaffUi>,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    render_tables(&s, who.principal(), &csrf, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
struct TableForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    game: String,
    #[serde(default)]
    small_blind: String,
    #[serde(default)]
    big_blind: String,
    #[serde(default)]
    seats: String,
}

fn parse_number<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("{field}: {raw:?} is not a whole number"))
}

impl TableForm {
    fn game_and_stakes(&self) -> Result<(Game, Stakes), String> {
        let game =
            Game::from_code(&self.game).ok_or_else(|| format!("unknown game {:?}", self.game))?;
        let stakes = Stakes::new(
            parse_number("small blind", &self.small_blind)?,
            parse_number("big blind", &self.big_blind)?,
        )
        .map_err(|e| e.to_string())?;
        Ok((game, stakes))
    }

    fn name(&self) -> Result<TableName, String> {
        TableName::parse(&self.name).map_err(|e| e.to_string())
    }
}

pub(super) type FormResult<T> = Result<Form<T>, axum::extract::rejection::FormRejection>;

/// Appends a form's commands as `who`, as one (a walk-in player and their
/// entry are committed together or not at all). A form that did not parse
/// (422), or a command refused, comes back as the status and reason for the
/// page to show again.
pub(super) async fn append_all(
    s: &AppState,
    who: &Principal,
    commands: Result<Vec<Command>, String>,
) -> Result<(), (StatusCode, String)> {
    let commands = commands.map_err(|m| (StatusCode::UNPROCESSABLE_ENTITY, m))?;
    if let Err(e) = s.log.append_all(who.actor(), commands).await {
        let e = ApiError::from(e);
        return Err((e.status, e.message));
    }
    Ok(())
}

/// Runs the command; on success back to the tables page, on refusal the page again with the reason.
async fn run_command(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    command: Result<Command, String>,
) -> Result<Response, ApiError> {
    if let Err((status, message)) = append_all(s, who, command.map(|c| vec![c])).await {
        return render_tables(s, who, csrf, status, Some(&message)).await;
    }
    Ok(Redirect::to("/").into_response())
}

async fn create_table(
    State(s): State<AppState>,
    who: Require<TablesManage>,
    csrf: CsrfToken,
    form: FormResult<TableForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let command = (|| {
        let (game, stakes) = form.game_and_stakes()?;
        Ok(Command::CreateTable {
            table_id: Uuid::now_v7(),
            name: form.name()?,
            game,
            stakes,
            seats: parse_number("seats", &form.seats)?,
        })
    })();
    run_command(&s, who.principal(), &csrf, command).await
}

async fn rename_table(
    State(s): State<AppState>,
    who: Require<TablesManage>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    form: FormResult<TableForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let command = form
        .name()
        .map(|name| Command::RenameTable { table_id: id, name });
    run_command(&s, who.principal(), &csrf, command).await
}

async fn set_game(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    form: FormResult<TableForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let command = form
        .game_and_stakes()
        .map(|(game, stakes)| Command::SetTableGame {
            table_id: id,
            game,
            stakes,
        });
    run_command(&s, who.principal(), &csrf, command).await
}

async fn open_table(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    run_command(
        &s,
        who.principal(),
        &csrf,
        Ok(Command::OpenTable { table_id: id }),
    )
    .await
}

async fn close_table(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    run_command(
        &s,
        who.principal(),
        &csrf,
        Ok(Command::CloseTable { table_id: id }),
    )
    .await
}

fn settings_form(settings: &VenueSettings, csrf: &CsrfToken) -> Markup {
    let b = &settings.branding;
    html! {
        h1 { "Venue" }
        form.settings method="post" action="/settings" {
            (csrf_field(csrf))
            label { "Name" input name="name" value=(settings.name) required maxlength="80"; }
            label { "Time zone" input name="timezone" value=(settings.timezone) required placeholder="Europe/London"; }
            fieldset {
                legend { "Branding" }
                label { "Primary" input name="primary" type="color" value=(b.primary); }
                label { "Accent" input name="accent" type="color" value=(b.accent); }
                label { "Background" input name="background" type="color" value=(b.background); }
            }
            button type="submit" { "Save" }
        }
    }
}

async fn settings_page(
    State(s): State<AppState>,
    who: Require<VenueManage>,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let body = settings_form(&settings, &csrf);
    Ok(layout(&settings, who.principal(), &csrf, "Venue", None, body).into_response())
}

#[derive(Debug, Deserialize)]
struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    primary: String,
    #[serde(default)]
    accent: String,
    #[serde(default)]
    background: String,
}

async fn save_settings(
    State(s): State<AppState>,
    who: Require<VenueManage>,
    csrf: CsrfToken,
    form: FormResult<SettingsForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let parsed = (|| {
        Ok::<_, pvm_shared::venue::DomainError>(VenueSettings {
            name: VenueName::parse(&form.name)?,
            timezone: Timezone::parse(&form.timezone)?,
            branding: Branding {
                primary: Colour::parse(&form.primary)?,
                accent: Colour::parse(&form.accent)?,
                background: Colour::parse(&form.background)?,
            },
        })
    })();
    let who = who.principal();
    let failure = match parsed {
        Ok(settings) => match s
            .log
            .append(who.actor(), Command::UpdateSettings(settings))
            .await
        {
            Ok(_) => return Ok(Redirect::to("/settings").into_response()),
            Err(e) => ApiError::from(e),
        },
        Err(e) => ApiError::from(e),
    };
    let current = s.reader.settings().await?;
    let body = settings_form(&current, &csrf);
    Ok((
        failure.status,
        layout(&current, who, &csrf, "Venue", Some(&failure.message), body),
    )
        .into_response())
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

fn redirect_with_cookies(to: &str, cookies: Vec<axum::http::HeaderValue>) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

async fn login_page(State(s): State<AppState>, csrf: CsrfToken) -> Result<Response, ApiError> {
    if s.auth.setup_open() {
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
