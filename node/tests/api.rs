//! API tests against the real `pvm-node` binary on a loopback port.

mod common;

use common::{
    browser_login, client, client_with_token, csrf_of, table_json, TestNode, ADMIN, ADMIN_PASSWORD,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn error_of(resp: reqwest::Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let body: Value = resp.json().await.expect("error body is JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned();
    assert!(!message.is_empty());
    (status, code, message)
}

#[tokio::test]
async fn a_table_goes_through_create_rename_restake_open_and_close() {
    let node = TestNode::start();
    let c = node.client();
    let resp = c
        .post(node.api("/api/v1/tables"))
        .json(&table_json("Table 1"))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        resp.headers()["pvm-event-seq"],
        "2",
        "seq 1 is the admin account"
    );
    let table: Value = resp.json().await.expect("json");
    let id = table["id"].as_str().expect("id").to_owned();
    assert_eq!(table["status"], "closed");

    let renamed: Value = c
        .patch(node.api(&format!("/api/v1/tables/{id}")))
        .json(&json!({"name": "Feature"}))
        .send()
        .await
        .expect("patch")
        .json()
        .await
        .expect("json");
    assert_eq!(renamed["name"], "Feature");
    let patched: Value = c
        .put(node.api(&format!("/api/v1/tables/{id}/game")))
        .json(&json!({"game": "plo", "stakes": {"small_blind": 2, "big_blind": 5}}))
        .send()
        .await
        .expect("put game")
        .json()
        .await
        .expect("json");
    assert_eq!(patched["game"], "plo");
    assert_eq!(patched["stakes"]["big_blind"], 5);

    let opened: Value = c
        .post(node.api(&format!("/api/v1/tables/{id}/open")))
        .send()
        .await
        .expect("open")
        .json()
        .await
        .expect("json");
    assert_eq!(opened["status"], "open");
    let again = c
        .post(node.api(&format!("/api/v1/tables/{id}/open")))
        .send()
        .await
        .expect("open again");
    assert_eq!(error_of(again).await.0, StatusCode::CONFLICT);
    let closed: Value = c
        .post(node.api(&format!("/api/v1/tables/{id}/close")))
        .send()
        .await
        .expect("close")
        .json()
        .await
        .expect("json");
    assert_eq!(closed["status"], "closed");

    // Every change is one event in the log: create, rename, set game, open, close.
    let events: Vec<Value> = c
        .get(node.api("/api/v1/events"))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    // After the admin's account: create, rename, set game, open, close.
    assert_eq!(
        kinds,
        [
            "staff_user_created",
            "table_created",
            "table_renamed",
            "table_game_set",
            "table_opened",
            "table_closed"
        ]
    );
    // Each records who did it, and password hashes never leave the node through the API.
    let admin_id = events[0]["payload"]["user_id"].as_str().expect("user id");
    assert_eq!(events[1]["actor"], format!("staff:{admin_id}"));
    assert_eq!(events[0]["payload"]["password_hash"], "[redacted]");
    let listed: Vec<Value> = c
        .get(node.api("/api/v1/tables"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Feature");
}

#[tokio::test]
async fn venue_settings_are_replaced_and_read_back() {
    let node = TestNode::start();
    let c = node.client();
    let default: Value = c
        .get(node.api("/api/v1/venue"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(default["timezone"], "UTC");
    let new = json!({"name": "Casino Royale", "timezone": "Europe/London",
        "branding": {"primary": "#AA0000", "accent": "#00aa00", "background": "#000000"}});
    let resp = c
        .put(node.api("/api/v1/venue"))
        .json(&new)
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), StatusCode::OK);
    let back: Value = c
        .get(node.api("/api/v1/venue"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(back["name"], "Casino Royale");
    assert_eq!(back["branding"]["primary"], "#aa0000");
    let css = c
        .get(node.api("/brand.css"))
        .send()
        .await
        .expect("css")
        .text()
        .await
        .expect("text");
    assert!(css.contains("--primary: #aa0000"), "{css}");
    let page = c
        .get(node.api("/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(page.contains("Casino Royale"));
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_loses_nothing() {
    let node = TestNode::start();
    let c = node.client();
    let created: Value = c
        .post(node.api("/api/v1/tables"))
        .json(&table_json("Keep me"))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    let post_raw = |body: &'static str| {
        c.post(node.api("/api/v1/tables"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let (status, code, _) = error_of(post_raw("{\"name\": ").await.expect("send")).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );

    let (status, code, message) = error_of(
        post_raw(r#"{"name": 7, "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}}"#)
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );
    assert!(message.contains("name"), "{message}");

    let (status, _, message) = error_of(
        post_raw(r#"{"name": "X", "game": "nlhe", "stakes": {"small_blind": 5, "big_blind": 2}}"#)
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("big blind"), "{message}");

    let (status, _, _) = error_of(
        post_raw(
            r#"{"name": "X", "game": "blackjack", "stakes": {"small_blind": 1, "big_blind": 2}}"#,
        )
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, _, message) = error_of(post_raw(r#"{"name": "X", "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "colour": "red"}"#).await.expect("send")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("colour"), "{message}");

    let (status, code, _) = error_of(
        c.post(node.api("/api/v1/tables"))
            .body("name=x")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );

    let huge = format!(
        r#"{{"name": "{}", "game": "nlhe", "stakes": {{"small_blind": 1, "big_blind": 2}}}}"#,
        "x".repeat(200_000)
    );
    // Its own connection: the node answers 413 without reading the rest, and closes it.
    let resp = node
        .client()
        .post(node.api("/api/v1/tables"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("send");
    let (status, code, _) = error_of(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );

    let unknown = uuid::Uuid::now_v7();
    let (status, code, message) = error_of(
        c.get(node.api(&format!("/api/v1/tables/{unknown}")))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert!(message.contains(&unknown.to_string()));
    let (status, _, _) = error_of(
        c.post(node.api(&format!("/api/v1/tables/{unknown}/open")))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, code, _) = error_of(
        c.get(node.api("/api/v1/tables/not-a-uuid"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_path")
    );
    let (status, code, _) = error_of(
        c.patch(node.api(&format!("/api/v1/tables/{id}")))
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );
    let (status, code, _) = error_of(
        c.get(node.api("/api/v1/events?limit=0"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    let (status, code, _) = error_of(
        c.get(node.api("/api/v1/events?after=-1"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    let (status, _, _) = error_of(
        c.delete(node.api("/api/v1/tables"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = error_of(
        c.get(node.api("/api/v1/nothing-here"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, code, _) = error_of(c.put(node.api("/api/v1/venue")).json(&json!({"name": "X", "timezone": "Mars/Base", "branding": {"primary": "red", "accent": "#000000", "background": "#000000"}})).send().await.expect("send")).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );

    // Nothing stored was lost or changed, and no rejected request left an event.
    let tables: Vec<Value> = c
        .get(node.api("/api/v1/tables"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0]["name"], "Keep me");
    let events: Vec<Value> = c
        .get(node.api("/api/v1/events"))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    assert_eq!(events.len(), 2, "the admin account and the one table");
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_route() {
    let node = TestNode::start();
    let doc: Value = client()
        .get(node.api("/api/v1/openapi.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/venue",
        "/api/v1/tables",
        "/api/v1/tables/{id}",
        "/api/v1/tables/{id}/open",
        "/api/v1/tables/{id}/close",
        "/api/v1/events",
        "/api/v1/node",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
}

#[tokio::test]
async fn the_api_docs_page_needs_nothing_from_the_internet() {
    let node = TestNode::start();
    let html = client()
        .get(node.api("/api/docs"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("/api/v1/tables/{id}/open"));
    for attr in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "<script",
    ] {
        assert!(
            !html.contains(attr),
            "docs page loads something remote or runs script: {attr}"
        );
    }
}

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let node = TestNode::start();
    let c = node.client();
    assert_eq!(
        c.get(node.api("/health"))
            .send()
            .await
            .expect("health")
            .status(),
        StatusCode::OK
    );
    let ready: Value = c
        .get(node.api("/ready"))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["database"], "ok");
    c.post(node.api("/api/v1/tables"))
        .json(&table_json("T"))
        .send()
        .await
        .expect("post");
    let metrics = c
        .get(node.api("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("pvm_events_appended_total 1"), "{metrics}");
    assert!(metrics.contains(r#"pvm_http_request_duration_seconds_count{method="POST",route="/api/v1/tables",status="201"} 1"#), "{metrics}");
}

#[tokio::test]
async fn the_staff_page_lists_tables_and_its_forms_change_them() {
    let node = TestNode::start();
    let (c, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let resp = c
        .post(node.api("/tables"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("name", "Table 9"),
            ("game", "plo"),
            ("small_blind", "1"),
            ("big_blind", "2"),
            ("seats", "6"),
        ])
        .send()
        .await
        .expect("form");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(node.api("/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("Table 9") && page.contains("1/2 PLO") && page.contains("6 seats"),
        "{page}"
    );
    assert_eq!(csrf_of(&page), csrf);
    // A refused form shows the page again with the reason, and keeps what was there.
    let resp = c
        .post(node.api("/tables"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("name", "table 9"),
            ("game", "nlhe"),
            ("small_blind", "1"),
            ("big_blind", "2"),
            ("seats", "9"),
        ])
        .send()
        .await
        .expect("form");
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let page = resp.text().await.expect("text");
    assert!(page.contains("already a table called"), "{page}");
    assert!(page.contains("Table 9"));
    let resp = c
        .post(node.api("/tables"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("name", "T"),
            ("game", "nlhe"),
            ("small_blind", "two"),
            ("big_blind", "2"),
            ("seats", "9"),
        ])
        .send()
        .await
        .expect("form");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp
        .text()
        .await
        .expect("text")
        .contains("not a whole number"));
}

#[tokio::test]
async fn sigterm_finishes_cleanly_and_checkpoints_the_wal() {
    let mut node = TestNode::start();
    let c = node.client();
    for i in 0..20 {
        c.post(node.api("/api/v1/tables"))
            .json(&table_json(&format!("T{i}")))
            .send()
            .await
            .expect("post");
    }
    let status = node.terminate();
    assert!(status.success(), "exit {status:?}: {}", node.logs());
    assert!(node.logs().contains("stopped cleanly"));
    let wal = node.dir.join("pvm.db-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "WAL not checkpointed");
    let out = common::run(&node.dir, &["verify-log"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("21 events"),
        "admin account and 20 tables"
    );
}

#[tokio::test]
async fn a_form_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let node = TestNode::start();
    let (c, csrf) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let table = [
        ("name", "Forged"),
        ("game", "nlhe"),
        ("small_blind", "1"),
        ("big_blind", "2"),
        ("seats", "9"),
    ];
    let resp = c
        .post(node.api("/tables"))
        .form(&table)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.expect("text").contains("Form expired"));
    let mut wrong = table.to_vec();
    wrong.push(("_csrf", "0000"));
    let resp = c
        .post(node.api("/tables"))
        .form(&wrong)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A page from another site has neither the cookie nor the token.
    let outsider = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = outsider
        .post(node.api("/login"))
        .form(&[("username", ADMIN), ("secret", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let tables: Vec<Value> = client()
        .get(node.api("/api/v1/tables"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(tables.is_empty(), "{tables:?}");
    // With the token the same form works.
    let mut right = table.to_vec();
    right.push(("_csrf", csrf.as_str()));
    assert_eq!(
        c.post(node.api("/tables"))
            .form(&right)
            .send()
            .await
            .expect("post")
            .status(),
        StatusCode::SEE_OTHER
    );
}

const HOSTILE: [&str; 4] = [
    "<script>alert(1)</script>",
    "'; DROP TABLE poker_tables; --",
    "\"><img src=x onerror=alert(1)>",
    "Robert'); DELETE FROM events;--",
];

fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test]
async fn hostile_text_in_every_field_is_stored_verbatim_and_shown_inert() {
    let node = TestNode::start();
    let c = node.client();
    for (i, text) in HOSTILE.iter().enumerate() {
        // Table name.
        let t: Value = c
            .post(node.api("/api/v1/tables"))
            .json(&table_json(text))
            .send()
            .await
            .expect("table")
            .json()
            .await
            .expect("json");
        assert_eq!(t["name"], *text);
        // Venue name.
        let settings = json!({"name": text, "timezone": "UTC", "branding": {"primary": "#000000", "accent": "#000000", "background": "#000000"}});
        let v: Value = c
            .put(node.api("/api/v1/venue"))
            .json(&settings)
            .send()
            .await
            .expect("venue")
            .json()
            .await
            .expect("json");
        assert_eq!(v["name"], *text);
        // Staff display name.
        let u: Value = c.post(node.api("/api/v1/staff"))
            .json(&json!({"username": format!("user{i}"), "display_name": text, "role": "dealer", "password": "long-enough-1"}))
            .send().await.expect("staff").json().await.expect("json");
        assert_eq!(u["display_name"], *text);
        // API key name.
        let k: Value = c
            .post(node.api("/api/v1/api-keys"))
            .json(&json!({"name": text}))
            .send()
            .await
            .expect("key")
            .json()
            .await
            .expect("json");
        assert_eq!(k["name"], *text);
    }
    // Read back verbatim.
    let tables: Vec<Value> = c
        .get(node.api("/api/v1/tables"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = tables.iter().filter_map(|t| t["name"].as_str()).collect();
    for text in HOSTILE {
        assert!(
            names.contains(&text),
            "{text:?} not stored verbatim: {names:?}"
        );
    }
    let staff: Vec<Value> = c
        .get(node.api("/api/v1/staff"))
        .send()
        .await
        .expect("staff")
        .json()
        .await
        .expect("json");
    for text in HOSTILE {
        assert!(staff.iter().any(|u| u["display_name"] == text), "{text:?}");
    }
    let keys: Vec<Value> = c
        .get(node.api("/api/v1/api-keys"))
        .send()
        .await
        .expect("keys")
        .json()
        .await
        .expect("json");
    assert_eq!(keys.len(), HOSTILE.len());
    // Shown escaped on the staff page (the venue name is the last one set).
    let (browser, _) = browser_login(&node.url, ADMIN, ADMIN_PASSWORD).await;
    let page = browser
        .get(node.api("/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    for text in HOSTILE {
        assert!(page.contains(&escaped(text)), "{text:?} not shown escaped");
    }
    assert!(!page.contains("<script>alert"), "raw script in page");
    assert!(!page.contains("<img src=x"), "raw img in page");
    // The database is intact: the log verifies and every table is still listed.
    let out = common::run(&node.dir, &["verify-log"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn the_first_admin_is_made_on_the_setup_page_with_the_code_from_the_console() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = TestNode::start_bare(dir.path()).expect("start");
    let code = node
        .setup_code
        .clone()
        .expect("the node printed a setup code");
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = c.get(node.api("/login")).send().await.expect("login");
    assert_eq!(resp.headers()["location"], "/setup");
    let page = c
        .get(node.api("/setup"))
        .send()
        .await
        .expect("setup")
        .text()
        .await
        .expect("text");
    let csrf = csrf_of(&page);
    let form = |code: &str| {
        vec![
            ("_csrf".to_owned(), csrf.clone()),
            ("code".into(), code.into()),
            ("username".into(), "owner".into()),
            ("display_name".into(), "The Owner".into()),
            ("password".into(), "owner-password".into()),
        ]
    };
    let resp = c
        .post(node.api("/setup"))
        .form(&form("000-000"))
        .send()
        .await
        .expect("wrong code");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp
        .text()
        .await
        .expect("text")
        .contains("setup code is not right"));
    let resp = c
        .post(node.api("/setup"))
        .form(&form(&code))
        .send()
        .await
        .expect("setup");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(node.api("/"))
        .send()
        .await
        .expect("tables")
        .text()
        .await
        .expect("text");
    assert!(page.contains("The Owner · admin"), "{page}");
    // Setup is closed for good now, code or not.
    let resp = c.get(node.api("/setup")).send().await.expect("setup again");
    assert_eq!(resp.headers()["location"], "/login");
    let resp = c
        .post(node.api("/setup"))
        .form(&form(&code))
        .send()
        .await
        .expect("setup again");
    assert_eq!(resp.headers()["location"], "/login");
    let staff: Vec<Value> =
        client_with_token(&common::login(&node.url, "owner", "owner-password").expect("login"))
            .get(node.api("/api/v1/staff"))
            .send()
            .await
            .expect("staff")
            .json()
            .await
            .expect("json");
    assert_eq!(staff.len(), 1);
}
