//! What reports are made of: each venue's facts by venue-local day (the
//! venue's IANA time zone, chrono-tz), kept up to date as the hub folds the
//! venue's events (`ingest::fold`) and rebuilt from the stored events when
//! the hub starts, as the venue's state is. docs/REPORTS.md defines each
//! figure.

use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use pvm_shared::cash::CashEvent;
use pvm_shared::tournament::play::{PlayEvent, Status};
use pvm_shared::venue::{TableStatus, VenueState};
use pvm_shared::EventKind;
use std::collections::BTreeMap;
use uuid::Uuid;

/// No-shows remembered for an undo (a list keeps its last few for undo).
const NO_SHOWS_KEPT: usize = 10_000;

/// One venue's facts.
#[derive(Debug, Clone, Default)]
pub struct VenueFacts {
    pub days: BTreeMap<NaiveDate, DayFacts>,
    pub tournaments: BTreeMap<Uuid, TournamentFacts>,
    /// Cash tables open now: since when, and their game.
    open: BTreeMap<Uuid, (u64, String)>,
    /// Dropped no-shows, by entry: the day and game they were counted on
    /// (an undo takes them off again).
    no_shows: BTreeMap<Uuid, (NaiveDate, String)>,
}

/// One venue-local day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFacts {
    /// By game and stakes ("1/2 NLHE").
    pub games: BTreeMap<String, GameDay>,
    /// The most cash tables open at once.
    pub peak_tables: u32,
    /// Players who came (sat at a cash table from outside or entered a
    /// tournament), each once a day, sorted.
    pub players: Vec<u128>,
    /// Those players by the local hour they first came.
    pub arrivals: [u32; 24],
}

/// One game and stakes on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GameDay {
    /// Time cash tables of this game were open (ms, split at local midnight).
    pub table_ms: u64,
    /// Seconds each player seated from the game's waiting list had waited.
    pub waits_s: Vec<u32>,
    /// Entries called for the first time.
    pub called: u32,
    /// Called players dropped as no-shows (an undone one is not counted).
    pub no_shows: u32,
}

/// One tournament that started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TournamentFacts {
    pub id: Uuid,
    pub name: String,
    /// The local day it started.
    pub day: NaiveDate,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    pub entries: u64,
    pub reentries: u64,
    pub unique_players: u64,
    /// (place, player's public name), the first three once finished.
    pub podium: Vec<(u32, String)>,
}

/// The venue's time zone (UTC when it names none chrono-tz knows).
pub fn zone(state: &VenueState) -> Tz {
    state.settings.timezone.known().unwrap_or(Tz::UTC)
}

/// The local day and hour of `ms` in `tz`.
pub fn local(tz: Tz, ms: u64) -> (NaiveDate, u32) {
    let at = tz
        .timestamp_millis_opt(i64::try_from(ms).unwrap_or(i64::MAX))
        .earliest()
        .unwrap_or_else(|| {
            chrono::Utc
                .timestamp_millis_opt(0)
                .earliest()
                .unwrap_or_default()
                .with_timezone(&tz)
        });
    (at.date_naive(), at.hour())
}

/// When local day `day` begins, in Unix ms (its first moment that exists).
fn day_start(tz: Tz, day: NaiveDate) -> u64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let at = tz
        .from_local_datetime(&midnight)
        .earliest()
        // A day whose midnight a clock change skips begins an hour later.
        .or_else(|| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        });
    at.map_or(0, |t| u64::try_from(t.timestamp_millis()).unwrap_or(0))
}

/// "1/2 NLHE".
fn game_key(game: pvm_shared::venue::Game, stakes: pvm_shared::venue::Stakes) -> String {
    format!("{stakes} {}", game.label())
}

impl DayFacts {
    fn game(&mut self, key: &str) -> &mut GameDay {
        self.games.entry(key.to_owned()).or_default()
    }

