//! Logins, tokens, sessions and API keys on the node.
//!
//! The rules (roles, permission matrix, JWT format, throttling) are in
//! `pvm_shared::auth`; this module holds the node's keys, hashes secrets,
//! remembers revoked sessions and lockouts, and appends the events that
//! record them. Time comes from the injected `TimeSource`.

use crate::identity::NodeIdentity;
use crate::store::writer::TimeSource;
use crate::store::{AppendError, Log, Reader, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use pvm_shared::auth::{
    self, Claims, Role, Throttle, ThrottlePolicy, TokenError, TokenKind, ACCESS_TTL_SECS,
    REFRESH_TTL_SECS,
};
pub use pvm_shared::secrets::{
    check_password, hash_secret, ARGON2_LANES, ARGON2_MEMORY_KIB, ARGON2_PASSES,
};
use pvm_shared::secrets::{verify_secret, DUMMY_HASH};
use pvm_shared::staff::{LockScope, StaffUser, Username};
use pvm_shared::venue::Command;
use pvm_shared::Actor;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

pub const API_KEY_PREFIX: &str = "pvm_key_";

/// Wrong setup codes (from anywhere) before setup closes until a restart.
pub const SETUP_ATTEMPTS: u32 = 20;

/// At most this many argon2 hashes at once (19 MiB each): a flood of logins
/// queues instead of exhausting a Pi's memory.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Argon2 takes tens of milliseconds: run it off the async workers.
pub async fn hash_secret_blocking(secret: &str) -> Result<String, String> {
    let _permit = HASHING.acquire().await.map_err(|e| e.to_string())?;
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || hash_secret(&secret))
        .await
        .map_err(|e| format!("hashing task failed: {e}"))?
}

async fn verify_secret_blocking(hash: String, secret: String) -> bool {
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify_secret(&hash, &secret))
        .await
        .unwrap_or(false)
}

/// A PIN: 4 to 8 digits, neither one digit repeated (`0000`) nor a straight
/// run up or down (`1234`, `8765`): the PINs people guess first. The PIN
/// policy (docs/OPERATIONS.md) rests on this and on the login lockouts.
pub fn check_pin(pin: &str) -> Result<(), String> {
    const RULE: &str =
        "a PIN is 4 to 8 digits, not one digit repeated and not a straight run like 1234";
    if !(4..=8).contains(&pin.len()) || !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(RULE.into());
    }
    let d: Vec<i8> = pin.bytes().map(|b| (b - b'0') as i8).collect();
    let steps: Vec<i8> = d.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.iter().all(|&s| s == steps[0]) && matches!(steps[0], -1..=1) {
        return Err(RULE.into());
    }
    Ok(())
}

/// Who is making a request, once their credentials are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    /// The login session, for tokens; None for API keys.
    pub sid: Option<String>,
    /// Token expiry (seconds), for revoking the session until then.
    pub exp: u64,
    /// When the session began, and the credential epoch it was issued under.
    pub auth_time: u64,
    pub ver: u32,
}

