//! Who calls the hub and what they may do, in one place.
//!
//! A caller is the admin key (a hub super-admin: the bootstrap credential
//! that makes the first accounts) or a hub staff account signed in with its
//! username, password and, if it enrolled one, a TOTP code. Staff belong to
//! an operator with a role: owner, admin, regional manager (a chosen set of
//! the operator's venues) or auditor (read-only); super-admins belong to no
//! operator and see everything.
//!
//! [`Require<P>`] is how an API handler gets its [`Caller`]: it reads the
//! `Authorization: Bearer` credential and refuses with 401 (none or a bad
//! one) or 403 (a role that may never do `P`) before the handler runs.
//! Which venues a caller sees is the second check, [`Caller::venue`]: a
//! venue of another operator (or, for a regional manager, outside their
//! set) answers 404, as if it did not exist.

use super::error::ApiError;
use crate::store::StaffRow;
use crate::{now_ms, App};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pvm_shared::auth::{Throttle, ThrottlePolicy};
use pvm_shared::staff::LockScope;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::marker::PhantomData;
use uuid::Uuid;

/// What a staff session's secret starts with (the admin key starts `pvm_admin_`).
pub const SESSION_PREFIX: &str = "pvm_hs_";
/// How long a staff session lasts.
pub const SESSION_MS: i64 = 12 * 3_600_000;

/// A hub role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Super,
    Owner,
    Admin,
    Regional,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Super,
        Role::Owner,
        Role::Admin,
        Role::Regional,
        Role::Auditor,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Super => "super",
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Regional => "regional",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    /// For people: "regional manager", not "regional".
    pub fn label(self) -> &'static str {
        match self {
            Role::Super => "hub super-admin",
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Regional => "regional manager",
            Role::Auditor => "auditor",
        }
    }
}

/// A permission as a type, so a handler declares it in its signature; its
/// name is the scope the OpenAPI document gives the operation.
pub trait Perm: Send + Sync + 'static {
    const NAME: &'static str;
    const ROLES: &'static [Role];
}

macro_rules! perms {
    ($($name:ident = $scope:literal: [$($role:ident),*];)*) => {
        $(
            #[doc = concat!("`", $scope, "`: ", $(stringify!($role), " "),*)]
            pub struct $name;
            impl Perm for $name {
                const NAME: &'static str = $scope;
                const ROLES: &'static [Role] = &[$(Role::$role),*];
            }
        )*
        /// Every permission's scope with the roles that hold it.
        pub const PERMISSIONS: &[(&str, &[Role])] = &[$(($scope, &[$(Role::$role),*])),*];
    };
}

perms! {
    SignedIn = "signed_in": [Super, Owner, Admin, Regional, Auditor];
    VenuesRead = "venues.read": [Super, Owner, Admin, Regional, Auditor];
    VenuesAct = "venues.act": [Super, Owner, Admin, Regional];
    VenuesCreate = "venues.create": [Super, Owner, Admin];
    Fleet = "fleet": [Super, Owner, Admin];
    StaffManage = "staff.manage": [Super, Owner, Admin];
    Operators = "operators": [Super];
    OperatorSettings = "operator.settings": [Super, Owner];
}

/// Who is calling, once their credential is checked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// None for a super-admin.
    pub operator: Option<Uuid>,
    /// A regional manager's venues.
    pub venues: Vec<Uuid>,
    /// The account; None for the admin key.
    pub staff: Option<StaffRow>,
    /// The SHA-256 (hex) of the session's secret, for a signed-in account.
    pub session: Option<String>,
}

impl Caller {
    /// The admin key.
    pub fn admin_key() -> Caller {
        Caller {
            role: Role::Super,
            operator: None,
            venues: Vec::new(),
            staff: None,
            session: None,
        }
    }

    fn of(staff: StaffRow, session: String) -> Option<Caller> {
        let role = Role::parse(&staff.role)?;
        Some(Caller {
            role,
            operator: staff.operator_id,
            venues: staff.venues.clone(),
            staff: Some(staff),
            session: Some(session),
        })
    }

    pub fn holds<P: Perm>(&self) -> bool {
        P::ROLES.contains(&self.role)
    }

    /// Whether this caller sees venue `venue` of operator `operator`.
    pub fn sees(&self, venue: Uuid, operator: Option<Uuid>) -> bool {
        match self.role {
            Role::Super => true,
            Role::Regional => {
                operator.is_some() && operator == self.operator && self.venues.contains(&venue)
            }
            _ => operator.is_some() && operator == self.operator,
        }
    }

