//! Operators and hub staff accounts, with a real pvm-cloud process, its
//! nats-server and a registered pvm-node: every operation of the hub's
//! OpenAPI document walked with no credential, each role and a foreign
//! operator's owner (401, 403, 404 as documented); what each role lists;
//! sign-in with a TOTP second factor, lockouts, sessions across a restart,
//! a new password and a disable ending them; the admin pages signed in as
//! staff.

#[path = "../../node/tests/common/browser.rs"]
mod browser;
mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn post(c: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    let r = c.post(url).json(&body).send().await.expect("post");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(c: &reqwest::Client, url: String) -> (StatusCode, Value) {
    let r = c.get(url).send().await.expect("get");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Signs in; the session token.
async fn login(
    cloud: &Cloud,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"username": username, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    post(
        &reqwest::Client::new(),
        format!("{}/api/v1/login", cloud.url),
        body,
    )
    .await
}

async fn token(cloud: &Cloud, username: &str) -> String {
    let (status, body) = login(cloud, username, "correct horse battery", None).await;
    assert_eq!(status, StatusCode::OK, "{username}: {body}");
    body["token"].as_str().expect("token").to_owned()
}

/// A room: operators A and B, A's venues (one with a registered node), B's
/// venue, and staff of every role.
struct Room {
    cloud: Cloud,
    _hub: HubNats,
    _tmp: tempfile::TempDir,
    op_a: String,
    a1: String,
    a2: String,
    b1: String,
    node: String,
    auditor_id: String,
    action: String,
}

async fn room() -> Room {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let admin = cloud.client();
    let url = |p: &str| format!("{}{p}", cloud.url);
    let (s, a) = post(
        &admin,
        url("/api/v1/operators"),
        json!({"name": "Acme Poker"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let (s, b) = post(
        &admin,
        url("/api/v1/operators"),
        json!({"name": "Bravo Cards"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, dup) = post(
        &admin,
        url("/api/v1/operators"),
        json!({"name": "Acme Poker"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{dup}");
    let (op_a, op_b) = (
        a["id"].as_str().expect("a").to_owned(),
        b["id"].as_str().expect("b").to_owned(),
    );
    let venue = |name: &'static str, op: String| {
        let admin = admin.clone();
        let u = url("/api/v1/venues");
        async move {
            let (s, v) = post(&admin, u, json!({"name": name, "operator_id": op})).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v["id"].as_str().expect("id").to_owned()
        }
    };
    let a1 = venue("Acme Riverside", op_a.clone()).await;
    let a2 = venue("Acme Harbour", op_a.clone()).await;
    let b1 = venue("Bravo Central", op_b.clone()).await;
    let pw = "correct horse battery";
    let mut auditor_id = String::new();
    for (user, op, role, venues) in [
        ("a-owner", &op_a, "owner", json!([])),
        ("a-admin", &op_a, "admin", json!([])),
        ("a-regional", &op_a, "regional", json!([a1])),
        ("a-auditor", &op_a, "auditor", json!([])),
        ("b-owner", &op_b, "owner", json!([])),
    ] {
        let (s, body) = post(
            &admin,
            url(&format!("/api/v1/operators/{op}/staff")),
            json!({"username": user, "password": pw, "role": role, "venues": venues}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{user}: {body}");
        assert!(body.get("password_hash").is_none(), "{body}");
        if role == "auditor" {
            auditor_id = body["id"].as_str().expect("id").to_owned();
        }
    }
    let (s, body) = post(
        &admin,
        url("/api/v1/admins"),
        json!({"username": "root", "password": pw, "role": "super"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // A's first venue gets a real node (after the regional manager's set
    // names it: the set follows the venue to the id registration gives it).
    let (s, t) = post(
        &admin,
        url(&format!("/api/v1/venues/{a1}/tokens")),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let node_dir = tmp.path().join("node");
    let out = register(&node_dir, &cloud.url, t["token"].as_str().expect("token"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link: Value = serde_json::from_str(
        &std::fs::read_to_string(node_dir.join("hub.json")).expect("hub.json"),
    )
    .expect("json");
    let node = link["node_id"].as_str().expect("node").to_owned();
    // Registration gives the venue the id its node's events carry.
    let a1 = venue_of(&node_dir);
    // An action of Acme's (its owner's announcement to the first venue).
    let owner_token = {
        let (s, v) = post(
            &reqwest::Client::new(),
            url("/api/v1/login"),
            json!({"username": "a-owner", "password": pw}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["token"].as_str().expect("token").to_owned()
    };
    let (s, sent) = post(
        &bearer(&owner_token),
        url("/api/v1/actions"),
        json!({"venues": [a1], "announcement": {"text": "Doors at 7", "minutes": 5}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{sent}");
    let action = sent["id"].as_str().expect("action").to_owned();
    Room {
        action,
        cloud,
        _hub: hub,
        _tmp: tmp,
        op_a,
        a1,
        a2,
        b1,
        node,
        auditor_id,
    }
}

/// The roles an operation names in the document (`x-pvm-roles`), or None
/// for a public one; an operation that declares neither fails.
fn declared(path: &str, method: &str, op: &Value) -> Option<Vec<String>> {
    let security = op["security"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} declares no security"));
    let first = &security[0];
    if first.as_object().is_some_and(|o| o.is_empty()) {
        return None;
    }
    let scopes = first["bearer"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path}: unknown security {first}"));
    assert_eq!(scopes.len(), 1, "{method} {path}: one permission");
    let roles: Vec<String> = op["x-pvm-roles"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path}: no x-pvm-roles"))
        .iter()
        .map(|r| r.as_str().expect("role").to_owned())
        .collect();
    Some(roles)
}

#[tokio::test]
async fn every_operation_answers_each_role_and_a_foreign_operator_as_documented() {
    let r = room().await;
    let cloud = &r.cloud;
    let callers: Vec<(&str, Option<reqwest::Client>, bool)> = vec![
        ("none", Some(reqwest::Client::new()), false),
        ("super", Some(bearer(&token(cloud, "root").await)), false),
        ("super", Some(cloud.client()), false),
        ("owner", Some(bearer(&token(cloud, "a-owner").await)), false),
        ("admin", Some(bearer(&token(cloud, "a-admin").await)), false),
        (
            "regional",
            Some(bearer(&token(cloud, "a-regional").await)),
            false,
        ),
        (
            "auditor",
            Some(bearer(&token(cloud, "a-auditor").await)),
            false,
        ),
        ("owner", Some(bearer(&token(cloud, "b-owner").await)), true),
    ];
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", cloud.url))
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            if let Some(roles) = declared(path, method, op) {
                let responses: Vec<String> = op["responses"]
                    .as_object()
                    .expect("responses")
                    .keys()
                    .cloned()
                    .collect();
                ops.push((path.clone(), method.clone(), roles, responses));
            }
        }
    }
    // Signing out ends the session used: walk it last.
    ops.sort_by_key(|(path, ..)| path == "/api/v1/logout");
    assert!(ops.len() >= 20, "{} operations", ops.len());
    let mut calls = 0;
    for (path, method, roles, documented) in &ops {
        let target = if path.starts_with("/api/v1/actions/") {
            r.action.clone()
        } else if path.starts_with("/api/v1/staff/") {
            r.auditor_id.clone()
        } else if path.starts_with("/api/v1/operators/") {
            r.op_a.clone()
        } else {
            r.a1.clone()
        };
        let url = format!(
            "{}{}",
            cloud.url,
            path.replace("{id}", &target).replace("{node}", &r.node)
        );
        for (role, client, foreign) in callers.iter() {
            let c = client.as_ref().expect("client");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let mut req = c.request(m.clone(), &url);
            if m != Method::GET {
                req = req.json(&json!({}));
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            let what = format!(
                "{method} {path} as {role}{}",
                if *foreign { " of another operator" } else { "" }
            );
            assert_ne!(status, 500, "{what}: {body}");
            assert!(
                documented.contains(&status.to_string()),
                "{what}: {status} is not in the document ({documented:?}): {body}"
            );
            if *role == "none" {
                assert_eq!(status, 401, "{what}: {body}");
            } else if !roles.iter().any(|r| r == role) {
                assert_eq!(status, 403, "{what}: {body}");
            } else if *foreign && path.contains('{') {
                assert_eq!(status, 404, "{what}: {body}");
            } else {
                assert!(
                    ![401, 403, 404].contains(&status),
                    "{what}: {status} {body}"
                );
            }
            if status >= 400 {
                let v: Value = serde_json::from_str(&body)
                    .unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
                assert!(v["error"]["code"].is_string(), "{what}: {body}");
            }
            calls += 1;
        }
    }
    assert_eq!(calls, ops.len() * callers.len());
}

#[tokio::test]
async fn each_role_lists_only_what_it_sees() {
    let r = room().await;
    let cloud = &r.cloud;
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .expect("list")
            .iter()
            .map(|x| x["name"].as_str().expect("name").to_owned())
            .collect();
        n.sort();
        n
    };
    let venues = |t: String| {
        let url = format!("{}/api/v1/venues", cloud.url);
        async move {
            let (s, v) = get(&bearer(&t), url).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v
        }
    };
    let all = names(&venues(cloud.admin_key.clone()).await);
    assert_eq!(all, ["Acme Harbour", "Acme Riverside", "Bravo Central"]);
    for (user, want) in [
        ("a-owner", vec!["Acme Harbour", "Acme Riverside"]),
        ("a-auditor", vec!["Acme Harbour", "Acme Riverside"]),
        ("a-regional", vec!["Acme Riverside"]),
        ("b-owner", vec!["Bravo Central"]),
    ] {
        let t = token(cloud, user).await;
        assert_eq!(names(&venues(t.clone()).await), want, "{user}");
        // Nodes follow their venues.
        let (_, nodes) = get(&bearer(&t), format!("{}/api/v1/nodes", cloud.url)).await;
        let has_node = nodes.as_array().expect("nodes").len() == 1;
        assert_eq!(
            has_node,
            want.contains(&"Acme Riverside"),
            "{user}: {nodes}"
        );
    }
    // A regional manager's venue outside their set is not there for them;
    // the auditor reads it.
    let regional = bearer(&token(cloud, "a-regional").await);
    let (s, _) = get(
        &regional,
        format!("{}/api/v1/venues/{}/events", cloud.url, r.a2),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let auditor = bearer(&token(cloud, "a-auditor").await);
    let (s, _) = get(
        &auditor,
        format!("{}/api/v1/venues/{}/events", cloud.url, r.a2),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // A regional set only holds the operator's own venues.
    let owner = bearer(&token(cloud, "a-owner").await);
    let (s, body) = post(
        &owner,
        format!("{}/api/v1/operators/{}/staff", cloud.url, r.op_a),
        json!({"username": "a-region2", "password": "correct horse battery", "role": "regional", "venues": [r.b1]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // An admin makes no owners; an owner does.
    let admin = bearer(&token(cloud, "a-admin").await);
    let owner2 =
        json!({"username": "a-owner2", "password": "correct horse battery", "role": "owner"});
    let (s, _) = post(
        &admin,
        format!("{}/api/v1/operators/{}/staff", cloud.url, r.op_a),
        owner2.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = post(
        &owner,
        format!("{}/api/v1/operators/{}/staff", cloud.url, r.op_a),
        owner2,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // Staff venues go to their own operator; another's answers 404.
    let (s, v) = post(
        &owner,
        format!("{}/api/v1/venues", cloud.url),
        json!({"name": "Acme Dockside"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["operator_id"], json!(r.op_a));
    let b_op = {
        let (_, ops) = get(&cloud.client(), format!("{}/api/v1/operators", cloud.url)).await;
        ops.as_array()
            .expect("ops")
            .iter()
            .find(|o| o["name"] == "Bravo Cards")
            .expect("B")["id"]
            .clone()
    };
    let (s, _) = post(
        &owner,
        format!("{}/api/v1/venues", cloud.url),
        json!({"name": "Sneaky", "operator_id": b_op}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // An auditor sends nothing through the page either.
    let ac = page_client(cloud, "a-auditor").await;
    let resp = ac
        .post(format!("{}/admin/actions", cloud.url))
        .header("Origin", &cloud.url)
        .form(&[
            ("scope", "all"),
            ("kind", "announcement"),
            ("text", "Free drinks"),
            ("minutes", "5"),
        ])
        .send()
        .await
        .expect("form");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (_, sent) = get(&owner, format!("{}/api/v1/actions", cloud.url)).await;
    assert_eq!(
        sent.as_array().map(Vec::len),
        Some(1),
        "only the room's own action: {sent}"
    );
    // An owner may not point the operator's alerts into the hub's network.
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/x",
        "https://10.1.2.3/",
        "http://[::1]/",
    ] {
        let r = owner
            .patch(format!("{}/api/v1/operators/{}", cloud.url, r.op_a))
            .json(&json!({"alert_webhook": url}))
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
    }
}

fn totp_code(secret: &str, at_secs: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .expect("base32");
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
        .expect("totp")
        .generate(at_secs)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn sign_in_with_a_second_factor_lockouts_and_sessions_that_outlive_a_restart() {
    let r = room().await;
    let pw = "correct horse battery";
    let t = token(&r.cloud, "a-owner").await;
    let me = bearer(&t);
    let url = r.cloud.url.clone();
    let (s, who) = get(&me, format!("{url}/api/v1/me")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(who["role"], "owner");
    assert_eq!(who["operator_id"], json!(r.op_a));

    // A second factor: enrolled with a code, then needed to sign in, each code once.
    let (s, _) = post(
        &me,
        format!("{url}/api/v1/me/totp"),
        json!({"password": "not mine"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "enrolling takes the password"
    );
    let (s, enrol) = post(
        &me,
        format!("{url}/api/v1/me/totp"),
        json!({"password": pw}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{enrol}");
    let secret = enrol["secret"].as_str().expect("secret").to_owned();
    assert!(enrol["otpauth_url"]
        .as_str()
        .expect("url")
        .starts_with("otpauth://totp/"));
    let (s, _) = post(
        &me,
        format!("{url}/api/v1/me/totp/confirm"),
        json!({"code": "000000x"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let now = now_secs();
    let (s, body) = post(
        &me,
        format!("{url}/api/v1/me/totp/confirm"),
        json!({"code": totp_code(&secret, now)}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, body) = login(&r.cloud, "a-owner", pw, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "totp_required");
    // The code already used does not work again; the next step's does, once.
    let (s, _) = login(&r.cloud, "a-owner", pw, Some(&totp_code(&secret, now))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let next = totp_code(&secret, now + 30);
    let (s, body) = login(&r.cloud, "a-owner", pw, Some(&next)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["account"]["totp"], true);
    let (s, _) = login(&r.cloud, "a-owner", pw, Some(&next)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a code works once");
    let (s, body) = post(
        &me,
        format!("{url}/api/v1/me/totp"),
        json!({"password": pw}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a second factor is not replaced by a session: {body}"
    );

    // A restart signs nobody out.
    let auditor = token(&r.cloud, "a-auditor").await;
    let key = r.cloud.admin_key.clone();
    let dir = r.cloud.dir.clone();
    drop(r.cloud);
    let cloud = Cloud::start_with_key(&dir, &r._hub, Some(key));
    let (s, _) = get(&bearer(&auditor), format!("{}/api/v1/me", cloud.url)).await;
    assert_eq!(s, StatusCode::OK, "still signed in after a restart");

    // A new password ends the account's sessions; a disable refuses sign-in.
    let admin = cloud.client();
    let resp = admin
        .patch(format!("{}/api/v1/staff/{}", cloud.url, r.auditor_id))
        .json(&json!({"password": "another good one"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), StatusCode::OK);
    let (s, _) = get(&bearer(&auditor), format!("{}/api/v1/me", cloud.url)).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a new password ends old sessions"
    );
    let t2 = {
        let (s, b) = login(&cloud, "a-auditor", "another good one", None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["token"].as_str().expect("token").to_owned()
    };
    let resp = admin
        .patch(format!("{}/api/v1/staff/{}", cloud.url, r.auditor_id))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .expect("disable");
    assert_eq!(resp.status(), StatusCode::OK);
    let (s, _) = get(&bearer(&t2), format!("{}/api/v1/me", cloud.url)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a disable ends sessions");
    let (s, body) = login(&cloud, "a-auditor", "another good one", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");

    // Lockout: five wrong passwords lock the account, even for the right one.
    for _ in 0..5 {
        let (s, _) = login(&cloud, "a-admin", "wrong password!", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, body) = login(&cloud, "a-admin", pw, None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "locked_out");
    // An unknown user and a huge one are refused the same way.
    let (s, _) = login(&cloud, "nobody", pw, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = login(&cloud, &"x".repeat(600), &"y".repeat(600), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The pages: a regional manager signs in with the form and sees their venue only.
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = c
        .post(format!("{}/admin/login", cloud.url))
        .header("Origin", &cloud.url)
        .form(&[("username", "a-regional"), ("password", "not it at all")])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let page = resp.text().await.expect("page");
    assert!(
        page.contains("value=\"a-regional\""),
        "keeps the username: {page}"
    );
    assert!(page.contains("Wrong username, password or code"), "{page}");
    let resp = c
        .post(format!("{}/admin/login", cloud.url))
        .header("Origin", &cloud.url)
        .form(&[("username", "a-regional"), ("password", pw)])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(format!("{}/admin", cloud.url))
        .send()
        .await
        .expect("venues")
        .text()
        .await
        .expect("page");
    assert!(page.contains("Acme Riverside"), "{page}");
    assert!(
        !page.contains("Acme Harbour") && !page.contains("Bravo Central"),
        "{page}"
    );
    assert!(
        !page.contains("New venue"),
        "a regional manager makes no venues: {page}"
    );
    let resp = c
        .get(format!("{}/admin/venues/{}", cloud.url, r.b1))
        .send()
        .await
        .expect("foreign venue");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let page = c
        .get(format!("{}/admin/venues/{}", cloud.url, r.a1))
        .send()
        .await
        .expect("venue")
        .text()
        .await
        .expect("page");
    assert!(page.contains("Announce on this venue"), "{page}");
    assert!(
        !page.contains("Revoke this venue"),
        "no fleet forms for a regional manager: {page}"
    );
    let resp = c
        .post(format!("{}/admin/venues/{}/revoke", cloud.url, r.a1))
        .header("Origin", &cloud.url)
        .form(&[("confirm", "yes")])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// With `PVM_SCREENSHOT_DIR` set, keeps a full-page screenshot there (to look at).
async fn shot(b: &browser::Browser, name: &str) {
    if let Ok(dir) = std::env::var("PVM_SCREENSHOT_DIR") {
        b.full_screenshot(&std::path::Path::new(&dir).join(name))
            .await;
    }
}

/// The sign-in page and a regional manager's pages in headless Chromium at
/// phone and desktop width: a wrong password keeps the username and says
/// so; signed in, only their venue shows, with no fleet forms.
#[tokio::test]
async fn a_regional_manager_signs_in_through_the_page_at_phone_and_desktop_width() {
    let r = room().await;
    let cloud = &r.cloud;
    for (width, height) in [(390, 844), (1280, 900)] {
        let b = browser::Browser::start(width, height).await;
        b.goto(&format!("{}/admin/login", cloud.url)).await;
        b.type_into("input[name=username]", "a-regional").await;
        b.type_into("input[name=password]", "not the password")
            .await;
        b.click_and_wait("button[type=submit]").await;
        let page = b.source().await;
        assert!(page.contains("Wrong username, password or code"), "{page}");
        assert!(
            page.contains("value=\"a-regional\""),
            "keeps what was typed: {page}"
        );
        shot(&b, &format!("hub-login-error-{width}.png")).await;
        b.type_into("input[name=password]", "correct horse battery")
            .await;
        b.click_and_wait("button[type=submit]").await;
        let page = b.source().await;
        assert!(
            page.contains("Acme Riverside") && !page.contains("Acme Harbour"),
            "{page}"
        );
        assert!(page.contains("regional manager"), "{page}");
        let wide = b
            .eval("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            .await;
        assert_eq!(
            wide,
            serde_json::Value::Bool(true),
            "nothing wider than {width} px"
        );
        shot(&b, &format!("hub-venues-regional-{width}.png")).await;
        b.goto(&format!("{}/admin/venues/{}", cloud.url, r.a1))
            .await;
        let page = b.source().await;
        assert!(
            page.contains("Announce on this venue") && !page.contains("Revoke this venue"),
            "{page}"
        );
        shot(&b, &format!("hub-venue-regional-{width}.png")).await;
        b.quit().await;
    }
}

/// The staff pages in Chromium at phone and desktop width: an owner makes
/// a regional manager for one venue (a too-short password first: the form
/// comes back with what was typed and says why), disables an account; a
/// super-admin's list of operators; a regional manager is refused.
#[tokio::test]
async fn an_owner_manages_staff_through_the_pages() {
    let r = room().await;
    let cloud = &r.cloud;
    for (pass, (width, height)) in [(390, 844), (1280, 900)].into_iter().enumerate() {
        let b = browser::Browser::start(width, height).await;
        b.goto(&format!("{}/admin/login", cloud.url)).await;
        b.type_into("input[name=username]", "a-owner").await;
        b.type_into("input[name=password]", "correct horse battery")
            .await;
        b.click_and_wait("button[type=submit]").await;
        b.goto(&format!("{}/admin/staff", cloud.url)).await;
        let page = b.source().await;
        assert!(
            page.contains("Acme Poker") && page.contains("a-auditor"),
            "{page}"
        );
        let user = format!("new-regional-{pass}");
        b.type_into("section.new input[name=username]", &user).await;
        b.type_into("section.new input[name=password]", "short")
            .await;
        b.choose("section.new select[name=role]", "regional").await;
        b.click(&format!("section.new input[name=venue][value='{}']", r.a1))
            .await;
        // The browser's own minlength check would stop it: the server's is tested.
        b.eval("document.querySelectorAll('input[minlength]').forEach(i => i.removeAttribute('minlength')); return 0").await;
        b.click_and_wait("section.new button[type=submit]").await;
        let page = b.source().await;
        assert!(
            page.contains("password: a password needs 8 to 128 characters"),
            "{page}"
        );
        assert!(
            page.contains(&format!("value=\"{user}\"")),
            "keeps the username: {page}"
        );
        shot(&b, &format!("hub-staff-error-{width}.png")).await;
        b.type_into("section.new input[name=password]", "a long enough one")
            .await;
        b.click_and_wait("section.new button[type=submit]").await;
        let page = b.source().await;
        assert!(
            page.contains(&format!("Made {user} (regional manager)")),
            "{page}"
        );
        assert!(page.contains("Acme Riverside"), "the set is shown: {page}");
        let wide = b
            .eval("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            .await;
        assert_eq!(
            wide,
            serde_json::Value::Bool(true),
            "nothing wider than {width} px"
        );
        shot(&b, &format!("hub-staff-{width}.png")).await;
        b.quit().await;
        // The new account signs in and sees its one venue.
        let (s, body) = login(cloud, &user, "a long enough one", None).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["account"]["venues"], json!([r.a1]));
    }
    // Disabling through the page ends the account's sign-in.
    let c = page_client(cloud, "a-admin").await;
    // A venue name too long: the page again, in words, keeping what was typed.
    let long = "N".repeat(90);
    let resp = c
        .post(format!("{}/admin/venues", cloud.url))
        .header("Origin", &cloud.url)
        .form(&[("name", long.as_str())])
        .send()
        .await
        .expect("new venue");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = resp.text().await.expect("page");
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "a page, not JSON: {page}"
    );
    assert!(
        page.contains("name: 1 to 80 characters") && page.contains(&format!("value=\"{long}\"")),
        "{page}"
    );
    let resp = c
        .post(format!("{}/admin/staff/{}", cloud.url, r.auditor_id))
        .header("Origin", &cloud.url)
        .form(&[("action", "disable")])
        .send()
        .await
        .expect("disable");
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("page");
    assert!(page.contains("a-auditor disabled"), "{page}");
    let (s, _) = login(cloud, "a-auditor", "correct horse battery", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // An admin cannot touch an owner, nor see another operator.
    let owner_id = {
        let (_, staff) = get(
            &cloud.client(),
            format!("{}/api/v1/operators/{}/staff", cloud.url, r.op_a),
        )
        .await;
        staff
            .as_array()
            .expect("staff")
            .iter()
            .find(|s| s["username"] == "a-owner")
            .expect("owner")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let resp = c
        .post(format!("{}/admin/staff/{owner_id}", cloud.url))
        .header("Origin", &cloud.url)
        .form(&[("action", "disable")])
        .send()
        .await
        .expect("disable owner");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let b_op = {
        let (_, ops) = get(&cloud.client(), format!("{}/api/v1/operators", cloud.url)).await;
        ops.as_array()
            .expect("ops")
            .iter()
            .find(|o| o["name"] == "Bravo Cards")
            .expect("B")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let resp = c
        .get(format!("{}/admin/operators/{b_op}", cloud.url))
        .send()
        .await
        .expect("foreign");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // A regional manager is refused the staff pages.
    let rc = page_client(cloud, "a-regional").await;
    let resp = rc
        .get(format!("{}/admin/staff", cloud.url))
        .send()
        .await
        .expect("staff");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A super-admin's list of operators.
    let sc = page_client(cloud, "root").await;
    let page = sc
        .get(format!("{}/admin/staff", cloud.url))
        .send()
        .await
        .expect("ops")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("Acme Poker")
            && page.contains("Bravo Cards")
            && page.contains("New operator"),
        "{page}"
    );
}
