//! Tokens and logins, in-process: the node's router is called directly (no
//! socket, no network at all) with an injected clock, so expiry and lockouts
//! are tested by moving time, not by waiting.

use axum::http::StatusCode;
use ed25519_dalek::SigningKey;
use pvm_shared::auth::{self, Role, TokenKind, ACCESS_TTL_SECS};
use serde_json::{json, Value};
use std::sync::Arc;

mod common;
use common::inprocess::{body_of_login, token_of, Venue};

#[tokio::test]
async fn tokens_that_must_not_work_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let key = &v.node.state.identity.key;
    let kid = v.node_kid();

    let (status, body) = v.login("boss", "password", "boss-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = token_of(&body, "access_token");
    assert_eq!(v.me(&access).await, StatusCode::OK);

    // A well-formed token of our own making works: the refusals below are for their one flaw.
    let good = auth::sign_token(&v.claims(TokenKind::Access), key, &kid);
    assert_eq!(v.me(&good).await, StatusCode::OK);

    let mut c = v.claims(TokenKind::Access);
    c.nbf = v.clock.secs() + 600;
    assert_eq!(
        v.me(&auth::sign_token(&c, key, &kid)).await,
        StatusCode::UNAUTHORIZED,
        "not yet valid"
    );

    let forger = SigningKey::from_bytes(&[42; 32]);
    assert_eq!(
        v.me(&auth::sign_token(
            &v.claims(TokenKind::Access),
            &forger,
            &kid
        ))
        .await,
        StatusCode::UNAUTHORIZED,
        "wrong signature"
    );

    let mut c = v.claims(TokenKind::Access);
    c.aud = "pvm:venue:somewhere-else".into();
    assert_eq!(
        v.me(&auth::sign_token(&c, key, &kid)).await,
        StatusCode::UNAUTHORIZED,
        "wrong audience"
    );

    let refresh_as_access = auth::sign_token(&v.claims(TokenKind::Refresh), key, &kid);
    assert_eq!(
        v.me(&refresh_as_access).await,
        StatusCode::UNAUTHORIZED,
        "a refresh token is not an access token"
    );

    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(serde_json::to_vec(&v.claims(TokenKind::Access)).expect("claims"))
    );
    let (status, body) = v.request("GET", "/api/v1/auth/me", Some(&none), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "alg none: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("algorithm"),
        "{body}"
    );

    // Expiry: 15 minutes, then refresh.
    let refresh = token_of(&body_of_login(&v).await, "refresh_token");
    v.clock.advance_secs(ACCESS_TTL_SECS);
    assert_eq!(v.me(&access).await, StatusCode::UNAUTHORIZED, "expired");
    let (status, refreshed) = v
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let fresh = token_of(&refreshed, "access_token");
    assert_eq!(v.me(&fresh).await, StatusCode::OK);

    // Logout revokes the session at once: its access and refresh tokens both stop.
    let (status, _) = v
        .request("POST", "/api/v1/auth/logout", Some(&fresh), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(v.me(&fresh).await, StatusCode::UNAUTHORIZED, "revoked");
    let (status, _) = v
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked refresh");

    // ... and stays revoked after a restart.
    let clock = v.clock.clone();
    v.node.close().await;
    let v = Venue::open(dir.path(), clock).await;
    assert_eq!(
        v.me(&fresh).await,
        StatusCode::UNAUTHORIZED,
        "revoked after restart"
    );
    v.node.close().await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (_, fm) = v.login("fm", "password", "fm-password").await;
    let fm_token = token_of(&fm, "access_token");
    let fm_id = fm["user"]["id"].as_str().expect("id").to_owned();
    assert_eq!(v.me(&fm_token).await, StatusCode::OK);
    let (status, body) = v
        .request(
            "PATCH",
            &format!("/api/v1/staff/{fm_id}"),
            Some(&boss),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(v.me(&fm_token).await, StatusCode::UNAUTHORIZED);
    v.node.close().await;
}

#[tokio::test]
async fn a_hub_signed_token_works_on_a_node_with_no_network() {
    let dir = tempfile::tempdir().expect("tmp");
    let hub = SigningKey::from_bytes(&[7; 32]);
    std::fs::create_dir_all(dir.path()).expect("dir");
    std::fs::write(
        dir.path().join("hub.pub"),
        hex::encode(hub.verifying_key().to_bytes()),
    )
    .expect("hub key");
    let v = Venue::new(dir.path()).await;
    let mut c = v.claims(TokenKind::Access);
    c.iss = "pvm-hub".into();
    c.sub = "hub-user-17".into();
    c.role = Role::Manager;
    let token = auth::sign_token(&c, &hub, &auth::key_id(&hub.verifying_key()));
    let settings = json!({"name": "Set from a hub token", "timezone": "UTC",
        "branding": {"primary": "#112233", "accent": "#445566", "background": "#000000"}});
    let (status, body) = v
        .request("PUT", "/api/v1/venue", Some(&token), Some(settings))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The change records the hub user as its actor, for the hub to audit.
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (_, events) = v
        .request(
            "GET",
            "/api/v1/events?after=0&limit=1000",
            Some(&boss),
            None,
        )
        .await;
    let last = events
        .as_array()
        .and_then(|e| {
            e.iter()
                .rev()
                .find(|e| e["kind"] == "venue_settings_updated")
        })
        .cloned();
    assert_eq!(
        last.map(|e| e["actor"].clone()),
        Some(json!("staff:hub-user-17"))
    );
    // The JWKS lists both keys.
    let (_, jwks) = v.request("GET", "/.well-known/jwks.json", None, None).await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2), "{jwks}");
    v.node.close().await;
}

