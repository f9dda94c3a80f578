//! Login, tokens, staff accounts and API keys over the API.

use super::auth::{cookie, device_cookie, ApiKeys, ClientAddr, Require, StaffManage, StaffUi};
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath};
use super::AppState;
use crate::auth::{self, AuthError, Principal, Secret, TokenPair};
use crate::ops;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use pvm_shared::auth::Role;
use pvm_shared::staff::{StaffUser, Username};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

#[derive(OpenApi)]
#[openapi(
    paths(login, refresh, logout, me, list_staff, create_staff, update_staff, list_api_keys, create_api_key, revoke_api_key, jwks),
    components(schemas(LoginRequest, RefreshRequest, TokenResponse, StaffView, NewStaff, StaffPatch, ApiKeyView, NewApiKey, CreatedApiKey, Role)),
    tags((name = "auth", description = "Logins, tokens, staff accounts and API keys"))
)]
pub struct AccountDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/staff", get(list_staff).post(create_staff))
        .route("/api/v1/staff/{id}", patch(update_staff))
        .route("/api/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/api/v1/api-keys/{id}", delete(revoke_api_key))
        .route("/.well-known/jwks.json", get(jwks))
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::LockedOut { .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "locked_out", e.to_string())
            }
            AuthError::BadCredentials | AuthError::Disabled => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                e.to_string(),
            ),
            AuthError::Token(_)
            | AuthError::Revoked
            | AuthError::BadApiKey
            | AuthError::StaleApiKey => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", e.to_string())
            }
            AuthError::Invalid(m) => ApiError::invalid(m),
            AuthError::Append(a) => a.into(),
            AuthError::Store(s) => s.into(),
        }
    }
}

/// A password or a PIN, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: Option<String>,
    /// 4 to 8 digits, for floor staff on a shared tablet.
    pub pin: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    /// Seconds until the access token expires (15 minutes).
    pub expires_in: u64,
    pub user: StaffView,
}

/// A staff account as the API shows it: never its hashes.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub enabled: bool,
    pub has_password: bool,
    pub has_pin: bool,
}

impl From<&StaffUser> for StaffView {
    fn from(u: &StaffUser) -> Self {
        StaffView {
            id: u.id.to_string(),
            username: u.username.to_string(),
            display_name: u.display_name.clone(),
            role: u.role,
            enabled: u.enabled,
            has_password: u.password_hash.is_some(),
            has_pin: u.pin_hash.is_some(),
        }
    }
}

fn token_response(pair: TokenPair, user: StaffView) -> TokenResponse {
    TokenResponse {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: "Bearer".into(),
        expires_in: pair.expires_in,
        user,
    }
}

fn locked_out_response(e: AuthError) -> Response {
    let retry = match &e {
        AuthError::LockedOut { minutes, .. } => Some(minutes * 60),
        _ => None,
    };
    let mut r = ApiError::from(e).into_response();
    if let Some(secs) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert(header::RETRY_AFTER, secs);
    }
    r
}

/// Log in with username and password (or PIN). Locks out after repeated failures.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(s): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    AppJson(body): AppJson<LoginRequest>,
) -> Response {
    let secret = match (&body.password, &body.pin) {
        (Some(pw), None) => Secret::Password(pw),
        (None, Some(pin)) => Secret::Pin(pin),
        _ => return ApiError::invalid("give either password or pin").into_response(),
    };
    let device = cookie(&headers, auth::DEVICE_COOKIE);
    match s
        .auth
        .login(&body.username, secret, &address, device.as_deref())
        .await
    {
        Ok(done) => (
            [(header::SET_COOKIE, device_cookie(&done.device, &headers))],
            Json(token_response(done.tokens, StaffView::from(&done.user))),
        )
            .into_response(),
        Err(e) => locked_out_response(e),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Swap a refresh token for a new access token (same session).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, security(()),
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(s): State<AppState>,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let pair = s.auth.refresh(&body.refresh_token)?;
    let p = s
        .auth
        .verify(&pair.access_token, pvm_shared::auth::TokenKind::Access)?;
    Ok(Json(token_response(pair, principal_view(&s, &p))))
}

fn principal_view(s: &AppState, p: &Principal) -> StaffView {
    let staff = s.log.staff();
    match Uuid::parse_str(&p.user_id)
        .ok()
        .and_then(|id| staff.users.get(&id).or_else(|| staff.hub_user(id)))
    {
        Some(u) => StaffView::from(u),
        None => StaffView {
            id: p.user_id.clone(),
            username: p.user_id.clone(),
            display_name: p.name.clone(),
            role: p.role,
            enabled: true,
            has_password: false,
            has_pin: false,
        },
    }
}

/// End this session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = ["staff:ui"])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(s): State<AppState>, who: Require<StaffUi>) -> Result<StatusCode, ApiError> {
    s.auth.logout(who.principal()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = ["staff:ui"])),
    responses((status = 200, body = StaffView), (status = 401, body = ErrorBody)))]
async fn me(State(s): State<AppState>, who: Require<StaffUi>) -> Json<StaffView> {
    Json(principal_view(&s, who.principal()))
}

