//! Tournaments over the API: create from a template
//! or a structure, register, start, run the clock, bust players out. Reads are
//! public (they are what the wall displays show) and carry public names only.

use super::auth::{Require, StaffUi, TournamentsManage, TournamentsOperate};
use super::error::{ApiError, ErrorBody};
use super::extract::Done;
use super::extract::{AppJson, AppPath};
use super::AppState;
use crate::ops::{self, players::Who, tournaments::Action};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use pvm_shared::tournament::clock::ClockView;
use pvm_shared::tournament::play::{BalanceMove, Stats, Status, Tournament};
use pvm_shared::tournament::Structure;
use pvm_shared::venue::VenueState;
use pvm_shared::Actor;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

#[derive(OpenApi)]
#[openapi(
    paths(
        list_templates, list, get_one, create, register, start, pause, resume, add_time, set_level, bust,
        close_late_reg, move_player, break_table, set_button, undo
    ),
    components(schemas(TournamentView, Entered, PlaceView, NewTournament, NewEntry, TimeChange, LevelChange, MoveRequest, ButtonRequest, UndoRequest)),
    tags((name = "tournaments", description = "Tournament structures, clock, entries and bust-outs"))
)]
pub struct TournamentDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tournament-templates", get(list_templates))
        .route("/api/v1/tournaments", get(list).post(create))
        .route("/api/v1/tournaments/{id}", get(get_one))
        .route("/api/v1/tournaments/{id}/entries", post(register))
        .route("/api/v1/tournaments/{id}/start", post(start))
        .route("/api/v1/tournaments/{id}/pause", post(pause))
        .route("/api/v1/tournaments/{id}/resume", post(resume))
        .route("/api/v1/tournaments/{id}/time", post(add_time))
        .route("/api/v1/tournaments/{id}/level", post(set_level))
        .route(
            "/api/v1/tournaments/{id}/close-late-registration",
            post(close_late_reg),
        )
        .route("/api/v1/tournaments/{id}/bullets/{bullet}/bust", post(bust))
        .route(
            "/api/v1/tournaments/{id}/bullets/{bullet}/move",
            post(move_player),
        )
        .route(
            "/api/v1/tournaments/{id}/tables/{table}/break",
            post(break_table),
        )
        .route(
            "/api/v1/tournaments/{id}/tables/{table}/button",
            post(set_button),
        )
        .route("/api/v1/tournaments/{id}/undo", post(undo))
}

/// A finishing place, as public screens show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceView {
    pub place: u32,
    pub name: String,
}

/// A tournament as every screen shows it: clock, stats, places.
#[derive(Debug, Serialize, ToSchema)]
pub struct TournamentView {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = String)]
    pub status: Status,
    pub now_ms: u64,
    pub clock: ClockView,
    #[schema(value_type = Object)]
    pub stats: Stats,
    pub registration_open: bool,
    pub places: Vec<PlaceView>,
    /// The balancing move the TDA rule suggests now, for staff to confirm.
    #[schema(value_type = Object)]
    pub balance: Option<BalanceMove>,
    /// The table to break next, once the field fits on one fewer.
    pub table_to_break: Option<u16>,
    /// Information only: no money is handled.
    pub prize_pool: u64,
    /// Tables in play.
    pub tables: Vec<u16>,
    /// For a Day 2: the flights it was drawn from.
    pub flights: Vec<Uuid>,
    /// For a flight: the Day 2 its survivors went on to.
    pub day2: Option<Uuid>,
}

pub(super) fn view(state: &VenueState, t: &Tournament, now_ms: u64) -> TournamentView {
    let public = |player: Uuid| {
        state
            .players
            .get(&player)
            .map(|p| p.public_name())
            .unwrap_or_else(|| "?".into())
    };
    let mut places: Vec<PlaceView> = t
        .places()
        .into_iter()
        .filter_map(|(bullet, place)| {
            t.bullets.get(&bullet).map(|b| PlaceView {
                place,
                name: public(b.player_id),
            })
        })
        .collect();
    places.sort_by_key(|p| p.place);
    TournamentView {
        id: t.id,
        name: t.name.clone(),
        status: t.status,
        now_ms,
        clock: t.clock.view(&t.structure, now_ms as i64),
        stats: t.stats(),
        registration_open: t.registration_open(now_ms as i64),
        places,
        balance: t.balance_suggestion(),
        table_to_break: t.table_to_break(),
        prize_pool: t.prize_pool(),
        tables: t
            .tables
            .iter()
            .filter(|x| !x.broken)
            .map(|x| x.number)
            .collect(),
        flights: t
            .day2
            .as_ref()
            .map(|d| d.flights.clone())
            .unwrap_or_default(),
        day2: t.fed_day2,
    }
}

