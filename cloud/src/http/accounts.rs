//! Operators and hub staff accounts: sign-in (argon2id password, optional
//! TOTP second factor, lockouts), sessions kept in the hub's database (a
//! restart signs nobody out; every pvm-cloud process sees them), sign-out,
//! and the API that makes operators and manages their staff.
//! docs/HUB_ACCOUNTS.md says who may do what.

use super::auth::{
    session_hash, Caller, OperatorSettings, Operators, Require, Role, Scoped, SignedIn,
    StaffManage, SESSION_MS, SESSION_PREFIX,
};
use super::error::{bad, ApiError, Body};
use crate::store::{NameTaken, OperatorRow, StaffChange, StaffRow};
use crate::{now_ms, App};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

/// Staff accounts of one operator, at most.
pub const MAX_STAFF: usize = 500;
/// Operators on one hub, at most.
pub const MAX_OPERATORS: usize = 10_000;
/// Venues in a regional manager's set, at most.
pub const MAX_REGION: usize = 500;
/// Bytes of a username or password looked at in a sign-in, at most: longer
/// ones are refused without hashing.
const MAX_SECRET_BYTES: usize = 512;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/totp", post(totp_begin))
        .route("/api/v1/me/totp/confirm", post(totp_confirm))
        .route(
            "/api/v1/operators",
            post(create_operator).get(list_operators),
        )
        .route(
            "/api/v1/operators/{id}/staff",
            post(create_staff).get(list_staff),
        )
        .route("/api/v1/admins", post(create_super))
        .route("/api/v1/operators/{id}", patch(change_operator))
        .route("/api/v1/staff/{id}", patch(change_staff))
}

/// A staff account as the API shows it (never its hashes or secrets).
pub fn staff_json(s: &StaffRow) -> Value {
    json!({
        "id": s.id,
        "operator_id": s.operator_id,
        "username": s.username,
        "display_name": s.display_name,
        "role": s.role,
        "venues": s.venues,
        "totp": s.totp_secret.is_some(),
        "disabled": s.disabled_ms.is_some(),
        "created_ms": s.created_ms,
        "node_role": s.node_role,
        "node_roles": s.node_roles,
    })
}

/// Why a sign-in failed.
#[derive(Debug)]
pub enum LoginError {
    BadCredentials,
    /// The account has a second factor: send its current code.
    TotpRequired,
    Disabled,
    LockedOut {
        minutes: u64,
    },
    Store(anyhow::Error),
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> ApiError {
        match e {
            LoginError::BadCredentials => ApiError(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "wrong username, password or code".into(),
            ),
            LoginError::TotpRequired => ApiError(
                StatusCode::UNAUTHORIZED,
                "totp_required",
                "this account has a second factor: send the 6-digit code from its authenticator app as totp".into(),
            ),
            LoginError::Disabled => ApiError(
                StatusCode::FORBIDDEN,
                "disabled",
                "this account is disabled".into(),
            ),
            LoginError::LockedOut { minutes } => ApiError(
                StatusCode::TOO_MANY_REQUESTS,
                "locked_out",
                format!("too many failed sign-ins: try again in {minutes} min"),
            ),
            LoginError::Store(e) => e.into(),
        }
    }
}

/// At most this many argon2 checks at once (19 MiB each).
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Runs argon2 (tens of milliseconds) off the async workers: hashes
/// `secret` (`against` None) or checks it against a PHC string.
async fn argon2_blocking(secret: &str, against: Option<String>) -> Result<String, String> {
    let _permit = HASHING.acquire().await.map_err(|e| e.to_string())?;
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || match against {
        None => pvm_shared::secrets::hash_secret(&secret),
        Some(hash) => match pvm_shared::secrets::verify_secret(&hash, &secret) {
            true => Ok(String::new()),
            false => Err("no match".into()),
        },
    })
    .await
    .map_err(|e| format!("hashing task failed: {e}"))?
}

