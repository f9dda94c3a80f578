//! The field of a tournament over the API: who is in and where they sit,
//! rebuys and add-ons, the final table, bagging a flight and drawing its
//! Day 2, results with payouts (JSON and CSV), and the templates staff save.

use super::auth::{Require, StaffUi, TournamentsManage, TournamentsOperate};
use super::error::{ApiError, ErrorBody};
use super::extract::Done;
use super::extract::{AppJson, AppPath};
use super::tournaments::{find, play, view, BustDone, TournamentView};
use super::AppState;
use crate::ops::{self, tournaments::Action};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use pvm_shared::tournament::play::Tournament;
use pvm_shared::tournament::Structure;
use pvm_shared::venue::VenueState;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

#[derive(OpenApi)]
#[openapi(
    paths(
        entries, seating, results, results_csv, rebuy, addon, final_table, bag, create_day2,
        save_template, delete_template
    ),
    components(schemas(EntryView, SeatingView, SeatingTable, SeatedPlayer, ResultsView, ResultRow,
        PayoutView, TableRequest, BagRequest, BagCount, NewDay2, BustDone)),
    tags((name = "tournaments", description = "Tournament structures, clock, entries and bust-outs"))
)]
pub struct FieldDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tournaments/{id}/entries", get(entries))
        .route("/api/v1/tournaments/{id}/seating", get(seating))
        .route("/api/v1/tournaments/{id}/results", get(results))
        .route("/api/v1/tournaments/{id}/results.csv", get(results_csv))
        .route(
            "/api/v1/tournaments/{id}/bullets/{bullet}/rebuy",
            post(rebuy),
        )
        .route(
            "/api/v1/tournaments/{id}/bullets/{bullet}/addon",
            post(addon),
        )
        .route("/api/v1/tournaments/{id}/final-table", post(final_table))
        .route("/api/v1/tournaments/{id}/bag", post(bag))
        .route("/api/v1/day2", post(create_day2))
        .route("/api/v1/tournament-templates", post(save_template))
        .route(
            "/api/v1/tournament-templates/{name}",
            delete(delete_template),
        )
}

/// One entry (bullet) as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub bullet_id: Uuid,
    pub player_id: Uuid,
    pub name: String,
    pub public_name: String,
    pub reentry: bool,
    pub table: Option<u16>,
    pub seat: Option<u8>,
    pub busted: bool,
    pub place: Option<u32>,
    pub rebuys: u32,
    pub addons: u32,
    /// A counted stack (bagged, or carried into Day 2).
    pub chips: Option<u64>,
}

pub(super) fn entry_views(state: &VenueState, t: &Tournament) -> Vec<EntryView> {
    let places = t.places();
    let mut out: Vec<EntryView> = t
        .bullets
        .values()
        .map(|b| {
            let player = state.players.get(&b.player_id);
            EntryView {
                bullet_id: b.id,
                player_id: b.player_id,
                name: player.map(|p| p.name.clone()).unwrap_or_default(),
                public_name: player
                    .map(|p| p.public_name())
                    .unwrap_or_else(|| "?".into()),
                reentry: b.reentry,
                table: b.seat.map(|s| s.0),
                seat: b.seat.map(|s| s.1),
                busted: b.busted,
                place: places.get(&b.id).copied(),
                rebuys: b.rebuys,
                addons: b.addons,
                chips: b.chips,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.busted, a.name.to_lowercase(), a.bullet_id).cmp(&(
            b.busted,
            b.name.to_lowercase(),
            b.bullet_id,
        ))
    });
    out
}

/// Every entry with full names, seats, places, rebuys and add-ons (staff only).
#[utoipa::path(get, path = "/api/v1/tournaments/{id}/entries", tag = "tournaments",
    security(("bearer" = ["staff:ui"])), params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = [EntryView]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn entries(
    State(s): State<AppState>,
    _who: Require<StaffUi>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Vec<EntryView>>, ApiError> {
    let state = s.log.venue();
    Ok(Json(entry_views(&state, find(&state, id)?)))
}

/// A player at a table, as public screens show them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatedPlayer {
    pub seat: u8,
    pub name: String,
    pub bullet_id: Uuid,
}

/// One table of the seating chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatingTable {
    pub table: u16,
    pub seats: u8,
    pub button: Option<u8>,
    pub players: Vec<SeatedPlayer>,
}

/// The seating chart: every table in play with who sits where.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatingView {
    pub tables: Vec<SeatingTable>,
    /// Entries still in without a seat (before the start draw).
    pub unseated: u64,
}

