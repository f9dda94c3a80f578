//! Cash games: who sits where, the waiting lists, calls and no-shows.
//!
//! `decide` checks a command against the venue state and returns the one
//! event that records it; `apply` folds the event in. Events carry every
//! outcome (the index a no-show moved to, the entries a seating cleared), so
//! replaying them never re-decides anything. Time is an input (`at_ms`).

use crate::hlc::Hlc;
use crate::venue::{DomainError, Game, Stakes, TableStatus, VenueState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// What happens to a called player who does not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum NoShowPolicy {
    /// Off the list.
    Drop,
    /// Down this many places, to be called again later.
    MoveDown { places: u8 },
}

/// A venue's waiting-list rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CashPolicy {
    /// How long a called player has to reach the table (default 180 s).
    pub call_timeout_secs: u32,
    pub no_show: NoShowPolicy,
    /// Seating a player takes them off every list, not just the one they were seated from.
    pub seat_removes_other_lists: bool,
    /// How many waiting players make a new table worth starting (interest lists).
    pub new_table_at: u8,
}

impl Default for CashPolicy {
    fn default() -> Self {
        CashPolicy {
            call_timeout_secs: 180,
            no_show: NoShowPolicy::Drop,
            seat_removes_other_lists: true,
            new_table_at: 6,
        }
    }
}

impl CashPolicy {
    pub fn checked(self) -> Result<CashPolicy, DomainError> {
        if !(15..=3600).contains(&self.call_timeout_secs) {
            return Err(invalid("call_timeout_secs", "use 15 to 3600 seconds"));
        }
        if let NoShowPolicy::MoveDown { places: 0 } = self.no_show {
            return Err(invalid("no_show", "move down at least one place"));
        }
        if !(2..=10).contains(&self.new_table_at) {
            return Err(invalid("new_table_at", "use 2 to 10 players"));
        }
        Ok(self)
    }
}

fn invalid(field: &'static str, reason: &str) -> DomainError {
    DomainError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn conflict(message: impl Into<String>) -> DomainError {
    DomainError::Conflict(message.into())
}

/// A list of players waiting for one game at one stake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingList {
    pub id: Uuid,
    pub game: Game,
    pub stakes: Stakes,
    /// Entry ids, first to be called first.
    pub queue: Vec<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Call {
    /// 1 for the first call of this entry, 2 for the next, …
    pub number: u32,
    pub called_ms: u64,
    pub deadline_ms: u64,
}

/// One player waiting on one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitEntry {
    pub id: Uuid,
    pub list_id: Uuid,
    pub player_id: Uuid,
    pub joined_ms: u64,
    pub call: Option<Call>,
    pub calls_made: u32,
    /// A call-in: held on the list until this time unless they arrive.
    pub call_in_until: Option<u64>,
    pub arrived: bool,
}

impl WaitEntry {
    /// Present in the room and not already called.
    fn callable(&self) -> bool {
        self.call.is_none() && (self.call_in_until.is_none() || self.arrived)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub table_id: Uuid,
    pub seat: u8,
    pub player_id: Uuid,
    pub since_ms: u64,
    pub away_since: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatChange {
    pub id: Uuid,
    pub player_id: Uuid,
    pub table_id: Uuid,
    /// Another table, or None for a better seat at the same one.
    pub wants: Option<Uuid>,
    pub at_ms: u64,
}

/// How many recent seatings per list feed the wait estimate.
pub const TURNOVER_WINDOW: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CashState {
    pub policy: CashPolicy,
    pub lists: BTreeMap<Uuid, WaitingList>,
    pub entries: BTreeMap<Uuid, WaitEntry>,
    pub seats: BTreeMap<(Uuid, u8), Seat>,
    pub seat_changes: BTreeMap<Uuid, SeatChange>,
    /// When players were seated from each list, most recent last.
    pub seatings: BTreeMap<Uuid, Vec<u64>>,
}

/// A cash-game command, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CashCommand {
    SetPolicy(CashPolicy),
    CreateList {
        list_id: Uuid,
        game: Game,
        stakes: Stakes,
    },
    Join {
        entry_id: Uuid,
        list_id: Uuid,
        player_id: Uuid,
        at_ms: u64,
        call_in_until: Option<u64>,
    },
    CallNext {
        list_id: Uuid,
        at_ms: u64,
    },
    Call {
        entry_id: Uuid,
        at_ms: u64,
    },
    Seat {
        player_id: Uuid,
        entry_id: Option<Uuid>,
        table_id: Uuid,
        seat: u8,
        at_ms: u64,
    },
    NoShow {
        entry_id: Uuid,
    },
    CallTimedOut {
        entry_id: Uuid,
        call_number: u32,
        at_ms: u64,
    },
    Remove {
        entry_id: Uuid,
    },
    Move {
        entry_id: Uuid,
        to_index: usize,
        reason: String,
    },
    Arrived {
        entry_id: Uuid,
    },
    CallInExpired {
        entry_id: Uuid,
        at_ms: u64,
    },
    Leave {
        table_id: Uuid,
        seat: u8,
    },
    Away {
        table_id: Uuid,
        seat: u8,
        at_ms: u64,
    },
    Back {
        table_id: Uuid,
        seat: u8,
    },
    ChangeSeat {
        from_table: Uuid,
        from_seat: u8,
        to_table: Uuid,
        to_seat: u8,
        at_ms: u64,
    },
    RequestSeatChange {
        request_id: Uuid,
        table_id: Uuid,
        seat: u8,
        wants: Option<Uuid>,
        at_ms: u64,
    },
    CancelSeatChange {
        request_id: Uuid,
    },
    SetMustMove {
        table_id: Uuid,
        must_move: bool,
    },
}

/// The cash-game events (each is also a variant of `EventKind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum CashEvent {
    CashPolicySet {
        policy: CashPolicy,
    },
    WaitingListCreated {
        list_id: Uuid,
        game: Game,
        stakes: Stakes,
    },
    PlayerJoinedList {
        entry_id: Uuid,
        list_id: Uuid,
        player_id: Uuid,
        at_ms: u64,
        call_in_until: Option<u64>,
    },
    PlayerCalled {
        entry_id: Uuid,
        call: Call,
    },
    PlayerSeated {
        player_id: Uuid,
        table_id: Uuid,
        seat: u8,
        at_ms: u64,
        from_entry: Option<Uuid>,
        left_entries: Vec<Uuid>,
    },
    /// A called player did not come: dropped (`moved_to: None`) or moved down to `moved_to`.
    PlayerNoShow {
        entry_id: Uuid,
        timed_out: bool,
        moved_to: Option<usize>,
    },
    WaitEntryRemoved {
        entry_id: Uuid,
        reason: String,
    },
    WaitEntryMoved {
        entry_id: Uuid,
        from: usize,
        to: usize,
        reason: String,
    },
    CallInArrived {
        entry_id: Uuid,
    },
    PlayerLeftSeat {
        table_id: Uuid,
        seat: u8,
    },
    PlayerAway {
        table_id: Uuid,
        seat: u8,
        at_ms: u64,
    },
    PlayerBack {
        table_id: Uuid,
        seat: u8,
    },
    /// A table or seat change; `left_entries` are the player's entries for the new table's game.
    PlayerChangedSeat {
        from_table: Uuid,
        from_seat: u8,
        to_table: Uuid,
        to_seat: u8,
        at_ms: u64,
        left_entries: Vec<Uuid>,
        /// Set when the move seats them from a waiting list.
        #[serde(default)]
        from_entry: Option<Uuid>,
    },
    SeatChangeRequested {
        request_id: Uuid,
        player_id: Uuid,
        table_id: Uuid,
        wants: Option<Uuid>,
        at_ms: u64,
    },
    SeatChangeCancelled {
        request_id: Uuid,
    },
    TableMustMoveSet {
        table_id: Uuid,
        must_move: bool,
    },
}

