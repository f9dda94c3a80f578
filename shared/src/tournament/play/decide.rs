//! Deciding a tournament command: the event that records it, or why not.

use super::*;

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
                        // In the words staff use: levels count from 1, breaks
                        // by the level they follow.
                        let level = s.level_number(to_step);
                        if s.steps[to_step].is_break() {
                            format!("go to the break after level {level}")
                        } else {
                            format!("go to level {level}")
                        }
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
}
