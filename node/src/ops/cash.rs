//! Waiting lists.

use super::players::{resolve, Who};
use crate::store::{AppendError, Committed, Log};
use pvm_shared::cash::CashCommand;
use pvm_shared::venue::{Command, DomainError};
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