impl CashState {
    fn entry(&self, id: Uuid) -> Result<&WaitEntry, DomainError> {
        self.entries
            .get(&id)
            .ok_or_else(|| DomainError::NotFound(format!("no waiting-list entry with id {id}")))
    }

    fn list(&self, id: Uuid) -> Result<&WaitingList, DomainError> {
        self.lists
            .get(&id)
            .ok_or_else(|| DomainError::NotFound(format!("no waiting list with id {id}")))
    }

    /// Where a player sits, if anywhere.
    pub fn seat_of(&self, player_id: Uuid) -> Option<&Seat> {
        self.seats.values().find(|s| s.player_id == player_id)
    }

    /// The position of an entry in its list's queue.
    pub fn position(&self, entry_id: Uuid) -> Option<usize> {
        let e = self.entries.get(&entry_id)?;
        self.lists
            .get(&e.list_id)?
            .queue
            .iter()
            .position(|id| *id == entry_id)
    }

    /// Commands the clock makes due at `now_ms`: calls that ran out, call-ins that never came.
    pub fn due(&self, now_ms: u64) -> Vec<CashCommand> {
        let mut out = Vec::new();
        for e in self.entries.values() {
            if let Some(call) = e.call {
                if now_ms >= call.deadline_ms {
                    out.push(CashCommand::CallTimedOut {
                        entry_id: e.id,
                        call_number: call.number,
                        at_ms: now_ms,
                    });
                }
            } else if let (Some(until), false) = (e.call_in_until, e.arrived) {
                if now_ms > until {
                    out.push(CashCommand::CallInExpired {
                        entry_id: e.id,
                        at_ms: now_ms,
                    });
                }
            }
        }
        out
    }
}

fn seat_label(state: &VenueState, table_id: Uuid, seat: u8) -> String {
    let table = state
        .tables
        .get(&table_id)
        .map(|t| t.name.to_string())
        .unwrap_or_else(|| "?".into());
    format!("{table} seat {seat}")
}

fn player_name(state: &VenueState, player_id: Uuid) -> String {
    state
        .players
        .get(&player_id)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| player_id.to_string())
}

/// A seat with a player in it; an unknown table or seat number is named as such.
fn occupied(state: &VenueState, table_id: Uuid, seat: u8) -> Result<&Seat, DomainError> {
    let table = state
        .tables
        .get(&table_id)
        .ok_or(DomainError::UnknownTable(table_id))?;
    if seat == 0 || seat > table.seats {
        return Err(invalid(
            "seat",
            &format!("table {} has seats 1 to {}", table.name, table.seats),
        ));
    }
    state
        .cash
        .seats
        .get(&(table_id, seat))
        .ok_or_else(|| conflict(format!("{} is empty", seat_label(state, table_id, seat))))
}

/// A seat that can take a player: table open or starting, seat on the table, nobody in it.
fn check_free_seat(state: &VenueState, table_id: Uuid, seat: u8) -> Result<(), DomainError> {
    let table = state
        .tables
        .get(&table_id)
        .ok_or(DomainError::UnknownTable(table_id))?;
    if table.status == TableStatus::Closed {
        return Err(conflict(format!("table {} is closed", table.name)));
    }
    if seat == 0 || seat > table.seats {
        return Err(invalid(
            "seat",
            &format!("table {} has seats 1 to {}", table.name, table.seats),
        ));
    }
    if let Some(s) = state.cash.seats.get(&(table_id, seat)) {
        return Err(conflict(format!(
            "{} is taken by {}",
            seat_label(state, table_id, seat),
            player_name(state, s.player_id)
        )));
    }
    Ok(())
}

/// Where a no-show goes under the venue's policy.
fn no_show_target(state: &VenueState, entry: &WaitEntry) -> Option<usize> {
    match state.cash.policy.no_show {
        NoShowPolicy::Drop => None,
        NoShowPolicy::MoveDown { places } => {
            let list = state.cash.lists.get(&entry.list_id)?;
            let at = list.queue.iter().position(|id| *id == entry.id)?;
            Some((at + places as usize).min(list.queue.len().saturating_sub(1)))
        }
    }
}

