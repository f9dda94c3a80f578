//! Wall displays in a real headless Chromium against a real `pvm-node` on
//! loopback: a new screen is named and shows the clock within a second; two
//! screens agree on the time left within 100 ms through run, pause and
//! resume; a killed node shows "reconnecting" within 5 s and the screen
//! recovers by itself when the node is back; an announcement reaches its
//! group only. Screenshots of every view go to `PVM_SCREENSHOT_DIR`.

mod common;

use common::browser::Browser;
use common::TestNode;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn shots() -> Option<String> {
    std::env::var("PVM_SCREENSHOT_DIR").ok()
}

/// The smallest text a TV view may show at 1920 × 1080 (issue 15).
const MIN_TV_TEXT_PX: f64 = 48.0;

/// What of the view a screen cuts off: every element under `#stage` that
/// reaches past the window's edges (class or tag, and its box).
async fn cut_off(b: &Browser) -> Value {
    b.eval(
        "const out = []; for (const e of document.querySelectorAll('#stage *')) { \
           if (!e.getClientRects().length) continue; \
           const r = e.getBoundingClientRect(); \
           if (r.top < -1 || r.left < -1 || r.bottom > innerHeight + 1 || r.right > innerWidth + 1) \
             out.push([e.className || e.tagName, Math.round(r.top), Math.round(r.bottom)]); } \
         return out;",
    )
    .await
}

async fn shot(b: &Browser, name: &str) {
    if let Some(dir) = shots() {
        b.screenshot(&Path::new(&dir).join(name)).await;
    }
}

/// Polls `script` in the browser until it returns true, or fails after `within`.
async fn until(b: &Browser, script: &str, within: Duration, what: &str) -> Duration {
    b.until(script, within, what).await
}

async fn running_tournament(node: &TestNode) -> String {
    let players = [
        "Ann Able", "Bo Baker", "Cy Cole", "Di Dunn", "Ed Eng", "Flo Fox",
    ];
    start_tournament(
        node,
        json!({"name": "Friday Deepstack", "template": "Deepstack", "tables": 2}),
        &players,
    )
    .await
}

/// Creates the tournament `body` describes, enters `players` and starts it.
async fn start_tournament(node: &TestNode, body: Value, players: &[&str]) -> String {
    let c = node.client();
    let resp = c
        .post(node.api("/api/v1/tournaments"))
        .json(&body)
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status().as_u16(), 201, "create {body}");
    let t: Value = resp.json().await.expect("json");
    let id = t["id"].as_str().expect("id").to_owned();
    for name in players {
        c.post(node.api(&format!("/api/v1/tournaments/{id}/entries")))
            .json(&json!({"name": name}))
            .send()
            .await
            .expect("entry");
    }
    c.post(node.api(&format!("/api/v1/tournaments/{id}/start")))
        .send()
        .await
        .expect("start");
    id
}

/// Sends `body` to the node's API; it must answer `want`.
async fn send(node: &TestNode, method: reqwest::Method, path: &str, body: Value, want: u16) {
    let resp = node
        .client()
        .request(method, node.api(path))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        resp.status().as_u16(),
        want,
        "{path}: {}",
        resp.text().await.unwrap_or_default()
    );
}

/// Posts an announcement; it must be accepted (201).
async fn announce(node: &TestNode, body: Value) {
    send(
        node,
        reqwest::Method::POST,
        "/api/v1/announcements",
        body,
        201,
    )
    .await;
}

async fn put_display(node: &TestNode, device: &str, body: Value) {
    let path = format!("/api/v1/displays/{device}");
    send(node, reqwest::Method::PUT, &path, body, 204).await;
}

const SHOWS_CLOCK: &str =
    "return document.getElementById('stage').getAttribute('data-view') === 'clock' \
    && document.getElementById('ident').className === 'hidden' \
    && !!document.querySelector('#stage .time')";

