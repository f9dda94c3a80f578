//! Cash games: who sits where, the waiting lists, calls and no-shows.
//!
//! `decide` checks a command against the venue state and returns the one
//! event that records it; `apply` folds the event in. Events carry every
//! outcome (the index a no-show moved to, the entries a seating cleared), so
//! replaying them never re-decides anything. Time is an input (`at_ms`).
//!
//! `decide` and `apply` are in their own files, with the rows an event touches
//! (`rows`), the wait estimate (`estimate`) and the list replica (`replica`);
//! the types are here and the tests in `tests.rs`.

use crate::hlc::Hlc;
use crate::venue::{DomainError, Game, Stakes, TableStatus, VenueState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

mod apply;
mod decide;
mod estimate;
mod replica;
mod rows;

pub use apply::*;
pub use decide::*;
pub use estimate::*;
pub use replica::*;
pub use rows::*;

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

/// A list of players waiting for one game at one stake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingList {
    pub id: Uuid,
    pub game: Game,
    pub stakes: Stakes,
    /// Entry ids, first to be called first.
    pub queue: Vec<Uuid>,
    /// The last few players taken off or marked no-show, most recent last:
    /// staff can put them back where they were (`CashCommand::Restore`).
    pub off: Vec<OffList>,
}

/// How many recent removals a list keeps for undo.
pub const MAX_OFF: usize = 5;

/// An entry as it was just before a no-show or a removal, and its place then (0-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffList {
    pub entry: WaitEntry,
    pub place: usize,
    pub no_show: bool,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A list nobody waits on any more is closed.
    CloseList {
        list_id: Uuid,
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
    /// Undo a recent no-show or removal: back to the place they had.
    Restore {
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
    /// An empty list closed (a new one for the game can be opened later).
    WaitingListClosed {
        list_id: Uuid,
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
    /// A no-show or removal undone: the entry is back at place `to`
    /// (0-based), uncalled, with the time it first joined. An entry that a
    /// no-show only moved down moves back up.
    WaitEntryRestored {
        entry_id: Uuid,
        list_id: Uuid,
        player_id: Uuid,
        joined_ms: u64,
        call_in_until: Option<u64>,
        arrived: bool,
        to: usize,
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

#[cfg(test)]
pub(crate) mod tests;
