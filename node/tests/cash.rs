//! Cash games end to end: a busy evening through the real HTTP API, the call
//! timer with an injected clock across a restart, refusals that change
//! nothing, and the log replayed from empty into identical read tables.

mod common;

use common::inprocess::{body_of_login, token_of, Venue};
use common::TestNode;
use pvm_node::store::writer::TimeSource;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Room<'a> {
    node: &'a TestNode,
    c: reqwest::Client,
}

impl Room<'_> {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.c.request(m, self.node.api(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.send(method, path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    async fn board(&self) -> Value {
        self.ok("GET", "/api/v1/cash", None).await
    }

    async fn table(
        &self,
        name: &str,
        game: &str,
        sb: u32,
        bb: u32,
        seats: u8,
        open: bool,
    ) -> String {
        let t = self
            .ok("POST", "/api/v1/tables", Some(json!({"name": name, "game": game, "stakes": {"small_blind": sb, "big_blind": bb}, "seats": seats})))
            .await;
        let id = t["id"].as_str().expect("id").to_owned();
        if open {
            self.ok("POST", &format!("/api/v1/tables/{id}/open"), None)
                .await;
        }
        id
    }

    async fn list(&self, game: &str, sb: u32, bb: u32) -> String {
        self.ok(
            "POST",
            "/api/v1/cash/lists",
            Some(json!({"game": game, "stakes": {"small_blind": sb, "big_blind": bb}})),
        )
        .await;
        let board = self.board().await;
        board["lists"]
            .as_array()
            .and_then(|ls| {
                ls.iter()
                    .find(|l| l["game"] == game && l["stakes"]["big_blind"] == bb)
            })
            .and_then(|l| l["id"].as_str())
            .expect("list")
            .to_owned()
    }

    async fn join(&self, list: &str, player: &str) {
        self.ok(
            "POST",
            &format!("/api/v1/cash/lists/{list}/entries"),
            Some(json!({"player_id": player})),
        )
        .await;
    }

    /// Calls the next player on `list` and seats them; returns their name.
    async fn call_and_seat(&self, list: &str, table: &str, seat: u8) -> String {
        self.ok(
            "POST",
            &format!("/api/v1/cash/lists/{list}/call-next"),
            None,
        )
        .await;
        let (entry, name) = self.called(list).await;
        self.ok(
            "POST",
            &format!("/api/v1/cash/entries/{entry}/seat"),
            Some(json!({"table_id": table, "seat": seat})),
        )
        .await;
        name
    }

    /// The first called entry on a list: (entry id, name).
    async fn called(&self, list: &str) -> (String, String) {
        let board = self.board().await;
        let l = list_of(&board, list);
        let e = l["entries"]
            .as_array()
            .and_then(|es| es.iter().find(|e| !e["call"].is_null()))
            .expect("a called entry")
            .clone();
        (
            e["id"].as_str().expect("id").to_owned(),
            e["name"].as_str().expect("name").to_owned(),
        )
    }
}

fn list_of<'a>(board: &'a Value, id: &str) -> &'a Value {
    board["lists"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["id"] == id))
        .expect("list on board")
}

