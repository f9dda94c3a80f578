//! The live console with real processes: an operator's venue with a
//! registered pvm-node syncing through its leaf; a tournament running, one
//! finished, a cash list with players waiting, made through the node's API.
//! The console's JSON shows them as the hub folded them, another operator
//! sees none of it, and the console page in headless Chromium follows a
//! change at the node without a reload (server-sent events), at phone and
//! desktop width.

#[path = "../../node/tests/common/browser.rs"]
mod browser;
mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const PW: &str = "correct horse battery";

async fn post(c: &reqwest::Client, url: String, body: Value) -> Value {
    let r = c.post(&url).json(&body).send().await.expect("post");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

async fn console(c: &reqwest::Client, cloud: &Cloud) -> Value {
    c.get(format!("{}/api/v1/console", cloud.url))
        .send()
        .await
        .expect("console")
        .json()
        .await
        .expect("json")
}

async fn shot(b: &browser::Browser, name: &str) {
    if let Ok(dir) = std::env::var("PVM_SCREENSHOT_DIR") {
        b.full_screenshot(&std::path::Path::new(&dir).join(name))
            .await;
    }
}

#[tokio::test]
async fn the_console_shows_each_operators_venues_live() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let admin = cloud.client();
    let url = |p: &str| format!("{}{p}", cloud.url);
    let mut ops = Vec::new();
    for (name, owner) in [("Acme Poker", "acme-owner"), ("Bravo Cards", "bravo-owner")] {
        let op = post(&admin, url("/api/v1/operators"), json!({"name": name})).await;
        let id = op["id"].as_str().expect("id").to_owned();
        post(
            &admin,
            url(&format!("/api/v1/operators/{id}/staff")),
            json!({"username": owner, "password": PW, "role": "owner"}),
        )
        .await;
        ops.push(id);
    }
    // Acme's owner makes the venue and registers its node.
    let acme = staff_client(&cloud, "acme-owner").await;
    let venue = post(
        &acme,
        url("/api/v1/venues"),
        json!({"name": "Acme Riverside"}),
    )
    .await;
    let venue = venue["id"].as_str().expect("venue").to_owned();
    let token = post(
        &acme,
        url(&format!("/api/v1/venues/{venue}/tokens")),
        json!({}),
    )
    .await;
    let node_dir = tmp.path().join("node");
    admin_create(&node_dir);
    let out = register(
        &node_dir,
        &cloud.url,
        token["token"].as_str().expect("token"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let venue = venue_of(&node_dir);
    let leaf = Leaf::start(&node_dir);
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    let nt = node.token().await;
    let n = bearer(&nt);
    let api = |p: &str| format!("{}{p}", node.url);

    // At the node: a table open, a list with three waiting, a tournament
    // running with four entries, and one played to its end.
    let table = post(&n, api("/api/v1/tables"), json!({"name": "T1", "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9})).await;
    post(
        &n,
        api(&format!(
            "/api/v1/tables/{}/open",
            table["id"].as_str().expect("t")
        )),
        json!({}),
    )
    .await;
    post(
        &n,
        api("/api/v1/cash/lists"),
        json!({"game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}}),
    )
    .await;
    let board: Value = n
        .get(api("/api/v1/cash"))
        .send()
        .await
        .expect("board")
        .json()
        .await
        .expect("json");
    let list = board["lists"][0]["id"].as_str().expect("list").to_owned();
    for name in ["Ann Able", "Bo Baker", "Cy Cole"] {
        post(
            &n,
            api(&format!("/api/v1/cash/lists/{list}/entries")),
            json!({"walk_in": {"name": name}}),
        )
        .await;
    }
    let tournament = |name: &'static str| {
        let n = n.clone();
        let u = api("/api/v1/tournaments");
        async move {
            let t = post(
                &n,
                u.clone(),
                json!({"name": name, "template": "Turbo", "tables": 1}),
            )
            .await;
            let id = t["id"].as_str().expect("id").to_owned();
            let mut bullets = Vec::new();
            for p in ["Dee Dunn", "Eve Eddy", "Flo Fox", "Gus Gray"] {
                let e = post(
                    &n,
                    format!("{u}/{id}/entries"),
                    json!({"name": format!("{p} {name}")}),
                )
                .await;
                bullets.push(e["bullet_id"].as_str().expect("bullet").to_owned());
            }
            post(&n, format!("{u}/{id}/start"), json!({})).await;
            (id, bullets)
        }
    };
    let (done, bullets) = tournament("Early Bird").await;
    for b in &bullets[..3] {
        post(
            &n,
            api(&format!("/api/v1/tournaments/{done}/bullets/{b}/bust")),
            json!({}),
        )
        .await;
    }
    tournament("Friday Turbo").await;
    // At least the node's head now: the hub's accounts list may add an
    // event of its own meanwhile (roaming staff).
    let head = node.sync(&nt).await["head_seq"].as_i64().expect("head");
    until(
        Duration::from_secs(30),
        "the node's events at the hub",
        || async { cloud.events(&venue).await["max_seq"].as_i64() >= Some(head) },
    )
    .await;

    // The owner's console, as the hub folded it.
    let c = console(&acme, &cloud).await;
    let v = &c["venues"][0];
    assert_eq!(c["venues"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(v["name"], "Acme Riverside");
    let ts = v["tournaments"].as_array().expect("tournaments");
    assert_eq!(ts.len(), 1, "the finished one is not running: {v}");
    assert_eq!(ts[0]["name"], "Friday Turbo");
    assert_eq!(ts[0]["status"], "running");
    assert_eq!(
        (
            ts[0]["level"].as_u64(),
            ts[0]["players_left"].as_u64(),
            ts[0]["entries"].as_u64()
        ),
        (Some(1), Some(4), Some(4)),
        "{v}"
    );
    assert_eq!(
        v["games"],
        json!([{"label": "1/2 NLHE", "tables": 1, "waiting": 3}])
    );
    assert_eq!(
        (v["tables_open"].as_u64(), v["tables"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(c["totals"]["tournaments_running"], 1);
    assert_eq!(c["totals"]["players_left"], 4);
    assert_eq!(c["totals"]["waiting"], 3);
    // Another operator sees none of it.
    let bravo = staff_client(&cloud, "bravo-owner").await;
    let other = console(&bravo, &cloud).await;
    assert_eq!(other["venues"], json!([]), "{other}");
    assert_eq!(other["totals"]["venues"], 0);

    for (pass, (width, height)) in [(390, 844), (1280, 900)].into_iter().enumerate() {
        let b = browser::Browser::start(width, height).await;
        b.goto(&format!("{}/admin/login", cloud.url)).await;
        b.type_into("input[name=username]", "acme-owner").await;
        b.type_into("input[name=password]", PW).await;
        b.click_and_wait("button[type=submit]").await;
        b.goto(&format!("{}/admin/console", cloud.url)).await;
        let page = b.source().await;
        assert!(
            page.contains("Friday Turbo") && page.contains("level 1"),
            "{page}"
        );
        assert!(page.contains(&format!("{} waiting", 3 + pass)), "{page}");
        // A fourth player joins at the node: the open page follows, no reload.
        post(
            &n,
            api(&format!("/api/v1/cash/lists/{list}/entries")),
            json!({"walk_in": {"name": format!("Hal Hunt {width}")}}),
        )
        .await;
        let waiting = format!("{} waiting", 4 + pass);
        b.until(
            &format!("return document.getElementById('console').textContent.includes('{waiting}')"),
            Duration::from_secs(30),
            "the console following the node",
        )
        .await;
        let wide = b
            .eval("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            .await;
        assert_eq!(wide, Value::Bool(true), "nothing wider than {width} px");
        shot(&b, &format!("hub-console-{width}.png")).await;
        // Drilling into the venue: what runs now and what finished.
        b.goto(&format!("{}/admin/venues/{venue}", cloud.url)).await;
        let page = b.source().await;
        assert!(
            page.contains("Friday Turbo") && page.contains("Finished tournaments"),
            "{page}"
        );
        assert!(
            page.contains("Early Bird") && page.contains("1. "),
            "the winner: {page}"
        );
        shot(&b, &format!("hub-venue-drill-{width}.png")).await;
        b.quit().await;
    }
    // The feed answers only a signed-in browser.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/admin/console/events", cloud.url))
        .send()
        .await
        .expect("feed");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // One sign-in keeps at most 4 feeds open; a closed one frees its place.
    let pc = page_client(&cloud, "acme-owner").await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let r = pc
            .get(url("/admin/console/events"))
            .send()
            .await
            .expect("feed");
        assert_eq!(r.status(), StatusCode::OK);
        open.push(r);
    }
    let r = pc
        .get(url("/admin/console/events"))
        .send()
        .await
        .expect("feed");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    open.pop();
    until(
        Duration::from_secs(40),
        "a closed feed's place given back",
        || async {
            let r = pc
                .get(url("/admin/console/events"))
                .send()
                .await
                .expect("feed");
            r.status() == StatusCode::OK
        },
    )
    .await;
    drop(node);
}
