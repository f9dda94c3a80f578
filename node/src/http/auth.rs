//! Authentication and permissions for every route, in one place.
//!
//! `Require<P>` is the only way a handler gets a `Principal`: it reads the
//! credentials (a Bearer token or API key on `/api`, the session cookie on
//! pages), and refuses with 401 or 403 before the handler runs. The
//! `sessions` layer keeps browser sessions fresh and checks the CSRF token of
//! every form post, so no handler does either by hand.

use super::error::ApiError;
use super::AppState;
use crate::auth::{AuthError, Principal};
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use pvm_shared::auth::{Permission, TokenKind, ACCESS_TTL_SECS, REFRESH_TTL_SECS};
use std::marker::PhantomData;
use std::net::SocketAddr;

pub const ACCESS_COOKIE: &str = "pvm_access";
pub const REFRESH_COOKIE: &str = "pvm_refresh";
pub const CSRF_COOKIE: &str = "pvm_csrf";
pub const CSRF_FIELD: &str = "_csrf";

/// A permission as a type, so a handler declares it in its signature.
pub trait Perm: Send + Sync + 'static {
    const PERMISSION: Permission;
}

macro_rules! perms {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("The `", stringify!($name), "` permission.")]
            pub struct $name;
            impl Perm for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*
    };
}

perms!(
    StaffUi,
    TablesOperate,
    TablesManage,
    DisplaysControl,
    VenueManage,
    LogRead,
    ApiKeys,
    StaffManage,
    Players,
    CashOperate,
    CashManage,
    TournamentsOperate,
    TournamentsManage
);

/// The authenticated principal, holding permission `P`.
pub struct Require<P: Perm>(pub Principal, PhantomData<P>);

impl<P: Perm> Require<P> {
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

/// A fresh access token the session layer minted from the refresh cookie.
#[derive(Clone)]
struct FreshAccess(String);

/// The CSRF token of this browser, for forms to embed.
#[derive(Clone)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .unwrap_or(CsrfToken(String::new())))
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Principal>, AuthError> {
    if is_api(parts.uri.path()) {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(None);
        };
        let value = value.to_str().map_err(|_| AuthError::BadApiKey)?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| AuthError::Invalid("use Authorization: Bearer <token>".into()))?
            .trim();
        if token.starts_with(crate::auth::API_KEY_PREFIX) {
            return state.auth.verify_api_key(token).map(Some);
        }
        return state.auth.verify(token, TokenKind::Access).map(Some);
    }
    let token = match parts.extensions.get::<FreshAccess>() {
        Some(FreshAccess(t)) => t.clone(),
        None => match cookie(&parts.headers, ACCESS_COOKIE) {
            Some(t) => t,
            None => return Ok(None),
        },
    };
    state.auth.verify(&token, TokenKind::Access).map(Some)
}

fn unauthenticated(api: bool, why: Option<AuthError>) -> Response {
    if api {
        let message = match why {
            Some(e) => e.to_string(),
            None => "log in first: send Authorization: Bearer <token>".into(),
        };
        let mut r =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message).into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    } else {
        Redirect::to("/login").into_response()
    }
}

fn forbidden(api: bool, principal: &Principal, permission: Permission) -> Response {
    let message = format!(
        "your role ({}) cannot do this; it needs {} or above",
        principal.role,
        permission.least_role()
    );
    if api {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response()
    } else {
        (
            StatusCode::FORBIDDEN,
            super::markup::message_page("Not allowed", &message),
        )
            .into_response()
    }
}

impl<P: Perm> FromRequestParts<AppState> for Require<P> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let api = is_api(parts.uri.path());
        match authenticate(parts, state) {
            Ok(Some(p)) if P::PERMISSION.allows(p.role) => Ok(Require(p, PhantomData)),
            Ok(Some(p)) => Err(forbidden(api, &p, P::PERMISSION)),
            Ok(None) => Err(unauthenticated(api, None)),
            Err(e) => Err(unauthenticated(api, Some(e))),
        }
    }
}

/// The client's address, for per-address login limits ("unknown" without connect info).
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(match peer {
            Some(peer) => state
                .proxies
                .client(peer, &forwarded_for(&parts.headers))
                .to_string(),
            None => "unknown".into(),
        }))
    }
}