/// Checks a cash-game command and returns the event that records it.
pub fn decide(state: &VenueState, command: &CashCommand) -> Result<CashEvent, DomainError> {
    let cash = &state.cash;
    Ok(match command.clone() {
        CashCommand::SetPolicy(policy) => CashEvent::CashPolicySet {
            policy: policy.checked()?,
        },
        CashCommand::CreateList {
            list_id,
            game,
            stakes,
        } => {
            if cash.lists.contains_key(&list_id) {
                return Err(conflict(format!("a list with id {list_id} already exists")));
            }
            if cash
                .lists
                .values()
                .any(|l| l.game == game && l.stakes == stakes)
            {
                return Err(conflict(format!(
                    "there is already a {} {} list",
                    stakes,
                    game.label()
                )));
            }
            CashEvent::WaitingListCreated {
                list_id,
                game,
                stakes,
            }
        }
        CashCommand::Join {
            entry_id,
            list_id,
            player_id,
            at_ms,
            call_in_until,
        } => {
            let list = cash.list(list_id)?;
            if cash.entries.contains_key(&entry_id) {
                return Err(conflict(format!(
                    "an entry with id {entry_id} already exists"
                )));
            }
            if !state.players.contains_key(&player_id) {
                return Err(DomainError::NotFound(format!(
                    "no player with id {player_id}"
                )));
            }
            if cash
                .entries
                .values()
                .any(|e| e.list_id == list_id && e.player_id == player_id)
            {
                return Err(conflict(format!(
                    "{} is already on this list",
                    player_name(state, player_id)
                )));
            }
            if let Some(seat) = cash.seat_of(player_id) {
                let t = state.tables.get(&seat.table_id);
                if t.is_some_and(|t| t.game == list.game && t.stakes == list.stakes) {
                    return Err(conflict(format!(
                        "{} already plays this game at {}; use a seat change request",
                        player_name(state, player_id),
                        seat_label(state, seat.table_id, seat.seat)
                    )));
                }
            }
            if call_in_until.is_some_and(|u| u <= at_ms) {
                return Err(invalid(
                    "call_in_until",
                    "a call-in's arrival deadline must be in the future",
                ));
            }
            CashEvent::PlayerJoinedList {
                entry_id,
                list_id,
                player_id,
                at_ms,
                call_in_until,
            }
        }
        CashCommand::CallNext { list_id, at_ms } => {
            let list = cash.list(list_id)?;
            if list.queue.is_empty() {
                return Err(conflict("the list is empty: no one to call"));
            }
            let next = list
                .queue
                .iter()
                .filter_map(|id| cash.entries.get(id))
                .find(|e| e.callable())
                .ok_or_else(|| {
                    conflict("everyone on this list is already called or has not arrived")
                })?;
            call_event(state, next, at_ms)
        }
        CashCommand::Call { entry_id, at_ms } => {
            let e = cash.entry(entry_id)?;
            if e.call.is_some() {
                return Err(conflict(format!(
                    "{} is already called",
                    player_name(state, e.player_id)
                )));
            }
            if !e.callable() {
                return Err(conflict(format!(
                    "{} is a call-in who has not arrived",
                    player_name(state, e.player_id)
                )));
            }
            call_event(state, e, at_ms)
        }
        CashCommand::Seat {
            player_id,
            entry_id,
            table_id,
            seat,
            at_ms,
        } => {
            if !state.players.contains_key(&player_id) {
                return Err(DomainError::NotFound(format!(
                    "no player with id {player_id}"
                )));
            }
            check_free_seat(state, table_id, seat)?;
            if let Some(id) = entry_id {
                if cash.entry(id)?.player_id != player_id {
                    return Err(invalid("entry_id", "that entry belongs to another player"));
                }
            }
            if let Some(s) = cash.seat_of(player_id) {
                // Seated already: from a list, this is a move to the game they waited for.
                let Some(from_entry) = entry_id else {
                    return Err(conflict(format!(
                        "{} is already seated at {}; change their seat instead",
                        player_name(state, player_id),
                        seat_label(state, s.table_id, s.seat)
                    )));
                };
                let left_entries = entries_leaving(state, player_id, table_id, |e| {
                    e.id == from_entry || cash.policy.seat_removes_other_lists
                })?;
                return Ok(CashEvent::PlayerChangedSeat {
                    from_table: s.table_id,
                    from_seat: s.seat,
                    to_table: table_id,
                    to_seat: seat,
                    at_ms,
                    left_entries,
                    from_entry: Some(from_entry),
                });
            }
            let left_entries = entries_leaving(state, player_id, table_id, |e| {
                Some(e.id) == entry_id || cash.policy.seat_removes_other_lists
            })?;
            CashEvent::PlayerSeated {
                player_id,
                table_id,
                seat,
                at_ms,
                from_entry: entry_id,
                left_entries,
            }
        }
        CashCommand::NoShow { entry_id } => {
            let e = cash.entry(entry_id)?;
            if e.call.is_none() {
                return Err(conflict(format!(
                    "{} has not been called",
                    player_name(state, e.player_id)
                )));
            }
            CashEvent::PlayerNoShow {
                entry_id,
                timed_out: false,
                moved_to: no_show_target(state, e),
            }
        }
        CashCommand::CallTimedOut {
            entry_id,
            call_number,
            at_ms,
        } => {
            let e = cash.entry(entry_id)?;
            match e.call {
                Some(c) if c.number == call_number && at_ms >= c.deadline_ms => {}
                _ => return Err(conflict("that call is no longer running")),
            }
            CashEvent::PlayerNoShow {
                entry_id,
                timed_out: true,
                moved_to: no_show_target(state, e),
            }
        }
        CashCommand::Remove { entry_id } => {
            cash.entry(entry_id)?;
            CashEvent::WaitEntryRemoved {
                entry_id,
                reason: "removed".into(),
            }
        }
        CashCommand::Move {
            entry_id,
            to_index,
            reason,
        } => {
            let e = cash.entry(entry_id)?;
            let list = cash.list(e.list_id)?;
            let from = list
                .queue
                .iter()
                .position(|id| *id == entry_id)
                .ok_or_else(|| conflict("entry is not queued"))?;
            if to_index >= list.queue.len() {
                return Err(invalid(
                    "to_index",
                    &format!("the list has places 0 to {}", list.queue.len() - 1),
                ));
            }
            let reason = reason.trim().to_owned();
            if reason.is_empty() || reason.chars().count() > 200 {
                return Err(invalid("reason", "say why, in 1 to 200 characters"));
            }
            if from == to_index {
                return Err(conflict("the player is already at that place"));
            }
            CashEvent::WaitEntryMoved {
                entry_id,
                from,
                to: to_index,
                reason,
            }
        }
        CashCommand::Arrived { entry_id } => {
            let e = cash.entry(entry_id)?;
            if e.call_in_until.is_none() || e.arrived {
                return Err(conflict("that entry is not a call-in waiting to arrive"));
            }
            CashEvent::CallInArrived { entry_id }
        }
        CashCommand::CallInExpired { entry_id, at_ms } => {
            let e = cash.entry(entry_id)?;
            match (e.call_in_until, e.arrived) {
                (Some(until), false) if at_ms > until => {}
                _ => return Err(conflict("that call-in has not expired")),
            }
            CashEvent::WaitEntryRemoved {
                entry_id,
                reason: "call-in did not arrive in time".into(),
            }
        }
        CashCommand::Leave { table_id, seat } => {
            occupied(state, table_id, seat)?;
            CashEvent::PlayerLeftSeat { table_id, seat }
        }
        CashCommand::Away {
            table_id,
            seat,
            at_ms,
        } => {
            if occupied(state, table_id, seat)?.away_since.is_some() {
                return Err(conflict("already marked away"));
            }
            CashEvent::PlayerAway {
                table_id,
                seat,
                at_ms,
            }
        }
        CashCommand::Back { table_id, seat } => {
            if occupied(state, table_id, seat)?.away_since.is_none() {
                return Err(conflict("not marked away"));
            }
            CashEvent::PlayerBack { table_id, seat }
        }
        CashCommand::ChangeSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
            at_ms,
        } => {
            let player_id = occupied(state, from_table, from_seat)?.player_id;
            check_free_seat(state, to_table, to_seat)?;
            let left_entries = entries_leaving(state, player_id, to_table, |_| false)?;
            CashEvent::PlayerChangedSeat {
                from_table,
                from_seat,
                to_table,
                to_seat,
                at_ms,
                left_entries,
                from_entry: None,
            }
        }
        CashCommand::RequestSeatChange {
            request_id,
            table_id,
            seat,
            wants,
            at_ms,
        } => {
            if cash.seat_changes.contains_key(&request_id) {
                return Err(conflict(format!(
                    "a request with id {request_id} already exists"
                )));
            }
            let s = occupied(state, table_id, seat)?;
            if let Some(w) = wants {
                if !state.tables.contains_key(&w) {
                    return Err(DomainError::UnknownTable(w));
                }
            }
            if cash
                .seat_changes
                .values()
                .any(|r| r.player_id == s.player_id)
            {
                return Err(conflict(format!(
                    "{} already has a seat change request",
                    player_name(state, s.player_id)
                )));
            }
            CashEvent::SeatChangeRequested {
                request_id,
                player_id: s.player_id,
                table_id,
                wants,
                at_ms,
            }
        }
        CashCommand::CancelSeatChange { request_id } => {
            if !cash.seat_changes.contains_key(&request_id) {
                return Err(DomainError::NotFound(format!(
                    "no seat change request with id {request_id}"
                )));
            }
            CashEvent::SeatChangeCancelled { request_id }
        }
        CashCommand::SetMustMove {
            table_id,
            must_move,
        } => {
            if !state.tables.contains_key(&table_id) {
                return Err(DomainError::UnknownTable(table_id));
            }
            CashEvent::TableMustMoveSet {
                table_id,
                must_move,
            }
        }
    })
}