/// Signs in: the lockouts first, then the password (a dummy hash for an
/// unknown account, so timing tells nothing), then the TOTP code if the
/// account has one (each code works once). Answers the session's secret,
/// its account and when it expires.
pub async fn sign_in(
    app: &App,
    username: &str,
    password: &str,
    code: Option<&str>,
    address: &str,
) -> Result<(String, StaffRow, i64), LoginError> {
    let account: String = username.trim().to_lowercase().chars().take(64).collect();
    let now = now_ms();
    app.logins
        .check(&account, address, now as u64)
        .map_err(|until| LoginError::LockedOut {
            minutes: (until.saturating_sub(now as u64)).div_ceil(60_000),
        })?;
    let store = |e: anyhow::Error| LoginError::Store(e);
    let found = match pvm_shared::staff::Username::parse(username) {
        Ok(u) if password.len() <= MAX_SECRET_BYTES => app
            .hub
            .store
            .lock()
            .await
            .map_err(store)?
            .staff_by_username(u.as_str())
            .await
            .map_err(store)?,
        _ => None,
    };
    let hash = found
        .as_ref()
        .map(|s| s.password_hash.clone())
        .unwrap_or_else(|| pvm_shared::secrets::DUMMY_HASH.to_owned());
    let password_ok = password.len() <= MAX_SECRET_BYTES
        && argon2_blocking(password, Some(hash)).await.is_ok()
        && found.is_some();
    let fail = || {
        app.logins.fail(&account, address, now as u64);
        LoginError::BadCredentials
    };
    let Some(staff) = found.filter(|_| password_ok) else {
        return Err(fail());
    };
    if let Some(secret) = &staff.totp_secret {
        let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
            // The password was right: not a failure, but no session either.
            return Err(LoginError::TotpRequired);
        };
        let step = totp_step(secret, code.trim(), now as u64 / 1000);
        let fresh = match step {
            Some(step) => app
                .hub
                .store
                .lock()
                .await
                .map_err(store)?
                .take_totp_step(staff.id, step)
                .await
                .map_err(store)?,
            None => false,
        };
        if !fresh {
            return Err(fail());
        }
    }
    if staff.disabled_ms.is_some() {
        return Err(LoginError::Disabled);
    }
    app.logins.succeed(&account);
    let secret = format!(
        "{SESSION_PREFIX}{}",
        hex::encode(rand::random::<[u8; 24]>())
    );
    let expires = now + SESSION_MS;
    app.hub
        .store
        .lock()
        .await
        .map_err(store)?
        .insert_staff_session(&session_hash(&secret), staff.id, staff.epoch, now, expires)
        .await
        .map_err(store)?;
    tracing::info!(staff = %staff.id, username = staff.username, "hub sign-in");
    Ok((secret, staff, expires))
}

/// The client's address for per-address lockouts: the peer, or behind a
/// `--trusted-proxy` the address it forwarded for.
pub fn client_address(app: &App, headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> String {
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    match peer {
        Some(peer) => app.proxies.client(peer, &forwarded).to_string(),
        None => "unknown".into(),
    }
}

/// The peer's address, when the server records it.
pub fn peer(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Json<Value>, ApiError> {
    let address = client_address(&app, &headers, peer(request.extensions()));
    let body = axum::body::to_bytes(request.into_body(), 16 * 1024)
        .await
        .map_err(|_| bad("too_large", "a sign-in is at most 16 KB"))?;
    let body: LoginBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("send {{\"username\", \"password\"}} and, with a second factor, \"totp\": {e}"),
        )
    })?;
    let (token, staff, expires) = sign_in(
        &app,
        &body.username,
        &body.password,
        body.totp.as_deref(),
        &address,
    )
    .await?;
    Ok(Json(json!({
        "token": token,
        "expires_ms": expires,
        "account": staff_json(&staff),
    })))
}

