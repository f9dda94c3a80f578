//! A report over a year of 20 venues (goal: p99 <= 1 s), on libSQL and
//! (`-- --postgres`) on PostgreSQL. Each venue is a registered node with a
//! year of signed events made by the domain's own `decide` (every day: four
//! tables opened and closed, 24 players joining the list, called, seated
//! and leaving, a ten-player tournament played to the end: 125 events a
//! day, 912,500 in all), stored, then folded by one pvm-cloud at its start.
//! `GET /api/v1/reports` over the whole year and all 20 venues, as the
//! operator's owner, 20 times. The reference in the same run: a raw query
//! of the same events on the same database (the events of the year by
//! kind, counted), and the same server's `/health`.
//!
//! `cargo bench -p pvm-cloud --bench reports [-- --postgres]`

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use pvm_cloud::store::{Database, NodeRow, OperatorRow, Store};
use pvm_shared::cash::CashCommand;
use pvm_shared::envelope::{Actor, Envelope, EnvelopeHeader};
use pvm_shared::tournament::play::PlayCommand;
use pvm_shared::venue::{Command, Game, Stakes, TableName, VenueState};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

const VENUES: usize = 20;
const DAYS: u64 = 365;
const ROUNDS: usize = 20;
/// 2025-01-01T00:00:00Z.
const FIRST_DAY_MS: u64 = 1_735_689_600_000;

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

/// A venue's events, made as a node makes them: each command decided
/// against the state, applied, sealed and signed.
struct Gen {
    state: VenueState,
    envs: Vec<Envelope>,
    prev: [u8; 32],
    seq: u64,
    venue: Uuid,
    node: Uuid,
    key: ed25519_dalek::SigningKey,
}

impl Gen {
    fn run(&mut self, command: Command, at_ms: u64) {
        let event = self
            .state
            .decide(&command)
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        self.state.apply(&event);
        self.seq += 1;
        let header = EnvelopeHeader {
            id: Uuid::now_v7(),
            venue_id: self.venue,
            node_id: self.node,
            seq: self.seq,
            hlc: pvm_shared::Hlc {
                wall_ms: at_ms,
                counter: 0,
            },
            actor: Actor::System,
            schema: pvm_shared::SCHEMA_VERSION,
        };
        let mut env = Envelope::seal(header, &event, self.prev);
        env.sign(&self.key);
        self.prev = env.hash;
        self.envs.push(env);
    }
}

fn id(venue: usize, kind: u128, n: u64) -> Uuid {
    Uuid::from_u128(((venue as u128 + 1) << 96) | (kind << 64) | u128::from(n))
}

