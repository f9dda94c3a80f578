//! Tournaments.

use super::players::{resolve, Who};
use crate::store::{AppendError, Committed, Log};
use pvm_shared::tournament::play::PlayCommand;
use pvm_shared::venue::{Command, DomainError};
use pvm_shared::Actor;
use uuid::Uuid;

/// An entry: who, when, and whether late registration is overridden.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub tournament_id: Uuid,
    pub at_ms: i64,
    /// Let a player in after late registration closed (recorded in the event).
    pub override_late_reg: bool,
}

/// An entry made.
#[derive(Debug, Clone)]
pub struct Registered {
    pub committed: Committed,
    pub bullet_id: Uuid,
    pub player_id: Uuid,
}

/// Registers an entry (or a re-entry); once the tournament runs, a seat is
/// drawn (its seed kept in the event). A walk-in is added to the directory
/// in the same batch.
pub async fn register(
    log: &Log,
    actor: Actor,
    who: Who,
    entry: Entry,
) -> Result<Registered, AppendError> {
    let state = log.venue();
    if !state.tournaments.contains_key(&entry.tournament_id) {
        return Err(DomainError::NotFound(format!(
            "no tournament with id {}",
            entry.tournament_id
        ))
        .into());
    }
    let (player_id, create) = resolve(&state, who)?;
    drop(state);
    let bullet_id = Uuid::now_v7();
    let commands = create
        .into_iter()
        .chain([Command::Tournament {
            tournament_id: entry.tournament_id,
            command: PlayCommand::Register {
                bullet_id,
                player_id,
                seed: rand::random(),
                at_ms: entry.at_ms,
                override_late_reg: entry.override_late_reg,
            },
        }])
        .collect();
    let committed = super::last(log.append_all(actor, commands).await?)?;
    Ok(Registered {
        committed,
        bullet_id,
        player_id,
    })
}
