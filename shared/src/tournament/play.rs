//! A tournament's entries, seats and bust-outs (second slice of issue 3).
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
pub struct TTable {
    pub number: u16,
    pub seats: u8,
    pub broken: bool,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Registering,
    Running,
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tournament {
    pub id: Uuid,
    pub name: String,
    pub structure: Structure,
    pub status: Status,
    pub clock: ClockState,
    pub tables: Vec<TTable>,
    pub bullets: BTreeMap<Uuid, Bullet>,
    /// Bullets in the order they busted (a hand's busts in the order the director entered them).
    pub bust_order: Vec<Uuid>,
    pub late_reg_closed: bool,
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
                .map(|number| TTable {
                    number,
                    seats,
                    broken: false,
                })
                .collect(),
            bullets: BTreeMap::new(),
            bust_order: Vec::new(),
            late_reg_closed: false,
        }
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
        let count = |t: u16| {
            self.alive()
                .filter(|b| b.seat.map(|s| s.0) == Some(t))
                .count()
        };
        let fewest = open.iter().map(|s| count(s.0)).min()?;
        let candidates: Vec<SeatRef> = open.into_iter().filter(|s| count(s.0) == fewest).collect();
        let mut rng = Draw::new(seed);
        Some(candidates[rng.below(candidates.len())])
    }

    /// Can a new bullet come in now? Late registration runs through its level
    /// and the break after it, until the director closes it early.
    pub fn registration_open(&self, now_ms: i64) -> bool {
        match self.status {
            Status::Registering => true,
            Status::Finished => false,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub entries: u64,
    pub players_left: u64,
    pub reentries: u64,
    pub total_chips: u64,
    pub average_stack: u64,
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
    },
    LateRegClosed,
    /// The clock after a pause, resume, added time or jump: the outcome, so replay never recomputes it.
    ClockSet {
        action: String,
        clock: ClockState,
    },
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
                if self.status == Status::Finished {
                    return Err(conflict("the tournament is finished"));
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
                })
            }
            PlayCommand::CloseLateReg => {
                if self.late_reg_closed {
                    return Err(conflict("late registration is already closed"));
                }
                Ok(PlayEvent::LateRegClosed)
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
                Ok(PlayEvent::ClockSet { action, clock })
            }
        }
    }

    pub fn apply(&mut self, event: &PlayEvent) {
        match event.clone() {
            PlayEvent::Started { at_ms } => {
                self.status = Status::Running;
                self.clock.start(at_ms);
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
                    },
                );
            }
            PlayEvent::Busted {
                bullet_id,
                finished,
            } => {
                if let Some(b) = self.bullets.get_mut(&bullet_id) {
                    b.busted = true;
                    b.seat = None;
                    self.bust_order.push(bullet_id);
                }
                if finished {
                    self.status = Status::Finished;
                }
            }
            PlayEvent::LateRegClosed => self.late_reg_closed = true,
            PlayEvent::ClockSet { clock, .. } => self.clock = clock,
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