#[tokio::test]
async fn a_new_screen_s_code_fits_a_portrait_screen_and_hides_the_view_behind_it() {
    // A portrait TV or a phone-sized box (390 px wide): the code a new screen
    // shows must be read whole, over nothing of the view beneath it.
    let node = TestNode::start();
    running_tournament(&node).await;
    let tv = Browser::start(390, 844).await;
    tv.goto(&format!("{}/display/hall-portrait", node.url))
        .await;
    until(&tv, "return document.querySelector('#ident .code').textContent.length === 4 && document.getElementById('ident').className !== 'hidden'", Duration::from_secs(5), "the code shows").await;
    shot(&tv, "display-new-portrait.png").await;
    let fit = tv
        .eval(
            "const c = document.querySelector('#ident .code'); \
             const r = document.createRange(); r.selectNodeContents(c); \
             const b = r.getBoundingClientRect(); \
             const bg = getComputedStyle(document.getElementById('ident')).backgroundColor; \
             const alpha = bg.startsWith('rgba') ? parseFloat(bg.split(',')[3]) : 1; \
             const top = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2); \
             return [b.left, b.right, window.innerWidth, alpha, bg, top === c];",
        )
        .await;
    let (left, right, width, alpha) = (
        fit[0].as_f64().unwrap_or(-1.0),
        fit[1].as_f64().unwrap_or(f64::MAX),
        fit[2].as_f64().unwrap_or(0.0),
        fit[3].as_f64().unwrap_or(0.0),
    );
    // A page wider than the screen is zoomed out by a phone's browser: the
    // viewport must stay the screen's own 390 px.
    assert_eq!(width, 390.0, "the page is wider than the screen: {fit}");
    assert!(
        left >= 0.0 && right <= width,
        "the code runs off the screen: {fit}"
    );
    assert_eq!(fit[5], true, "something covers the code: {fit}");
    assert!(
        alpha >= 1.0,
        "the view shows through the code's backdrop: {fit}"
    );

    // An announcement to every screen waits while the code shows: on a
    // phone its bar (half the height, in big type) covered the line
    // that says what to do with the code.
    announce(
        &node,
        json!({"text": "The final table starts at nine in the main room, with the feature table streamed", "minutes": 5}),
    )
    .await;
    until(
        &tv,
        "return document.getElementById('overlay').textContent.startsWith('The final table')",
        Duration::from_secs(5),
        "the page has the announcement",
    )
    .await;
    shot(&tv, "display-new-portrait-announced.png").await;
    let covered = tv
        .eval(
            "const w = document.querySelector('#ident .what'); \
             const b = w.getBoundingClientRect(); \
             const top = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2); \
             return [top === w, getComputedStyle(document.getElementById('overlay')).display];",
        )
        .await;
    assert_eq!(
        covered,
        json!([true, "none"]),
        "the announcement covers the new screen's instructions"
    );
    // Once the screen is named the code goes and the announcement shows.
    put_display(&node, "hall-portrait", json!({"name": "Hall"})).await;
    until(
        &tv,
        "return document.getElementById('ident').className === 'hidden' && getComputedStyle(document.getElementById('overlay')).display !== 'none'",
        Duration::from_secs(5),
        "the announcement shows on the named screen",
    )
    .await;
    shot(&tv, "display-named-portrait-announced.png").await;
    // Sized to the width: this one took half the screen at 5.5vh.
    let share = tv
        .eval("return document.getElementById('overlay').getBoundingClientRect().height / window.innerHeight;")
        .await;
    assert!(
        share.as_f64().is_some_and(|s| s <= 0.25),
        "an 80-character announcement covers {share} of a 390 x 844 screen"
    );
}

