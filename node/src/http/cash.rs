//! Cash games over the API: the board (lists, seats, requests), the player
//! directory, and every list and seat action. Reads come from the venue state
//! the writer publishes after each commit (the same data as the read tables,
//! already in memory); writes go through the log.

use super::auth::{CashManage, CashOperate, Players, Require, StaffUi, TablesOperate};
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath, AppQuery, Done};
use super::AppState;
use crate::ops::{self, cash::Action, players::Who};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use pvm_shared::cash::{self, Call, CashPolicy, WaitEstimate};
use pvm_shared::players::{Player, PlayerDetails};
use pvm_shared::venue::{Game, Stakes, TableStatus, VenueState};
use pvm_shared::Actor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

#[derive(OpenApi)]
#[openapi(
    paths(
        board, public_lists, list_players, create_player, update_player, create_list, close_list, set_policy, join_list,
        call_next, call_entry, seat_entry, seat_player, no_show, arrived, move_entry, remove_entry, restore_entry, leave_seat,
        away, back, change_seat, request_seat_change, cancel_seat_change, set_must_move, start_table
    ),
    components(schemas(
        BoardView, ListView, OffView, EntryView, TableSeatsView, SeatView, SeatChangeView, PublicList, Done, NewList, JoinRequest,
        WalkIn, SeatRequest, DirectSeat, MoveRequest, ChangeSeatRequest, SeatChangeRequest, MustMove, Player,
        PlayerDetails, CashPolicy, Call, WaitEstimate, pvm_shared::cash::NoShowPolicy
    )),
    tags((name = "cash", description = "Cash games: waiting lists, seats, players"))
)]
pub struct CashDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cash", get(board))
        .route("/api/v1/public/lists", get(public_lists))
        .route("/api/v1/players", get(list_players).post(create_player))
        .route("/api/v1/players/{id}", put(update_player))
        .route("/api/v1/cash/lists", post(create_list))
        .route("/api/v1/cash/lists/{id}", delete(close_list))
        .route("/api/v1/cash/policy", put(set_policy))
        .route("/api/v1/cash/lists/{id}/entries", post(join_list))
        .route("/api/v1/cash/lists/{id}/call-next", post(call_next))
        .route("/api/v1/cash/entries/{id}/call", post(call_entry))
        .route("/api/v1/cash/entries/{id}/seat", post(seat_entry))
        .route("/api/v1/cash/entries/{id}/no-show", post(no_show))
        .route("/api/v1/cash/entries/{id}/arrived", post(arrived))
        .route("/api/v1/cash/entries/{id}/move", post(move_entry))
        .route("/api/v1/cash/entries/{id}", delete(remove_entry))
        .route("/api/v1/cash/entries/{id}/restore", post(restore_entry))
        .route("/api/v1/cash/seats", post(seat_player))
        .route(
            "/api/v1/cash/tables/{id}/seats/{seat}/leave",
            post(leave_seat),
        )
        .route("/api/v1/cash/tables/{id}/seats/{seat}/away", post(away))
        .route("/api/v1/cash/tables/{id}/seats/{seat}/back", post(back))
        .route(
            "/api/v1/cash/tables/{id}/seats/{seat}/move",
            post(change_seat),
        )
        .route(
            "/api/v1/cash/tables/{id}/seats/{seat}/seat-change",
            post(request_seat_change),
        )
        .route("/api/v1/cash/seat-changes/{id}", delete(cancel_seat_change))
        .route("/api/v1/cash/tables/{id}/must-move", put(set_must_move))
        .route("/api/v1/tables/{id}/start", post(start_table))
}

/// Runs one list or seat action now, as the caller.
async fn cash_act(s: &AppState, actor: Actor, action: Action) -> Result<Json<Done>, ApiError> {
    Ok(Json(
        ops::cash::act(&s.log, actor, now(s), action).await?.into(),
    ))
}

fn now(s: &AppState) -> u64 {
    s.clock.now_ms()
}

