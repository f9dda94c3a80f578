//! A tournament's field: entries, seats, balancing, breaks, bust-outs, places, payouts, Day 2 and undo.
//!
//! Pure like the rest of `shared`: the seed of every draw comes in with the
//! command and is recorded in the event, so a draw can be replayed and audited.
//!
//! The types are here; `field` reads the field, `balance` moves players and
//! breaks tables, `decide` and `apply` (and `undo`) run the commands; the
//! tests are in `tests.rs`.

use crate::tournament::clock::ClockState;
use crate::tournament::structure::Structure;
use crate::venue::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

mod apply;
mod balance;
mod decide;
mod field;
mod undo;

/// A small, fast, well-mixed generator (SplitMix64): enough for a fair seat
/// draw, and the same everywhere for the same seed.
#[derive(Debug, Clone)]
pub struct Draw(u64);

impl Draw {
    pub fn new(seed: u64) -> Draw {
        Draw(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }
}

/// A table in a tournament, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayTable {
    pub number: u16,
    pub seats: u8,
    pub broken: bool,
    /// The dealer button's seat, as the dealer last reported it.
    #[serde(default)]
    pub button: Option<u8>,
}

/// (table number, seat).
pub type SeatRef = (u16, u8);

/// One bullet: a player's entry or re-entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bullet {
    pub id: Uuid,
    pub player_id: Uuid,
    pub reentry: bool,
    pub seat: Option<SeatRef>,
    pub busted: bool,
    pub rebuys: u32,
    pub addons: u32,
    /// The seat they busted from (for undo).
    #[serde(default)]
    pub left_seat: Option<SeatRef>,
    /// A counted stack: bagged at the end of a flight, carried into Day 2.
    #[serde(default)]
    pub chips: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Registering,
    Running,
    Finished,
    /// A starting flight that has ended: its survivors' stacks are bagged for Day 2.
    Bagged,
}

/// What makes a tournament a Day 2: the flights it was drawn from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day2 {
    pub flights: Vec<Uuid>,
    /// Entries over all flights (the field the payouts are for).
    pub entries: u64,
    /// The flights' prize pools together.
    pub prize_pool: u64,
    /// The step Day 2 starts at: where the furthest flight stopped.
    pub start_step: usize,
}

/// One survivor carried into Day 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day2Entrant {
    pub bullet_id: Uuid,
    pub player_id: Uuid,
    pub chips: u64,
    pub flight: Uuid,
}

/// A place paid: its share and amount (information only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub place: u32,
    /// Tenths of a percent.
    pub permille: u32,
    pub amount: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tournament {
    pub id: Uuid,
    pub name: String,
    pub structure: Structure,
    pub status: Status,
    pub clock: ClockState,
    pub tables: Vec<PlayTable>,
    /// Stored as rows of their own, not in the tournament's state JSON.
    #[serde(default, skip_serializing)]
    pub bullets: BTreeMap<Uuid, Bullet>,
    /// Bullets in the order they busted (a hand's busts in the order the director entered them).
    #[serde(default, skip_serializing)]
    pub bust_order: Vec<Uuid>,
    pub late_reg_closed: bool,
    /// Set when this is a Day 2 drawn from flights.
    #[serde(default)]
    pub day2: Option<Day2>,
    /// Set on a flight once a Day 2 has drawn its survivors.
    #[serde(default)]
    pub fed_day2: Option<Uuid>,
    /// The step the clock showed when the flight was bagged.
    #[serde(default)]
    pub bagged_at_step: Option<usize>,
}

/// A move the balancing rule suggests; staff confirm it with `PlayCommand::Move`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceMove {
    pub bullet_id: Uuid,
    pub from: SeatRef,
    pub to: SeatRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub entries: u64,
    pub players_left: u64,
    pub reentries: u64,
    pub total_chips: u64,
    pub average_stack: u64,
}

/// How an undo puts things back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Restore {
    Unbust {
        bullet_id: Uuid,
        seat: Option<SeatRef>,
    },
    MoveBack {
        bullet_id: Uuid,
        to: SeatRef,
    },
    Unregister {
        bullet_id: Uuid,
    },
    ClockBack {
        clock: ClockState,
    },
    Unrebuy {
        bullet_id: Uuid,
    },
    Unaddon {
        bullet_id: Uuid,
    },
}