/// The player's entries a seat at `table_id` takes them off: every entry for
/// that table's game and stakes, and any entry `also` picks.
fn entries_leaving(
    state: &VenueState,
    player_id: Uuid,
    table_id: Uuid,
    also: impl Fn(&WaitEntry) -> bool,
) -> Result<Vec<Uuid>, DomainError> {
    let table = state
        .tables
        .get(&table_id)
        .ok_or(DomainError::UnknownTable(table_id))?;
    let cash = &state.cash;
    Ok(cash
        .entries
        .values()
        .filter(|e| e.player_id == player_id)
        .filter(|e| {
            also(e)
                || cash
                    .lists
                    .get(&e.list_id)
                    .is_some_and(|l| l.game == table.game && l.stakes == table.stakes)
        })
        .map(|e| e.id)
        .collect())
}

fn call_event(state: &VenueState, e: &WaitEntry, at_ms: u64) -> CashEvent {
    let timeout = state.cash.policy.call_timeout_secs as u64 * 1000;
    CashEvent::PlayerCalled {
        entry_id: e.id,
        call: Call {
            number: e.calls_made + 1,
            called_ms: at_ms,
            deadline_ms: at_ms + timeout,
        },
    }
}

fn drop_entry(cash: &mut CashState, entry_id: Uuid) {
    if let Some(e) = cash.entries.remove(&entry_id) {
        if let Some(l) = cash.lists.get_mut(&e.list_id) {
            l.queue.retain(|id| *id != entry_id);
        }
    }
}

/// A player takes a seat: the entries it clears leave their lists, a seating
/// from a list of the table's own game counts towards that list's turnover,
/// and any call still running on another list is cancelled (they are seated).
fn record_seating(
    cash: &mut CashState,
    table_game: Option<(Game, Stakes)>,
    player_id: Uuid,
    from_entry: Option<Uuid>,
    left_entries: &[Uuid],
    at_ms: u64,
) {
    let list = from_entry
        .and_then(|id| cash.entries.get(&id))
        .map(|e| e.list_id);
    if let Some(list_id) = list {
        let same_game = cash.lists.get(&list_id).map(|l| (l.game, l.stakes)) == table_game;
        if same_game {
            let times = cash.seatings.entry(list_id).or_default();
            times.push(at_ms);
            if times.len() > TURNOVER_WINDOW {
                times.remove(0);
            }
        }
    }
    for id in left_entries {
        drop_entry(cash, *id);
    }
    for e in cash
        .entries
        .values_mut()
        .filter(|e| e.player_id == player_id)
    {
        e.call = None;
    }
}

fn move_in_queue(cash: &mut CashState, entry_id: Uuid, to: usize) {
    let Some(list_id) = cash.entries.get(&entry_id).map(|e| e.list_id) else {
        return;
    };
    if let Some(l) = cash.lists.get_mut(&list_id) {
        l.queue.retain(|id| *id != entry_id);
        let to = to.min(l.queue.len());
        l.queue.insert(to, entry_id);
    }
}

/// Folds one cash event into the state.
pub fn apply(state: &mut VenueState, event: &CashEvent) {
    let cash = &mut state.cash;
    match event.clone() {
        CashEvent::CashPolicySet { policy } => cash.policy = policy,
        CashEvent::WaitingListCreated {
            list_id,
            game,
            stakes,
        } => {
            cash.lists.insert(
                list_id,
                WaitingList {
                    id: list_id,
                    game,
                    stakes,
                    queue: Vec::new(),
                },
            );
        }
        CashEvent::PlayerJoinedList {
            entry_id,
            list_id,
            player_id,
            at_ms,
            call_in_until,
        } => {
            if let Some(l) = cash.lists.get_mut(&list_id) {
                l.queue.push(entry_id);
                cash.entries.insert(
                    entry_id,
                    WaitEntry {
                        id: entry_id,
                        list_id,
                        player_id,
                        joined_ms: at_ms,
                        call: None,
                        calls_made: 0,
                        call_in_until,
                        arrived: false,
                    },
                );
            }
        }
        CashEvent::PlayerCalled { entry_id, call } => {
            if let Some(e) = cash.entries.get_mut(&entry_id) {
                e.call = Some(call);
                e.calls_made = call.number;
            }
        }
        CashEvent::PlayerSeated {
            player_id,
            table_id,
            seat,
            at_ms,
            from_entry,
            left_entries,
        } => {
            let game = state.tables.get(&table_id).map(|t| (t.game, t.stakes));
            record_seating(cash, game, player_id, from_entry, &left_entries, at_ms);
            cash.seats.insert(
                (table_id, seat),
                Seat {
                    table_id,
                    seat,
                    player_id,
                    since_ms: at_ms,
                    away_since: None,
                },
            );
        }
        CashEvent::PlayerNoShow {
            entry_id, moved_to, ..
        } => match moved_to {
            None => drop_entry(cash, entry_id),
            Some(to) => {
                if let Some(e) = cash.entries.get_mut(&entry_id) {
                    e.call = None;
                }
                move_in_queue(cash, entry_id, to);
            }
        },
        CashEvent::WaitEntryRemoved { entry_id, .. } => drop_entry(cash, entry_id),
        CashEvent::WaitEntryMoved { entry_id, to, .. } => move_in_queue(cash, entry_id, to),
        CashEvent::CallInArrived { entry_id } => {
            if let Some(e) = cash.entries.get_mut(&entry_id) {
                e.arrived = true;
            }
        }
        CashEvent::PlayerLeftSeat { table_id, seat } => {
            if let Some(s) = cash.seats.remove(&(table_id, seat)) {
                cash.seat_changes.retain(|_, r| r.player_id != s.player_id);
            }
        }
        CashEvent::PlayerAway {
            table_id,
            seat,
            at_ms,
        } => {
            if let Some(s) = cash.seats.get_mut(&(table_id, seat)) {
                s.away_since = Some(at_ms);
            }
        }
        CashEvent::PlayerBack { table_id, seat } => {
            if let Some(s) = cash.seats.get_mut(&(table_id, seat)) {
                s.away_since = None;
            }
        }
        CashEvent::PlayerChangedSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
            at_ms,
            left_entries,
            from_entry,
        } => {
            let game = state.tables.get(&to_table).map(|t| (t.game, t.stakes));
            if let Some(s) = cash.seats.remove(&(from_table, from_seat)) {
                record_seating(cash, game, s.player_id, from_entry, &left_entries, at_ms);
                cash.seat_changes.retain(|_, r| r.player_id != s.player_id);
                // A better seat at the same table keeps their time there (must-move order).
                let since_ms = if from_table == to_table {
                    s.since_ms
                } else {
                    at_ms
                };
                cash.seats.insert(
                    (to_table, to_seat),
                    Seat {
                        table_id: to_table,
                        seat: to_seat,
                        player_id: s.player_id,
                        since_ms,
                        away_since: None,
                    },
                );
            }
        }
        CashEvent::SeatChangeRequested {
            request_id,
            player_id,
            table_id,
            wants,
            at_ms,
        } => {
            cash.seat_changes.insert(
                request_id,
                SeatChange {
                    id: request_id,
                    player_id,
                    table_id,
                    wants,
                    at_ms,
                },
            );
        }
        CashEvent::SeatChangeCancelled { request_id } => {
            cash.seat_changes.remove(&request_id);
        }
        CashEvent::TableMustMoveSet {
            table_id,
            must_move,
        } => {
            if let Some(t) = state.tables.get_mut(&table_id) {
                t.must_move = must_move;
            }
        }
    }
}

