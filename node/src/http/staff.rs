//! The staff pages: server-rendered HTML forms that work on a phone with no
//! JavaScript. Each form posts, the change goes through the same log as the
//! API, and the browser is sent back to the page (post/redirect/get).

use super::error::ApiError;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use pvm_shared::venue::{
    Branding, Colour, Command, Game, PokerTable, Stakes, TableName, TableStatus, Timezone,
    VenueName, VenueSettings,
};
use pvm_shared::Actor;
use serde::Deserialize;
use uuid::Uuid;

const STAFF_CSS: &str = include_str!("../../static/staff.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(tables_page))
        .route("/tables", post(create_table))
        .route("/tables/{id}/edit", post(edit_table))
        .route("/tables/{id}/open", post(open_table))
        .route("/tables/{id}/close", post(close_table))
        .route("/settings", get(settings_page).post(save_settings))
        .route("/static/staff.css", get(css))
        .route("/brand.css", get(brand_css))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STAFF_CSS,
    )
        .into_response()
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

/// A page with the venue's name and branding around `body`.
fn layout(settings: &VenueSettings, title: &str, error: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (settings.name) }
                link rel="stylesheet" href="/static/staff.css";
                link rel="stylesheet" href="/brand.css";
            }
            body {
                header.top {
                    span.venue { (settings.name) }
                    nav {
                        a href="/" { "Tables" }
                        a href="/settings" { "Venue" }
                        a href="/api/docs" { "API" }
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

fn game_select(name: &str, selected: Game) -> Markup {
    html! {
        select name=(name) {
            @for g in Game::ALL {
                option value=(g.code()) selected[g == selected] { (g.label()) }
            }
        }
    }
}

fn table_card(t: &PokerTable) -> Markup {
    let open = t.status == TableStatus::Open;
    html! {
        li.table.open[open] id=(format!("table-{}", t.id)) {
            div.summary {
                span.name { (t.name) }
                span.game { (t.game.label()) " " (t.stakes) }
                span.seats { (t.seats) " seats" }
                span.status { (if open { "Open" } else { "Closed" }) }
            }
            div.actions {
                @if open {
                    form method="post" action=(format!("/tables/{}/close", t.id)) {
                        button.secondary type="submit" { "Close" }
                    }
                } @else {
                    form method="post" action=(format!("/tables/{}/open", t.id)) {
                        button type="submit" { "Open" }
                    }
                }
                details {
                    summary { "Edit" }
                    form.edit method="post" action=(format!("/tables/{}/edit", t.id)) {
                        label { "Name" input name="name" value=(t.name) required maxlength="40"; }
                        label { "Game" (game_select("game", t.game)) }
                        label { "Small blind" input name="small_blind" type="number" min="1" value=(t.stakes.small_blind()) required; }
                        label { "Big blind" input name="big_blind" type="number" min="1" value=(t.stakes.big_blind()) required; }
                        button type="submit" { "Save" }
                    }
                }
            }
        }
    }
}

async fn render_tables(
    s: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let tables = s.reader.tables().await?;
    let open = tables
        .iter()
        .filter(|t| t.status == TableStatus::Open)
        .count();
    let body = html! {
        h1 { "Tables " small { (open) " open of " (tables.len()) } }
        @if tables.is_empty() {
            p.empty { "No tables yet. Add the first one below." }
        }
        ul.tables {
            @for t in &tables { (table_card(t)) }
        }
        section.new {
            h2 { "New table" }
            form method="post" action="/tables" {
                label { "Name" input name="name" required maxlength="40" placeholder="Table 1"; }
                label { "Game" (game_select("game", Game::Nlhe)) }
                label { "Small blind" input name="small_blind" type="number" min="1" value="1" required; }
                label { "Big blind" input name="big_blind" type="number" min="1" value="2" required; }
                label { "Seats" input name="seats" type="number" min="2" max="10" value="9" required; }
                button type="submit" { "Add table" }
            }
        }
    };
    Ok((status, layout(&settings, "Tables", error, body)).into_response())
}

async fn tables_page(State(s): State<AppState>) -> Result<Response, ApiError> {
    render_tables(&s, StatusCode::OK, None).await
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
    fn parts(&self) -> Result<(TableName, Game, Stakes), String> {
        let name = TableName::parse(&self.name).map_err(|e| e.to_string())?;
        let game =
            Game::from_code(&self.game).ok_or_else(|| format!("unknown game {:?}", self.game))?;
        let stakes = Stakes::new(
            parse_number("small blind", &self.small_blind)?,
            parse_number("big blind", &self.big_blind)?,
        )
        .map_err(|e| e.to_string())?;
        Ok((name, game, stakes))
    }
}

/// Runs the commands; on success back to the tables page, on refusal the page again with the reason.
async fn run_commands(
    s: &AppState,
    commands: Result<Vec<Command>, String>,
) -> Result<Response, ApiError> {
    let commands = match commands {
        Ok(c) => c,
        Err(message) => {
            return render_tables(s, StatusCode::UNPROCESSABLE_ENTITY, Some(&message)).await
        }
    };
    for command in commands {
        if let Err(e) = s.log.append(Actor::Anonymous, command).await {
            let e = ApiError::from(e);
            return render_tables(s, e.status, Some(&e.message)).await;
        }
    }
    Ok(Redirect::to("/").into_response())
}

async fn create_table(
    State(s): State<AppState>,
    form: Result<Form<TableForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let commands = form.parts().and_then(|(name, game, stakes)| {
        Ok(vec![Command::CreateTable {
            table_id: Uuid::now_v7(),
            name,
            game,
            stakes,
            seats: parse_number("seats", &form.seats)?,
        }])
    });
    run_commands(&s, commands).await
}

async fn edit_table(
    State(s): State<AppState>,
    Path(id): Path<Uuid>,
    form: Result<Form<TableForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form?;
    let current = s.reader.table(id).await?;
    let commands = match current {
        None => Err(format!("no table with id {id}")),
        Some(current) => form.parts().map(|(name, game, stakes)| {
            let mut commands = Vec::new();
            if name != current.name {
                commands.push(Command::RenameTable { table_id: id, name });
            }
            if game != current.game || stakes != current.stakes {
                commands.push(Command::SetTableGame {
                    table_id: id,
                    game,
                    stakes,
                });
            }
            commands
        }),
    };
    run_commands(&s, commands).await
}

async fn open_table(State(s): State<AppState>, Path(id): Path<Uuid>) -> Result<Response, ApiError> {
    run_commands(&s, Ok(vec![Command::OpenTable { table_id: id }])).await
}

async fn close_table(
    State(s): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    run_commands(&s, Ok(vec![Command::CloseTable { table_id: id }])).await
}

fn settings_form(settings: &VenueSettings) -> Markup {
    let b = &settings.branding;
    html! {
        h1 { "Venue" }
        form.settings method="post" action="/settings" {
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

async fn settings_page(State(s): State<AppState>) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    Ok(layout(&settings, "Venue", None, settings_form(&settings)).into_response())
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
    form: Result<Form<SettingsForm>, axum::extract::rejection::FormRejection>,
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
    let failure = match parsed {
        Ok(settings) => match s
            .log
            .append(Actor::Anonymous, Command::UpdateSettings(settings))
            .await
        {
            Ok(_) => return Ok(Redirect::to("/settings").into_response()),
            Err(e) => ApiError::from(e),
        },
        Err(e) => ApiError::from(e),
    };
    let current = s.reader.settings().await?;
    Ok((
        failure.status,
        layout(
            &current,
            "Venue",
            Some(&failure.message),
            settings_form(&current),
        ),
    )
        .into_response())
}