// ---------- views ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub id: Uuid,
    /// 1 is next to be called.
    pub position: usize,
    pub player_id: Uuid,
    /// The full name (staff only).
    pub name: String,
    /// What public screens show.
    pub public_name: String,
    pub joined_ms: u64,
    pub call: Option<Call>,
    pub call_in_until: Option<u64>,
    pub arrived: bool,
    pub estimate: WaitEstimate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListView {
    pub id: Uuid,
    pub game: Game,
    pub stakes: Stakes,
    /// e.g. "1/2 NLHE".
    pub label: String,
    /// Open or starting tables of this game and stakes.
    pub running_tables: usize,
    /// No table runs this game: the list gauges interest in starting one.
    pub interest_only: bool,
    /// Enough players wait to start a new table (the venue's `new_table_at`).
    pub enough_for_new_table: bool,
    pub entries: Vec<EntryView>,
    /// Players at must-move tables of this game, next to go to the main game first.
    pub must_move_next: Vec<SeatView>,
    /// Recent no-shows and removals that can still be undone, most recent first.
    pub off: Vec<OffView>,
}

/// A recent no-show or removal (`POST /api/v1/cash/entries/{id}/restore` undoes it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OffView {
    pub entry_id: Uuid,
    pub player_id: Uuid,
    pub name: String,
    /// The place they had (1 = next to be called).
    pub position: usize,
    /// A no-show (else taken off the list).
    pub no_show: bool,
    /// A no-show that moved them down: they are still on the list.
    pub still_listed: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatView {
    pub table_id: Uuid,
    pub table_name: String,
    pub seat: u8,
    pub player_id: Uuid,
    pub name: String,
    pub since_ms: u64,
    pub away_since: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableSeatsView {
    pub id: Uuid,
    pub name: String,
    pub game: Game,
    pub stakes: Stakes,
    pub status: TableStatus,
    pub seats: u8,
    pub must_move: bool,
    pub occupied: Vec<SeatView>,
    pub open_seats: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatChangeView {
    pub id: Uuid,
    pub player_id: Uuid,
    pub name: String,
    pub table_id: Uuid,
    pub wants: Option<Uuid>,
    pub at_ms: u64,
}

/// Everything the floor needs at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardView {
    /// The node's clock, for counting call timers down.
    pub now_ms: u64,
    pub policy: CashPolicy,
    pub lists: Vec<ListView>,
    pub tables: Vec<TableSeatsView>,
    pub seat_changes: Vec<SeatChangeView>,
    /// Seated players away from the table, longest away first.
    pub away: Vec<SeatView>,
}

fn name_of(state: &VenueState, id: Uuid) -> (String, String) {
    state
        .players
        .get(&id)
        .map(|p| (p.name.clone(), p.public_name()))
        .unwrap_or_else(|| ("(unknown player)".into(), "?".into()))
}

fn seat_view(state: &VenueState, s: &cash::Seat) -> SeatView {
    SeatView {
        table_id: s.table_id,
        table_name: state
            .tables
            .get(&s.table_id)
            .map(|t| t.name.to_string())
            .unwrap_or_default(),
        seat: s.seat,
        player_id: s.player_id,
        name: name_of(state, s.player_id).0,
        since_ms: s.since_ms,
        away_since: s.away_since,
    }
}

fn label(game: Game, stakes: Stakes) -> String {
    format!("{stakes} {}", game.label())
}

/// The board, built from the venue state at `now_ms`.
pub fn board_of(state: &VenueState, now_ms: u64) -> BoardView {
    let cash = &state.cash;
    let lists = cash
        .lists
        .values()
        .map(|l| {
            let running = state
                .tables
                .values()
                .filter(|t| {
                    t.game == l.game && t.stakes == l.stakes && t.status != TableStatus::Closed
                })
                .count();
            let entries: Vec<EntryView> = l
                .queue
                .iter()
                .enumerate()
                .filter_map(|(i, id)| cash.entries.get(id).map(|e| (i, e)))
                .map(|(i, e)| {
                    let (name, public_name) = name_of(state, e.player_id);
                    EntryView {
                        id: e.id,
                        position: i + 1,
                        player_id: e.player_id,
                        name,
                        public_name,
                        joined_ms: e.joined_ms,
                        call: e.call,
                        call_in_until: e.call_in_until,
                        arrived: e.arrived,
                        estimate: cash::estimate_wait(cash, l.id, i, now_ms),
                    }
                })
                .collect();
            ListView {
                id: l.id,
                game: l.game,
                stakes: l.stakes,
                label: label(l.game, l.stakes),
                running_tables: running,
                interest_only: running == 0,
                enough_for_new_table: entries.len() >= cash.policy.new_table_at as usize,
                must_move_next: cash::must_move_order(state, l.game, l.stakes)
                    .into_iter()
                    .map(|s| seat_view(state, s))
                    .collect(),
                off: l
                    .off
                    .iter()
                    .rev()
                    // Offered only where it would be accepted now (not once
                    // they are seated or on the list again).
                    .filter(|o| {
                        let undo = cash::CashCommand::Restore {
                            entry_id: o.entry.id,
                        };
                        state
                            .decide(&pvm_shared::venue::Command::Cash(undo))
                            .is_ok()
                    })
                    .map(|o| OffView {
                        entry_id: o.entry.id,
                        player_id: o.entry.player_id,
                        name: name_of(state, o.entry.player_id).0,
                        position: o.place + 1,
                        no_show: o.no_show,
                        still_listed: cash.entries.contains_key(&o.entry.id),
                    })
                    .collect(),
                entries,
            }
        })
        .collect();
    let mut tables: Vec<TableSeatsView> = state
        .tables
        .values()
        .map(|t| {
            let occupied: Vec<SeatView> = cash
                .seats
                .range((t.id, 0)..=(t.id, u8::MAX))
                .map(|(_, s)| seat_view(state, s))
                .collect();
            let open_seats = (1..=t.seats)
                .filter(|n| !cash.seats.contains_key(&(t.id, *n)))
                .collect();
            TableSeatsView {
                id: t.id,
                name: t.name.to_string(),
                game: t.game,
                stakes: t.stakes,
                status: t.status,
                seats: t.seats,
                must_move: t.must_move,
                occupied,
                open_seats,
            }
        })
        .collect();
    tables.sort_by_key(|t| t.name.to_lowercase());
    let mut away: Vec<SeatView> = cash
        .seats
        .values()
        .filter(|s| s.away_since.is_some())
        .map(|s| seat_view(state, s))
        .collect();
    away.sort_by_key(|s| s.away_since);
    let mut seat_changes: Vec<SeatChangeView> = cash
        .seat_changes
        .values()
        .map(|r| SeatChangeView {
            id: r.id,
            player_id: r.player_id,
            name: name_of(state, r.player_id).0,
            table_id: r.table_id,
            wants: r.wants,
            at_ms: r.at_ms,
        })
        .collect();
    seat_changes.sort_by_key(|r| r.at_ms);
    BoardView {
        now_ms,
        policy: cash.policy,
        lists,
        tables,
        seat_changes,
        away,
    }
}

/// The whole cash-game board.
#[utoipa::path(get, path = "/api/v1/cash", tag = "cash", security(("bearer" = ["staff:ui"])),
    responses((status = 200, body = BoardView), (status = 401, body = ErrorBody)))]
