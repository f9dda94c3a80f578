//! Tournaments through the HTTP API: create from a
//! template, register, start, run the clock, bust down to a winner; refusals
//! name the reason; the log replays into identical read tables.

mod common;

use common::{client, TestNode};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn send(
    c: &reqwest::Client,
    node: &TestNode,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = c.request(m, node.api(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_turbo_runs_from_registration_to_a_winner() {
    let mut node = TestNode::start();
    let c = node.client();
    let (status, t) = send(
        &c,
        &node,
        "POST",
        "/api/v1/tournaments",
        Some(json!({"name": "Monday Turbo", "template": "turbo", "tables": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().expect("id").to_owned();
    assert_eq!(t["status"], "registering");
    assert_eq!(t["clock"]["started"], false);

    const FIRST: [&str; 12] = [
        "Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ida", "Jo", "Kit", "Lu",
    ];
    for first in FIRST {
        let (status, body) = send(
            &c,
            &node,
            "POST",
            &format!("/api/v1/tournaments/{id}/entries"),
            Some(json!({"name": format!("{first} Player")})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "start twice: {again}");
    assert_eq!(
        again["error"]["message"],
        "the tournament has already started"
    );

    // The clock: level 1 of 12 minutes, pause, +1 minute, jump to level 2 and back.
    let (_, v) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(v["clock"]["level"], 1);
    assert_eq!(v["clock"]["blinds"]["big_blind"], 200);
    assert_eq!(v["stats"]["entries"], 12);
    assert_eq!(v["stats"]["average_stack"], 20_000);
    send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/pause"),
        None,
    )
    .await;
    let (_, paused) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(paused["clock"]["paused"], true);
    let left = paused["clock"]["time_left_ms"].as_u64().expect("left");
    let (status, _) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/time"),
        Some(json!({"minutes": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, plus) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(
        plus["clock"]["time_left_ms"].as_u64(),
        Some(left + 60_000),
        "a paused clock gains exactly a minute"
    );
    send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/level"),
        Some(json!({"step": 1})),
    )
    .await;
    let (_, l2) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(l2["clock"]["level"], 2);
    send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/level"),
        Some(json!({"step": 0})),
    )
    .await;
    let (_, back) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(
        back["clock"], plus["clock"],
        "jumping forward and back gives the same clock"
    );
    send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/resume"),
        None,
    )
    .await;

    // Late registration closed by the director: an entry needs the override, which the event records.
    send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/close-late-registration"),
        None,
    )
    .await;
    let (status, body) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/entries"),
        Some(json!({"name": "Latecomer"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/entries"),
        Some(json!({"name": "Latecomer", "override_late_registration": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Bust everyone but one, in bullet order.
    let (_, events) = send(&c, &node, "GET", "/api/v1/events?limit=1000", None).await;
    let bullets: Vec<String> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            e["kind"] == "tournament_played" && e["payload"]["event"]["type"] == "registered"
        })
        .map(|e| {
            e["payload"]["event"]["bullet_id"]
                .as_str()
                .expect("bullet")
                .to_owned()
        })
        .collect();
    assert_eq!(bullets.len(), 13);
    assert!(
        events.to_string().contains("\"override_late_reg\":true"),
        "the override is recorded"
    );
    let (mut breaks, mut moves) = (0, 0);
    for b in &bullets[..12] {
        let (status, body) = send(
            &c,
            &node,
            "POST",
            &format!("/api/v1/tournaments/{id}/bullets/{b}/bust"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Staff follow the node's suggestions: break a table when the field fits, then balance.
        loop {
            let (_, v) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
            if let Some(table) = v["table_to_break"].as_u64() {
                let (status, body) = send(
                    &c,
                    &node,
                    "POST",
                    &format!("/api/v1/tournaments/{id}/tables/{table}/break"),
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                breaks += 1;
            } else if let Some(m) = v["balance"].as_object() {
                let bullet = m["bullet_id"].as_str().expect("bullet");
                let to = json!({"table": m["to"][0], "seat": m["to"][1]});
                let (status, body) = send(
                    &c,
                    &node,
                    "POST",
                    &format!("/api/v1/tournaments/{id}/bullets/{bullet}/move"),
                    Some(to),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                moves += 1;
            } else {
                break;
            }
        }
    }
    assert!(breaks >= 1, "the second table was broken along the way");
    eprintln!("{breaks} table break(s), {moves} balancing move(s)");
    let (status, _) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/bullets/{}/bust", bullets[0]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "busting twice");
    let (_, done) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(done["status"], "finished");
    assert_eq!(done["places"][0], json!({"place": 1, "name": "Latecomer"}));
    // Bullets bust in registration order (UUIDv7 ids): Lu last, Ann first; screens get "Lu P.".
    assert_eq!(done["places"][1], json!({"place": 2, "name": "Lu P."}));
    assert_eq!(done["places"][12], json!({"place": 13, "name": "Ann P."}));
    assert_eq!(done["stats"]["players_left"], 1);
    // 2 a.m.: the last bust-out was a mistake. Undo it, then bust again.
    let (_, events) = send(&c, &node, "GET", "/api/v1/events?limit=1000", None).await;
    let busts: Vec<u64> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["payload"]["event"]["type"] == "busted")
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    let (last_bust, earlier_bust) = (busts[busts.len() - 1], busts[busts.len() - 2]);
    let (status, _) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/undo"),
        Some(json!({"seq": earlier_bust})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "only the latest bust-out can be undone"
    );
    let (status, body) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/undo"),
        Some(json!({"seq": last_bust})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, undone) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(undone["status"], "running");
    assert_eq!(undone["stats"]["players_left"], 2);
    let (status, _) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/bullets/{}/bust", bullets[11]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, done) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(done["status"], "finished");
    // The public view needs no login.
    let (status, _) = send(
        &client(),
        &node,
        "GET",
        &format!("/api/v1/tournaments/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    assert_replays(&mut node).await;
}

/// Stops the node and checks its log replays from empty into identical read tables.
async fn assert_replays(node: &mut TestNode) {
    assert!(node.terminate().success());
    let (original, replayed) = common::dump_and_replay(&node.dir.join("pvm.db")).await;
    assert_eq!(original, replayed);
}

#[tokio::test]
async fn a_nonsense_structure_is_refused_with_the_step_named() {
    let node = TestNode::start();
    let c = node.client();
    let mut structure: Value = send(&c, &node, "GET", "/api/v1/tournament-templates", None)
        .await
        .1[0]
        .clone();
    structure["steps"][2]["big_blind"] = json!(100);
    structure["steps"][2]["small_blind"] = json!(300);
    let (status, body) = send(
        &c,
        &node,
        "POST",
        "/api/v1/tournaments",
        Some(json!({"name": "Bad", "structure": structure, "tables": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("step 3: the big blind (100) is smaller than the small blind (300)"),
        "{body}"
    );
    let (status, _) = send(
        &c,
        &node,
        "POST",
        "/api/v1/tournaments",
        Some(json!({"name": "X", "template": "bingo", "tables": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = send(&c, &node, "GET", "/api/v1/tournaments", None).await;
    assert_eq!(list, json!([]), "nothing was created");
}

#[tokio::test]
async fn the_clock_panel_runs_a_tournament_with_big_buttons() {
    let node = TestNode::start();
    let (page, csrf) =
        common::browser_login(&node.url, common::ADMIN, common::ADMIN_PASSWORD).await;
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let mut form = form;
        form.push(("_csrf", csrf.clone()));
        let req = page.post(node.api(&path)).form(&form);
        async move { req.send().await.expect("form") }
    };
    let resp = post(
        "/tournaments".into(),
        vec![
            ("name", "Thursday Daily".into()),
            ("template", "Daily".into()),
            ("tables", "2".into()),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let at = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    for name in ["Ann Able", "Bo Baker", "Cy Cole"] {
        let resp = post(format!("{at}/register"), vec![("name", name.into())]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    }
    for action in ["start", "pause", "plus"] {
        let resp = post(format!("{at}/{action}"), vec![]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{action}");
    }
    let html = page
        .get(node.api(&at))
        .send()
        .await
        .expect("panel")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("Level 1") && html.contains("21:00") && html.contains("(paused)"),
        "{html}"
    );
    assert!(html.contains("100 / 100") && html.contains("3 of 3 left"));
    // Bust the first listed seat, then undo it from the panel.
    let bust = html
        .split("/bust-")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a bust button")
        .to_owned();
    assert_eq!(
        post(format!("{at}/bust-{bust}"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = page
        .get(node.api(&at))
        .send()
        .await
        .expect("panel")
        .text()
        .await
        .expect("text");
    assert!(html.contains("2 of 3 left") && html.contains("Last bust-out"));
    assert_eq!(
        post(format!("{at}/undo-bust"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = page
        .get(node.api(&at))
        .send()
        .await
        .expect("panel")
        .text()
        .await
        .expect("text");
    assert!(html.contains("3 of 3 left"), "undo put them back");
    // Resuming twice is refused with the reason, on the page.
    assert_eq!(
        post(format!("{at}/resume"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    let again = post(format!("{at}/resume"), vec![]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again
        .text()
        .await
        .expect("text")
        .contains("the clock is not paused"));
}

#[tokio::test]
async fn staff_clone_a_template_edit_it_and_run_a_rebuy_tournament_from_it() {
    let mut node = TestNode::start();
    let c = node.client();
    let (_, all) = send(&c, &node, "GET", "/api/v1/tournament-templates", None).await;
    let mut mine = all[1].clone();
    assert_eq!(mine["name"], "Daily");
    // Saving over a built-in is refused; a copy under a new name is kept.
    let (status, body) = send(
        &c,
        &node,
        "POST",
        "/api/v1/tournament-templates",
        Some(mine.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    mine["name"] = json!("Tuesday Rebuy");
    mine["rebuy"] =
        json!({"allowed": true, "max": 1, "chips": 30000, "until_level": 4, "price": 100});
    mine["payouts"] = json!([600, 400]);
    let (status, body) = send(
        &c,
        &node,
        "POST",
        "/api/v1/tournament-templates",
        Some(mine.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Nonsense in an edit names the problem and changes nothing.
    let mut bad = mine.clone();
    bad["payouts"] = json!([600, 300]);
    let (status, body) = send(&c, &node, "POST", "/api/v1/tournament-templates", Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("payouts: the places add up to 90.0 %, not 100 %"),
        "{body}"
    );
    let (_, all) = send(&c, &node, "GET", "/api/v1/tournament-templates", None).await;
    assert_eq!(all.as_array().map(Vec::len), Some(4));
    assert_eq!(all[3]["payouts"], json!([600, 400]));

    let (status, t) = send(
        &c,
        &node,
        "POST",
        "/api/v1/tournaments",
        Some(json!({"name": "Tuesday", "template": "tuesday rebuy", "tables": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().expect("id").to_owned();
    let mut bullets = Vec::new();
    for name in ["Ann Lee", "Bo Park", "Cy Diaz"] {
        let (_, e) = send(
            &c,
            &node,
            "POST",
            &format!("/api/v1/tournaments/{id}/entries"),
            Some(json!({"name": name})),
        )
        .await;
        bullets.push(e["bullet_id"].as_str().expect("bullet").to_owned());
    }
    send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{id}/start"),
        None,
    )
    .await;
    let path = |b: &str, what: &str| format!("/api/v1/tournaments/{id}/bullets/{b}/{what}");
    let (status, body) = send(&c, &node, "POST", &path(&bullets[0], "rebuy"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(&c, &node, "POST", &path(&bullets[0], "rebuy"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"]["message"],
        "rebuy limit reached (1 allowed per entry)"
    );
    let (status, _) = send(&c, &node, "POST", &path(&bullets[1], "addon"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = send(&c, &node, "GET", &format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(v["stats"]["total_chips"], 3 * 30_000 + 30_000 + 20_000);
    assert_eq!(v["prize_pool"], 5_000, "the Daily's guarantee");
    send(&c, &node, "POST", &path(&bullets[2], "bust"), None).await;
    send(&c, &node, "POST", &path(&bullets[1], "bust"), None).await;
    let (_, r) = send(
        &c,
        &node,
        "GET",
        &format!("/api/v1/tournaments/{id}/results"),
        None,
    )
    .await;
    assert_eq!(
        r["payouts"],
        json!([{"place": 1, "permille": 600, "amount": 3000}, {"place": 2, "permille": 400, "amount": 2000}])
    );
    assert_eq!(
        r["places"][0],
        json!({"place": 1, "name": "Ann L.", "payout": 3000})
    );
    assert_eq!(
        r["places"][1],
        json!({"place": 2, "name": "Bo P.", "payout": 2000})
    );
    let (status, _) = send(
        &c,
        &node,
        "DELETE",
        "/api/v1/tournament-templates/Tuesday%20Rebuy",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &c,
        &node,
        "DELETE",
        "/api/v1/tournament-templates/Daily",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "built-in templates stay");
    assert_replays(&mut node).await;
}

#[tokio::test]
async fn three_flights_bag_their_survivors_and_day_2_draws_them_with_their_stacks() {
    let mut node = TestNode::start();
    let c = node.client();
    let mut flights = Vec::new();
    let mut regular = None;
    for (f, label) in ["1A", "1B", "1C"].iter().enumerate() {
        let (_, t) = send(&c, &node, "POST", "/api/v1/tournaments",
            Some(json!({"name": format!("Main Event Day {label}"), "template": "Deepstack", "tables": 2}))).await;
        let id = t["id"].as_str().expect("id").to_owned();
        let mut bullets = Vec::new();
        for i in 0..10 {
            // The same regular plays every flight.
            let body = match (i, &regular) {
                (0, Some(p)) => json!({"player_id": p}),
                (0, None) => json!({"name": "Reg Ular"}),
                _ => json!({"name": format!("F{f} Player{i}")}),
            };
            let (status, e) = send(
                &c,
                &node,
                "POST",
                &format!("/api/v1/tournaments/{id}/entries"),
                Some(body),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{e}");
            if i == 0 {
                regular = e["player_id"].as_str().map(str::to_owned);
            }
            bullets.push(e["bullet_id"].as_str().expect("b").to_owned());
        }
        send(
            &c,
            &node,
            "POST",
            &format!("/api/v1/tournaments/{id}/start"),
            None,
        )
        .await;
        for b in &bullets[6..] {
            let (status, body) = send(
                &c,
                &node,
                "POST",
                &format!("/api/v1/tournaments/{id}/bullets/{b}/bust"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        // The regular bags 100k more in each later flight.
        let stacks: Vec<Value> = bullets[..6].iter().enumerate()
            .map(|(i, b)| json!({"bullet_id": b, "chips": 60_000 + i as u64 * 1_000 + f as u64 * 100_000 * u64::from(i == 0)}))
            .collect();
        let (status, body) = send(
            &c,
            &node,
            "POST",
            &format!("/api/v1/tournaments/{id}/bag"),
            Some(json!({"stacks": stacks[..5]})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a survivor without a count: {body}"
        );
        let (status, body) = send(
            &c,
            &node,
            "POST",
            &format!("/api/v1/tournaments/{id}/bag"),
            Some(json!({"stacks": stacks})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        flights.push(id);
    }
    let (status, body) = send(
        &c,
        &node,
        "POST",
        "/api/v1/day2",
        Some(json!({"name": "Main Event Day 2", "flights": [flights[0], flights[0]], "tables": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, d2) = send(
        &c,
        &node,
        "POST",
        "/api/v1/day2",
        Some(json!({"name": "Main Event Day 2", "flights": flights, "tables": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{d2}");
    let d2id = d2["id"].as_str().expect("id").to_owned();
    // 18 survivors, but the regular bagged three times: the biggest stack (1C's) goes on.
    assert_eq!(d2["stats"]["entries"], 16);
    assert_eq!(d2["flights"], json!(flights));
    assert_eq!(
        d2["prize_pool"], 25_000,
        "the Deepstack guarantee covers the flights' 30 x 300"
    );
    let (status, again) = send(
        &c,
        &node,
        "POST",
        "/api/v1/day2",
        Some(json!({"name": "Again", "flights": [flights[0]], "tables": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (_, entries) = send(
        &c,
        &node,
        "GET",
        &format!("/api/v1/tournaments/{d2id}/entries"),
        None,
    )
    .await;
    let reg: Vec<&Value> = entries
        .as_array()
        .expect("e")
        .iter()
        .filter(|e| e["name"] == "Reg Ular")
        .collect();
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0]["chips"], 260_000);
    let (status, _) = send(
        &c,
        &node,
        "POST",
        &format!("/api/v1/tournaments/{d2id}/start"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, seating) = send(
        &c,
        &node,
        "GET",
        &format!("/api/v1/tournaments/{d2id}/seating"),
        None,
    )
    .await;
    let counts: Vec<usize> = seating["tables"]
        .as_array()
        .expect("t")
        .iter()
        .map(|t| t["players"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(counts, vec![8, 8], "the Day 2 redraw is balanced");
    let (_, v) = send(
        &c,
        &node,
        "GET",
        &format!("/api/v1/tournaments/{d2id}"),
        None,
    )
    .await;
    let chips: u64 = entries
        .as_array()
        .expect("e")
        .iter()
        .filter_map(|e| e["chips"].as_u64())
        .sum();
    assert_eq!(v["stats"]["total_chips"], chips);
    assert_eq!(
        v["clock"]["level"], 1,
        "Day 2 starts where the flights stopped (level 1 here; later levels in the engine test)"
    );
    let (_, r) = send(
        &c,
        &node,
        "GET",
        &format!("/api/v1/tournaments/{d2id}/results"),
        None,
    )
    .await;
    assert_eq!(r["field"], 30, "payouts are for all 30 flight entries");
    let (_, f) = send(
        &c,
        &node,
        "GET",
        &format!("/api/v1/tournaments/{}", flights[0]),
        None,
    )
    .await;
    assert_eq!(f["status"], "bagged");
    assert_eq!(f["day2"], d2["id"]);
    assert_replays(&mut node).await;
}

#[tokio::test]
async fn the_director_edits_a_structure_bags_a_flight_draws_day_2_and_undoes_from_the_pages() {
    let node = TestNode::start();
    let (page, csrf) =
        common::browser_login(&node.url, common::ADMIN, common::ADMIN_PASSWORD).await;
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let mut form = form;
        form.push(("_csrf", csrf.clone()));
        let req = page.post(node.api(&path)).form(&form);
        async move { req.send().await.expect("form") }
    };
    let get = |path: String| {
        let req = page.get(node.api(&path));
        async move { req.send().await.expect("page").text().await.expect("text") }
    };
    // Clone the Turbo: the editor opens with a copy's name and the levels as text.
    let html = get("/structures/edit?from=Turbo".into()).await;
    assert!(
        html.contains("Turbo (copy)") && html.contains("100/200 bba 200 12m"),
        "{html}"
    );
    let mut form: Vec<(&'static str, String)> = vec![
        ("name", "Sunday Rebuy".into()),
        (
            "steps",
            "100/200 15m\n200/400 15m\nbreak 10m colour up\n300/600 ante 50 15m\n".into(),
        ),
        ("starting_stack", "10,000".into()),
        ("late_reg_until_level", "2".into()),
        ("rebuy_allowed", "1".into()),
        ("rebuy_max", "".into()),
        ("rebuy_chips", "10000".into()),
        ("rebuy_until", "2".into()),
        ("rebuy_price", "20".into()),
        ("buy_in", "20".into()),
        ("payouts", "70 30".into()),
        ("at_end", "repeat".into()),
    ];
    // A typo in a level names its line and keeps what was typed.
    let mut bad = form.clone();
    bad[1].1 = "100/200 15m\n200/4OO 15m\n".into();
    let resp = post("/structures".into(), bad).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.expect("text");
    assert!(
        body.contains("line 2: &quot;4OO&quot; is not a whole number for the big blind"),
        "{body}"
    );
    assert!(
        body.contains("Sunday Rebuy"),
        "the form keeps what was typed"
    );
    let resp = post("/structures".into(), form.clone()).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = get("/structures".into()).await;
    assert!(html.contains("Sunday Rebuy"), "{html}");
    // Edit it again: saved under the same name, it replaces the old one.
    form[2].1 = "12000".into();
    assert_eq!(
        post("/structures".into(), form).await.status(),
        StatusCode::SEE_OTHER
    );
    let (status, all) = send(
        &node.client(),
        &node,
        "GET",
        "/api/v1/tournament-templates",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mine = all
        .as_array()
        .expect("all")
        .iter()
        .find(|t| t["name"] == "Sunday Rebuy")
        .cloned()
        .expect("saved");
    assert_eq!(mine["starting_stack"], 12_000);
    assert_eq!(mine["payouts"], json!([700, 300]));
    assert_eq!(
        mine["steps"][3]["ante"],
        json!({"kind": "standard", "amount": 50})
    );

    // A flight from it, run from the panel: register, start, rebuy, bust, undo, bag.
    let resp = post(
        "/tournaments".into(),
        vec![
            ("name", "Flight 1A".into()),
            ("template", "Sunday Rebuy".into()),
            ("tables", "1".into()),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let at = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    for name in ["Ann Able", "Bo Baker", "Cy Cole", "Di Dunn"] {
        assert_eq!(
            post(format!("{at}/register"), vec![("name", name.into())])
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        post(format!("{at}/start"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = get(at.clone()).await;
    let first = |html: &str, prefix: &str| {
        html.split(prefix)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no {prefix} in page"))
            .to_owned()
    };
    assert_eq!(
        post(format!("{at}/button-1"), vec![("seat", "4".into())])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert!(get(at.clone()).await.contains("button seat 4"));
    let b = first(&html, "/rebuy-");
    assert_eq!(
        post(format!("{at}/rebuy-{b}"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        post(format!("{at}/bust-{b}"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = get(at.clone()).await;
    assert!(
        html.contains("Recent actions") && html.contains("busted") && html.contains("rebought"),
        "{html}"
    );
    assert!(
        html.contains("prize pool 100"),
        "4 buy-ins and a rebuy at 20"
    );
    // Undo the rebuy? Only once the bust-out is undone: the newest first.
    let undo = first(&html, "/undo-");
    assert_eq!(
        post(format!("{at}/undo-{undo}"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = get(at.clone()).await;
    assert!(html.contains("4 of 4 left"), "the bust-out was undone");
    let undo = first(&html, "/undo-");
    assert_eq!(
        post(format!("{at}/undo-{undo}"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = get(at.clone()).await;
    assert!(html.contains("prize pool 80"), "the rebuy was undone");
    // Bag: a count that is not a number is refused with the reason; then every stack.
    let bullets: Vec<String> = html
        .split("name=\"chips-")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(bullets.len(), 4);
    let mut counts: Vec<(String, String)> = bullets
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("chips-{b}"), format!("{}", 20_000 + i * 1_000)))
        .collect();
    counts.push(("_csrf".into(), csrf.clone()));
    let mut wrong = counts.clone();
    wrong[0].1 = "lots".into();
    let resp = page
        .post(node.api(&format!("{at}/bag")))
        .form(&wrong)
        .send()
        .await
        .expect("bag");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp
        .text()
        .await
        .expect("text")
        .contains("&quot;lots&quot; is not a chip count"));
    let resp = page
        .post(node.api(&format!("{at}/bag")))
        .form(&counts)
        .send()
        .await
        .expect("bag");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    // Day 2 from the list page's form, drawn at its start.
    let html = get("/tournaments".into()).await;
    assert!(html.contains("Day 2 from bagged flights"), "{html}");
    let flight = at.trim_start_matches("/tournaments/").to_owned();
    let resp = post(
        "/day2".into(),
        vec![
            ("flight", flight),
            ("name", "Sunday Day 2".into()),
            ("tables", "1".into()),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let d2 = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(
        post(format!("{d2}/start"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = get(d2.clone()).await;
    assert!(
        html.contains("4 of 4 left") && html.contains("23000"),
        "{html}"
    );
    // The results as CSV from the page (cookie session).
    let resp = page
        .get(node.api(&format!("{d2}/results.csv")))
        .send()
        .await
        .expect("csv");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = resp.text().await.expect("text");
    assert_eq!(csv.lines().count(), 5, "{csv}");
}
