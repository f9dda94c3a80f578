//! A night's work through the pages only, in a real headless Chromium at
//! phone size (390 × 844), with two wall TVs at 1920 × 1080: tables opened,
//! a waiting list with a no-show and its undo, a walk-in seated, a
//! tournament with late entries, busts, a balancing move and its undo, a
//! second tournament with each clock screen on its own, and a staff account
//! made and used to log in. After every step it checks what a person sees:
//! the sentence the page answers with, that no page is raw JSON, and that
//! nothing is wider than the phone. `PVM_SCREENSHOT_DIR` keeps a picture of
//! every page and TV on the way.

mod common;

use common::browser::Browser;
use common::{TestNode, ADMIN, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);

/// The phone, the node's address, and where screenshots go.
struct Walk {
    b: Browser,
    url: String,
    shots: Option<String>,
}

impl Walk {
    async fn go(&self, path: &str) {
        self.b.goto(&format!("{}{path}", self.url)).await;
    }

    /// What a person sees now is a page (never raw JSON), no wider than the
    /// phone; kept as `name` when screenshots are asked for.
    async fn looks_right(&self, name: &str) {
        let text = self.b.eval("return document.body.innerText.trim()").await;
        let text = text.as_str().unwrap_or_default();
        assert!(
            !text.starts_with('{') && !text.starts_with('['),
            "{name}: raw JSON on the page: {text:.300}"
        );
        let overflow = self
            .b
            .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert_eq!(overflow, json!(0), "{name}: wider than the screen");
        if let Some(dir) = &self.shots {
            self.b
                .full_screenshot(&Path::new(dir).join(format!("walk-{name}.png")))
                .await;
        }
    }

