//! Staff accounts: create one; change its role, enable or disable it, give
//! it a new password or PIN. Secrets come in as typed and are checked and
//! hashed here; every change of one request is one batch, and a new
//! password or PIN is also the way back in after a lockout.

use crate::auth::{self, AuthError, AuthService, Principal};
use crate::store::{AppendError, Log};
use pvm_shared::auth::Role;
use pvm_shared::staff::{StaffUser, Username};
use pvm_shared::venue::Command;
use pvm_shared::Actor;
use uuid::Uuid;

/// A new account. At least one of password and PIN is usually given; an
/// account with neither cannot log in until it gets one.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub password: Option<String>,
    pub pin: Option<String>,
}

/// What to change on one account (what is `None` stays).
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub role: Option<Role>,
    pub enabled: Option<bool>,
    pub password: Option<String>,
    pub pin: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// A password or PIN that breaks the policy, or nothing to change.
    #[error("{0}")]
    Invalid(String),
    #[error("no staff user with id {0}")]
    NotFound(Uuid),
    #[error("no API key with id {0}")]
    KeyNotFound(Uuid),
    #[error("hashing a secret: {0}")]
    Hashing(String),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Checks a password and a PIN against the policy, then hashes them.
async fn hashed(
    password: Option<&str>,
    pin: Option<&str>,
) -> Result<(Option<String>, Option<String>), StaffError> {
    if let Some(pw) = password {
        auth::check_password(pw).map_err(StaffError::Invalid)?;
    }
    if let Some(pin) = pin {
        auth::check_pin(pin).map_err(StaffError::Invalid)?;
    }
    let mut out = (None, None);
    if let Some(pw) = password {
        out.0 = Some(
            auth::hash_secret_blocking(pw)
                .await
                .map_err(StaffError::Hashing)?,
        );
    }
    if let Some(pin) = pin {
        out.1 = Some(
            auth::hash_secret_blocking(pin)
                .await
                .map_err(StaffError::Hashing)?,
        );
    }
    Ok(out)
}

/// Creates an account; returns it as stored.
pub async fn create(log: &Log, actor: Actor, new: NewAccount) -> Result<StaffUser, StaffError> {
    let (password_hash, pin_hash) = hashed(new.password.as_deref(), new.pin.as_deref()).await?;
    let user_id = Uuid::now_v7();
    log.append(
        actor,
        Command::CreateStaff {
            user_id,
            username: new.username,
            display_name: new.display_name,
            role: new.role,
            password_hash,
            pin_hash,
        },
    )
    .await?;
    stored(log, user_id)
}

/// Changes one account, all of it or nothing; returns it as stored.
pub async fn change(
    log: &Log,
    auth: &AuthService,
    actor: Actor,
    user_id: Uuid,
    change: AccountChange,
) -> Result<StaffUser, StaffError> {
    stored(log, user_id)?;
    let (password_hash, pin_hash) =
        hashed(change.password.as_deref(), change.pin.as_deref()).await?;
    let mut commands = Vec::new();
    if let Some(role) = change.role {
        commands.push(Command::SetStaffRole { user_id, role });
    }
    if let Some(enabled) = change.enabled {
        commands.push(Command::SetStaffEnabled { user_id, enabled });
    }
    let credentials_changed = password_hash.is_some() || pin_hash.is_some();
    if let Some(password_hash) = password_hash {
        commands.push(Command::SetPassword {
            user_id,
            password_hash,
        });
    }
    if pin_hash.is_some() {
        commands.push(Command::SetPin { user_id, pin_hash });
    }
    if commands.is_empty() {
        return Err(StaffError::Invalid(
            "nothing to change: give role, enabled, password or pin".into(),
        ));
    }
    log.append_all(actor, commands).await?;
    let user = stored(log, user_id)?;
    if credentials_changed {
        // A new password or PIN from an admin is the way back in after a lockout.
        auth.clear_lockout(user.username.as_str()).await?;
    }
    Ok(user)
}

/// The account as the log's state has it now.
fn stored(log: &Log, user_id: Uuid) -> Result<StaffUser, StaffError> {
    log.staff()
        .users
        .get(&user_id)
        .cloned()
        .ok_or(StaffError::NotFound(user_id))
}

/// An API key as its owner, or an admin, sees it (never its secret).
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: Uuid,
    pub name: String,
    pub revoked: bool,
    pub user_id: Uuid,
    pub username: String,
    /// Not revoked, and its user enabled with the credentials it was made under.
    pub live: bool,
}

fn may_handle(who: &Principal, owner: Uuid) -> bool {
    who.role == Role::Admin || owner.to_string() == who.user_id
}

/// The API keys `who` may see: their own; an admin sees everyone's.
pub fn keys_visible_to(log: &Log, who: &Principal) -> Vec<KeyRow> {
    let staff = log.staff();
    let mut rows: Vec<KeyRow> = staff
        .api_keys
        .values()
        .filter(|k| may_handle(who, k.user_id))
        .map(|k| {
            let owner = staff.users.get(&k.user_id);
            KeyRow {
                id: k.id,
                name: k.name.clone(),
                revoked: k.revoked,
                user_id: k.user_id,
                username: owner.map(|u| u.username.to_string()).unwrap_or_default(),
                live: owner.is_some_and(|u| k.is_live(u)),
            }
        })
        .collect();
    rows.sort_by_key(|k| (k.revoked, k.id));
    rows
}

/// Revokes a key: one's own, or anyone's for an admin. Whose key it is
/// decides, not the role: a manager may not revoke a colleague's
/// integration (to them it does not exist). Returns the key's name.
pub async fn revoke_key(log: &Log, who: &Principal, key_id: Uuid) -> Result<String, StaffError> {
    let name = {
        let staff = log.staff();
        let key = staff
            .api_keys
            .get(&key_id)
            .filter(|k| may_handle(who, k.user_id))
            .ok_or(StaffError::KeyNotFound(key_id))?;
        key.name.clone()
    };
    log.append(who.actor(), Command::RevokeApiKey { key_id })
        .await?;
    Ok(name)
}

/// Takes the hub's list of roaming accounts for this venue (a `staff`
/// message from the hub): appended when it differs from the list held;
/// `None` when it is the same. A list issued before the held one is
/// refused by `decide`.
pub async fn replace_hub_staff(
    log: &Log,
    issued_ms: u64,
    accounts: Vec<pvm_shared::staff::HubAccount>,
) -> Result<Option<crate::store::writer::Committed>, AppendError> {
    let held = log.staff();
    let same = held.hub.len() == accounts.len()
        && accounts
            .iter()
            .all(|a| held.hub.get(&a.staff_id) == Some(&a.user()));
    if same && issued_ms > held.hub_issued_ms {
        return Ok(None);
    }
    log.append(
        Actor::Cloud,
        Command::ReplaceHubStaff {
            issued_ms,
            accounts,
        },
    )
    .await
    .map(Some)
}