pub(super) fn find(state: &VenueState, id: Uuid) -> Result<&Tournament, ApiError> {
    state
        .tournaments
        .get(&id)
        .map(std::sync::Arc::as_ref)
        .ok_or_else(|| ApiError::not_found(format!("no tournament with id {id}")))
}

/// The structures staff start from (turbo, daily, deepstack).
#[utoipa::path(get, path = "/api/v1/tournament-templates", tag = "tournaments", security(("bearer" = ["staff:ui"])),
    responses((status = 200, body = [Structure]), (status = 401, body = ErrorBody)))]
async fn list_templates(State(s): State<AppState>, _who: Require<StaffUi>) -> Json<Vec<Structure>> {
    Json(s.log.venue().all_templates())
}

/// Every tournament with its clock and stats.
#[utoipa::path(get, path = "/api/v1/tournaments", tag = "tournaments", security(()),
    responses((status = 200, body = [TournamentView])))]
async fn list(State(s): State<AppState>) -> Json<Vec<TournamentView>> {
    let state = s.log.venue();
    let now = s.clock.now_ms();
    Json(
        state
            .tournaments
            .values()
            .map(|t| view(&state, t, now))
            .collect(),
    )
}

/// One tournament: clock, stats, places.
#[utoipa::path(get, path = "/api/v1/tournaments/{id}", tag = "tournaments", security(()),
    params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = TournamentView), (status = 404, body = ErrorBody)))]
async fn get_one(
    State(s): State<AppState>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<TournamentView>, ApiError> {
    let state = s.log.venue();
    Ok(Json(view(&state, find(&state, id)?, s.clock.now_ms())))
}

/// A tournament from a template (by name) or from a whole structure.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTournament {
    pub name: String,
    /// A template's name: "Turbo", "Daily", "Deepstack" or one staff saved.
    pub template: Option<String>,
    pub structure: Option<Structure>,
    pub tables: u16,
    #[serde(default = "nine")]
    pub seats: u8,
}

fn nine() -> u8 {
    9
}

/// Create a tournament.
#[utoipa::path(post, path = "/api/v1/tournaments", tag = "tournaments", request_body = NewTournament,
    security(("bearer" = ["tournaments:manage"])),
    responses((status = 201, body = TournamentView), (status = 422, body = ErrorBody)))]
async fn create(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    AppJson(new): AppJson<NewTournament>,
) -> Result<(StatusCode, Json<TournamentView>), ApiError> {
    let structure = match (new.template, new.structure) {
        (Some(name), None) => {
            let all = s.log.venue().all_templates();
            let found = all.iter().find(|t| t.name.eq_ignore_ascii_case(&name));
            match found {
                Some(t) => t.clone(),
                None => {
                    let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
                    return Err(ApiError::invalid(format!(
                        "no template called {name:?} ({})",
                        names.join(", ")
                    )));
                }
            }
        }
        (None, Some(structure)) => structure,
        _ => return Err(ApiError::invalid("give either template or structure")),
    };
    let new = ops::tournaments::NewTournament {
        name: new.name,
        structure,
        tables: new.tables,
        seats: new.seats,
    };
    let tournament_id = ops::tournaments::create(&s.log, who.principal().actor(), new).await?;
    let state = s.log.venue();
    Ok((
        StatusCode::CREATED,
        Json(view(&state, find(&state, tournament_id)?, s.clock.now_ms())),
    ))
}

/// Runs one tournament action now, as the caller.
pub(super) async fn play(
    s: &AppState,
    actor: Actor,
    tournament_id: Uuid,
    action: Action,
) -> Result<Json<Done>, ApiError> {
    let now = s.clock.now_ms() as i64;
    let committed = ops::tournaments::play(&s.log, actor, now, tournament_id, action).await?;
    Ok(Json(committed.into()))
}

/// Who enters: a known player, or a new one by name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntry {
    pub player_id: Option<Uuid>,
    pub name: Option<String>,
    /// Let a player in after late registration closed (recorded in the event).
    #[serde(default)]
    pub override_late_registration: bool,
}

