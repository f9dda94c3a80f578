//! A whole tournament night through the HTTP API, with time moved by hand:
//! 60 players and 8 re-entries on 7 tables of 9, late registration closing
//! after level 6, bust-outs down to a winner with every table break and
//! balancing move the node suggests, the final table draw, a restart in the
//! middle, and the clock checked at chosen instants. Then the results, the
//! CSV and a replay of the log into identical read tables.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::inprocess::{body_of_login, token_of, ManualClock, Venue};
use pvm_shared::tournament::play::Draw;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

struct Director {
    v: Venue,
    token: String,
    id: String,
}

impl Director {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = path.replace("{id}", &self.id);
        self.v.request(method, &path, Some(&self.token), body).await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, out) = self.call(method, path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {out}");
        out
    }

    /// Time passes; staff log in again when their access token would have run out.
    async fn wait(&mut self, secs: u64) {
        self.v.clock.advance_secs(secs);
        self.token = token_of(&body_of_login(&self.v).await, "access_token");
    }

    /// Stops the node and starts it again on the same data, clock and director.
    async fn restart(self, dir: &std::path::Path) -> Director {
        let clock: Arc<ManualClock> = self.v.clock.clone();
        self.v.node.close().await;
        let v = Venue::open(dir, clock).await;
        let token = token_of(&body_of_login(&v).await, "access_token");
        Director {
            v,
            token,
            id: self.id,
        }
    }

    async fn view(&self) -> Value {
        self.ok("GET", "/api/v1/tournaments/{id}", None).await
    }

    async fn clock(&self) -> Value {
        self.view().await["clock"].clone()
    }

    /// Breaks tables and confirms balancing moves until the node suggests nothing more.
    async fn follow_suggestions(&self, mut next: Value, log: &mut Vec<String>) {
        loop {
            if let Some(table) = next["table_to_break"].as_u64() {
                self.ok(
                    "POST",
                    &format!("/api/v1/tournaments/{{id}}/tables/{table}/break"),
                    None,
                )
                .await;
                log.push(format!("break {table}"));
            } else if let Some(m) = next["balance"].as_object() {
                let bullet = m["bullet_id"].as_str().expect("bullet");
                self.ok(
                    "POST",
                    &format!("/api/v1/tournaments/{{id}}/bullets/{bullet}/move"),
                    Some(json!({"table": m["to"][0], "seat": m["to"][1]})),
                )
                .await;
                log.push(format!("move {:?} -> {:?}", m["from"], m["to"]));
            } else {
                return;
            }
            next = self.view().await;
        }
    }

    async fn csv(&self) -> String {
        let req = Request::builder()
            .uri(format!("/api/v1/tournaments/{}/results.csv", self.id))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .expect("request");
        let resp = pvm_node::http::router(self.v.node.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }
}

fn alive(entries: &Value) -> Vec<(String, String)> {
    entries
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["busted"] == false)
        .map(|e| {
            (
                e["bullet_id"].as_str().expect("id").to_owned(),
                e["player_id"].as_str().expect("player").to_owned(),
            )
        })
        .collect()
}