pub use pvm_shared::proxies::{parse_trusted_proxy, TrustedProxies};

/// The request's `X-Forwarded-For` values, in order.
pub fn forwarded_for(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly always, Secure when the request came over TLS.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: u64,
    same_site: &str,
    secure: bool,
) -> HeaderValue {
    let s = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Cookies for a new browser session.
pub fn session_cookies(pair: &crate::auth::TokenPair, headers: &HeaderMap) -> Vec<HeaderValue> {
    let s = secure(headers);
    vec![
        set_cookie(ACCESS_COOKIE, &pair.access_token, ACCESS_TTL_SECS, "Lax", s),
        set_cookie(
            REFRESH_COOKIE,
            &pair.refresh_token,
            REFRESH_TTL_SECS,
            "Lax",
            s,
        ),
    ]
}

/// The device cookie a good login leaves (see `AuthService::login`); only
/// `/login` and `/api/v1/auth/login` read it.
pub fn device_cookie(value: &str, headers: &HeaderMap) -> HeaderValue {
    set_cookie(
        crate::auth::DEVICE_COOKIE,
        value,
        crate::auth::DEVICE_TTL_SECS,
        "Strict",
        secure(headers),
    )
}

pub fn clear_session_cookies() -> Vec<HeaderValue> {
    vec![
        set_cookie(ACCESS_COOKIE, "", 0, "Lax", false),
        set_cookie(REFRESH_COOKIE, "", 0, "Lax", false),
    ]
}

fn random_token() -> String {
    let mut b = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    hex::encode(b)
}

/// Browser sessions and CSRF for every page route (not `/api`, which takes
/// Bearer credentials only and so cannot be driven by a cross-site form).
pub async fn sessions(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if is_api(req.uri().path()) {
        return next.run(req).await;
    }
    let mut set = Vec::new();
    let existing = cookie(req.headers(), CSRF_COOKIE);
    let csrf = existing.clone().unwrap_or_else(|| {
        let t = random_token();
        set.push(set_cookie(
            CSRF_COOKIE,
            &t,
            REFRESH_TTL_SECS,
            "Strict",
            secure(req.headers()),
        ));
        t
    });
    req.extensions_mut().insert(CsrfToken(csrf.clone()));

    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if req.method() == Method::POST && multipart {
        // An upload: the token rides in the query (the body is a file, read by the handler).
        let sent = req.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned())
        });
        let valid = matches!((&existing, &sent), (Some(c), Some(s)) if !c.is_empty() && c == s);
        if !valid {
            return (
                StatusCode::FORBIDDEN,
                super::markup::message_page(
                    "Form expired",
                    "This form could not be checked (missing or stale security token). Go back, reload the page and try again.",
                ),
            )
                .into_response();
        }
    } else if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let bytes = match to_bytes(body, super::MAX_BODY).await {
            Ok(b) => b,
            Err(_) => {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the form is too large",
                )
                .into_response()
            }
        };
        let sent = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned());
        let valid = matches!((&existing, &sent), (Some(c), Some(s)) if !c.is_empty() && c == s);
        if !valid {
            let mut r = (
                StatusCode::FORBIDDEN,
                super::markup::message_page(
                    "Form expired",
                    "This form could not be checked (missing or stale security token). Go back, reload the page and try again.",
                ),
            )
                .into_response();
            for c in set {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            return r;
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }

    // An expired access cookie with a live refresh cookie: mint a new access token.
    let access_ok = cookie(req.headers(), ACCESS_COOKIE)
        .is_some_and(|t| state.auth.verify(&t, TokenKind::Access).is_ok());
    if !access_ok {
        if let Some(refresh) = cookie(req.headers(), REFRESH_COOKIE) {
            if let Ok(pair) = state.auth.refresh(&refresh) {
                set.push(set_cookie(
                    ACCESS_COOKIE,
                    &pair.access_token,
                    ACCESS_TTL_SECS,
                    "Lax",
                    secure(req.headers()),
                ));
                req.extensions_mut().insert(FreshAccess(pair.access_token));
            }
        }
    }
    let mut response = next.run(req).await;
    for c in set {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}