#[tokio::test]
async fn the_clock_fits_landscape_and_portrait_screens_at_its_longest() {
    // The most a clock row can hold: a long name, blinds in the tens of
    // thousands with a big-blind ante, a level of over an hour, four facts and
    // six places paid; running, then paused.
    let node = TestNode::start();
    let c = node.client();
    let templates: Value = c
        .get(node.api("/api/v1/tournament-templates"))
        .send()
        .await
        .expect("templates")
        .json()
        .await
        .expect("json");
    let mut structure = templates
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "Deepstack"))
        .cloned()
        .unwrap_or_else(|| panic!("a Deepstack template: {templates}"));
    structure["allow_decreasing_blinds"] = json!(true);
    structure["steps"][0] = json!({"type": "level", "small_blind": 25_000, "big_blind": 50_000,
        "ante": {"kind": "big_blind", "amount": 50_000}, "minutes": 90});
    structure["steps"][1] = json!({"type": "level", "small_blind": 50_000, "big_blind": 100_000,
        "ante": {"kind": "big_blind", "amount": 100_000}, "minutes": 90});
    structure["payouts"] = json!([300, 200, 150, 130, 120, 100]);
    let players = [
        "Ann Able", "Bo Baker", "Cy Cole", "Di Dunn", "Ed Eng", "Flo Fox", "Gus Gale", "Hal Hart",
    ];
    let id = start_tournament(
        &node,
        json!({"name": "Sunday Main Event Day 1A Flight B", "structure": structure, "tables": 2}),
        &players,
    )
    .await;
    let tv = Browser::start(1920, 1080).await;
    let tall = Browser::start(720, 1280).await;
    for (b, device) in [(&tv, "wide-tv"), (&tall, "tall-tv")] {
        put_display(
            &node,
            device,
            json!({"name": device, "playlist": {"views": [{"view": "clock", "tournament": id}]}}),
        )
        .await;
        b.goto(&format!("{}/display/{device}", node.url)).await;
        until(b, "return !!document.querySelector('#stage .time') && document.querySelector('#stage .time').textContent.split(':').length === 3 && document.querySelectorAll('#stage .facts > div').length === 4 && !!document.querySelector('#stage .ante')", Duration::from_secs(5), "the long clock shows").await;
    }
    shot(&tv, "display-clock-long.png").await;
    shot(&tall, "display-clock-long-portrait.png").await;
    assert_eq!(cut_off(&tv).await, json!([]), "the long clock is cut off");
    assert_eq!(
        cut_off(&tall).await,
        json!([]),
        "the long portrait clock is cut off"
    );
    c.post(node.api(&format!("/api/v1/tournaments/{id}/pause")))
        .send()
        .await
        .expect("pause");
    for b in [&tv, &tall] {
        until(
            b,
            "return !!document.querySelector('#stage p.state')",
            Duration::from_secs(2),
            "paused",
        )
        .await;
    }
    shot(&tv, "display-clock-long-paused.png").await;
    shot(&tall, "display-clock-long-portrait-paused.png").await;
    assert_eq!(
        cut_off(&tv).await,
        json!([]),
        "the long paused clock is cut off"
    );
    assert_eq!(
        cut_off(&tall).await,
        json!([]),
        "the long paused portrait clock is cut off"
    );
}