/// What can happen to a tournament's field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayCommand {
    Start {
        at_ms: i64,
    },
    Register {
        bullet_id: Uuid,
        player_id: Uuid,
        seed: u64,
        at_ms: i64,
        override_late_reg: bool,
    },
    Bust {
        bullet_id: Uuid,
    },
    CloseLateReg,
    Pause {
        at_ms: i64,
    },
    Resume {
        at_ms: i64,
    },
    AddTime {
        delta_ms: i64,
        at_ms: i64,
    },
    Jump {
        to_step: usize,
        at_ms: i64,
    },
    SetButton {
        table: u16,
        seat: u8,
    },
    /// Move a player (a balancing move staff confirmed, or any seat change).
    Move {
        bullet_id: Uuid,
        to: SeatRef,
    },
    /// Break a table: its players are drawn into the open seats left, fewest-player tables first.
    BreakTable {
        table: u16,
        seed: u64,
    },
    /// Reverse an earlier event of this tournament (a bust-out, a move, an entry, a clock change).
    Undo {
        event: PlayEvent,
    },
    Rebuy {
        bullet_id: Uuid,
        at_ms: i64,
    },
    AddOn {
        bullet_id: Uuid,
        at_ms: i64,
    },
    /// Everyone left fits at `table`: redraw them all into random seats there; other tables break.
    FinalTable {
        table: u16,
        seed: u64,
    },
    /// End a starting flight: every survivor's counted stack, for Day 2.
    Bag {
        stacks: Vec<(Uuid, u64)>,
        at_ms: i64,
    },
}

/// The events they record. Each carries its outcome (the seat drawn, with the seed that drew it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PlayEvent {
    Started {
        at_ms: i64,
    },
    Registered {
        bullet_id: Uuid,
        player_id: Uuid,
        reentry: bool,
        seat: Option<SeatRef>,
        seed: u64,
        override_late_reg: bool,
    },
    Busted {
        bullet_id: Uuid,
        finished: bool,
        /// The seat they left, so an undo can put them back.
        #[serde(default)]
        seat: Option<SeatRef>,
    },
    LateRegClosed,
    /// The clock after a pause, resume, added time or jump: the outcome, so replay never recomputes it.
    ClockSet {
        action: String,
        clock: ClockState,
        /// The clock before, so an undo can restore it.
        #[serde(default)]
        before: Option<ClockState>,
    },
    /// A mistake put right: names what it reverses and how. The log stays append-only.
    Undone {
        what: String,
        restore: Restore,
    },
    ButtonSet {
        table: u16,
        seat: u8,
    },
    Moved {
        bullet_id: Uuid,
        from: SeatRef,
        to: SeatRef,
    },
    TableBroken {
        table: u16,
        seed: u64,
        moves: Vec<(Uuid, SeatRef)>,
    },
    Rebought {
        bullet_id: Uuid,
    },
    AddedOn {
        bullet_id: Uuid,
    },
    FinalTableDrawn {
        table: u16,
        seed: u64,
        seats: Vec<(Uuid, SeatRef)>,
    },
    Bagged {
        stacks: Vec<(Uuid, u64)>,
        step: usize,
    },
}

impl PlayEvent {
    /// The entries whose rows this event changes; None for all of them.
    pub fn bullets(&self) -> Option<Vec<Uuid>> {
        Some(match self {
            PlayEvent::Started { .. } => return None,
            PlayEvent::Registered { bullet_id, .. }
            | PlayEvent::Busted { bullet_id, .. }
            | PlayEvent::Moved { bullet_id, .. }
            | PlayEvent::Rebought { bullet_id }
            | PlayEvent::AddedOn { bullet_id } => vec![*bullet_id],
            PlayEvent::Undone { restore, .. } => match restore {
                Restore::Unbust { bullet_id, .. }
                | Restore::MoveBack { bullet_id, .. }
                | Restore::Unregister { bullet_id }
                | Restore::Unrebuy { bullet_id }
                | Restore::Unaddon { bullet_id } => vec![*bullet_id],
                Restore::ClockBack { .. } => vec![],
            },
            PlayEvent::TableBroken { moves, .. } => moves.iter().map(|m| m.0).collect(),
            PlayEvent::FinalTableDrawn { seats, .. } => seats.iter().map(|m| m.0).collect(),
            PlayEvent::Bagged { stacks, .. } => stacks.iter().map(|m| m.0).collect(),
            PlayEvent::LateRegClosed | PlayEvent::ClockSet { .. } | PlayEvent::ButtonSet { .. } => {
                vec![]
            }
        })
    }
}

pub(crate) fn conflict(m: impl Into<String>) -> DomainError {
    DomainError::Conflict(m.into())
}

#[cfg(test)]
mod tests;
