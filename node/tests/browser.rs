//! The staff UI in a real headless Chromium, driven like staff use it: log
//! in, type, tap. Checks hostile input stays inert and forms need their
//! CSRF token.

mod common;

use common::browser::Browser;
use common::{TestNode, ADMIN, ADMIN_PASSWORD};
use std::path::Path;

const SCRIPTY: &str = "<script>alert(1)</script>";
const SQLY: &str = "Robert'); DROP TABLE poker_tables;--";

async fn add_table(b: &Browser, name: &str) {
    b.type_into("section.new input[name=name]", name).await;
    b.click_and_wait("section.new button[type=submit]").await;
}

fn save_screenshot_dir() -> Option<String> {
    std::env::var("PVM_SCREENSHOT_DIR").ok()
}

#[tokio::test]
async fn a_floor_manager_logs_in_on_a_phone_and_hostile_names_stay_inert() {
    let node = TestNode::start();
    let b = Browser::start(390, 844).await;

    b.goto(&format!("{}/", node.url)).await;
    assert!(
        b.source().await.contains("Log in"),
        "not sent to the login page"
    );
    b.type_into("input[name=username]", ADMIN).await;
    b.type_into("input[name=secret]", ADMIN_PASSWORD).await;
    b.click_and_wait("button[value=password]").await;
    assert!(
        b.title().await.starts_with("Tables"),
        "after login: {}",
        b.title().await
    );

    add_table(&b, "Table 1").await;
    add_table(&b, SCRIPTY).await;
    add_table(&b, SQLY).await;
    let page = b.source().await;
    assert!(page.contains("Table 1"));
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "script-looking name not shown escaped: {page}"
    );
    assert!(
        page.contains("Robert'); DROP TABLE poker_tables;--"),
        "SQL-looking name not shown verbatim"
    );
    assert!(!b.alert_open().await, "an injected script ran");
    assert_eq!(
        b.eval("return document.scripts.length").await,
        0,
        "the page has script elements"
    );
    let names = b
        .eval("return Array.from(document.querySelectorAll('li.table .name')).map(e => e.textContent)")
        .await;
    let names: Vec<&str> = names
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for expected in ["Table 1", SCRIPTY, SQLY] {
        assert!(
            names.contains(&expected),
            "{expected:?} not shown verbatim in {names:?}"
        );
    }

    if let Some(dir) = save_screenshot_dir() {
        b.screenshot(&Path::new(&dir).join("staff-phone.png")).await;
    }

    // A form whose CSRF field is gone is refused, and nothing changes.
    b.eval("document.querySelector('section.new input[name=_csrf]').remove(); return 0")
        .await;
    add_table(&b, "Sneaky").await;
    let refused = b.source().await;
    assert!(
        refused.contains("Form expired"),
        "form without CSRF token was not refused"
    );
    b.goto(&format!("{}/", node.url)).await;
    assert!(!b.source().await.contains("Sneaky"));
    b.quit().await;
}