pub(super) fn seating_of(state: &VenueState, t: &Tournament) -> SeatingView {
    let mut tables: Vec<SeatingTable> = t
        .tables
        .iter()
        .filter(|tt| !tt.broken)
        .map(|tt| SeatingTable {
            table: tt.number,
            seats: tt.seats,
            button: tt.button,
            players: Vec::new(),
        })
        .collect();
    let mut unseated = 0;
    for b in t.alive() {
        let Some((table, seat)) = b.seat else {
            unseated += 1;
            continue;
        };
        if let Some(tt) = tables.iter_mut().find(|tt| tt.table == table) {
            tt.players.push(SeatedPlayer {
                seat,
                name: state
                    .players
                    .get(&b.player_id)
                    .map(|p| p.public_name())
                    .unwrap_or_else(|| "?".into()),
                bullet_id: b.id,
            });
        }
    }
    for tt in &mut tables {
        tt.players.sort_by_key(|p| p.seat);
    }
    SeatingView { tables, unseated }
}

/// The seating chart (public names; what the seat-draw screen shows).
#[utoipa::path(get, path = "/api/v1/tournaments/{id}/seating", tag = "tournaments", security(()),
    params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = SeatingView), (status = 404, body = ErrorBody)))]
async fn seating(
    State(s): State<AppState>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<SeatingView>, ApiError> {
    let state = s.log.venue();
    Ok(Json(seating_of(&state, find(&state, id)?)))
}

/// A paid place: its share in tenths of a percent and the amount (information only).
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutView {
    pub place: u32,
    pub permille: u32,
    pub amount: u64,
}

/// A finishing place with what it pays.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultRow {
    pub place: u32,
    pub name: String,
    pub payout: u64,
}

/// The results: places so far (the winner once finished), prize pool and payouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultsView {
    pub prize_pool: u64,
    /// The field the payouts are for (a Day 2 counts every flight's entries).
    pub field: u64,
    pub payouts: Vec<PayoutView>,
    pub places: Vec<ResultRow>,
}

pub(super) fn results_of(state: &VenueState, t: &Tournament) -> ResultsView {
    let payouts = t.payouts();
    let pay = |place: u32| {
        payouts
            .iter()
            .find(|p| p.place == place)
            .map_or(0, |p| p.amount)
    };
    let mut places: Vec<ResultRow> = t
        .places()
        .into_iter()
        .filter_map(|(bullet, place)| {
            let b = t.bullets.get(&bullet)?;
            Some(ResultRow {
                place,
                name: state
                    .players
                    .get(&b.player_id)
                    .map(|p| p.public_name())
                    .unwrap_or_else(|| "?".into()),
                payout: pay(place),
            })
        })
        .collect();
    places.sort_by_key(|p| p.place);
    ResultsView {
        prize_pool: t.prize_pool(),
        field: t.field(),
        payouts: payouts
            .iter()
            .map(|p| PayoutView {
                place: p.place,
                permille: p.permille,
                amount: p.amount,
            })
            .collect(),
        places,
    }
}

/// Places, prize pool and payouts (public names).
#[utoipa::path(get, path = "/api/v1/tournaments/{id}/results", tag = "tournaments", security(()),
    params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = ResultsView), (status = 404, body = ErrorBody)))]
async fn results(
    State(s): State<AppState>,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<ResultsView>, ApiError> {
    let state = s.log.venue();
    Ok(Json(results_of(&state, find(&state, id)?)))
}

/// One CSV field: quoted when it holds a comma, quote or line break, and
/// never read as a formula by a spreadsheet.
fn csv_field(value: &str) -> String {
    let mut v = value.to_owned();
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The results as CSV: every entry with its place, payout, rebuys and add-ons.
pub fn results_csv_text(state: &VenueState, t: &Tournament) -> String {
    let payouts = t.payouts();
    let mut rows = entry_views(state, t);
    rows.sort_by_key(|r| (r.place.is_none(), r.place, r.name.to_lowercase()));
    let mut out = String::from("place,name,public_name,reentry,rebuys,addons,chips,payout\r\n");
    for r in rows {
        let payout = r
            .place
            .and_then(|p| payouts.iter().find(|x| x.place == p))
            .map_or(0, |p| p.amount);
        let fields = [
            r.place.map(|p| p.to_string()).unwrap_or_default(),
            csv_field(&r.name),
            csv_field(&r.public_name),
            (r.reentry as u8).to_string(),
            r.rebuys.to_string(),
            r.addons.to_string(),
            r.chips.map(|c| c.to_string()).unwrap_or_default(),
            payout.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The results as a CSV file (full names: staff only).
#[utoipa::path(get, path = "/api/v1/tournaments/{id}/results.csv", tag = "tournaments",
    security(("bearer" = ["staff:ui"])), params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, description = "text/csv", content_type = "text/csv", body = String),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn results_csv(
    State(s): State<AppState>,
    _who: Require<StaffUi>,
    AppPath(id): AppPath<Uuid>,
) -> Result<impl IntoResponse, ApiError> {
    let state = s.log.venue();
    let t = find(&state, id)?;
    let file: String = t
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}-results.csv\""),
            ),
        ],
        results_csv_text(&state, t),
    ))
}

