//! Staff roles, the permission matrix, EdDSA (ed25519) JWTs and login throttling.
//!
//! Pure: keys, clocks and key lookup are inputs. The node and the hub both
//! use this module, so a token the hub signs verifies on a node offline.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A staff role. Ordered: each role can do everything the ones below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Dealer,
    Floor,
    Manager,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Dealer, Role::Floor, Role::Manager, Role::Admin];

    pub fn code(self) -> &'static str {
        match self {
            Role::Dealer => "dealer",
            Role::Floor => "floor",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What an endpoint or page needs. Each maps to the least role that has it (`MATRIX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See the staff UI and one's own session.
    StaffUi,
    /// Open and close tables, change their game and stakes.
    TablesOperate,
    /// Create and rename tables.
    TablesManage,
    /// Control what the wall displays show.
    DisplaysControl,
    /// Change venue settings and branding.
    VenueManage,
    /// Read the event log.
    LogRead,
    /// Create and revoke one's own API keys.
    ApiKeys,
    /// Create staff accounts, change roles, disable users.
    StaffManage,
    /// See and edit the player directory (names, phones, notes).
    Players,
    /// Run the waiting lists and seats: add, call, seat, no-show, move.
    CashOperate,
    /// Set up waiting lists, the venue's list rules, must-move tables.
    CashManage,
    /// Run a tournament: register, start, clock, bust-outs.
    TournamentsOperate,
    /// Create tournaments and edit structures.
    TournamentsManage,
}

/// The permission matrix: one row per permission, the least role that holds it.
pub const MATRIX: &[(Permission, &str, Role)] = &[
    (Permission::StaffUi, "staff:ui", Role::Dealer),
    (Permission::TablesOperate, "tables:operate", Role::Floor),
    (Permission::DisplaysControl, "displays:control", Role::Floor),
    (Permission::Players, "players", Role::Floor),
    (Permission::CashOperate, "cash:operate", Role::Floor),
    (Permission::CashManage, "cash:manage", Role::Manager),
    (
        Permission::TournamentsOperate,
        "tournaments:operate",
        Role::Floor,
    ),
    (
        Permission::TournamentsManage,
        "tournaments:manage",
        Role::Manager,
    ),
    (Permission::TablesManage, "tables:manage", Role::Manager),
    (Permission::VenueManage, "venue:manage", Role::Manager),
    (Permission::LogRead, "log:read", Role::Manager),
    (Permission::ApiKeys, "apikeys", Role::Manager),
    (Permission::StaffManage, "staff:manage", Role::Admin),
];

impl Permission {
    fn row(self) -> (Permission, &'static str, Role) {
        MATRIX
            .iter()
            .copied()
            .find(|(p, _, _)| *p == self)
            .unwrap_or((self, "unknown", Role::Admin))
    }

    /// The name used in the OpenAPI document (`security: bearer: [name]`).
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// The least role that holds this permission.
    pub fn least_role(self) -> Role {
        self.row().2
    }

    pub fn from_name(name: &str) -> Option<Permission> {
        MATRIX
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(p, _, _)| *p)
    }

    pub fn allows(self, role: Role) -> bool {
        role >= self.least_role()
    }
}

/// Access tokens live 15 minutes; refresh tokens carry a session for 12 hours.
pub const ACCESS_TTL_SECS: u64 = 15 * 60;
pub const REFRESH_TTL_SECS: u64 = 12 * 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// The claims of a PVM token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who signed: `pvm-node:<node id>` or `pvm-hub`.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The venue the token is for: `pvm:venue:<venue id>`.
    pub aud: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// The session: logout revokes it, and every token issued under it.
    pub sid: String,
    pub kind: TokenKind,
    pub role: Role,
    /// The user's name, for screens and audit.
    pub name: String,
    /// When the session began (login): no token of it lives past this + 12 h.
    #[serde(default)]
    pub auth_time: u64,
    /// The user's credential epoch at issue: a password change, a new PIN or
    /// disabling the account moves it on, and older tokens stop working.
    #[serde(default)]
    pub ver: u32,
}

/// The longest user id or session id a token may carry (they end up in event envelopes).
pub const MAX_SUBJECT: usize = 128;

/// The audience string for a venue.
pub fn audience(venue_id: &uuid::Uuid) -> String {
    format!("pvm:venue:{venue_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm {0:?} is not accepted (only EdDSA)")]
    Algorithm(String),
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another venue")]
    WrongAudience,
    #[error("a {0:?} token cannot be used here")]
    WrongKind(TokenKind),
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// Signs `claims` as a compact JWT (`alg: EdDSA`) with key id `kid`.
pub fn sign_token(claims: &Claims, key: &SigningKey, kid: &str) -> String {
    let header = Header {
        alg: "EdDSA".into(),
        typ: Some("JWT".into()),
        kid: Some(kid.into()),
    };
    let h = B64.encode(serde_json::to_vec(&header).unwrap_or_default());
    let c = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{h}.{c}");
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig.to_bytes()))
}

/// Verifies a compact JWT: EdDSA only, a key found by `kid`, the signature,
/// the audience, the kind, and `nbf <= now < exp` (seconds).
pub fn verify_token(
    token: &str,
    key_for: impl Fn(&str) -> Option<VerifyingKey>,
    audience: &str,
    kind: TokenKind,
    now_secs: u64,
) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if header.alg != "EdDSA" {
        return Err(TokenError::Algorithm(header.alg));
    }
    let key = header
        .kid
        .as_deref()
        .and_then(&key_for)
        .ok_or(TokenError::UnknownKey)?;
    let sig_bytes: [u8; 64] = B64
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(TokenError::BadSignature)?;
    let signing_input = &token[..h.len() + 1 + c.len()];
    key.verify_strict(signing_input.as_bytes(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| TokenError::BadSignature)?;
    let claims: Claims = B64
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if claims.sub.is_empty()
        || claims.sub.len() > MAX_SUBJECT
        || claims.sid.len() > MAX_SUBJECT
        || claims.name.len() > 256
    {
        return Err(TokenError::Malformed);
    }
    if claims.aud != audience {
        return Err(TokenError::WrongAudience);
    }
    if claims.kind != kind {
        return Err(TokenError::WrongKind(claims.kind));
    }
    if now_secs < claims.nbf {
        return Err(TokenError::NotYetValid);
    }
    if now_secs >= claims.exp {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The key id a key is published under: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// When login attempts lock an account or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed within `window_ms` before the lockout.
    pub max_failures: u32,
    pub window_ms: u64,
    pub lockout_ms: u64,
}

impl ThrottlePolicy {
    /// Per account: 5 failures in 15 minutes lock it for 15 minutes.
    pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
        max_failures: 5,
        window_ms: 15 * 60_000,
        lockout_ms: 15 * 60_000,
    };
    /// Per address: 20 failures in 15 minutes lock it for 15 minutes.
    pub const ADDRESS: ThrottlePolicy = ThrottlePolicy {
        max_failures: 20,
        window_ms: 15 * 60_000,
        lockout_ms: 15 * 60_000,
    };
}

impl ThrottlePolicy {
    /// The policy for an account or an address.
    pub fn for_scope(scope: crate::staff::LockScope) -> ThrottlePolicy {
        match scope {
            crate::staff::LockScope::Account => ThrottlePolicy::ACCOUNT,
            crate::staff::LockScope::Address => ThrottlePolicy::ADDRESS,
        }
    }
}

/// Failed logins of one account or one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Throttle {
    failures: Vec<u64>,
    locked_until: Option<u64>,
}

impl Throttle {
    /// A throttle already locked until `until_ms` (restored from the log at start).
    pub fn locked(until_ms: u64) -> Throttle {
        Throttle {
            failures: Vec::new(),
            locked_until: Some(until_ms),
        }
    }

    /// `Err(until_ms)` while locked out.
    pub fn check(&self, now_ms: u64) -> Result<(), u64> {
        match self.locked_until {
            Some(until) if now_ms < until => Err(until),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns `Some(until_ms)` when it starts a lockout.
    pub fn fail(&mut self, policy: ThrottlePolicy, now_ms: u64) -> Option<u64> {
        self.failures
            .retain(|&t| now_ms.saturating_sub(t) < policy.window_ms);
        self.failures.push(now_ms);
        if self.failures.len() as u32 >= policy.max_failures {
            let until = now_ms + policy.lockout_ms;
            self.failures.clear();
            self.locked_until = Some(until);
            return Some(until);
        }
        None
    }

    /// A successful login clears the failures (not a running lockout: `check` runs first).
    pub fn succeed(&mut self) {
        self.failures.clear();
    }

    /// True when the throttle holds nothing worth keeping.
    pub fn is_idle(&self, now_ms: u64, policy: ThrottlePolicy) -> bool {
        self.check(now_ms).is_ok()
            && self
                .failures
                .iter()
                .all(|&t| now_ms.saturating_sub(t) >= policy.window_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: u64) -> Claims {
        Claims {
            iss: "pvm-hub".into(),
            sub: "u1".into(),
            aud: "pvm:venue:v".into(),
            iat: now,
            nbf: now,
            exp: now + ACCESS_TTL_SECS,
            sid: "s1".into(),
            kind: TokenKind::Access,
            role: Role::Floor,
            name: "Ann".into(),
            auth_time: now,
            ver: 0,
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn verify(token: &str, now: u64) -> Result<Claims, TokenError> {
        let vk = key().verifying_key();
        let kid = key_id(&vk);
        verify_token(
            token,
            |k| (k == kid).then_some(vk),
            "pvm:venue:v",
            TokenKind::Access,
            now,
        )
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let t = sign_token(&claims(1000), &key(), &key_id(&key().verifying_key()));
        assert_eq!(verify(&t, 1000).map(|c| c.role), Ok(Role::Floor));
        assert_eq!(verify(&t, 1000 + ACCESS_TTL_SECS), Err(TokenError::Expired));
        assert_eq!(verify(&t, 999), Err(TokenError::NotYetValid));
    }

    #[test]
    fn alg_none_is_refused() {
        let t = sign_token(&claims(1000), &key(), &key_id(&key().verifying_key()));
        let mut parts: Vec<&str> = t.split('.').collect();
        let none = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        parts[0] = &none;
        let forged = format!("{}.{}.", parts[0], parts[1]);
        assert_eq!(
            verify(&forged, 1000),
            Err(TokenError::Algorithm("none".into()))
        );
    }

    #[test]
    fn a_token_from_another_key_with_the_same_kid_is_refused() {
        let other = SigningKey::from_bytes(&[4; 32]);
        let t = sign_token(&claims(1000), &other, &key_id(&key().verifying_key()));
        assert_eq!(verify(&t, 1000), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_changed_claim_breaks_the_signature() {
        let t = sign_token(&claims(1000), &key(), &key_id(&key().verifying_key()));
        let mut c = claims(1000);
        c.role = Role::Admin;
        let forged_claims = B64.encode(serde_json::to_vec(&c).unwrap_or_default());
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(verify(&forged, 1000), Err(TokenError::BadSignature));
    }

    #[test]
    fn the_matrix_orders_roles() {
        assert!(Permission::TablesOperate.allows(Role::Floor));
        assert!(!Permission::TablesOperate.allows(Role::Dealer));
        assert!(Permission::StaffManage.allows(Role::Admin));
        assert!(!Permission::StaffManage.allows(Role::Manager));
        for (p, name, _) in MATRIX {
            assert_eq!(Permission::from_name(name), Some(*p));
        }
    }

    #[test]
    fn the_auth_doc_shows_this_matrix() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/AUTH.md"))
            .unwrap_or_default();
        for (_, name, role) in MATRIX {
            let row = format!("| `{name}` | {role} |");
            assert!(doc.contains(&row), "docs/AUTH.md lacks the row {row}");
        }
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes_then_it_ends() {
        let p = ThrottlePolicy::ACCOUNT;
        let mut t = Throttle::default();
        for i in 0..4 {
            assert_eq!(t.fail(p, 1000 + i), None);
        }
        let until = t.fail(p, 2000).expect("locks");
        assert_eq!(until, 2000 + p.lockout_ms);
        assert_eq!(t.check(until - 1), Err(until));
        assert_eq!(t.check(until), Ok(()));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let p = ThrottlePolicy::ACCOUNT;
        let mut t = Throttle::default();
        for i in 0..4 {
            t.fail(p, i);
        }
        assert_eq!(t.fail(p, p.window_ms + 10), None);
    }
}
