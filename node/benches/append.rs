//! Event append throughput through the full node path, against raw libSQL.
//!
//! In one run, on one disk, with the same synchronous=FULL setting:
//! - raw: libSQL inserts of rows the size of a real event row, 1,000 per transaction;
//! - node: 32 concurrent writers appending through `Log::append` (decide,
//!   envelope, hash, sign, project, commit), each acknowledged after its commit;
//! - node: the same 32 writers with 4 appends each in flight (a burst), where
//!   sealing the next batch overlaps the last commit's fsync;
//! - node with one writer, for scale.
//!
//! Prints events/s and the ratio to raw. Targets (DESIGN.md): node ≥ 50,000
//! events/s and ≥ 0.25 of raw. `PVM_BENCH_EVENTS` sets the node event count.

use pvm_node::Node;
use pvm_shared::venue::{Command, Game, Stakes, TableName};
use pvm_shared::Actor;
use std::time::Instant;
use uuid::Uuid;

const WRITERS: usize = 32;
const RAW_ROWS: usize = 300_000;
const RAW_BATCH: usize = 1_000;
/// Appends each writer keeps in flight in the burst run.
const IN_FLIGHT: usize = 4;

/// The node binary's allocator (`node/src/main.rs`), for the raw runs too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // As `node/src/main.rs` sets it (`mi_option_purge_delay`).
    // SAFETY: called first, before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(15, 1_000) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

fn game_command(table_id: Uuid, i: usize) -> Command {
    let small = (i % 50) as u32 + 1;
    Command::SetTableGame {
        table_id,
        game: if i.is_multiple_of(2) {
            Game::Nlhe
        } else {
            Game::Plo
        },
        stakes: Stakes::new(small, small * 2).expect("stakes"),
    }
}

