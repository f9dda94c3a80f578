//! Undo by compensating events: what undoing an action decides.

use super::*;

impl Tournament {
    /// What undoing `event` takes, if it can still be undone: only the latest
    /// bust-out (places follow bust order), a move whose old seat is still
    /// free, an entry still in play, a clock change nothing has changed since.
    pub(crate) fn decide_undo(&self, event: &PlayEvent) -> Result<PlayEvent, DomainError> {
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
