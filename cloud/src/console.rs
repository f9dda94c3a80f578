//! The live console: every venue a caller sees, at a glance, from the hub's
//! fold of each venue's events: its node (status, version, backlog, last
//! contact), tournaments not yet finished (level, time left, players left,
//! entries), cash games (tables dealing, players waiting) and open tables.
//! The API answers it as JSON; the admin pages render it and keep it live
//! over server-sent events (`http::admin`).

use crate::http::venues::VenueRow;
use pvm_shared::tournament::play::Status;
use pvm_shared::venue::{TableStatus, VenueState};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// One venue at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VenueGlance {
    pub id: String,
    pub name: String,
    /// online, unhealthy, offline, revoked or unregistered.
    pub status: String,
    pub version: Option<String>,
    pub backlog: Option<u64>,
    pub last_contact_ms: Option<i64>,
    /// Registering or running (finished ones are in the venue's history).
    pub tournaments: Vec<TournamentGlance>,
    pub games: Vec<GameGlance>,
    /// Tables open or starting.
    pub tables_open: usize,
    pub tables: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TournamentGlance {
    pub id: Uuid,
    pub name: String,
    /// registering or running.
    pub status: String,
    pub level: u32,
    pub on_break: bool,
    pub paused: bool,
    /// Whole minutes left in the level (rounded up), for a console that
    /// changes once a minute, not every second.
    pub minutes_left: u64,
    pub players_left: u64,
    pub entries: u64,
    pub reentries: u64,
}

/// A cash game's list: its tables dealing and its players waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GameGlance {
    /// "1/2 NLHE".
    pub label: String,
    pub tables: usize,
    pub waiting: usize,
}

/// A finished tournament: its field and its first places.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finished {
    pub id: Uuid,
    pub name: String,
    pub entries: u64,
    pub reentries: u64,
    /// (place, player's public name), the first three.
    pub podium: Vec<(u32, String)>,
}

/// Tournaments a venue finished, newest first, at most `limit`.
pub fn finished(state: &VenueState, limit: usize) -> Vec<Finished> {
    state
        .tournaments
        .values()
        .rev()
        .filter(|t| t.status == Status::Finished)
        .take(limit)
        .map(|t| {
            let stats = t.stats();
            Finished {
                id: t.id,
                name: t.name.clone(),
                entries: stats.entries,
                reentries: stats.reentries,
                podium: podium(state, t),
            }
        })
        .collect()
}

/// A tournament's first three places with their players' public names.
pub fn podium(
    state: &VenueState,
    t: &pvm_shared::tournament::play::Tournament,
) -> Vec<(u32, String)> {
    let mut podium: Vec<(u32, String)> = t
        .places()
        .into_iter()
        .filter(|(_, place)| *place <= 3)
        .map(|(bullet, place)| {
            let name = t
                .bullets
                .get(&bullet)
                .and_then(|b| state.players.get(&b.player_id))
                .map(|p| p.public_name())
                .unwrap_or_else(|| "?".into());
            (place, name)
        })
        .collect();
    podium.sort();
    podium
}

/// The totals over the venues shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub venues: usize,
    pub online: usize,
    pub tournaments_running: usize,
    pub players_left: u64,
    pub tables_open: usize,
    pub waiting: usize,
}

/// Each venue of `rows` (already the caller's) at `now_ms`, from its
/// folded state (a venue with no events yet shows its node only).
pub fn glance(
    rows: Vec<VenueRow>,
    states: &HashMap<Uuid, Arc<VenueState>>,
    now_ms: u64,
) -> Vec<VenueGlance> {
    rows.into_iter()
        .map(|v| {
            let state = v.id.parse::<Uuid>().ok().and_then(|id| states.get(&id));
            let version = v
                .heartbeat
                .as_deref()
                .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
                .and_then(|h| h["version"].as_str().map(str::to_owned));
            let mut g = VenueGlance {
                id: v.id,
                name: v.name,
                status: v.status,
                version,
                backlog: v.backlog,
                last_contact_ms: v.last_contact_ms,
                tournaments: Vec::new(),
                games: Vec::new(),
                tables_open: 0,
                tables: 0,
            };
            if let Some(state) = state {
                fill(&mut g, state, now_ms);
            }
            g
        })
        .collect()
}

fn fill(g: &mut VenueGlance, state: &VenueState, now_ms: u64) {
    g.tournaments = state
        .tournaments
        .values()
        .filter(|t| matches!(t.status, Status::Registering | Status::Running))
        .map(|t| {
            let v = t.clock.view(&t.structure, now_ms as i64);
            let stats = t.stats();
            TournamentGlance {
                id: t.id,
                name: t.name.clone(),
                status: match t.status {
                    Status::Running => "running",
                    _ => "registering",
                }
                .into(),
                level: v.level,
                on_break: v.on_break,
                paused: v.paused,
                minutes_left: v.time_left_ms.div_ceil(60_000),
                players_left: stats.players_left,
                entries: stats.entries,
                reentries: stats.reentries,
            }
        })
        .collect();
    let open = |s: TableStatus| s != TableStatus::Closed;
    g.tables = state.tables.len();
    g.tables_open = state.tables.values().filter(|t| open(t.status)).count();
    g.games = state
        .cash
        .lists
        .values()
        .map(|l| GameGlance {
            label: format!("{} {}", l.stakes, l.game.label()),
            tables: state
                .tables
                .values()
                .filter(|t| open(t.status) && t.game == l.game && t.stakes == l.stakes)
                .count(),
            waiting: l.queue.len(),
        })
        .collect();
}

/// The totals over `venues`.
pub fn totals(venues: &[VenueGlance]) -> Totals {
    let mut t = Totals {
        venues: venues.len(),
        ..Totals::default()
    };
    for v in venues {
        t.online += usize::from(v.status == "online");
        t.tournaments_running += v
            .tournaments
            .iter()
            .filter(|x| x.status == "running")
            .count();
        t.players_left += v
            .tournaments
            .iter()
            .filter(|x| x.status == "running")
            .map(|x| x.players_left)
            .sum::<u64>();
        t.tables_open += v.tables_open;
        t.waiting += v.games.iter().map(|g| g.waiting).sum::<usize>();
    }
    t
}

/// The console of `caller` now: their venues at a glance, and the totals.
pub async fn of(
    app: &crate::App,
    caller: &crate::http::auth::Caller,
) -> Result<(Vec<VenueGlance>, Totals), crate::http::error::ApiError> {
    let rows = crate::http::venues::venue_rows(app, caller).await?;
    let states = app
        .hub
        .venues
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let venues = glance(rows, &states, crate::now_ms() as u64);
    let totals = totals(&venues);
    Ok((venues, totals))
}