    /// The sentence the page answered with (`p.notice`), or the error (`p.error`).
    async fn said(&self) -> String {
        let v = self
            .b
            .eval("const n = document.querySelector('.notice') || document.querySelector('p.error'); if (!n) return ''; \
                   const c = n.cloneNode(true); c.querySelectorAll('form').forEach(f => f.remove()); return c.textContent.trim()")
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn type_and_submit(&self, form: &str, fields: &[(&str, &str)]) {
        for (name, value) in fields {
            self.b
                .type_into(&format!("{form} input[name={name}]"), value)
                .await;
        }
        self.b
            .click_and_wait(&format!("{form} button[type=submit]"))
            .await;
    }

    async fn log_in(&self, username: &str, password: &str) {
        self.go("/login").await;
        self.b.type_into("input[name=username]", username).await;
        self.b.type_into("input[name=secret]", password).await;
        self.b.click_and_wait("button[value=password]").await;
    }

    async fn click_form(&self, action: &str) {
        self.b
            .click_and_wait(&format!("form[action='{action}'] button"))
            .await;
    }
}

#[tokio::test]
async fn a_night_of_work_through_the_pages_only() {
    let node = TestNode::start();
    let w = Walk {
        b: Browser::start(390, 844).await,
        url: node.url.clone(),
        shots: std::env::var("PVM_SCREENSHOT_DIR").ok(),
    };

    // Log in and open two tables.
    w.log_in(ADMIN, ADMIN_PASSWORD).await;
    for name in ["Feature", "Table 2"] {
        w.type_and_submit("section.new", &[("name", name)]).await;
    }
    while w
        .b
        .eval("return !!document.querySelector('li.table:not(.open) form[action$=\"/open\"]')")
        .await
        == json!(true)
    {
        w.b.click_and_wait("li.table:not(.open) form[action$=\"/open\"] button")
            .await;
    }
    let h1 =
        w.b.eval("return document.querySelector('h1').textContent")
            .await;
    assert!(
        h1.as_str().unwrap_or_default().contains("2 open of 2"),
        "{h1}"
    );
    w.looks_right("tables").await;

    // A waiting list: three names, Dana called, a no-show, and its undo.
    w.go("/cash").await;
    w.b.click_and_wait("section.new form[action='/cash/lists'] button")
        .await;
    for name in ["Dana Ellis", "Eve Fox", "Finn Gray"] {
        w.type_and_submit("form.join", &[("name", name)]).await;
    }
    assert_eq!(w.said().await, "Finn Gray added to 1/2 NLHE, 3rd.");
    w.b.click_and_wait("li.entry form[action$='/call'] button")
        .await;
    assert_eq!(w.said().await, "Dana Ellis called for 1/2 NLHE.");
    w.b.click("li.entry.called details.confirm > summary.danger")
        .await;
    w.looks_right("board-no-show-asked").await;
    w.b.click_and_wait("li.entry.called form[action$='/no-show'] button")
        .await;
    assert_eq!(
        w.said().await,
        "Dana Ellis marked no-show and taken off the 1/2 NLHE list. Put back undoes it."
    );
    let off =
        w.b.eval("return document.querySelector('ul.off li').textContent")
            .await;
    assert!(
        off.as_str()
            .unwrap_or_default()
            .contains("Dana Ellis · no-show (was 1st)"),
        "{off}"
    );
    w.looks_right("board-no-show").await;
    // The message itself carries the undo.
    w.b.click_and_wait("div.notice form[action$='/restore'] button")
        .await;
    assert_eq!(w.said().await, "Dana Ellis put back at 1st on 1/2 NLHE.");
    let first =
        w.b.eval("return document.querySelector('li.entry .who strong').textContent")
            .await;
    assert_eq!(first, json!("Dana Ellis"));
    assert_eq!(
        w.b.eval("return document.querySelectorAll('ul.off li').length")
            .await,
        json!(0),
        "nothing left to undo"
    );
    // A removal is undone from under the list, where it stays for a while.
    w.b.click("li.entry details.confirm > summary").await;
    w.b.click_and_wait("li.entry form[action$='/remove'] button")
        .await;
    assert_eq!(
        w.said().await,
        "Dana Ellis taken off the 1/2 NLHE list. Put back undoes it."
    );
    w.go("/cash").await;
    assert_eq!(w.said().await, "", "said once");
    w.b.click_and_wait("ul.off form[action$='/restore'] button")
        .await;
    assert_eq!(w.said().await, "Dana Ellis put back at 1st on 1/2 NLHE.");

    // A walk-in seated at once from the Feature table's card.
    w.b.click("section.seats details.move > summary").await;
    w.b.type_into("section.seats input[name=name]", "Walker Wu")
        .await;
    w.b.click_and_wait("section.seats form[action$='/seat'] button")
        .await;
    assert_eq!(w.said().await, "Walker Wu seated at Feature, seat 1.");
    w.looks_right("board").await;

    // The main event: twelve registered before the start, on two tables.
    let main = create_tournament(&w, "Saturday Deepstack", "Deepstack").await;
    for i in 1..=12 {
        w.type_and_submit("form.join", &[("name", &format!("Player {i:02}"))])
            .await;
    }
    assert_eq!(
        w.said().await,
        "Player 12 registered; seats are drawn at the start."
    );
    assert_eq!(
        w.b.eval("return document.querySelectorAll('ol.registered li').length")
            .await,
        json!(12),
        "who is registered, before the start"
    );
    assert_eq!(
        w.b.eval("return !!document.querySelector('input[name=override]')")
            .await,
        json!(false),
        "no late-entry override while registration is open"
    );
    w.looks_right("tournament-registering").await;
    w.b.click_and_wait("form[action$='/start'] button").await;
    // A late entry answers with the seat drawn.
    w.type_and_submit("form.join", &[("name", "Late Larry")])
        .await;
    let late = w.said().await;
    assert!(
        late.starts_with("Late Larry registered: table ") && late.contains(", seat "),
        "{late}"
    );
    w.looks_right("tournament-late-entry").await;

    // Busts at the shorter table until the node asks for a balancing move.
    let mut busts = 0;
    while w
        .b
        .eval("return !!document.querySelector('form[action$=\"/balance\"]')")
        .await
        != json!(true)
    {
        let action = w
            .b
            .eval(
                "const t = [...document.querySelectorAll('div.tablesgrid section.seats')] \
                 .sort((a, b) => a.querySelectorAll('li').length - b.querySelectorAll('li').length)[0]; \
                 return t.querySelector('form[action*=\"/bust-\"]').getAttribute('action');",
            )
            .await;
        let action = action.as_str().expect("a bust button").to_owned();
        w.click_form(&action).await;
        busts += 1;
        assert!(busts <= 4, "no balancing move offered after {busts} busts");
    }
    let balance =
        w.b.eval("return document.querySelector('p.mustmove').textContent")
            .await;
    assert!(
        balance
            .as_str()
            .unwrap_or_default()
            .starts_with("Balance: move "),
        "{balance}"
    );
    w.looks_right("tournament-balance").await;
    w.b.click_and_wait("form[action$='/balance'] button").await;
    let recent =
        w.b.eval("return document.querySelector('ul.plain li').textContent")
            .await;
    assert!(
        recent
            .as_str()
            .unwrap_or_default()
            .contains(" moved to table "),
        "the move is the latest action: {recent}"
    );
    // Undo the move from Recent actions.
    w.b.click_and_wait("ul.plain form[action*='/undo-'] button")
        .await;
    let recent = w
        .b
        .eval("return [...document.querySelectorAll('ul.plain li')].map(l => l.textContent).join(' | ')")
        .await;
    let recent = recent.as_str().unwrap_or_default();
    assert!(
        recent.contains("undone: move")
            && recent.contains(" moved to table ")
            && recent.contains("(undone)"),
        "the undo is listed and the move says it was taken back: {recent}"
    );
    w.looks_right("tournament-undone").await;

    // A satellite beside it, and a TV for each clock.
    let satellite = create_tournament(&w, "Satellite", "Turbo").await;
    for name in ["Sat One", "Sat Two"] {
        w.type_and_submit("form.join", &[("name", name)]).await;
    }
    w.b.click_and_wait("form[action$='/start'] button").await;
    let tv_main = Browser::start(1920, 1080).await;
    let tv_sat = Browser::start(1920, 1080).await;
    for (tv, device) in [(&tv_main, "tv-main"), (&tv_sat, "tv-sat")] {
        tv.goto(&format!("{}/display/{device}", node.url)).await;
        tv.until(
            "return !!document.querySelector('#ident .code') && document.querySelector('#ident .code').textContent.length === 4",
            WITHIN,
            "a new screen shows its code",
        )
        .await;
    }
    for (device, name, tournament) in [
        ("tv-main", "Main clock", &main),
        ("tv-sat", "Satellite clock", &satellite),
    ] {
        w.go("/screens").await;
        let form =
            format!("form[action='/screens/save']:has(input[name=device][value='{device}'])");
        w.b.type_into(&format!("{form} input[name=name]"), name)
            .await;
        w.b.click(&format!("{form} input[name=view][value=clock]"))
            .await;
        w.b.choose(&format!("{form} select[name=tournament]"), tournament)
            .await;
        w.b.click_and_wait(&format!("{form} button[type=submit]"))
            .await;
        assert!(
            w.b.source().await.contains(name),
            "{name} saved on the screens page"
        );
    }
    w.looks_right("screens").await;
    let title_is = |name: &str| {
        format!("return document.getElementById('stage').getAttribute('data-view') === 'clock' && !!document.querySelector('#stage h1.title') && document.querySelector('#stage h1.title').textContent === '{name}'")
    };
    tv_main
        .until(
            &title_is("Saturday Deepstack"),
            WITHIN,
            "the main TV shows the main event",
        )
        .await;
    tv_sat
        .until(
            &title_is("Satellite"),
            WITHIN,
            "the satellite TV shows the satellite",
        )
        .await;
    // Pausing the satellite pauses its screen only, in words.
    w.go(&format!("/tournaments/{satellite}")).await;
    w.b.click_and_wait("form[action$='/pause'] button").await;
    tv_sat
        .until(
            "return !!document.querySelector('#stage p.state') && document.querySelector('#stage p.state').textContent === 'PAUSED'",
            WITHIN,
            "the satellite TV says PAUSED",
        )
        .await;
    // The main event's TV is not paused: no state word, and its clock moves on.
    let main_time = tv_main
        .eval("return document.querySelector('#stage .time').textContent")
        .await;
    tv_main
        .until(
            &format!(
                "return !document.querySelector('#stage p.state') && document.querySelector('#stage .time').textContent !== {main_time}"
            ),
            WITHIN,
            "the main event's clock still runs",
        )
        .await;
    assert_eq!(
        tv_main
            .eval("return document.querySelector('#stage h1.title').textContent")
            .await,
        json!("Saturday Deepstack"),
        "a screen never switches by itself"
    );
    if let Some(dir) = &w.shots {
        tv_main
            .screenshot(&Path::new(dir).join("walk-tv-main.png"))
            .await;
        tv_sat
            .screenshot(&Path::new(dir).join("walk-tv-satellite.png"))
            .await;
    }
    tv_main.quit().await;
    tv_sat.quit().await;

    // A staff account for the floor, used to log in.
    w.go("/staff").await;
    let form = "form[action='/staff']";
    w.b.type_into(&format!("{form} input[name=username]"), "rita")
        .await;
    w.b.type_into(&format!("{form} input[name=display_name]"), "Rita Ruiz")
        .await;
    w.b.choose(&format!("{form} select[name=role]"), "floor")
        .await;
    w.b.type_into(&format!("{form} input[name=password]"), "rita-password-1")
        .await;
    w.b.click_and_wait(&format!("{form} button[type=submit]"))
        .await;
    assert_eq!(w.said().await, "Rita Ruiz (rita) can now log in as Floor.");
    w.looks_right("staff").await;
    // Every page at phone size, and again at a desk.
    let desk = Walk {
        b: Browser::start(1280, 800).await,
        url: node.url.clone(),
        shots: w.shots.clone(),
    };
    desk.log_in(ADMIN, ADMIN_PASSWORD).await;
    let main_panel = format!("/tournaments/{main}");
    let pages = [
        ("/", "tables"),
        ("/cash", "board"),
        ("/cash/rules", "rules"),
        ("/players", "players"),
        ("/tournaments", "tournaments"),
        (main_panel.as_str(), "tournament"),
        ("/structures", "structures"),
        ("/screens", "screens"),
        ("/staff", "staff"),
        ("/keys", "keys"),
        ("/log", "log"),
        ("/settings", "venue"),
        ("/api/docs", "api-docs"),
    ];
    for (path, name) in pages {
        w.go(path).await;
        w.looks_right(&format!("{name}-phone")).await;
        desk.go(path).await;
        desk.looks_right(&format!("{name}-desktop")).await;
    }
    desk.b.quit().await;
    w.go("/").await;
    w.b.click_and_wait("form.logout button").await;
    w.log_in("rita", "rita-password-1").await;
    let title = w.b.title().await;
    assert!(
        title.starts_with("Tables"),
        "Rita lands on the tables: {title}"
    );
    let nav: Value =
        w.b.eval("return [...document.querySelectorAll('nav a')].map(a => a.textContent)")
            .await;
    let nav: Vec<&str> = nav
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(nav.contains(&"Lists"), "{nav:?}");
    assert!(
        !nav.contains(&"Staff"),
        "a floor account has no staff page: {nav:?}"
    );
    w.go("/cash").await;
    w.looks_right("board-as-floor").await;
    w.b.quit().await;
}

/// Creates a tournament on two tables from the tournaments page; answers its id.
async fn create_tournament(w: &Walk, name: &str, template: &str) -> String {
    w.go("/tournaments").await;
    w.b.type_into("section.new input[name=name]", name).await;
    w.b.choose("section.new select[name=template]", template)
        .await;
    w.b.type_into("section.new input[name=tables]", "2").await;
    w.b.click_and_wait("section.new button[type=submit]").await;
    let id = w.b.eval("return location.pathname.split('/')[2]").await;
    let id = id.as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 36, "after creating {name}, on its panel");
    id
}
