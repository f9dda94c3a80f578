//! The waiting-list board: every list at a glance, one tap to call, seat or
//! mark a no-show, call timers counting down, and the seats of every table.
//! Works on a phone and a tablet; forms post, `countdown.js` only counts down.

use super::auth::{CashManage, CashOperate, CsrfToken, Require};
use super::cash::{board_of, BoardView, EntryView, ListView, OffView, TableSeatsView};
use super::error::ApiError;
use super::page::{csrf_field, layout, redirect_saying, refusal, run_parsed, Flash, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops::{self, cash::Action, players::Who};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use pvm_shared::auth::Permission;
use pvm_shared::cash::WaitEstimate;
use pvm_shared::venue::{Game, Stakes, TableStatus};
use pvm_shared::words::count;
use serde::Deserialize;
use uuid::Uuid;

const COUNTDOWN_JS: &str = include_str!("../../static/countdown.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cash", get(page))
        .route("/cash/lists", post(create_list))
        .route("/cash/lists/{id}/join", post(join))
        .route("/cash/lists/{id}/call-next", post(call_next))
        .route("/cash/lists/{id}/close", post(close_list))
        .route("/cash/entries/{id}/{action}", post(entry_action))
        .route("/cash/tables/{id}/seats/{seat}/{action}", post(seat_action))
        .route("/cash/seat-changes/{id}/cancel", post(cancel_seat_change))
        .route("/cash/tables/{id}/seat", post(seat_now))
        .route("/cash/tables/{id}/must-move", post(must_move))
        .route("/static/countdown.js", get(js))
}

async fn js() -> Response {
    super::page::static_file("text/javascript; charset=utf-8", COUNTDOWN_JS)
}

fn minutes(ms: u64) -> String {
    let m = ms / 60_000;
    if m < 60 {
        format!("{m} min")
    } else {
        format!("{}h{:02}", m / 60, m % 60)
    }
}

fn estimate(e: &WaitEstimate) -> String {
    match e {
        WaitEstimate::Unknown => "no wait estimate yet".into(),
        WaitEstimate::Range {
            min_minutes,
            max_minutes,
        } => format!("about {min_minutes}–{max_minutes} min to go"),
    }
}

/// Where a waiting player can sit: the first open seat of each running
/// table of the list's game and stakes. One choice per table keeps the board
/// small in a big room (250 tables, 1,500 waiting); another seat or another
/// game is the table card's "Seat someone now".
fn seat_choices(board: &BoardView, list: &ListView) -> Vec<(String, String)> {
    board
        .tables
        .iter()
        .filter(|t| {
            t.status != TableStatus::Closed && t.game == list.game && t.stakes == list.stakes
        })
        .filter_map(|t| {
            let s = t.open_seats.first()?;
            Some((format!("{}:{s}", t.id), format!("{} · seat {s}", t.name)))
        })
        .collect()
}

fn entry_row(
    board: &BoardView,
    list: &ListView,
    seats: &[(String, String)],
    e: &EntryView,
    csrf: &CsrfToken,
) -> Markup {
    let action = |a: &str| format!("/cash/entries/{}/{a}", e.id);
    html! {
        li.entry.called[e.call.is_some()] {
            span.pos { (e.position) }
            span.who {
                strong { (e.name) }
                @if let Some(until) = e.call_in_until {
                    @if e.arrived { " · arrived" } @else { " · call-in, due in " (minutes(until.saturating_sub(board.now_ms))) }
                }
                br;
                small { "waiting " (minutes(board.now_ms.saturating_sub(e.joined_ms))) " · " (estimate(&e.estimate)) }
            }
            @if let Some(call) = e.call {
                span.timer data-deadline=(call.deadline_ms) { (minutes(call.deadline_ms.saturating_sub(board.now_ms))) }
            }
            div.acts {
                @if e.call.is_none() && (e.call_in_until.is_none() || e.arrived) {
                    form method="post" action=(action("call")) { (csrf_field(csrf)) button type="submit" { "Call" } }
                }
                @if e.call_in_until.is_some() && !e.arrived {
                    form method="post" action=(action("arrived")) { (csrf_field(csrf)) button.secondary type="submit" { "Arrived" } }
                }
                @if !seats.is_empty() {
                    form.seat method="post" action=(action("seat")) {
                        (csrf_field(csrf))
                        select name="spot" aria-label="Seat" {
                            @for (value, label) in seats { option value=(value) { (label) } }
                        }
                        button type="submit" { "Seat" }
                    }
                }
                // Two taps for what cannot be undone: the first opens the question.
                @if e.call.is_some() {
                    details.confirm {
                        summary.danger { "No-show" }
                        form method="post" action=(action("no-show")) { (csrf_field(csrf)) button.danger type="submit" { "Mark " (e.name) " no-show" } }
                    }
                }
                details.confirm {
                    summary title="Take off the list" aria-label=(format!("Take {} off the list", e.name)) { "✕" }
                    form method="post" action=(action("remove")) { (csrf_field(csrf)) button.danger type="submit" { "Take " (e.name) " off the list" } }
                }
                details.move {
                    summary { "Move" }
                    form method="post" action=(action("move")) {
                        (csrf_field(csrf))
                        input name="position" type="number" min="1" max=(list.entries.len()) value="1" aria-label="New place" required;
                        input name="reason" required maxlength="200" placeholder="Reason (kept in the log)";
                        button.secondary type="submit" { "Move" }
                    }
                }
            }
        }
    }
}