async fn run() {
    let events: usize = std::env::var("PVM_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::open(&dir.path().join("node"))
        .await
        .expect("node opens");
    let log = node.state.log.clone();

    let mut tables = Vec::new();
    for w in 0..WRITERS {
        let table_id = Uuid::now_v7();
        log.append(
            Actor::Staff("bench".into()),
            Command::CreateTable {
                table_id,
                name: TableName::parse(&format!("Table {w}")).expect("name"),
                game: Game::Nlhe,
                stakes: Stakes::new(1, 2).expect("stakes"),
                seats: 9,
            },
        )
        .await
        .expect("create table");
        tables.push(table_id);
    }

    // A real event row, to size the raw rows like it.
    let sample = node
        .state
        .reader
        .events_after(0, 1)
        .await
        .expect("read")
        .pop()
        .expect("one event")
        .1;
    let row_bytes = sample.len();

    // --- raw libSQL, same file system, same synchronous setting ---
    let raw_rate = raw_inserts(&dir.path().join("raw.db"), row_bytes, RAW_BATCH, RAW_ROWS).await;
    // The disk's flush rate: one row per durable commit. 32 closed-loop
    // writers can never exceed 32 x this, whatever the CPU does.
    let flush_rate = raw_inserts(&dir.path().join("raw1.db"), row_bytes, 1, 2_000).await;
    // The most 32 closed-loop writers can put in one commit is 32 events:
    // raw libSQL committing 32 rows at a time (nothing else: no event made,
    // sealed or projected) is what any design acknowledging after the fsync
    // could reach in that loop.
    let raw_closed_rate = raw_inserts(
        &dir.path().join("raw32.db"),
        row_bytes,
        WRITERS,
        WRITERS * 1_000,
    )
    .await;

    // --- node, 32 concurrent writers ---
    let commits_before = commit_count(&node);
    let per_writer = events / WRITERS;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (w, table_id) in tables.iter().copied().enumerate() {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                log.append(
                    Actor::Staff(format!("bench-{w}")),
                    game_command(table_id, i),
                )
                .await
                .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let took = start.elapsed().as_secs_f64();
    let total = per_writer * WRITERS;
    let node_rate = total as f64 / took;
    let commits = commit_count(&node) - commits_before;

    // --- node, 32 writers with 4 appends each in flight (a burst: staff,
    // timers and downstream at once), where the next batch can be sealed
    // while the last one's commit flushes ---
    let commits_before = commit_count(&node);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (w, table_id) in tables.iter().copied().enumerate() {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            use futures_util::stream::{FuturesUnordered, StreamExt};
            let mut in_flight = FuturesUnordered::new();
            for i in 0..per_writer {
                let log = log.clone();
                in_flight.push(async move {
                    log.append(
                        Actor::Staff(format!("bench-{w}")),
                        game_command(table_id, i),
                    )
                    .await
                });
                if in_flight.len() == IN_FLIGHT {
                    in_flight.next().await.expect("one").expect("append");
                }
            }
            while let Some(r) = in_flight.next().await {
                r.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let burst_rate = total as f64 / start.elapsed().as_secs_f64();
    let burst_commits = commit_count(&node) - commits_before;

    // --- node, one writer ---
    let single_n = 5_000;
    let start = Instant::now();
    for i in 0..single_n {
        log.append(Actor::Staff("bench".into()), game_command(tables[0], i))
            .await
            .expect("append");
    }
    let single_rate = single_n as f64 / start.elapsed().as_secs_f64();

    let ratio = node_rate / raw_rate;
    println!("event append benchmark (synchronous=FULL, WAL, this machine, one run)");
    println!("  event row size                     {row_bytes} bytes");
    println!("  raw libSQL, {RAW_BATCH} rows/tx             {raw_rate:>10.0} rows/s");
    println!("  node, {WRITERS} writers (group commit)     {node_rate:>10.0} events/s  ({total} events, {:.1} events/commit)", total as f64 / commits.max(1) as f64);
    println!("  node, {WRITERS} writers x {IN_FLIGHT} in flight      {burst_rate:>10.0} events/s  ({total} events, {:.1} events/commit, ratio to raw {:.3})", total as f64 / burst_commits.max(1) as f64, burst_rate / raw_rate);
    println!("  node, 1 writer                     {single_rate:>10.0} events/s");
    println!("  ratio node/raw                     {ratio:>10.3}");
    println!("  raw libSQL, 1 row/tx (disk flushes) {flush_rate:>9.0} commits/s (upper bound for {WRITERS} closed-loop writers: {:.0} events/s)", flush_rate * WRITERS as f64);
    println!(
        "  node as share of that bound        {:>10.3}",
        node_rate / (flush_rate * WRITERS as f64)
    );
    println!(
        "  raw libSQL, {WRITERS} rows/tx (the most a {WRITERS}-writer closed loop commits at once) {raw_closed_rate:>9.0} rows/s, ratio to raw {:.3}; node as share of it {:.3}",
        raw_closed_rate / raw_rate,
        node_rate / raw_closed_rate
    );
    println!(
        "  targets: ≥ 50000 events/s [{}], ratio ≥ 0.25 [{}]",
        if node_rate >= 50_000.0 {
            "met"
        } else {
            "NOT MET"
        },
        if ratio >= 0.25 { "met" } else { "NOT MET" }
    );
    node.close().await;
}

fn commit_count(node: &Node) -> u64 {
    node.state
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("pvm_event_commits_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn raw_inserts(path: &std::path::Path, row_bytes: usize, batch: usize, rows: usize) -> f64 {
    let db = libsql::Builder::new_local(path)
        .build()
        .await
        .expect("raw db");
    let conn = db.connect().expect("connect");
    for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"] {
        let rows = conn.query(pragma, ()).await.expect("pragma");
        drop(rows);
    }
    conn.execute_batch(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
         hlc_ms INTEGER NOT NULL, hlc_ctr INTEGER NOT NULL, actor TEXT NOT NULL, envelope BLOB NOT NULL)",
    )
    .await
    .expect("schema");
    let blob = vec![0xA5u8; row_bytes.saturating_sub(80)];
    let start = Instant::now();
    let mut seq = 0i64;
    while (seq as usize) < rows {
        let tx = conn.transaction().await.expect("tx");
        {
            let stmt = tx
                .prepare("INSERT INTO events (seq, id, kind, hlc_ms, hlc_ctr, actor, envelope) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .await
                .expect("prepare");
            for _ in 0..batch {
                seq += 1;
                stmt.execute(libsql::params![
                    seq,
                    Uuid::now_v7().to_string(),
                    "table_game_set",
                    seq,
                    0,
                    "staff:bench",
                    blob.clone()
                ])
                .await
                .expect("insert");
                stmt.reset();
            }
        }
        tx.commit().await.expect("commit");
    }
    rows as f64 / start.elapsed().as_secs_f64()
}
