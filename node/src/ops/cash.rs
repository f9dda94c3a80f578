//! Waiting lists and cash seats: every list and seat action, the walk-in
//! join, and the call timer. The API, the board page and the timer task all
//! come in here, so one action behaves one way whichever door it came by.

use super::players::{resolve, Who};
use crate::store::{AppendError, Committed, Log};
use pvm_shared::cash::{CashCommand, CashPolicy};
use pvm_shared::venue::{Command, DomainError, Game, Stakes, VenueState};
use pvm_shared::Actor;
use uuid::Uuid;

/// What joining a list needs besides who joins.
#[derive(Debug, Clone, Copy)]
pub struct Join {
    pub list_id: Uuid,
    pub at_ms: u64,
    /// A call-in: the place is held until then for the player to arrive.
    pub call_in_until: Option<u64>,
}

/// Puts a player on a list; a walk-in is added to the directory in the same
/// batch. Everything is checked before anything is stored. Returns the new
/// entry's id with the commit.
pub async fn join(
    log: &Log,
    actor: Actor,
    who: Who,
    join: Join,
) -> Result<(Uuid, Committed), AppendError> {
    let state = log.venue();
    if !state.cash.lists.contains_key(&join.list_id) {
        return Err(
            DomainError::NotFound(format!("no waiting list with id {}", join.list_id)).into(),
        );
    }
    let (player_id, create) = resolve(&state, who)?;
    drop(state);
    let entry_id = Uuid::now_v7();
    let commands = create
        .into_iter()
        .chain([Command::Cash(CashCommand::Join {
            entry_id,
            list_id: join.list_id,
            player_id,
            at_ms: join.at_ms,
            call_in_until: join.call_in_until,
        })])
        .collect();
    Ok((
        entry_id,
        super::last(log.append_all(actor, commands).await?)?,
    ))
}

/// Seats a player who was not on a list at `table_id`, `seat`: a known
/// player, or a walk-in added to the directory in the same batch (both
/// stand or neither). Returns the player's id with the commit.
pub async fn seat_now(
    log: &Log,
    actor: Actor,
    now_ms: u64,
    who: Who,
    table_id: Uuid,
    seat: u8,
) -> Result<(Uuid, Committed), AppendError> {
    let (player_id, create) = resolve(&log.venue(), who)?;
    let commands = create
        .into_iter()
        .chain([Command::Cash(CashCommand::Seat {
            player_id,
            entry_id: None,
            table_id,
            seat,
            at_ms: now_ms,
        })])
        .collect();
    Ok((
        player_id,
        super::last(log.append_all(actor, commands).await?)?,
    ))
}

/// One list or seat action, as staff ask for it. The ids the node makes
/// itself (a new list's, a seat request's) and the time come from here,
/// not from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The venue's waiting-list rules.
    SetPolicy(CashPolicy),
    /// A list for a game and stakes.
    CreateList { game: Game, stakes: Stakes },
    /// Close a list nobody waits on.
    CloseList { list_id: Uuid },
    /// The next uncalled player on a list; their call timer starts.
    CallNext { list_id: Uuid },
    /// One particular player.
    Call { entry_id: Uuid },
    /// A waiting player (called or not) sits down.
    SeatEntry {
        entry_id: Uuid,
        table_id: Uuid,
        seat: u8,
    },
    /// A player who was not on a list sits down.
    SeatPlayer {
        player_id: Uuid,
        table_id: Uuid,
        seat: u8,
    },
    /// The called player did not come: the no-show policy applies.
    NoShow { entry_id: Uuid },
    /// A call-in has arrived.
    Arrived { entry_id: Uuid },
    /// Up or down the list (0 is next to be called), with the reason.
    Move {
        entry_id: Uuid,
        to_index: usize,
        reason: String,
    },
    /// Off the list.
    Remove { entry_id: Uuid },
    /// Undo a recent no-show or removal: back to the place they had.
    Restore { entry_id: Uuid },
    /// The player left the table.
    Leave { table_id: Uuid, seat: u8 },
    /// The player stepped away (their clock starts).
    Away { table_id: Uuid, seat: u8 },
    /// The player is back.
    Back { table_id: Uuid, seat: u8 },
    /// A seated player moves to another seat or table.
    ChangeSeat {
        from_table: Uuid,
        from_seat: u8,
        to_table: Uuid,
        to_seat: u8,
    },
    /// A seated player asks for another table (`wants`) or a better seat.
    RequestSeatChange {
        table_id: Uuid,
        seat: u8,
        wants: Option<Uuid>,
    },
    /// Drop a seat change request.
    CancelSeatChange { request_id: Uuid },
    /// A must-move table feeds the main game of its stakes.
    SetMustMove { table_id: Uuid, must_move: bool },
}

