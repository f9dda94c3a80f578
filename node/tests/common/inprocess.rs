//! The node in-process: its router called directly (no socket at all) with
//! an injected clock, so time-based rules are tested by moving time.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use pvm_node::auth::{create_account, NewAdmin};
pub use pvm_node::store::writer::TimeSource;
use pvm_node::Node;
use pvm_shared::auth::{self, Claims, Role, TokenKind, ACCESS_TTL_SECS};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

pub struct ManualClock(pub AtomicU64);

impl TimeSource for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl ManualClock {
    pub fn advance_secs(&self, s: u64) {
        self.0.fetch_add(s * 1000, Ordering::SeqCst);
    }
    pub fn secs(&self) -> u64 {
        self.now_ms() / 1000
    }
}

pub const START_MS: u64 = 1_800_000_000_000;

pub struct Venue {
    pub node: Node,
    pub clock: Arc<ManualClock>,
}

impl Venue {
    pub async fn open(dir: &Path, clock: Arc<ManualClock>) -> Venue {
        let node = Node::open_with_clock(dir, clock.clone())
            .await
            .expect("node opens");
        Venue { node, clock }
    }

    pub async fn new(dir: &Path) -> Venue {
        let v = Venue::open(dir, Arc::new(ManualClock(AtomicU64::new(START_MS)))).await;
        for (username, role) in [("boss", Role::Admin), ("fm", Role::Floor)] {
            let new = NewAdmin {
                username: username.into(),
                display_name: username.into(),
                role,
                password: format!("{username}-password"),
            };
            create_account(&v.node.state.log, &new)
                .await
                .expect("account");
        }
        v
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = pvm_node::http::router(self.node.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends a request as it is, answering the status, the headers and the body's bytes.
    pub async fn send_raw(
        &self,
        req: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
        let resp = pvm_node::http::router(self.node.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 4 << 20)
            .await
            .expect("body");
        (status, headers, bytes)
    }

    /// Sends a request as it is, answering the status, the headers and the JSON body.
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let (status, headers, bytes) = self.send_raw(req).await;
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Logs in from `peer` with these extra headers (a cookie, `X-Forwarded-For`).
    pub async fn login_as(
        &self,
        username: &str,
        password: &str,
        peer: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req
            .body(Body::from(
                json!({"username": username, "password": password}).to_string(),
            ))
            .expect("request");
        let peer: std::net::SocketAddr = format!("{peer}:50000").parse().expect("peer");
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        self.send(req).await
    }

    pub async fn login(&self, username: &str, field: &str, secret: &str) -> (StatusCode, Value) {
        self.request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": username, field: secret})),
        )
        .await
    }

    pub async fn me(&self, token: &str) -> StatusCode {
        self.request("GET", "/api/v1/auth/me", Some(token), None)
            .await
            .0
    }

    pub fn claims(&self, kind: TokenKind) -> Claims {
        let now = self.clock.secs();
        Claims {
            iss: format!("pvm-node:{}", self.node.state.identity.node_id),
            sub: "someone".into(),
            aud: auth::audience(&self.node.state.identity.venue_id),
            iat: now,
            nbf: now,
            exp: now + ACCESS_TTL_SECS,
            sid: "s-test".into(),
            kind,
            role: Role::Manager,
            name: "Someone".into(),
            auth_time: now,
            ver: 0,
        }
    }

    pub fn node_kid(&self) -> String {
        auth::key_id(&self.node.state.identity.key.verifying_key())
    }
}

pub fn token_of(body: &Value, which: &str) -> String {
    body[which]
        .as_str()
        .unwrap_or_else(|| panic!("no {which} in {body}"))
        .to_owned()
}

pub async fn body_of_login(v: &Venue) -> Value {
    let (status, body) = v.login("boss", "password", "boss-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Silences "unused" for helpers a given test binary does not call.
pub fn _uses() -> (Role, TokenKind, u64, Value) {
    (Role::Admin, TokenKind::Access, ACCESS_TTL_SECS, json!(null))
}