/// Ends the session used (nothing for the admin key, which is not a session).
async fn logout(
    State(app): State<App>,
    Require(caller, ..): Require<SignedIn>,
) -> Result<StatusCode, ApiError> {
    if let Some(hash) = &caller.session {
        app.hub
            .store
            .lock()
            .await?
            .delete_staff_session(hash)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn me(Require(caller, ..): Require<SignedIn>) -> Json<Value> {
    Json(json!({
        "role": caller.role.code(),
        "operator_id": caller.operator,
        "venues": caller.venues,
        "account": caller.staff.as_ref().map(staff_json),
    }))
}

/// The TOTP settings every common authenticator app reads: SHA-1, 6 digits, 30 s.
fn totp_of(secret_b32: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_owned()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes).ok()
}

/// The 30-second step `code` is right for (now, or one step either side).
pub fn totp_step(secret_b32: &str, code: &str, now_secs: u64) -> Option<i64> {
    let totp = totp_of(secret_b32)?;
    let now_step = now_secs / 30;
    [now_step.saturating_sub(1), now_step, now_step + 1]
        .into_iter()
        .find(|step| {
            let want = totp.generate(step * 30);
            want.len() == code.len()
                && want
                    .bytes()
                    .zip(code.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
        .map(|s| s as i64)
}

fn account_of(caller: &Caller) -> Result<&StaffRow, ApiError> {
    caller.staff.as_ref().ok_or_else(|| {
        ApiError(
            StatusCode::CONFLICT,
            "not_an_account",
            "the admin key is not an account: sign in as a staff account".into(),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

/// Starts enrolling a second factor: a new secret (160 bits) for the
/// account's authenticator app, in effect once a code from it is confirmed.
/// It takes the account's password (a session alone, say one left open,
/// cannot put its own authenticator on the account) and an account that
/// has one already keeps it until an owner or admin removes it.
async fn totp_begin(
    State(app): State<App>,
    Require(caller, ..): Require<SignedIn>,
    Body(body): Body<PasswordBody>,
) -> Result<Json<Value>, ApiError> {
    let staff = account_of(&caller)?;
    if staff.totp_secret.is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "totp_on",
            "this account has a second factor already: an owner or admin removes it first (totp_off)".into(),
        ));
    }
    if body.password.len() > MAX_SECRET_BYTES
        || argon2_blocking(&body.password, Some(staff.password_hash.clone()))
            .await
            .is_err()
    {
        return Err(bad(
            "wrong_password",
            "password: not this account's password",
        ));
    }
    let secret = match Secret::Raw(rand::random::<[u8; 20]>().to_vec()).to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => return Err(anyhow::anyhow!("TOTP secret not encoded").into()),
    };
    app.hub
        .store
        .lock()
        .await?
        .change_staff(
            staff.id,
            &StaffChange {
                totp_pending: Some(Some(secret.clone())),
                ..Default::default()
            },
        )
        .await?;
    let url = format!(
        "otpauth://totp/PVM%20hub:{}?secret={secret}&issuer=PVM%20hub&algorithm=SHA1&digits=6&period=30",
        staff.username
    );
    Ok(Json(json!({"secret": secret, "otpauth_url": url})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

async fn totp_confirm(
    State(app): State<App>,
    Require(caller, ..): Require<SignedIn>,
    Body(body): Body<CodeBody>,
) -> Result<StatusCode, ApiError> {
    let staff = account_of(&caller)?;
    let Some(pending) = &staff.totp_pending else {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "no_totp_pending",
            "start with POST /api/v1/me/totp".into(),
        ));
    };
    let Some(step) = totp_step(pending, body.code.trim(), now_ms() as u64 / 1000) else {
        return Err(bad(
            "wrong_code",
            "code: not the current code of the new secret (check the phone's clock)",
        ));
    };
    let db = app.hub.store.lock().await?;
    db.change_staff(
        staff.id,
        &StaffChange {
            totp_secret: Some(Some(pending.clone())),
            totp_pending: Some(None),
            ..Default::default()
        },
    )
    .await?;
    db.take_totp_step(staff.id, step).await?;
    drop(db);
    tracing::info!(staff = %staff.id, "second factor enrolled");
    // An account with a second factor no longer logs in at the nodes.
    crate::roaming::changed(&app, staff.operator_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOperator {
    name: String,
}

fn check_name(field: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(bad("invalid", format!("{field}: 1 to 80 characters")));
    }
    Ok(name.to_owned())
}

async fn create_operator(
    State(app): State<App>,
    Require(..): Require<Operators>,
    Body(body): Body<NewOperator>,
) -> Result<(StatusCode, Json<OperatorRow>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(make_operator(&app, &body.name).await?),
    ))
}

/// A new operator (checked by the caller of this: super-admins).
pub async fn make_operator(app: &App, name: &str) -> Result<OperatorRow, ApiError> {
    let name = check_name("name", name)?;
    let db = app.hub.store.lock().await?;
    if db.operators().await?.len() >= MAX_OPERATORS {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "too_many",
            format!("a hub has at most {MAX_OPERATORS} operators"),
        ));
    }
    let op = OperatorRow {
        id: Uuid::now_v7(),
        name,
        created_ms: now_ms(),
        alert_webhook: None,
    };
    db.insert_operator(&op).await.map_err(taken("name"))?;
    Ok(op)
}

fn taken(field: &'static str) -> impl Fn(anyhow::Error) -> ApiError {
    move |e| {
        if e.is::<NameTaken>() {
            ApiError(
                StatusCode::CONFLICT,
                "taken",
                format!("{field}: already in use"),
            )
        } else {
            e.into()
        }
    }
}

async fn list_operators(
    State(app): State<App>,
    Require(..): Require<Operators>,
) -> Result<Json<Vec<OperatorRow>>, ApiError> {
    Ok(Json(app.hub.store.lock().await?.operators().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    pub username: String,
    pub password: String,
    pub role: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub venues: Vec<Uuid>,
    /// Its role at the operator's venues' nodes; absent: its hub role's
    /// default; null: none.
    #[serde(default, deserialize_with = "some_or_null")]
    pub node_role: Option<Option<String>>,
    /// Its role at some of the operator's venues, other than `node_role`
    /// (venue id -> `dealer`, `floor`, `manager`, `admin` or `none`).
    #[serde(default)]
    pub node_roles: Option<std::collections::BTreeMap<Uuid, String>>,
}

/// Per-venue node roles as typed: the operator's own venues, at most
/// `MAX_REGION` of them, each a node role or `none`.
async fn check_node_roles(
    app: &App,
    operator: Option<Uuid>,
    roles: &std::collections::BTreeMap<Uuid, String>,
) -> Result<(), ApiError> {
    if roles.is_empty() {
        return Ok(());
    }
    let Some(operator) = operator else {
        return Err(bad(
            "invalid",
            "node_roles: a hub super-admin does not log in at venues' nodes",
        ));
    };
    if roles.len() > MAX_REGION {
        return Err(bad("invalid", format!("node_roles: at most {MAX_REGION}")));
    }
    for role in roles.values() {
        if role != "none" && pvm_shared::auth::Role::from_code(role).is_none() {
            return Err(bad(
                "invalid",
                "node_roles: each dealer, floor, manager, admin or none",
            ));
        }
    }
    let db = app.hub.store.lock().await?;
    for v in roles.keys() {
        if db.venue_operator(*v).await? != Some(Some(operator)) {
            return Err(bad(
                "invalid",
                format!("node_roles: {v} is not a venue of this operator"),
            ));
        }
    }
    Ok(())
}

/// A node role as typed: `dealer`, `floor`, `manager` or `admin`, or null.
fn node_role_of(typed: Option<&str>) -> Result<Option<String>, ApiError> {
    match typed {
        None => Ok(None),
        Some(t) => pvm_shared::auth::Role::from_code(t)
            .map(|r| Some(r.code().to_owned()))
            .ok_or_else(|| {
                bad(
                    "invalid",
                    "node_role: dealer, floor, manager, admin or null",
                )
            }),
    }
}

/// An admin manages admins, regional managers and auditors; only an owner
/// (or a super-admin) makes or changes owners.
fn may_manage(caller: &Caller, role: Role) -> Result<(), ApiError> {
    if role == Role::Owner && caller.role == Role::Admin {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an owner makes or changes owners".into(),
        ));
    }
    Ok(())
}

/// A regional manager's set: the operator's own venues, at most
/// `MAX_REGION`; no set for the other roles.
async fn check_region(
    app: &App,
    operator: Uuid,
    role: Role,
    venues: &[Uuid],
) -> Result<(), ApiError> {
    if role != Role::Regional {
        if !venues.is_empty() {
            return Err(bad(
                "invalid",
                "venues: only a regional manager has a set of venues",
            ));
        }
        return Ok(());
    }
    if venues.len() > MAX_REGION {
        return Err(bad("invalid", format!("venues: at most {MAX_REGION}")));
    }
    let db = app.hub.store.lock().await?;
    for v in venues {
        if db.venue_operator(*v).await? != Some(Some(operator)) {
            return Err(bad(
                "invalid",
                format!("venues: {v} is not a venue of this operator"),
            ));
        }
    }
    Ok(())
}

async fn new_account(
    app: &App,
    operator: Option<Uuid>,
    role: Role,
    body: NewStaff,
) -> Result<StaffRow, ApiError> {
    let username = pvm_shared::staff::Username::parse(&body.username).map_err(|_| {
        bad(
            "invalid",
            "username: 1 to 32 letters, digits, dots, dashes or underscores",
        )
    })?;
    pvm_shared::secrets::check_password(&body.password)
        .map_err(|m| bad("invalid", format!("password: {m}")))?;
    let display_name = match &body.display_name {
        Some(n) => check_name("display_name", n)?,
        None => username.as_str().to_owned(),
    };
    let node_role = match &body.node_role {
        None => crate::roaming::default_node_role(role).map(|r| r.code().to_owned()),
        Some(typed) => node_role_of(typed.as_deref())?,
    };
    if operator.is_none() && node_role.is_some() {
        return Err(bad(
            "invalid",
            "node_role: a hub super-admin does not log in at venues' nodes",
        ));
    }
    let node_roles = body.node_roles.clone().unwrap_or_default();
    check_node_roles(app, operator, &node_roles).await?;
    let hash = argon2_blocking(&body.password, None)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let staff = StaffRow {
        id: Uuid::now_v7(),
        operator_id: operator,
        username: username.as_str().to_owned(),
        display_name,
        password_hash: hash,
        role: role.code().into(),
        venues: body.venues,
        totp_secret: None,
        totp_pending: None,
        totp_last_step: 0,
        epoch: 0,
        disabled_ms: None,
        created_ms: now_ms(),
        node_role,
        node_roles,
    };
    let db = app.hub.store.lock().await?;
    if db.staff_of(operator).await?.len() >= MAX_STAFF {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "too_many",
            format!("an operator has at most {MAX_STAFF} staff accounts"),
        ));
    }
    db.insert_staff(&staff).await.map_err(taken("username"))?;
    drop(db);
    crate::roaming::changed(app, operator);
    Ok(staff)
}