fn list_card(board: &BoardView, list: &ListView, csrf: &CsrfToken, manage: bool) -> Markup {
    let seats = seat_choices(board, list);
    html! {
        section.list id=(format!("list-{}", list.id)) {
            header {
                h2 { (list.label) }
                span.meta {
                    (list.entries.len()) " waiting · " (count(list.running_tables as u64, "table", "tables"))
                    @if list.interest_only { " · " span.badge { "interest list" } }
                    @if list.interest_only && list.enough_for_new_table { " · " span.badge.go { "enough for a new table" } }
                }
            }
            form.callnext method="post" action=(format!("/cash/lists/{}/call-next", list.id)) {
                (csrf_field(csrf))
                button.big type="submit" disabled[list.entries.is_empty()] { "Call next" }
            }
            ol.entries {
                @for e in &list.entries { (entry_row(board, list, &seats, e, csrf)) }
            }
            @if !list.off.is_empty() {
                ul.off aria-label="Just off the list" {
                    @for o in list.off.iter().take(3) {
                        li {
                            span { (o.name) " · " (if o.no_show { "no-show" } else { "taken off" }) " (was " (ordinal(o.position)) ")" }
                            form.inline method="post" action=(format!("/cash/entries/{}/restore", o.entry_id)) {
                                (csrf_field(csrf))
                                button.link type="submit" aria-label=(format!("Put {} back at {}", o.name, ordinal(o.position))) { "Put back" }
                            }
                        }
                    }
                }
            }
            @if !list.must_move_next.is_empty() {
                p.mustmove { "Must-move next: "
                    @for s in &list.must_move_next { span { (s.name) " (" (s.table_name) " seat " (s.seat) ") " } }
                }
            }
            form.join method="post" action=(format!("/cash/lists/{}/join", list.id)) {
                (csrf_field(csrf))
                input name="name" list="players" required placeholder="Player name or walk-in" autocomplete="off";
                input name="call_in_minutes" type="number" min="1" max="240" placeholder="Call-in min";
                button type="submit" { "Add" }
            }
            @if manage && list.entries.is_empty() {
                form method="post" action=(format!("/cash/lists/{}/close", list.id)) {
                    (csrf_field(csrf))
                    button.link type="submit" { "Close this list" }
                }
            }
        }
    }
}