    /// Whether this caller sees the operator's venues and staff.
    pub fn in_operator(&self, operator: Uuid) -> bool {
        self.role == Role::Super || self.operator == Some(operator)
    }

    /// 404 unless the venue exists and this caller sees it.
    pub async fn venue(&self, app: &App, venue: Uuid) -> Result<(), ApiError> {
        let operator = app.hub.store.lock().await?.venue_operator(venue).await?;
        match operator {
            Some(op) if self.sees(venue, op) => Ok(()),
            _ => Err(ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no venue {venue}"),
            )),
        }
    }

    /// The venue of a node this caller sees; 404 otherwise (unknown node
    /// included).
    pub async fn node_venue(&self, app: &App, node: Uuid) -> Result<Uuid, ApiError> {
        let unknown = || {
            ApiError(
                StatusCode::NOT_FOUND,
                "unknown_node",
                format!("no node {node} is registered here"),
            )
        };
        let found = app.hub.store.lock().await?.resync_node(node).await?;
        let venue: Uuid = found
            .and_then(|n| n.venue_id.parse().ok())
            .ok_or_else(unknown)?;
        self.venue(app, venue).await.map_err(|e| {
            if e.0 == StatusCode::NOT_FOUND {
                unknown()
            } else {
                e
            }
        })?;
        Ok(venue)
    }
}

/// The stored form of a session's secret.
pub fn session_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The caller a credential names: the admin key, or a staff session's
/// secret (`pvm_hs_…`). None when it is neither.
pub async fn caller_of(app: &App, credential: &str) -> Result<Option<Caller>, ApiError> {
    let credential = credential.trim();
    if credential.is_empty() {
        return Ok(None);
    }
    if credential.starts_with(SESSION_PREFIX) {
        let hash = session_hash(credential);
        let staff = app
            .hub
            .store
            .lock()
            .await?
            .staff_session(&hash, now_ms())
            .await?;
        return Ok(staff.and_then(|s| Caller::of(s, hash)));
    }
    let hash: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
    Ok((hash == app.admin_key_hash).then(Caller::admin_key))
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
}

fn unauthenticated() -> Response {
    let mut r = ApiError(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "sign in first: send Authorization: Bearer with the admin key or a session token from POST /api/v1/login".into(),
    )
    .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// 403 for a caller whose role may never do `P`.
pub fn forbidden(caller: &Caller, permission: &str) -> ApiError {
    ApiError(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "your role ({}) cannot do this (it needs {permission})",
            caller.role.label()
        ),
    )
}

/// The checked caller, holding permission `P`.
pub struct Require<P: Perm>(pub Caller, pub PhantomData<P>);