    /// A player came at local `hour` (counted once a day).
    fn came(&mut self, player: Uuid, hour: u32) {
        let p = player.as_u128();
        if let Err(at) = self.players.binary_search(&p) {
            self.players.insert(at, p);
            if let Some(h) = self.arrivals.get_mut(hour as usize) {
                *h += 1;
            }
        }
    }
}

impl VenueFacts {
    fn day(&mut self, day: NaiveDate) -> &mut DayFacts {
        self.days.entry(day).or_default()
    }

    /// Notes the open tables at `ms` as a candidate for that day's peak.
    fn peak_at(&mut self, tz: Tz, ms: u64, open: usize) {
        let (day, _) = local(tz, ms);
        let d = self.day(day);
        d.peak_tables = d.peak_tables.max(u32::try_from(open).unwrap_or(u32::MAX));
    }

    /// Closes an open table's interval at `ms`, split at local midnights.
    fn close(&mut self, tz: Tz, table: Uuid, ms: u64) {
        let open_before = self.open.len();
        let Some((since, key)) = self.open.remove(&table) else {
            return;
        };
        self.peak_at(tz, ms, open_before);
        let mut from = since;
        while from < ms {
            let (day, _) = local(tz, from);
            let next = day
                .succ_opt()
                .map_or(ms, |d| day_start(tz, d))
                .max(from + 1);
            let until = next.min(ms);
            let d = self.day(day);
            d.game(&key).table_ms += until - from;
            // A day the table was open through had at least it open.
            d.peak_tables = d.peak_tables.max(1);
            from = until;
        }
    }

    fn open_table(&mut self, tz: Tz, table: Uuid, key: String, ms: u64) {
        if self.open.insert(table, (ms, key)).is_none() {
            let open = self.open.len();
            self.peak_at(tz, ms, open);
        }
    }

    /// Takes an event into the facts, with the venue's state before it is
    /// applied (`state`) and the event's time (`at_ms`, the node's clock).
    pub fn before(&mut self, state: &VenueState, event: &EventKind, at_ms: u64) {
        let tz = zone(state);
        match event {
            EventKind::TableOpened { table_id } => {
                if let Some(t) = state.tables.get(table_id) {
                    if t.status != TableStatus::Open {
                        self.open_table(tz, *table_id, game_key(t.game, t.stakes), at_ms);
                    }
                }
            }
            EventKind::TableClosed { table_id } | EventKind::TableStarting { table_id } => {
                self.close(tz, *table_id, at_ms);
            }
            EventKind::TableGameSet {
                table_id,
                game,
                stakes,
            } if self.open.contains_key(table_id) => {
                self.close(tz, *table_id, at_ms);
                self.open_table(tz, *table_id, game_key(*game, *stakes), at_ms);
            }
            EventKind::Cash(e) => self.cash(state, tz, e, at_ms),
            EventKind::TournamentPlayed {
                event: PlayEvent::Registered { player_id, .. },
                tournament_id,
            } if state.tournaments.contains_key(tournament_id) => {
                let (day, hour) = local(tz, at_ms);
                self.day(day).came(*player_id, hour);
            }
            _ => {}
        }
    }

    fn list_key(state: &VenueState, entry: Uuid) -> Option<String> {
        let e = state.cash.entries.get(&entry)?;
        let l = state.cash.lists.get(&e.list_id)?;
        Some(game_key(l.game, l.stakes))
    }

    /// A wait from joining `entry`'s list to a seat at `seated_ms`.
    fn waited(&mut self, state: &VenueState, tz: Tz, entry: Uuid, seated_ms: u64) {
        let (Some(e), Some(key)) = (state.cash.entries.get(&entry), Self::list_key(state, entry))
        else {
            return;
        };
        let secs = seated_ms.saturating_sub(e.joined_ms) / 1000;
        let (day, _) = local(tz, seated_ms);
        self.day(day)
            .game(&key)
            .waits_s
            .push(u32::try_from(secs).unwrap_or(u32::MAX));
    }

