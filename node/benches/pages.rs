//! Every staff page on a Saturday night at its biggest: 250 tables, 60
//! waiting lists with 1,500 players waiting, and a 2,500-entrant tournament
//! under way on 280 tables. Each page is fetched over HTTP on loopback with
//! a logged-in admin's session cookie (the whole path: TCP, session check,
//! the state snapshot, rendering), 100 times one after another; beside it,
//! the raw read of the same data: the SQL a page would need to fetch what it
//! shows, on a separate libSQL connection to the node's own database.
//! Goal (issue 15): every staff page p99 <= 50 ms.

use pvm_node::auth::{create_account, NewAdmin};
use pvm_node::ops::{self, players::Who, tournaments::Action};
use pvm_node::Node;
use pvm_shared::auth::Role;
use pvm_shared::tournament::structure::templates;
use pvm_shared::venue::Command;
use pvm_shared::Actor;
use std::time::Instant;
use support::{now_ms, percentile};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[path = "support/mod.rs"]
mod support;

const TABLES: usize = 250;
const LISTS: usize = 60;
const WAITING: usize = 1_500;
const ENTRANTS: usize = 2_500;
const TOURNAMENT_TABLES: u16 = 280;
const BUSTS: usize = 300;
const ROUNDS: usize = 100;
const GOAL_MS: f64 = 50.0;

fn main() {
    support::runtime().block_on(run());
}

fn staff() -> Actor {
    Actor::Staff("bench".into())
}