#[tokio::test]
async fn a_new_screen_is_named_shows_the_clock_and_agrees_with_another_through_pause_and_resume() {
    let node = TestNode::start();
    let id = running_tournament(&node).await;
    let tv = Browser::start(1920, 1080).await;
    tv.goto(&format!("{}/display/lobby-tv", node.url)).await;
    // New: it shows its code and appears in the screen manager, online.
    until(&tv, "return document.querySelector('#ident .code').textContent.length === 4 && document.getElementById('ident').className !== 'hidden'", Duration::from_secs(5), "the code shows").await;
    let code = tv
        .eval("return document.querySelector('#ident .code').textContent")
        .await;
    shot(&tv, "display-new.png").await;
    let list: Value = node
        .client()
        .get(node.api("/api/v1/displays"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let mine = list
        .as_array()
        .and_then(|l| l.iter().find(|d| d["id"] == "lobby-tv"))
        .cloned()
        .unwrap_or_else(|| panic!("the new screen is listed: {list}"));
    assert_eq!(mine["online"], true);
    assert_eq!(mine["name"], Value::Null);
    assert_eq!(mine["code"], code);
    // The screen manager page lists it too.
    let (page, _) = common::browser_login(&node.url, common::ADMIN, common::ADMIN_PASSWORD).await;
    let html = page
        .get(node.api("/screens"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains(code.as_str().unwrap_or("????")) && html.contains("online"),
        "{html}"
    );

    // (a) Named and given the clock view: on screen within 1 s.
    let t0 = Instant::now();
    put_display(&node, "lobby-tv", json!({"name": "Lobby TV", "group": "lobby", "playlist": {"views": [{"view": "clock", "tournament": id}]}})).await;
    until(
        &tv,
        SHOWS_CLOCK,
        Duration::from_secs(1),
        "the clock shows after assignment",
    )
    .await;
    eprintln!("assigned to showing: {:?}", t0.elapsed());
    let level = tv
        .eval("return document.querySelector('#stage .level').textContent")
        .await;
    assert_eq!(level, json!("Level 1"));
    let blinds = tv
        .eval("return document.querySelector('#stage .blinds').textContent")
        .await;
    assert_eq!(blinds, json!("100 / 100"));
    shot(&tv, "display-clock.png").await;
    assert_eq!(cut_off(&tv).await, json!([]), "the clock is cut off");

    // (b) A second screen, portrait: both agree on the time left to within 100 ms.
    let bar = Browser::start(720, 1280).await;
    bar.goto(&format!("{}/display/bar-tv", node.url)).await;
    put_display(
        &node,
        "bar-tv",
        json!({"name": "Bar TV", "group": "bar", "playlist": {"views": [{"view": "clock"}]}}),
    )
    .await;
    until(
        &bar,
        SHOWS_CLOCK,
        Duration::from_secs(3),
        "the second screen shows the clock",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // a few pings in
    let agree = |what: &'static str| {
        let (tv, bar) = (&tv, &bar);
        async move {
            let a = tv.eval("return window.pvm.deadline()").await;
            let b = bar.eval("return window.pvm.deadline()").await;
            let (a, b) = (
                a.as_f64().expect("deadline a"),
                b.as_f64().expect("deadline b"),
            );
            assert!(
                (a - b).abs() <= 100.0,
                "{what}: the screens differ by {} ms",
                (a - b).abs()
            );
            let ta = tv
                .eval("return document.querySelector('#stage .time').textContent")
                .await;
            let tb = bar
                .eval("return document.querySelector('#stage .time').textContent")
                .await;
            eprintln!(
                "{what}: {ta} / {tb}, deadlines {:.0} ms apart",
                (a - b).abs()
            );
        }
    };
    agree("running").await;
    shot(&bar, "display-clock-portrait.png").await;
    // A portrait TV shows the whole clock: nothing runs off the bottom.
    assert_eq!(
        cut_off(&bar).await,
        json!([]),
        "the portrait clock is cut off"
    );
    let c = node.client();
    c.post(node.api(&format!("/api/v1/tournaments/{id}/pause")))
        .send()
        .await
        .expect("pause");
    let paused = "return document.querySelector('#stage .time.paused') !== null";
    until(&tv, paused, Duration::from_secs(2), "paused on the first").await;
    until(&bar, paused, Duration::from_secs(2), "paused on the second").await;
    let (a, b) = (
        tv.eval("return window.pvm.timeLeft()").await,
        bar.eval("return window.pvm.timeLeft()").await,
    );
    assert_eq!(a, b, "paused screens show the same time left");
    shot(&bar, "display-clock-portrait-paused.png").await;
    assert_eq!(
        cut_off(&bar).await,
        json!([]),
        "the paused portrait clock is cut off"
    );
    // Paused in words, not only in colour.
    let state = tv
        .eval("var s = document.querySelector('#stage .state'); return s ? s.textContent : null;")
        .await;
    assert_eq!(state, json!("PAUSED"));
    shot(&tv, "display-clock-paused.png").await;
    assert_eq!(cut_off(&tv).await, json!([]), "the paused clock is cut off");
    let shown = tv
        .eval("return document.querySelector('#stage .time').textContent")
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        tv.eval("return document.querySelector('#stage .time').textContent")
            .await,
        shown,
        "a paused clock stands still"
    );
    c.post(node.api(&format!("/api/v1/tournaments/{id}/resume")))
        .send()
        .await
        .expect("resume");
    let running = "return window.pvm.deadline() !== null";
    until(
        &tv,
        running,
        Duration::from_secs(2),
        "running again on the first",
    )
    .await;
    until(
        &bar,
        running,
        Duration::from_secs(2),
        "running again on the second",
    )
    .await;
    agree("resumed").await;

    // (d) An announcement to the bar group shows there only.
    announce(
        &node,
        json!({"text": "Last orders at the bar", "group": "bar", "minutes": 5}),
    )
    .await;
    until(
        &bar,
        "return document.getElementById('overlay').textContent === 'Last orders at the bar'",
        Duration::from_secs(2),
        "the bar shows it",
    )
    .await;
    // On this portrait TV a short announcement stays on one line (at 5.5vh
    // it wrapped to two and covered the places paid).
    assert_eq!(
        bar.eval(
            "const r = document.createRange(); r.selectNodeContents(document.getElementById('overlay')); \
             return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size;"
        )
        .await,
        json!(1),
        "a short announcement wraps on a portrait TV"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        tv.eval("return document.getElementById('overlay').className")
            .await,
        json!("hidden"),
        "the lobby does not"
    );
    shot(&bar, "display-announcement.png").await;

    // Identify flashes the code on that screen.
    let resp = c
        .post(node.api("/api/v1/displays/lobby-tv/identify"))
        .send()
        .await
        .expect("identify");
    assert_eq!(resp.status().as_u16(), 204);
    until(
        &tv,
        "return document.getElementById('ident').className === 'flash' \
            && document.querySelector('#ident .what').textContent === 'Lobby TV'",
        Duration::from_secs(2),
        "identify flashes the code with the screen's name",
    )
    .await;
    shot(&tv, "display-identify.png").await;
    tv.quit().await;
    bar.quit().await;

    // The screen manager as staff see it on a tablet.
    let staff = Browser::start(1280, 1000).await;
    staff.goto(&format!("{}/login", node.url)).await;
    staff.type_into("input[name=username]", common::ADMIN).await;
    staff
        .type_into("input[name=secret]", common::ADMIN_PASSWORD)
        .await;
    staff.click_and_wait("button[value=password]").await;
    staff.goto(&format!("{}/screens", node.url)).await;
    let names = staff
        .eval("return Array.from(document.querySelectorAll('li.table .name')).map(e => e.textContent).join(',')")
        .await;
    assert_eq!(names, json!("Bar TV,Lobby TV"));
    assert!(
        staff.source().await.contains("/display"),
        "the display address is shown"
    );
    shot(&staff, "screen-manager.png").await;
    staff.quit().await;
}

#[tokio::test]
async fn the_other_views_render_and_rotate() {
    let node = TestNode::start();
    let id = running_tournament(&node).await;
    let c = node.client();
    let uploaded: Value = c
        .post(node.api("/api/v1/media"))
        .body(common::GREEN_PNG.to_vec())
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    c.put(node.api("/api/v1/display-logo"))
        .json(&json!({"image": uploaded["name"]}))
        .send()
        .await
        .expect("logo");
    c.post(node.api("/api/v1/slides"))
        .json(&json!({"title": "Sunday Deepstack", "body": "Noon start · 50,000 chips · 300 buy-in", "image": uploaded["name"]}))
        .send()
        .await
        .expect("slide");
    // A waiting list with two players, the first called, and a table dealing its game.
    c.post(node.api("/api/v1/cash/lists"))
        .json(&json!({"game": "plo", "stakes": {"small_blind": 2, "big_blind": 5}}))
        .send()
        .await
        .expect("list");
    let board: Value = c
        .get(node.api("/api/v1/cash"))
        .send()
        .await
        .expect("board")
        .json()
        .await
        .expect("json");
    let list = board["lists"][0]["id"]
        .as_str()
        .expect("list id")
        .to_owned();
    for name in ["Zoe Quinn", "Yann Park"] {
        let r = c
            .post(node.api(&format!("/api/v1/cash/lists/{list}/entries")))
            .json(&json!({"walk_in": {"name": name}}))
            .send()
            .await
            .expect("join");
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
    }
    let table: Value = c
        .post(node.api("/api/v1/tables"))
        .json(&json!({"name": "PLO 1", "game": "plo", "stakes": {"small_blind": 2, "big_blind": 5}, "seats": 6}))
        .send()
        .await
        .expect("table")
        .json()
        .await
        .expect("json");
    let table = table["id"].as_str().expect("table id").to_owned();
    c.post(node.api(&format!("/api/v1/tables/{table}/open")))
        .send()
        .await
        .expect("open");
    let called = c
        .post(node.api(&format!("/api/v1/cash/lists/{list}/call-next")))
        .send()
        .await
        .expect("call");
    assert!(
        called.status().is_success(),
        "{}",
        called.text().await.unwrap_or_default()
    );
    // A second event beside the running one, not started yet.
    let satellite = node
        .client()
        .post(node.api("/api/v1/tournaments"))
        .json(&json!({"name": "Saturday Satellite", "template": "turbo", "tables": 1}))
        .send()
        .await
        .expect("satellite");
    assert!(satellite.status().is_success());
    let tv = Browser::start(1920, 1080).await;
    tv.goto(&format!("{}/display/wall-1", node.url)).await;
    for (view, check, file) in [
        (
            json!({"view": "clock", "tournament": id}),
            "return !!document.querySelector('#stage h1.title') && document.querySelector('#stage h1.title').textContent === 'Friday Deepstack'",
            "display-clock.png",
        ),
        (
            json!({"view": "tournaments"}),
            "var cards = document.querySelectorAll('#stage .overview .event');                 return cards.length === 2                 && cards[0].querySelector('h2').textContent === 'Friday Deepstack'                 && cards[0].querySelector('.level').textContent === 'Level 1'                 && /^[0-9]+:[0-9][0-9]$/.test(cards[0].querySelector('.time').textContent)                 && cards[1].querySelector('h2').textContent === 'Saturday Satellite'                 && cards[1].querySelector('.level').textContent === 'Starts soon'",
            "display-tournaments.png",
        ),
        (
            json!({"view": "seat_draw", "tournament": id}),
            "return document.querySelectorAll('#stage .seats div').length === 6",
            "display-seat-draw.png",
        ),
        (
            json!({"view": "waiting_lists"}),
            "var col = document.querySelector('#stage .lists .col'); return !!col && col.querySelector('h2').textContent === '2/5 PLO' && col.textContent.indexOf('1 table · 6 open seats') >= 0 && col.querySelector('li.called').textContent === 'Zoe Q.called' && col.querySelectorAll('li').length === 2",
            "display-lists.png",
        ),
        (
            json!({"view": "table_status"}),
            "return document.querySelector('#stage h1').textContent === 'Tables'",
            "display-tables.png",
        ),
        (
            json!({"view": "slides"}),
            "return document.querySelector('#stage .slide h2').textContent === 'Sunday Deepstack' \
                && document.querySelector('#stage .slide img').naturalWidth === 48 \
                && document.querySelector('#stage img.logo').naturalWidth === 48",
            "display-slide.png",
        ),
    ] {
        put_display(
            &node,
            "wall-1",
            json!({"name": "Wall", "playlist": {"views": [view]}}),
        )
        .await;
        until(&tv, check, Duration::from_secs(2), file).await;
        shot(&tv, file).await;
        // Readable from across the room: no text smaller than ~48 px at 1080p.
        let smallest = tv
            .eval(
                "let best = null; for (const e of document.querySelectorAll('#stage *, #ident, #status')) { \
                   if (!e.getClientRects().length) continue; \
                   const own = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent.trim()).join(''); \
                   if (!own) continue; \
                   const px = parseFloat(getComputedStyle(e).fontSize); \
                   if (!best || px < best[0]) best = [px, own.slice(0, 40)]; } \
                 return best;",
            )
            .await;
        let px = smallest[0].as_f64().unwrap_or(0.0);
        assert!(
            px >= MIN_TV_TEXT_PX,
            "{file}: text at {px} px, under {MIN_TV_TEXT_PX}: {smallest}"
        );
    }
    // A rotation of two views every 5 s.
    put_display(&node, "wall-1", json!({"name": "Wall", "playlist": {"views": [{"view": "clock"}, {"view": "slides"}], "rotate_secs": 5}})).await;
    until(
        &tv,
        "return document.getElementById('stage').getAttribute('data-view') === 'clock'",
        Duration::from_secs(2),
        "rotation starts on the clock",
    )
    .await;
    until(
        &tv,
        "return document.getElementById('stage').getAttribute('data-view') === 'slides'",
        Duration::from_secs(7),
        "then the slides",
    )
    .await;
    // The high-contrast theme reaches the screen.
    c.put(node.api("/api/v1/display-theme"))
        .json(&json!({"theme": "contrast"}))
        .send()
        .await
        .expect("theme");
    until(
        &tv,
        "return document.body.className === 'theme-contrast'",
        Duration::from_secs(2),
        "the theme",
    )
    .await;
    tv.quit().await;
}

#[tokio::test]
async fn a_killed_node_shows_reconnecting_within_5_s_and_the_screen_recovers_without_a_reload() {
    let mut node = TestNode::start();
    running_tournament(&node).await;
    let tv = Browser::start(1280, 720).await;
    tv.goto(&format!("{}/display/door-tv", node.url)).await;
    put_display(
        &node,
        "door-tv",
        json!({"name": "Door", "playlist": {"views": [{"view": "clock"}]}}),
    )
    .await;
    until(&tv, SHOWS_CLOCK, Duration::from_secs(3), "the clock shows").await;
    until(
        &tv,
        "return document.body.getAttribute('data-connected') === 'yes'",
        Duration::from_secs(3),
        "connected",
    )
    .await;
    tv.eval("window.pvmMarker = 42; return 1").await;
    node.kill();
    let took = until(
        &tv,
        "return document.getElementById('status').className !== 'hidden'",
        Duration::from_secs(5),
        "the reconnecting mark",
    )
    .await;
    eprintln!("reconnecting mark after {took:?}");
    shot(&tv, "display-reconnecting.png").await;
    let node = node.restart().unwrap_or_else(|e| panic!("{e}"));
    let took = until(&tv, "return document.body.getAttribute('data-connected') === 'yes' && document.getElementById('status').className === 'hidden'", Duration::from_secs(15), "recovered").await;
    eprintln!("recovered {took:?} after the restart");
    assert_eq!(
        tv.eval("return window.pvmMarker").await,
        json!(42),
        "no reload"
    );
    until(&tv, SHOWS_CLOCK, Duration::from_secs(2), "the clock again").await;
    drop(node);
    tv.quit().await;
}

/// Two clock screens on two tournaments, chosen on the screen manager page:
/// starting a second event does not take over the screen showing the first,
/// and a screen left on "the running tournament" follows the newest one.
/// A tournament that does not exist is refused with the field named.
#[tokio::test]
async fn two_clock_screens_follow_the_tournaments_the_screen_manager_chose() {
    let node = TestNode::start();
    let main = running_tournament(&node).await;
    let (staff, csrf) =
        common::browser_login(&node.url, common::ADMIN, common::ADMIN_PASSWORD).await;
    let main_tv = Browser::start(1920, 1080).await;
    main_tv.goto(&format!("{}/display/main-tv", node.url)).await;
    let running_tv = Browser::start(1920, 1080).await;
    running_tv
        .goto(&format!("{}/display/running-tv", node.url))
        .await;
    for tv in ["main-tv", "running-tv"] {
        let mut seen = false;
        for _ in 0..100 {
            let list: Value = node
                .client()
                .get(node.api("/api/v1/displays"))
                .send()
                .await
                .expect("displays")
                .json()
                .await
                .expect("json");
            if list.to_string().contains(tv) {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen, "{tv} appears in the screen manager");
    }
    let save = |device: &'static str, tournament: String| {
        let staff = staff.clone();
        let csrf = csrf.clone();
        let url = format!("{}/screens/save", node.url);
        async move {
            staff
                .post(url)
                .form(&[
                    ("_csrf", csrf.as_str()),
                    ("device", device),
                    ("name", device),
                    ("group", ""),
                    ("view", "clock"),
                    ("tournament", tournament.as_str()),
                    ("rotate", "20"),
                ])
                .send()
                .await
                .expect("save")
        }
    };
    assert_eq!(save("main-tv", main.clone()).await.status().as_u16(), 303);
    assert_eq!(
        save("running-tv", String::new()).await.status().as_u16(),
        303
    );
    let bad = save("main-tv", uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(bad.status().as_u16(), 422);
    assert!(bad
        .text()
        .await
        .unwrap_or_default()
        .contains("tournament: no tournament"));
    let title = |name: &str| {
        format!("return document.getElementById('stage').getAttribute('data-view') === 'clock' && !!document.querySelector('#stage h1.title') && document.querySelector('#stage h1.title').textContent === '{name}'")
    };
    until(
        &main_tv,
        &title("Friday Deepstack"),
        Duration::from_secs(5),
        "the main TV shows its tournament",
    )
    .await;
    until(
        &running_tv,
        &title("Friday Deepstack"),
        Duration::from_secs(5),
        "the other TV shows the running one",
    )
    .await;

    // A satellite starts: the TV left on "the running tournament" follows it,
    // the one chosen for the main event stays.
    let c = node.client();
    let sat: Value = c
        .post(node.api("/api/v1/tournaments"))
        .json(&json!({"name": "Satellite", "template": "Turbo", "tables": 1}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let sat = sat["id"].as_str().expect("id").to_owned();
    for name in ["Gus Gray", "Hal Hunt"] {
        c.post(node.api(&format!("/api/v1/tournaments/{sat}/entries")))
            .json(&json!({"name": name}))
            .send()
            .await
            .expect("entry");
    }
    let started = c
        .post(node.api(&format!("/api/v1/tournaments/{sat}/start")))
        .send()
        .await
        .expect("start");
    assert!(
        started.status().is_success(),
        "{}",
        started.text().await.unwrap_or_default()
    );
    until(
        &running_tv,
        &title("Satellite"),
        Duration::from_secs(5),
        "the running-tournament TV follows the satellite",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    until(
        &main_tv,
        &title("Friday Deepstack"),
        Duration::from_secs(1),
        "the main TV still shows the main event",
    )
    .await;
    shot(&main_tv, "display-clock-chosen.png").await;
    shot(&running_tv, "display-clock-running.png").await;
    let page = staff
        .get(format!("{}/screens", node.url))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("the running tournament")
            && page.contains(&format!("value=\"{main}\" selected")),
        "the form shows the choice"
    );
    main_tv.quit().await;
    running_tv.quit().await;
}

/// Records, in the page, when the text of the first element matching `css`
/// changes (Date.now() and the new text).
const RECORD_TURNS: &str = "var css = arguments[0]; window.__turns = []; var last = null; \
    setInterval(function () { var e = document.querySelector(css); var t = e ? e.textContent : null; \
    if (t !== last) { last = t; window.__turns.push([Date.now(), t]); } }, 5); return 1";

/// The staff panel's tournament clock turns over to each new second when
/// the TVs do (they were about 660 ms apart: the panel took the server's
/// time when its script ran, not when the page arrived, and redrew once a
/// second at whatever phase it started).
#[tokio::test]
async fn the_staff_panel_clock_turns_over_with_the_tvs() {
    let node = TestNode::start();
    let id = running_tournament(&node).await;
    let tv = Browser::start(1920, 1080).await;
    tv.goto(&format!("{}/display/lobby-tv", node.url)).await;
    put_display(&node, "lobby-tv", json!({"name": "Lobby TV", "group": "lobby", "playlist": {"views": [{"view": "clock", "tournament": id}]}})).await;
    until(
        &tv,
        SHOWS_CLOCK,
        Duration::from_secs(5),
        "the TV shows the clock",
    )
    .await;
    let panel = Browser::start(412, 915).await;
    panel.goto(&format!("{}/login", node.url)).await;
    panel.type_into("input[name=username]", common::ADMIN).await;
    panel
        .type_into("input[name=secret]", common::ADMIN_PASSWORD)
        .await;
    panel.click_and_wait("button[value=password]").await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // the TV's clock pings settle
    let record = |css: &'static str| RECORD_TURNS.replace("arguments[0]", &format!("'{css}'"));
    let turns = |v: Value| -> Vec<(f64, String)> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| Some((t[0].as_f64()?, t[1].as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Three loads of the page: each starts its redraws at another moment.
    let mut apart = Vec::new();
    for load in 0..3 {
        panel.goto(&format!("{}/tournaments/{id}", node.url)).await;
        tv.eval(&record("#stage .time")).await;
        panel.eval(&record("section.clock .time")).await;
        tokio::time::sleep(Duration::from_millis(3300)).await;
        let on_tv = turns(tv.eval("return window.__turns").await);
        let on_panel = turns(panel.eval("return window.__turns").await);
        // The first entry of each is what showed when recording began, not a turn.
        let mut this = Vec::new();
        for (at, text) in on_panel.iter().skip(1) {
            if let Some((tv_at, _)) = on_tv.iter().skip(1).find(|(_, t)| t == text) {
                this.push(at - tv_at);
            }
        }
        eprintln!("load {load}: panel minus TV at each new second (ms): {this:?}");
        assert!(
            this.len() >= 2,
            "the same seconds turn over on both: TV {on_tv:?}, panel {on_panel:?}"
        );
        apart.extend(this);
    }
    let worst = apart.iter().fold(0.0f64, |w, d| w.max(d.abs()));
    assert!(
        worst <= 200.0,
        "the panel turns over {worst:.0} ms from the TV (each: {apart:?})"
    );
    tv.quit().await;
    panel.quit().await;
}