/// A staff account of operator `operator`, made by `caller` (who manages
/// that operator's staff: checked by the caller of this).
pub async fn make_staff(
    app: &App,
    caller: &Caller,
    operator: Uuid,
    body: NewStaff,
) -> Result<StaffRow, ApiError> {
    let role = match Role::parse(&body.role) {
        Some(r) if r != Role::Super => r,
        _ => return Err(bad("invalid", "role: owner, admin, regional or auditor")),
    };
    may_manage(caller, role)?;
    check_region(app, operator, role, &body.venues).await?;
    new_account(app, Some(operator), role, body).await
}

async fn create_staff(
    State(app): State<App>,
    Scoped { caller, id, .. }: Scoped<StaffManage>,
    Body(body): Body<NewStaff>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let staff = make_staff(&app, &caller, id, body).await?;
    Ok((StatusCode::CREATED, Json(staff_json(&staff))))
}

/// A hub super-admin account (the admin key is for making the first one).
async fn create_super(
    State(app): State<App>,
    Require(..): Require<Operators>,
    Body(body): Body<NewStaff>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.role != "super" || !body.venues.is_empty() {
        return Err(bad("invalid", "role: super (and no venues)"));
    }
    let staff = new_account(&app, None, Role::Super, body).await?;
    Ok((StatusCode::CREATED, Json(staff_json(&staff))))
}

