//! What the node's benchmarks share: the clock, percentiles, bulk set-up
//! through group commit, and the raw-engine baseline measured in the same run.

#![allow(dead_code)] // each bench uses some of these

use pvm_shared::cash::CashCommand;
use pvm_shared::players::PlayerDetails;
use pvm_shared::venue::{Command, Game, Stakes, TableName};
use pvm_shared::Actor;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Appends many commands concurrently (group commit) to build the room fast.
pub async fn bulk(log: &pvm_node::store::Log, commands: Vec<Command>) {
    for chunk in commands.chunks(256) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|c| {
                let log = log.clone();
                tokio::spawn(async move { log.append(Actor::System, c).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("join").expect("setup append");
        }
    }
}

/// A raw libSQL database with the node's durability (WAL, synchronous=FULL),
/// for the baselines measured in the same run.
pub async fn raw_db(path: &std::path::Path) -> (libsql::Database, libsql::Connection) {
    let db = libsql::Builder::new_local(path)
        .build()
        .await
        .expect("raw db");
    let conn = db.connect().expect("connect");
    for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"] {
        drop(conn.query(pragma, ()).await.expect("pragma"));
    }
    (db, conn)
}

/// The raw engine on the same disk with the same durability: one-row commits.
pub async fn raw_commit_latencies(path: &std::path::Path) -> Vec<f64> {
    let (_db, conn) = raw_db(path).await;
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)", ())
        .await
        .expect("schema");
    let mut out = Vec::new();
    for i in 0..500i64 {
        let t = Instant::now();
        conn.execute(
            "INSERT INTO t (id, v) VALUES (?1, ?2)",
            libsql::params![i, vec![7u8; 300]],
        )
        .await
        .expect("insert");
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    out
}

/// `n` players "Player 00000"…, made in bulk; their ids in order.
pub async fn create_players(log: &pvm_node::store::Log, n: usize) -> Vec<Uuid> {
    let players: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    bulk(
        log,
        players
            .iter()
            .enumerate()
            .map(|(i, id)| Command::CreatePlayer {
                player_id: *id,
                details: PlayerDetails {
                    name: format!("Player {i:05}"),
                    nickname: None,
                    phone: None,
                    email: None,
                    notes: String::new(),
                },
            })
            .collect(),
    )
    .await;
    players
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A cash room: tables spread over game and stake combinations (a list
/// each, every table open), `waiting` players on the lists and `spare`
/// more in the directory.
pub struct CashRoom {
    pub tables: Vec<(Uuid, Game, Stakes)>,
    pub lists: Vec<Uuid>,
    pub players: Vec<Uuid>,
}

pub async fn cash_room(
    log: &pvm_node::store::Log,
    tables: usize,
    lists: usize,
    waiting: usize,
    spare: usize,
) -> CashRoom {
    let combos: Vec<(Game, Stakes)> = (0..lists)
        .map(|i| {
            let sb = 1 + (i / Game::ALL.len()) as u32;
            (
                Game::ALL[i % Game::ALL.len()],
                Stakes::new(sb, sb * 2).expect("stakes"),
            )
        })
        .collect();
    let made: Vec<(Uuid, Game, Stakes)> = (0..tables)
        .map(|t| {
            let (game, stakes) = combos[t % lists];
            (Uuid::now_v7(), game, stakes)
        })
        .collect();
    bulk(
        log,
        made.iter()
            .enumerate()
            .map(|(t, (id, game, stakes))| Command::CreateTable {
                table_id: *id,
                name: TableName::parse(&format!("T{t:03}")).expect("name"),
                game: *game,
                stakes: *stakes,
                seats: 9,
            })
            .collect(),
    )
    .await;
    bulk(
        log,
        made.iter()
            .map(|(id, ..)| Command::OpenTable { table_id: *id })
            .collect(),
    )
    .await;
    let list_ids: Vec<Uuid> = combos.iter().map(|_| Uuid::now_v7()).collect();
    bulk(
        log,
        combos
            .iter()
            .zip(&list_ids)
            .map(|((game, stakes), id)| {
                Command::Cash(CashCommand::CreateList {
                    list_id: *id,
                    game: *game,
                    stakes: *stakes,
                })
            })
            .collect(),
    )
    .await;
    let players = create_players(log, waiting + spare).await;
    bulk(
        log,
        (0..waiting)
            .map(|i| {
                Command::Cash(CashCommand::Join {
                    entry_id: Uuid::now_v7(),
                    list_id: list_ids[i % lists],
                    player_id: players[i],
                    at_ms: now_ms(),
                    call_in_until: None,
                })
            })
            .collect(),
    )
    .await;
    CashRoom {
        tables: made,
        lists: list_ids,
        players,
    }
}