fn assert_balanced(seating: &Value) {
    let counts: Vec<usize> = seating["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| t["players"].as_array().map_or(0, Vec::len))
        .collect();
    let (most, fewest) = (
        counts.iter().max().copied().unwrap_or(0),
        counts.iter().min().copied().unwrap_or(0),
    );
    assert!(most <= fewest + 1, "tables out of balance: {counts:?}");
}

#[tokio::test]
async fn sixty_players_eight_reentries_seven_tables_down_to_a_winner() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let token = token_of(&body_of_login(&v).await, "access_token");
    let mut td = Director {
        v,
        token,
        id: String::new(),
    };

    // Turbo: 12-minute levels, a 10-minute break after level 6, late
    // registration and one re-entry each through level 6 (and its break).
    let (status, t) = td
        .call(
            "POST",
            "/api/v1/tournaments",
            Some(json!({"name": "Saturday Turbo", "template": "Turbo", "tables": 7, "seats": 9})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    td.id = t["id"].as_str().expect("id").to_owned();
    let mut first_name = BTreeMap::new();
    for i in 0..60 {
        let name = format!("P{i:02} Player");
        let e = td
            .ok(
                "POST",
                "/api/v1/tournaments/{id}/entries",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(e["table"], Value::Null, "no seat before the start draw");
        first_name.insert(e["player_id"].as_str().expect("p").to_owned(), name);
    }
    td.ok("POST", "/api/v1/tournaments/{id}/start", None).await;
    let seating = td.ok("GET", "/api/v1/tournaments/{id}/seating", None).await;
    assert_eq!(seating["unseated"], 0);
    assert_eq!(seating["tables"].as_array().map(Vec::len), Some(7));
    assert_balanced(&seating);

    // The clock at the start: level 1, 12:00 left, 100/200 with a 200 big-blind ante.
    let c = td.clock().await;
    assert_eq!(
        (c["level"].clone(), c["time_left_ms"].clone()),
        (json!(1), json!(12 * 60_000))
    );
    assert_eq!(c["blinds"]["big_blind"], 200);
    assert_eq!(
        c["blinds"]["ante"],
        json!({"kind": "big_blind", "amount": 200})
    );
    assert_eq!(c["next"]["small_blind"], 100);
    assert_eq!(c["next"]["big_blind"], 300);
    assert_eq!(c["to_next_break_ms"], 72 * 60_000);

    let mut rng = Draw::new(20261130);
    let mut log = Vec::new();
    let mut reentered: Vec<String> = Vec::new();
    let mut final_table = false;
    let mut tick = 0u64;
    let mut checked = 0;
    loop {
        tick += 1;
        td.wait(150).await; // 2.5 minutes between bust-outs
        let real = tick * 150;
        // Chosen instants (real minutes since the start; the clock paused 40 to 45).
        match real / 60 {
            30 => {
                checked += 1;
                let c = td.clock().await; // 30:00: level 3, 6:00 left
                assert_eq!(
                    (c["level"].as_u64(), c["time_left_ms"].as_u64()),
                    (Some(3), Some(6 * 60_000))
                );
            }
            40 => {
                checked += 1;
                td.ok("POST", "/api/v1/tournaments/{id}/pause", None).await;
            }
            45 => {
                checked += 1;
                let c = td.clock().await;
                assert_eq!(c["paused"], true);
                assert_eq!(
                    c["time_left_ms"],
                    8 * 60_000,
                    "still 8:00 of level 4 after 5 paused minutes"
                );
                td.ok("POST", "/api/v1/tournaments/{id}/resume", None).await;
            }
            50 => {
                checked += 1;
                let c = td.clock().await; // 50:00 real = 45:00 played: level 4, 3:00 left
                assert_eq!(
                    (c["level"].as_u64(), c["time_left_ms"].as_u64()),
                    (Some(4), Some(3 * 60_000))
                );
            }
            80 => {
                checked += 1;
                let c = td.clock().await; // 80:00 real = 75:00 played: on the break, 7:00 left
                assert_eq!(c["on_break"], true);
                assert_eq!(c["time_left_ms"], 7 * 60_000);
                assert_eq!(c["blinds"], Value::Null);
                assert_eq!(c["next"]["level"], 7);
                let v = td.view().await;
                assert_eq!(
                    v["registration_open"], true,
                    "late registration runs through the break"
                );
            }
            90 => {
                checked += 1;
                // 90:00 real = 85:00 played: level 7, late registration is over.
                let v = td.view().await;
                assert_eq!(v["clock"]["level"], 7);
                assert_eq!(v["registration_open"], false);
                let (status, body) = td
                    .call(
                        "POST",
                        "/api/v1/tournaments/{id}/entries",
                        Some(json!({"name": "Too Late"})),
                    )
                    .await;
                assert_eq!(status, StatusCode::CONFLICT, "{body}");
                assert_eq!(
                    body["error"]["message"],
                    "late registration is closed; the director can override it"
                );
            }
            100 => {
                checked += 1;
                // A restart in the middle of the night changes nothing anyone sees.
                let before = (
                    td.view().await,
                    td.ok("GET", "/api/v1/tournaments/{id}/entries", None).await,
                );
                td = td.restart(dir.path()).await;
                let after = (
                    td.view().await,
                    td.ok("GET", "/api/v1/tournaments/{id}/entries", None).await,
                );
                assert_eq!(before, after, "the restart changed the tournament");
            }
            _ => {}
        }

        let entries = td.ok("GET", "/api/v1/tournaments/{id}/entries", None).await;
        let field = alive(&entries);
        if field.len() == 1 {
            break;
        }
        let (victim, player) = field[rng.below(field.len())].clone();
        let done = td
            .ok(
                "POST",
                &format!("/api/v1/tournaments/{{id}}/bullets/{victim}/bust"),
                None,
            )
            .await;
        // The first eight players out buy back in while late registration is open.
        let reentries_open = td.view().await["registration_open"] == true;
        let mut next = done;
        if reentered.len() < 8 && reentries_open && !reentered.contains(&player) {
            let e = td
                .ok(
                    "POST",
                    "/api/v1/tournaments/{id}/entries",
                    Some(json!({ "player_id": player })),
                )
                .await;
            assert!(e["table"].is_u64(), "a late entry is drawn a seat: {e}");
            reentered.push(player.clone());
            next = td.view().await;
        } else if reentered.contains(&player) && reentries_open {
            // A second re-entry is over the limit of one.
            let (status, body) = td
                .call(
                    "POST",
                    "/api/v1/tournaments/{id}/entries",
                    Some(json!({ "player_id": player })),
                )
                .await;
            assert_eq!(status, StatusCode::CONFLICT, "{body}");
            assert_eq!(
                body["error"]["message"],
                "re-entry limit reached (1 allowed)"
            );
        }
        let left = field.len() - 1;
        if left <= 9 && !final_table && left > 1 {
            let table = td.view().await["tables"][0].clone();
            td.ok(
                "POST",
                "/api/v1/tournaments/{id}/final-table",
                Some(json!({ "table": table })),
            )
            .await;
            final_table = true;
            log.push(format!("final table at {table} with {left}"));
            let seating = td.ok("GET", "/api/v1/tournaments/{id}/seating", None).await;
            assert_eq!(seating["tables"].as_array().map(Vec::len), Some(1));
            assert_eq!(
                seating["tables"][0]["players"].as_array().map(Vec::len),
                Some(left)
            );
        } else {
            td.follow_suggestions(next, &mut log).await;
            assert_balanced(&td.ok("GET", "/api/v1/tournaments/{id}/seating", None).await);
        }
    }
    assert_eq!(checked, 7, "every chosen instant was checked");
    assert_eq!(reentered.len(), 8, "eight re-entries");
    assert!(final_table, "the final table was drawn");
    let breaks = log.iter().filter(|l| l.starts_with("break")).count();
    let moves = log.iter().filter(|l| l.starts_with("move")).count();
    assert!(breaks >= 5, "tables broke along the way: {log:?}");
    assert!(moves >= 1, "balancing moves were made: {log:?}");
    eprintln!("{breaks} table breaks, {moves} balancing moves, {tick} ticks");

    // The end: a winner, places 1..68, stats and payouts.
    let v = td.view().await;
    assert_eq!(v["status"], "finished");
    assert_eq!(
        v["stats"],
        json!({"entries": 68, "players_left": 1, "reentries": 8, "total_chips": 68 * 20_000, "average_stack": 68 * 20_000})
    );
    let entries = td.ok("GET", "/api/v1/tournaments/{id}/entries", None).await;
    let winner = &entries.as_array().expect("entries")[0];
    assert_eq!(winner["busted"], false);
    assert_eq!(winner["place"], 1);
    let mut places: Vec<u64> = entries
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["place"].as_u64())
        .collect();
    places.sort();
    assert_eq!(places, (1..=68).collect::<Vec<u64>>());
    let results = td.ok("GET", "/api/v1/tournaments/{id}/results", None).await;
    assert_eq!(
        results["prize_pool"],
        68 * 50,
        "68 entries at 50 (information only)"
    );
    assert_eq!(results["field"], 68);
    let payouts = results["payouts"].as_array().expect("payouts");
    assert_eq!(payouts.len(), 10, "about 15 % of 68 paid");
    let paid: u64 = payouts.iter().filter_map(|p| p["amount"].as_u64()).sum();
    assert_eq!(paid, 68 * 50);
    assert_eq!(results["places"][0]["name"], winner["public_name"]);
    assert_eq!(results["places"][0]["payout"], payouts[0]["amount"]);
    assert_eq!(
        results["places"][10]["payout"], 0,
        "11th is out of the money"
    );
    let winner_name = first_name[winner["player_id"].as_str().expect("p")].clone();
    assert_eq!(winner["name"], winner_name.as_str());

    let csv = td.csv().await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 69, "a header and 68 entries");
    assert_eq!(
        lines[0],
        "place,name,public_name,reentry,rebuys,addons,chips,payout"
    );
    assert!(
        lines[1].starts_with(&format!("1,{winner_name},")),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with(&format!(",{}", payouts[0]["amount"])));

    // The log replays from empty into identical read tables.
    td.v.node.close().await;
    let (original, replayed) = common::dump_and_replay(&dir.path().join("pvm.db")).await;
    assert_eq!(original, replayed);
}