/// The command an action stands for at `now_ms` in `state`. An entry that is
/// not there is refused here (the writer would refuse the seat too, but
/// only this knows which player the entry was).
pub fn command(
    state: &VenueState,
    now_ms: u64,
    action: Action,
) -> Result<CashCommand, DomainError> {
    Ok(match action {
        Action::SetPolicy(policy) => CashCommand::SetPolicy(policy),
        Action::CreateList { game, stakes } => CashCommand::CreateList {
            list_id: Uuid::now_v7(),
            game,
            stakes,
        },
        Action::CloseList { list_id } => CashCommand::CloseList { list_id },
        Action::CallNext { list_id } => CashCommand::CallNext {
            list_id,
            at_ms: now_ms,
        },
        Action::Call { entry_id } => CashCommand::Call {
            entry_id,
            at_ms: now_ms,
        },
        Action::SeatEntry {
            entry_id,
            table_id,
            seat,
        } => {
            let player_id = state
                .cash
                .entries
                .get(&entry_id)
                .map(|e| e.player_id)
                .ok_or_else(|| {
                    DomainError::NotFound(format!("no waiting-list entry with id {entry_id}"))
                })?;
            CashCommand::Seat {
                player_id,
                entry_id: Some(entry_id),
                table_id,
                seat,
                at_ms: now_ms,
            }
        }
        Action::SeatPlayer {
            player_id,
            table_id,
            seat,
        } => CashCommand::Seat {
            player_id,
            entry_id: None,
            table_id,
            seat,
            at_ms: now_ms,
        },
        Action::NoShow { entry_id } => CashCommand::NoShow { entry_id },
        Action::Arrived { entry_id } => CashCommand::Arrived { entry_id },
        Action::Move {
            entry_id,
            to_index,
            reason,
        } => CashCommand::Move {
            entry_id,
            to_index,
            reason,
        },
        Action::Remove { entry_id } => CashCommand::Remove { entry_id },
        Action::Restore { entry_id } => CashCommand::Restore { entry_id },
        Action::Leave { table_id, seat } => CashCommand::Leave { table_id, seat },
        Action::Away { table_id, seat } => CashCommand::Away {
            table_id,
            seat,
            at_ms: now_ms,
        },
        Action::Back { table_id, seat } => CashCommand::Back { table_id, seat },
        Action::ChangeSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
        } => CashCommand::ChangeSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
            at_ms: now_ms,
        },
        Action::RequestSeatChange {
            table_id,
            seat,
            wants,
        } => CashCommand::RequestSeatChange {
            request_id: Uuid::now_v7(),
            table_id,
            seat,
            wants,
            at_ms: now_ms,
        },
        Action::CancelSeatChange { request_id } => CashCommand::CancelSeatChange { request_id },
        Action::SetMustMove {
            table_id,
            must_move,
        } => CashCommand::SetMustMove {
            table_id,
            must_move,
        },
    })
}

/// Runs one action as `actor` at `now_ms`.
pub async fn act(
    log: &Log,
    actor: Actor,
    now_ms: u64,
    action: Action,
) -> Result<Committed, AppendError> {
    let command = command(&log.venue(), now_ms, action)?;
    log.append(actor, Command::Cash(command)).await
}

/// Applies every call timer and call-in deadline that has run out by
/// `now_ms`. Each is checked again by the writer, so running this twice (or
/// on two threads, or after a restart) applies each timeout exactly once.
/// Returns how many were applied.
pub async fn expire_due(log: &Log, now_ms: u64) -> usize {
    let due = log.venue().cash.due(now_ms);
    let mut applied = 0;
    for command in due {
        match log.append(Actor::System, Command::Cash(command)).await {
            Ok(_) => applied += 1,
            Err(AppendError::Rejected(_)) => {} // already handled
            Err(e) => tracing::warn!(error = %e, "applying a timed-out call failed; will retry"),
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seating_an_entry_that_is_gone_names_it() {
        let state = VenueState::default();
        let entry_id = Uuid::now_v7();
        let refused = command(
            &state,
            1,
            Action::SeatEntry {
                entry_id,
                table_id: Uuid::now_v7(),
                seat: 1,
            },
        );
        assert_eq!(
            refused,
            Err(DomainError::NotFound(format!(
                "no waiting-list entry with id {entry_id}"
            )))
        );
    }

    #[test]
    fn the_node_makes_the_ids_and_the_time() {
        let state = VenueState::default();
        let table_id = Uuid::now_v7();
        let a = command(
            &state,
            7,
            Action::RequestSeatChange {
                table_id,
                seat: 3,
                wants: None,
            },
        );
        let b = command(
            &state,
            7,
            Action::RequestSeatChange {
                table_id,
                seat: 3,
                wants: None,
            },
        );
        match (a, b) {
            (
                Ok(CashCommand::RequestSeatChange {
                    request_id: ra,
                    at_ms: 7,
                    ..
                }),
                Ok(CashCommand::RequestSeatChange { request_id: rb, .. }),
            ) => assert_ne!(ra, rb),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            command(&state, 9, Action::Away { table_id, seat: 2 }),
            Ok(CashCommand::Away {
                table_id,
                seat: 2,
                at_ms: 9
            })
        );
    }
}
