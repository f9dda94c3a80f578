//! A tournament's field: entries, seats, balancing, breaks, bust-outs, places, payouts, Day 2 and undo.
//!
//! Pure like the rest of `shared`: the seed of every draw comes in with the
//! command and is recorded in the event, so a draw can be replayed and audited.

use super::clock::ClockState;
use super::structure::Structure;
use crate::venue::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

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

impl Tournament {
    pub fn new(id: Uuid, structure: Structure, tables: u16, seats: u8) -> Tournament {
        Tournament {
            id,
            name: structure.name.clone(),
            structure,
            status: Status::Registering,
            clock: ClockState::default(),
            tables: (1..=tables)
                .map(|number| PlayTable {
                    number,
                    seats,
                    broken: false,
                    button: None,
                })
                .collect(),
            bullets: BTreeMap::new(),
            bust_order: Vec::new(),
            late_reg_closed: false,
            day2: None,
            fed_day2: None,
            bagged_at_step: None,
        }
    }

    /// A Day 2 from the flights' bagged survivors (seats are drawn at its start).
    pub fn new_day2(
        id: Uuid,
        structure: Structure,
        tables: u16,
        seats: u8,
        day2: Day2,
        entrants: &[Day2Entrant],
    ) -> Tournament {
        let mut t = Tournament::new(id, structure, tables, seats);
        for e in entrants {
            t.bullets.insert(
                e.bullet_id,
                Bullet {
                    id: e.bullet_id,
                    player_id: e.player_id,
                    reentry: false,
                    seat: None,
                    busted: false,
                    rebuys: 0,
                    addons: 0,
                    left_seat: None,
                    chips: Some(e.chips),
                },
            );
        }
        t.late_reg_closed = true;
        t.day2 = Some(day2);
        t
    }

    pub fn alive(&self) -> impl Iterator<Item = &Bullet> {
        self.bullets.values().filter(|b| !b.busted)
    }

    fn taken(&self) -> BTreeSet<SeatRef> {
        self.alive().filter_map(|b| b.seat).collect()
    }

    /// Every open seat at tables still in play, in table and seat order.
    pub fn open_seats(&self) -> Vec<SeatRef> {
        let taken = self.taken();
        self.tables
            .iter()
            .filter(|t| !t.broken)
            .flat_map(|t| (1..=t.seats).map(move |s| (t.number, s)))
            .filter(|s| !taken.contains(s))
            .collect()
    }

    /// Draws a seat for a new entry: a random open seat at one of the tables
    /// with the fewest players, so late entries keep the room balanced.
    pub fn draw_seat(&self, seed: u64) -> Option<SeatRef> {
        let open = self.open_seats();
        let counts = self.counts();
        let count = |t: u16| counts.get(&t).copied().unwrap_or(0);
        let fewest = open.iter().map(|s| count(s.0)).min()?;
        let candidates: Vec<SeatRef> = open.into_iter().filter(|s| count(s.0) == fewest).collect();
        let mut rng = Draw::new(seed);
        Some(candidates[rng.below(candidates.len())])
    }

    /// Can a new bullet come in now? Late registration runs through its level
    /// and the break after it, until the director closes it early.
    pub fn registration_open(&self, now_ms: i64) -> bool {
        if self.day2.is_some() {
            return false;
        }
        match self.status {
            Status::Registering => true,
            Status::Finished | Status::Bagged => false,
            Status::Running => {
                !self.late_reg_closed
                    && self
                        .structure
                        .late_reg_until_level
                        .is_some_and(|last| self.clock.view(&self.structure, now_ms).level <= last)
            }
        }
    }

    /// Finishing places: the winner 1, then busts from the last to the first.
    /// A bullet still in play has no place until the end.
    pub fn places(&self) -> BTreeMap<Uuid, u32> {
        let n = self.bullets.len() as u32;
        let mut out: BTreeMap<Uuid, u32> = self
            .bust_order
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, n - i as u32))
            .collect();
        if self.status == Status::Finished {
            for b in self.alive() {
                out.insert(b.id, 1);
            }
        }
        out
    }

    /// Entries, players left, re-entries, chips in play and the average stack.
    pub fn stats(&self) -> Stats {
        let s = &self.structure;
        let chips = self.bullets.values().fold(0u64, |acc, b| {
            if let Some(counted) = b.chips {
                return acc + counted;
            }
            let stack = if b.reentry {
                s.reentry.chips.max(s.starting_stack)
            } else {
                s.starting_stack
            };
            acc + stack + b.rebuys as u64 * s.rebuy.chips + b.addons as u64 * s.addon.chips
        });
        let left = self.alive().count() as u64;
        Stats {
            entries: self.bullets.len() as u64,
            players_left: left,
            reentries: self.bullets.values().filter(|b| b.reentry).count() as u64,
            total_chips: chips,
            average_stack: chips.checked_div(left).unwrap_or(0),
        }
    }

    /// The prize pool (information only): buy-ins, re-entries, rebuys and
    /// add-ons at their prices, at least the guarantee; a Day 2 carries its flights'.
    pub fn prize_pool(&self) -> u64 {
        self.collected().max(self.structure.guarantee)
    }

    /// The prize pool without the guarantee (what a flight hands to Day 2).
    pub(crate) fn collected(&self) -> u64 {
        let s = &self.structure;
        match &self.day2 {
            Some(d) => d.prize_pool,
            None => self.bullets.values().fold(0u64, |acc, b| {
                let entry = if b.reentry && s.reentry.price > 0 {
                    s.reentry.price
                } else {
                    s.buy_in
                };
                acc + entry + b.rebuys as u64 * s.rebuy.price + b.addons as u64 * s.addon.price
            }),
        }
    }

    /// The field the payouts are for: a Day 2 counts every flight's entries.
    pub fn field(&self) -> u64 {
        self.day2
            .as_ref()
            .map_or(self.bullets.len() as u64, |d| d.entries)
    }

    /// Each paid place with its share and amount; rounding leftovers go to the winner.
    pub fn payouts(&self) -> Vec<Payout> {
        let pool = self.prize_pool();
        let table = self.structure.payout_table(self.field());
        let mut out: Vec<Payout> = table
            .iter()
            .enumerate()
            .map(|(i, permille)| Payout {
                place: i as u32 + 1,
                permille: *permille,
                amount: pool * *permille as u64 / 1000,
            })
            .collect();
        let paid: u64 = out.iter().map(|p| p.amount).sum();
        if let Some(first) = out.first_mut() {
            first.amount += pool - paid;
        }
        out
    }

    /// Who gets into Day 2 from these flights: every bagged survivor with
    /// their stack; a player who bagged in two flights keeps the bigger stack.
    pub fn day2_entrants(flights: &[&Tournament]) -> Vec<Day2Entrant> {
        let mut best: BTreeMap<Uuid, Day2Entrant> = BTreeMap::new();
        for f in flights {
            for b in f.alive() {
                let e = Day2Entrant {
                    bullet_id: b.id,
                    player_id: b.player_id,
                    chips: b.chips.unwrap_or(0),
                    flight: f.id,
                };
                match best.get(&b.player_id) {
                    Some(kept) if kept.chips >= e.chips => {}
                    _ => {
                        best.insert(b.player_id, e);
                    }
                }
            }
        }
        let mut out: Vec<Day2Entrant> = best.into_values().collect();
        out.sort_by_key(|e| e.bullet_id);
        out
    }

    /// The Day 2 figures from its flights.
    pub fn day2_of(flights: &[&Tournament]) -> Day2 {
        Day2 {
            flights: flights.iter().map(|f| f.id).collect(),
            entries: flights.iter().map(|f| f.bullets.len() as u64).sum(),
            prize_pool: flights.iter().map(|f| f.collected()).sum(),
            start_step: flights
                .iter()
                .filter_map(|f| f.bagged_at_step)
                .max()
                .unwrap_or(0),
        }
    }

    /// The level a rebuy or add-on is still allowed in.
    fn entry_rule_open(&self, rule: &super::structure::EntryRule, now_ms: i64) -> bool {
        if !rule.allowed {
            return false;
        }
        match rule.until_level {
            Some(last) => self.clock.view(&self.structure, now_ms).level <= last,
            None => self.registration_open(now_ms),
        }
    }
}