macro_rules! entry_action {
    ($name:ident, $path:literal, $doc:literal, $variant:ident) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "tournaments", security(("bearer" = ["tournaments:operate"])),
            params(("id" = Uuid, Path, description = "Tournament id"), ("bullet" = Uuid, Path, description = "Entry id")),
            responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
        async fn $name(
            State(s): State<AppState>,
            who: Require<TournamentsOperate>,
            AppPath((id, bullet_id)): AppPath<(Uuid, Uuid)>,
        ) -> Result<Json<Done>, ApiError> {
            play(&s, who.principal().actor(), id, Action::$variant { bullet_id }).await
        }
    };
}

entry_action!(
    rebuy,
    "/api/v1/tournaments/{id}/bullets/{bullet}/rebuy",
    "A rebuy, within the structure's limits and levels.",
    Rebuy
);
entry_action!(
    addon,
    "/api/v1/tournaments/{id}/bullets/{bullet}/addon",
    "An add-on, within the structure's limits and levels.",
    AddOn
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableRequest {
    pub table: u16,
}

/// The final table: everyone left is drawn into random seats at this table (the seed is kept).
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/final-table", tag = "tournaments", request_body = TableRequest,
    security(("bearer" = ["tournaments:operate"])), params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn final_table(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<TableRequest>,
) -> Result<Json<Done>, ApiError> {
    let action = Action::FinalTable { table: req.table };
    play(&s, who.principal().actor(), id, action).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BagCount {
    pub bullet_id: Uuid,
    pub chips: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BagRequest {
    /// Every survivor's counted stack.
    pub stacks: Vec<BagCount>,
}

/// End a starting flight: bag every survivor's stack for Day 2.
#[utoipa::path(post, path = "/api/v1/tournaments/{id}/bag", tag = "tournaments", request_body = BagRequest,
    security(("bearer" = ["tournaments:operate"])), params(("id" = Uuid, Path, description = "Tournament id")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn bag(
    State(s): State<AppState>,
    who: Require<TournamentsOperate>,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<BagRequest>,
) -> Result<Json<Done>, ApiError> {
    let action = Action::Bag {
        stacks: req
            .stacks
            .into_iter()
            .map(|c| (c.bullet_id, c.chips))
            .collect(),
    };
    play(&s, who.principal().actor(), id, action).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDay2 {
    pub name: String,
    /// The bagged flights it is drawn from.
    pub flights: Vec<Uuid>,
    pub tables: u16,
    #[serde(default = "nine")]
    pub seats: u8,
}

fn nine() -> u8 {
    9
}

/// Day 2 from bagged flights: their survivors with their stacks (a player who
/// bagged twice keeps the bigger stack); seats are drawn when it starts.
#[utoipa::path(post, path = "/api/v1/day2", tag = "tournaments", request_body = NewDay2,
    security(("bearer" = ["tournaments:manage"])),
    responses((status = 201, body = TournamentView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_day2(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    AppJson(new): AppJson<NewDay2>,
) -> Result<(StatusCode, Json<TournamentView>), ApiError> {
    let new = ops::tournaments::NewDay2 {
        name: new.name,
        flights: new.flights,
        tables: new.tables,
        seats: new.seats,
    };
    let tournament_id = ops::tournaments::create_day2(&s.log, who.principal().actor(), new).await?;
    let state = s.log.venue();
    Ok((
        StatusCode::CREATED,
        Json(view(&state, find(&state, tournament_id)?, s.clock.now_ms())),
    ))
}

/// Save a structure as a template (a new one, a clone under a new name, or an edit of a saved one).
#[utoipa::path(post, path = "/api/v1/tournament-templates", tag = "tournaments", request_body = Structure,
    security(("bearer" = ["tournaments:manage"])),
    responses((status = 201, body = Done), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_template(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    AppJson(structure): AppJson<Structure>,
) -> Result<(StatusCode, Json<Done>), ApiError> {
    let done = ops::tournaments::save_template(&s.log, who.principal().actor(), structure).await?;
    Ok((StatusCode::CREATED, Json(done.into())))
}

/// Delete a saved template (the built-in ones stay).
#[utoipa::path(delete, path = "/api/v1/tournament-templates/{name}", tag = "tournaments",
    security(("bearer" = ["tournaments:manage"])), params(("name" = String, Path, description = "Template name")),
    responses((status = 200, body = Done), (status = 404, body = ErrorBody)))]
async fn delete_template(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    AppPath(name): AppPath<String>,
) -> Result<Json<Done>, ApiError> {
    let done = ops::tournaments::delete_template(&s.log, who.principal().actor(), name).await?;
    Ok(Json(done.into()))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("Ann Lee"), "Ann Lee");
        assert_eq!(csv_field("Lee, Ann"), "\"Lee, Ann\"");
        assert_eq!(csv_field("Ann \"Ace\" Lee"), "\"Ann \"\"Ace\"\" Lee\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}
