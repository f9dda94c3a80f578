//! The console of an operator with 200 venues (goal: p99 <= 100 ms), each
//! a registered node with 2,000 stored, signed events (tables made, opened
//! and closed: 400,000 events in all) and a heartbeat, in one pvm-cloud on
//! its libSQL file: `GET /api/v1/console` and the `/admin/console` page as
//! the operator's owner, 200 times each. The reference in the same run: a
//! raw query of the same rows (venues with their live node) on the same
//! file, and the same HTTP server's `/health` (the floor of one request).
//!
//! `cargo bench -p pvm-cloud --bench console`

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use pvm_cloud::store::{Database, NodeRow, OperatorRow, Store};
use pvm_shared::envelope::{Actor, Envelope, EnvelopeHeader};
use pvm_shared::EventKind;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

const VENUES: usize = 200;
const EVENTS: u64 = 2_000;
const TABLES: u64 = 20;
const ROUNDS: usize = 200;

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

/// A venue's events: its tables made, then opened and closed in turn.
fn events(venue: Uuid, node: Uuid) -> Vec<Envelope> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let mut prev = [0u8; 32];
    let table = |i: u64| Uuid::from_u128((u128::from(node.as_u64_pair().0) << 64) | u128::from(i));
    (1..=EVENTS)
        .map(|seq| {
            let kind: EventKind = if seq <= TABLES {
                serde_json::from_value(json!({"kind": "table_created", "payload": {
                    "table_id": table(seq), "name": format!("T{seq}"), "game": "nlhe",
                    "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}}))
                .expect("table_created")
            } else {
                let t = table(seq % TABLES + 1);
                let kind = if (seq / TABLES) % 2 == 1 {
                    "table_opened"
                } else {
                    "table_closed"
                };
                serde_json::from_value(json!({"kind": kind, "payload": {"table_id": t}}))
                    .expect("open/close")
            };
            let header = EnvelopeHeader {
                id: Uuid::now_v7(),
                venue_id: venue,
                node_id: node,
                seq,
                hlc: pvm_shared::Hlc {
                    wall_ms: 1_900_000_000_000 + seq,
                    counter: 0,
                },
                actor: Actor::System,
                schema: pvm_shared::SCHEMA_VERSION,
            };
            let mut env = Envelope::seal(header, &kind, prev);
            env.sign(&key);
            prev = env.hash;
            env
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!(
        "{name:<36} p50 {:>8.2} ms   p99 {:>8.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    p99
}

async fn run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud_dir = tmp.path().join("cloud");
    std::fs::create_dir_all(&cloud_dir).expect("dir");
    let file = Database::File(cloud_dir.join("cloud.db"));
    let started = Instant::now();
    let operator = Uuid::now_v7();
    {
        let store = Store::open(&file).await.expect("store");
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
            let (venue, node) = bench_venue(&db, Some(operator), &format!("Room {i:03}")).await;
            let envs = events(venue, node);
            let last = envs.last().expect("events");
            let head = NodeRow {
                node_id: node,
                venue_id: venue,
                public_key: {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(BENCH_NODE_KEY)
                        .expect("key")
                        .try_into()
                        .expect("32")
                },
                head_seq: EVENTS,
                head_hash: last.hash,
                verified_seq: EVENTS,
                retired: false,
                revoked: false,
            };
            db.store_batch(&envs, &[head], 3).await.expect("events");
            let beat =
                json!({"version": "0.1.0", "backlog": 0, "disk_free_mb": 50_000, "clock_ms": 1});
            db.record_heartbeat(node, &beat.to_string(), pvm_cloud::now_ms())
                .await
                .expect("heartbeat");
        }
    }
    println!(
        "made {VENUES} venues with {} events in {:.1} s",
        VENUES as u64 * EVENTS,
        started.elapsed().as_secs_f64()
    );
    let cloud = Cloud::start(&cloud_dir, &hub);
    let admin = cloud.client();
    let owner =
        json!({"username": "bench-owner", "password": "correct horse battery", "role": "owner"});
    let r = admin
        .post(format!("{}/api/v1/operators/{operator}/staff", cloud.url))
        .json(&owner)
        .send()
        .await
        .expect("owner");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
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
    // Wait until the hub folded every venue (its start folds what is stored).
    let folded = Instant::now();
    loop {
        let v: serde_json::Value = c
            .get(format!("{}/api/v1/console", cloud.url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("console")
            .json()
            .await
            .expect("json");
        let tables: u64 = v["venues"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["tables"].as_u64()).sum())
            .unwrap_or(0);
        if v["venues"].as_array().map(Vec::len) == Some(VENUES) && tables == VENUES as u64 * TABLES
        {
            break;
        }
        assert!(
            folded.elapsed() < Duration::from_secs(300),
            "not folded: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "the hub folded them in {:.1} s",
        folded.elapsed().as_secs_f64()
    );

    let time = |path: &'static str, bearer: bool| {
        let c = c.clone();
        let url = format!("{}{path}", cloud.url);
        let token = token.clone();
        async move {
            let mut times = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let t = Instant::now();
                let mut req = c.get(&url);
                if bearer {
                    req = req.bearer_auth(&token);
                }
                let body = req.send().await.expect("get").bytes().await.expect("body");
                assert!(!body.is_empty());
                times.push(t.elapsed());
            }
            times
        }
    };
    let health = report("GET /health (the floor)", time("/health", false).await);
    let api = report(
        "GET /api/v1/console (200 venues)",
        time("/api/v1/console", true).await,
    );
    // The page, as a browser signed in with the same session.
    let page_times = {
        let mut times = Vec::with_capacity(ROUNDS);
        let url = format!("{}/admin/console", cloud.url);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let body = c
                .get(&url)
                .header("cookie", format!("pvm_hub_session={token}"))
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("body");
            assert!(body.contains("Room 199"), "the page lists every venue");
            times.push(t.elapsed());
        }
        times
    };
    let page = report("GET /admin/console (200 venues)", page_times);
    // The reference: the same rows by a raw query on the same file.
    let raw = {
        let db = libsql::Builder::new_local(cloud_dir.join("cloud.db"))
            .build()
            .await
            .expect("open");
        let conn = db.connect().expect("connect");
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let mut rows = conn
                .query(
                    "SELECT v.id, v.name, n.node_id, n.head_seq, n.verified_seq, n.last_contact_ms, n.heartbeat \
                     FROM venues v LEFT JOIN nodes n ON n.venue_id = v.id AND n.retired_ms IS NULL \
                     WHERE v.operator_id = ?1 ORDER BY v.name",
                    [operator.to_string()],
                )
                .await
                .expect("query");
            let mut n = 0;
            while let Some(r) = rows.next().await.expect("row") {
                let _: String = r.get(1).expect("name");
                n += 1;
            }
            assert_eq!(n, VENUES);
            times.push(t.elapsed());
        }
        times
    };
    let raw = report("raw query of the same rows", raw);
    println!(
        "console p99 {:.1} ms (goal <= 100 ms): {}; {:.1}x the raw query's p99, {:.1}x /health's",
        api.as_secs_f64() * 1e3,
        if api <= Duration::from_millis(100) && page <= Duration::from_millis(100) {
            "met"
        } else {
            "NOT met"
        },
        api.as_secs_f64() / raw.as_secs_f64().max(1e-9),
        api.as_secs_f64() / health.as_secs_f64().max(1e-9),
    );
}