impl Principal {
    /// The actor recorded on every event this principal causes.
    pub fn actor(&self) -> Actor {
        Actor::Staff(self.user_id.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("this session has ended; log in again")]
    Revoked,
    #[error("this account is disabled")]
    Disabled,
    #[error("unknown or revoked API key")]
    BadApiKey,
    #[error("this API key ended when its user's password or PIN changed or the account was disabled; make a new one")]
    StaleApiKey,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed logins; try again in {}", pvm_shared::words::count(*minutes, "minute", "minutes"))]
    LockedOut { until_ms: u64, minutes: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A good login: the session's tokens, the account, and a device cookie
/// for the browser (see `AuthService::login`).
pub struct LoggedIn {
    pub tokens: TokenPair,
    pub user: StaffUser,
    pub device: String,
}

/// The device cookie's name and lifetime: a browser that logged in well once
/// is not held by its account's lockout for a year.
pub const DEVICE_COOKIE: &str = "pvm_device";
pub const DEVICE_TTL_SECS: u64 = 365 * 24 * 3600;
/// Longer cookies are not ours (ours are about 170 bytes).
const MAX_DEVICE_COOKIE: usize = 256;

/// How a user proves who they are at login.
pub enum Secret<'a> {
    Password(&'a str),
    Pin(&'a str),
}

pub struct AuthService {
    identity: Arc<NodeIdentity>,
    node_kid: String,
    /// The hub keys this node trusts (kid, key), the current one last: a
    /// rotation the hub sends replaces them (`set_hub_keys`).
    hub: std::sync::RwLock<Vec<(String, VerifyingKey)>>,
    audience: String,
    clock: Arc<dyn TimeSource>,
    log: Log,
    revoked: Mutex<HashMap<String, u64>>,
    throttles: Mutex<HashMap<(LockScope, String), Throttle>>,
    /// Failed logins from an account's known devices, all of them together,
    /// by user id (not persisted; at most one entry per staff account).
    devices: Mutex<HashMap<Uuid, Throttle>>,
    /// One login at a time per address and per account, so parallel guesses
    /// cannot all pass the lockout check before any of them is counted.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    setup_failures: std::sync::atomic::AtomicU32,
    /// While the node has no staff account: the code the first admin must type
    /// on `/setup`, printed only on the node's console.
    setup_code: Mutex<Option<String>>,
}

/// What failed logins count against (and a lockout event names) for a
/// typed username: the username itself when it could be one, else a short
/// digest of what was typed. No account can have such a name, and however
/// much was typed, the key (and so the event) stays a few dozen bytes.
fn account_key(typed: &str) -> String {
    match Username::parse(typed) {
        Ok(u) => u.to_string(),
        Err(_) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(typed.trim().to_lowercase().as_bytes());
            format!("not-a-username:{}", hex::encode(&digest[..8]))
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AuthService {
    pub async fn load(
        identity: Arc<NodeIdentity>,
        hub_keys: Vec<VerifyingKey>,
        clock: Arc<dyn TimeSource>,
        log: Log,
        reader: &Reader,
    ) -> Result<AuthService, StoreError> {
        let now_ms = clock.now_ms();
        let revoked = reader
            .revoked_sessions(now_ms / 1000)
            .await?
            .into_iter()
            .collect();
        let mut throttles = HashMap::new();
        for (scope, subject, until) in reader.lockouts(now_ms).await? {
            let scope = if scope == "address" {
                LockScope::Address
            } else {
                LockScope::Account
            };
            throttles.insert((scope, subject), Throttle::locked(until));
        }
        Ok(AuthService {
            node_kid: auth::key_id(&identity.key.verifying_key()),
            audience: auth::audience(&identity.venue_id),
            hub: std::sync::RwLock::new(hub_keys.iter().map(|k| (auth::key_id(k), *k)).collect()),
            identity,
            clock,
            log,
            revoked: Mutex::new(revoked),
            throttles: Mutex::new(throttles),
            devices: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            setup_failures: std::sync::atomic::AtomicU32::new(0),
            setup_code: Mutex::new(None),
        })
    }

    fn now_secs(&self) -> u64 {
        self.clock.now_ms() / 1000
    }

    /// The public keys tokens on this node may be signed with: (kid, key, whose).
    pub fn public_keys(&self) -> Vec<(String, VerifyingKey, &'static str)> {
        let mut keys = vec![(
            self.node_kid.clone(),
            self.identity.key.verifying_key(),
            "node",
        )];
        for (kid, key) in self.hub.read().unwrap_or_else(|p| p.into_inner()).iter() {
            keys.push((kid.clone(), *key, "hub"));
        }
        keys
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    fn key_for(&self, kid: &str) -> Option<VerifyingKey> {
        if kid == self.node_kid {
            return Some(self.identity.key.verifying_key());
        }
        self.hub
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| *key)
    }

    /// The hub keys to trust from now on (a rotation or a retirement the
    /// hub sent): tokens a retired key signed are refused at once.
    pub fn set_hub_keys(&self, keys: &[VerifyingKey]) {
        *self.hub.write().unwrap_or_else(|p| p.into_inner()) =
            keys.iter().map(|k| (auth::key_id(k), *k)).collect();
    }

    /// Issues an access and a refresh token for a session that began at
    /// `auth_time`; neither outlives the session's 12 hours.
    fn issue(
        &self,
        user_id: &str,
        name: &str,
        role: Role,
        sid: &str,
        auth_time: u64,
        ver: u32,
    ) -> TokenPair {
        let now = self.now_secs();
        let session_end = auth_time + REFRESH_TTL_SECS;
        let claims = |kind, exp| Claims {
            iss: format!("pvm-node:{}", self.identity.node_id),
            sub: user_id.to_owned(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp,
            sid: sid.to_owned(),
            kind,
            role,
            name: name.to_owned(),
            auth_time,
            ver,
        };
        let access_exp = (now + ACCESS_TTL_SECS).min(session_end);
        TokenPair {
            access_token: auth::sign_token(
                &claims(TokenKind::Access, access_exp),
                &self.identity.key,
                &self.node_kid,
            ),
            refresh_token: auth::sign_token(
                &claims(TokenKind::Refresh, session_end),
                &self.identity.key,
                &self.node_kid,
            ),
            expires_in: access_exp.saturating_sub(now),
            refresh_expires_in: session_end.saturating_sub(now),
        }
    }

    /// Checks a token of `kind`: signature, audience, time, revocation, and
    /// (for this node's users) that the account is still enabled with that role.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Principal, AuthError> {
        let now = self.now_secs();
        let signer = std::cell::Cell::new(false);
        let claims = auth::verify_token(
            token,
            |kid| {
                signer.set(kid == self.node_kid);
                self.key_for(kid)
            },
            &self.audience,
            kind,
            now,
        )?;
        if lock(&self.revoked)
            .get(&claims.sid)
            .is_some_and(|&until| until > now)
        {
            return Err(AuthError::Revoked);
        }
        let mut role = claims.role;
        if let Ok(id) = Uuid::parse_str(&claims.sub) {
            let staff = self.log.staff();
            let user = staff.users.get(&id).or_else(|| staff.hub_user(id));
            if user.is_none() && signer.get() {
                // This node only signs for its accounts: one no longer here
                // is a hub account the hub has stopped sending.
                return Err(AuthError::Revoked);
            }
            if let Some(user) = user {
                if !user.enabled {
                    return Err(AuthError::Disabled);
                }
                if claims.ver != user.epoch {
                    // The password or PIN changed, or the account was disabled, since.
                    return Err(AuthError::Revoked);
                }
                // A role lowered since the token was issued applies at once.
                role = role.min(user.role);
            }
        }
        Ok(Principal {
            user_id: claims.sub,
            name: claims.name,
            role,
            sid: Some(claims.sid),
            exp: claims.exp,
            auth_time: claims.auth_time,
            ver: claims.ver,
        })
    }

    /// Checks an API key `pvm_key_<id>_<secret>` against its stored hash.
    pub fn verify_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let rest = key
            .strip_prefix(API_KEY_PREFIX)
            .ok_or(AuthError::BadApiKey)?;
        let (id, secret) = rest.split_once('_').ok_or(AuthError::BadApiKey)?;
        let id = Uuid::parse_str(id).map_err(|_| AuthError::BadApiKey)?;
        let staff = self.log.staff();
        let stored = staff
            .api_keys
            .get(&id)
            .filter(|k| !k.revoked)
            .ok_or(AuthError::BadApiKey)?;
        let hash = hex::encode(Sha256::digest(secret.as_bytes()));
        if !constant_time_eq(hash.as_bytes(), stored.secret_hash.as_bytes()) {
            return Err(AuthError::BadApiKey);
        }
        let user = staff
            .users
            .get(&stored.user_id)
            .ok_or(AuthError::BadApiKey)?;
        if !user.enabled {
            return Err(AuthError::Disabled);
        }
        if !stored.is_live(user) {
            return Err(AuthError::StaleApiKey);
        }
        Ok(Principal {
            user_id: user.id.to_string(),
            name: user.display_name.clone(),
            role: user.role,
            sid: None,
            exp: u64::MAX,
            auth_time: 0,
            ver: user.epoch,
        })
    }

    fn throttle_check(&self, keys: &[(LockScope, String)], now_ms: u64) -> Result<(), AuthError> {
        let throttles = lock(&self.throttles);
        for key in keys {
            if let Some(Err(until_ms)) = throttles.get(key).map(|t| t.check(now_ms)) {
                return Err(AuthError::LockedOut {
                    until_ms,
                    minutes: (until_ms - now_ms).div_ceil(60_000),
                });
            }
        }
        Ok(())
    }

    /// Logs in with a password or PIN. Failures count against the account and
    /// the address; past the limit both are locked out, and the lockout is an
    /// event. A browser that carries this account's device cookie (from an
    /// earlier good login) is held by its own count and its address instead of
    /// the account's: guesses from elsewhere cannot lock staff out of the
    /// devices they use.
    pub async fn login(
        &self,
        username: &str,
        secret: Secret<'_>,
        address: &str,
        device: Option<&str>,
    ) -> Result<LoggedIn, AuthError> {
        let account = account_key(username);
        let keys = [
            (LockScope::Account, account.clone()),
            (LockScope::Address, address.to_owned()),
        ];
        let address_gate = self.gate(format!("address:{address}"));
        let _address_turn = address_gate.lock().await;
        let account_gate = self.gate(format!("account:{account}"));
        let _account_turn = account_gate.lock().await;
        // The clock and the account are read after waiting our turn.
        let now_ms = self.clock.now_ms();
        let user = Username::parse(username)
            .ok()
            .and_then(|u| self.log.staff().by_username(&u).cloned());
        let known_device = match (&user, device) {
            (Some(u), Some(cookie)) if self.known_device(cookie, u, now_ms) => Some(u.id),
            _ => None,
        };
        match &known_device {
            Some(user_id) => {
                self.throttle_check(&keys[1..], now_ms)?;
                let held = lock(&self.devices).get(user_id).map(|t| t.check(now_ms));
                if let Some(Err(until_ms)) = held {
                    return Err(AuthError::LockedOut {
                        until_ms,
                        minutes: (until_ms - now_ms).div_ceil(60_000),
                    });
                }
            }
            None => self.throttle_check(&keys, now_ms)?,
        }
        let (hash, given) = match (&user, &secret) {
            (Some(u), Secret::Password(pw)) => (u.password_hash.clone(), *pw),
            (Some(u), Secret::Pin(pin)) => (u.pin_hash.clone(), *pin),
            (None, Secret::Password(pw) | Secret::Pin(pw)) => (None, *pw),
        };
        // Without a hash (unknown user, no PIN set) check against a dummy anyway,
        // so the time taken does not reveal which usernames exist.
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let ok = verify_secret_blocking(hash, given.to_owned()).await && real;
        match user {
            Some(user) if ok && user.enabled => {
                // Only the account's count is forgiven: one good login must not
                // reset an address that is guessing at other accounts.
                if let Some(t) = lock(&self.throttles).get_mut(&keys[0]) {
                    t.succeed();
                }
                if let Some(id) = known_device {
                    if let Some(t) = lock(&self.devices).get_mut(&id) {
                        t.succeed();
                    }
                }
                let sid = Uuid::now_v7().simple().to_string();
                let now = self.now_secs();
                let tokens = self.issue(
                    &user.id.to_string(),
                    &user.display_name,
                    user.role,
                    &sid,
                    now,
                    user.epoch,
                );
                let device = self.device_cookie(&user);
                Ok(LoggedIn {
                    tokens,
                    user,
                    device,
                })
            }
            Some(_) if ok => Err(AuthError::Disabled),
            _ => {
                let mut lockouts = Vec::new();
                {
                    let mut throttles = lock(&self.throttles);
                    // A known device's failures count against it, not the account.
                    let counted = if known_device.is_some() {
                        &keys[1..]
                    } else {
                        &keys[..]
                    };
                    for (scope, subject) in counted {
                        let policy = ThrottlePolicy::for_scope(*scope);
                        let t = throttles.entry((*scope, subject.clone())).or_default();
                        if let Some(until_ms) = t.fail(policy, now_ms) {
                            lockouts.push((*scope, subject.clone(), until_ms));
                        }
                    }
                    throttles.retain(|(scope, _), t| {
                        let policy = ThrottlePolicy::for_scope(*scope);
                        !t.is_idle(now_ms, policy)
                    });
                }
                if let Some(user_id) = known_device {
                    let mut devices = lock(&self.devices);
                    let locked = devices
                        .entry(user_id)
                        .or_default()
                        .fail(ThrottlePolicy::ACCOUNT, now_ms);
                    if let Some(until_ms) = locked {
                        tracing::warn!(%user_id, until_ms, "logins from this account's known devices locked out");
                    }
                }
                for (scope, subject, until_ms) in lockouts {
                    tracing::warn!(scope = scope.code(), subject, until_ms, "login locked out");
                    self.log
                        .append(
                            Actor::System,
                            Command::RecordLockout {
                                scope,
                                subject,
                                until_ms,
                            },
                        )
                        .await?;
                }
                Err(AuthError::BadCredentials)
            }
        }
    }

    /// A device cookie for `user`: `<user>.<epoch>.<issued secs>.<nonce>.<signature>`,
    /// signed by the node's key under its own context (never valid as
    /// anything else). It ends with the user's credential epoch (a new
    /// password or PIN, or a disable) and after `DEVICE_TTL_SECS`.
    pub fn device_cookie(&self, user: &StaffUser) -> String {
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let body = format!(
            "{}.{}.{}.{}",
            user.id.simple(),
            user.epoch,
            self.now_secs(),
            hex::encode(nonce)
        );
        let sig = ed25519_dalek::Signer::sign(&self.identity.key, &self.device_message(&body));
        format!("{body}.{}", B64.encode(sig.to_bytes()))
    }

    fn device_message(&self, body: &str) -> Vec<u8> {
        pvm_shared::signing::with_context(
            pvm_shared::signing::DEVICE,
            format!("{}\n{body}", self.audience).as_bytes(),
        )
    }

    /// Whether `cookie` is this node's live device cookie for `user`.
    fn known_device(&self, cookie: &str, user: &StaffUser, now_ms: u64) -> bool {
        let check = || -> Option<()> {
            if cookie.len() > MAX_DEVICE_COOKIE {
                return None;
            }
            let (body, sig) = cookie.rsplit_once('.')?;
            let mut parts = body.split('.');
            let (id, epoch, issued) = (parts.next()?, parts.next()?, parts.next()?);
            (Uuid::parse_str(id).ok()? == user.id).then_some(())?;
            (epoch.parse::<u32>().ok()? == user.epoch).then_some(())?;
            let issued: u64 = issued.parse().ok()?;
            (issued.saturating_add(DEVICE_TTL_SECS) > now_ms / 1000).then_some(())?;
            let sig = ed25519_dalek::Signature::from_slice(&B64.decode(sig).ok()?).ok()?;
            self.identity
                .key
                .verifying_key()
                .verify_strict(&self.device_message(body), &sig)
                .ok()
        };
        check().is_some()
    }

    /// When the node has no staff account yet, makes the one-time setup code
    /// (to print on the console) and returns it.
    pub fn begin_setup(&self) -> Option<String> {
        if !self.log.staff().users.is_empty() {
            return None;
        }
        let mut b = [0u8; 4];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        let n = u32::from_be_bytes(b) % 1_000_000;
        let code = format!("{:03}-{:03}", n / 1000, n % 1000);
        *lock(&self.setup_code) = Some(code.clone());
        Some(code)
    }

    /// True while `/setup` may make the first admin.
    pub fn setup_open(&self) -> bool {
        lock(&self.setup_code).is_some() && self.log.staff().users.is_empty()
    }

    /// Makes the first admin if `code` is the setup code; the code then stops working.
    /// Wrong codes count against the address like failed logins.
    pub async fn finish_setup(
        &self,
        code: &str,
        new: &NewAdmin,
        address: &str,
    ) -> Result<(TokenPair, Uuid), AuthError> {
        let now_ms = self.clock.now_ms();
        let key = [(LockScope::Address, address.to_owned())];
        self.throttle_check(&key, now_ms)?;
        let expected = lock(&self.setup_code).clone();
        let matches = expected
            .as_deref()
            .is_some_and(|e| constant_time_eq(e.as_bytes(), code.trim().as_bytes()));
        if !matches || !self.log.staff().users.is_empty() {
            let failures = self
                .setup_failures
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            if failures >= SETUP_ATTEMPTS {
                *lock(&self.setup_code) = None;
                tracing::warn!(
                    "too many wrong setup codes: setup is closed until the node restarts"
                );
            }
            let until = lock(&self.throttles)
                .entry(key[0].clone())
                .or_default()
                .fail(ThrottlePolicy::ADDRESS, now_ms);
            if let Some(until_ms) = until {
                self.log
                    .append(
                        Actor::System,
                        Command::RecordLockout {
                            scope: LockScope::Address,
                            subject: address.to_owned(),
                            until_ms,
                        },
                    )
                    .await?;
            }
            return Err(AuthError::Invalid(
                "that setup code is not right (it is printed in the node's console)".into(),
            ));
        }
        let user_id = create_account(&self.log, new)
            .await
            .map_err(AuthError::Invalid)?;
        *lock(&self.setup_code) = None;
        let sid = Uuid::now_v7().simple().to_string();
        let now = self.now_secs();
        let pair = self.issue(
            &user_id.to_string(),
            &new.display_name,
            new.role,
            &sid,
            now,
            0,
        );
        Ok((pair, user_id))
    }

    /// Swaps a refresh token for a new pair in the same session (which still ends 12 h after login).
    pub fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let p = self.verify(refresh_token, TokenKind::Refresh)?;
        let sid = p.sid.clone().unwrap_or_default();
        Ok(self.issue(&p.user_id, &p.name, p.role, &sid, p.auth_time, p.ver))
    }

    fn gate(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = lock(&self.gates);
        gates.retain(|_, g| Arc::strong_count(g) > 1);
        gates.entry(key).or_default().clone()
    }

    /// Lets a locked-out account in again (an admin set a new password or PIN).
    pub async fn clear_lockout(&self, username: &str) -> Result<(), AuthError> {
        let key = (LockScope::Account, username.to_owned());
        let locked = lock(&self.throttles)
            .remove(&key)
            .is_some_and(|t| t.check(self.clock.now_ms()).is_err());
        if locked {
            self.log
                .append(
                    Actor::System,
                    Command::ClearLockout {
                        scope: LockScope::Account,
                        subject: username.to_owned(),
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Ends a session: every token issued under it is refused from now on.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        let Some(sid) = principal.sid.clone() else {
            return Ok(());
        };
        // Until every token of the session has expired, whoever issued it.
        let until_secs = (self.now_secs() + REFRESH_TTL_SECS).max(principal.exp);
        self.log
            .append(
                principal.actor(),
                Command::RevokeSession {
                    sid: sid.clone(),
                    user_id: principal.user_id.clone(),
                    until_secs,
                },
            )
            .await?;
        let now = self.now_secs();
        let mut revoked = lock(&self.revoked);
        revoked.retain(|_, until| *until > now);
        revoked.insert(sid, until_secs);
        Ok(())
    }

    /// Makes a new API key for `principal`; the full key is returned once and only its hash kept.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<(Uuid, String), AuthError> {
        if principal.sid.is_none() {
            return Err(AuthError::Invalid(
                "an API key cannot make API keys; log in as yourself".into(),
            ));
        }
        let user_id = Uuid::parse_str(&principal.user_id).map_err(|_| {
            AuthError::Invalid("API keys belong to this venue's own staff accounts".into())
        })?;
        if self.log.staff().hub_user(user_id).is_some() {
            return Err(AuthError::Invalid(
                "API keys belong to this venue's own staff accounts, not to hub accounts".into(),
            ));
        }
        let key_id = Uuid::now_v7();
        let mut secret_bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret_bytes);
        let secret = B64.encode(secret_bytes);
        let secret_hash = hex::encode(Sha256::digest(secret.as_bytes()));
        self.log
            .append(
                principal.actor(),
                Command::CreateApiKey {
                    key_id,
                    user_id,
                    name: name.to_owned(),
                    secret_hash,
                },
            )
            .await?;
        Ok((
            key_id,
            format!("{API_KEY_PREFIX}{}_{secret}", key_id.simple()),
        ))
    }
}

/// What `pvm-node admin create` asks for.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct NewAdmin {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password: String,
}

/// Creates a staff account from the command line or the first-run setup
/// page (first admin, or a recovery), through `ops::staff` like every other.
pub async fn create_account(log: &Log, new: &NewAdmin) -> Result<Uuid, String> {
    let username = Username::parse(&new.username).map_err(|e| e.to_string())?;
    crate::ops::staff::create(
        log,
        Actor::System,
        crate::ops::staff::NewAccount {
            username,
            display_name: new.display_name.clone(),
            role: new.role,
            password: Some(new.password.clone()),
            pin: None,
        },
    )
    .await
    .map(|user| user.id)
    .map_err(|e| e.to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_four_to_eight_digits_and_not_the_first_guesses() {
        assert!(check_pin("4821").is_ok());
        assert!(check_pin("19740523").is_ok());
        assert!(check_pin("2468").is_ok(), "steps of two are not a run");
        assert!(check_pin("123").is_err());
        assert!(check_pin("123456789").is_err());
        assert!(check_pin("12a4").is_err());
        for guessable in ["0000", "7777777", "1234", "012345", "9876", "43210"] {
            assert!(check_pin(guessable).is_err(), "{guessable}");
        }
    }
}