async fn list_staff(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<StaffManage>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let staff = app.hub.store.lock().await?.staff_of(Some(id)).await?;
    Ok(Json(staff.iter().map(staff_json).collect()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub venues: Option<Vec<Uuid>>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// true removes the account's second factor (a lost phone).
    #[serde(default)]
    pub totp_off: Option<bool>,
    /// Its role at the operator's venues' nodes; null: none.
    #[serde(default, deserialize_with = "some_or_null")]
    pub node_role: Option<Option<String>>,
    /// Replaces its per-venue roles.
    #[serde(default)]
    pub node_roles: Option<std::collections::BTreeMap<Uuid, String>>,
}

/// Changes an account of the caller's operator (a super-admin's: any). A
/// new password, a disable or a removed second factor ends its sessions.
async fn change_staff(
    State(app): State<App>,
    Scoped { caller, id, .. }: Scoped<StaffManage>,
    Body(body): Body<StaffPatch>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(staff_json(
        &alter_staff(&app, &caller, id, body).await?,
    )))
}

/// Changes account `id` as `caller` asks (who manages its operator's
/// staff: checked by the caller of this); the account as it is now.
pub async fn alter_staff(
    app: &App,
    caller: &Caller,
    id: Uuid,
    body: StaffPatch,
) -> Result<StaffRow, ApiError> {
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no staff account {id}"),
        )
    };
    let staff = app
        .hub
        .store
        .lock()
        .await?
        .staff_by_id(id)
        .await?
        .ok_or_else(not_found)?;
    let old_role = Role::parse(&staff.role).ok_or_else(not_found)?;
    may_manage(caller, old_role)?;
    let role = match &body.role {
        None => old_role,
        Some(r) => match Role::parse(r) {
            Some(r) if (r == Role::Super) == (old_role == Role::Super) => r,
            _ => return Err(bad("invalid", "role: owner, admin, regional or auditor")),
        },
    };
    may_manage(caller, role)?;
    let own = caller.staff.as_ref().is_some_and(|s| s.id == id);
    if own
        && (body.disabled == Some(true)
            || role != old_role
            || body.node_role.is_some()
            || body.node_roles.is_some())
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "own_account",
            "you cannot disable your own account or change its roles".into(),
        ));
    }
    let venues = match (&body.venues, role) {
        (Some(v), _) => Some(v.clone()),
        // A role that is no longer regional keeps no set.
        (None, r) if r != Role::Regional && !staff.venues.is_empty() => Some(Vec::new()),
        (None, _) => None,
    };
    if staff.operator_id.is_none() && venues.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(bad(
            "invalid",
            "venues: only a regional manager has a set of venues",
        ));
    }
    if let Some(op) = staff.operator_id {
        check_region(app, op, role, venues.as_deref().unwrap_or(&staff.venues)).await?;
    }
    let display_name = body
        .display_name
        .as_deref()
        .map(|n| check_name("display_name", n))
        .transpose()?;
    let password_hash = match &body.password {
        Some(pw) => {
            pvm_shared::secrets::check_password(pw)
                .map_err(|m| bad("invalid", format!("password: {m}")))?;
            Some(
                argon2_blocking(pw, None)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?,
            )
        }
        None => None,
    };
    let node_role = match &body.node_role {
        Some(typed) => Some(node_role_of(typed.as_deref())?),
        // A new hub role brings its own role at the venues (an admin made
        // auditor is no longer an admin at the nodes either).
        None if role != old_role && staff.operator_id.is_some() => {
            Some(crate::roaming::default_node_role(role).map(|r| r.code().to_owned()))
        }
        None => None,
    };
    if staff.operator_id.is_none() && node_role.as_ref().is_some_and(|r| r.is_some()) {
        return Err(bad(
            "invalid",
            "node_role: a hub super-admin does not log in at venues' nodes",
        ));
    }
    if let Some(roles) = &body.node_roles {
        check_node_roles(app, staff.operator_id, roles).await?;
    }
    let totp_off = body.totp_off == Some(true);
    let change = StaffChange {
        new_epoch: password_hash.is_some() || body.disabled == Some(true) || totp_off,
        password_hash,
        display_name,
        role: body.role.as_ref().map(|_| role.code().to_owned()),
        venues,
        disabled_ms: body.disabled.map(|d| if d { Some(now_ms()) } else { None }),
        totp_secret: totp_off.then_some(None),
        totp_pending: totp_off.then_some(None),
        node_role,
        node_roles: body.node_roles.clone(),
    };
    let db = app.hub.store.lock().await?;
    // What was checked above still holds (an owner may have changed the
    // account meanwhile, while the password was hashed).
    let now = db.staff_by_id(id).await?.ok_or_else(not_found)?;
    if now.role != staff.role || now.epoch != staff.epoch {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "changed_meanwhile",
            "the account changed while this was sent: look again and retry".into(),
        ));
    }
    if !db.change_staff(id, &change).await? {
        return Err(not_found());
    }
    let staff = db.staff_by_id(id).await?.ok_or_else(not_found)?;
    drop(db);
    tracing::info!(staff = %id, by = ?caller.staff.as_ref().map(|s| s.id), "hub staff account changed");
    crate::roaming::changed(app, staff.operator_id);
    Ok(staff)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OperatorPatch {
    #[serde(default)]
    pub name: Option<String>,
    /// Where the operator's venues' alerts are POSTed; null removes it.
    #[serde(default, deserialize_with = "some_or_null")]
    pub alert_webhook: Option<Option<String>>,
}

