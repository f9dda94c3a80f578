//! Folding a tournament event into its state.

use super::*;

impl Tournament {
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
