//! Event append throughput through the full node path, against raw libSQL.
//!
//! In one run, on one disk, with the same synchronous=FULL setting:
//! - raw: libSQL inserts of rows the size of a real event row, 1,000 per transaction;
//! - node: 32 concurrent writers appending through `Log::append` (decide,
//!   envelope, hash, sign, project, commit), each acknowledged after its commit;
//!   raw and node alternate for `ROUNDS` rounds, each round's ratio taken
//!   from its own pair, and the median round is the figure (on this VM the
//!   node's rate moves by ±15% from one second to the next, with where its
//!   threads land on the two vCPUs: an idle vCPU halts, and waking a thread
//!   on it takes 15-35 µs; one raw run against one node run measured that
//!   as much as the node);
//! - node: the same 32 writers with 4 appends each in flight (a burst), where
//!   the next batch's appends are already waiting when the last commit
//!   returns;
//! - node with one writer, for scale.
//!
//! Prints events/s and the ratio to raw. Targets (DESIGN.md): node ≥ 50,000
//! events/s and ≥ 0.25 of raw. `PVM_BENCH_EVENTS` sets the node event count.

mod support;

use pvm_node::Node;
use pvm_shared::venue::{Command, Game, Stakes, TableName};
use pvm_shared::Actor;
use std::time::Instant;
use uuid::Uuid;

const WRITERS: usize = 32;
/// Alternating raw and node rounds in the closed-loop comparison.
const ROUNDS: usize = 7;
/// Raw rows per round.
const RAW_ROWS: usize = 100_000;
const RAW_BATCH: usize = 1_000;
/// Appends each writer keeps in flight in the burst run.
const IN_FLIGHT: usize = 4;

