//! The tournament director's pages: the list with a create form, and one
//! tournament's clock panel (start, pause/resume, ±1 min, previous/next
//! level) with registration, seats, bust-outs, balancing and undo. Big
//! buttons for one thumb on a phone; the clock counts down via board.js.

use super::auth::{CsrfToken, Require, StaffUi, TournamentsManage, TournamentsOperate};
use super::error::ApiError;
use super::staff::{append_all, csrf_field, layout, FormResult};
use super::AppState;
use crate::auth::Principal;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use pvm_shared::players::PlayerDetails;
use pvm_shared::tournament::play::{PlayCommand, PlayEvent, Status};
use pvm_shared::tournament::structure::templates;
use pvm_shared::venue::Command;
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tournaments", get(list_page).post(create))
        .route("/tournaments/{id}", get(panel))
        .route("/tournaments/{id}/{action}", post(action))
}

fn clock_text(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    format!("{}:{:02}", s / 60, s % 60)
}

async fn list_page(
    State(s): State<AppState>,
    who: Require<StaffUi>,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let state = s.log.venue();
    let manage = pvm_shared::auth::Permission::TournamentsManage.allows(who.principal().role);
    let body = html! {
        h1 { "Tournaments" }
        ul.plain {
            @for t in state.tournaments.values() {
                li { a href=(format!("/tournaments/{}", t.id)) { (t.name) } " · " (format!("{:?}", t.status).to_lowercase()) " · " (t.stats().players_left) " left" }
            }
        }
        @if manage {
            section.new {
                h2 { "New tournament" }
                form method="post" action="/tournaments" {
                    (csrf_field(&csrf))
                    label { "Name" input name="name" required maxlength="80" placeholder="Friday Deepstack"; }
                    label { "Structure" select name="template" { @for t in templates() { option value=(t.name) { (t.name) } } } }
                    label { "Tables" input name="tables" type="number" min="1" max="500" value="4" required; }
                    button type="submit" { "Create" }
                }
            }
        }
    };
    Ok(layout(&settings, who.principal(), &csrf, "Tournaments", None, body).into_response())
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    tables: String,
}

async fn create(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    form: FormResult<CreateForm>,
) -> Result<Response, ApiError> {
    let Form(f) = form?;
    let structure = templates()
        .into_iter()
        .find(|t| t.name == f.template)
        .ok_or_else(|| ApiError::invalid(format!("no template called {:?}", f.template)))?;
    let tables: u16 = f
        .tables
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid("tables: a whole number"))?;
    let tournament_id = Uuid::now_v7();
    let command = Command::CreateTournament {
        tournament_id,
        name: f.name,
        structure: Box::new(structure),
        tables,
        seats: 9,
    };
    s.log.append(who.principal().actor(), command).await?;
    Ok(Redirect::to(&format!("/tournaments/{tournament_id}")).into_response())
}

async fn render(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    id: Uuid,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let state = s.log.venue();
    let t = state
        .tournaments
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no tournament with id {id}")))?;
    let now = s.clock.now_ms();
    let v = t.clock.view(&t.structure, now as i64);
    let stats = t.stats();
    let name = |player: Uuid| {
        state
            .players
            .get(&player)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };
    let act = |a: &str| format!("/tournaments/{id}/{a}");
    let button = |a: &str, label: &str, class: &str| {
        html! {
            form.inline method="post" action=(act(a)) { (csrf_field(csrf)) button class=(class) type="submit" { (label) } }
        }
    };
    let last_bust = t.bust_order.last().copied();
    let mut seated: Vec<_> = t.alive().filter_map(|b| b.seat.map(|s| (s, b))).collect();
    seated.sort_by_key(|(s, _)| *s);
    let body = html! {
        div.board data-now=(now) {
            h1 { (t.name) " " small { (format!("{:?}", t.status).to_lowercase()) } }
            section.clock {
                @if v.on_break { p.level { "Break" } } @else { p.level { "Level " (v.level) } }
                @if v.started && !v.paused && !v.finished {
                    p.time.timer data-deadline=(now + v.time_left_ms) { (clock_text(v.time_left_ms)) }
                } @else {
                    p.time { (clock_text(v.time_left_ms)) @if v.paused { " (paused)" } }
                }
                @if let Some(b) = v.blinds { p.blinds { (b.small_blind) " / " (b.big_blind) } }
                @if let Some(n) = v.next { p.next { "Next: " (n.small_blind) " / " (n.big_blind) } }
                p.meta { (stats.players_left) " of " (stats.entries) " left · average " (stats.average_stack) }
            }
            div.controls {
                @if t.status == Status::Registering { (button("start", "Start", "big")) }
                @if t.status == Status::Running {
                    @if v.paused { (button("resume", "Resume", "big")) } @else { (button("pause", "Pause", "big")) }
                    (button("minus", "−1 min", "secondary")) (button("plus", "+1 min", "secondary"))
                    (button("prev", "◀ Level", "secondary")) (button("next", "Level ▶", "secondary"))
                    @if !t.late_reg_closed { (button("close-late-reg", "Close late reg", "secondary")) }
                }
            }
            @if let Some(m) = t.balance_suggestion() {
                p.mustmove { "Balance: move " (t.bullets.get(&m.bullet_id).map(|b| name(b.player_id)).unwrap_or_default())
                    " from table " (m.from.0) " seat " (m.from.1) " to table " (m.to.0) " seat " (m.to.1) " "
                    (button("balance", "Confirm move", "")) }
            }
            @if let Some(table) = t.table_to_break() {
                p.mustmove { "The field fits: break table " (table) " " (button("break", "Break it", "")) }
            }
            @if let Some(b) = last_bust { p { "Last bust-out: " (t.bullets.get(&b).map(|x| name(x.player_id)).unwrap_or_default()) " " (button("undo-bust", "Undo", "secondary")) } }
            @if t.status != Status::Finished {
                form.join method="post" action=(act("register")) {
                    (csrf_field(csrf))
                    input name="name" required placeholder="Player name" list="players";
                    label { input type="checkbox" name="override" value="1"; " after late reg" }
                    button type="submit" { "Register" }
                }
                datalist id="players" { @for p in state.players.values() { option value=(p.name) {} } }
            }
            h2 { "Seats" }
            ul.plain {
                @for ((table, seat), b) in &seated {
                    li { "Table " (table) " seat " (seat) " · " (name(b.player_id))
                        form.inline method="post" action=(format!("/tournaments/{id}/bust-{}", b.id)) { (csrf_field(csrf)) button.danger type="submit" { "Bust" } } }
                }
            }
            @if t.status == Status::Registering {
                p { (t.bullets.len()) " registered; seats are drawn at the start." }
            }
            @let places = t.places();
            @if !places.is_empty() {
                h2 { "Results" }
                ol.plain {
                    @for (bullet, place) in { let mut p: Vec<_> = places.iter().collect(); p.sort_by_key(|(_, pl)| **pl); p } {
                        li value=(place) { (t.bullets.get(bullet).map(|b| name(b.player_id)).unwrap_or_default()) }
                    }
                }
            }
        }
        script src="/static/board.js" {}
    };
    Ok((
        status,
        layout(&settings, who, csrf, &t.name.clone(), error, body),
    )
        .into_response())
}