/// The rows an event changes, worked out before it is applied, so storage can
/// rewrite exactly those from the state after the commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TouchedRows {
    pub policy: bool,
    pub lists: BTreeSet<Uuid>,
    pub entries: BTreeSet<Uuid>,
    pub seats: BTreeSet<(Uuid, u8)>,
    pub seat_changes: BTreeSet<Uuid>,
    pub tables: BTreeSet<Uuid>,
    /// Tournaments whose state row must be rewritten.
    pub tournaments: BTreeSet<Uuid>,
    /// Tournament entries (tournament, bullet) whose row must be rewritten.
    pub tournament_entries: BTreeSet<(Uuid, Uuid)>,
    /// The display settings row.
    pub displays: bool,
}

impl TouchedRows {
    pub fn extend(&mut self, other: TouchedRows) {
        self.policy |= other.policy;
        self.lists.extend(other.lists);
        self.entries.extend(other.entries);
        self.seats.extend(other.seats);
        self.seat_changes.extend(other.seat_changes);
        self.tables.extend(other.tables);
        self.tournaments.extend(other.tournaments);
        self.tournament_entries.extend(other.tournament_entries);
        self.displays |= other.displays;
    }

    pub fn is_empty(&self) -> bool {
        *self == TouchedRows::default()
    }

    fn entry(&mut self, cash: &CashState, entry_id: Uuid) {
        self.entries.insert(entry_id);
        if let Some(e) = cash.entries.get(&entry_id) {
            self.lists.insert(e.list_id);
        }
    }

    /// Every entry of a player, and their lists (a seating cancels their calls).
    fn player_entries(&mut self, cash: &CashState, player_id: Uuid) {
        let ids: Vec<Uuid> = cash
            .entries
            .values()
            .filter(|e| e.player_id == player_id)
            .map(|e| e.id)
            .collect();
        for id in ids {
            self.entry(cash, id);
        }
    }

    fn player_requests(&mut self, cash: &CashState, player_id: Option<Uuid>) {
        if let Some(p) = player_id {
            self.seat_changes.extend(
                cash.seat_changes
                    .values()
                    .filter(|r| r.player_id == p)
                    .map(|r| r.id),
            );
        }
    }
}

/// What `event` will change, judged on the state before it is applied.
pub fn touched(state: &VenueState, event: &CashEvent) -> TouchedRows {
    let cash = &state.cash;
    let mut t = TouchedRows::default();
    match event {
        CashEvent::CashPolicySet { .. } => t.policy = true,
        CashEvent::WaitingListCreated { list_id, .. } => {
            t.lists.insert(*list_id);
        }
        CashEvent::PlayerJoinedList {
            entry_id, list_id, ..
        } => {
            t.entries.insert(*entry_id);
            t.lists.insert(*list_id);
        }
        CashEvent::PlayerCalled { entry_id, .. }
        | CashEvent::PlayerNoShow { entry_id, .. }
        | CashEvent::WaitEntryRemoved { entry_id, .. }
        | CashEvent::WaitEntryMoved { entry_id, .. }
        | CashEvent::CallInArrived { entry_id } => t.entry(cash, *entry_id),
        CashEvent::PlayerSeated {
            player_id,
            table_id,
            seat,
            from_entry,
            left_entries,
            ..
        } => {
            t.seats.insert((*table_id, *seat));
            for id in from_entry.iter().chain(left_entries) {
                t.entry(cash, *id);
            }
            t.player_entries(cash, *player_id);
        }
        CashEvent::PlayerLeftSeat { table_id, seat } => {
            t.seats.insert((*table_id, *seat));
            t.player_requests(
                cash,
                cash.seats.get(&(*table_id, *seat)).map(|s| s.player_id),
            );
        }
        CashEvent::PlayerAway { table_id, seat, .. } | CashEvent::PlayerBack { table_id, seat } => {
            t.seats.insert((*table_id, *seat));
        }
        CashEvent::PlayerChangedSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
            left_entries,
            from_entry,
            ..
        } => {
            t.seats.insert((*from_table, *from_seat));
            t.seats.insert((*to_table, *to_seat));
            let player = cash
                .seats
                .get(&(*from_table, *from_seat))
                .map(|s| s.player_id);
            t.player_requests(cash, player);
            for id in from_entry.iter().chain(left_entries) {
                t.entry(cash, *id);
            }
            if let Some(p) = player {
                t.player_entries(cash, p);
            }
        }
        CashEvent::SeatChangeRequested { request_id, .. }
        | CashEvent::SeatChangeCancelled { request_id } => {
            t.seat_changes.insert(*request_id);
        }
        CashEvent::TableMustMoveSet { table_id, .. } => {
            t.tables.insert(*table_id);
        }
    }
    t
}

/// Players at must-move tables of `game` and `stakes`, in the order they go to
/// the main game: longest seated at the must-move table first.
pub fn must_move_order(state: &VenueState, game: Game, stakes: Stakes) -> Vec<&Seat> {
    let mut seats: Vec<&Seat> = state
        .cash
        .seats
        .values()
        .filter(|s| {
            state
                .tables
                .get(&s.table_id)
                .is_some_and(|t| t.must_move && t.game == game && t.stakes == stakes)
        })
        .collect();
    seats.sort_by_key(|s| (s.since_ms, s.table_id, s.seat));
    seats
}