async fn board(State(s): State<AppState>, _who: Require<StaffUi>) -> Json<BoardView> {
    Json(board_of(&s.log.venue(), now(&s)))
}

/// A waiting list as public screens show it: nickname, or first name and initial.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicList {
    pub label: String,
    pub names: Vec<String>,
    pub running_tables: usize,
}

/// The waiting lists for the wall displays: no full names, no phone numbers.
#[utoipa::path(get, path = "/api/v1/public/lists", tag = "cash", security(()),
    responses((status = 200, body = [PublicList])))]
async fn public_lists(State(s): State<AppState>) -> Json<Vec<PublicList>> {
    let board = board_of(&s.log.venue(), now(&s));
    Json(
        board
            .lists
            .into_iter()
            .map(|l| PublicList {
                label: l.label,
                running_tables: l.running_tables,
                names: l.entries.into_iter().map(|e| e.public_name).collect(),
            })
            .collect(),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlayerQuery {
    /// Part of a name, nickname or phone number; all players when left out.
    pub q: Option<String>,
}

/// Find players.
#[utoipa::path(get, path = "/api/v1/players", tag = "cash", params(PlayerQuery), security(("bearer" = ["players"])),
    responses((status = 200, body = [Player]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_players(
    State(s): State<AppState>,
    _who: Require<Players>,
    AppQuery(q): AppQuery<PlayerQuery>,
) -> Json<Vec<Player>> {
    let state = s.log.venue();
    let found = ops::players::find(&state, q.q.as_deref().unwrap_or(""));
    Json(found.into_iter().take(200).cloned().collect())
}

/// Add a player to the directory.
#[utoipa::path(post, path = "/api/v1/players", tag = "cash", request_body = PlayerDetails, security(("bearer" = ["players"])),
    responses((status = 201, body = Player), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_player(
    State(s): State<AppState>,
    who: Require<Players>,
    AppJson(details): AppJson<PlayerDetails>,
) -> Result<(StatusCode, Json<Player>), ApiError> {
    let player = ops::players::create(&s.log, who.principal().actor(), details).await?;
    Ok((StatusCode::CREATED, Json(player)))
}

/// Replace a player's record (send every field you want kept).
#[utoipa::path(put, path = "/api/v1/players/{id}", tag = "cash", request_body = PlayerDetails, security(("bearer" = ["players"])),
    params(("id" = Uuid, Path, description = "Player id")),
    responses((status = 200, body = Player), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_player(
    State(s): State<AppState>,
    who: Require<Players>,
    AppPath(player_id): AppPath<Uuid>,
    AppJson(details): AppJson<PlayerDetails>,
) -> Result<Json<Player>, ApiError> {
    let player = ops::players::update(&s.log, who.principal().actor(), player_id, details).await?;
    Ok(Json(player))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewList {
    pub game: Game,
    pub stakes: Stakes,
}

/// Close a waiting list nobody waits on (409 while anyone does).
#[utoipa::path(delete, path = "/api/v1/cash/lists/{id}", tag = "cash", security(("bearer" = ["cash:manage"])),
    params(("id" = Uuid, Path, description = "List id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn close_list(
    State(s): State<AppState>,
    who: Require<CashManage>,
    AppPath(list_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::CloseList { list_id }).await
}

/// Open a waiting list for a game and stakes.
#[utoipa::path(post, path = "/api/v1/cash/lists", tag = "cash", request_body = NewList, security(("bearer" = ["cash:manage"])),
    responses((status = 201, body = Done), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_list(
    State(s): State<AppState>,
    who: Require<CashManage>,
    AppJson(new): AppJson<NewList>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let action = Action::CreateList {
        game: new.game,
        stakes: new.stakes,
    };
    Ok((
        StatusCode::CREATED,
        cash_act(&s, who.principal().actor(), action).await?,
    ))
}

/// The venue's waiting-list rules: call timer, no-show policy, seating from several lists, new-table threshold.
#[utoipa::path(put, path = "/api/v1/cash/policy", tag = "cash", request_body = CashPolicy, security(("bearer" = ["cash:manage"])),
    responses((status = 200, body = Done), (status = 422, body = ErrorBody)))]
async fn set_policy(
    State(s): State<AppState>,
    who: Require<CashManage>,
    AppJson(policy): AppJson<CashPolicy>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::SetPolicy(policy)).await
}

/// A walk-in not yet in the directory.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkIn {
    pub name: String,
    #[serde(default)]
    pub nickname: Option<String>,
}

/// Who joins: a known player, or a walk-in (added to the directory on the spot).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    pub player_id: Option<Uuid>,
    pub walk_in: Option<WalkIn>,
    /// A call-in: hold the place for this many minutes for the player to arrive.
    pub call_in_minutes: Option<u32>,
}

/// Put a player on a list.
#[utoipa::path(post, path = "/api/v1/cash/lists/{id}/entries", tag = "cash", request_body = JoinRequest,
    security(("bearer" = ["cash:operate"])), params(("id" = Uuid, Path, description = "List id")),
    responses((status = 201, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn join_list(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(list_id): AppPath<Uuid>,
    AppJson(req): AppJson<JoinRequest>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let actor = who.principal().actor();
    let at_ms = now(&s);
    let call_in_until = match req.call_in_minutes {
        Some(m) if (1..=240).contains(&m) => Some(at_ms + m as u64 * 60_000),
        Some(_) => return Err(ApiError::invalid("call_in_minutes: use 1 to 240")),
        None => None,
    };
    let who = match (req.player_id, req.walk_in) {
        (Some(id), None) => Who::Known(id),
        (None, Some(w)) => Who::walk_in(w.name, w.nickname),
        _ => return Err(ApiError::invalid("give either player_id or walk_in")),
    };
    let join = ops::cash::Join {
        list_id,
        at_ms,
        call_in_until,
    };
    let done = Done::from(ops::cash::join(&s.log, actor, who, join).await?.1);
    Ok((StatusCode::CREATED, Json(done)))
}

/// Call the next player on a list; their call timer starts.
#[utoipa::path(post, path = "/api/v1/cash/lists/{id}/call-next", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "List id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn call_next(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(list_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::CallNext { list_id }).await
}

/// Call one particular player.
#[utoipa::path(post, path = "/api/v1/cash/entries/{id}/call", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn call_entry(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(entry_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::Call { entry_id }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatRequest {
    pub table_id: Uuid,
    pub seat: u8,
}

/// Seat a waiting player (called or not) at a table and seat.
#[utoipa::path(post, path = "/api/v1/cash/entries/{id}/seat", tag = "cash", request_body = SeatRequest,
    security(("bearer" = ["cash:operate"])), params(("id" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn seat_entry(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(entry_id): AppPath<Uuid>,
    AppJson(req): AppJson<SeatRequest>,
) -> Result<Json<Done>, ApiError> {
    let action = Action::SeatEntry {
        entry_id,
        table_id: req.table_id,
        seat: req.seat,
    };
    cash_act(&s, who.principal().actor(), action).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectSeat {
    pub player_id: Uuid,
    pub table_id: Uuid,
    pub seat: u8,
}

/// Seat a player who was not on a list.
#[utoipa::path(post, path = "/api/v1/cash/seats", tag = "cash", request_body = DirectSeat, security(("bearer" = ["cash:operate"])),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn seat_player(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppJson(req): AppJson<DirectSeat>,
) -> Result<Json<Done>, ApiError> {
    let action = Action::SeatPlayer {
        player_id: req.player_id,
        table_id: req.table_id,
        seat: req.seat,
    };
    cash_act(&s, who.principal().actor(), action).await
}

/// The called player did not come: the venue's no-show policy applies.
#[utoipa::path(post, path = "/api/v1/cash/entries/{id}/no-show", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn no_show(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(entry_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::NoShow { entry_id }).await
}

/// A call-in has arrived.
#[utoipa::path(post, path = "/api/v1/cash/entries/{id}/arrived", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn arrived(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(entry_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::Arrived { entry_id }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The new place, 1 = next to be called.
    pub position: usize,
    /// Why (recorded in the log).
    pub reason: String,
}

/// Move a player up or down a list, with the reason.
#[utoipa::path(post, path = "/api/v1/cash/entries/{id}/move", tag = "cash", request_body = MoveRequest,
    security(("bearer" = ["cash:operate"])), params(("id" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn move_entry(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(entry_id): AppPath<Uuid>,
    AppJson(req): AppJson<MoveRequest>,
) -> Result<Json<Done>, ApiError> {
    if req.position == 0 {
        return Err(ApiError::invalid("position: 1 is the top of the list"));
    }
    let action = Action::Move {
        entry_id,
        to_index: req.position - 1,
        reason: req.reason,
    };
    cash_act(&s, who.principal().actor(), action).await
}

/// Take a player off a list.
#[utoipa::path(delete, path = "/api/v1/cash/entries/{id}", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
async fn remove_entry(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(entry_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::Remove { entry_id }).await
}

/// Undo a recent no-show or removal: the player goes back to the place they
/// had, uncalled, keeping the time they joined. A list keeps its last five.
#[utoipa::path(post, path = "/api/v1/cash/entries/{id}/restore", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Entry id")),
    responses((status = 200, body = Done), (status = 409, body = ErrorBody)))]
async fn restore_entry(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(entry_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::Restore { entry_id }).await
}

/// The player left the table.
#[utoipa::path(post, path = "/api/v1/cash/tables/{id}/seats/{seat}/leave", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Table id"), ("seat" = u8, Path, description = "Seat")),
    responses((status = 200, body = Done), (status = 409, body = ErrorBody)))]
async fn leave_seat(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath((table_id, seat)): AppPath<(Uuid, u8)>,
) -> Result<Json<Done>, ApiError> {
    cash_act(
        &s,
        who.principal().actor(),
        Action::Leave { table_id, seat },
    )
    .await
}

/// The player stepped away (their clock starts).
#[utoipa::path(post, path = "/api/v1/cash/tables/{id}/seats/{seat}/away", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Table id"), ("seat" = u8, Path, description = "Seat")),
    responses((status = 200, body = Done), (status = 409, body = ErrorBody)))]
