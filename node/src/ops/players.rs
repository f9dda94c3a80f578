//! The player directory, and who an action is for: a player in the
//! directory, or a walk-in added on the spot. The one rule for walk-ins
//! lives here.

use crate::store::{AppendError, Log};
use pvm_shared::players::{Player, PlayerDetails};
use pvm_shared::venue::{Command, DomainError, VenueState};
use pvm_shared::Actor;
use uuid::Uuid;

/// The player an action names.
#[derive(Debug, Clone)]
pub enum Who {
    /// A player in the directory, by id.
    Known(Uuid),
    /// Someone not in the directory yet: added with these details.
    WalkIn(PlayerDetails),
    /// A name typed at the desk: the one player whose name or nickname it is
    /// (any case), else a walk-in of that name; two or more answering to it
    /// is refused (staff pick from the directory).
    Typed(String),
}

impl Who {
    /// A walk-in known only by name (and perhaps a nickname).
    pub fn walk_in(name: String, nickname: Option<String>) -> Who {
        Who::WalkIn(PlayerDetails {
            name,
            nickname,
            phone: None,
            email: None,
            notes: String::new(),
        })
    }
}

/// The player's id, and the command that adds them first when they are new
/// (to go in the same batch as the action, so both stand or neither).
pub fn resolve(state: &VenueState, who: Who) -> Result<(Uuid, Option<Command>), DomainError> {
    let new = |details: PlayerDetails| -> Result<(Uuid, Option<Command>), DomainError> {
        let player_id = Uuid::now_v7();
        let details = details.checked()?;
        Ok((
            player_id,
            Some(Command::CreatePlayer { player_id, details }),
        ))
    };
    match who {
        Who::Known(id) if state.players.contains_key(&id) => Ok((id, None)),
        Who::Known(id) => Err(DomainError::NotFound(format!("no player with id {id}"))),
        Who::WalkIn(details) => new(details),
        Who::Typed(text) => {
            let name = text.trim();
            let matches: Vec<Uuid> = state
                .players
                .values()
                .filter(|p| {
                    p.name.eq_ignore_ascii_case(name)
                        || p.nickname
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .map(|p| p.id)
                .collect();
            match matches.as_slice() {
                [] => new(PlayerDetails {
                    name: name.to_owned(),
                    nickname: None,
                    phone: None,
                    email: None,
                    notes: String::new(),
                }),
                [one] => Ok((*one, None)),
                many => Err(DomainError::Conflict(format!(
                    "{} players answer to {name:?}; add them from the player directory",
                    many.len()
                ))),
            }
        }
    }
}

/// The players answering to `q` (part of a name, nickname or phone; all of
/// them when empty), by name: the API's search and the directory page's.
pub fn find<'a>(state: &'a VenueState, q: &str) -> Vec<&'a Player> {
    let q = q.trim();
    let mut found: Vec<&Player> = state
        .players
        .values()
        .filter(|p| q.is_empty() || p.matches(q))
        .collect();
    found.sort_by_key(|p| p.name.to_lowercase());
    found
}

/// Adds a player to the directory; returns the record as stored.
pub async fn create(
    log: &Log,
    actor: Actor,
    details: PlayerDetails,
) -> Result<Player, AppendError> {
    let player_id = Uuid::now_v7();
    let kept = details.clone();
    log.append(actor, Command::CreatePlayer { player_id, details })
        .await?;
    Ok(stored(log, player_id, kept))
}

/// Replaces a player's record; returns it as stored.
pub async fn update(
    log: &Log,
    actor: Actor,
    player_id: Uuid,
    details: PlayerDetails,
) -> Result<Player, AppendError> {
    let kept = details.clone();
    log.append(actor, Command::UpdatePlayer { player_id, details })
        .await?;
    Ok(stored(log, player_id, kept))
}

/// The record as the venue state has it after the commit (the writer
/// publishes the state before it answers), else as the committed details
/// say: the change is stored either way.
fn stored(log: &Log, player_id: Uuid, details: PlayerDetails) -> Player {
    log.venue()
        .players
        .get(&player_id)
        .cloned()
        .unwrap_or_else(|| {
            let checked = details.checked().unwrap_or(details);
            Player::from_details(player_id, checked)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(name: &str, nickname: Option<&str>) -> Player {
        Player::from_details(
            Uuid::now_v7(),
            PlayerDetails {
                name: name.into(),
                nickname: nickname.map(String::from),
                phone: None,
                email: None,
                notes: String::new(),
            },
        )
    }

    #[test]
    fn a_search_finds_by_name_or_nickname_and_lists_by_name() {
        let all = [
            player("Zoe Park", None),
            player("ann lee", Some("Ace")),
            player("Bob Ray", None),
        ];
        let names = |q: &str| -> Vec<String> {
            found_in(&all, q)
                .into_iter()
                .map(|p| p.name.clone())
                .collect()
        };
        assert_eq!(names(""), ["ann lee", "Bob Ray", "Zoe Park"]);
        assert_eq!(names("ace"), ["ann lee"]);
        assert_eq!(names("  PARK "), ["Zoe Park"]);
        assert!(names("nobody").is_empty());
    }

    fn found_in(all: &[Player], q: &str) -> Vec<Player> {
        let mut state = VenueState::default();
        for p in all {
            std::sync::Arc::make_mut(&mut state.players).insert(p.id, p.clone());
        }
        find(&state, q).into_iter().cloned().collect()
    }
}