impl Tournament {
    /// What undoing `event` takes, if it can still be undone: only the latest
    /// bust-out (places follow bust order), a move whose old seat is still
    /// free, an entry still in play, a clock change nothing has changed since.
    fn decide_undo(&self, event: &PlayEvent) -> Result<PlayEvent, DomainError> {
        let cannot = |why: &str| Err(conflict(format!("cannot undo: {why}")));
        let (what, restore) = match event.clone() {
            PlayEvent::Busted {
                bullet_id, seat, ..
            } => {
                if self.bust_order.last() != Some(&bullet_id) {
                    return cannot("only the latest bust-out can be undone");
                }
                if let Some(seat) = seat {
                    if self.taken().contains(&seat) {
                        return cannot("their seat has been taken since");
                    }
                }
                ("bust-out", Restore::Unbust { bullet_id, seat })
            }
            PlayEvent::Moved {
                bullet_id,
                from,
                to,
            } => {
                let here = self
                    .bullets
                    .get(&bullet_id)
                    .filter(|b| !b.busted)
                    .and_then(|b| b.seat);
                if here != Some(to) {
                    return cannot("the player has moved or left since");
                }
                if self.taken().contains(&from) {
                    return cannot("their old seat has been taken since");
                }
                (
                    "move",
                    Restore::MoveBack {
                        bullet_id,
                        to: from,
                    },
                )
            }
            PlayEvent::Registered { bullet_id, .. } => {
                match self.bullets.get(&bullet_id) {
                    Some(b) if !b.busted => {}
                    _ => return cannot("that entry is out or gone"),
                }
                ("entry", Restore::Unregister { bullet_id })
            }
            PlayEvent::ClockSet {
                clock,
                before: Some(before),
                action,
            } => {
                if self.clock != clock {
                    return cannot("the clock has changed since");
                }
                let _ = action;
                ("clock change", Restore::ClockBack { clock: before })
            }
            PlayEvent::Rebought { bullet_id } => {
                if self.bullets.get(&bullet_id).is_none_or(|b| b.rebuys == 0) {
                    return cannot("that entry has no rebuy to take back");
                }
                ("rebuy", Restore::Unrebuy { bullet_id })
            }
            PlayEvent::AddedOn { bullet_id } => {
                if self.bullets.get(&bullet_id).is_none_or(|b| b.addons == 0) {
                    return cannot("that entry has no add-on to take back");
                }
                ("add-on", Restore::Unaddon { bullet_id })
            }
            _ => return cannot("that kind of action is not undoable"),
        };
        Ok(PlayEvent::Undone {
            what: what.to_string(),
            restore,
        })
    }
}

/// A move the balancing rule suggests; staff confirm it with `PlayCommand::Move`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceMove {
    pub bullet_id: Uuid,
    pub from: SeatRef,
    pub to: SeatRef,
}

impl Tournament {
    /// Players per table in play.
    pub fn counts(&self) -> BTreeMap<u16, usize> {
        let mut counts: BTreeMap<u16, usize> = self
            .tables
            .iter()
            .filter(|t| !t.broken)
            .map(|t| (t.number, 0))
            .collect();
        for b in self.alive() {
            if let Some((t, _)) = b.seat {
                *counts.entry(t).or_default() += 1;
            }
        }
        counts
    }

    /// Occupied seats of a table, clockwise from just after the button (seat order without one).
    fn clockwise_from_button(&self, table: u16) -> Vec<(u8, Uuid)> {
        let button = self
            .tables
            .iter()
            .find(|t| t.number == table)
            .and_then(|t| t.button)
            .unwrap_or(0);
        let mut seats: Vec<(u8, Uuid)> = self
            .alive()
            .filter_map(|b| b.seat.filter(|s| s.0 == table).map(|s| (s.1, b.id)))
            .collect();
        seats.sort_by_key(|(seat, _)| (*seat <= button, *seat));
        seats
    }

