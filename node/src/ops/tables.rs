//! Tables: add one, rename it, change its game, start, open and close it.

use crate::store::{AppendError, Committed, Log};
use pvm_shared::venue::{Command, Game, Stakes, TableName};
use pvm_shared::Actor;
use uuid::Uuid;

/// A table to add: it starts closed.
#[derive(Debug, Clone)]
pub struct NewTable {
    pub name: TableName,
    pub game: Game,
    pub stakes: Stakes,
    pub seats: u8,
}

/// A change to one table.
#[derive(Debug, Clone)]
pub enum Change {
    Rename(TableName),
    /// The game and stakes dealt there.
    Deal {
        game: Game,
        stakes: Stakes,
    },
    Open,
    Close,
    /// Starting: players can be seated before it opens.
    Start,
}

/// Adds a table; returns its new id with the commit.
pub async fn create(
    log: &Log,
    actor: Actor,
    new: NewTable,
) -> Result<(Uuid, Committed), AppendError> {
    let table_id = Uuid::now_v7();
    let committed = log
        .append(
            actor,
            Command::CreateTable {
                table_id,
                name: new.name,
                game: new.game,
                stakes: new.stakes,
                seats: new.seats,
            },
        )
        .await?;
    Ok((table_id, committed))
}

/// Changes one table.
pub async fn change(
    log: &Log,
    actor: Actor,
    table_id: Uuid,
    change: Change,
) -> Result<Committed, AppendError> {
    let command = match change {
        Change::Rename(name) => Command::RenameTable { table_id, name },
        Change::Deal { game, stakes } => Command::SetTableGame {
            table_id,
            game,
            stakes,
        },
        Change::Open => Command::OpenTable { table_id },
        Change::Close => Command::CloseTable { table_id },
        Change::Start => Command::StartTable { table_id },
    };
    log.append(actor, command).await
}