#[tokio::test]
async fn brute_force_locks_the_account_even_for_the_right_password_until_the_lockout_ends() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    for attempt in 1..=5 {
        let (status, _) = v.login("boss", "password", "wrong-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let (status, body) = v.login("boss", "password", "boss-password").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "right password during lockout: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("try again in 15 minute"),
        "{body}"
    );
    v.clock.advance_secs(15 * 60 - 1);
    assert_eq!(
        v.login("boss", "password", "boss-password").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The lockout is an event, and survives a restart.
    let clock = v.clock.clone();
    v.node.close().await;
    let v = Venue::open(dir.path(), clock).await;
    assert_eq!(
        v.login("boss", "password", "boss-password").await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "after restart"
    );
    v.clock.advance_secs(1);
    let (status, body) = v.login("boss", "password", "boss-password").await;
    assert_eq!(status, StatusCode::OK, "lockout over: {body}");
    let boss = token_of(&body, "access_token");
    let (_, events) = v
        .request("GET", "/api/v1/events?limit=1000", Some(&boss), None)
        .await;
    let lockouts: Vec<&Value> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "login_locked_out")
        .collect();
    assert!(
        lockouts
            .iter()
            .any(|e| e["payload"]["scope"] == "account" && e["payload"]["subject"] == "boss"),
        "{events}"
    );
    v.node.close().await;
}

/// Failed logins with a huge username lock out what was typed, but the
/// lockout event names a short digest: nothing unauthenticated grows the log
/// by more than a few hundred bytes per lockout.
#[tokio::test]
async fn a_lockout_for_a_60_kb_username_is_a_small_event() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let huge = "x".repeat(60 * 1024);
    for attempt in 1..=5 {
        let (status, body) = v.login(&huge, "password", "wrong-password").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    let (status, _) = v.login(&huge, "password", "wrong-password").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the typed name is locked out"
    );
    let reader = &v.node.state.reader;
    let events = reader.recent_events(20).await.expect("events");
    let lockouts: Vec<usize> = events
        .iter()
        .filter_map(|(_, bytes)| {
            let env = pvm_shared::envelope::Envelope::decode(bytes).ok()?;
            (env.kind == "login_locked_out").then_some(bytes.len())
        })
        .collect();
    assert!(!lockouts.is_empty(), "a lockout event was made");
    assert!(
        lockouts.iter().all(|n| *n < 600),
        "lockout envelopes of {lockouts:?} bytes"
    );
    // The real account is not touched by it.
    assert_eq!(
        v.login("boss", "password", "boss-password").await.0,
        StatusCode::OK
    );
    v.node.close().await;
}

