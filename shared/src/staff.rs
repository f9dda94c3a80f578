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

/// At most this many hub accounts reach one venue's node.
pub const MAX_HUB_ACCOUNTS: usize = 500;

/// One of the operator's hub staff accounts, as the hub sends it to a
/// venue's node (roaming staff, docs/HUB_ACCOUNTS.md): it may log in there
/// with its hub password and `role`, the role the operator gave it at the
/// venues' nodes. Accounts the hub stops sending (disabled, moved off the
/// venue, no node role) stop working at the node when the next list lands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubAccount {
    pub staff_id: Uuid,
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    /// argon2id PHC string, as the hub keeps it.
    pub password_hash: String,
    /// The account's credential epoch at the hub: a new password or a
    /// disable moves it on, and the node's sessions of older epochs end.
    pub epoch: u32,
}

impl HubAccount {
    /// The account as a node user (no PIN; enabled while it is listed).
    pub fn user(&self) -> StaffUser {
        StaffUser {
            id: self.staff_id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            enabled: true,
            password_hash: Some(self.password_hash.clone()),
            pin_hash: None,
            epoch: self.epoch,
        }
    }
}

/// Checks a list of hub accounts for one venue: bounded, each name once,
/// a display name as for local accounts, a hash that is an argon2id string.
pub fn check_hub_accounts(accounts: &[HubAccount]) -> Result<(), DomainError> {
    let invalid = |reason: String| DomainError::Invalid {
        field: "accounts",
        reason,
    };
    if accounts.len() > MAX_HUB_ACCOUNTS {
        return Err(invalid(format!(
            "at most {MAX_HUB_ACCOUNTS} hub accounts reach one venue"
        )));
    }
    let mut names = std::collections::BTreeSet::new();
    let mut ids = std::collections::BTreeSet::new();
    for a in accounts {
        if !names.insert(&a.username) || !ids.insert(a.staff_id) {
            return Err(invalid(format!("{} is listed twice", a.username)));
        }
        check_display_name(&a.display_name)?;
        if a.password_hash.len() > 512 || !a.password_hash.starts_with("$argon2id$") {
            return Err(invalid(format!(
                "{}: the password hash is not an argon2id string",
                a.username
            )));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffDirectory {
    pub users: BTreeMap<Uuid, StaffUser>,
    pub api_keys: BTreeMap<Uuid, ApiKey>,
    /// The operator's hub accounts that may log in here (roaming staff), by
    /// hub staff id, and when the hub issued that list.
    pub hub: BTreeMap<Uuid, StaffUser>,
    pub hub_issued_ms: u64,
}

impl StaffDirectory {
    /// The account a username logs in to: the venue's own first, then a hub
    /// account of that name.
    pub fn by_username(&self, username: &Username) -> Option<&StaffUser> {
        self.users
            .values()
            .find(|u| &u.username == username)
            .or_else(|| self.hub.values().find(|u| &u.username == username))
    }

    /// A hub account listed here, by its hub staff id.
    pub fn hub_user(&self, id: Uuid) -> Option<&StaffUser> {
        self.hub.get(&id)
    }

    /// Replaces the hub accounts with a newer list.
    pub fn replace_hub(&mut self, issued_ms: u64, accounts: &[HubAccount]) {
        self.hub = accounts.iter().map(|a| (a.staff_id, a.user())).collect();
        self.hub_issued_ms = issued_ms;
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

    fn hub(id: u128, name: &str) -> HubAccount {
        HubAccount {
            staff_id: Uuid::from_u128(id),
            username: Username::parse(name).unwrap_or_else(|_| unreachable!()),
            display_name: "Olive".into(),
            role: Role::Manager,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$x$y".into(),
            epoch: 0,
        }
    }

    #[test]
    fn hub_accounts_log_in_after_the_venues_own_and_are_checked() {
        let mut d = StaffDirectory::default();
        d.users
            .insert(Uuid::from_u128(1), user(1, Role::Admin, true));
        d.replace_hub(10, &[hub(7, "u1"), hub(8, "olive")]);
        fn by(d: &StaffDirectory, n: &str) -> Option<Uuid> {
            d.by_username(&Username::parse(n).unwrap_or_else(|_| unreachable!()))
                .map(|u| u.id)
        }
        // A venue's own account keeps its name; a hub account is found by its own.
        assert_eq!(by(&d, "u1"), Some(Uuid::from_u128(1)));
        assert_eq!(by(&d, "olive"), Some(Uuid::from_u128(8)));
        assert_eq!(
            d.hub_user(Uuid::from_u128(8)).map(|u| u.role),
            Some(Role::Manager)
        );
        // A later list replaces the whole list.
        d.replace_hub(11, &[hub(7, "u1")]);
        assert_eq!(by(&d, "olive"), None);
        assert_eq!(d.hub_issued_ms, 11);
        // Checked: no name twice, an argon2id hash, at most MAX_HUB_ACCOUNTS.
        assert!(check_hub_accounts(&[hub(7, "a"), hub(8, "b")]).is_ok());
        assert!(check_hub_accounts(&[hub(7, "a"), hub(8, "a")]).is_err());
        let mut plain = hub(9, "c");
        plain.password_hash = "hunter2".into();
        assert!(check_hub_accounts(&[plain]).is_err());
        let many: Vec<HubAccount> = (0..=MAX_HUB_ACCOUNTS as u128)
            .map(|i| hub(i + 100, &format!("s{i}")))
            .collect();
        assert!(check_hub_accounts(&many).is_err());
    }
}
