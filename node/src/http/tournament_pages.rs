//! The tournament director's pages: the list with a create form, and one
//! tournament's clock panel (start, pause/resume, ±1 min, previous/next
//! level) with registration, seats, bust-outs, balancing and undo. Big
//! buttons for one thumb on a phone; the clock counts down via countdown.js.

use super::auth::{CsrfToken, Require, StaffUi, TournamentsManage, TournamentsOperate};
use super::error::ApiError;
use super::page::{csrf_field, layout, redirect_saying, refusal, Flash, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops::{self, players::Who, tournaments::Action};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use pvm_shared::tournament::play::{PlayCommand, PlayEvent, Status};
use pvm_shared::words::grouped;
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tournaments", get(list_page).post(create))
        .route("/tournaments/{id}", get(panel))
        .route("/tournaments/{id}/results.csv", get(results_csv))
        .route("/tournaments/{id}/bag", post(bag))
        .route("/tournaments/{id}/{action}", post(action))
        .route("/day2", post(create_day2))
}

/// What the room sees: a paused clock is "paused", not "running".
fn status_word(t: &pvm_shared::tournament::play::Tournament, now_ms: i64) -> String {
    let v = t.clock.view(&t.structure, now_ms);
    match t.status {
        Status::Running if v.paused => "paused".to_owned(),
        Status::Running if v.on_break => "on break".to_owned(),
        Status::Bagged => "bagged for Day 2".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
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
        @let now = s.clock.now_ms() as i64;
        @let (done, live): (Vec<_>, Vec<_>) = state.tournaments.values().partition(|t| matches!(t.status, Status::Finished | Status::Bagged));
        @if live.is_empty() { p.empty { "No tournament is registering or running." } }
        ul.plain {
            @for t in &live {
                li { a href=(format!("/tournaments/{}", t.id)) { (t.name) } " · " (status_word(t, now)) " · " (t.stats().players_left) " left" }
            }
        }
        // Finished events step out of the way (and off the screens' choices); their results stay here.
        @if !done.is_empty() {
            details.finished {
                summary { (pvm_shared::words::count(done.len() as u64, "finished tournament", "finished tournaments")) }
                ul.plain {
                    @for t in &done {
                        li { a href=(format!("/tournaments/{}", t.id)) { (t.name) } " · " (status_word(t, now)) " · " (pvm_shared::words::count(t.bullets.len() as u64, "entry", "entries")) }
                    }
                }
            }
        }
        @if manage {
            section.new {
                h2 { "New tournament" }
                form method="post" action="/tournaments" {
                    (csrf_field(&csrf))
                    label { "Name" input name="name" required maxlength="80" placeholder="Friday Deepstack"; }
                    label { "Structure" select name="template" { @for t in state.all_templates() { option value=(t.name) { (t.name) } } } }
                    label { "Tables" input name="tables" type="number" min="1" max="500" value="4" required; }
                    button type="submit" { "Create" }
                }
                p { a href="/structures" { "Structures: clone and edit templates" } }
            }
            @let bagged: Vec<_> = state.tournaments.values().filter(|t| t.status == Status::Bagged && t.fed_day2.is_none()).collect();
            @if !bagged.is_empty() {
                section.new {
                    h2 { "Day 2 from bagged flights" }
                    form method="post" action="/day2" {
                        (csrf_field(&csrf))
                        @for f in &bagged {
                            label { input type="checkbox" name="flight" value=(f.id) checked; " " (f.name) " · " (f.alive().count()) " bagged" }
                        }
                        label { "Name" input name="name" required maxlength="80" placeholder="Main Event Day 2"; }
                        label { "Tables" input name="tables" type="number" min="1" max="500" value="4" required; }
                        button type="submit" { "Create Day 2" }
                    }
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
    let structure = s
        .log
        .venue()
        .all_templates()
        .into_iter()
        .find(|t| t.name == f.template)
        .ok_or_else(|| ApiError::invalid(format!("no template called {:?}", f.template)))?;
    let tables: u16 = f
        .tables
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid("tables: a whole number"))?;
    let new = ops::tournaments::NewTournament {
        name: f.name,
        structure,
        tables,
        seats: 9,
    };
    let tournament_id = ops::tournaments::create(&s.log, who.principal().actor(), new).await?;
    Ok(Redirect::to(&format!("/tournaments/{tournament_id}")).into_response())
}

async fn render(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    id: Uuid,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
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
    let rebuys = t.structure.rebuy.allowed;
    let addons = t.structure.addon.allowed;
    let recent = recent_actions(s, &state, id).await?;
    let mut seated: Vec<_> = t.alive().filter_map(|b| b.seat.map(|s| (s, b))).collect();
    seated.sort_by_key(|(s, _)| *s);
    let status_word = status_word(t, now as i64);
    let running = t.status == Status::Running;
    let final_table = if running { final_table_at(t) } else { None };
    // When the final table can be drawn, that is the one move offered:
    // drawing it breaks and balances every other table at once.
    let balance = t
        .balance_suggestion()
        .filter(|_| running && final_table.is_none());
    let to_break = t
        .table_to_break()
        .filter(|_| running && final_table.is_none());
    let body = html! {
        div.board data-now=(now) {
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            h1 { (t.name) " " small { (status_word) } }
            section.clock {
                @if v.on_break { p.level { "Break" } } @else { p.level { "Level " (v.level) } }
                @if v.started && !v.paused && !v.finished {
                    p.time.timer data-deadline=(now + v.time_left_ms) { (clock_text(v.time_left_ms)) }
                } @else {
                    p.time { (clock_text(v.time_left_ms)) @if v.paused { " " span.paused { "(paused)" } } }
                }
                @if let Some(b) = v.blinds { p.blinds { (b.small_blind) " / " (b.big_blind) } }
                @if let Some(n) = v.next { p.next { "Next: " (n.small_blind) " / " (n.big_blind) } }
                p.meta { (stats.players_left) " of " (stats.entries) " left · average " (grouped(stats.average_stack)) " · prize pool " (grouped(t.prize_pool())) }
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
            @if let Some(m) = balance {
                p.mustmove { "Balance: move " (t.bullets.get(&m.bullet_id).map(|b| name(b.player_id)).unwrap_or_default())
                    " from table " (m.from.0) " seat " (m.from.1) " to table " (m.to.0) " seat " (m.to.1) " "
                    (button("balance", "Confirm move", "")) }
            }
            @if let Some(table) = to_break {
                p.mustmove { "The field fits: break table " (table) " " (button("break", "Break it", "")) }
            }
            @if let Some(b) = last_bust { p { "Last bust-out: " (t.bullets.get(&b).map(|x| name(x.player_id)).unwrap_or_default()) " " (button("undo-bust", "Undo", "secondary")) } }
            @if t.status != Status::Finished {
                form.join method="post" action=(act("register")) {
                    (csrf_field(csrf))
                    input name="name" required placeholder="Player name" list="players";
                    @if !t.registration_open(now as i64) {
                        label.check title="Let this player in although late registration has closed (the event records it)" { input type="checkbox" name="override" value="1"; " Late entry after registration closed" }
                    }
                    button type="submit" { "Register" }
                }
                datalist id="players" { @for p in state.players.values() { option value=(p.name) {} } }
            }
            @if running {
                @if let Some(table) = final_table {
                    p { (t.alive().count()) " left: " (button(&format!("final-table-{table}"), &format!("Draw the final table at table {table}"), "")) }
                }
            }
            h2 { "Seating" }
            div.tablesgrid {
                @for tt in t.tables.iter().filter(|x| !x.broken) {
                    section.seats {
                        h3 { "Table " (tt.number) @if let Some(b) = tt.button { small { " · button seat " (b) } } }
                        @if t.status == Status::Running {
                            form.inline.button method="post" action=(act(&format!("button-{}", tt.number))) {
                                (csrf_field(csrf))
                                select name="seat" aria-label="Dealer button seat" {
                                    @for n in 1..=tt.seats { option value=(n) selected[tt.button == Some(n)] { "Button " (n) } }
                                }
                                button.secondary type="submit" { "Set" }
                            }
                        }
                        ul {
                            @for ((_, seat), b) in seated.iter().filter(|((tn, _), _)| *tn == tt.number) {
                                li {
                                    span.seatno { (seat) }
                                    span.who { (name(b.player_id)) @if b.rebuys > 0 { small { " R" (b.rebuys) } } @if b.addons > 0 { small { " A" } } @if let Some(c) = b.chips { small { " " (c) } } }
                                    @if t.status == Status::Running {
                                        @if rebuys { form.inline method="post" action=(act(&format!("rebuy-{}", b.id))) { (csrf_field(csrf)) button.secondary type="submit" { "Rebuy" } } }
                                        @if addons { form.inline method="post" action=(act(&format!("addon-{}", b.id))) { (csrf_field(csrf)) button.secondary type="submit" { "Add-on" } } }
                                        form.inline method="post" action=(format!("/tournaments/{id}/bust-{}", b.id)) { (csrf_field(csrf)) button.danger type="submit" { "Bust" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if t.status == Status::Registering {
                p { (t.bullets.len()) " registered; seats are drawn at the start." }
                @if !t.bullets.is_empty() {
                    details.registered open[t.bullets.len() <= 60] {
                        summary { "Who is registered" }
                        ol.registered { @for b in t.bullets.values() { li { (name(b.player_id)) } } }
                    }
                }
            }
            @if t.status == Status::Running && t.day2.is_none() {
                details.move {
                    summary { "End of flight: bag the chips for Day 2" }
                    form method="post" action=(act("bag")) {
                        (csrf_field(csrf))
                        @for ((table, seat), b) in &seated {
                            label { (name(b.player_id)) " (table " (table) " seat " (seat) ")" input name=(format!("chips-{}", b.id)) inputmode="numeric" required; }
                        }
                        button.big type="submit" { "Bag the flight" }
                    }
                }
            }
            @if !recent.is_empty() {
                h2 { "Recent actions" }
                ul.plain {
                    @for (seq, what, undoable) in &recent {
                        li {
                            (what) " "
                            @match undoable {
                                Undo::Offered => { (button(&format!("undo-{seq}"), "Undo", "secondary")) },
                                Undo::TooLate => { small.meta { "can no longer be undone" } },
                                Undo::Done => { small.meta { "(undone)" } },
                                Undo::NotAnAction => {},
                            }
                        }
                    }
                }
            }
            @let results = super::tournament_field::results_of(&state, t);
            // Staff see full names; the public results carry the short ones.
            @let full_names: std::collections::BTreeMap<u32, String> = t.places().into_iter()
                .filter_map(|(b, place)| Some((place, name(t.bullets.get(&b)?.player_id)))).collect();
            h2 { "Results" }
            p.meta { "Prize pool " (grouped(results.prize_pool)) " (information only) · " (pvm_shared::words::count(results.payouts.len() as u64, "place paid", "places paid")) " · "
                a href=(format!("/tournaments/{id}/results.csv")) { "Download CSV" } }
            @if !results.places.is_empty() {
                table.api {
                    thead { tr { th { "Place" } th { "Player" } th { "Payout" } } }
                    tbody {
                        @for r in &results.places { tr { td { (r.place) } td { (full_names.get(&r.place).unwrap_or(&r.name)) } td { @if r.payout > 0 { (grouped(r.payout)) } @else { "–" } } } }
                    }
                }
            }
        }
        script src="/static/countdown.js" {}
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
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/tournaments/{id}");
    let flash = Flash::take(&headers, &path);
    let page = render(
        &s,
        who.principal(),
        &csrf,
        id,
        StatusCode::OK,
        None,
        flash.text(),
    )
    .await?;
    Ok(flash.spend(page))
}

#[derive(Debug, Deserialize)]
struct ActionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    r#override: String,
    #[serde(default)]
    seat: String,
}

/// A button of the clock panel, parsed once from the path
/// (`/tournaments/{id}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PanelAction {
    Start,
    Pause,
    Resume,
    Plus,
    Minus,
    Next,
    Prev,
    CloseLateReg,
    Balance,
    Break,
    UndoBust,
    Register,
    Bust(Uuid),
    Rebuy(Uuid),
    AddOn(Uuid),
    Button(u16),
    FinalTable(u16),
    Undo(u64),
}

impl PanelAction {
    fn parse(text: &str) -> Option<PanelAction> {
        use PanelAction::*;
        let fixed = match text {
            "start" => Some(Start),
            "pause" => Some(Pause),
            "resume" => Some(Resume),
            "plus" => Some(Plus),
            "minus" => Some(Minus),
            "next" => Some(Next),
            "prev" => Some(Prev),
            "close-late-reg" => Some(CloseLateReg),
            "balance" => Some(Balance),
            "break" => Some(Break),
            "undo-bust" => Some(UndoBust),
            "register" => Some(Register),
            _ => None,
        };
        let id_after = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|b| Uuid::parse_str(b).ok())
        };
        let number_after = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|x| x.parse::<u64>().ok())
        };
        fixed
            .or_else(|| id_after("bust-").map(Bust))
            .or_else(|| id_after("rebuy-").map(Rebuy))
            .or_else(|| id_after("addon-").map(AddOn))
            .or_else(|| {
                number_after("button-")
                    .and_then(|n| u16::try_from(n).ok())
                    .map(Button)
            })
            .or_else(|| {
                number_after("final-table-")
                    .and_then(|n| u16::try_from(n).ok())
                    .map(FinalTable)
            })
            .or_else(|| number_after("undo-").map(Undo))
    }
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
    if !s.log.venue().tournaments.contains_key(&id) {
        return Err(ApiError::not_found(format!("no tournament with id {id}")));
    }
    let Some(button) = PanelAction::parse(&action) else {
        return Err(ApiError::not_found(format!("no action {action:?}")));
    };
    let action = match button {
        PanelAction::Register => {
            // The one registration (ops::tournaments), a typed name resolved
            // as at the waiting-list desk.
            let entered = ops::tournaments::register(
                &s.log,
                who.actor(),
                Who::Typed(f.name.trim().to_owned()),
                ops::tournaments::Entry {
                    tournament_id: id,
                    at_ms: now,
                    override_late_reg: !f.r#override.is_empty(),
                },
            )
            .await;
            return match entered {
                Ok(r) => {
                    let path = format!("/tournaments/{id}");
                    Ok(redirect_saying(&path, &path, &entered_said(&s, id, &r)))
                }
                Err(e) => {
                    let (status, message) = refusal(e);
                    render(&s, who, &csrf, id, status, Some(&message), None).await
                }
            };
        }
        PanelAction::Start => Ok(Action::Start),
        PanelAction::Pause => Ok(Action::Pause),
        PanelAction::Resume => Ok(Action::Resume),
        PanelAction::Plus => Ok(Action::AddTime { delta_ms: 60_000 }),
        PanelAction::Minus => Ok(Action::AddTime { delta_ms: -60_000 }),
        PanelAction::Next => Ok(Action::NextStep),
        PanelAction::Prev => Ok(Action::PreviousStep),
        PanelAction::CloseLateReg => Ok(Action::CloseLateReg),
        PanelAction::Balance => Ok(Action::Balance),
        PanelAction::Break => Ok(Action::BreakNext),
        PanelAction::UndoBust => Ok(Action::UndoLastBust),
        PanelAction::Bust(bullet_id) => Ok(Action::Bust { bullet_id }),
        PanelAction::Rebuy(bullet_id) => Ok(Action::Rebuy { bullet_id }),
        PanelAction::AddOn(bullet_id) => Ok(Action::AddOn { bullet_id }),
        PanelAction::Button(table) => match f.seat.trim().parse() {
            Ok(seat) => Ok(Action::SetButton { table, seat }),
            Err(_) => Err("choose the button's seat".to_string()),
        },
        PanelAction::FinalTable(table) => Ok(Action::FinalTable { table }),
        PanelAction::Undo(seq) => match super::tournaments::event_of(&s, id, seq).await? {
            Some(event) => Ok(Action::Undo { event }),
            None => Err(format!("no action {seq} of this tournament")),
        },
    };
    let action = match action {
        Ok(a) => a,
        Err(m) => return render(&s, who, &csrf, id, StatusCode::CONFLICT, Some(&m), None).await,
    };
    match ops::tournaments::play(&s.log, who.actor(), now, id, action).await {
        Ok(_) => Ok(Redirect::to(&format!("/tournaments/{id}")).into_response()),
        Err(e) => {
            let (status, message) = refusal(e);
            render(&s, who, &csrf, id, status, Some(&message), None).await
        }
    }
}

/// Where the final table can be drawn: the lowest table in play, once
/// everyone left fits there and more than one table is still in play.
fn final_table_at(t: &pvm_shared::tournament::play::Tournament) -> Option<u16> {
    let in_play: Vec<_> = t.tables.iter().filter(|x| !x.broken).collect();
    let first = in_play.iter().min_by_key(|x| x.number)?;
    let left = t.alive().count();
    (in_play.len() > 1 && left > 1 && left <= first.seats as usize).then_some(first.number)
}

/// What the panel offers beside a recent action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Undo {
    Offered,
    /// It would be refused now (their seat has been taken since, say).
    TooLate,
    /// A later undo took it back.
    Done,
    /// An undo itself: listed, never undone.
    NotAnAction,
}

/// Which earlier action an undo took back: its kind and bullet.
fn undoes(restore: &pvm_shared::tournament::play::Restore) -> (&'static str, Option<Uuid>) {
    use pvm_shared::tournament::play::Restore;
    match restore {
        Restore::Unbust { bullet_id, .. } => ("bust", Some(*bullet_id)),
        Restore::MoveBack { bullet_id, .. } => ("move", Some(*bullet_id)),
        Restore::Unregister { bullet_id } => ("register", Some(*bullet_id)),
        Restore::ClockBack { .. } => ("clock", None),
        Restore::Unrebuy { bullet_id } => ("rebuy", Some(*bullet_id)),
        Restore::Unaddon { bullet_id } => ("addon", Some(*bullet_id)),
    }
}

/// The last few actions of this tournament (from the latest 300 events of
/// the venue), newest first, each with what can be done about it.
async fn recent_actions(
    s: &AppState,
    state: &pvm_shared::venue::VenueState,
    id: Uuid,
) -> Result<Vec<(u64, String, Undo)>, ApiError> {
    let Some(t) = state.tournaments.get(&id) else {
        return Ok(Vec::new());
    };
    let who = |bullet: &Uuid| {
        t.bullets
            .get(bullet)
            .and_then(|b| state.players.get(&b.player_id))
            .map(|p| p.name.clone())
            .unwrap_or_else(|| "someone".into())
    };
    let mut out = Vec::new();
    // Undos seen (newest first) whose action is further down the list.
    let mut taken_back: Vec<(&'static str, Option<Uuid>)> = Vec::new();
    for (seq, bytes) in s.reader.recent_events(300).await? {
        let Ok(envelope) = pvm_shared::envelope::Envelope::decode(&bytes) else {
            continue;
        };
        let Ok(pvm_shared::EventKind::TournamentPlayed {
            tournament_id,
            event,
        }) = envelope.event()
        else {
            continue;
        };
        if tournament_id != id {
            continue;
        }
        let (what, key) = match &event {
            PlayEvent::Busted { bullet_id, .. } => (
                format!("{} busted", who(bullet_id)),
                ("bust", Some(*bullet_id)),
            ),
            PlayEvent::Moved { bullet_id, to, .. } => (
                format!("{} moved to table {} seat {}", who(bullet_id), to.0, to.1),
                ("move", Some(*bullet_id)),
            ),
            PlayEvent::Registered {
                bullet_id, reentry, ..
            } => (
                format!(
                    "{} {}",
                    who(bullet_id),
                    if *reentry { "re-entered" } else { "registered" }
                ),
                ("register", Some(*bullet_id)),
            ),
            PlayEvent::ClockSet { action, .. } => (format!("clock: {action}"), ("clock", None)),
            PlayEvent::Rebought { bullet_id } => (
                format!("{} rebought", who(bullet_id)),
                ("rebuy", Some(*bullet_id)),
            ),
            PlayEvent::AddedOn { bullet_id } => (
                format!("{} took the add-on", who(bullet_id)),
                ("addon", Some(*bullet_id)),
            ),
            // An undo is an action too: listed, and never undone itself.
            PlayEvent::Undone { what, restore } => {
                taken_back.push(undoes(restore));
                out.push((seq, format!("undone: {what}"), Undo::NotAnAction));
                if out.len() == 8 {
                    break;
                }
                continue;
            }
            _ => continue,
        };
        // Every recent action is listed; undo is offered only where it
        // would be accepted now (a bust-out whose seat has been taken since
        // cannot be put back), and one already taken back says so.
        let undo = if let Some(i) = taken_back.iter().position(|k| *k == key) {
            taken_back.remove(i);
            Undo::Done
        } else if t.decide(&PlayCommand::Undo { event }).is_ok() {
            Undo::Offered
        } else {
            Undo::TooLate
        };
        out.push((seq, what, undo));
        if out.len() == 8 {
            break;
        }
    }
    Ok(out)
}

async fn results_csv(
    State(s): State<AppState>,
    _who: Require<StaffUi>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let state = s.log.venue();
    let t = state
        .tournaments
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no tournament with id {id}")))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"results.csv\"",
            ),
        ],
        super::tournament_field::results_csv_text(&state, t),
    )
        .into_response())
}

async fn bag(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    form: FormResult<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Form(fields) = form?;
    let who = who.principal();
    let mut stacks = Vec::new();
    for (k, v) in &fields {
        let Some(bullet) = k.strip_prefix("chips-") else {
            continue;
        };
        let bullet_id =
            Uuid::parse_str(bullet).map_err(|_| ApiError::invalid(format!("{k}: not an entry")))?;
        let chips: u64 = match v.trim().replace([',', ' '], "").parse() {
            Ok(c) => c,
            Err(_) => {
                let m = format!("{v:?} is not a chip count");
                return render(
                    &s,
                    who,
                    &csrf,
                    id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(&m),
                    None,
                )
                .await;
            }
        };
        stacks.push((bullet_id, chips));
    }
    let now = s.clock.now_ms() as i64;
    let bagged = ops::tournaments::play(&s.log, who.actor(), now, id, Action::Bag { stacks }).await;
    match bagged {
        Ok(_) => Ok(Redirect::to(&format!("/tournaments/{id}")).into_response()),
        Err(e) => {
            let (status, message) = refusal(e);
            render(&s, who, &csrf, id, status, Some(&message), None).await
        }
    }
}

async fn create_day2(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    form: FormResult<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Form(fields) = form?;
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let flights = fields
        .iter()
        .filter(|(k, _)| k == "flight")
        .map(|(_, v)| {
            Uuid::parse_str(v).map_err(|_| ApiError::invalid("flight: not a tournament id"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tables: u16 = get("tables")
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid("tables: a whole number"))?;
    let new = ops::tournaments::NewDay2 {
        name: get("name"),
        flights,
        tables,
        seats: 9,
    };
    let tournament_id = ops::tournaments::create_day2(&s.log, who.principal().actor(), new).await?;
    Ok(Redirect::to(&format!("/tournaments/{tournament_id}")).into_response())
}

/// What a registration did, in words: who, and the seat drawn once the
/// tournament runs.
fn entered_said(s: &AppState, id: Uuid, r: &ops::tournaments::Registered) -> String {
    let state = s.log.venue();
    let name = state
        .players
        .get(&r.player_id)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| "The player".into());
    let bullet = state
        .tournaments
        .get(&id)
        .and_then(|t| t.bullets.get(&r.bullet_id));
    let how = if bullet.is_some_and(|b| b.reentry) {
        "re-entered"
    } else {
        "registered"
    };
    let registering = state
        .tournaments
        .get(&id)
        .is_some_and(|t| t.status == Status::Registering);
    match bullet.and_then(|b| b.seat) {
        Some((table, seat)) => format!("{name} {how}: table {table}, seat {seat}."),
        None if registering => format!("{name} {how}; seats are drawn at the start."),
        None => format!("{name} {how}."),
    }
}

#[cfg(test)]
mod tests {
    use super::PanelAction;

    #[test]
    fn panel_actions_parse_once_and_unknown_ones_do_not() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(PanelAction::parse("start"), Some(PanelAction::Start));
        assert_eq!(PanelAction::parse("undo-bust"), Some(PanelAction::UndoBust));
        assert_eq!(PanelAction::parse("undo-42"), Some(PanelAction::Undo(42)));
        assert_eq!(
            PanelAction::parse(&format!("bust-{id}")),
            Some(PanelAction::Bust(id))
        );
        assert_eq!(PanelAction::parse("button-3"), Some(PanelAction::Button(3)));
        assert_eq!(
            PanelAction::parse("final-table-2"),
            Some(PanelAction::FinalTable(2))
        );
        for bad in [
            "",
            "Start",
            "bust-",
            "bust-nope",
            "button-70000",
            "undo-",
            "explode",
        ] {
            assert_eq!(PanelAction::parse(bad), None, "{bad}");
        }
    }
}