#[tokio::test]
async fn pin_brute_force_is_stopped_the_same_way() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (_, staff) = v.request("GET", "/api/v1/staff", Some(&boss), None).await;
    let fm_id = staff
        .as_array()
        .and_then(|s| s.iter().find(|u| u["username"] == "fm"))
        .map(|u| u["id"].clone())
        .expect("fm");
    let (status, body) = v
        .request(
            "PATCH",
            &format!("/api/v1/staff/{}", fm_id.as_str().unwrap_or_default()),
            Some(&boss),
            Some(json!({"pin": "4821"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(v.login("fm", "pin", "4821").await.0, StatusCode::OK);
    for pin in ["0000", "1111", "2222", "3333", "4444"] {
        assert_eq!(v.login("fm", "pin", pin).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        v.login("fm", "pin", "4821").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    v.clock.advance_secs(15 * 60);
    assert_eq!(v.login("fm", "pin", "4821").await.0, StatusCode::OK);
    v.node.close().await;
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_locked_out() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    // 20 failures spread over accounts (4 each, under the per-account limit).
    for i in 0..20 {
        let user = format!("guess{}", i / 4);
        assert_eq!(
            v.login(&user, "password", "nope-nope").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, body) = v.login("boss", "password", "boss-password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    v.clock.advance_secs(15 * 60);
    assert_eq!(
        v.login("boss", "password", "boss-password").await.0,
        StatusCode::OK
    );
    v.node.close().await;
}

#[tokio::test]
async fn parallel_guesses_are_counted_one_by_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Arc::new(Venue::new(dir.path()).await);
    let mut guesses = Vec::new();
    for i in 0..10 {
        let v = v.clone();
        guesses.push(tokio::spawn(async move {
            v.login("boss", "password", &format!("guess-{i}")).await.0
        }));
    }
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.expect("join"));
    }
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let locked = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((wrong, locked), (5, 5), "{statuses:?}");
    assert_eq!(
        v.login("boss", "password", "boss-password").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_new_password_ends_old_sessions_and_lifts_the_lockout() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (_, fm) = v.login("fm", "password", "fm-password").await;
    let fm_token = token_of(&fm, "access_token");
    let fm_id = fm["user"]["id"].as_str().expect("id").to_owned();
    for _ in 0..5 {
        v.login("fm", "password", "nope-nope").await;
    }
    assert_eq!(
        v.login("fm", "password", "fm-password").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (status, body) = v
        .request(
            "PATCH",
            &format!("/api/v1/staff/{fm_id}"),
            Some(&boss),
            Some(json!({"password": "fresh-password-2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        v.me(&fm_token).await,
        StatusCode::UNAUTHORIZED,
        "old token after a password change"
    );
    assert_eq!(
        v.login("fm", "password", "fresh-password-2").await.0,
        StatusCode::OK,
        "lockout lifted"
    );
    // Disable, then enable again: tokens from before stay dead.
    let (_, again) = v.login("fm", "password", "fresh-password-2").await;
    let t = token_of(&again, "access_token");
    for enabled in [false, true] {
        let (status, _) = v
            .request(
                "PATCH",
                &format!("/api/v1/staff/{fm_id}"),
                Some(&boss),
                Some(json!({"enabled": enabled})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        v.me(&t).await,
        StatusCode::UNAUTHORIZED,
        "re-enabling does not revive old tokens"
    );
    v.node.close().await;
}

#[tokio::test]
async fn a_session_ends_twelve_hours_after_login_however_often_it_is_refreshed() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let mut refresh = token_of(&body_of_login(&v).await, "refresh_token");
    for _ in 0..11 {
        v.clock.advance_secs(3600);
        let (status, body) = v
            .request(
                "POST",
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": refresh})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh = token_of(&body, "refresh_token");
    }
    v.clock.advance_secs(3600);
    let (status, _) = v
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    v.node.close().await;
}

#[tokio::test]
async fn an_api_key_acts_as_its_user_but_cannot_make_more_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (status, created) = v
        .request(
            "POST",
            "/api/v1/api-keys",
            Some(&boss),
            Some(json!({"name": "Leaderboard"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("pvm_key_"));
    assert_eq!(v.me(&key).await, StatusCode::OK);
    let (status, _) = v
        .request(
            "POST",
            "/api/v1/api-keys",
            Some(&key),
            Some(json!({"name": "Sneaky"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let id = created["id"].as_str().expect("id");
    let (status, _) = v
        .request(
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        v.me(&key).await,
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );
    v.node.close().await;
}

/// The `name=value` of the device cookie a login answered with.
fn device_of(headers: &axum::http::HeaderMap) -> String {
    let set = headers
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pvm_device="))
        .expect("a device cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn guesses_from_elsewhere_cannot_lock_staff_out_of_their_own_device() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let (status, headers, body) = v.login_as("fm", "fm-password", "192.168.1.20", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fm_device = device_of(&headers);
    let (_, headers, _) = v
        .login_as("boss", "boss-password", "192.168.1.21", &[])
        .await;
    let boss_device = device_of(&headers);

    // Someone else on the LAN guesses at fm's password.
    for attempt in 1..=5 {
        let (status, _, _) = v.login_as("fm", "nope-nope", "192.168.1.66", &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // A browser that never logged in as fm is held by the account's lockout,
    assert_eq!(
        v.login_as("fm", "fm-password", "192.168.1.30", &[]).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // and so is one with another account's device cookie, or a forged one.
    assert_eq!(
        v.login_as(
            "fm",
            "fm-password",
            "192.168.1.21",
            &[("cookie", &boss_device)]
        )
        .await
        .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let mut forged: Vec<char> = fm_device.chars().collect();
    let at = fm_device.find('.').expect("user.nonce") + 3;
    forged[at] = if forged[at] == '0' { '1' } else { '0' };
    let forged: String = forged.into_iter().collect();
    assert_eq!(
        v.login_as("fm", "fm-password", "192.168.1.30", &[("cookie", &forged)])
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged device cookie"
    );
    // fm's own device still gets in.
    let (status, _, body) = v
        .login_as(
            "fm",
            "fm-password",
            "192.168.1.20",
            &[("cookie", &fm_device)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "fm's own device: {body}");
    // Guessing from fm's device is held by the device's own count.
    for attempt in 1..=5 {
        let (status, _, _) = v
            .login_as("fm", "wrong-one", "192.168.1.20", &[("cookie", &fm_device)])
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    assert_eq!(
        v.login_as(
            "fm",
            "fm-password",
            "192.168.1.20",
            &[("cookie", &fm_device)]
        )
        .await
        .0,
        StatusCode::TOO_MANY_REQUESTS,
        "the device's own lockout"
    );
    v.clock.advance_secs(15 * 60);
    let (status, _, body) = v
        .login_as(
            "fm",
            "fm-password",
            "192.168.1.20",
            &[("cookie", &fm_device)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fm_id = body["user"]["id"].as_str().expect("id").to_owned();

    // A new password ends the account's device cookies.
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (status, body) = v
        .request(
            "PATCH",
            &format!("/api/v1/staff/{fm_id}"),
            Some(&boss),
            Some(json!({"password": "fresh-password-3"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..5 {
        v.login_as("fm", "nope-nope", "192.168.1.67", &[]).await;
    }
    assert_eq!(
        v.login_as(
            "fm",
            "fresh-password-3",
            "192.168.1.20",
            &[("cookie", &fm_device)]
        )
        .await
        .0,
        StatusCode::TOO_MANY_REQUESTS,
        "a device cookie from before the new password is not a known device"
    );
    v.node.close().await;
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    // Not trusted: the header is ignored and the peer is the address.
    for i in 0..20 {
        let claimed = format!("192.168.7.{i}");
        let (status, _, _) = v
            .login_as(
                &format!("guess{}", i / 4),
                "nope-nope",
                "10.0.0.2",
                &[("x-forwarded-for", &claimed)],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = v
        .login_as(
            "boss",
            "boss-password",
            "10.0.0.2",
            &[("x-forwarded-for", "192.168.7.99")],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed header changes nothing"
    );

    // Trusted: each client behind the proxy counts for itself.
    let proxy = pvm_node::http::auth::parse_trusted_proxy("10.0.0.3").expect("proxy");
    v.node.state.proxies.set(vec![proxy]);
    for i in 0..20 {
        let (status, _, _) = v
            .login_as(
                &format!("other{}", i / 4),
                "nope-nope",
                "10.0.0.3",
                &[("x-forwarded-for", "203.0.113.5")],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let from = |xff: &'static str| {
        let v = &v;
        async move {
            v.login_as(
                "boss",
                "boss-password",
                "10.0.0.3",
                &[("x-forwarded-for", xff)],
            )
            .await
            .0
        }
    };
    assert_eq!(from("203.0.113.5").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        from("203.0.113.6").await,
        StatusCode::OK,
        "its neighbour is not held"
    );
    // What the client itself wrote sits left of what the proxy appended.
    assert_eq!(
        from("203.0.113.77, 203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        from("garbage, 203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(pvm_node::http::auth::parse_trusted_proxy("10.0.0.0/8").is_ok());
    let bad = pvm_node::http::auth::parse_trusted_proxy("proxy.local").expect_err("not an address");
    assert!(bad.contains("proxy.local"), "{bad}");
    v.node.close().await;
}

#[tokio::test]
async fn an_api_key_dies_with_its_users_credentials_and_admins_see_and_revoke_everyones() {
    use pvm_node::auth::{create_account, NewAdmin};
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    create_account(
        &v.node.state.log,
        &NewAdmin {
            username: "mgr".into(),
            display_name: "Mo".into(),
            role: Role::Manager,
            password: "mgr-password".into(),
        },
    )
    .await
    .expect("manager");
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (status, mgr) = v.login("mgr", "password", "mgr-password").await;
    assert_eq!(status, StatusCode::OK, "{mgr}");
    let mgr_id = mgr["user"]["id"].as_str().expect("id").to_owned();
    let mgr = token_of(&mgr, "access_token");
    let make = |token: String, name: &'static str| {
        let v = &v;
        async move {
            let (status, created) = v
                .request(
                    "POST",
                    "/api/v1/api-keys",
                    Some(&token),
                    Some(json!({"name": name})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            (
                created["id"].as_str().expect("id").to_owned(),
                created["key"].as_str().expect("key").to_owned(),
            )
        }
    };
    let (mgr_key_id, mgr_key) = make(mgr.clone(), "Leaderboard").await;
    let (_, boss_key) = make(boss.clone(), "Backups").await;

    let (_, mine) = v.request("GET", "/api/v1/api-keys", Some(&mgr), None).await;
    let mine = mine.as_array().expect("keys").clone();
    assert_eq!(mine.len(), 1, "a manager sees their own keys: {mine:?}");
    assert_eq!(
        (mine[0]["username"].as_str(), mine[0]["live"].as_bool()),
        (Some("mgr"), Some(true))
    );
    let (_, all) = v
        .request("GET", "/api/v1/api-keys", Some(&boss), None)
        .await;
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(2),
        "an admin sees everyone's: {all}"
    );
    // A manager cannot revoke the admin's key (it is not theirs to see).
    let boss_key_id = all
        .as_array()
        .and_then(|a| a.iter().find(|k| k["username"] == "boss"))
        .and_then(|k| k["id"].as_str())
        .expect("boss key")
        .to_owned();
    let (status, _) = v
        .request(
            "DELETE",
            &format!("/api/v1/api-keys/{boss_key_id}"),
            Some(&mgr),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The manager's password is reset: their key dies with it.
    assert_eq!(v.me(&mgr_key).await, StatusCode::OK);
    let (status, body) = v
        .request(
            "PATCH",
            &format!("/api/v1/staff/{mgr_id}"),
            Some(&boss),
            Some(json!({"password": "fresh-password-9"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = v
        .request("GET", "/api/v1/auth/me", Some(&mgr_key), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("password"),
        "{body}"
    );
    assert_eq!(v.me(&boss_key).await, StatusCode::OK, "other keys live on");
    let (_, all) = v
        .request("GET", "/api/v1/api-keys", Some(&boss), None)
        .await;
    let dead = all
        .as_array()
        .and_then(|a| a.iter().find(|k| k["id"] == mgr_key_id.as_str()))
        .expect("listed");
    assert_eq!(
        (dead["live"].as_bool(), dead["revoked"].as_bool()),
        (Some(false), Some(false))
    );

    // A new key after the reset works; the admin revokes it.
    let (_, again) = v.login("mgr", "password", "fresh-password-9").await;
    let (new_id, new_key) = make(token_of(&again, "access_token"), "Leaderboard 2").await;
    assert_eq!(v.me(&new_key).await, StatusCode::OK);
    let (status, _) = v
        .request(
            "DELETE",
            &format!("/api/v1/api-keys/{new_id}"),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(v.me(&new_key).await, StatusCode::UNAUTHORIZED);

    // All of it holds after a restart (read back from the database).
    let clock = v.clock.clone();
    v.node.close().await;
    let v = Venue::open(dir.path(), clock).await;
    assert_eq!(v.me(&mgr_key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(v.me(&boss_key).await, StatusCode::OK);
    v.node.close().await;
}