async fn panel(
    State(s): State<AppState>,
    who: Require<StaffUi>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    render(&s, who.principal(), &csrf, id, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
struct ActionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    r#override: String,
}

async fn action(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    csrf: CsrfToken,
    Path((id, action)): Path<(Uuid, String)>,
    form: FormResult<ActionForm>,
) -> Result<Response, ApiError> {
    let Form(f) = form?;
    let who = who.principal();
    let now = s.clock.now_ms() as i64;
    let state = s.log.venue();
    let t = state
        .tournaments
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no tournament with id {id}")))?;
    let step = t.clock.view(&t.structure, now).step;
    let mut commands = Vec::new();
    let play = match action.as_str() {
        "start" => Ok(PlayCommand::Start { at_ms: now }),
        "pause" => Ok(PlayCommand::Pause { at_ms: now }),
        "resume" => Ok(PlayCommand::Resume { at_ms: now }),
        "plus" => Ok(PlayCommand::AddTime {
            delta_ms: 60_000,
            at_ms: now,
        }),
        "minus" => Ok(PlayCommand::AddTime {
            delta_ms: -60_000,
            at_ms: now,
        }),
        "next" => Ok(PlayCommand::Jump {
            to_step: step + 1,
            at_ms: now,
        }),
        "prev" => Ok(PlayCommand::Jump {
            to_step: step.saturating_sub(1),
            at_ms: now,
        }),
        "close-late-reg" => Ok(PlayCommand::CloseLateReg),
        "balance" => t
            .balance_suggestion()
            .map(|m| PlayCommand::Move {
                bullet_id: m.bullet_id,
                to: m.to,
            })
            .ok_or_else(|| "the tables are balanced".to_string()),
        "break" => t
            .table_to_break()
            .map(|table| PlayCommand::BreakTable {
                table,
                seed: rand::random(),
            })
            .ok_or_else(|| "no table needs breaking".to_string()),
        "undo-bust" => t
            .bust_order
            .last()
            .and_then(|b| t.bullets.get(b))
            .map(|b| PlayCommand::Undo {
                event: PlayEvent::Busted {
                    bullet_id: b.id,
                    finished: false,
                    seat: b.left_seat,
                },
            })
            .ok_or_else(|| "no bust-out to undo".to_string()),
        "register" => {
            let name = f.name.trim().to_owned();
            let existing = state
                .players
                .values()
                .find(|p| p.name.eq_ignore_ascii_case(&name))
                .map(|p| p.id);
            let player_id = existing.unwrap_or_else(|| {
                let id = Uuid::now_v7();
                let details = PlayerDetails {
                    name: name.clone(),
                    nickname: None,
                    phone: None,
                    email: None,
                    notes: String::new(),
                };
                commands.push(Command::CreatePlayer {
                    player_id: id,
                    details,
                });
                id
            });
            Ok(PlayCommand::Register {
                bullet_id: Uuid::now_v7(),
                player_id,
                seed: rand::random(),
                at_ms: now,
                override_late_reg: !f.r#override.is_empty(),
            })
        }
        other => match other
            .strip_prefix("bust-")
            .and_then(|b| Uuid::parse_str(b).ok())
        {
            Some(bullet_id) => Ok(PlayCommand::Bust { bullet_id }),
            None => return Err(ApiError::not_found(format!("no action {other:?}"))),
        },
    };
    let play = match play {
        Ok(p) => p,
        Err(m) => return render(&s, who, &csrf, id, StatusCode::CONFLICT, Some(&m)).await,
    };
    commands.push(Command::Tournament {
        tournament_id: id,
        command: play,
    });
    match append_all(&s, who, Ok(commands)).await {
        Ok(()) => Ok(Redirect::to(&format!("/tournaments/{id}")).into_response()),
        Err((status, message)) => render(&s, who, &csrf, id, status, Some(&message)).await,
    }
}
