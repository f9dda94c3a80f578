//! One action, many venues, with real processes: an operator with two
//! venues, each a registered pvm-node syncing through its own leaf, and a
//! venue of another operator. An announcement sent to all of the owner's
//! venues is applied at both, as each node reports back; an update older
//! than the nodes is refused by both, with their reason; a regional manager
//! reaches only their venue, and the form on /admin/actions does the same
//! in headless Chromium at phone and desktop width.

#[path = "../../node/tests/common/browser.rs"]
mod browser;
mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const PW: &str = "correct horse battery";

/// Each venue's delivery state in an action.
/// The venues an action reached, each in one of `allowed` states (a
/// delivery in any other state is named instead).
fn reached(action: &Value, allowed: &[&str]) -> Vec<String> {
    states(action)
        .into_iter()
        .map(|(venue, state)| {
            if allowed.contains(&state.as_str()) {
                venue
            } else {
                format!("{venue} ({state})")
            }
        })
        .collect()
}

fn states(action: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = action["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            (
                d["venue_name"].as_str().unwrap_or_default().to_owned(),
                d["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn shot(b: &browser::Browser, name: &str) {
    if let Ok(dir) = std::env::var("PVM_SCREENSHOT_DIR") {
        b.full_screenshot(&std::path::Path::new(&dir).join(name))
            .await;
    }
}

#[tokio::test]
async fn one_action_reaches_many_venues_and_each_reports_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
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
    for (op, user, role) in [(0, "a-owner", "owner"), (1, "b-owner", "owner")] {
        let (s, v) = call(
            &admin,
            "POST",
            url(&format!("/api/v1/operators/{}/staff", operators[op])),
            Some(json!({"username": user, "password": PW, "role": role})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    // Three venues, each with a node of its own: two of Acme's, one of Bravo's.
    let mut nodes = Vec::new();
    let mut venues = Vec::new();
    for (i, (owner, name)) in [
        ("a-owner", "Acme Riverside"),
        ("a-owner", "Acme Harbour"),
        ("b-owner", "Bravo Central"),
    ]
    .into_iter()
    .enumerate()
    {
        let c = staff_client(&cloud, owner).await;
        let (_, v) = call(
            &c,
            "POST",
            url("/api/v1/venues"),
            Some(json!({"name": name})),
        )
        .await;
        let id = v["id"].as_str().expect("venue").to_owned();
        let (_, t) = call(
            &c,
            "POST",
            url(&format!("/api/v1/venues/{id}/tokens")),
            Some(json!({})),
        )
        .await;
        let dir = tmp.path().join(format!("node{i}"));
        admin_create(&dir);
        let out = register(&dir, &cloud.url, t["token"].as_str().expect("token"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        venues.push(venue_of(&dir));
        let leaf = Leaf::start(&dir);
        let node = NodeProc::start(&dir, &leaf, &[]);
        nodes.push((node, leaf));
    }
    let acme = staff_client(&cloud, "a-owner").await;
    // A regional manager of Acme's first venue only.
    let (s, v) = call(
        &acme,
        "POST",
        url(&format!("/api/v1/operators/{}/staff", operators[0])),
        Some(json!({"username": "a-regional", "password": PW, "role": "regional", "venues": [venues[0]]})),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    // An announcement to all of Acme's venues: applied at both, as each node says.
    let (s, sent) = call(
        &acme,
        "POST",
        url("/api/v1/actions"),
        Some(json!({"all": true, "announcement": {"text": "Main event at 8", "minutes": 60}})),
    )
    .await;
    assert_eq!(s, 201, "{sent}");
    // A fast node may already have reported by the time the reply is made.
    assert_eq!(
        reached(&sent, &["sent", "applied"]),
        ["Acme Harbour", "Acme Riverside"],
        "Bravo's venue is not Acme's to reach: {sent}"
    );
    let id = sent["id"].as_str().expect("action id").to_owned();
    until(
        Duration::from_secs(45),
        "both nodes reporting the announcement applied",
        || async {
            let (_, a) = call(&acme, "GET", url(&format!("/api/v1/actions/{id}")), None).await;
            states(&a).iter().all(|(_, s)| s == "applied")
        },
    )
    .await;
    let (_, a) = call(&acme, "GET", url(&format!("/api/v1/actions/{id}")), None).await;
    assert!(
        a["deliveries"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("screens"),
        "{a}"
    );

    // An update older than the nodes: each refuses it and says why.
    let digest = format!("registry.example/pvm-node@sha256:{}", "a".repeat(64));
    let (s, sent) = call(
        &acme,
        "POST",
        url("/api/v1/actions"),
        Some(json!({"venues": [venues[0], venues[1]], "update": {"version": "0.0.1", "images": {"node": digest}}})),
    )
    .await;
    assert_eq!(s, 201, "{sent}");
    let id = sent["id"].as_str().expect("action id").to_owned();
    until(
        Duration::from_secs(45),
        "both nodes refusing the old update",
        || async {
            let (_, a) = call(&acme, "GET", url(&format!("/api/v1/actions/{id}")), None).await;
            states(&a).iter().all(|(_, s)| s == "refused")
        },
    )
    .await;
    let (_, a) = call(&acme, "GET", url(&format!("/api/v1/actions/{id}")), None).await;
    assert!(
        a["deliveries"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("older than"),
        "{a}"
    );

    // A regional manager: their venue only; another of Acme's is 404, an
    // update is not theirs to send, all means their one venue.
    let regional = staff_client(&cloud, "a-regional").await;
    let announce = json!({"text": "Tables open", "minutes": 10});
    let (s, _) = call(
        &regional,
        "POST",
        url("/api/v1/actions"),
        Some(json!({"venues": [venues[1]], "announcement": announce})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &regional,
        "POST",
        url("/api/v1/actions"),
        Some(json!({"all": true, "update": {"version": "9.9.9", "images": {"node": digest}}})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, mine) = call(
        &regional,
        "POST",
        url("/api/v1/actions"),
        Some(json!({"all": true, "announcement": announce})),
    )
    .await;
    assert_eq!(s, 201, "{mine}");
    assert_eq!(
        reached(&mine, &["sent", "applied"]),
        ["Acme Riverside"],
        "{mine}"
    );
    // Nothing named and not all, or two kinds at once: 422.
    let (s, _) = call(
        &acme,
        "POST",
        url("/api/v1/actions"),
        Some(json!({"announcement": announce})),
    )
    .await;
    assert_eq!(s, 422);
    // Bravo sees none of Acme's actions.
    let bravo = staff_client(&cloud, "b-owner").await;
    let (s, list) = call(&bravo, "GET", url("/api/v1/actions"), None).await;
    assert_eq!((s, list), (200, json!([])));
    let (s, _) = call(&bravo, "GET", url(&format!("/api/v1/actions/{id}")), None).await;
    assert_eq!(s, 404);

    // The page, in Chromium: the owner sends an announcement to the first
    // venue only and watches it applied.
    for (pass, (width, height)) in [(390, 844), (1280, 900)].into_iter().enumerate() {
        let b = browser::Browser::start(width, height).await;
        b.goto(&url("/admin/login")).await;
        b.type_into("input[name=username]", "a-owner").await;
        b.type_into("input[name=password]", PW).await;
        b.click_and_wait("button[type=submit]").await;
        b.goto(&url("/admin/actions")).await;
        // An empty text: the page says so and keeps the choice.
        b.click("input[name=scope][value=chosen]").await;
        b.click_and_wait("section.new button[type=submit]").await;
        let page = b.source().await;
        assert!(page.contains("text: 1 to 280 characters"), "{page}");
        let text = format!("Seat open at table {pass}");
        b.click("input[name=scope][value=chosen]").await;
        b.click(&format!("input[name=venue][value='{}']", venues[0]))
            .await;
        b.type_into("input[name=text]", &text).await;
        b.click_and_wait("section.new button[type=submit]").await;
        until(
            Duration::from_secs(45),
            "the page showing the announcement applied",
            || async {
                b.goto(&url("/admin/actions")).await;
                let page = b.source().await;
                let section = page
                    .split("<section class=\"action\">")
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                section.contains(&text) && section.contains("applied at the venue")
            },
        )
        .await;
        let page = b.source().await;
        let first = page
            .split("<section class=\"action\">")
            .nth(1)
            .unwrap_or_default();
        assert!(
            first.contains("Acme Riverside") && !first.contains("Acme Harbour"),
            "{first}"
        );
        let wide = b
            .eval("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            .await;
        assert_eq!(wide, Value::Bool(true), "nothing wider than {width} px");
        shot(&b, &format!("hub-actions-{width}.png")).await;
        b.quit().await;
    }
    drop(nodes);
}