    /// The TDA rule: when tables differ by more than one player, the player due
    /// the big blind next at the longest table moves to the worst position (the
    /// open seat that posts the big blind soonest) at the shortest.
    pub fn balance_suggestion(&self) -> Option<BalanceMove> {
        let counts = self.counts();
        let (&long, &most) = counts
            .iter()
            .max_by_key(|(t, c)| (**c, std::cmp::Reverse(**t)))?;
        let (&short, &fewest) = counts.iter().min_by_key(|(t, c)| (**c, **t))?;
        if most <= fewest + 1 {
            return None;
        }
        // After the button come the small and the big blind; the next seat is due the big blind next hand.
        let order = self.clockwise_from_button(long);
        let (from_seat, bullet_id) = *order.get(2 % order.len().max(1))?;
        let open: Vec<u8> = self
            .open_seats()
            .into_iter()
            .filter(|s| s.0 == short)
            .map(|s| s.1)
            .collect();
        let short_order = self.clockwise_from_button(short);
        let big_blind = short_order
            .get(1 % short_order.len().max(1))
            .map(|(s, _)| *s);
        let to_seat = match big_blind {
            Some(bb) => open
                .iter()
                .copied()
                .find(|s| *s > bb)
                .or_else(|| open.first().copied()),
            None => open.first().copied(),
        }?;
        Some(BalanceMove {
            bullet_id,
            from: (long, from_seat),
            to: (short, to_seat),
        })
    }

