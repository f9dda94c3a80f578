//! Staff accounts and API keys: who may log in to a venue, with which role.
//!
//! Password and PIN hashes arrive already hashed (argon2id PHC strings made
//! by the node); this module only keeps the rules: usernames are unique,
//! and a venue never loses its last enabled admin.

use crate::auth::Role;
use crate::venue::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A login name: 1–32 characters of `a-z 0-9 . _ -`, stored lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(ToSchema), schema(value_type = String))]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, DomainError> {
        let name = raw.trim().to_lowercase();
        let ok = (1..=32).contains(&name.len())
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if ok {
            Ok(Username(name))
        } else {
            Err(DomainError::Invalid {
                field: "username",
                reason: "use 1 to 32 letters, digits, dots, dashes or underscores".into(),
            })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Username::parse(&raw)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> String {
        u.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A staff member as the node knows them. Hashes never leave the node's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffUser {
    pub id: Uuid,
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub enabled: bool,
    pub password_hash: Option<String>,
    pub pin_hash: Option<String>,
    /// Moves on when the password or PIN changes or the account is disabled;
    /// tokens issued under an older epoch are refused.
    pub epoch: u32,
}

/// An integration's key: only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub secret_hash: String,
    pub revoked: bool,
    /// Its user's credential epoch when it was made: once the password or
    /// PIN changes or the account is disabled, the key is dead.
    pub epoch: u32,
}

impl ApiKey {
    /// Whether the key still works for `user` (its owner).
    pub fn is_live(&self, user: &StaffUser) -> bool {
        !self.revoked && user.enabled && user.id == self.user_id && user.epoch == self.epoch
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffDirectory {
    pub users: BTreeMap<Uuid, StaffUser>,
    pub api_keys: BTreeMap<Uuid, ApiKey>,
}

impl StaffDirectory {
    pub fn by_username(&self, username: &Username) -> Option<&StaffUser> {
        self.users.values().find(|u| &u.username == username)
    }

    pub fn user(&self, id: Uuid) -> Result<&StaffUser, DomainError> {
        self.users.get(&id).ok_or(DomainError::UnknownUser(id))
    }

    pub fn has_admin(&self) -> bool {
        self.users
            .values()
            .any(|u| u.enabled && u.role == Role::Admin)
    }

    /// Refuses a change that would leave no enabled admin.
    pub fn keeps_an_admin(
        &self,
        changed: Uuid,
        role: Role,
        enabled: bool,
    ) -> Result<(), DomainError> {
        let others = self
            .users
            .values()
            .any(|u| u.id != changed && u.enabled && u.role == Role::Admin);
        let this_admin = self
            .users
            .get(&changed)
            .is_some_and(|u| u.enabled && u.role == Role::Admin);
        if this_admin && !others && !(enabled && role == Role::Admin) {
            return Err(DomainError::Conflict(
                "this is the venue's last enabled admin; make another admin first".into(),
            ));
        }
        Ok(())
    }
}

pub fn check_display_name(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 || len > 60 || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid {
            field: "display_name",
            reason: "use 1 to 60 characters".into(),
        });
    }
    Ok(name.to_owned())
}

/// What a lockout applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockScope {
    Account,
    Address,
}

impl LockScope {
    pub fn code(self) -> &'static str {
        match self {
            LockScope::Account => "account",
            LockScope::Address => "address",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u128, role: Role, enabled: bool) -> StaffUser {
        StaffUser {
            id: Uuid::from_u128(id),
            username: Username::parse(&format!("u{id}")).unwrap_or_else(|_| unreachable!()),
            display_name: "X".into(),
            role,
            enabled,
            password_hash: None,
            pin_hash: None,
            epoch: 0,
        }
    }

    #[test]
    fn usernames_are_lower_case_and_plain() {
        assert_eq!(
            Username::parse(" Ann.B ").map(|u| u.to_string()),
            Ok("ann.b".into())
        );
        assert!(Username::parse("ann b").is_err());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("<script>").is_err());
    }

    #[test]
    fn the_last_admin_cannot_be_disabled_or_demoted() {
        let mut d = StaffDirectory::default();
        d.users
            .insert(Uuid::from_u128(1), user(1, Role::Admin, true));
        d.users
            .insert(Uuid::from_u128(2), user(2, Role::Floor, true));
        assert!(d
            .keeps_an_admin(Uuid::from_u128(1), Role::Admin, false)
            .is_err());
        assert!(d
            .keeps_an_admin(Uuid::from_u128(1), Role::Manager, true)
            .is_err());
        assert!(d
            .keeps_an_admin(Uuid::from_u128(2), Role::Dealer, false)
            .is_ok());
        d.users
            .insert(Uuid::from_u128(3), user(3, Role::Admin, true));
        assert!(d
            .keeps_an_admin(Uuid::from_u128(1), Role::Admin, false)
            .is_ok());
    }
}
