//! The local player directory: who plays here, and how screens may name them.

use crate::venue::DomainError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A player as staff know them. Public screens only ever get `public_name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Player {
    pub id: Uuid,
    /// Full name, 1–80 characters.
    pub name: String,
    /// What screens show, if the player chose one (1–30 characters).
    pub nickname: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub notes: String,
}

/// What a player's record holds, as staff enter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlayerDetails {
    pub name: String,
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub notes: String,
}

fn text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 || n > max || t.chars().any(char::is_control) {
        return Err(DomainError::Invalid {
            field,
            reason: format!("use 1 to {max} characters"),
        });
    }
    Ok(t.to_owned())
}

fn optional(
    field: &'static str,
    raw: &Option<String>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

impl PlayerDetails {
    /// Trims and checks every field.
    pub fn checked(&self) -> Result<PlayerDetails, DomainError> {
        if self.notes.chars().count() > 1000 {
            return Err(DomainError::Invalid {
                field: "notes",
                reason: "at most 1000 characters".into(),
            });
        }
        let email = optional("email", &self.email, 120)?;
        if email.as_deref().is_some_and(|e| !e.contains('@')) {
            return Err(DomainError::Invalid {
                field: "email",
                reason: "an email address has an @".into(),
            });
        }
        Ok(PlayerDetails {
            name: text("name", &self.name, 80)?,
            nickname: optional("nickname", &self.nickname, 30)?,
            phone: optional("phone", &self.phone, 30)?,
            email,
            notes: self.notes.trim().to_owned(),
        })
    }
}

impl Player {
    pub fn from_details(id: Uuid, d: PlayerDetails) -> Player {
        Player {
            id,
            name: d.name,
            nickname: d.nickname,
            phone: d.phone,
            email: d.email,
            notes: d.notes,
        }
    }

    /// The name public screens show: the nickname, or first name and last initial.
    pub fn public_name(&self) -> String {
        if let Some(n) = &self.nickname {
            return n.clone();
        }
        let mut words = self.name.split_whitespace();
        let first = words.next().unwrap_or_default();
        match words.last().and_then(|w| w.chars().next()) {
            Some(initial) => format!("{first} {initial}."),
            None => first.to_owned(),
        }
    }

    /// True when `query` (lower case) is in the name, nickname or phone.
    pub fn matches(&self, query: &str) -> bool {
        let q = query.trim().to_lowercase();
        self.name.to_lowercase().contains(&q)
            || self
                .nickname
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(&q))
            || self.phone.as_deref().is_some_and(|p| p.contains(&q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(name: &str, nickname: Option<&str>) -> Player {
        Player {
            id: Uuid::nil(),
            name: name.into(),
            nickname: nickname.map(Into::into),
            phone: None,
            email: None,
            notes: String::new(),
        }
    }

    #[test]
    fn screens_show_the_nickname_or_first_name_and_initial() {
        assert_eq!(
            player("Daniel Negreanu", Some("Kid Poker")).public_name(),
            "Kid Poker"
        );
        assert_eq!(player("Daniel Negreanu", None).public_name(), "Daniel N.");
        assert_eq!(player("Madonna", None).public_name(), "Madonna");
        assert_eq!(player("Anna Maria van Dijk", None).public_name(), "Anna D.");
    }

    #[test]
    fn details_are_trimmed_and_checked() {
        let d = PlayerDetails {
            name: "  Ann Lee ".into(),
            nickname: Some(" ".into()),
            phone: None,
            email: Some("nope".into()),
            notes: String::new(),
        };
        assert!(d.checked().is_err());
        let d = PlayerDetails { email: None, ..d };
        let c = d.checked().expect("ok");
        assert_eq!(c.name, "Ann Lee");
        assert_eq!(c.nickname, None);
    }
}