    /// The table to break next, in a fixed order (the highest number first),
    /// once everyone left fits on one table fewer.
    pub fn table_to_break(&self) -> Option<u16> {
        let in_play: Vec<&PlayTable> = self.tables.iter().filter(|t| !t.broken).collect();
        if in_play.len() < 2 {
            return None;
        }
        let players = self.alive().filter(|b| b.seat.is_some()).count();
        let highest = in_play.iter().max_by_key(|t| t.number)?;
        let room_without: usize = in_play
            .iter()
            .filter(|t| t.number != highest.number)
            .map(|t| t.seats as usize)
            .sum();
        (players <= room_without).then_some(highest.number)
    }
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

fn conflict(m: impl Into<String>) -> DomainError {
    DomainError::Conflict(m.into())
}

impl Tournament {
    pub fn decide(&self, command: &PlayCommand) -> Result<PlayEvent, DomainError> {
        match command.clone() {
            PlayCommand::Start { at_ms } => match self.status {
                Status::Registering if self.bullets.len() >= 2 => Ok(PlayEvent::Started { at_ms }),
                Status::Registering => {
                    Err(conflict("a tournament needs at least two entries to start"))
                }
                _ => Err(conflict("the tournament has already started")),
            },
            PlayCommand::Register {
                bullet_id,
                player_id,
                seed,
                at_ms,
                override_late_reg,
            } => {
                if self.bullets.contains_key(&bullet_id) {
                    return Err(conflict("that entry already exists"));
                }
                if self.day2.is_some() {
                    return Err(conflict("a Day 2 takes only the flights' survivors"));
                }
                if matches!(self.status, Status::Finished | Status::Bagged) {
                    return Err(conflict("the tournament is over"));
                }
                if !self.registration_open(at_ms) && !override_late_reg {
                    return Err(conflict(
                        "late registration is closed; the director can override it",
                    ));
                }
                let previous: Vec<&Bullet> = self
                    .bullets
                    .values()
                    .filter(|b| b.player_id == player_id)
                    .collect();
                if previous.iter().any(|b| !b.busted) {
                    return Err(conflict("that player is still in the tournament"));
                }
                let reentry = !previous.is_empty();
                if reentry {
                    let rule = self.structure.reentry;
                    if !rule.allowed {
                        return Err(conflict("this tournament has no re-entries"));
                    }
                    if rule.max.is_some_and(|max| previous.len() as u32 > max) {
                        return Err(conflict(format!(
                            "re-entry limit reached ({} allowed)",
                            rule.max.unwrap_or(0)
                        )));
                    }
                    let level = self.clock.view(&self.structure, at_ms).level;
                    let past = rule.until_level.is_some_and(|last| level > last);
                    if past && !override_late_reg {
                        return Err(conflict(format!(
                            "re-entries ended with level {}; the director can override it",
                            rule.until_level.unwrap_or(0)
                        )));
                    }
                }
                let seat = match self.status {
                    Status::Running => Some(
                        self.draw_seat(seed)
                            .ok_or_else(|| conflict("every seat is taken: add a table first"))?,
                    ),
                    _ => None,
                };
                Ok(PlayEvent::Registered {
                    bullet_id,
                    player_id,
                    reentry,
                    seat,
                    seed,
                    override_late_reg,
                })
            }
            PlayCommand::Bust { bullet_id } => {
                let b = self
                    .bullets
                    .get(&bullet_id)
                    .ok_or_else(|| DomainError::NotFound(format!("no entry {bullet_id}")))?;
                if b.busted {
                    return Err(conflict("that player is already out"));
                }
                if self.status != Status::Running {
                    return Err(conflict("the tournament is not running"));
                }
                let left = self.alive().count();
                if left < 2 {
                    return Err(conflict("the last player cannot bust"));
                }
                Ok(PlayEvent::Busted {
                    bullet_id,
                    finished: left == 2,
                    seat: b.seat,
                })
            }
            PlayCommand::CloseLateReg => {
                if self.late_reg_closed {
                    return Err(conflict("late registration is already closed"));
                }
                Ok(PlayEvent::LateRegClosed)
            }
            PlayCommand::Undo { event } => self.decide_undo(&event),
            PlayCommand::Rebuy { bullet_id, at_ms } | PlayCommand::AddOn { bullet_id, at_ms } => {
                let rebuy = matches!(command, PlayCommand::Rebuy { .. });
                let (rule, what) = if rebuy {
                    (self.structure.rebuy, "rebuy")
                } else {
                    (self.structure.addon, "add-on")
                };
                if self.status != Status::Running {
                    return Err(conflict("the tournament is not running"));
                }
                let b = self
                    .bullets
                    .get(&bullet_id)
                    .filter(|b| !b.busted)
                    .ok_or_else(|| conflict("that player is not in"))?;
                if !rule.allowed {
                    return Err(conflict(format!("this tournament has no {what}s")));
                }
                if !self.entry_rule_open(&rule, at_ms) {
                    return Err(conflict(format!("{what}s are over for this tournament")));
                }
                let had = if rebuy { b.rebuys } else { b.addons };
                if let Some(max) = rule.max.filter(|max| had >= *max) {
                    return Err(conflict(format!(
                        "{what} limit reached ({max} allowed per entry)"
                    )));
                }
                Ok(if rebuy {
                    PlayEvent::Rebought { bullet_id }
                } else {
                    PlayEvent::AddedOn { bullet_id }
                })
            }
            PlayCommand::FinalTable { table, seed } => {
                if self.status != Status::Running {
                    return Err(conflict("the tournament is not running"));
                }
                let t = self
                    .tables
                    .iter()
                    .find(|t| t.number == table && !t.broken)
                    .ok_or_else(|| conflict(format!("no table {table} in play")))?;
                let mut field: Vec<Uuid> = self.alive().map(|b| b.id).collect();
                if field.len() > t.seats as usize {
                    return Err(conflict(format!(
                        "{} players left do not fit at table {table} ({} seats)",
                        field.len(),
                        t.seats
                    )));
                }
                let mut seats: Vec<u8> = (1..=t.seats).collect();
                let mut rng = Draw::new(seed);
                // Fisher-Yates over the seats, then the field in id order takes them.
                for i in (1..seats.len()).rev() {
                    seats.swap(i, rng.below(i + 1));
                }
                field.sort();
                Ok(PlayEvent::FinalTableDrawn {
                    table,
                    seed,
                    seats: field
                        .into_iter()
                        .zip(seats)
                        .map(|(id, seat)| (id, (table, seat)))
                        .collect(),
                })
            }
            PlayCommand::Bag { stacks, at_ms } => {
                if self.day2.is_some() {
                    return Err(conflict("a Day 2 is played to the end, not bagged"));
                }
                if self.status != Status::Running {
                    return Err(conflict("only a running flight can be bagged"));
                }
                let alive: BTreeSet<Uuid> = self.alive().map(|b| b.id).collect();
                let given: BTreeSet<Uuid> = stacks.iter().map(|s| s.0).collect();
                if given.len() != stacks.len() {
                    return Err(DomainError::Invalid {
                        field: "stacks",
                        reason: "an entry is counted twice".into(),
                    });
                }
                if let Some(missing) = alive.difference(&given).next() {
                    return Err(DomainError::Invalid {
                        field: "stacks",
                        reason: format!("entry {missing} is still in and has no count"),
                    });
                }
                if let Some(extra) = given.difference(&alive).next() {
                    return Err(DomainError::Invalid {
                        field: "stacks",
                        reason: format!("entry {extra} is not in play"),
                    });
                }
                if let Some((id, _)) = stacks.iter().find(|s| s.1 == 0) {
                    return Err(DomainError::Invalid {
                        field: "stacks",
                        reason: format!("entry {id} has 0 chips: bust them instead"),
                    });
                }
                Ok(PlayEvent::Bagged {
                    stacks,
                    step: self.clock.view(&self.structure, at_ms).step,
                })
            }
            PlayCommand::SetButton { table, seat } => {
                let t = self
                    .tables
                    .iter()
                    .find(|t| t.number == table && !t.broken)
                    .ok_or_else(|| conflict(format!("no table {table} in play")))?;
                if seat == 0 || seat > t.seats {
                    return Err(DomainError::Invalid {
                        field: "seat",
                        reason: format!("table {table} has seats 1 to {}", t.seats),
                    });
                }
                Ok(PlayEvent::ButtonSet { table, seat })
            }
            PlayCommand::Move { bullet_id, to } => {
                let b = self
                    .bullets
                    .get(&bullet_id)
                    .filter(|b| !b.busted)
                    .ok_or_else(|| conflict("that player is not in"))?;
                let from = b
                    .seat
                    .ok_or_else(|| conflict("that player has no seat yet"))?;
                if !self.open_seats().contains(&to) {
                    return Err(conflict(format!(
                        "table {} seat {} is not free",
                        to.0, to.1
                    )));
                }
                Ok(PlayEvent::Moved {
                    bullet_id,
                    from,
                    to,
                })
            }
            PlayCommand::BreakTable { table, seed } => {
                if !self.tables.iter().any(|t| t.number == table && !t.broken) {
                    return Err(conflict(format!("no table {table} in play")));
                }
                let mut after = self.clone();
                if let Some(t) = after.tables.iter_mut().find(|t| t.number == table) {
                    t.broken = true;
                }
                let leaving: Vec<Uuid> = self
                    .alive()
                    .filter(|b| b.seat.map(|s| s.0) == Some(table))
                    .map(|b| b.id)
                    .collect();
                let mut moves = Vec::new();
                for (i, id) in leaving.iter().enumerate() {
                    if let Some(b) = after.bullets.get_mut(id) {
                        b.seat = None;
                    }
                    let seat = after
                        .draw_seat(seed.wrapping_add(i as u64))
                        .ok_or_else(|| conflict("not enough open seats to break this table"))?;
                    if let Some(b) = after.bullets.get_mut(id) {
                        b.seat = Some(seat);
                    }
                    moves.push((*id, seat));
                }
                Ok(PlayEvent::TableBroken { table, seed, moves })
            }
            PlayCommand::Pause { .. }
            | PlayCommand::Resume { .. }
            | PlayCommand::AddTime { .. }
            | PlayCommand::Jump { .. } => {
                if self.status != Status::Running {
                    return Err(conflict("the clock runs once the tournament has started"));
                }
                let mut clock = self.clock.clone();
                let s = &self.structure;
                let action = match command.clone() {
                    PlayCommand::Pause { at_ms } => {
                        if clock.paused_at_ms.is_some() {
                            return Err(conflict("the clock is already paused"));
                        }
                        clock.pause(s, at_ms);
                        "pause".to_string()
                    }
                    PlayCommand::Resume { at_ms } => {
                        if clock.paused_at_ms.is_none() {
                            return Err(conflict("the clock is not paused"));
                        }
                        clock.resume(at_ms);
                        "resume".to_string()
                    }
                    PlayCommand::AddTime { delta_ms, at_ms } => {
                        if delta_ms == 0 || delta_ms.abs() > 60 * 60_000 {
                            return Err(DomainError::Invalid {
                                field: "minutes",
                                reason: "add or remove up to 60 minutes".into(),
                            });
                        }
                        clock.add_time(s, delta_ms, at_ms);
                        format!("time {:+} s", delta_ms / 1000)
                    }
                    PlayCommand::Jump { to_step, at_ms } => {
                        if to_step >= s.steps.len() {
                            return Err(DomainError::Invalid {
                                field: "step",
                                reason: format!(
                                    "the structure has steps 0 to {}",
                                    s.steps.len() - 1
                                ),
                            });
                        }
                        clock.jump(s, to_step, at_ms);
                        format!("jump to step {to_step}")
                    }
                    _ => return Err(conflict("not a clock action")),
                };
                Ok(PlayEvent::ClockSet {
                    action,
                    clock,
                    before: Some(self.clock.clone()),
                })
            }
        }
    }