/// Every staff account of this venue.
#[utoipa::path(get, path = "/api/v1/staff", tag = "auth", security(("bearer" = ["staff:manage"])),
    responses((status = 200, body = [StaffView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_staff(State(s): State<AppState>, _who: Require<StaffManage>) -> Json<Vec<StaffView>> {
    let staff = s.log.staff();
    let mut users: Vec<StaffView> = staff.users.values().map(StaffView::from).collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    Json(users)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    #[schema(value_type = String)]
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    /// 8 to 128 characters.
    pub password: Option<String>,
    /// 4 to 8 digits, not one digit repeated and not a straight run like 1234.
    #[schema(pattern = "^[0-9]{4,8}$")]
    pub pin: Option<String>,
}

impl From<ops::staff::StaffError> for ApiError {
    fn from(e: ops::staff::StaffError) -> Self {
        use ops::staff::StaffError;
        match e {
            StaffError::Invalid(m) => ApiError::invalid(m),
            StaffError::NotFound(_) | StaffError::KeyNotFound(_) => {
                ApiError::not_found(e.to_string())
            }
            StaffError::Hashing(m) => ApiError::internal(m),
            StaffError::Append(a) => a.into(),
            StaffError::Auth(a) => a.into(),
        }
    }
}

/// Create a staff account.
#[utoipa::path(post, path = "/api/v1/staff", tag = "auth", request_body = NewStaff, security(("bearer" = ["staff:manage"])),
    responses((status = 201, body = StaffView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_staff(
    State(s): State<AppState>,
    who: Require<StaffManage>,
    AppJson(new): AppJson<NewStaff>,
) -> Result<Response, ApiError> {
    let user = ops::staff::create(
        &s.log,
        who.principal().actor(),
        ops::staff::NewAccount {
            username: new.username,
            display_name: new.display_name,
            role: new.role,
            password: new.password,
            pin: new.pin,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(StaffView::from(&user))).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    pub role: Option<Role>,
    pub enabled: Option<bool>,
    /// 8 to 128 characters.
    pub password: Option<String>,
    /// 4 to 8 digits, not one digit repeated and not a straight run like 1234.
    #[schema(pattern = "^[0-9]{4,8}$")]
    pub pin: Option<String>,
}

/// Change a staff account's role, password or PIN, or disable it (which ends its sessions at once).
#[utoipa::path(patch, path = "/api/v1/staff/{id}", tag = "auth", request_body = StaffPatch, security(("bearer" = ["staff:manage"])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = StaffView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_staff(
    State(s): State<AppState>,
    who: Require<StaffManage>,
    AppPath(id): AppPath<Uuid>,
    AppJson(patch): AppJson<StaffPatch>,
) -> Result<Json<StaffView>, ApiError> {
    let user = ops::staff::change(
        &s.log,
        &s.auth,
        who.principal().actor(),
        id,
        ops::staff::AccountChange {
            role: patch.role,
            enabled: patch.enabled,
            password: patch.password,
            pin: patch.pin,
        },
    )
    .await?;
    Ok(Json(StaffView::from(&user)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub revoked: bool,
    /// Whose key it is: it acts as this staff account.
    pub user_id: String,
    pub username: String,
    /// True while the key works: not revoked, and its user is enabled with
    /// the same password and PIN as when it was made.
    pub live: bool,
}

/// Your API keys (their secrets are never shown again); an admin sees everyone's.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "auth", security(("bearer" = ["apikeys"])),
    responses((status = 200, body = [ApiKeyView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_api_keys(State(s): State<AppState>, who: Require<ApiKeys>) -> Json<Vec<ApiKeyView>> {
    let keys = ops::staff::keys_visible_to(&s.log, who.principal())
        .into_iter()
        .map(|k| ApiKeyView {
            id: k.id.to_string(),
            name: k.name,
            revoked: k.revoked,
            user_id: k.user_id.to_string(),
            username: k.username,
            live: k.live,
        })
        .collect();
    Json(keys)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, e.g. "Leaderboard website".
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub id: String,
    pub name: String,
    /// `pvm_key_…`: shown this once; only its hash is stored.
    pub key: String,
}

/// Create an API key that acts as you. The key is shown once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "auth", request_body = NewApiKey, security(("bearer" = ["apikeys"])),
    responses((status = 201, body = CreatedApiKey), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_api_key(
    State(s): State<AppState>,
    who: Require<ApiKeys>,
    AppJson(new): AppJson<NewApiKey>,
) -> Result<Response, ApiError> {
    let (id, key) = s.auth.create_api_key(who.principal(), &new.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            id: id.to_string(),
            name: new.name,
            key,
        }),
    )
        .into_response())
}

/// Revoke one of your API keys (an admin may revoke anyone's).
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "auth", security(("bearer" = ["apikeys"])),
    params(("id" = Uuid, Path, description = "Key id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_api_key(
    State(s): State<AppState>,
    who: Require<ApiKeys>,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    ops::staff::revoke_key(&s.log, who.principal(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys tokens for this venue may be signed with (the node's, and the hub's once registered).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", security(()),
    responses((status = 200, description = "JSON Web Key Set (OKP / Ed25519)")))]
async fn jwks(State(s): State<AppState>) -> Json<serde_json::Value> {
    use base64::Engine;
    let keys: Vec<serde_json::Value> = s
        .auth
        .public_keys()
        .into_iter()
        .map(|(kid, key, whose)| {
            serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes()),
                "pvm_signer": whose,
            })
        })
        .collect();
    Json(serde_json::json!({ "keys": keys }))
}