    fn cash(&mut self, state: &VenueState, tz: Tz, e: &CashEvent, at_ms: u64) {
        match e {
            CashEvent::PlayerCalled { entry_id, .. } => {
                let first = state
                    .cash
                    .entries
                    .get(entry_id)
                    .is_some_and(|e| e.calls_made == 0);
                if let (true, Some(key)) = (first, Self::list_key(state, *entry_id)) {
                    let (day, _) = local(tz, at_ms);
                    self.day(day).game(&key).called += 1;
                }
            }
            CashEvent::PlayerNoShow {
                entry_id,
                moved_to: None,
                ..
            } => {
                if let Some(key) = Self::list_key(state, *entry_id) {
                    let (day, _) = local(tz, at_ms);
                    self.day(day).game(&key).no_shows += 1;
                    self.no_shows.insert(*entry_id, (day, key));
                    while self.no_shows.len() > NO_SHOWS_KEPT {
                        self.no_shows.pop_first();
                    }
                }
            }
            CashEvent::WaitEntryRestored { entry_id, .. } => {
                if let Some((day, key)) = self.no_shows.remove(entry_id) {
                    let g = self.day(day).game(&key);
                    g.no_shows = g.no_shows.saturating_sub(1);
                }
            }
            CashEvent::PlayerSeated {
                player_id,
                at_ms: seated_ms,
                from_entry,
                ..
            } => {
                if state.cash.seat_of(*player_id).is_none() {
                    let (day, hour) = local(tz, *seated_ms);
                    self.day(day).came(*player_id, hour);
                }
                if let Some(entry) = from_entry {
                    self.waited(state, tz, *entry, *seated_ms);
                }
            }
            CashEvent::PlayerChangedSeat {
                from_entry: Some(entry),
                at_ms: moved_ms,
                ..
            } => self.waited(state, tz, *entry, *moved_ms),
            _ => {}
        }
    }

    /// Takes the state after an event applied: a tournament's facts follow
    /// it (started, its field, finished and its podium; an undone finish
    /// is undone here too).
    pub fn after(&mut self, state: &VenueState, event: &EventKind, at_ms: u64) {
        let id = match event {
            EventKind::TournamentPlayed { tournament_id, .. }
            | EventKind::TournamentCreated { tournament_id, .. }
            | EventKind::Day2Created { tournament_id, .. } => *tournament_id,
            _ => return,
        };
        let Some(t) = state.tournaments.get(&id) else {
            self.tournaments.remove(&id);
            return;
        };
        let started = match (event, self.tournaments.get(&id)) {
            (
                EventKind::TournamentPlayed {
                    event: PlayEvent::Started { at_ms: start },
                    ..
                },
                _,
            ) => u64::try_from(*start).ok(),
            (_, Some(f)) => Some(f.started_ms),
            _ => None,
        };
        let Some(started_ms) = started.filter(|_| t.status != Status::Registering) else {
            self.tournaments.remove(&id);
            return;
        };
        let stats = t.stats();
        let players: std::collections::BTreeSet<Uuid> =
            t.bullets.values().map(|b| b.player_id).collect();
        let finished = t.status == Status::Finished;
        let finished_ms = match self.tournaments.get(&id).and_then(|f| f.finished_ms) {
            Some(ms) if finished => Some(ms),
            _ => finished.then_some(at_ms),
        };
        let mut podium: Vec<(u32, String)> = if finished {
            t.places()
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
                .collect()
        } else {
            Vec::new()
        };
        podium.sort();
        let (day, _) = local(zone(state), started_ms);
        self.tournaments.insert(
            id,
            TournamentFacts {
                id,
                name: t.name.clone(),
                day,
                started_ms,
                finished_ms,
                entries: stats.entries,
                reentries: stats.reentries,
                unique_players: players.len() as u64,
                podium,
            },
        );
    }
}

/// Monday 0 … Sunday 6.
pub fn weekday(day: NaiveDate) -> usize {
    day.weekday().num_days_from_monday() as usize
}