/// A year of one venue.
fn year(i: usize, venue: Uuid, node: Uuid) -> Vec<Envelope> {
    let mut g = Gen {
        state: VenueState::default(),
        envs: Vec::new(),
        prev: [0; 32],
        seq: 0,
        venue,
        node,
        key: ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    };
    let t0 = FIRST_DAY_MS - 3_600_000;
    let mut settings =
        serde_json::to_value(pvm_shared::venue::VenueSettings::default()).expect("settings");
    settings["timezone"] = json!(["Europe/London", "America/New_York", "Asia/Tokyo"][i % 3]);
    g.run(
        Command::UpdateSettings(serde_json::from_value(settings).expect("settings")),
        t0,
    );
    let stakes = Stakes::new(1, 2).expect("stakes");
    for t in 0..4 {
        g.run(
            Command::CreateTable {
                table_id: id(i, 1, t),
                name: TableName::parse(&format!("T{t}")).expect("name"),
                game: Game::Nlhe,
                stakes,
                seats: 9,
            },
            t0,
        );
    }
    let list = id(i, 2, 0);
    g.run(
        Command::Cash(CashCommand::CreateList {
            list_id: list,
            game: Game::Nlhe,
            stakes,
        }),
        t0,
    );
    for p in 0..200 {
        g.run(
            Command::CreatePlayer {
                player_id: id(i, 3, p),
                details: pvm_shared::players::PlayerDetails {
                    name: format!("Player {p}"),
                    nickname: None,
                    phone: None,
                    email: None,
                    notes: String::new(),
                },
            },
            t0,
        );
    }
    let structure = pvm_shared::tournament::structure::templates()[0].clone();
    for day in 0..DAYS {
        let base = FIRST_DAY_MS + day * 86_400_000 + 17 * 3_600_000;
        for t in 0..4 {
            g.run(
                Command::OpenTable {
                    table_id: id(i, 1, t),
                },
                base + t * 60_000,
            );
        }
        for k in 0..24u64 {
            let at = base + 600_000 + k * 300_000;
            let entry = id(i, 4, day * 100 + k);
            let player = id(i, 3, (day * 7 + k) % 100);
            g.run(
                Command::Cash(CashCommand::Join {
                    entry_id: entry,
                    list_id: list,
                    player_id: player,
                    at_ms: at,
                    call_in_until: None,
                }),
                at,
            );
            g.run(
                Command::Cash(CashCommand::Call {
                    entry_id: entry,
                    at_ms: at + 600_000,
                }),
                at + 600_000,
            );
            g.run(
                Command::Cash(CashCommand::Seat {
                    player_id: player,
                    entry_id: Some(entry),
                    table_id: id(i, 1, k % 4),
                    seat: (k / 4 + 1) as u8,
                    at_ms: at + 660_000,
                }),
                at + 660_000,
            );
        }
        let tournament = id(i, 5, day);
        let at = base + 2 * 3_600_000;
        g.run(
            Command::CreateTournament {
                tournament_id: tournament,
                name: format!("Daily {day}"),
                structure: Box::new(structure.clone()),
                tables: 2,
                seats: 9,
            },
            at,
        );
        for b in 0..10 {
            g.run(
                Command::Tournament {
                    tournament_id: tournament,
                    command: PlayCommand::Register {
                        bullet_id: id(i, 6, day * 100 + b),
                        player_id: id(i, 3, 100 + (day + b) % 100),
                        seed: b,
                        at_ms: at as i64,
                        override_late_reg: false,
                    },
                },
                at,
            );
        }
        g.run(
            Command::Tournament {
                tournament_id: tournament,
                command: PlayCommand::Start { at_ms: at as i64 },
            },
            at,
        );
        for b in 0..9 {
            g.run(
                Command::Tournament {
                    tournament_id: tournament,
                    command: PlayCommand::Bust {
                        bullet_id: id(i, 6, day * 100 + b),
                    },
                },
                at + (b + 1) * 600_000,
            );
        }
        let end = base + 6 * 3_600_000;
        for k in 0..24u64 {
            g.run(
                Command::Cash(CashCommand::Leave {
                    table_id: id(i, 1, k % 4),
                    seat: (k / 4 + 1) as u8,
                }),
                end,
            );
        }
        for t in 0..4 {
            g.run(
                Command::CloseTable {
                    table_id: id(i, 1, t),
                },
                end + 60_000,
            );
        }
    }
    g.envs
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!(
        "{name:<48} p50 {:>9.2} ms   p99 {:>9.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    p99
}

async fn run() {
    let postgres = std::env::args().any(|a| a == "--postgres");
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud_dir = tmp.path().join("cloud");
    std::fs::create_dir_all(&cloud_dir).expect("dir");
    let pg = postgres.then(common::postgres::PgServer::start);
    let database = match &pg {
        Some(pg) => Database::Postgres(pg.new_database("hub")),
        None => Database::File(cloud_dir.join("cloud.db")),
    };
    let started = Instant::now();
    let operator = Uuid::now_v7();
    let mut total = 0u64;
    {
        let store = Store::open(&database).await.expect("store");
        let db = store.lock().await.expect("lock");
        db.insert_operator(&OperatorRow {
            id: operator,
            name: "Bench Poker".into(),
            created_ms: 1,
            alert_webhook: None,
        })
        .await
        .expect("operator");
        for i in 0..VENUES {
            let (venue, node) = bench_venue(&db, Some(operator), &format!("Room {i:02}")).await;
            let envs = year(i, venue, node);
            let key: [u8; 32] = {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(BENCH_NODE_KEY)
                    .expect("key")
                    .try_into()
                    .expect("32")
            };
            for chunk in envs.chunks(5_000) {
                let last = chunk.last().expect("events");
                let head = NodeRow {
                    node_id: node,
                    venue_id: venue,
                    public_key: key,
                    head_seq: last.header.seq,
                    head_hash: last.hash,
                    verified_seq: last.header.seq,
                    retired: false,
                    revoked: false,
                };
                db.store_batch(chunk, &[head], 3).await.expect("events");
            }
            total += envs.len() as u64;
        }
    }
    println!(
        "made {VENUES} venues x {DAYS} days: {total} events in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        if postgres { "PostgreSQL" } else { "libSQL" }
    );
    let folding = Instant::now();
    let db_arg = match &database {
        Database::Postgres(url) => url.clone(),
        Database::File(path) => path.display().to_string(),
    };
    let cloud = Cloud::start_with(&cloud_dir, &hub, None, &["--database", &db_arg]);
    println!(
        "pvm-cloud started (folding every event) in {:.1} s",
        folding.elapsed().as_secs_f64()
    );
    let admin = cloud.client();
    let owner =
        json!({"username": "bench-owner", "password": "correct horse battery", "role": "owner"});
    let r = admin
        .post(format!("{}/api/v1/operators/{operator}/staff", cloud.url))
        .json(&owner)
        .send()
        .await
        .expect("owner");
    assert!(r.status().is_success());
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/login", cloud.url))
        .json(&json!({"username": "bench-owner", "password": "correct horse battery"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("token").to_owned();
    let c = reqwest::Client::new();
    let year_url = format!("{}/api/v1/reports?from=2024-12-31&to=2026-01-01", cloud.url);
    let expected_tournaments = VENUES as u64 * DAYS;
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let v: serde_json::Value = c
            .get(&year_url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("report")
            .json()
            .await
            .expect("json");
        times.push(t.elapsed());
        assert_eq!(
            v["tournaments"]["count"].as_u64(),
            Some(expected_tournaments),
            "every tournament of the year in the report"
        );
    }
    let api = report("GET /api/v1/reports (20 venues, a year)", times);
    let mut health = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        c.get(format!("{}/health", cloud.url))
            .send()
            .await
            .expect("health");
        health.push(t.elapsed());
    }
    report("GET /health (the floor)", health);
    // The reference: the year's events of the same venues counted by kind,
    // by a raw query on the same database.
    const RAW: &str = "SELECT kind, COUNT(*) FROM events GROUP BY kind";
    let mut raw = Vec::with_capacity(ROUNDS);
    match &database {
        Database::File(path) => {
            let db = libsql::Builder::new_local(path)
                .build()
                .await
                .expect("open");
            let conn = db.connect().expect("connect");
            for _ in 0..ROUNDS {
                let t = Instant::now();
                let mut rows = conn.query(RAW, ()).await.expect("query");
                let mut n = 0i64;
                while let Some(r) = rows.next().await.expect("row") {
                    n += r.get::<i64>(1).expect("count");
                }
                assert_eq!(n as u64, total);
                raw.push(t.elapsed());
            }
        }
        Database::Postgres(url) => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            for _ in 0..ROUNDS {
                let t = Instant::now();
                let rows = client.query(RAW, &[]).await.expect("query");
                let n: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
                assert_eq!(n as u64, total);
                raw.push(t.elapsed());
            }
        }
    }
    let raw = report("raw query: the same events counted by kind", raw);
    println!(
        "report p99 {:.1} ms (goal <= 1,000 ms): {}; {:.3}x the raw query's p99",
        api.as_secs_f64() * 1e3,
        if api <= Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        },
        api.as_secs_f64() / raw.as_secs_f64().max(1e-9),
    );
}