/// Register an entry or a re-entry; once running, a seat is drawn (its seed kept in the event).
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/entries", tag = "tournaments", request_body = NewEntry,
    security(("bearer" = ["tournaments:operate"])), params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 201, body = Entered), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath(id): AppPath<Uuid>,
    AppJson(entry): AppJson<NewEntry>,
) -> Result<(StatusCode, Json<Entered>), ApiError> {
    let actor = who.principal().actor();
    let player = match (entry.player_id, entry.name) {
        (Some(p), None) => Who::Known(p),
        (None, Some(name)) => Who::walk_in(name, None),
        _ => return Err(ApiError::invalid("give either player_id or name")),
    };
    let ops::tournaments::Registered {
        committed,
        bullet_id,
        player_id,
    } = ops::tournaments::register(
        &s.log,
        actor,
        player,
        ops::tournaments::Entry {
            tournament_id: id,
            at_ms: s.clock.now_ms() as i64,
            override_late_reg: entry.override_late_registration,
        },
    )
    .await?;
    let done = Done::from(committed);
    let seat = s
        .log
        .venue()
        .tournaments
        .get(&id)
        .and_then(|t| t.bullets.get(&bullet_id))
        .and_then(|b| b.seat);
    Ok((
        StatusCode::CREATED,
        Json(Entered {
            seq: done.seq,
            bullet_id,
            player_id,
            table: seat.map(|s| s.0),
            seat: seat.map(|s| s.1),
        }),
    ))
}

/// An entry made: its id, and the seat drawn once the tournament runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entered {
    pub seq: u64,
    pub bullet_id: Uuid,
    pub player_id: Uuid,
    pub table: Option<u16>,
    pub seat: Option<u8>,
}

macro_rules! clock_action {
    ($name:ident, $path:literal, $doc:literal, $action:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "tournaments", security(("bearer" = ["tournaments:operate"])),
            params(("id" = Uuid, Path, description = "Tournament id")),
            responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
        async fn $name(State(s): State<AppState>, who: Require<TournamentsOperate>, AppPath(id): AppPath<Uuid>) -> Result<Json<Done>, ApiError> {
            play(&s, who.principal().actor(), id, $action).await
        }
    };
}