async fn away(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath((table_id, seat)): AppPath<(Uuid, u8)>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::Away { table_id, seat }).await
}

/// The player is back.
#[utoipa::path(post, path = "/api/v1/cash/tables/{id}/seats/{seat}/back", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Table id"), ("seat" = u8, Path, description = "Seat")),
    responses((status = 200, body = Done), (status = 409, body = ErrorBody)))]
async fn back(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath((table_id, seat)): AppPath<(Uuid, u8)>,
) -> Result<Json<Done>, ApiError> {
    cash_act(&s, who.principal().actor(), Action::Back { table_id, seat }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSeatRequest {
    pub to_table: Uuid,
    pub to_seat: u8,
}

/// Move a seated player to another seat or table (a table change, or a must-move to the main game).
#[utoipa::path(post, path = "/api/v1/cash/tables/{id}/seats/{seat}/move", tag = "cash", request_body = ChangeSeatRequest,
    security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Table id"), ("seat" = u8, Path, description = "Seat")),
    responses((status = 200, body = Done), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_seat(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath((from_table, from_seat)): AppPath<(Uuid, u8)>,
    AppJson(req): AppJson<ChangeSeatRequest>,
) -> Result<Json<Done>, ApiError> {
    let action = Action::ChangeSeat {
        from_table,
        from_seat,
        to_table: req.to_table,
        to_seat: req.to_seat,
    };
    cash_act(&s, who.principal().actor(), action).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatChangeRequest {
    /// Another table; left out for a better seat at the same table.
    pub wants: Option<Uuid>,
}

/// A seated player asks for another seat or table.
#[utoipa::path(post, path = "/api/v1/cash/tables/{id}/seats/{seat}/seat-change", tag = "cash", request_body = SeatChangeRequest,
    security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Table id"), ("seat" = u8, Path, description = "Seat")),
    responses((status = 201, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn request_seat_change(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath((table_id, seat)): AppPath<(Uuid, u8)>,
    AppJson(req): AppJson<SeatChangeRequest>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let action = Action::RequestSeatChange {
        table_id,
        seat,
        wants: req.wants,
    };
    Ok((
        StatusCode::CREATED,
        cash_act(&s, who.principal().actor(), action).await?,
    ))
}

/// Drop a seat change request.
#[utoipa::path(delete, path = "/api/v1/cash/seat-changes/{id}", tag = "cash", security(("bearer" = ["cash:operate"])),
    params(("id" = Uuid, Path, description = "Request id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
async fn cancel_seat_change(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    AppPath(request_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    cash_act(
        &s,
        who.principal().actor(),
        Action::CancelSeatChange { request_id },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MustMove {
    pub must_move: bool,
}

/// Make a table a must-move table (its players feed the main game of the same stakes), or not.
#[utoipa::path(put, path = "/api/v1/cash/tables/{id}/must-move", tag = "cash", request_body = MustMove,
    security(("bearer" = ["cash:manage"])), params(("id" = Uuid, Path, description = "Table id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
async fn set_must_move(
    State(s): State<AppState>,
    who: Require<CashManage>,
    AppPath(table_id): AppPath<Uuid>,
    AppJson(req): AppJson<MustMove>,
) -> Result<Json<Done>, ApiError> {
    cash_act(
        &s,
        who.principal().actor(),
        Action::SetMustMove {
            table_id,
            must_move: req.must_move,
        },
    )
    .await
}

/// Mark a closed table as starting: players can be seated before it opens.
#[utoipa::path(post, path = "/api/v1/tables/{id}/start", tag = "tables", security(("bearer" = ["tables:operate"])),
    params(("id" = Uuid, Path, description = "Table id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn start_table(
    State(s): State<AppState>,
    who: Require<TablesOperate>,
    AppPath(table_id): AppPath<Uuid>,
) -> Result<Json<Done>, ApiError> {
    let change = ops::tables::Change::Start;
    let committed = ops::tables::change(&s.log, who.principal().actor(), table_id, change).await?;
    Ok(Json(committed.into()))
}