fn table_card(t: &TableSeatsView, now_ms: u64, csrf: &CsrfToken, manage: bool) -> Markup {
    let seat_action = |seat: u8, a: &str| format!("/cash/tables/{}/seats/{seat}/{a}", t.id);
    html! {
        section.seats {
            h3 { (t.name) " " small { (t.stakes) " " (t.game.label()) " · " (t.status.code()) @if t.must_move { " · must-move" } } }
            ul {
                @for s in &t.occupied {
                    li.away[s.away_since.is_some()] {
                        span.seatno { (s.seat) }
                        span.who { (s.name) @if let Some(a) = s.away_since { small { " away " (minutes(now_ms.saturating_sub(a))) } } }
                        @if s.away_since.is_some() {
                            form method="post" action=(seat_action(s.seat, "back")) { (csrf_field(csrf)) button.secondary type="submit" { "Back" } }
                        } @else {
                            form method="post" action=(seat_action(s.seat, "away")) { (csrf_field(csrf)) button.secondary type="submit" { "Away" } }
                        }
                        form method="post" action=(seat_action(s.seat, "seat-change")) { (csrf_field(csrf)) button.secondary type="submit" title="Wants another seat" { "Seat change" } }
                        // Two taps: the seat's time goes with it.
                        details.confirm {
                            summary.secondary { "Left" }
                            form method="post" action=(seat_action(s.seat, "leave")) { (csrf_field(csrf)) button.danger type="submit" { (s.name) " left: free seat " (s.seat) } }
                        }
                    }
                }
            }
            p.open { (count(t.open_seats.len() as u64, "open seat", "open seats")) }
            @if !t.open_seats.is_empty() {
                details.move {
                    summary { "Seat someone now" }
                    form method="post" action=(format!("/cash/tables/{}/seat", t.id)) {
                        (csrf_field(csrf))
                        label { "Player (a new name adds a walk-in)" input name="name" list="players" required maxlength="80" autocomplete="off"; }
                        label { "Seat" select name="seat" { @for n in &t.open_seats { option value=(n) { (n) } } } }
                        button type="submit" { "Seat" }
                    }
                }
            }
            @if manage {
                form method="post" action=(format!("/cash/tables/{}/must-move", t.id)) {
                    (csrf_field(csrf))
                    @if t.must_move {
                        input type="hidden" name="must_move" value="false";
                        button.link type="submit" { "No longer must-move" }
                    } @else {
                        input type="hidden" name="must_move" value="true";
                        button.link type="submit" title="Its players move to the main game of the same stakes as seats open" { "Make must-move" }
                    }
                }
            }
        }
    }
}

async fn render(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    render_saying(s, who, csrf, status, error, None).await
}

async fn render_saying(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let state = s.log.venue();
    let board = board_of(&state, s.clock.now_ms());
    let body = html! {
        div.board data-now=(board.now_ms) {
            @if let Some(n) = notice {
                @if let Some(o) = undo_for(&board, n) {
                    // A div: a form cannot sit inside a paragraph.
                    div.notice role="status" {
                        (n) " "
                        form.inline method="post" action=(format!("/cash/entries/{}/restore", o.entry_id)) {
                            (csrf_field(csrf))
                            button.secondary type="submit" aria-label=(format!("Put {} back at {}", o.name, ordinal(o.position))) { "Put back" }
                        }
                    }
                } @else {
                    p.notice role="status" { (n) }
                }
            }
            h1 { "Waiting lists" }
            datalist id="players" {
                @for p in state.players.values() {
                    option value=(p.name) {}
                    @if let Some(n) = &p.nickname { option value=(n) {} }
                }
            }
            @if board.lists.is_empty() { p.empty { "No waiting lists yet." } }
            div.lists { @for l in &board.lists { (list_card(&board, l, csrf, Permission::CashManage.allows(who.role))) } }
            @if !board.away.is_empty() {
                h2 { "Away from their seats" }
                ul.plain { @for a in &board.away {
                    li { (a.name) " · " (a.table_name) " seat " (a.seat) " · away " (minutes(board.now_ms.saturating_sub(a.away_since.unwrap_or(board.now_ms)))) }
                } }
            }
            @if !board.seat_changes.is_empty() {
                h2 { "Seat change requests" }
                ul.plain { @for r in &board.seat_changes {
                    li { (r.name) " · waiting " (minutes(board.now_ms.saturating_sub(r.at_ms)))
                        form.inline method="post" action=(format!("/cash/seat-changes/{}/cancel", r.id)) {
                            (csrf_field(csrf)) button.link type="submit" { "done / cancel" }
                        }
                    }
                } }
            }
            h2 { "Tables" }
            div.tablesgrid { @for t in board.tables.iter().filter(|t| t.status != TableStatus::Closed) { (table_card(t, board.now_ms, csrf, Permission::CashManage.allows(who.role))) } }
            @if Permission::CashManage.allows(who.role) {
                p.meta { a href="/cash/rules" { "List rules" } ": call timer, no-shows, new tables" }
                section.new {
                    h2 { "New waiting list" }
                    form method="post" action="/cash/lists" {
                        (csrf_field(csrf))
                        label { "Game" select name="game" { @for g in Game::ALL { option value=(g.code()) { (g.label()) } } } }
                        label { "Small blind" input name="small_blind" type="number" min="1" value="1" required; }
                        label { "Big blind" input name="big_blind" type="number" min="1" value="2" required; }
                        button type="submit" { "Open list" }
                    }
                }
            }
        }
        script src="/static/countdown.js" {}
    };
    Ok((
        status,
        layout(&settings, who, csrf, "Waiting lists", error, body),
    )
        .into_response())
}