    pub fn apply(&mut self, event: &PlayEvent) {
        match event.clone() {
            PlayEvent::Started { at_ms } => {
                self.status = Status::Running;
                self.clock.start(at_ms);
                if let Some(step) = self.day2.as_ref().map(|d| d.start_step).filter(|s| *s > 0) {
                    self.clock.jump(&self.structure, step, at_ms);
                    self.clock.remembered.clear();
                }
                // The opening draw: every bullet registered so far, in id order, each with its own draw.
                let ids: Vec<Uuid> = self.bullets.keys().copied().collect();
                let seed = at_ms as u64;
                for (i, id) in ids.into_iter().enumerate() {
                    let seat = self.draw_seat(seed.wrapping_add(i as u64));
                    if let Some(b) = self.bullets.get_mut(&id) {
                        b.seat = seat;
                    }
                }
            }
            PlayEvent::Registered {
                bullet_id,
                player_id,
                reentry,
                seat,
                ..
            } => {
                self.bullets.insert(
                    bullet_id,
                    Bullet {
                        id: bullet_id,
                        player_id,
                        reentry,
                        seat,
                        busted: false,
                        rebuys: 0,
                        addons: 0,
                        left_seat: None,
                        chips: None,
                    },
                );
            }
            PlayEvent::Busted {
                bullet_id,
                finished,
                ..
            } => {
                if let Some(b) = self.bullets.get_mut(&bullet_id) {
                    b.busted = true;
                    b.left_seat = b.seat.take();
                    self.bust_order.push(bullet_id);
                }
                if finished {
                    self.status = Status::Finished;
                }
            }
            PlayEvent::LateRegClosed => self.late_reg_closed = true,
            PlayEvent::ClockSet { clock, .. } => self.clock = clock,
            PlayEvent::Undone { restore, .. } => match restore {
                Restore::Unbust { bullet_id, seat } => {
                    if let Some(b) = self.bullets.get_mut(&bullet_id) {
                        b.busted = false;
                        b.seat = seat;
                        b.left_seat = None;
                    }
                    self.bust_order.retain(|id| *id != bullet_id);
                    if self.status == Status::Finished {
                        self.status = Status::Running;
                    }
                }
                Restore::MoveBack { bullet_id, to } => {
                    if let Some(b) = self.bullets.get_mut(&bullet_id) {
                        b.seat = Some(to);
                    }
                }
                Restore::Unregister { bullet_id } => {
                    self.bullets.remove(&bullet_id);
                }
                Restore::ClockBack { clock } => self.clock = clock,
                Restore::Unrebuy { bullet_id } => {
                    if let Some(b) = self.bullets.get_mut(&bullet_id) {
                        b.rebuys = b.rebuys.saturating_sub(1);
                    }
                }
                Restore::Unaddon { bullet_id } => {
                    if let Some(b) = self.bullets.get_mut(&bullet_id) {
                        b.addons = b.addons.saturating_sub(1);
                    }
                }
            },
            PlayEvent::Rebought { bullet_id } => {
                if let Some(b) = self.bullets.get_mut(&bullet_id) {
                    b.rebuys += 1;
                }
            }
            PlayEvent::AddedOn { bullet_id } => {
                if let Some(b) = self.bullets.get_mut(&bullet_id) {
                    b.addons += 1;
                }
            }
            PlayEvent::FinalTableDrawn { table, seats, .. } => {
                for t in self.tables.iter_mut() {
                    if t.number == table {
                        t.button = None;
                    } else {
                        t.broken = true;
                    }
                }
                for (id, seat) in seats {
                    if let Some(b) = self.bullets.get_mut(&id) {
                        b.seat = Some(seat);
                    }
                }
            }
            PlayEvent::Bagged { stacks, step } => {
                for (id, chips) in stacks {
                    if let Some(b) = self.bullets.get_mut(&id) {
                        b.chips = Some(chips);
                    }
                }
                self.bagged_at_step = Some(step);
                self.status = Status::Bagged;
            }
            PlayEvent::ButtonSet { table, seat } => {
                if let Some(t) = self.tables.iter_mut().find(|t| t.number == table) {
                    t.button = Some(seat);
                }
            }
            PlayEvent::Moved { bullet_id, to, .. } => {
                if let Some(b) = self.bullets.get_mut(&bullet_id) {
                    b.seat = Some(to);
                }
            }
            PlayEvent::TableBroken { table, moves, .. } => {
                if let Some(t) = self.tables.iter_mut().find(|t| t.number == table) {
                    t.broken = true;
                }
                for (id, seat) in moves {
                    if let Some(b) = self.bullets.get_mut(&id) {
                        b.seat = Some(seat);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tournament::structure::templates;
    use proptest::prelude::*;

    fn run(t: &mut Tournament, c: PlayCommand) -> Result<PlayEvent, DomainError> {
        let e = t.decide(&c)?;
        t.apply(&e);
        Ok(e)
    }

    #[test]
    fn the_player_due_the_big_blind_moves_to_the_short_tables_worst_seat() {
        let mut t = Tournament::new(Uuid::nil(), templates()[1].clone(), 2, 9);
        // Table 1: seats 1-8; table 2: seats 1-5 (8 v 5).
        let seats: Vec<SeatRef> = (1..=8)
            .map(|s| (1, s))
            .chain((1..=5).map(|s| (2, s)))
            .collect();
        for (i, seat) in seats.iter().enumerate() {
            t.bullets.insert(
                Uuid::from_u128(i as u128),
                Bullet {
                    id: Uuid::from_u128(i as u128),
                    player_id: Uuid::from_u128(100 + i as u128),
                    reentry: false,
                    seat: Some(*seat),
                    busted: false,
                    rebuys: 0,
                    addons: 0,
                    left_seat: None,
                    chips: None,
                },
            );
        }
        t.status = Status::Running;
        t.tables[0].button = Some(4); // SB 5, BB 6: seat 7 is due the big blind next.
        t.tables[1].button = Some(1); // SB 2, BB 3: the worst open seat is 6.
        let m = t.balance_suggestion().expect("8 v 5 needs a move");
        assert_eq!((m.from, m.to), ((1, 7), (2, 6)));
    }

    fn with_rebuys() -> Structure {
        let mut s = templates()[1].clone();
        s.rebuy = crate::tournament::structure::EntryRule {
            allowed: true,
            max: Some(2),
            chips: 30_000,
            until_level: Some(6),
            price: 100,
        };
        s
    }

    fn field(t: &mut Tournament, players: u128) {
        for i in 0..players {
            run(
                t,
                PlayCommand::Register {
                    bullet_id: Uuid::from_u128(i),
                    player_id: Uuid::from_u128(1000 + i),
                    seed: i as u64,
                    at_ms: 0,
                    override_late_reg: false,
                },
            )
            .expect("register");
        }
    }

    #[test]
    fn rebuys_and_add_ons_keep_to_their_rules_and_feed_the_pool() {
        let mut t = Tournament::new(Uuid::nil(), with_rebuys(), 2, 9);
        field(&mut t, 10);
        let a = Uuid::from_u128(0);
        assert!(
            t.decide(&PlayCommand::Rebuy {
                bullet_id: a,
                at_ms: 0
            })
            .is_err(),
            "not running yet"
        );
        run(&mut t, PlayCommand::Start { at_ms: 0 }).expect("start");
        run(
            &mut t,
            PlayCommand::Rebuy {
                bullet_id: a,
                at_ms: 0,
            },
        )
        .expect("rebuy 1");
        run(
            &mut t,
            PlayCommand::Rebuy {
                bullet_id: a,
                at_ms: 0,
            },
        )
        .expect("rebuy 2");
        let third = t.decide(&PlayCommand::Rebuy {
            bullet_id: a,
            at_ms: 0,
        });
        assert_eq!(
            third,
            Err(conflict("rebuy limit reached (2 allowed per entry)"))
        );
        run(
            &mut t,
            PlayCommand::AddOn {
                bullet_id: a,
                at_ms: 0,
            },
        )
        .expect("add-on");
        assert!(
            t.decide(&PlayCommand::AddOn {
                bullet_id: a,
                at_ms: 0
            })
            .is_err(),
            "one add-on"
        );
        // Daily: 20-minute levels with a break after every 4; level 9 is past both rules.
        let late = (8 * 20 + 2 * 10 + 5) * 60_000;
        assert_eq!(
            t.decide(&PlayCommand::AddOn {
                bullet_id: Uuid::from_u128(1),
                at_ms: late
            }),
            Err(conflict("add-ons are over for this tournament"))
        );
        let s = t.stats();
        assert_eq!(s.total_chips, 10 * 30_000 + 2 * 30_000 + 20_000);
        // 10 buy-ins of 100, 2 rebuys of 100, one add-on of 50 = 1,250; the guarantee is 5,000.
        assert_eq!(t.prize_pool(), 5_000);
        t.structure.guarantee = 0;
        assert_eq!(t.prize_pool(), 1_250);
        let payouts = t.payouts();
        assert_eq!(payouts.iter().map(|p| p.amount).sum::<u64>(), 1_250);
        assert_eq!(payouts.len(), 3);
    }

    #[test]
    fn the_final_table_draw_seats_everyone_left_at_one_table() {
        let mut t = Tournament::new(Uuid::nil(), templates()[1].clone(), 3, 9);
        field(&mut t, 20);
        run(&mut t, PlayCommand::Start { at_ms: 0 }).expect("start");
        let ids: Vec<Uuid> = t.alive().map(|b| b.id).collect();
        assert!(
            t.decide(&PlayCommand::FinalTable { table: 2, seed: 7 })
                .is_err(),
            "20 do not fit"
        );
        for id in &ids[..11] {
            run(&mut t, PlayCommand::Bust { bullet_id: *id }).expect("bust");
        }
        let e = run(&mut t, PlayCommand::FinalTable { table: 2, seed: 7 }).expect("final table");
        assert_eq!(
            t.decide(&PlayCommand::FinalTable { table: 2, seed: 7 })
                .map(|_| ()),
            Ok(())
        );
        let counts = t.counts();
        assert_eq!(counts, BTreeMap::from([(2, 9)]));
        let seats: BTreeSet<SeatRef> = t.alive().filter_map(|b| b.seat).collect();
        assert_eq!(seats.len(), 9);
        // Same seed, same draw.
        let mut again = t.clone();
        again.apply(&e);
        assert_eq!(again, t);
    }

    #[test]
    fn flights_bag_their_survivors_and_day_2_carries_the_stacks() {
        let mut flights = Vec::new();
        for f in 0..2u128 {
            let mut t = Tournament::new(Uuid::from_u128(50 + f), templates()[2].clone(), 2, 9);
            for i in 0..12u128 {
                // Player 1005 plays both flights.
                let player = if i == 5 { 1005 } else { 1000 + f * 100 + i };
                run(
                    &mut t,
                    PlayCommand::Register {
                        bullet_id: Uuid::from_u128(f * 100 + i),
                        player_id: Uuid::from_u128(player),
                        seed: i as u64,
                        at_ms: 0,
                        override_late_reg: false,
                    },
                )
                .expect("register");
            }
            run(&mut t, PlayCommand::Start { at_ms: 0 }).expect("start");
            for i in 6..12u128 {
                run(
                    &mut t,
                    PlayCommand::Bust {
                        bullet_id: Uuid::from_u128(f * 100 + i),
                    },
                )
                .expect("bust");
            }
            let mut stacks: Vec<(Uuid, u64)> = t
                .alive()
                .map(|b| (b.id, 40_000 + b.id.as_u128() as u64))
                .collect();
            let missing = stacks.pop().expect("six left");
            let at = 5 * 40 * 60_000;
            assert!(
                t.decide(&PlayCommand::Bag {
                    stacks: stacks.clone(),
                    at_ms: at
                })
                .is_err(),
                "a survivor without a count"
            );
            stacks.push(missing);
            run(&mut t, PlayCommand::Bag { stacks, at_ms: at }).expect("bag");
            assert_eq!(t.status, Status::Bagged);
            assert!(t
                .decide(&PlayCommand::Bust {
                    bullet_id: Uuid::from_u128(f * 100)
                })
                .is_err());
            flights.push(t);
        }
        let refs: Vec<&Tournament> = flights.iter().collect();
        let entrants = Tournament::day2_entrants(&refs);
        // 6 + 6 survivors, but player 1005 bagged twice: the bigger stack (flight 2's) goes on.
        assert_eq!(entrants.len(), 11);
        let twice: Vec<&Day2Entrant> = entrants
            .iter()
            .filter(|e| e.player_id == Uuid::from_u128(1005))
            .collect();
        assert_eq!(twice.len(), 1);
        assert_eq!(twice[0].flight, Uuid::from_u128(51));
        let day2 = Tournament::day2_of(&refs);
        assert_eq!(day2.entries, 24);
        assert_eq!(day2.prize_pool, 24 * 300);
        let mut d2 = Tournament::new_day2(
            Uuid::from_u128(99),
            templates()[2].clone(),
            2,
            9,
            day2.clone(),
            &entrants,
        );
        assert!(d2
            .decide(&PlayCommand::Register {
                bullet_id: Uuid::from_u128(7777),
                player_id: Uuid::from_u128(7777),
                seed: 1,
                at_ms: 0,
                override_late_reg: true
            })
            .is_err());
        run(&mut d2, PlayCommand::Start { at_ms: 1_000 }).expect("day 2 starts");
        assert_eq!(d2.clock.view(&d2.structure, 1_000).step, day2.start_step);
        assert!(day2.start_step > 0);
        let total: u64 = entrants.iter().map(|e| e.chips).sum();
        assert_eq!(d2.stats().total_chips, total);
        assert_eq!(d2.stats().entries, 11);
        assert_eq!(d2.field(), 24);
        let counts = d2.counts();
        assert_eq!(counts.values().sum::<usize>(), 11);
        assert!(counts.values().max() <= Some(&6));
        assert_eq!(d2.prize_pool(), 25_000, "the guarantee");
    }

    #[test]
    fn the_same_seed_draws_the_same_seat() {
        let t = Tournament::new(Uuid::nil(), templates()[0].clone(), 7, 9);
        assert_eq!(t.draw_seat(42), t.draw_seat(42));
    }

    #[test]
    fn registration_closes_after_the_late_reg_level_unless_overridden() {
        let mut t = Tournament::new(Uuid::nil(), templates()[0].clone(), 2, 9);
        for i in 0..4u128 {
            run(
                &mut t,
                PlayCommand::Register {
                    bullet_id: Uuid::from_u128(i),
                    player_id: Uuid::from_u128(100 + i),
                    seed: 1,
                    at_ms: 0,
                    override_late_reg: false,
                },
            )
            .expect("register");
        }
        run(&mut t, PlayCommand::Start { at_ms: 0 }).expect("start");
        // Turbo: late reg through level 6 and the break after it; level 7 starts at 82 minutes.
        let break_after_6 = 6 * 12 * 60_000 + 60_000;
        assert!(t.registration_open(break_after_6));
        let late = (6 * 12 + 10 + 1) * 60_000;
        let err = t.decide(&PlayCommand::Register {
            bullet_id: Uuid::from_u128(9),
            player_id: Uuid::from_u128(109),
            seed: 1,
            at_ms: late,
            override_late_reg: false,
        });
        assert!(err.is_err());
        let ok = t.decide(&PlayCommand::Register {
            bullet_id: Uuid::from_u128(9),
            player_id: Uuid::from_u128(109),
            seed: 1,
            at_ms: late,
            override_late_reg: true,
        });
        assert!(matches!(
            ok,
            Ok(PlayEvent::Registered {
                override_late_reg: true,
                ..
            })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn every_undoable_action_followed_by_its_undo_leaves_the_state_as_before(
            players in 4usize..30, picks in proptest::collection::vec((0u8..7, any::<prop::sample::Index>(), any::<u64>()), 1..40)
        ) {
            let mut t = Tournament::new(Uuid::nil(), with_rebuys(), 4, 9);
            for i in 0..players {
                let c = PlayCommand::Register { bullet_id: Uuid::from_u128(i as u128), player_id: Uuid::from_u128(1000 + i as u128), seed: i as u64, at_ms: 0, override_late_reg: false };
                run(&mut t, c).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            run(&mut t, PlayCommand::Start { at_ms: 0 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut now = 0i64;
            let mut next = 10_000u128;
            for (kind, pick, r) in picks {
                if t.status != Status::Running { break; }
                now += (r % 600_000) as i64;
                let alive: Vec<Uuid> = t.alive().map(|b| b.id).collect();
                let command = match kind {
                    0 => PlayCommand::Bust { bullet_id: alive[pick.index(alive.len())] },
                    1 => match t.open_seats().first() {
                        Some(to) => PlayCommand::Move { bullet_id: alive[pick.index(alive.len())], to: *to },
                        None => continue,
                    },
                    2 => { next += 1; PlayCommand::Register { bullet_id: Uuid::from_u128(next), player_id: Uuid::from_u128(next), seed: r, at_ms: now, override_late_reg: true } }
                    3 => PlayCommand::Jump { to_step: pick.index(t.structure.steps.len()), at_ms: now },
                    4 => PlayCommand::AddTime { delta_ms: 60_000, at_ms: now },
                    5 => PlayCommand::Rebuy { bullet_id: alive[pick.index(alive.len())], at_ms: now },
                    _ => PlayCommand::AddOn { bullet_id: alive[pick.index(alive.len())], at_ms: now },
                };
                let before = t.clone();
                let Ok(event) = run(&mut t, command) else { continue };
                let undo = t.decide(&PlayCommand::Undo { event: event.clone() }).map_err(|e| TestCaseError::fail(format!("{e} for {event:?}")))?;
                let mut undone = t.clone();
                undone.apply(&undo);
                prop_assert_eq!(&undone, &before, "undo of {:?} did not restore the state", event);
            }
        }

        #[test]
        fn after_busts_and_balancing_the_tables_differ_by_at_most_one(
            players in 20usize..63,
            busts in proptest::collection::vec(any::<prop::sample::Index>(), 0..55),
            buttons in proptest::collection::vec((1u16..8, 1u8..=9), 0..10)
        ) {
            let mut t = Tournament::new(Uuid::nil(), templates()[1].clone(), 7, 9);
            for i in 0..players {
                let c = PlayCommand::Register { bullet_id: Uuid::from_u128(i as u128), player_id: Uuid::from_u128(1000 + i as u128), seed: i as u64, at_ms: 0, override_late_reg: false };
                run(&mut t, c).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            run(&mut t, PlayCommand::Start { at_ms: 0 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (table, seat) in buttons {
                let _ = run(&mut t, PlayCommand::SetButton { table, seat });
            }
            for (n, pick) in busts.iter().enumerate() {
                if t.status != Status::Running {
                    break;
                }
                let alive: Vec<Uuid> = t.alive().map(|b| b.id).collect();
                run(&mut t, PlayCommand::Bust { bullet_id: alive[pick.index(alive.len())] }).map_err(|e| TestCaseError::fail(e.to_string()))?;
                // The director breaks tables when the field fits, and confirms every balancing move.
                while let Some(table) = t.table_to_break() {
                    run(&mut t, PlayCommand::BreakTable { table, seed: n as u64 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                let mut guard = 0;
                while let Some(m) = t.balance_suggestion() {
                    run(&mut t, PlayCommand::Move { bullet_id: m.bullet_id, to: m.to }).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    guard += 1;
                    prop_assert!(guard < 100, "balancing does not settle");
                }
                let counts = t.counts();
                let most = counts.values().max().copied().unwrap_or(0);
                let fewest = counts.values().min().copied().unwrap_or(0);
                prop_assert!(most <= fewest + 1, "tables {:?} differ by more than one", counts);
                let seats: Vec<SeatRef> = t.alive().filter_map(|b| b.seat).collect();
                let unique: BTreeSet<SeatRef> = seats.iter().copied().collect();
                prop_assert_eq!(seats.len(), unique.len(), "two players in one seat after a move");
            }
        }

        #[test]
        fn the_draw_never_seats_two_in_one_seat_nor_more_than_a_table_holds(
            players in 2usize..63, seeds in proptest::collection::vec(any::<u64>(), 63), tables in 2u16..8
        ) {
            let mut t = Tournament::new(Uuid::nil(), templates()[0].clone(), tables, 9);
            for (i, seed) in seeds.iter().copied().enumerate().take(players.min(tables as usize * 9)) {
                let e = t.decide(&PlayCommand::Register { bullet_id: Uuid::from_u128(i as u128), player_id: Uuid::from_u128(1000 + i as u128), seed, at_ms: 0, override_late_reg: false });
                if let Ok(e) = e { t.apply(&e) }
                if i == 1 { let _ = run(&mut t, PlayCommand::Start { at_ms: 0 }); }
            }
            let seats: Vec<SeatRef> = t.alive().filter_map(|b| b.seat).collect();
            let unique: BTreeSet<SeatRef> = seats.iter().copied().collect();
            prop_assert_eq!(seats.len(), unique.len(), "two players in one seat");
            for s in &seats {
                prop_assert!(s.1 >= 1 && s.1 <= 9 && s.0 >= 1 && s.0 <= tables);
            }
            prop_assert_eq!(seats.len(), t.alive().count(), "everyone running has a seat");
        }

        #[test]
        fn finishing_places_are_a_permutation_with_the_winner_first(
            players in 2usize..40, reentries in 0usize..10, order in proptest::collection::vec(any::<prop::sample::Index>(), 60)
        ) {
            let mut t = Tournament::new(Uuid::nil(), templates()[1].clone(), 6, 9);
            for i in 0..players {
                run(&mut t, PlayCommand::Register { bullet_id: Uuid::from_u128(i as u128), player_id: Uuid::from_u128(1000 + i as u128), seed: i as u64, at_ms: 0, override_late_reg: false }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            run(&mut t, PlayCommand::Start { at_ms: 0 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut next = players as u128;
            let mut steps = order.iter();
            while t.status == Status::Running {
                let alive: Vec<Uuid> = t.alive().map(|b| b.id).collect();
                let Some(pick) = steps.next() else { break };
                let victim = alive[pick.index(alive.len())];
                let player = t.bullets[&victim].player_id;
                run(&mut t, PlayCommand::Bust { bullet_id: victim }).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let may_reenter = (next as usize) < players + reentries && t.status == Status::Running;
                if may_reenter && run(&mut t, PlayCommand::Register { bullet_id: Uuid::from_u128(next), player_id: player, seed: next as u64, at_ms: 0, override_late_reg: false }).is_ok() {
                    next += 1;
                }
            }
            while t.status == Status::Running {
                let victim = t.alive().map(|b| b.id).next().ok_or_else(|| TestCaseError::fail("nobody left"))?;
                run(&mut t, PlayCommand::Bust { bullet_id: victim }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            let places = t.places();
            let mut got: Vec<u32> = places.values().copied().collect();
            got.sort();
            let want: Vec<u32> = (1..=t.bullets.len() as u32).collect();
            prop_assert_eq!(got, want);
            let winner = t.alive().next().map(|b| b.id).ok_or_else(|| TestCaseError::fail("no winner"))?;
            prop_assert_eq!(places[&winner], 1);
            prop_assert_eq!(t.stats().players_left, 1);
        }
    }
}
