//! Tournaments: create one (or a Day 2 of flights), register, every clock,
//! seat and result action, and the saved templates, for the API and the
//! panel alike.

use super::players::{resolve, Who};
use crate::store::{AppendError, Committed, Log};
use pvm_shared::tournament::play::{PlayCommand, PlayEvent, SeatRef, Tournament};
use pvm_shared::tournament::structure::Structure;
use pvm_shared::venue::{Command, DomainError};
use pvm_shared::Actor;
use uuid::Uuid;

/// A tournament to create.
#[derive(Debug, Clone)]
pub struct NewTournament {
    pub name: String,
    pub structure: Structure,
    pub tables: u16,
    pub seats: u8,
}

/// Creates a tournament; returns its new id.
pub async fn create(log: &Log, actor: Actor, new: NewTournament) -> Result<Uuid, AppendError> {
    let tournament_id = Uuid::now_v7();
    let command = Command::CreateTournament {
        tournament_id,
        name: new.name,
        structure: Box::new(new.structure),
        tables: new.tables,
        seats: new.seats,
    };
    log.append(actor, command).await?;
    Ok(tournament_id)
}

/// A Day 2 to create from bagged starting flights.
#[derive(Debug, Clone)]
pub struct NewDay2 {
    pub name: String,
    pub flights: Vec<Uuid>,
    pub tables: u16,
    pub seats: u8,
}

/// Creates a Day 2; returns its new id.
pub async fn create_day2(log: &Log, actor: Actor, new: NewDay2) -> Result<Uuid, AppendError> {
    let tournament_id = Uuid::now_v7();
    let command = Command::CreateDay2 {
        tournament_id,
        name: new.name,
        flights: new.flights,
        tables: new.tables,
        seats: new.seats,
    };
    log.append(actor, command).await?;
    Ok(tournament_id)
}

/// Saves a structure as a template (new, a clone under a new name, or an
/// edit of a saved one).
pub async fn save_template(
    log: &Log,
    actor: Actor,
    structure: Structure,
) -> Result<Committed, AppendError> {
    let command = Command::SaveTemplate {
        structure: Box::new(structure),
    };
    log.append(actor, command).await
}

/// Deletes a saved template (the built-in ones stay).
pub async fn delete_template(
    log: &Log,
    actor: Actor,
    name: String,
) -> Result<Committed, AppendError> {
    log.append(actor, Command::DeleteTemplate { name }).await
}

/// One action on a running (or not yet started) tournament, as staff ask
/// for it. The time, and the seeds of every draw, come from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    /// Time added to the running level (negative: taken off).
    AddTime {
        delta_ms: i64,
    },
    /// To a step of the structure (0-based, breaks counted).
    Jump {
        to_step: usize,
    },
    /// One step on from where the clock is now.
    NextStep,
    /// One step back from where the clock is now.
    PreviousStep,
    CloseLateReg,
    Bust {
        bullet_id: Uuid,
    },
    Rebuy {
        bullet_id: Uuid,
    },
    AddOn {
        bullet_id: Uuid,
    },
    Move {
        bullet_id: Uuid,
        to: SeatRef,
    },
    /// The move the balancing rule suggests now.
    Balance,
    BreakTable {
        table: u16,
    },
    /// The table the rule says to break now.
    BreakNext,
    SetButton {
        table: u16,
        seat: u8,
    },
    /// Everyone left redrawn at `table`.
    FinalTable {
        table: u16,
    },
    /// Reverse an earlier event of this tournament.
    Undo {
        event: PlayEvent,
    },
    /// Reverse the latest bust-out.
    UndoLastBust,
    /// End a starting flight with every survivor's counted stack.
    Bag {
        stacks: Vec<(Uuid, u64)>,
    },
}

/// The command an action stands for on `t` at `now_ms`. An action that
/// asks the rules for its target (balance, break, undo the last bust) and
/// finds none is refused as a conflict, naming why.
pub fn command(t: &Tournament, now_ms: i64, action: Action) -> Result<PlayCommand, DomainError> {
    let step = || t.clock.view(&t.structure, now_ms).step;
    Ok(match action {
        Action::Start => PlayCommand::Start { at_ms: now_ms },
        Action::Pause => PlayCommand::Pause { at_ms: now_ms },
        Action::Resume => PlayCommand::Resume { at_ms: now_ms },
        Action::AddTime { delta_ms } => PlayCommand::AddTime {
            delta_ms,
            at_ms: now_ms,
        },
        Action::Jump { to_step } => PlayCommand::Jump {
            to_step,
            at_ms: now_ms,
        },
        Action::NextStep => PlayCommand::Jump {
            to_step: step() + 1,
            at_ms: now_ms,
        },
        Action::PreviousStep => PlayCommand::Jump {
            to_step: step().saturating_sub(1),
            at_ms: now_ms,
        },
        Action::CloseLateReg => PlayCommand::CloseLateReg,
        Action::Bust { bullet_id } => PlayCommand::Bust { bullet_id },
        Action::Rebuy { bullet_id } => PlayCommand::Rebuy {
            bullet_id,
            at_ms: now_ms,
        },
        Action::AddOn { bullet_id } => PlayCommand::AddOn {
            bullet_id,
            at_ms: now_ms,
        },
        Action::Move { bullet_id, to } => PlayCommand::Move { bullet_id, to },
        Action::Balance => {
            let m = t
                .balance_suggestion()
                .ok_or_else(|| DomainError::Conflict("the tables are balanced".into()))?;
            PlayCommand::Move {
                bullet_id: m.bullet_id,
                to: m.to,
            }
        }
        Action::BreakTable { table } => PlayCommand::BreakTable {
            table,
            seed: rand::random(),
        },
        Action::BreakNext => PlayCommand::BreakTable {
            table: t
                .table_to_break()
                .ok_or_else(|| DomainError::Conflict("no table needs breaking".into()))?,
            seed: rand::random(),
        },
        Action::SetButton { table, seat } => PlayCommand::SetButton { table, seat },
        Action::FinalTable { table } => PlayCommand::FinalTable {
            table,
            seed: rand::random(),
        },
        Action::Undo { event } => PlayCommand::Undo { event },
        Action::UndoLastBust => {
            let b = t
                .bust_order
                .last()
                .and_then(|b| t.bullets.get(b))
                .ok_or_else(|| DomainError::Conflict("no bust-out to undo".into()))?;
            PlayCommand::Undo {
                event: PlayEvent::Busted {
                    bullet_id: b.id,
                    finished: false,
                    seat: b.left_seat,
                },
            }
        }
        Action::Bag { stacks } => PlayCommand::Bag {
            stacks,
            at_ms: now_ms,
        },
    })
}

/// Runs one action on a tournament as `actor` at `now_ms`.
pub async fn play(
    log: &Log,
    actor: Actor,
    now_ms: i64,
    tournament_id: Uuid,
    action: Action,
) -> Result<Committed, AppendError> {
    let command = {
        let state = log.venue();
        let t = state.tournaments.get(&tournament_id).ok_or_else(|| {
            DomainError::NotFound(format!("no tournament with id {tournament_id}"))
        })?;
        command(t, now_ms, action)?
    };
    log.append(
        actor,
        Command::Tournament {
            tournament_id,
            command,
        },
    )
    .await
}

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