async fn page(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    csrf: CsrfToken,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let flash = Flash::take(&headers, "/cash");
    let page = render_saying(
        &s,
        who.principal(),
        &csrf,
        StatusCode::OK,
        None,
        flash.text(),
    )
    .await?;
    Ok(flash.spend(page))
}

/// An entry as the board shows it: name, list, place (1-based).
struct Spot {
    name: String,
    list: String,
    place: usize,
}

fn spot_of(board: &BoardView, entry_id: Uuid) -> Option<Spot> {
    board.lists.iter().find_map(|l| {
        l.entries.iter().find(|e| e.id == entry_id).map(|e| Spot {
            name: e.name.clone(),
            list: l.label.clone(),
            place: e.position,
        })
    })
}

/// A message saying someone was just taken off a list carries the undo:
/// the latest removal on that list, when it is the one named.
fn undo_for<'a>(board: &'a BoardView, notice: &str) -> Option<&'a OffView> {
    if !notice.ends_with(PUT_BACK) {
        return None;
    }
    board.lists.iter().find_map(|l| {
        l.off.first().filter(|o| {
            notice.starts_with(&format!("{} ", o.name))
                && notice.contains(&format!(" the {} list.", l.label))
        })
    })
}

const PUT_BACK: &str = "Put back undoes it.";

fn off_spot(board: &BoardView, entry_id: Uuid) -> Option<Spot> {
    board.lists.iter().find_map(|l| {
        l.off.iter().find(|o| o.entry_id == entry_id).map(|o| Spot {
            name: o.name.clone(),
            list: l.label.clone(),
            place: o.position,
        })
    })
}

/// 1st, 2nd, 3rd, 4th … 11th, 12th, 13th, 21st.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What an entry action did, in words, from the board before and after it.
fn entry_said(verb: EntryVerb, before: &Spot, after: Option<&Spot>, seat: Option<&str>) -> String {
    let Spot { name, list, .. } = before;
    match (verb, after) {
        (EntryVerb::Call, _) => format!("{name} called for {list}."),
        (EntryVerb::Arrived, _) => format!("{name} has arrived."),
        (EntryVerb::NoShow, Some(a)) => format!(
            "{name} marked no-show, moved to {} on {list}.",
            ordinal(a.place)
        ),
        (EntryVerb::NoShow, None) => {
            format!("{name} marked no-show and taken off the {list} list. {PUT_BACK}")
        }
        (EntryVerb::Remove, _) => format!("{name} taken off the {list} list. {PUT_BACK}"),
        (EntryVerb::Restore, Some(a)) => {
            format!("{name} put back at {} on {list}.", ordinal(a.place))
        }
        (EntryVerb::Restore, None) => format!("{name} put back on {list}."),
        (EntryVerb::Move, Some(a)) => format!("{name} moved to {} on {list}.", ordinal(a.place)),
        (EntryVerb::Seat, _) => format!("{name} seated at {}.", seat.unwrap_or("the table")),
        (EntryVerb::Move, None) => format!("{name}: done."),
    }
}