/// How long someone at a place in a list may wait, from recent seatings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "estimate", rename_all = "snake_case")]
pub enum WaitEstimate {
    /// Too few recent seatings to say.
    Unknown,
    /// Likely between these many minutes.
    Range { min_minutes: u32, max_minutes: u32 },
}

/// Seatings older than this do not count towards the estimate.
pub const TURNOVER_HORIZON_MS: u64 = 2 * 60 * 60 * 1000;

/// The estimate for the player `ahead` places from the front (0 = next).
///
/// The average gap between the last seatings from this list (at least 3 in
/// the last two hours, else Unknown), times the places to wait, shown as half
/// to one and a half times that: seat turnover is bursty, and a single
/// number would promise more than we know.
pub fn estimate_wait(cash: &CashState, list_id: Uuid, ahead: usize, now_ms: u64) -> WaitEstimate {
    let recent: Vec<u64> = cash
        .seatings
        .get(&list_id)
        .map(|v| {
            v.iter()
                .copied()
                .filter(|t| now_ms.saturating_sub(*t) <= TURNOVER_HORIZON_MS)
                .collect()
        })
        .unwrap_or_default();
    if recent.len() < 3 {
        return WaitEstimate::Unknown;
    }
    let (first, last) = (recent[0], recent[recent.len() - 1]);
    let gap = (last.saturating_sub(first)) as f64 / (recent.len() - 1) as f64;
    let expected_min = gap * (ahead as f64 + 1.0) / 60_000.0;
    WaitEstimate::Range {
        min_minutes: (expected_min * 0.5).floor() as u32,
        max_minutes: (expected_min * 1.5).ceil().max(1.0) as u32,
    }
}

/// One copy of a waiting list for sync: what a node (or the hub) knows.
/// Two copies that diverged offline merge by union, removals winning, in
/// join order (by hybrid clock, then id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListReplica {
    pub joined: BTreeMap<Uuid, (Hlc, Uuid)>,
    pub removed: BTreeSet<Uuid>,
}

impl ListReplica {
    pub fn add(&mut self, entry_id: Uuid, joined: Hlc, player_id: Uuid) {
        self.joined.insert(entry_id, (joined, player_id));
    }

    pub fn remove(&mut self, entry_id: Uuid) {
        self.removed.insert(entry_id);
    }

    /// Commutative, associative and idempotent.
    pub fn merge(&self, other: &ListReplica) -> ListReplica {
        let mut joined = self.joined.clone();
        for (id, v) in &other.joined {
            joined
                .entry(*id)
                .and_modify(|mine| *mine = (*mine).min(*v))
                .or_insert(*v);
        }
        ListReplica {
            joined,
            removed: self.removed.union(&other.removed).copied().collect(),
        }
    }