async fn run() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("node");
    let node = Node::open(&data).await.expect("node");
    let log = node.state.log.clone();
    let admin = NewAdmin {
        username: "boss".into(),
        display_name: "Boss".into(),
        role: Role::Admin,
        password: "boss-password-1".into(),
    };
    create_account(&log, &admin).await.expect("admin");
    let room = support::cash_room(&log, TABLES, LISTS, WAITING, ENTRANTS).await;

    // The tournament: 2,500 registered, seated by the opening draw, 300 out.
    let tournament_id = Uuid::now_v7();
    let create = Command::CreateTournament {
        tournament_id,
        name: "Main Event".into(),
        structure: Box::new(templates()[2].clone()),
        tables: TOURNAMENT_TABLES,
        seats: 9,
    };
    log.append(Actor::System, create).await.expect("create");
    for player in &room.players[WAITING..WAITING + ENTRANTS] {
        let entry = ops::tournaments::Entry {
            tournament_id,
            at_ms: now_ms() as i64,
            override_late_reg: false,
        };
        ops::tournaments::register(&log, staff(), Who::Known(*player), entry)
            .await
            .expect("register");
    }
    let play = |action: Action| {
        ops::tournaments::play(&log, staff(), now_ms() as i64, tournament_id, action)
    };
    play(Action::Start).await.expect("start");
    for _ in 0..BUSTS {
        let state = log.venue();
        let bullet_id = state.tournaments[&tournament_id]
            .alive()
            .map(|b| b.id)
            .next()
            .expect("someone left");
        drop(state);
        play(Action::Bust { bullet_id }).await.expect("bust");
    }

    // The node's HTTP server on loopback, and an admin's browser session.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let server = tokio::spawn(pvm_node::http::serve(
        listener,
        node.state.clone(),
        stop.clone(),
    ));
    let client = login(&url).await;

    let raw_db = libsql::Builder::new_local(data.join(pvm_node::store::DB_FILE))
        .build()
        .await
        .expect("raw db");
    let raw = raw_db.connect().expect("raw connect");
    let entries_sql = format!(
        "SELECT e.bullet_id, p.name, e.table_no, e.seat_no, e.busted, e.chips FROM tournament_entries e \
         JOIN players p ON p.id = e.player_id WHERE e.tournament_id = '{tournament_id}'"
    );
    let pages: Vec<(String, String)> = vec![
        ("/".into(), "SELECT id, name, game, small_blind, big_blind, seats, status FROM poker_tables".into()),
        (
            "/cash".into(),
            "SELECT e.id, e.list_id, p.name, e.joined_ms, e.deadline_ms FROM wait_entries e JOIN players p ON p.id = e.player_id \
             UNION ALL SELECT s.table_id, s.seat, p.name, s.since_ms, s.away_since FROM seats s JOIN players p ON p.id = s.player_id"
                .into(),
        ),
        ("/cash/rules".into(), "SELECT policy FROM cash_policy".into()),
        ("/players".into(), "SELECT id, name, nickname, phone FROM players ORDER BY name LIMIT 100".into()),
        (
            "/players?q=Player+0042".into(),
            "SELECT id, name, nickname, phone FROM players WHERE name LIKE '%Player 0042%' ORDER BY name LIMIT 100".into(),
        ),
        ("/tournaments".into(), "SELECT id, name, status, state FROM tournaments".into()),
        (format!("/tournaments/{tournament_id}"), entries_sql),
        ("/structures".into(), "SELECT name_key, structure FROM tournament_templates".into()),
        ("/screens".into(), "SELECT state FROM display_state".into()),
        ("/staff".into(), "SELECT id, username, display_name, role, enabled FROM staff_users".into()),
        ("/keys".into(), "SELECT id, user_id, name FROM api_keys".into()),
        ("/log".into(), "SELECT seq, id, kind, actor, envelope FROM events ORDER BY seq DESC LIMIT 50".into()),
        ("/settings".into(), "SELECT settings FROM venue_settings".into()),
    ];

    println!(
        "staff pages over HTTP: {TABLES} tables, {LISTS} lists, {} waiting, a {ENTRANTS}-entrant tournament ({} left), {ROUNDS} fetches each",
        log.venue().cash.entries.len(),
        ENTRANTS - BUSTS
    );
    println!(
        "  {:<40} {:>8} {:>8} {:>9} {:>9} {:>8} {:>6}",
        "page", "p50 ms", "p99 ms", "raw p99", "p99/raw", "KB", "rows"
    );
    let mut worst: f64 = 0.0;
    for (path, sql) in &pages {
        let mut page_ms = Vec::with_capacity(ROUNDS);
        let mut bytes = 0;
        for round in 0..ROUNDS + 5 {
            let t = Instant::now();
            let resp = client
                .get(format!("{url}{path}"))
                .send()
                .await
                .expect("page");
            let status = resp.status();
            let body = resp.bytes().await.expect("body");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(status.as_u16(), 200, "{path}");
            bytes = body.len();
            if round >= 5 {
                page_ms.push(ms);
            }
        }
        let mut raw_ms = Vec::with_capacity(ROUNDS);
        let mut rows_read = 0;
        for round in 0..ROUNDS + 5 {
            let t = Instant::now();
            let mut rows = raw.query(sql, ()).await.expect("raw query");
            let mut n = 0;
            while let Some(row) = rows.next().await.expect("raw row") {
                for i in 0..row.column_count() {
                    let _ = row.get_value(i).expect("value");
                }
                n += 1;
            }
            let ms = t.elapsed().as_secs_f64() * 1e3;
            rows_read = n;
            if round >= 5 {
                raw_ms.push(ms);
            }
        }
        let (p50, p99) = (
            percentile(&mut page_ms, 0.5),
            percentile(&mut page_ms, 0.99),
        );
        let raw_p99 = percentile(&mut raw_ms, 0.99);
        worst = worst.max(p99);
        let shown: String = path.chars().take(40).collect();
        println!(
            "  {shown:<40} {p50:8.2} {p99:8.2} {raw_p99:9.2} {:9.1} {:8} {rows_read:6}",
            p99 / raw_p99,
            bytes / 1024
        );
    }
    println!(
        "  target: every staff page p99 <= {GOAL_MS} ms [{}] (worst {worst:.2} ms)",
        if worst <= GOAL_MS { "met" } else { "NOT MET" }
    );
    stop.cancel();
    let _ = server.await;
    node.close().await;
}

/// Logs in through the login form, as a browser does; the client keeps the cookie.
async fn login(url: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = c
        .get(format!("{url}/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("text");
    let marker = "name=\"_csrf\" value=\"";
    let csrf = page
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login page has a CSRF field")
        .to_owned();
    let resp = c
        .post(format!("{url}/login"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("username", "boss"),
            ("secret", "boss-password-1"),
            ("method", "password"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(
        resp.status().as_u16(),
        303,
        "the login form refused the admin"
    );
    c
}