/// Runs a parsed board action: back to the board saying `said` (made from
/// the board after the action), or the board again with why not.
async fn act(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    action: Result<Action, String>,
    said: impl FnOnce(&BoardView) -> Option<String>,
) -> Result<Response, ApiError> {
    let now = s.clock.now_ms();
    let ran = run_parsed(action, |a| ops::cash::act(&s.log, who.actor(), now, a)).await;
    if let Err((status, message)) = ran {
        return render(s, who, csrf, status, Some(&message)).await;
    }
    match said(&board_of(&s.log.venue(), s.clock.now_ms())) {
        Some(said) => Ok(redirect_saying("/cash", "/cash", &said)),
        None => Ok(Redirect::to("/cash").into_response()),
    }
}

#[derive(Debug, Deserialize)]
struct ListForm {
    #[serde(default)]
    game: String,
    #[serde(default)]
    small_blind: String,
    #[serde(default)]
    big_blind: String,
}

async fn create_list(
    State(s): State<AppState>,
    who: Require<CashManage>,
    csrf: CsrfToken,
    form: FormResult<ListForm>,
) -> Result<Response, ApiError> {
    let Form(f) = form?;
    let action = (|| {
        let game = Game::from_code(&f.game).ok_or_else(|| format!("unknown game {:?}", f.game))?;
        let small = f
            .small_blind
            .trim()
            .parse()
            .map_err(|_| "small blind: a whole number".to_string())?;
        let big = f
            .big_blind
            .trim()
            .parse()
            .map_err(|_| "big blind: a whole number".to_string())?;
        let stakes = Stakes::new(small, big).map_err(|e| e.to_string())?;
        Ok(Action::CreateList { game, stakes })
    })();
    act(&s, who.principal(), &csrf, action, |_| None).await
}

#[derive(Debug, Deserialize)]
struct JoinForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    call_in_minutes: String,
}

async fn join(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    csrf: CsrfToken,
    Path(list_id): Path<Uuid>,
    form: FormResult<JoinForm>,
) -> Result<Response, ApiError> {
    let Form(f) = form?;
    let now = s.clock.now_ms();
    let name = f.name.trim().to_owned();
    let call_in_until = match f.call_in_minutes.trim() {
        "" => Ok(None),
        m => m
            .parse::<u64>()
            .ok()
            .filter(|m| (1..=240).contains(m))
            .map(|m| Some(now + m * 60_000))
            .ok_or_else(|| "call-in minutes: 1 to 240".to_string()),
    };
    // A known name or nickname joins as that player; anything else is a
    // walk-in added on the spot (ops::players::Who::Typed).
    let call_in_until = match call_in_until {
        Ok(c) => c,
        Err(m) => {
            return render(
                &s,
                who.principal(),
                &csrf,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&m),
            )
            .await
        }
    };
    let joined = ops::cash::join(
        &s.log,
        who.principal().actor(),
        Who::Typed(name),
        ops::cash::Join {
            list_id,
            at_ms: now,
            call_in_until,
        },
    )
    .await;
    match joined {
        Ok((entry_id, _)) => {
            let board = board_of(&s.log.venue(), s.clock.now_ms());
            let said = match spot_of(&board, entry_id) {
                Some(Spot { name, list, place }) => {
                    format!("{name} added to {list}, {}.", ordinal(place))
                }
                None => "Added.".to_owned(),
            };
            Ok(redirect_saying("/cash", "/cash", &said))
        }
        Err(e) => {
            let (status, message) = refusal(e);
            render(&s, who.principal(), &csrf, status, Some(&message)).await
        }
    }
}