/// A field that may be absent (None), null (Some(None)) or set.
fn some_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An operator's name and its alert webhook (owners and super-admins).
async fn change_operator(
    State(app): State<App>,
    Scoped { id, .. }: Scoped<OperatorSettings>,
    Body(body): Body<OperatorPatch>,
) -> Result<Json<OperatorRow>, ApiError> {
    Ok(Json(alter_operator(&app, id, body).await?))
}

/// Renames operator `id` or sets its alert webhook (checked by the caller
/// of this: owners and super-admins); the operator as it is now.
pub async fn alter_operator(
    app: &App,
    id: Uuid,
    body: OperatorPatch,
) -> Result<OperatorRow, ApiError> {
    let name = body
        .name
        .as_deref()
        .map(|n| check_name("name", n))
        .transpose()?;
    let webhook = match &body.alert_webhook {
        Some(Some(url)) => {
            let url = crate::config::webhook_url(url.trim())
                .map_err(|m| bad("invalid", format!("alert_webhook: {m}")))?;
            if !app.cli.allow_private_webhooks && crate::config::private_webhook(&url) {
                return Err(bad(
                    "invalid",
                    "alert_webhook: a loopback, private or link-local address is not allowed (pvm-cloud --allow-private-webhooks allows it)",
                ));
            }
            Some(Some(url))
        }
        Some(None) => Some(None),
        None => None,
    };
    if webhook
        .as_ref()
        .and_then(|w| w.as_ref())
        .is_some_and(|u| u.len() > 2_000)
    {
        return Err(bad("invalid", "alert_webhook: at most 2,000 characters"));
    }
    let db = app.hub.store.lock().await?;
    let changed = db
        .change_operator(id, name.as_deref(), webhook.as_ref().map(|w| w.as_deref()))
        .await
        .map_err(taken("name"))?;
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no operator {id}"),
        )
    };
    if !changed {
        return Err(not_found());
    }
    db.operator(id).await?.ok_or_else(not_found)
}