    /// The live entries in join order.
    pub fn order(&self) -> Vec<Uuid> {
        let mut live: Vec<(Hlc, Uuid)> = self
            .joined
            .iter()
            .filter(|(id, _)| !self.removed.contains(id))
            .map(|(id, (hlc, _))| (*hlc, *id))
            .collect();
        live.sort();
        live.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::players::PlayerDetails;
    use crate::venue::{Command, TableName};
    use proptest::prelude::*;

    const PLAYERS: u128 = 12;
    const TABLES: u128 = 3;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn player(n: u128) -> Uuid {
        id(1000 + n)
    }
    fn table(n: u128) -> Uuid {
        id(2000 + n)
    }
    fn list(n: u128) -> Uuid {
        id(3000 + n)
    }

    fn run(state: &mut VenueState, command: Command) -> Option<EventKind> {
        let event = state.decide(&command).ok()?;
        state.apply(&event);
        Some(event)
    }

    /// Three open 6-seat tables (two NLHE 1/2, one PLO 2/5), a list for each game, twelve players.
    pub(crate) fn room(removes_other_lists: bool) -> VenueState {
        let mut s = VenueState::default();
        let policy = CashPolicy {
            seat_removes_other_lists: removes_other_lists,
            ..CashPolicy::default()
        };
        run(&mut s, Command::Cash(CashCommand::SetPolicy(policy)));
        for t in 0..TABLES {
            let (game, stakes) = if t < 2 {
                (Game::Nlhe, Stakes::new(1, 2))
            } else {
                (Game::Plo, Stakes::new(2, 5))
            };
            let stakes = stakes.unwrap_or_else(|_| unreachable!());
            run(
                &mut s,
                Command::CreateTable {
                    table_id: table(t),
                    name: TableName::parse(&format!("T{t}")).unwrap_or_else(|_| unreachable!()),
                    game,
                    stakes,
                    seats: 6,
                },
            );
            run(&mut s, Command::OpenTable { table_id: table(t) });
        }
        run(
            &mut s,
            Command::Cash(CashCommand::CreateList {
                list_id: list(0),
                game: Game::Nlhe,
                stakes: Stakes::new(1, 2).unwrap_or_else(|_| unreachable!()),
            }),
        );
        run(
            &mut s,
            Command::Cash(CashCommand::CreateList {
                list_id: list(1),
                game: Game::Plo,
                stakes: Stakes::new(2, 5).unwrap_or_else(|_| unreachable!()),
            }),
        );
        for p in 0..PLAYERS {
            let details = PlayerDetails {
                name: format!("Player {p}"),
                nickname: None,
                phone: None,
                email: None,
                notes: String::new(),
            };
            run(
                &mut s,
                Command::CreatePlayer {
                    player_id: player(p),
                    details,
                },
            );
        }
        s
    }

    #[derive(Debug, Clone)]
    pub(crate) enum Op {
        Join(u128, u128),
        CallNext(u128),
        SeatFirst(u128, u128, u8),
        SeatDirect(u128, u128, u8),
        NoShow(usize),
        TimeOut(usize),
        Remove(usize),
        Move(usize, usize),
        Leave(u128, u8),
        Change(u128, u8, u128, u8),
        Tick(u64),
        JoinCallIn(u128, u128),
        Arrived(usize),
        SeatChange(u128, u8),
        SetGame(u128, bool),
        MustMove(u128),
    }

    pub(crate) fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..PLAYERS, 0..2u128).prop_map(|(p, l)| Op::Join(p, l)),
            2 => (0..2u128).prop_map(Op::CallNext),
            2 => (0..2u128, 0..TABLES, 1..=6u8).prop_map(|(l, t, s)| Op::SeatFirst(l, t, s)),
            1 => (0..PLAYERS, 0..TABLES, 1..=6u8).prop_map(|(p, t, s)| Op::SeatDirect(p, t, s)),
            1 => (0..20usize).prop_map(Op::NoShow),
            1 => (0..20usize).prop_map(Op::TimeOut),
            1 => (0..20usize).prop_map(Op::Remove),
            1 => (0..20usize, 0..20usize).prop_map(|(a, b)| Op::Move(a, b)),
            1 => (0..TABLES, 1..=6u8).prop_map(|(t, s)| Op::Leave(t, s)),
            1 => (0..TABLES, 1..=6u8, 0..TABLES, 1..=6u8).prop_map(|(a, b, c, d)| Op::Change(a, b, c, d)),
            1 => (1..400_000u64).prop_map(Op::Tick),
            1 => (0..PLAYERS, 0..2u128).prop_map(|(p, l)| Op::JoinCallIn(p, l)),
            1 => (0..20usize).prop_map(Op::Arrived),
            1 => (0..TABLES, 1..=6u8).prop_map(|(t, s)| Op::SeatChange(t, s)),
            1 => (0..TABLES, any::<bool>()).prop_map(|(t, plo)| Op::SetGame(t, plo)),
            1 => (0..TABLES).prop_map(Op::MustMove),
        ]
    }

    fn nth_entry(s: &VenueState, n: usize) -> Option<Uuid> {
        let all: Vec<Uuid> = s.cash.entries.keys().copied().collect();
        (!all.is_empty()).then(|| all[n % all.len()])
    }

    pub(crate) fn to_command(
        s: &VenueState,
        op: &Op,
        now: &mut u64,
        fresh: &mut u128,
    ) -> Option<Command> {
        *fresh += 1;
        let c = match *op {
            Op::Join(p, l) => CashCommand::Join {
                entry_id: id(10_000 + *fresh),
                list_id: list(l),
                player_id: player(p),
                at_ms: *now,
                call_in_until: None,
            },
            Op::CallNext(l) => CashCommand::CallNext {
                list_id: list(l),
                at_ms: *now,
            },
            Op::SeatFirst(l, t, seat) => {
                let entry = s.cash.lists.get(&list(l))?.queue.first().copied()?;
                let player_id = s.cash.entries.get(&entry)?.player_id;
                CashCommand::Seat {
                    player_id,
                    entry_id: Some(entry),
                    table_id: table(t),
                    seat,
                    at_ms: *now,
                }
            }
            Op::SeatDirect(p, t, seat) => CashCommand::Seat {
                player_id: player(p),
                entry_id: None,
                table_id: table(t),
                seat,
                at_ms: *now,
            },
            Op::NoShow(n) => CashCommand::NoShow {
                entry_id: nth_entry(s, n)?,
            },
            Op::TimeOut(n) => {
                let e = s.cash.entries.get(&nth_entry(s, n)?)?;
                CashCommand::CallTimedOut {
                    entry_id: e.id,
                    call_number: e.call.map(|c| c.number).unwrap_or(0),
                    at_ms: *now,
                }
            }
            Op::Remove(n) => CashCommand::Remove {
                entry_id: nth_entry(s, n)?,
            },
            Op::Move(n, to) => {
                let e = s.cash.entries.get(&nth_entry(s, n)?)?;
                let len = s.cash.lists.get(&e.list_id)?.queue.len();
                CashCommand::Move {
                    entry_id: e.id,
                    to_index: to % len,
                    reason: "test".into(),
                }
            }
            Op::Leave(t, seat) => CashCommand::Leave {
                table_id: table(t),
                seat,
            },
            Op::Change(a, b, c, d) => CashCommand::ChangeSeat {
                from_table: table(a),
                from_seat: b,
                to_table: table(c),
                to_seat: d,
                at_ms: *now,
            },
            Op::Tick(ms) => {
                *now += ms;
                return None;
            }
            Op::JoinCallIn(p, l) => CashCommand::Join {
                entry_id: id(10_000 + *fresh),
                list_id: list(l),
                player_id: player(p),
                at_ms: *now,
                call_in_until: Some(*now + 600_000),
            },
            Op::Arrived(n) => CashCommand::Arrived {
                entry_id: nth_entry(s, n)?,
            },
            Op::SeatChange(t, seat) => CashCommand::RequestSeatChange {
                request_id: id(20_000 + *fresh),
                table_id: table(t),
                seat,
                wants: None,
                at_ms: *now,
            },
            Op::SetGame(t, plo) => {
                let (game, stakes) = if plo {
                    (Game::Plo, Stakes::new(2, 5))
                } else {
                    (Game::Nlhe, Stakes::new(1, 2))
                };
                return Some(Command::SetTableGame {
                    table_id: table(t),
                    game,
                    stakes: stakes.unwrap_or_else(|_| unreachable!()),
                });
            }
            Op::MustMove(t) => CashCommand::SetMustMove {
                table_id: table(t),
                must_move: true,
            },
        };
        Some(Command::Cash(c))
    }

    fn relative_order(before: &[Uuid], after: &[Uuid]) -> bool {
        let kept: Vec<&Uuid> = before.iter().filter(|id| after.contains(id)).collect();
        let after_kept: Vec<&Uuid> = after.iter().filter(|id| before.contains(id)).collect();
        kept == after_kept
    }

    fn check_invariants(s: &VenueState) -> Result<(), TestCaseError> {
        let mut seen = BTreeSet::new();
        for seat in s.cash.seats.values() {
            prop_assert!(
                seen.insert(seat.player_id),
                "player {} is in two seats",
                seat.player_id
            );
            let table = &s.tables[&seat.table_id];
            for e in s
                .cash
                .entries
                .values()
                .filter(|e| e.player_id == seat.player_id)
            {
                let l = &s.cash.lists[&e.list_id];
                prop_assert!(
                    !(l.game == table.game && l.stakes == table.stakes),
                    "seated and still waiting for the same game"
                );
            }
        }
        for l in s.cash.lists.values() {
            for eid in &l.queue {
                prop_assert!(s.cash.entries.get(eid).is_some_and(|e| e.list_id == l.id));
            }
        }
        prop_assert_eq!(
            s.cash.entries.len(),
            s.cash.lists.values().map(|l| l.queue.len()).sum::<usize>()
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn seats_lists_and_order_stay_sound_whatever_staff_do(ops in proptest::collection::vec(op(), 1..120), removes in any::<bool>()) {
            let mut s = room(removes);
            let (mut now, mut fresh) = (1_000_000u64, 0u128);
            for op in &ops {
                let Some(command) = to_command(&s, op, &mut now, &mut fresh) else { continue };
                let before: BTreeMap<Uuid, Vec<Uuid>> = s.cash.lists.iter().map(|(k, l)| (*k, l.queue.clone())).collect();
                let before_entries: BTreeMap<Uuid, Uuid> = s.cash.entries.values().map(|e| (e.id, e.player_id)).collect();
                let Some(event) = run(&mut s, command) else { continue };
                check_invariants(&s)?;
                let seated_from = match &event {
                    EventKind::Cash(CashEvent::PlayerSeated { player_id, from_entry, .. }) => Some((*player_id, *from_entry)),
                    EventKind::Cash(CashEvent::PlayerChangedSeat { from_entry: Some(e), .. }) => {
                        before_entries.get(e).map(|p| (*p, Some(*e)))
                    }
                    _ => None,
                };
                if let Some((player_id, from_entry)) = &seated_from {
                    // Never still waiting on the list they were seated from (nor on any, if the venue says so).
                    let from_list = from_entry.and_then(|e| before.iter().find(|(_, q)| q.contains(&e)).map(|(l, _)| *l));
                    for e in s.cash.entries.values().filter(|e| e.player_id == *player_id) {
                        prop_assert!(!removes, "seated, yet still on a list");
                        prop_assert!(e.call.is_none(), "seated, yet still called on another list");
                        prop_assert!(Some(e.list_id) != from_list, "seated, yet still on the list they were seated from");
                    }
                }
                let explicit_move = matches!(event, EventKind::Cash(CashEvent::WaitEntryMoved { .. })
                    | EventKind::Cash(CashEvent::PlayerNoShow { moved_to: Some(_), .. }));
                if !explicit_move {
                    for (lid, q) in &before {
                        prop_assert!(relative_order(q, &s.cash.lists[lid].queue), "order changed on {:?}", event);
                    }
                }
            }
        }

        #[test]
        fn replaying_the_events_rebuilds_the_same_state(ops in proptest::collection::vec(op(), 1..80)) {
            let mut s = room(true);
            let mut events = Vec::new();
            let (mut now, mut fresh) = (1_000_000u64, 0u128);
            for op in &ops {
                let Some(command) = to_command(&s, op, &mut now, &mut fresh) else { continue };
                if let Some(e) = run(&mut s, command) { events.push(e) }
            }
            let mut replayed = room(true);
            for e in &events {
                // Through the wire form, as the log stores them.
                let (kind, payload) = e.to_parts();
                let back = EventKind::from_parts(&kind, &payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&back, e);
                replayed.apply(&back);
            }
            prop_assert_eq!(replayed, s);
        }

        #[test]
        fn list_merge_is_commutative_associative_and_idempotent(
            ops in proptest::collection::vec((0..3usize, 0..8u128, 0..50u64, any::<bool>()), 0..60)
        ) {
            let mut r = [ListReplica::default(), ListReplica::default(), ListReplica::default()];
            for (which, entry, t, remove) in ops {
                let h = Hlc { wall_ms: t, counter: 0 };
                if remove { r[which].remove(id(entry)) } else { r[which].add(id(entry), h, player(entry)) }
            }
            let [a, b, c] = &r;
            prop_assert_eq!(a.merge(b), b.merge(a));
            prop_assert_eq!(a.merge(b).merge(c), a.merge(&b.merge(c)));
            prop_assert_eq!(a.merge(a), a.clone());
            // A removal on either side wins over an add of the same entry.
            let merged = a.merge(b);
            for gone in a.removed.union(&b.removed) {
                prop_assert!(!merged.order().contains(gone));
            }
            // Order is by join time.
            let order = merged.order();
            for w in order.windows(2) {
                prop_assert!(merged.joined[&w[0]].0 <= merged.joined[&w[1]].0);
            }
        }
    }

    #[test]
    fn a_call_that_runs_out_is_due_once_and_then_never_again() {
        let mut s = room(true);
        run(
            &mut s,
            Command::Cash(CashCommand::Join {
                entry_id: id(1),
                list_id: list(0),
                player_id: player(0),
                at_ms: 0,
                call_in_until: None,
            }),
        );
        run(
            &mut s,
            Command::Cash(CashCommand::CallNext {
                list_id: list(0),
                at_ms: 1_000,
            }),
        );
        assert!(s.cash.due(1_000 + 179_999).is_empty());
        let due = s.cash.due(181_000);
        assert_eq!(due.len(), 1);
        assert!(run(&mut s, Command::Cash(due[0].clone())).is_some());
        assert!(s.cash.due(181_000).is_empty());
        assert!(
            s.decide(&Command::Cash(due[0].clone())).is_err(),
            "the same timeout twice"
        );
        assert!(
            s.cash.entries.is_empty(),
            "dropped under the default policy"
        );
    }

    #[test]
    fn a_no_show_moves_down_under_that_policy() {
        let mut s = room(true);
        let policy = CashPolicy {
            no_show: NoShowPolicy::MoveDown { places: 2 },
            ..CashPolicy::default()
        };
        run(&mut s, Command::Cash(CashCommand::SetPolicy(policy)));
        for p in 0..4 {
            run(
                &mut s,
                Command::Cash(CashCommand::Join {
                    entry_id: id(p + 1),
                    list_id: list(0),
                    player_id: player(p),
                    at_ms: p as u64,
                    call_in_until: None,
                }),
            );
        }
        run(
            &mut s,
            Command::Cash(CashCommand::CallNext {
                list_id: list(0),
                at_ms: 10,
            }),
        );
        run(
            &mut s,
            Command::Cash(CashCommand::NoShow { entry_id: id(1) }),
        );
        assert_eq!(
            s.cash.lists[&list(0)].queue,
            vec![id(2), id(3), id(1), id(4)]
        );
        assert!(s.cash.entries[&id(1)].call.is_none());
    }

    #[test]
    fn seating_into_a_taken_seat_or_a_closed_table_is_refused_with_the_reason() {
        let mut s = room(true);
        run(
            &mut s,
            Command::Cash(CashCommand::Seat {
                player_id: player(0),
                entry_id: None,
                table_id: table(0),
                seat: 1,
                at_ms: 0,
            }),
        );
        let err = s.decide(&Command::Cash(CashCommand::Seat {
            player_id: player(1),
            entry_id: None,
            table_id: table(0),
            seat: 1,
            at_ms: 0,
        }));
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("T0 seat 1 is taken by Player 0".into())
        );
        let err = s.decide(&Command::Cash(CashCommand::CallNext {
            list_id: list(0),
            at_ms: 0,
        }));
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("the list is empty: no one to call".into())
        );
        run(
            &mut s,
            Command::Cash(CashCommand::Leave {
                table_id: table(0),
                seat: 1,
            }),
        );
        run(&mut s, Command::CloseTable { table_id: table(0) });
        let err = s.decide(&Command::Cash(CashCommand::Seat {
            player_id: player(1),
            entry_id: None,
            table_id: table(0),
            seat: 2,
            at_ms: 0,
        }));
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("table T0 is closed".into())
        );
    }

    #[test]
    fn the_wait_estimate_is_unknown_until_there_is_turnover_then_a_range() {
        let mut cash = CashState::default();
        assert_eq!(estimate_wait(&cash, list(0), 0, 0), WaitEstimate::Unknown);
        cash.seatings.insert(list(0), vec![0, 600_000, 1_200_000]);
        // One seat every 10 minutes: third in line expects ~30, shown as 15 to 45.
        assert_eq!(
            estimate_wait(&cash, list(0), 2, 1_300_000),
            WaitEstimate::Range {
                min_minutes: 15,
                max_minutes: 45
            }
        );
        assert_eq!(
            estimate_wait(&cash, list(0), 2, 1_200_000 + TURNOVER_HORIZON_MS + 1),
            WaitEstimate::Unknown
        );
    }
}