async fn call_next(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    csrf: CsrfToken,
    Path(list_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let uncalled: Vec<Uuid> = board_of(&s.log.venue(), s.clock.now_ms())
        .lists
        .iter()
        .filter(|l| l.id == list_id)
        .flat_map(|l| l.entries.iter().filter(|e| e.call.is_none()).map(|e| e.id))
        .collect();
    // The one whose call is new.
    let said = |board: &BoardView| {
        let called = board
            .lists
            .iter()
            .filter(|l| l.id == list_id)
            .find_map(|l| {
                l.entries
                    .iter()
                    .find(|e| e.call.is_some() && uncalled.contains(&e.id))
                    .map(|e| format!("{} called for {}.", e.name, l.label))
            });
        Some(called.unwrap_or_else(|| "Called.".to_owned()))
    };
    let action = Ok(Action::CallNext { list_id });
    act(&s, who.principal(), &csrf, action, said).await
}

/// Closes an empty list, saying so; a list with players waiting stays, with why.
async fn close_list(
    State(s): State<AppState>,
    who: Require<CashManage>,
    csrf: CsrfToken,
    Path(list_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let label = board_of(&s.log.venue(), s.clock.now_ms())
        .lists
        .iter()
        .find(|l| l.id == list_id)
        .map(|l| l.label.clone());
    let said = move |_: &BoardView| label.map(|l| format!("The {l} list is closed."));
    act(
        &s,
        who.principal(),
        &csrf,
        Ok(Action::CloseList { list_id }),
        said,
    )
    .await
}

#[derive(Debug, Deserialize)]
struct SpotForm {
    #[serde(default)]
    spot: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    reason: String,
}

/// What can be done to a waiting-list entry from the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryVerb {
    Call,
    Arrived,
    NoShow,
    Remove,
    Restore,
    Move,
    Seat,
}

impl EntryVerb {
    fn parse(word: &str) -> Option<EntryVerb> {
        Some(match word {
            "call" => EntryVerb::Call,
            "arrived" => EntryVerb::Arrived,
            "no-show" => EntryVerb::NoShow,
            "remove" => EntryVerb::Remove,
            "restore" => EntryVerb::Restore,
            "move" => EntryVerb::Move,
            "seat" => EntryVerb::Seat,
            _ => return None,
        })
    }

    /// The form's fields read for this verb.
    fn action(self, entry_id: Uuid, f: SpotForm) -> Result<Action, String> {
        Ok(match self {
            EntryVerb::Call => Action::Call { entry_id },
            EntryVerb::Arrived => Action::Arrived { entry_id },
            EntryVerb::NoShow => Action::NoShow { entry_id },
            EntryVerb::Remove => Action::Remove { entry_id },
            EntryVerb::Restore => Action::Restore { entry_id },
            EntryVerb::Move => match f.position.trim().parse::<usize>() {
                Ok(p) if p >= 1 => Action::Move {
                    entry_id,
                    to_index: p - 1,
                    reason: f.reason,
                },
                _ => return Err("place: a whole number from 1".to_string()),
            },
            EntryVerb::Seat => {
                let (table_id, seat) = spot(&f.spot).ok_or_else(|| "pick a seat".to_string())?;
                Action::SeatEntry {
                    entry_id,
                    table_id,
                    seat,
                }
            }
        })
    }
}

/// A seat picked on the board: "table-id:seat".
fn spot(text: &str) -> Option<(Uuid, u8)> {
    let (table, seat) = text.split_once(':')?;
    Some((Uuid::parse_str(table).ok()?, seat.parse().ok()?))
}

async fn entry_action(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    csrf: CsrfToken,
    Path((entry_id, verb)): Path<(Uuid, String)>,
    form: FormResult<SpotForm>,
) -> Result<Response, ApiError> {
    let Form(f) = form?;
    let verb = EntryVerb::parse(&verb)
        .ok_or_else(|| ApiError::not_found(format!("no action {verb:?}")))?;
    if verb == EntryVerb::Seat && !s.log.venue().cash.entries.contains_key(&entry_id) {
        // Seated or taken off by someone else since the board was drawn.
        let m = "that player is no longer on the list";
        let who = who.principal();
        return render(&s, who, &csrf, StatusCode::UNPROCESSABLE_ENTITY, Some(m)).await;
    }
    let board = board_of(&s.log.venue(), s.clock.now_ms());
    let before = spot_of(&board, entry_id);
    let seat_label = spot(&f.spot).and_then(|(table_id, seat)| {
        let table = board.tables.iter().find(|x| x.id == table_id)?;
        Some(format!("{}, seat {seat}", table.name))
    });
    let said = |after: &BoardView| {
        let after = spot_of(after, entry_id);
        // One taken off is not on the board before: their name is in the list's recent removals.
        let before = before.or_else(|| off_spot(&board, entry_id))?;
        Some(entry_said(
            verb,
            &before,
            after.as_ref(),
            seat_label.as_deref(),
        ))
    };
    let action = verb.action(entry_id, f);
    act(&s, who.principal(), &csrf, action, said).await
}

async fn seat_action(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    csrf: CsrfToken,
    Path((table_id, seat, verb)): Path<(Uuid, u8, String)>,
) -> Result<Response, ApiError> {
    let action = match verb.as_str() {
        "away" => Action::Away { table_id, seat },
        "back" => Action::Back { table_id, seat },
        "leave" => Action::Leave { table_id, seat },
        "seat-change" => Action::RequestSeatChange {
            table_id,
            seat,
            wants: None,
        },
        other => return Err(ApiError::not_found(format!("no action {other:?}"))),
    };
    let sitting = board_of(&s.log.venue(), s.clock.now_ms())
        .tables
        .iter()
        .filter(|t| t.id == table_id)
        .find_map(|t| {
            let who = t.occupied.iter().find(|o| o.seat == seat)?;
            Some((who.name.clone(), format!("{}, seat {seat}", t.name)))
        });
    let said = |_: &BoardView| {
        Some(match (sitting, &action) {
            (Some((name, at)), Action::Away { .. }) => format!("{name} ({at}) is away."),
            (Some((name, at)), Action::Back { .. }) => format!("{name} is back at {at}."),
            (Some((name, at)), Action::Leave { .. }) => {
                format!("{name} left {at}: the seat is open.")
            }
            (Some((name, at)), _) => format!("{name} ({at}) wants another seat."),
            (None, _) => "Done.".to_owned(),
        })
    };
    act(&s, who.principal(), &csrf, Ok(action.clone()), said).await
}

async fn cancel_seat_change(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    csrf: CsrfToken,
    Path(request_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let action = Ok(Action::CancelSeatChange { request_id });
    act(&s, who.principal(), &csrf, action, |_| None).await
}

#[derive(Debug, Deserialize)]
struct SeatNowForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    seat: String,
}

/// Seats a player straight away: a name in the directory, else a walk-in.
async fn seat_now(
    State(s): State<AppState>,
    who: Require<CashOperate>,
    csrf: CsrfToken,
    Path(table_id): Path<Uuid>,
    form: FormResult<SeatNowForm>,
) -> Result<Response, ApiError> {
    let Form(f) = form?;
    let who = who.principal();
    let name = f.name.trim().to_owned();
    let Ok(seat) = f.seat.trim().parse::<u8>() else {
        let m = "pick a seat";
        return render(&s, who, &csrf, StatusCode::UNPROCESSABLE_ENTITY, Some(m)).await;
    };
    let now = s.clock.now_ms();
    let seated =
        ops::cash::seat_now(&s.log, who.actor(), now, Who::Typed(name), table_id, seat).await;
    match seated {
        Ok((player_id, _)) => {
            let state = s.log.venue();
            let player = state.players.get(&player_id).map(|p| p.name.clone());
            let table = state.tables.get(&table_id).map(|t| t.name.to_string());
            let said = format!(
                "{} seated at {}, seat {seat}.",
                player.as_deref().unwrap_or("The player"),
                table.as_deref().unwrap_or("the table")
            );
            Ok(redirect_saying("/cash", "/cash", &said))
        }
        Err(e) => {
            let (status, message) = refusal(e);
            render(&s, who, &csrf, status, Some(&message)).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct MustMoveForm {
    #[serde(default)]
    must_move: String,
}

/// Makes a table must-move, or not.
async fn must_move(
    State(s): State<AppState>,
    who: Require<CashManage>,
    csrf: CsrfToken,
    Path(table_id): Path<Uuid>,
    form: FormResult<MustMoveForm>,
) -> Result<Response, ApiError> {
    let Form(f) = form?;
    let must_move = match f.must_move.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("must-move: {other:?} is neither true nor false")),
    };
    let action = must_move.map(|must_move| Action::SetMustMove {
        table_id,
        must_move,
    });
    let said = |board: &BoardView| {
        let t = board.tables.iter().find(|t| t.id == table_id)?;
        Some(if t.must_move {
            format!(
                "{} is now a must-move table: its players move to the main {} {} game as seats open.",
                t.name,
                t.stakes,
                t.game.label()
            )
        } else {
            format!("{} is no longer a must-move table.", t.name)
        })
    };
    act(&s, who.principal(), &csrf, action, said).await
}