#[tokio::test]
async fn the_waiting_list_board_counts_a_call_down_and_seats_with_one_tap() {
    let node = TestNode::start();
    let c = node.client();
    let t: serde_json::Value = c
        .post(node.api("/api/v1/tables"))
        .json(&common::table_json("Table 1"))
        .send()
        .await
        .expect("table")
        .json()
        .await
        .expect("json");
    let table = t["id"].as_str().expect("id").to_owned();
    c.post(node.api(&format!("/api/v1/tables/{table}/open")))
        .send()
        .await
        .expect("open");
    c.post(node.api("/api/v1/cash/lists"))
        .json(&serde_json::json!({"game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}}))
        .send()
        .await
        .expect("list");
    let board: serde_json::Value = c
        .get(node.api("/api/v1/cash"))
        .send()
        .await
        .expect("board")
        .json()
        .await
        .expect("json");
    let list = board["lists"][0]["id"].as_str().expect("list").to_owned();
    for name in ["Ann Able", "Bo Baker", "Cy Cole"] {
        c.post(node.api(&format!("/api/v1/cash/lists/{list}/entries")))
            .json(&serde_json::json!({"walk_in": {"name": name}}))
            .send()
            .await
            .expect("join");
    }
    c.post(node.api(&format!("/api/v1/cash/lists/{list}/call-next")))
        .send()
        .await
        .expect("call");

    let b = Browser::start(1280, 900).await;
    b.goto(&format!("{}/login", node.url)).await;
    b.type_into("input[name=username]", ADMIN).await;
    b.type_into("input[name=secret]", ADMIN_PASSWORD).await;
    b.click_and_wait("button[value=password]").await;
    b.goto(&format!("{}/cash", node.url)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let timer = b
        .eval("return document.querySelector('.timer').textContent")
        .await;
    let timer = timer.as_str().unwrap_or_default().to_owned();
    assert!(
        timer.len() == 4 && timer.as_bytes()[1] == b':',
        "call timer not counting down: {timer:?}"
    );
    assert!(
        timer.starts_with("2:5"),
        "a 3-minute call shows 2:5x after a second: {timer:?}"
    );
    if let Some(dir) = save_screenshot_dir() {
        b.screenshot(&Path::new(&dir).join("board.png")).await;
    }
    // One tap: seat the called player at the first open seat offered.
    b.click_and_wait("li.entry.called form.seat button").await;
    let page = b.source().await;
    assert!(
        page.contains("Ann Able") && !page.contains("data-deadline"),
        "Ann should be seated, no call left running"
    );
    let board: serde_json::Value = c
        .get(node.api("/api/v1/cash"))
        .send()
        .await
        .expect("board")
        .json()
        .await
        .expect("json");
    assert_eq!(board["tables"][0]["occupied"][0]["name"], "Ann Able");
    assert_eq!(
        board["lists"][0]["entries"].as_array().map(Vec::len),
        Some(2)
    );
    b.quit().await;
}

#[tokio::test]
async fn the_tournament_clock_counts_down_in_a_real_browser() {
    let node = TestNode::start();
    let c = node.client();
    let t: serde_json::Value = c
        .post(node.api("/api/v1/tournaments"))
        .json(&serde_json::json!({"name": "Friday Turbo", "template": "Turbo", "tables": 2}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = t["id"].as_str().expect("id").to_owned();
    for name in ["Ann Able", "Bo Baker", "Cy Cole", "Di Dunn"] {
        c.post(node.api(&format!("/api/v1/tournaments/{id}/entries")))
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .expect("entry");
    }
    c.post(node.api(&format!("/api/v1/tournaments/{id}/start")))
        .send()
        .await
        .expect("start");

    let b = Browser::start(412, 915).await;
    b.goto(&format!("{}/login", node.url)).await;
    b.type_into("input[name=username]", ADMIN).await;
    b.type_into("input[name=secret]", ADMIN_PASSWORD).await;
    b.click_and_wait("button[value=password]").await;
    b.goto(&format!("{}/tournaments/{id}", node.url)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let time = b
        .eval("return document.querySelector('section.clock .time').textContent")
        .await;
    let time = time.as_str().unwrap_or_default().to_owned();
    assert!(
        time.starts_with("11:5"),
        "a 12-minute level shows 11:5x after a second or so: {time:?}"
    );
    if let Some(dir) = save_screenshot_dir() {
        b.screenshot(&Path::new(&dir).join("clock.png")).await;
    }
    b.quit().await;
    // Paused, the clock still fits a small phone (it once ran off its card).
    c.post(node.api(&format!("/api/v1/tournaments/{id}/pause")))
        .send()
        .await
        .expect("pause");
    let b = Browser::start(360, 780).await;
    b.goto(&format!("{}/login", node.url)).await;
    b.type_into("input[name=username]", ADMIN).await;
    b.type_into("input[name=secret]", ADMIN_PASSWORD).await;
    b.click_and_wait("button[value=password]").await;
    b.goto(&format!("{}/tournaments/{id}", node.url)).await;
    let fits = b
        .eval("var t = document.querySelector('section.clock .time'); return [t.textContent, t.scrollWidth, t.clientWidth, document.documentElement.scrollWidth, window.innerWidth]")
        .await;
    let n = |i: usize| fits[i].as_f64().unwrap_or(f64::MAX);
    assert!(
        fits[0].as_str().is_some_and(|t| t.contains("(paused)")) && n(1) <= n(2) && n(3) <= n(4),
        "the paused clock fits a 360 px phone: [text, its scroll width, its width, page width, window]: {fits}"
    );
    if let Some(dir) = save_screenshot_dir() {
        b.screenshot(&Path::new(&dir).join("clock-paused.png"))
            .await;
    }
    b.quit().await;

    // On a tablet: the seating chart, one card per table, and the structure editor.
    let b = Browser::start(1280, 900).await;
    b.goto(&format!("{}/login", node.url)).await;
    b.type_into("input[name=username]", ADMIN).await;
    b.type_into("input[name=secret]", ADMIN_PASSWORD).await;
    b.click_and_wait("button[value=password]").await;
    b.goto(&format!("{}/tournaments/{id}", node.url)).await;
    let cards = b
        .eval("return document.querySelectorAll('section.seats').length")
        .await;
    assert_eq!(cards, serde_json::json!(2), "a card per table in play");
    let seated = b
        .eval("return document.querySelectorAll('section.seats li').length")
        .await;
    assert_eq!(seated, serde_json::json!(4));
    b.eval("document.querySelector('h2').scrollIntoView(); return 1")
        .await;
    if let Some(dir) = save_screenshot_dir() {
        b.screenshot(&Path::new(&dir).join("seating.png")).await;
    }
    b.goto(&format!("{}/structures/edit?from=Daily", node.url))
        .await;
    let steps = b
        .eval("return document.querySelector('textarea[name=steps]').value.split('\\n')[0]")
        .await;
    assert_eq!(steps, serde_json::json!("100/100 20m"));
    if let Some(dir) = save_screenshot_dir() {
        b.screenshot(&Path::new(&dir).join("structure-editor.png"))
            .await;
    }
    b.quit().await;
}

#[tokio::test]
async fn the_player_directory_and_the_list_rules_fit_a_phone_and_a_desk() {
    let node = TestNode::start();
    for (width, height, shot) in [
        (390, 844, "players-phone.png"),
        (1280, 800, "players-desktop.png"),
    ] {
        let b = Browser::start(width, height).await;
        b.goto(&format!("{}/", node.url)).await;
        b.type_into("input[name=username]", ADMIN).await;
        b.type_into("input[name=secret]", ADMIN_PASSWORD).await;
        b.click_and_wait("button[value=password]").await;
        b.goto(&format!("{}/players", node.url)).await;
        assert!(
            b.title().await.starts_with("Players"),
            "{}",
            b.title().await
        );
        let name = format!("Alexandria Konstantinopoulou-Vanderbilt {width}");
        b.type_into("section.new input[name=name]", &name).await;
        b.type_into("section.new input[name=nickname]", SCRIPTY)
            .await;
        b.type_into("section.new input[name=phone]", "+30 210 555 0100")
            .await;
        b.click_and_wait("section.new button[type=submit]").await;
        let page = b.source().await;
        assert!(
            page.contains(&format!("{name} added to the directory.")),
            "{page}"
        );
        assert!(!b.alert_open().await, "an injected script ran");
        let overflow = b
            .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert_eq!(overflow, 0, "wider than the screen at {width} px");
        if let Some(dir) = save_screenshot_dir() {
            b.screenshot(&Path::new(&dir).join(shot)).await;
        }
        b.goto(&format!("{}/cash/rules", node.url)).await;
        assert!(
            b.title().await.starts_with("List rules"),
            "{}",
            b.title().await
        );
        let overflow = b
            .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert_eq!(
            overflow, 0,
            "the rules are wider than the screen at {width} px"
        );
        if let Some(dir) = save_screenshot_dir() {
            b.screenshot(&Path::new(&dir).join(format!("rules-{shot}")))
                .await;
        }
        // Wide tables scroll inside the page; the page itself never does.
        for path in ["/structures", "/api/docs", "/log", "/settings"] {
            b.goto(&format!("{}{path}", node.url)).await;
            let overflow = b
                .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
                .await;
            assert_eq!(overflow, 0, "{path} is wider than the screen at {width} px");
            if let Some(dir) = save_screenshot_dir() {
                let name = format!("{}-{shot}", path.trim_start_matches('/').replace('/', "-"));
                b.screenshot(&Path::new(&dir).join(name)).await;
            }
        }
        b.quit().await;
    }
}

#[tokio::test]
async fn the_board_does_not_reload_under_an_open_panel_and_does_once_it_is_closed() {
    let node = TestNode::start();
    let c = node.client();
    let t: serde_json::Value = c
        .post(node.api("/api/v1/tables"))
        .json(&common::table_json("Table 1"))
        .send()
        .await
        .expect("table")
        .json()
        .await
        .expect("json");
    let table = t["id"].as_str().expect("id").to_owned();
    c.post(node.api(&format!("/api/v1/tables/{table}/open")))
        .send()
        .await
        .expect("open");
    let player: serde_json::Value = c
        .post(node.api("/api/v1/players"))
        .json(&serde_json::json!({"name": "Maximilian Oppenheimer-Castellanos"}))
        .send()
        .await
        .expect("player")
        .json()
        .await
        .expect("json");
    c.post(node.api("/api/v1/cash/seats"))
        .json(&serde_json::json!({"player_id": player["id"], "table_id": table, "seat": 9}))
        .send()
        .await
        .expect("seat");
    let b = Browser::start(390, 844).await;
    b.goto(&format!("{}/", node.url)).await;
    b.type_into("input[name=username]", ADMIN).await;
    b.type_into("input[name=secret]", ADMIN_PASSWORD).await;
    b.click_and_wait("button[value=password]").await;
    b.goto(&format!("{}/cash", node.url)).await;
    // Every seat's buttons fit on a phone.
    let overflow = b
        .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert_eq!(overflow, 0, "the board is wider than a phone");
    let cut = b
        .eval(
            "var card = document.querySelector('section.seats').getBoundingClientRect();\
             return Array.from(document.querySelectorAll('section.seats button'))\
               .filter(function (x) { var r = x.getBoundingClientRect(); return r.width > 0 && r.right > card.right + 0.5; }).length",
        )
        .await;
    assert_eq!(cut, 0, "a seat button sticks out of its table's card");
    if let Some(dir) = save_screenshot_dir() {
        b.eval("document.querySelector('section.seats').scrollIntoView(); return 0")
            .await;
        b.screenshot(&Path::new(&dir).join("board-seats-phone.png"))
            .await;
    }
    // A mark that a reload would wipe, and the "Seat someone now" panel open.
    b.eval(
        "window.pvmMark = 1; document.querySelector('section.seats details').open = true; return 0",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(24)).await;
    assert_eq!(
        b.eval(
            "return window.pvmMark === 1 && document.querySelector('section.seats details').open"
        )
        .await,
        true,
        "the board reloaded under an open panel"
    );
    b.eval("document.querySelector('section.seats details').open = false; return 0")
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(24)).await;
    assert_eq!(
        b.eval("return window.pvmMark === undefined").await,
        true,
        "the board did not reload once the panel was closed"
    );
    b.quit().await;
}