impl<P: Perm> FromRequestParts<App> for Require<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        match caller_of(app, bearer(&parts.headers)).await {
            Ok(Some(c)) if c.holds::<P>() => Ok(Require(c, PhantomData)),
            Ok(Some(c)) => Err(forbidden(&c, P::NAME).into_response()),
            Ok(None) => Err(unauthenticated()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Failed sign-ins, per account and per client address, in this process
/// (several pvm-cloud processes each keep their own count): past the
/// limit, that account or address waits out a lockout (`ThrottlePolicy`,
/// as on the node).
#[derive(Default)]
pub struct Logins(std::sync::Mutex<HashMap<(LockScope, String), Throttle>>);

/// Accounts and addresses tracked at most: past this the idle ones go;
/// while it stays full, sign-ins of accounts not in it wait (see `check`).
const MAX_TRACKED: usize = 100_000;

impl Logins {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(LockScope, String), Throttle>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(until_ms)` while the account or the address is locked out, or
    /// (for a minute) while the table is full and this account is not in
    /// it: a flood of made-up names and addresses never pushes a running
    /// lockout out.
    pub fn check(&self, account: &str, address: &str, now: u64) -> Result<(), u64> {
        let map = self.lock();
        for key in keys(account, address) {
            if let Some(t) = map.get(&key) {
                t.check(now)?;
            }
        }
        if map.len() >= MAX_TRACKED && !map.contains_key(&(LockScope::Account, account.to_owned()))
        {
            return Err(now + 60_000);
        }
        Ok(())
    }

    pub fn fail(&self, account: &str, address: &str, now: u64) {
        let mut map = self.lock();
        for (scope, subject) in keys(account, address) {
            let policy = ThrottlePolicy::for_scope(scope);
            if let Some(until) = map
                .entry((scope, subject.clone()))
                .or_default()
                .fail(policy, now)
            {
                tracing::warn!(
                    scope = scope.code(),
                    subject,
                    until,
                    "hub sign-in locked out"
                );
            }
        }
        if map.len() > MAX_TRACKED {
            map.retain(|(scope, _), t| !t.is_idle(now, ThrottlePolicy::for_scope(*scope)));
        }
    }

    /// A good sign-in forgives the account's count (not the address's).
    pub fn succeed(&self, account: &str) {
        if let Some(t) = self
            .lock()
            .get_mut(&(LockScope::Account, account.to_owned()))
        {
            t.succeed();
        }
    }
}

fn keys(account: &str, address: &str) -> [(LockScope, String); 2] {
    [
        (LockScope::Account, account.to_owned()),
        (LockScope::Address, address.to_owned()),
    ]
}

/// The checked caller holding `P`, and the thing the path names, which
/// they must see: a venue (`/api/v1/venues/{id}/…`), a node
/// (`/api/v1/nodes/{node}/…`, with its venue), an operator
/// (`/api/v1/operators/{id}/…`) or a staff account (`/api/v1/staff/{id}`).
/// Checked before the body is read, so a caller learns nothing about what
/// they do not see: 401, then 403, then 404, then the body's 400 or 422.
pub struct Scoped<P: Perm> {
    pub caller: Caller,
    pub id: Uuid,
    /// The node's venue, for a node.
    pub venue: Option<Uuid>,
    _perm: PhantomData<P>,
}

fn not_found(what: &str, id: &str) -> Response {
    let (code, message) = match what {
        "node" => ("unknown_node", format!("no node {id} is registered here")),
        _ => ("not_found", format!("no {what} {id}")),
    };
    ApiError(StatusCode::NOT_FOUND, code, message).into_response()
}

impl<P: Perm> FromRequestParts<App> for Scoped<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Require(caller, _) = Require::<P>::from_request_parts(parts, app).await?;
        let axum::extract::Path(params) =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, app)
                .await
                .map_err(IntoResponse::into_response)?;
        let path = parts.uri.path();
        let (what, key) = if path.starts_with("/api/v1/nodes/") {
            ("node", "node")
        } else if path.starts_with("/api/v1/operators/") {
            ("operator", "id")
        } else if path.starts_with("/api/v1/staff/") {
            ("staff account", "id")
        } else if path.starts_with("/api/v1/actions/") {
            ("action", "id")
        } else {
            ("venue", "id")
        };
        let raw = params.get(key).map(String::as_str).unwrap_or_default();
        let Ok(id) = raw.parse::<Uuid>() else {
            return Err(not_found(what, raw));
        };
        let mut venue = None;
        // Only "not seen" is a 404: a database that does not answer is not.
        let unseen = |e: ApiError| -> Result<bool, ApiError> {
            if e.0 == StatusCode::NOT_FOUND {
                Ok(false)
            } else {
                Err(e)
            }
        };
        let seen = match what {
            "node" => match caller.node_venue(app, id).await {
                Ok(v) => {
                    venue = Some(v);
                    true
                }
                Err(e) => unseen(e).map_err(IntoResponse::into_response)?,
            },
            "operator" => {
                let exists = app
                    .hub
                    .store
                    .lock()
                    .await
                    .map_err(|e| ApiError::from(e).into_response())?
                    .operator(id)
                    .await
                    .map_err(|e| ApiError::from(e).into_response())?
                    .is_some();
                exists && caller.in_operator(id)
            }
            "staff account" => {
                let staff = app
                    .hub
                    .store
                    .lock()
                    .await
                    .map_err(|e| ApiError::from(e).into_response())?
                    .staff_by_id(id)
                    .await
                    .map_err(|e| ApiError::from(e).into_response())?;
                match staff.map(|s| s.operator_id) {
                    Some(Some(op)) => caller.in_operator(op),
                    Some(None) => caller.role == Role::Super,
                    None => false,
                }
            }
            "action" => {
                let found = app
                    .hub
                    .store
                    .lock()
                    .await
                    .map_err(|e| ApiError::from(e).into_response())?
                    .action(id)
                    .await
                    .map_err(|e| ApiError::from(e).into_response())?;
                match found.map(|(a, _)| a.operator_id) {
                    Some(Some(op)) => caller.in_operator(op),
                    Some(None) => caller.role == Role::Super,
                    None => false,
                }
            }
            _ => match caller.venue(app, id).await {
                Ok(()) => true,
                Err(e) => unseen(e).map_err(IntoResponse::into_response)?,
            },
        };
        if !seen {
            return Err(not_found(what, raw));
        }
        Ok(Scoped {
            caller,
            id,
            venue,
            _perm: PhantomData,
        })
    }
}