fn names(list: &Value) -> Vec<String> {
    list["entries"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn seated(board: &Value, table: &str) -> Vec<(u64, String)> {
    board["tables"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == table))
        .and_then(|t| t["occupied"].as_array())
        .map(|ss| {
            ss.iter()
                .map(|s| {
                    (
                        s["seat"].as_u64().unwrap_or(0),
                        s["name"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_busy_evening_of_three_games_ends_as_expected_and_replays_identically() {
    let mut node = TestNode::start();
    let room = Room {
        node: &node,
        c: node.client(),
    };
    let t1 = room.table("T1", "nlhe", 1, 2, 9, true).await;
    let t2 = room.table("T2", "nlhe", 1, 2, 9, true).await;
    let t3 = room.table("T3", "plo", 2, 5, 6, true).await;
    let _t4 = room.table("T4", "mixed", 4, 8, 8, false).await;
    let nlhe = room.list("nlhe", 1, 2).await;
    let plo = room.list("plo", 2, 5).await;
    let mixed = room.list("mixed", 4, 8).await;

    let mut players = Vec::new();
    for i in 1..=40 {
        let p = room
            .ok(
                "POST",
                "/api/v1/players",
                Some(json!({"name": format!("Player {i:02}"), "nickname": null})),
            )
            .await;
        players.push(p["id"].as_str().expect("id").to_owned());
    }
    let p = |i: usize| players[i - 1].clone();
    for i in 1..=20 {
        room.join(&nlhe, &p(i)).await;
    }
    for i in 21..=30 {
        room.join(&plo, &p(i)).await;
    }
    for i in 31..=37 {
        room.join(&mixed, &p(i)).await;
    }
    // Some want two games.
    room.join(&plo, &p(5)).await;
    room.join(&plo, &p(6)).await;
    room.join(&nlhe, &p(22)).await;
    // A walk-in by name.
    room.ok(
        "POST",
        &format!("/api/v1/cash/lists/{nlhe}/entries"),
        Some(json!({"walk_in": {"name": "Walk In"}})),
    )
    .await;

    // Player 01 is called and does not come: dropped (the default policy).
    room.ok(
        "POST",
        &format!("/api/v1/cash/lists/{nlhe}/call-next"),
        None,
    )
    .await;
    let (entry, name) = room.called(&nlhe).await;
    assert_eq!(name, "Player 01");
    room.ok(
        "POST",
        &format!("/api/v1/cash/entries/{entry}/no-show"),
        None,
    )
    .await;

    // Fill T1 (9 seats) and four seats of T2 from the NLHE list.
    let mut t1_names = Vec::new();
    for seat in 1..=9 {
        t1_names.push(room.call_and_seat(&nlhe, &t1, seat).await);
    }
    for seat in 1..=4 {
        room.call_and_seat(&nlhe, &t2, seat).await;
    }
    assert_eq!(
        t1_names[..5],
        [
            "Player 02",
            "Player 03",
            "Player 04",
            "Player 05",
            "Player 06"
        ]
    );
    // Fill T3 from the PLO list: 5 and 6 are seated at NLHE now, so they left it.
    let mut t3_names = Vec::new();
    for seat in 1..=6 {
        t3_names.push(room.call_and_seat(&plo, &t3, seat).await);
    }
    assert_eq!(
        t3_names,
        [
            "Player 21",
            "Player 22",
            "Player 23",
            "Player 24",
            "Player 25",
            "Player 26"
        ]
    );

    // Seat 3 at T1 leaves; T2 seat 1 takes it (a table change); the leaver's seat never holds two.
    room.ok(
        "POST",
        &format!("/api/v1/cash/tables/{t1}/seats/3/leave"),
        None,
    )
    .await;
    room.ok(
        "POST",
        &format!("/api/v1/cash/tables/{t2}/seats/1/move"),
        Some(json!({"to_table": t1, "to_seat": 3})),
    )
    .await;
    // Seat 2 at T1 steps away.
    room.ok(
        "POST",
        &format!("/api/v1/cash/tables/{t1}/seats/2/away"),
        None,
    )
    .await;

    // Two leave the NLHE list; the last one is moved to the top, with a reason.
    let board = room.board().await;
    let entries = list_of(&board, &nlhe)["entries"]
        .as_array()
        .expect("entries")
        .clone();
    for e in &entries[..2] {
        room.ok(
            "DELETE",
            &format!("/api/v1/cash/entries/{}", e["id"].as_str().expect("id")),
            None,
        )
        .await;
    }
    let last = entries.last().expect("last")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    room.ok(
        "POST",
        &format!("/api/v1/cash/entries/{last}/move"),
        Some(json!({"position": 1, "reason": "seat change from T3 promised"})),
    )
    .await;

    let board = room.board().await;
    // NLHE: 20 joined + 22 + walk-in = 22; 1 no-show, 13 seated, 2 removed → 6 left, Walk In moved first.
    assert_eq!(
        names(list_of(&board, &nlhe)),
        [
            "Walk In",
            "Player 17",
            "Player 18",
            "Player 19",
            "Player 20"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()[..],
        "{}",
        list_of(&board, &nlhe)
    );
    assert_eq!(
        names(list_of(&board, &plo)),
        ["Player 27", "Player 28", "Player 29", "Player 30"]
    );
    let m = list_of(&board, &mixed);
    assert_eq!(m["interest_only"], true);
    assert_eq!(m["enough_for_new_table"], true, "7 waiting for mixed");
    assert_eq!(seated(&board, &t1).len(), 9);
    assert_eq!(seated(&board, &t2).len(), 3);
    assert_eq!(seated(&board, &t3).len(), 6);
    assert_eq!(
        seated(&board, &t1)[2],
        (
            3,
            t1_names
                .get(9)
                .cloned()
                .unwrap_or_else(|| "Player 11".into())
        )
    );
    assert_eq!(board["away"].as_array().map(Vec::len), Some(1));
    // Public screens see no full names.
    let public: Value = common::client()
        .get(node.api("/api/v1/public/lists"))
        .send()
        .await
        .expect("public")
        .json()
        .await
        .expect("json");
    assert!(
        public.to_string().contains("Player 1."),
        "first name + initial: {public}"
    );

    // Replaying the log from empty gives identical read tables.
    assert!(node.terminate().success());
    let (a, b) = common::dump_and_replay(&node.dir.join("pvm.db")).await;
    assert!(a.lines().count() > 50, "the dump holds the evening");
    assert_eq!(a, b, "read tables differ after replay");
}

#[tokio::test]
async fn refused_seatings_and_calls_say_why_and_change_nothing() {
    let node = TestNode::start();
    let room = Room {
        node: &node,
        c: node.client(),
    };
    let t1 = room.table("T1", "nlhe", 1, 2, 9, true).await;
    let closed = room.table("T9", "nlhe", 1, 2, 9, false).await;
    let nlhe = room.list("nlhe", 1, 2).await;
    let a = room
        .ok("POST", "/api/v1/players", Some(json!({"name": "Ann Able"})))
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b = room
        .ok("POST", "/api/v1/players", Some(json!({"name": "Bo Baker"})))
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    room.ok(
        "POST",
        "/api/v1/cash/seats",
        Some(json!({"player_id": a, "table_id": t1, "seat": 4})),
    )
    .await;
    let before = room.board().await;

    let (status, body) = room
        .send(
            "POST",
            &format!("/api/v1/cash/lists/{nlhe}/call-next"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"]["message"],
        "the list is empty: no one to call"
    );
    let (status, body) = room
        .send(
            "POST",
            "/api/v1/cash/seats",
            Some(json!({"player_id": b, "table_id": t1, "seat": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["message"], "T1 seat 4 is taken by Ann Able");
    let (status, body) = room
        .send(
            "POST",
            "/api/v1/cash/seats",
            Some(json!({"player_id": b, "table_id": closed, "seat": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["message"], "table T9 is closed");
    let (status, _) = room
        .send(
            "POST",
            "/api/v1/cash/seats",
            Some(json!({"player_id": b, "table_id": t1, "seat": 10})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = room
        .send(
            "POST",
            "/api/v1/cash/seats",
            Some(json!({"player_id": a, "table_id": t1, "seat": 5})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "one player, two seats: {body}"
    );
    let (status, _) = room
        .send(
            "POST",
            &format!("/api/v1/cash/entries/{}/seat", uuid::Uuid::now_v7()),
            Some(json!({"table_id": t1, "seat": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = room
        .send("POST", &format!("/api/v1/tables/{t1}/close"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "closing a table with a player in it: {body}"
    );

    let mut after = room.board().await;
    after["now_ms"] = before["now_ms"].clone();
    assert_eq!(before, after, "a refused action changed something");
}

#[tokio::test]
async fn a_call_that_runs_out_applies_the_no_show_policy_exactly_once_even_across_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let t = Some(boss.as_str());
    let (status, body) = v.request("PUT", "/api/v1/cash/policy", t,
        Some(json!({"call_timeout_secs": 120, "no_show": {"action": "move_down", "places": 1}, "seat_removes_other_lists": true, "new_table_at": 6}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    v.request(
        "POST",
        "/api/v1/cash/lists",
        t,
        Some(json!({"game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}})),
    )
    .await;
    let (_, board) = v.request("GET", "/api/v1/cash", t, None).await;
    let list = board["lists"][0]["id"].as_str().expect("list").to_owned();
    for name in ["Ann Able", "Bo Baker", "Cy Cole"] {
        let (status, body) = v
            .request(
                "POST",
                &format!("/api/v1/cash/lists/{list}/entries"),
                t,
                Some(json!({"walk_in": {"name": name}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = v
        .request(
            "POST",
            &format!("/api/v1/cash/lists/{list}/call-next"),
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    v.clock.advance_secs(119);
    assert_eq!(
        pvm_node::ops::cash::expire_due(&v.node.state.log, v.clock.now_ms()).await,
        0,
        "not yet"
    );

    // The node restarts in the middle of the timer.
    let clock = v.clock.clone();
    v.node.close().await;
    let v = Venue::open(dir.path(), clock).await;
    v.clock.advance_secs(2);
    let now = v.clock.now_ms();
    let (first, second) = tokio::join!(
        pvm_node::ops::cash::expire_due(&v.node.state.log, now),
        pvm_node::ops::cash::expire_due(&v.node.state.log, now)
    );
    assert_eq!(
        first + second,
        1,
        "applied once between two concurrent passes"
    );
    assert_eq!(
        pvm_node::ops::cash::expire_due(&v.node.state.log, now + 1000).await,
        0,
        "and never again"
    );

    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (_, events) = v
        .request("GET", "/api/v1/events?limit=1000", Some(&boss), None)
        .await;
    let no_shows: Vec<&Value> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "player_no_show")
        .collect();
    assert_eq!(no_shows.len(), 1);
    assert_eq!(no_shows[0]["payload"]["timed_out"], true);
    assert_eq!(no_shows[0]["actor"], "system");
    // Moved down one place, and no longer called.
    let (_, board) = v.request("GET", "/api/v1/cash", Some(&boss), None).await;
    let names: Vec<&str> = board["lists"][0]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["Bo Baker", "Ann Able", "Cy Cole"]);
    assert!(board["lists"][0]["entries"][1]["call"].is_null());
    let ann = board["lists"][0]["entries"][1]["id"]
        .as_str()
        .expect("ann")
        .to_owned();

    // The undo outlives another restart (the list row keeps it): Ann goes back first.
    let clock = v.clock.clone();
    v.node.close().await;
    let v = Venue::open(dir.path(), clock).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (_, board) = v.request("GET", "/api/v1/cash", Some(&boss), None).await;
    assert_eq!(board["lists"][0]["off"][0]["name"], "Ann Able", "{board}");
    let (status, body) = v
        .request(
            "POST",
            &format!("/api/v1/cash/entries/{ann}/restore"),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, board) = v.request("GET", "/api/v1/cash", Some(&boss), None).await;
    let names: Vec<&str> = board["lists"][0]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["Ann Able", "Bo Baker", "Cy Cole"]);
    v.node.close().await;
}

#[tokio::test]
async fn the_board_page_forms_join_move_and_request_a_seat_change() {
    let node = TestNode::start();
    let room = Room {
        node: &node,
        c: node.client(),
    };
    let t1 = room.table("T1", "nlhe", 1, 2, 9, true).await;
    let list = room.list("nlhe", 1, 2).await;
    let (page_client, csrf) =
        common::browser_login(&node.url, common::ADMIN, common::ADMIN_PASSWORD).await;
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let mut form = form;
        form.push(("_csrf", csrf.clone()));
        let req = page_client.post(node.api(&path)).form(&form);
        async move { req.send().await.expect("form") }
    };
    for name in ["Ann Able", "<b>Bo</b> Baker", "Cy Cole"] {
        let resp = post(
            format!("/cash/lists/{list}/join"),
            vec![("name", name.into())],
        )
        .await;
        assert_eq!(
            resp.status(),
            StatusCode::SEE_OTHER,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    let board = room.board().await;
    let cy = list_of(&board, &list)["entries"][2]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let resp = post(
        format!("/cash/entries/{cy}/move"),
        vec![
            ("position", "1".into()),
            ("reason", "was here first".into()),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = post(
        format!("/cash/entries/{cy}/move"),
        vec![("position", "2".into()), ("reason", "".into())],
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a move needs a reason"
    );
    let board = room.board().await;
    assert_eq!(
        names(list_of(&board, &list)),
        ["Cy Cole", "Ann Able", "<b>Bo</b> Baker"]
    );
    // Seat Cy, who then asks for a seat change.
    room.ok(
        "POST",
        &format!("/api/v1/cash/entries/{cy}/seat"),
        Some(json!({"table_id": t1, "seat": 2})),
    )
    .await;
    let resp = post(format!("/cash/tables/{t1}/seats/2/seat-change"), vec![]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let board = room.board().await;
    assert_eq!(board["seat_changes"][0]["name"], "Cy Cole");
    let page = page_client
        .get(node.api("/cash"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("&lt;b&gt;Bo&lt;/b&gt; Baker") && !page.contains("<b>Bo</b>"),
        "names are escaped on the board"
    );
    assert!(page.contains("Seat change requests"));
}

#[tokio::test]
async fn a_seated_player_called_for_another_game_moves_there_and_a_refused_walk_in_adds_nobody() {
    let node = TestNode::start();
    let room = Room {
        node: &node,
        c: node.client(),
    };
    let nl = room.table("NL", "nlhe", 1, 2, 9, true).await;
    let plo_table = room.table("PLO", "plo", 2, 5, 6, true).await;
    let plo = room.list("plo", 2, 5).await;
    let ann = room
        .ok("POST", "/api/v1/players", Some(json!({"name": "Ann Able"})))
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    room.ok(
        "POST",
        "/api/v1/cash/seats",
        Some(json!({"player_id": ann, "table_id": nl, "seat": 1})),
    )
    .await;
    room.join(&plo, &ann).await;
    room.ok("POST", &format!("/api/v1/cash/lists/{plo}/call-next"), None)
        .await;
    let (entry, _) = room.called(&plo).await;
    room.ok(
        "POST",
        &format!("/api/v1/cash/entries/{entry}/seat"),
        Some(json!({"table_id": plo_table, "seat": 3})),
    )
    .await;
    let board = room.board().await;
    assert!(seated(&board, &nl).is_empty(), "moved off the NLHE table");
    assert_eq!(seated(&board, &plo_table), [(3, "Ann Able".to_string())]);
    assert!(names(list_of(&board, &plo)).is_empty());

    let players_before = room.ok("GET", "/api/v1/players", None).await;
    let (status, _) = room
        .send(
            "POST",
            &format!("/api/v1/cash/lists/{plo}/entries"),
            Some(json!({"walk_in": {"name": "Zed"}, "call_in_minutes": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = room
        .send(
            "POST",
            &format!("/api/v1/cash/lists/{}/entries", uuid::Uuid::now_v7()),
            Some(json!({"walk_in": {"name": "Zed"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        room.ok("GET", "/api/v1/players", None).await,
        players_before,
        "a refused join added a player"
    );
}

/// Every board action answers with what it did, once (a reload shows the
/// board without it); what cannot be undone asks first on the page (the
/// form behind the question is what the test posts).
#[tokio::test]
async fn the_board_says_what_each_action_did() {
    let node = TestNode::start();
    let room = Room {
        node: &node,
        c: node.client(),
    };
    let t1 = room.table("Feature", "nlhe", 1, 2, 9, true).await;
    let list = room.list("nlhe", 1, 2).await;
    room.ok(
        "PUT",
        "/api/v1/cash/policy",
        Some(json!({"call_timeout_secs": 120, "no_show": {"action": "move_down", "places": 2}, "seat_removes_other_lists": true, "new_table_at": 6})),
    )
    .await;
    let (page, csrf) =
        common::browser_login(&node.url, common::ADMIN, common::ADMIN_PASSWORD).await;
    let act = |path: String, form: Vec<(&'static str, String)>| {
        let mut form = form;
        form.push(("_csrf", csrf.clone()));
        let req = page.post(node.api(&path)).form(&form);
        let get = page.get(node.api("/cash"));
        async move {
            let resp = req.send().await.expect("form");
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
            let board = get.send().await.expect("board").text().await.expect("text");
            let notice = board
                .split("class=\"notice\" role=\"status\">")
                .nth(1)
                .and_then(|rest| rest.split('<').next())
                .map(|said| said.trim().to_owned());
            (notice, board)
        }
    };
    let mut said = None;
    for name in ["Dana Ellis", "Eve Fox", "Finn Gray", "Gus Hale"] {
        said = act(
            format!("/cash/lists/{list}/join"),
            vec![("name", name.into())],
        )
        .await
        .0;
    }
    assert_eq!(said.as_deref(), Some("Gus Hale added to 1/2 NLHE, 4th."));
    let entry = |board: Value, i: usize| {
        list_of(&board, &list)["entries"][i]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let dana = entry(room.board().await, 0);
    let (said, html) = act(format!("/cash/entries/{dana}/call"), vec![]).await;
    assert_eq!(said.as_deref(), Some("Dana Ellis called for 1/2 NLHE."));
    assert!(
        html.contains("Mark Dana Ellis no-show") && html.contains("Take Dana Ellis off the list"),
        "the page asks before a no-show or a removal"
    );
    let (said, _) = act(format!("/cash/entries/{dana}/no-show"), vec![]).await;
    assert_eq!(
        said.as_deref(),
        Some("Dana Ellis marked no-show, moved to 3rd on 1/2 NLHE.")
    );
    let again = page
        .get(node.api("/cash"))
        .send()
        .await
        .expect("reload")
        .text()
        .await
        .expect("text");
    assert!(!again.contains("class=\"notice\""), "said once");
    let finn = entry(room.board().await, 1);
    let (said, _) = act(format!("/cash/entries/{finn}/remove"), vec![]).await;
    assert_eq!(
        said.as_deref(),
        Some("Finn Gray taken off the 1/2 NLHE list. Put back undoes it.")
    );
    // Both can be undone from the board: Finn was 2nd, Dana 1st.
    let board = room.board().await;
    let off = list_of(&board, &list)["off"]
        .as_array()
        .expect("off")
        .clone();
    let off: Vec<(&str, u64)> = off
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap_or(""),
                o["position"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(off, [("Finn Gray", 2), ("Dana Ellis", 1)]);
    let (said, html) = act(format!("/cash/entries/{finn}/restore"), vec![]).await;
    assert_eq!(
        said.as_deref(),
        Some("Finn Gray put back at 2nd on 1/2 NLHE.")
    );
    assert!(!html.contains("Put Finn Gray back"), "undone once");
    assert_eq!(
        names(list_of(&room.board().await, &list)),
        ["Eve Fox", "Finn Gray", "Dana Ellis", "Gus Hale"]
    );
    // The same undo again is refused with the reason, through the API too.
    let (status, body) = room
        .send(
            "POST",
            &format!("/api/v1/cash/entries/{finn}/restore"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let gus = entry(room.board().await, 3);
    let (said, _) = act(
        format!("/cash/entries/{gus}/move"),
        vec![
            ("position", "1".into()),
            ("reason", "was first, left to eat".into()),
        ],
    )
    .await;
    assert_eq!(said.as_deref(), Some("Gus Hale moved to 1st on 1/2 NLHE."));
    let (said, _) = act(
        format!("/cash/entries/{gus}/seat"),
        vec![("spot", format!("{t1}:4"))],
    )
    .await;
    assert_eq!(said.as_deref(), Some("Gus Hale seated at Feature, seat 4."));
    let (said, _) = act(format!("/cash/tables/{t1}/seats/4/away"), vec![]).await;
    assert_eq!(said.as_deref(), Some("Gus Hale (Feature, seat 4) is away."));
    let (said, _) = act(format!("/cash/tables/{t1}/seats/4/leave"), vec![]).await;
    assert_eq!(
        said.as_deref(),
        Some("Gus Hale left Feature, seat 4: the seat is open.")
    );
    let (said, _) = act(format!("/cash/lists/{list}/call-next"), vec![]).await;
    assert_eq!(said.as_deref(), Some("Eve Fox called for 1/2 NLHE."));
    // A refused action shows the reason and says nothing was done.
    let refused = page
        .post(node.api(&format!("/cash/entries/{gus}/no-show")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert!(refused.status().is_client_error());
    assert!(!refused
        .text()
        .await
        .expect("text")
        .contains("class=\"notice\""));
}