clock_action!(
    start,
    "/api/v1/tournaments/{id}/start",
    "Start: the clock runs and the field is drawn to seats.",
    Action::Start
);
clock_action!(
    pause,
    "/api/v1/tournaments/{id}/pause",
    "Pause the clock.",
    Action::Pause
);
clock_action!(
    resume,
    "/api/v1/tournaments/{id}/resume",
    "Resume the clock.",
    Action::Resume
);
clock_action!(
    close_late_reg,
    "/api/v1/tournaments/{id}/close-late-registration",
    "Close late registration now.",
    Action::CloseLateReg
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeChange {
    /// Minutes to add (negative to remove), -60 to 60.
    pub minutes: i32,
}

/// Add or remove time on the running level.
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/time", tag = "tournaments", request_body = TimeChange,
    security(("bearer" = ["tournaments:operate"])), params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_time(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath(id): AppPath<Uuid>,
    AppJson(change): AppJson<TimeChange>,
) -> Result<Json<Done>, ApiError> {
    let action = Action::AddTime {
        delta_ms: change.minutes as i64 * 60_000,
    };
    play(&s, who.principal().actor(), id, action).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelChange {
    /// The step to go to (0-based, breaks counted); going back restores the time it had.
    pub step: usize,
}

/// Jump to another level or break.
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/level", tag = "tournaments", request_body = LevelChange,
    security(("bearer" = ["tournaments:operate"])), params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_level(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath(id): AppPath<Uuid>,
    AppJson(change): AppJson<LevelChange>,
) -> Result<Json<Done>, ApiError> {
    let action = Action::Jump {
        to_step: change.step,
    };
    play(&s, who.principal().actor(), id, action).await
}

/// A player is out; their place comes from the order of bust-outs.
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/bullets/{bullet}/bust", tag = "tournaments",
    security(("bearer" = ["tournaments:operate"])),
    params(("id" = Uuid, Path, description = "Tournament id"), ("bullet" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = BustDone), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn bust(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath((id, bullet_id)): AppPath<(Uuid, Uuid)>,
) -> Result<Json<BustDone>, ApiError> {
    let Json(done) = play(&s, who.principal().actor(), id, Action::Bust { bullet_id }).await?;
    let state = s.log.venue();
    Ok(Json(BustDone::after(
        done.seq,
        state.tournaments.get(&id).map(std::sync::Arc::as_ref),
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    pub table: u16,
    pub seat: u8,
}

/// Move a player (confirm a balancing suggestion, or any seat change).
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/bullets/{bullet}/move", tag = "tournaments", request_body = MoveRequest,
    security(("bearer" = ["tournaments:operate"])),
    params(("id" = Uuid, Path, description = "Tournament id"), ("bullet" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn move_player(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath((id, bullet_id)): AppPath<(Uuid, Uuid)>,
    AppJson(req): AppJson<MoveRequest>,
) -> Result<Json<Done>, ApiError> {
    play(
        &s,
        who.principal().actor(),
        id,
        Action::Move {
            bullet_id,
            to: (req.table, req.seat),
        },
    )
    .await
}

/// Break a table: its players are drawn into the open seats left (the seed is kept in the event).
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/tables/{table}/break", tag = "tournaments",
    security(("bearer" = ["tournaments:operate"])),
    params(("id" = Uuid, Path, description = "Tournament id"), ("table" = u16, Path, description = "Table number")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn break_table(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath((id, table)): AppPath<(Uuid, u16)>,
) -> Result<Json<Done>, ApiError> {
    play(
        &s,
        who.principal().actor(),
        id,
        Action::BreakTable { table },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonRequest {
    pub seat: u8,
}

/// Where the dealer button is at a table (the balancing rule needs it).
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/tables/{table}/button", tag = "tournaments", request_body = ButtonRequest,
    security(("bearer" = ["tournaments:operate"])),
    params(("id" = Uuid, Path, description = "Tournament id"), ("table" = u16, Path, description = "Table number")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_button(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath((id, table)): AppPath<(Uuid, u16)>,
    AppJson(req): AppJson<ButtonRequest>,
) -> Result<Json<Done>, ApiError> {
    play(
        &s,
        who.principal().actor(),
        id,
        Action::SetButton {
            table,
            seat: req.seat,
        },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoRequest {
    /// The seq of the event to reverse (from the log).
    pub seq: u64,
}

/// Undo a bust-out (the latest), a move, an entry or a clock change: a new
/// event that names what it reverses; the log stays append-only.
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/undo", tag = "tournaments", request_body = UndoRequest,
    security(("bearer" = ["tournaments:operate"])), params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn undo(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UndoRequest>,
) -> Result<Json<Done>, ApiError> {
    let event = event_of(&s, id, req.seq)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {} of this tournament", req.seq)))?;
    play(&s, who.principal().actor(), id, Action::Undo { event }).await
}

/// This tournament's event at `seq`, if it is one.
pub(super) async fn event_of(
    s: &AppState,
    id: Uuid,
    seq: u64,
) -> Result<Option<pvm_shared::tournament::play::PlayEvent>, ApiError> {
    let found = s
        .reader
        .events_after(seq.saturating_sub(1), 1)
        .await?
        .into_iter()
        .find(|(n, _)| *n == seq);
    let Some((_, bytes)) = found else {
        return Ok(None);
    };
    let envelope = pvm_shared::envelope::Envelope::decode(&bytes).map_err(ApiError::internal)?;
    Ok(match envelope.event().map_err(ApiError::internal)? {
        pvm_shared::EventKind::TournamentPlayed {
            tournament_id,
            event,
        } if tournament_id == id => Some(event),
        _ => None,
    })
}

/// What a bust-out did, with what the director should do next.
#[derive(Debug, Serialize, ToSchema)]
pub struct BustDone {
    pub seq: u64,
    /// The balancing move the TDA rule suggests now.
    #[schema(value_type = Object)]
    pub balance: Option<BalanceMove>,
    /// The table to break next, once the field fits on one fewer.
    pub table_to_break: Option<u16>,
}

impl BustDone {
    pub fn after(seq: u64, t: Option<&Tournament>) -> BustDone {
        BustDone {
            seq,
            balance: t.and_then(Tournament::balance_suggestion),
            table_to_break: t.and_then(Tournament::table_to_break),
        }
    }
}