/// The node binary's allocator (`node/src/main.rs`), for the raw runs too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // SAFETY: called first, before any other thread exists.
    unsafe { pvm_node::allocator::configure() };
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
        .unwrap_or(224_000);
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

    // --- raw libSQL and the node's 32 concurrent writers, alternating ---
    let mut raw = Raw::open(&dir.path().join("raw.db"), row_bytes).await;
    let per_writer = events / WRITERS / ROUNDS;
    let mut rounds = Vec::with_capacity(ROUNDS);
    let commits_before = commit_count(&node);
    let mut node_time = 0.0;
    for round in 0..ROUNDS {
        let raw_rate = raw.insert(RAW_BATCH, RAW_ROWS).await;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (w, table_id) in tables.iter().copied().enumerate() {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per_writer {
                    log.append(
                        Actor::Staff(format!("bench-{w}")),
                        game_command(table_id, round * per_writer + i),
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
        node_time += took;
        let node_rate = (per_writer * WRITERS) as f64 / took;
        rounds.push((raw_rate, node_rate, node_rate / raw_rate));
    }
    let total = per_writer * WRITERS * ROUNDS;
    let commits = commit_count(&node) - commits_before;
    let node_rate = total as f64 / node_time;
    let mut by_ratio = rounds.clone();
    by_ratio.sort_by(|a, b| a.2.total_cmp(&b.2));
    let (raw_rate, median_node, ratio) = by_ratio[ROUNDS / 2];

    // The disk's flush rate: one row per durable commit. 32 closed-loop
    // writers can never exceed 32 x this, whatever the CPU does.
    let flush_rate = Raw::open(&dir.path().join("raw1.db"), row_bytes)
        .await
        .insert(1, 2_000)
        .await;
    // The most 32 closed-loop writers can put in one commit is 32 events:
    // raw libSQL committing 32 rows at a time (nothing else: no event made,
    // sealed or projected) is what any design acknowledging after the fsync
    // could reach in that loop.
    let raw_closed_rate = Raw::open(&dir.path().join("raw32.db"), row_bytes)
        .await
        .insert(WRITERS, WRITERS * 1_000)
        .await;
    let per_writer = events / WRITERS;
    let total_burst = per_writer * WRITERS;

    // --- node, 32 writers with 4 appends each in flight (a burst: staff,
    // timers and downstream at once), where the next batch's appends are
    // already waiting when the last commit returns ---
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
    let burst_rate = total_burst as f64 / start.elapsed().as_secs_f64();
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

    println!("event append benchmark (synchronous=FULL, WAL, this machine, one run)");
    println!("  event row size                     {row_bytes} bytes");
    for (i, (raw, node, ratio)) in rounds.iter().enumerate() {
        println!("  round {}: raw libSQL {raw:>7.0} rows/s ({RAW_BATCH} rows/tx), node {node:>6.0} events/s ({WRITERS} writers), ratio {ratio:.3}", i + 1);
    }
    println!("  raw libSQL, {RAW_BATCH} rows/tx (median round) {raw_rate:>10.0} rows/s");
    println!("  node, {WRITERS} writers (median round)    {median_node:>10.0} events/s  (all rounds: {node_rate:.0} events/s, {total} events, {:.1} events/commit)", total as f64 / commits.max(1) as f64);
    println!("  node, {WRITERS} writers x {IN_FLIGHT} in flight      {burst_rate:>10.0} events/s  ({total_burst} events, {:.1} events/commit, ratio to median raw {:.3})", total_burst as f64 / burst_commits.max(1) as f64, burst_rate / raw_rate);
    println!("  node, 1 writer                     {single_rate:>10.0} events/s");
    println!(
        "  ratio node/raw (median of {ROUNDS} rounds) {ratio:>6.3}  (rounds {:.3}-{:.3})",
        by_ratio[0].2,
        by_ratio[ROUNDS - 1].2
    );
    println!("  raw libSQL, 1 row/tx (disk flushes) {flush_rate:>9.0} commits/s (upper bound for {WRITERS} closed-loop writers: {:.0} events/s)", flush_rate * WRITERS as f64);
    println!(
        "  node as share of that bound        {:>10.3}",
        median_node / (flush_rate * WRITERS as f64)
    );
    println!(
        "  raw libSQL, {WRITERS} rows/tx (the most a {WRITERS}-writer closed loop commits at once) {raw_closed_rate:>9.0} rows/s, ratio to raw {:.3}; node as share of it {:.3}",
        raw_closed_rate / raw_rate,
        median_node / raw_closed_rate
    );
    println!(
        "  targets: ≥ 50000 events/s [{}], ratio ≥ 0.25 [{}]",
        if median_node >= 50_000.0 {
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

/// Raw libSQL: one table shaped like the log, appended to round after round.
struct Raw {
    conn: libsql::Connection,
    seq: i64,
    blob: Vec<u8>,
    _db: libsql::Database,
}

impl Raw {
    async fn open(path: &std::path::Path, row_bytes: usize) -> Raw {
        let (db, conn) = support::raw_db(path).await;
        conn.execute_batch(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
             hlc_ms INTEGER NOT NULL, hlc_ctr INTEGER NOT NULL, actor TEXT NOT NULL, envelope BLOB NOT NULL)",
        )
        .await
        .expect("schema");
        Raw {
            conn,
            seq: 0,
            blob: vec![0xA5u8; row_bytes.saturating_sub(80)],
            _db: db,
        }
    }

    /// Inserts `rows` rows, `batch` per transaction; rows/s.
    async fn insert(&mut self, batch: usize, rows: usize) -> f64 {
        let start = Instant::now();
        let mut done = 0;
        while done < rows {
            let tx = self.conn.transaction().await.expect("tx");
            {
                let stmt = tx
                    .prepare("INSERT INTO events (seq, id, kind, hlc_ms, hlc_ctr, actor, envelope) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                    .await
                    .expect("prepare");
                for _ in 0..batch {
                    self.seq += 1;
                    done += 1;
                    stmt.execute(libsql::params![
                        self.seq,
                        Uuid::now_v7().to_string(),
                        "table_game_set",
                        self.seq,
                        0,
                        "staff:bench",
                        self.blob.clone()
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
}
