//! The staff pages: server-rendered HTML forms that work on a phone with no
//! JavaScript. Each form posts, the change goes through the same log as the
//! API, and the browser is sent back to the page (post/redirect/get).
//! Permissions come from `Require<P>`; the CSRF token every form carries is
//! checked by the `sessions` layer before any handler runs.

use super::auth::{CsrfToken, Require, StaffUi, TablesManage, TablesOperate, VenueManage};
use super::error::ApiError;
use super::page::{csrf_field, layout, run_parsed, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops;
use crate::ops::tables::Change;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use pvm_shared::auth::Permission;
use pvm_shared::venue::{
    Branding, Colour, Game, PokerTable, Stakes, TableName, TableStatus, Timezone, VenueName,
    VenueSettings,
};
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(tables_page))
        .route("/tables", post(create_table))
        .route("/tables/{id}/rename", post(rename_table))
        .route("/tables/{id}/game", post(set_game))
        .route("/tables/{id}/open", post(open_table))
        .route("/tables/{id}/close", post(close_table))
        .route("/settings", get(settings_page).post(save_settings))
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
                span.game { (t.stakes) " " (t.game.label()) }
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

/// What a tables form asks for, parsed (or why it could not be).
enum TableAsk {
    Create(ops::tables::NewTable),
    Change(Uuid, Change),
}

/// Runs what the form asked; on success back to the tables page, on a bad
/// form or a refusal the page again with the reason.
async fn run_table(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    ask: Result<TableAsk, String>,
) -> Result<Response, ApiError> {
    let done = run_parsed(ask, |ask| async move {
        match ask {
            TableAsk::Create(new) => ops::tables::create(&s.log, who.actor(), new)
                .await
                .map(|(_, committed)| committed),
            TableAsk::Change(id, change) => {
                ops::tables::change(&s.log, who.actor(), id, change).await
            }
        }
    })
    .await;
    if let Err((status, message)) = done {
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
    let ask = (|| {
        let (game, stakes) = form.game_and_stakes()?;
        Ok(TableAsk::Create(ops::tables::NewTable {
            name: form.name()?,
            game,
            stakes,
            seats: parse_number("seats", &form.seats)?,
        }))
    })();
    run_table(&s, who.principal(), &csrf, ask).await
}

async fn rename_table(
    State(s): State<AppState>,
    who: Require<TablesManage>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    form: FormResult<TableForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let ask = form
        .name()
        .map(|name| TableAsk::Change(id, Change::Rename(name)));
    run_table(&s, who.principal(), &csrf, ask).await
}

async fn set_game(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    form: FormResult<TableForm>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let ask = form
        .game_and_stakes()
        .map(|(game, stakes)| TableAsk::Change(id, Change::Deal { game, stakes }));
    run_table(&s, who.principal(), &csrf, ask).await
}

async fn open_table(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let ask = Ok(TableAsk::Change(id, Change::Open));
    run_table(&s, who.principal(), &csrf, ask).await
}

async fn close_table(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let ask = Ok(TableAsk::Change(id, Change::Close));
    run_table(&s, who.principal(), &csrf, ask).await
}

/// The venue form: what is stored, or what was typed when it was refused.
fn settings_form(typed: &SettingsForm, csrf: &CsrfToken) -> Markup {
    html! {
        h1 { "Venue" }
        form.settings method="post" action="/settings" {
            (csrf_field(csrf))
            label { "Name" input name="name" value=(typed.name) required maxlength="80"; }
            label { "Time zone" input name="timezone" value=(typed.timezone) required list="timezones" autocomplete="off" placeholder="Europe/London"; }
            datalist id="timezones" {
                @for tz in Timezone::all_names() { option value=(tz) {} }
            }
            fieldset {
                legend { "Branding" }
                label { "Primary" input name="primary" type="color" value=(typed.primary); }
                label { "Accent" input name="accent" type="color" value=(typed.accent); }
                label { "Background" input name="background" type="color" value=(typed.background); }
            }
            button type="submit" { "Save" }
        }
        section.new {
            h2 { "Also the venue's" }
            ul.plain {
                li { a href="/cash/rules" { "Waiting-list rules" } ": call timer, no-shows, new tables" }
                li { a href="/screens" { "Screens" } ": the logo, theme, slides and announcements the TVs show" }
                li { a href="/structures" { "Tournament structures" } ": the templates tournaments start from" }
                li { a href="/staff" { "Staff" } " and " a href="/keys" { "API keys" } }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct SettingsPageQuery {
    saved: Option<String>,
    logo: Option<String>,
}

async fn settings_page(
    State(s): State<AppState>,
    who: Require<VenueManage>,
    csrf: CsrfToken,
    Query(q): Query<SettingsPageQuery>,
) -> Result<Response, ApiError> {
    let notice = if q.saved.is_some() {
        Some("Venue settings saved: the staff pages and screens use them now.")
    } else if q.logo.is_some() {
        Some("Logo saved: every screen shows it now.")
    } else {
        None
    };
    render_venue(&s, who.principal(), &csrf, StatusCode::OK, None, notice).await
}

/// The Venue page as stored, with an error or a notice.
pub(super) async fn render_venue(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let logo = s.log.venue().displays.logo.clone();
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        (settings_form(&SettingsForm::from(&settings), csrf))
        section.new {
            h2 { "Logo" }
            @if let Some(logo) = &logo {
                p { img.logo src=(format!("/display/media/{logo}")) alt="the venue's logo" height="60"; }
            } @else {
                p.meta { "No logo yet: the screens show the venue's name." }
            }
            form method="post" action=(format!("/screens/logo?_csrf={}", csrf.0)) enctype="multipart/form-data" {
                input type="hidden" name="back" value="venue";
                label { "Logo for the screens (PNG, JPEG or WebP, up to 2 MiB)" input name="image" type="file" required accept="image/png,image/jpeg,image/webp"; }
                button type="submit" { "Upload logo" }
            }
        }
    };
    Ok((status, layout(&settings, who, csrf, "Venue", error, body)).into_response())
}

impl From<&VenueSettings> for SettingsForm {
    fn from(v: &VenueSettings) -> Self {
        SettingsForm {
            name: v.name.to_string(),
            timezone: v.timezone.to_string(),
            primary: v.branding.primary.to_string(),
            accent: v.branding.accent.to_string(),
            background: v.branding.background.to_string(),
        }
    }
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
        Ok(settings) => match ops::venue::update_settings(&s.log, who.actor(), settings).await {
            Ok(_) => return Ok(Redirect::to("/settings?saved=1").into_response()),
            Err(e) => ApiError::from(e),
        },
        Err(e) => ApiError::from(e),
    };
    let current = s.reader.settings().await?;
    let body = settings_form(&form, &csrf);
    Ok((
        failure.status,
        layout(&current, who, &csrf, "Venue", Some(&failure.message), body),
    )
        .into_response())
}
