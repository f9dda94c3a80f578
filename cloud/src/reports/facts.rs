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

/// Times past the year 9999 (`shared::bounds::MAX_CLOCK_MS`) count as then:
/// an event's time is the node's word, and a venue's key can sign anything.
const MAX_MS: u64 = pvm_shared::bounds::MAX_CLOCK_MS as u64;

/// At most this many days of one table's opening are counted (a table
/// left open for years counts its last 400 days).
const MAX_SPAN_DAYS: u64 = 400;
const DAY_MS: u64 = 86_400_000;

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
    /// When a table last opened or closed (the peaks of the days since are
    /// the tables open then).
    last_table_ms: u64,
    /// The venue's time zone, as of its last event.
    tz: Option<Tz>,
    /// The local day last looked up, and when it begins and ends (most
    /// events fall on the day of the one before: no time-zone sums then).
    span: Option<(Tz, u64, u64, NaiveDate)>,
}

/// Time a table open now has had on one day: (day, game, ms).
pub type OpenTime = (NaiveDate, String, u64);

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

/// The local day and hour of `ms` in `tz` (times past the year 9999 as then).
pub fn local(tz: Tz, ms: u64) -> (NaiveDate, u32) {
    let ms = i64::try_from(ms.min(MAX_MS)).unwrap_or(0);
    match tz.timestamp_millis_opt(ms).earliest() {
        Some(at) => (at.date_naive(), at.hour()),
        None => (NaiveDate::default(), 0),
    }
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

/// When the local day after `ms`'s begins: always later than `ms` (a day a
/// zone skipped altogether counts as a day of 24 hours).
fn next_day_start(tz: Tz, ms: u64) -> u64 {
    let (day, _) = local(tz, ms);
    let next = day.succ_opt().map_or(0, |d| day_start(tz, d));
    if next > ms {
        next
    } else {
        ms.saturating_add(DAY_MS)
    }
}

/// `[from, until)` cut at local midnights, at most `MAX_SPAN_DAYS` of it
/// (the last ones): each piece's day and length.
fn by_day(tz: Tz, from: u64, until: u64) -> Vec<(NaiveDate, u64)> {
    let until = until.min(MAX_MS);
    let mut from = from.max(until.saturating_sub(MAX_SPAN_DAYS * DAY_MS));
    let mut out = Vec::new();
    while from < until {
        let next = next_day_start(tz, from).min(until);
        out.push((local(tz, from).0, next - from));
        from = next;
    }
    out
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

    /// The local day of `ms`, and when it begins and ends.
    fn span_of(&mut self, tz: Tz, ms: u64) -> (u64, u64, NaiveDate) {
        let ms = ms.min(MAX_MS);
        if let Some((z, start, end, day)) = self.span {
            if z == tz && start <= ms && ms < end {
                return (start, end, day);
            }
        }
        let (day, _) = local(tz, ms);
        let start = match day_start(tz, day) {
            // No midnight found (a day a zone skipped): only this instant.
            0 => ms,
            s => s.min(ms),
        };
        let end = next_day_start(tz, ms);
        self.span = Some((tz, start, end, day));
        (start, end, day)
    }

    /// Notes the open tables at `ms` as a candidate for that day's peak.
    fn peak_at(&mut self, tz: Tz, ms: u64, open: usize) {
        let (_, _, day) = self.span_of(tz, ms);
        let d = self.day(day);
        d.peak_tables = d.peak_tables.max(u32::try_from(open).unwrap_or(u32::MAX));
    }

    /// The days that began since the last table event, up to `ms`: each had
    /// the tables open now open at its start.
    fn midnights(&self, tz: Tz, ms: u64) -> Vec<NaiveDate> {
        if self.open.is_empty() {
            return Vec::new();
        }
        by_day(tz, self.last_table_ms, ms)
            .into_iter()
            .skip(1)
            .map(|(day, _)| day)
            .collect()
    }

    /// Before a table event at `ms`: the days begun since the last one.
    fn table_event(&mut self, tz: Tz, ms: u64) {
        let open = self.open.len();
        let (start, _, _) = self.span_of(tz, ms);
        if open == 0 || self.last_table_ms >= start {
            // Nothing open, or no midnight since the last table event.
            self.last_table_ms = self.last_table_ms.max(ms);
            return;
        }
        for day in self.midnights(tz, ms) {
            self.peak_at_day(day, open);
        }
        self.last_table_ms = self.last_table_ms.max(ms);
    }

    fn peak_at_day(&mut self, day: NaiveDate, open: usize) {
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
        let (start, _, day) = self.span_of(tz, ms);
        if since >= start {
            // Opened and closed on one local day.
            self.day(day).game(&key).table_ms += ms.min(MAX_MS).saturating_sub(since);
            return;
        }
        for (day, len) in by_day(tz, since, ms) {
            self.day(day).game(&key).table_ms += len;
        }
    }

    fn open_table(&mut self, tz: Tz, table: Uuid, key: String, ms: u64) {
        if self.open.insert(table, (ms, key)).is_none() {
            let open = self.open.len();
            self.peak_at(tz, ms, open);
        }
    }

    /// What the tables open now add up to `now_ms`: (day, game, ms) of
    /// their time so far, and the days begun since the last table event
    /// with the tables open through them.
    pub fn open_until(&self, now_ms: u64) -> (Vec<OpenTime>, Vec<(NaiveDate, u32)>) {
        let tz = self.tz.unwrap_or(Tz::UTC);
        let mut time = Vec::new();
        for (since, key) in self.open.values() {
            for (day, len) in by_day(tz, *since, now_ms) {
                time.push((day, key.clone(), len));
            }
        }
        let open = u32::try_from(self.open.len()).unwrap_or(u32::MAX);
        let peaks = self
            .midnights(tz, now_ms)
            .into_iter()
            .map(|d| (d, open))
            .collect();
        (time, peaks)
    }

    /// A copy of what falls on days `from..=to` (for a report, made
    /// outside the lock the fold takes).
    pub fn slice(&self, from: NaiveDate, to: NaiveDate, now_ms: u64) -> VenueFacts {
        let mut days: BTreeMap<NaiveDate, DayFacts> = self
            .days
            .range(from..=to)
            .map(|(d, f)| (*d, f.clone()))
            .collect();
        let (time, peaks) = self.open_until(now_ms);
        for (day, key, ms) in time.into_iter().filter(|t| (from..=to).contains(&t.0)) {
            days.entry(day).or_default().game(&key).table_ms += ms;
        }
        for (day, open) in peaks.into_iter().filter(|p| (from..=to).contains(&p.0)) {
            let d = days.entry(day).or_default();
            d.peak_tables = d.peak_tables.max(open);
        }
        VenueFacts {
            days,
            tournaments: self
                .tournaments
                .iter()
                .filter(|(_, t)| (from..=to).contains(&t.day))
                .map(|(id, t)| (*id, t.clone()))
                .collect(),
            ..VenueFacts::default()
        }
    }

    /// Takes an event into the facts, with the venue's state before it is
    /// applied (`state`) and the event's time (`at_ms`, the node's clock).
    pub fn before(&mut self, state: &VenueState, event: &EventKind, at_ms: u64) {
        let tz = zone(state);
        self.tz = Some(tz);
        let at_ms = at_ms.min(MAX_MS);
        if matches!(
            event,
            EventKind::TableOpened { .. }
                | EventKind::TableClosed { .. }
                | EventKind::TableStarting { .. }
                | EventKind::TableGameSet { .. }
        ) {
            self.table_event(tz, at_ms);
        }
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
        let secs = seated_ms.min(MAX_MS).saturating_sub(e.joined_ms) / 1000;
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
                let seated_ms = (*seated_ms).min(MAX_MS);
                if state.cash.seat_of(*player_id).is_none() {
                    let (day, hour) = local(tz, seated_ms);
                    self.day(day).came(*player_id, hour);
                }
                if let Some(entry) = from_entry {
                    self.waited(state, tz, *entry, seated_ms);
                }
            }
            CashEvent::PlayerChangedSeat {
                from_entry: Some(entry),
                at_ms: moved_ms,
                ..
            } => self.waited(state, tz, *entry, (*moved_ms).min(MAX_MS)),
            _ => {}
        }
    }

    /// Takes the state after an event applied: a tournament's facts follow
    /// it (started, its field, finished and its podium; an undone finish
    /// is undone here too).
    pub fn after(&mut self, state: &VenueState, event: &EventKind, at_ms: u64) {
        let at_ms = at_ms.min(MAX_MS);
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
            ) => u64::try_from(*start).ok().map(|s| s.min(MAX_MS)),
            (_, Some(f)) => Some(f.started_ms),
            _ => None,
        };
        let Some(started_ms) = started.filter(|_| t.status != Status::Registering) else {
            self.tournaments.remove(&id);
            return;
        };
        let players: std::collections::BTreeSet<Uuid> =
            t.bullets.values().map(|b| b.player_id).collect();
        // A Day 2 takes no entries of its own: its players entered a flight.
        let (entries, reentries) = if t.day2.is_some() {
            (0, 0)
        } else {
            (
                t.bullets.len() as u64,
                t.bullets.values().filter(|b| b.reentry).count() as u64,
            )
        };
        // A flight ends bagged (its survivors go on to Day 2).
        let finished = matches!(t.status, Status::Finished | Status::Bagged);
        let finished_ms = match self.tournaments.get(&id).and_then(|f| f.finished_ms) {
            Some(ms) if finished => Some(ms),
            _ => finished.then_some(at_ms),
        };
        let podium = if t.status == Status::Finished {
            crate::console::podium(state, t)
        } else {
            Vec::new()
        };
        let (day, _) = local(zone(state), started_ms);
        self.tournaments.insert(
            id,
            TournamentFacts {
                id,
                name: t.name.clone(),
                day,
                started_ms,
                finished_ms,
                entries,
                reentries,
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

#[cfg(test)]
mod tests {
    use super::*;
    use pvm_shared::venue::{Command, Game, Stakes, TableName};

    fn venue_with_a_table(zone: &str) -> (VenueState, Uuid) {
        let mut state = VenueState::default();
        let mut settings =
            serde_json::to_value(pvm_shared::venue::VenueSettings::default()).unwrap_or_default();
        settings["timezone"] = serde_json::json!(zone);
        if let Ok(s) = serde_json::from_value(settings) {
            state.settings = std::sync::Arc::new(s);
        }
        let table = Uuid::from_u128(1);
        let made = state.decide(&Command::CreateTable {
            table_id: table,
            name: TableName::parse("T1").unwrap_or_else(|_| unreachable!()),
            game: Game::Nlhe,
            stakes: Stakes::new(1, 2).unwrap_or_else(|_| unreachable!()),
            seats: 9,
        });
        if let Ok(e) = made {
            state.apply(&e);
        }
        (state, table)
    }

    fn run(f: &mut VenueFacts, state: &mut VenueState, e: EventKind, at: u64) {
        f.before(state, &e, at);
        state.apply(&e);
        f.after(state, &e, at);
    }

    #[test]
    fn a_table_open_until_the_end_of_time_costs_a_bounded_few_days() {
        let (mut state, table) = venue_with_a_table("Asia/Tokyo");
        let mut f = VenueFacts::default();
        run(
            &mut f,
            &mut state,
            EventKind::TableOpened { table_id: table },
            0,
        );
        let t = std::time::Instant::now();
        run(
            &mut f,
            &mut state,
            EventKind::TableClosed { table_id: table },
            u64::MAX,
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            f.days.len() <= MAX_SPAN_DAYS as usize + 2,
            "{}",
            f.days.len()
        );
        assert!(local(Tz::Asia__Tokyo, u64::MAX).0.year() >= 9999);
    }

    #[test]
    fn a_day_a_zone_skipped_counts_its_time_without_a_trap() {
        // Samoa skipped 30 December 2011: 29 December 23:59 was followed by
        // 31 December 00:00.
        let (mut state, table) = venue_with_a_table("Pacific/Apia");
        let mut f = VenueFacts::default();
        let open = 1_325_152_800_000; // 2011-12-29T10:00:00Z
        let close = open + 2 * DAY_MS;
        run(
            &mut f,
            &mut state,
            EventKind::TableOpened { table_id: table },
            open,
        );
        run(
            &mut f,
            &mut state,
            EventKind::TableClosed { table_id: table },
            close,
        );
        let total: u64 = f
            .days
            .values()
            .flat_map(|d| d.games.values())
            .map(|g| g.table_ms)
            .sum();
        assert_eq!(total, close - open);
    }

    #[test]
    fn quiet_days_have_the_tables_open_through_them_at_their_peak() {
        let (mut state, table) = venue_with_a_table("Europe/London");
        let mut f = VenueFacts::default();
        let monday = 1_786_752_000_000 + 12 * 3_600_000; // 2026-08-15 13:00 BST
        run(
            &mut f,
            &mut state,
            EventKind::TableOpened { table_id: table },
            monday,
        );
        // Still open two days later: the days between had it open.
        let (time, peaks) = f.open_until(monday + 2 * DAY_MS);
        assert_eq!(time.iter().map(|t| t.2).sum::<u64>(), 2 * DAY_MS);
        assert_eq!(peaks.len(), 2, "{peaks:?}");
        run(
            &mut f,
            &mut state,
            EventKind::TableClosed { table_id: table },
            monday + 3 * DAY_MS,
        );
        let peaks: Vec<u32> = f.days.values().map(|d| d.peak_tables).collect();
        assert_eq!(peaks, [1, 1, 1, 1]);
    }
}
