//! Roaming staff with real processes: an operator's hub accounts log in at
//! its venues' nodes with their hub passwords and the role the operator
//! gave them there, also while a node is cut off from the hub; a regional
//! manager only at their venue; an auditor (no node role), another
//! operator's owner and an account with a second factor nowhere. A disable
//! made while the hub's message server is down reaches the node once it is
//! back (the hub retries), and ends the sessions the account had there.
//! Local node accounts keep working throughout. The node's staff page lists
//! the hub accounts, in headless Chromium at phone and desktop width.

#[path = "../../node/tests/common/browser.rs"]
mod browser;
mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The id of `username`, an account of `operator`.
async fn staff_id(
    c: &reqwest::Client,
    url: &impl Fn(&str) -> String,
    operator: &str,
    username: &str,
) -> String {
    let (_, staff) = call(
        c,
        "GET",
        url(&format!("/api/v1/operators/{operator}/staff")),
        None,
    )
    .await;
    staff
        .as_array()
        .expect("staff")
        .iter()
        .find(|s| s["username"] == username)
        .unwrap_or_else(|| panic!("{username} in {staff}"))["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// A node login: the status, and the role and access token when it worked.
async fn node_login(node: &NodeProc, username: &str, password: &str) -> (u16, String, String) {
    let (s, v) = call(
        &reqwest::Client::new(),
        "POST",
        format!("{}/api/v1/auth/login", node.url),
        Some(json!({"username": username, "password": password})),
    )
    .await;
    (
        s,
        v["user"]["role"].as_str().unwrap_or_default().to_owned(),
        v["access_token"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The usernames of the newest hub accounts list the node took (from its
/// event log, read as its admin: polling logins would count failures).
async fn listed(node: &NodeProc, token: &str) -> Option<Vec<String>> {
    let (s, events) = call(
        &bearer(token),
        "GET",
        format!("{}/api/v1/events?after=0&limit=1000", node.url),
        None,
    )
    .await;
    assert_eq!(s, 200, "{events}");
    let last = events
        .as_array()?
        .iter()
        .rev()
        .find(|e| e["kind"] == "hub_staff_replaced")?;
    let accounts = last["payload"]["accounts"].as_array()?;
    for a in accounts {
        assert_eq!(a["password_hash"], "[redacted]", "hashes never shown: {a}");
    }
    let mut names: Vec<String> = accounts
        .iter()
        .filter_map(|a| a["username"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    Some(names)
}

async fn shot(b: &browser::Browser, name: &str) {
    if let Ok(dir) = std::env::var("PVM_SCREENSHOT_DIR") {
        b.full_screenshot(&std::path::Path::new(&dir).join(name))
            .await;
    }
}

#[tokio::test]
async fn hub_accounts_log_in_at_their_venues_nodes_offline_too_until_the_hub_disables_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let admin = cloud.client();
    let url = |p: &str| format!("{}{p}", cloud.url);
    let mut operators = Vec::new();
    for name in ["Acme Poker", "Bravo Cards"] {
        let (s, op) = call(
            &admin,
            "POST",
            url("/api/v1/operators"),
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(s, 201, "{op}");
        operators.push(op["id"].as_str().expect("id").to_owned());
    }
    for (op, user) in [(0, "a-owner"), (1, "b-owner")] {
        let (s, v) = call(
            &admin,
            "POST",
            url(&format!("/api/v1/operators/{}/staff", operators[op])),
            Some(json!({"username": user, "password": STAFF_PW, "role": "owner"})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(
            v["node_role"], "admin",
            "an owner is an admin at the venues"
        );
    }
    // Two venues of Acme, each with a registered node on its own leaf.
    let acme = staff_client(&cloud, "a-owner").await;
    let mut venues = Vec::new();
    let mut nodes = Vec::new();
    for (i, name) in ["Acme Harbour", "Acme Riverside"].into_iter().enumerate() {
        let (_, v) = call(
            &acme,
            "POST",
            url("/api/v1/venues"),
            Some(json!({"name": name})),
        )
        .await;
        let id = v["id"].as_str().expect("venue").to_owned();
        let (_, t) = call(
            &acme,
            "POST",
            url(&format!("/api/v1/venues/{id}/tokens")),
            Some(json!({})),
        )
        .await;
        let dir = tmp.path().join(format!("node{i}"));
        venues.push(registered_with(
            &dir,
            &cloud,
            t["token"].as_str().expect("token"),
        ));
        let leaf = Leaf::start(&dir);
        let node = NodeProc::start(&dir, &leaf, &[]);
        nodes.push((node, leaf));
    }
    // A regional manager of the first venue (a manager there by default),
    // an auditor (no node role), an admin given the floor role, and an
    // admin with a second factor.
    for (user, body) in [
        (
            "a-regional",
            json!({"role": "regional", "venues": [venues[0]]}),
        ),
        ("a-auditor", json!({"role": "auditor"})),
        ("a-floor", json!({"role": "admin", "node_role": "floor"})),
        ("a-split", {
            // Manager at the first venue, nothing at the second.
            let mut b = json!({"role": "admin", "node_role": "floor", "node_roles": {}});
            b["node_roles"][venues[0].as_str()] = json!("manager");
            b["node_roles"][venues[1].as_str()] = json!("none");
            b
        }),
        ("a-totp", json!({"role": "admin"})),
    ] {
        let mut body = body;
        body["username"] = json!(user);
        body["password"] = json!(STAFF_PW);
        let (s, v) = call(
            &acme,
            "POST",
            url(&format!("/api/v1/operators/{}/staff", operators[0])),
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, v) = call(
        &acme,
        "POST",
        url(&format!("/api/v1/operators/{}/staff", operators[0])),
        Some(json!({"username": "a-bad", "password": STAFF_PW, "role": "admin", "node_role": "boss"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid")),
        "{v}"
    );
    // a-totp enrols a second factor: it no longer goes to the nodes.
    let totp = staff_client(&cloud, "a-totp").await;
    let (s, begun) = call(
        &totp,
        "POST",
        url("/api/v1/me/totp"),
        Some(json!({"password": STAFF_PW})),
    )
    .await;
    assert_eq!(s, 200, "{begun}");
    let secret = begun["secret"].as_str().expect("secret").to_owned();
    let code = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        totp_rs::Secret::Encoded(secret).to_bytes().expect("base32"),
    )
    .expect("totp")
    .generate_current()
    .expect("code");
    let (s, v) = call(
        &totp,
        "POST",
        url("/api/v1/me/totp/confirm"),
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(s, 204, "{v}");

    // Each node takes its venue's list: who logs in where, and as what.
    let (harbour, riverside) = (&nodes[0].0, &nodes[1].0);
    let (boss_h, boss_r) = (harbour.token().await, riverside.token().await);
    let waited = until(
        Duration::from_secs(45),
        "the hub's accounts reaching both nodes",
        || async {
            listed(harbour, &boss_h).await.as_deref()
                == Some(
                    &[
                        "a-floor".to_owned(),
                        "a-owner".into(),
                        "a-regional".into(),
                        "a-split".into(),
                    ][..],
                )
                && listed(riverside, &boss_r).await.as_deref()
                    == Some(&["a-floor".to_owned(), "a-owner".into()][..])
        },
    )
    .await;
    println!("hub accounts at both nodes within {waited:?}");
    let expect = [
        (harbour, "a-owner", 200, "admin"),
        (riverside, "a-owner", 200, "admin"),
        (harbour, "a-regional", 200, "manager"),
        (riverside, "a-regional", 401, ""),
        (harbour, "a-floor", 200, "floor"),
        (harbour, "a-split", 200, "manager"),
        (riverside, "a-split", 401, ""),
        (harbour, "a-auditor", 401, ""),
        (harbour, "a-totp", 401, ""),
        (harbour, "b-owner", 401, ""),
    ];
    for (node, user, status, role) in expect {
        let (s, r, _) = node_login(node, user, STAFF_PW).await;
        assert_eq!((s, r.as_str()), (status, role), "{user} at {}", node.url);
    }
    let (s, _, _) = node_login(harbour, "a-owner", "not the password").await;
    assert_eq!(s, 401, "a hub account's wrong password");
    // The node's own admin works as before; a hub account makes no API key.
    assert_eq!(node_login(harbour, "boss", "boss-password-1").await.0, 200);
    let (_, _, owner_token) = node_login(harbour, "a-owner", STAFF_PW).await;
    let (s, v) = call(
        &bearer(&owner_token),
        "GET",
        format!("{}/api/v1/staff", harbour.url),
        None,
    )
    .await;
    assert_eq!(s, 200, "an admin at the venue manages its staff: {v}");
    let (s, v) = call(
        &bearer(&owner_token),
        "POST",
        format!("{}/api/v1/api-keys", harbour.url),
        Some(json!({"name": "till"})),
    )
    .await;
    assert!((400..500).contains(&s) && s != 404, "{s} {v}");

    // The node's own admin cannot change a hub account there.
    let floor_id = staff_id(&acme, &url, &operators[0], "a-floor").await;
    let (s, v) = call(
        &bearer(&boss_h),
        "PATCH",
        format!("{}/api/v1/staff/{floor_id}", harbour.url),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(s, 404, "a hub account is changed at the hub only: {v}");
    // Nobody changes their own node role; a new hub role brings its own.
    let owner_id = staff_id(&acme, &url, &operators[0], "a-owner").await;
    let (s, v) = call(
        &acme,
        "PATCH",
        url(&format!("/api/v1/staff/{owner_id}")),
        Some(json!({"node_role": "dealer"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("own_account")),
        "{v}"
    );
    let totp_id = staff_id(&acme, &url, &operators[0], "a-totp").await;
    let (s, v) = call(
        &acme,
        "PATCH",
        url(&format!("/api/v1/staff/{totp_id}")),
        Some(json!({"role": "auditor"})),
    )
    .await;
    assert_eq!(
        (s, &v["node_role"]),
        (200, &Value::Null),
        "an auditor is nothing at the venues: {v}"
    );

    // The node's staff page lists the hub accounts, read-only.
    for (width, height) in [(390, 844), (1280, 900)] {
        let b = browser::Browser::start(width, height).await;
        b.goto(&format!("{}/login", harbour.url)).await;
        b.type_into("input[name=username]", "a-owner").await;
        b.type_into("input[name=secret]", STAFF_PW).await;
        b.click_and_wait("button[value=password]").await;
        b.goto(&format!("{}/staff", harbour.url)).await;
        let listed = b
            .eval("return [...document.querySelectorAll('#hub-accounts .name')].map(e => e.textContent)")
            .await;
        assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed}");
        let text = b
            .eval("return document.querySelector('#hub-accounts').textContent")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            text.contains("a-regional") && !text.contains("a-auditor"),
            "{text}"
        );
        shot(&b, &format!("node-hub-accounts-{width}.png")).await;
        b.quit().await;
    }

    // Offline: the hub's message server stops; the node still knows them.
    let (_, _, regional_token) = node_login(harbour, "a-regional", STAFF_PW).await;
    hub.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, role, _) = node_login(harbour, "a-owner", STAFF_PW).await;
    assert_eq!(
        (s, role.as_str()),
        (200, "admin"),
        "offline, a hub account logs in"
    );
    // Disabled at the hub meanwhile: the list cannot be sent now.
    let regional_id = staff_id(&acme, &url, &operators[0], "a-regional").await;
    let (s, v) = call(
        &acme,
        "PATCH",
        url(&format!("/api/v1/staff/{regional_id}")),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        node_login(harbour, "a-regional", STAFF_PW).await.0,
        200,
        "the node cannot know before the hub reaches it"
    );
    // Back: the hub sends it again, and the node ends the account there.
    hub.restart();
    let took = until(
        Duration::from_secs(60),
        "the disable reaching the node",
        || async {
            listed(harbour, &boss_h)
                .await
                .is_some_and(|l| !l.contains(&"a-regional".to_owned()))
        },
    )
    .await;
    assert_eq!(node_login(harbour, "a-regional", STAFF_PW).await.0, 401);
    println!("the disable reached the node {took:?} after the hub came back");
    let (s, v) = call(
        &bearer(&regional_token),
        "GET",
        format!("{}/api/v1/auth/me", harbour.url),
        None,
    )
    .await;
    assert_eq!(
        s, 401,
        "a disabled hub account's session ends at the node: {v}"
    );
    // A new node role takes effect the same way; the others are unchanged.
    let (s, v) = call(
        &acme,
        "PATCH",
        url(&format!("/api/v1/staff/{floor_id}")),
        Some(json!({"node_role": "manager"})),
    )
    .await;
    assert_eq!((s, v["node_role"].as_str()), (200, Some("manager")), "{v}");
    until(
        Duration::from_secs(45),
        "the new node role reaching the node",
        || async { node_login(riverside, "a-floor", STAFF_PW).await.1 == "manager" },
    )
    .await;
    assert_eq!(node_login(riverside, "a-owner", STAFF_PW).await.0, 200);
    assert_eq!(node_login(harbour, "boss", "boss-password-1").await.0, 200);
    // The venue's log holds each list the node took, synced to the hub.
    until(
        Duration::from_secs(30),
        "hub_staff_replaced reaching the hub",
        || async {
            let events = cloud.events(&venues[0]).await;
            events["latest"]
                .as_array()
                .is_some_and(|l| l.iter().any(|e| e["kind"] == "hub_staff_replaced"))
        },
    )
    .await;
}
