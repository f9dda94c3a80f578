//! The writer's group commit under many callers at once: every batch's last
//! event carries a valid signature (big batches included), the log
//! verifies, and the WAL starts over instead of growing. And SQLite is built
//! so that each connection keeps its own page cache.

use pvm_node::Node;
use pvm_shared::envelope::Envelope;
use pvm_shared::venue::{Command, Game, Stakes, TableName};
use pvm_shared::Actor;
use uuid::Uuid;

const WRITERS: usize = 32;
const PER_WRITER: usize = 400;

/// Creates `n` tables ("Table 0", …), one append each; their ids.
async fn create_tables(log: &pvm_node::store::Log, n: usize) -> Vec<Uuid> {
    let mut tables = Vec::with_capacity(n);
    for w in 0..n {
        let table_id = Uuid::now_v7();
        log.append(
            Actor::Staff("test".into()),
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
    tables
}

/// Every event of the node's log, in seq order, decoded.
async fn whole_log(node: &Node) -> Vec<(u64, Envelope)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = node
            .state
            .reader
            .events_after(after, 1000)
            .await
            .expect("read");
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (seq, bytes) in page {
            out.push((seq, Envelope::decode(&bytes).expect("decodes")));
        }
    }
    out
}

/// How many events the node's log holds, once it verifies (chain, seqs,
/// signatures).
async fn verified_events(node: &Node) -> u64 {
    node.state
        .reader
        .verify_log(
            node.state.identity.key.verifying_key(),
            node.state.identity.node_id,
            node.state.identity.venue_id,
        )
        .await
        .expect("read")
        .expect("the log verifies")
        .events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_batches_are_signed_and_the_wal_starts_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let node = Node::open(&data).await.expect("node opens");
    let log = node.state.log.clone();
    let tables = create_tables(&log, WRITERS).await;
    let mut tasks = Vec::new();
    for table_id in tables {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let small = (i % 50) as u32 + 1;
                log.append(
                    Actor::Staff("test".into()),
                    Command::SetTableGame {
                        table_id,
                        game: Game::Plo,
                        stakes: Stakes::new(small, small * 2).expect("stakes"),
                    },
                )
                .await
                .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }

    let total = (WRITERS * (PER_WRITER + 1)) as u64;
    let commits: u64 = node
        .state
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("pvm_event_commits_total "))
        .and_then(|v| v.parse().ok())
        .expect("commit count in /metrics");
    assert!(
        commits < total / 4,
        "{total} appends from {WRITERS} callers took {commits} commits: they were not grouped"
    );

    // Every commit signs its last event; every signature is the node's.
    let key = node.state.identity.key.verifying_key();
    let mut signed = 0u64;
    // The largest batch, seen as the most events from one signature to the next.
    let (mut last_signed, mut largest_batch) = (0u64, 0u64);
    for (seq, env) in whole_log(&node).await {
        if env.sig.is_some() {
            assert!(env.signature_valid(&key), "event {seq}: bad signature");
            signed += 1;
            largest_batch = largest_batch.max(seq - last_signed);
            last_signed = seq;
        }
    }
    // The callers were grouped into big batches, each signed once.
    assert!(
        largest_batch >= 9,
        "no batch reached 9 events (largest {largest_batch}): the appends were not grouped"
    );
    assert!(
        signed >= commits,
        "{commits} commits but only {signed} signed events"
    );
    assert_eq!(verified_events(&node).await, total);

    // About 1,000 events' worth of frames at most: the writer's checkpoints
    // let the WAL start over. Never restarted, it would hold all ~13,000.
    let wal = std::fs::metadata(data.join(format!("{}-wal", pvm_node::store::DB_FILE)))
        .expect("the WAL file")
        .len();
    assert!(
        wal < 3 * 1024 * 1024,
        "the WAL grew to {wal} bytes over {total} events"
    );
    node.close().await;
}

/// libSQL turns on SQLITE_ENABLE_MEMORY_MANAGEMENT, which pools every
/// connection's page cache: a reader that reads a lot then takes the
/// writer's pages, and the writer drops each page as soon as it lets go of
/// it (measured: ~12 page reads from the WAL per 32-event commit, against
/// ~3 without). `.cargo/config.toml` undefines it for the build.
#[tokio::test]
async fn each_connection_keeps_its_own_page_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = libsql::Builder::new_local(dir.path().join("options.db"))
        .build()
        .await
        .expect("open");
    let conn = db.connect().expect("connect");
    let mut rows = conn
        .query("PRAGMA compile_options", ())
        .await
        .expect("compile options");
    let mut options = Vec::new();
    while let Some(row) = rows.next().await.expect("row") {
        options.push(row.get::<String>(0).expect("text"));
    }
    // Read the list right: it names options as they were compiled in.
    assert!(
        options.iter().any(|o| o == "THREADSAFE=1"),
        "unexpected compile options: {options:?}"
    );
    assert!(
        !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
        "SQLite was built with one shared page cache for all connections \
         (LIBSQLITE3_FLAGS in .cargo/config.toml not applied?): {options:?}"
    );
}

/// Groups refused at their second command, sent among accepted appends by
/// many callers at once (so within the same batches): nothing of them is
/// stored, every accepted append is, and the chain, sealed as appends
/// arrive, verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_refused_part_way_leave_no_trace_in_the_chain() {
    const CALLERS: usize = 16;
    const ROUNDS: usize = 25;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::open(&dir.path().join("node"))
        .await
        .expect("node opens");
    let log = node.state.log.clone();
    let actor = || Actor::Staff("test".into());
    let set = |table_id, small: u32| Command::SetTableGame {
        table_id,
        game: Game::Nlhe,
        stakes: Stakes::new(small, small * 2).expect("stakes"),
    };
    let tables = create_tables(&log, CALLERS).await;
    let mut tasks = Vec::new();
    for table_id in tables {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..ROUNDS {
                let small = 2 * (i as u32 % 40) + 2;
                log.append(actor(), set(table_id, small))
                    .await
                    .expect("accepted before the group");
                // Stakes 999 only ever appear in a refused group.
                let refused = log
                    .append_all(actor(), vec![set(table_id, 999), set(Uuid::now_v7(), 5)])
                    .await;
                assert!(
                    matches!(refused, Err(pvm_node::store::AppendError::Rejected(_))),
                    "a group with an unknown table was not refused: {refused:?}"
                );
                log.append(actor(), set(table_id, small + 1))
                    .await
                    .expect("accepted after the group");
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller task");
    }

    let total = (CALLERS * (1 + 2 * ROUNDS)) as u64;
    let refused_stakes = Stakes::new(999, 1998).expect("stakes");
    let mut seen = 0u64;
    for (seq, env) in whole_log(&node).await {
        seen += 1;
        assert_eq!(seq, seen, "the log has a gap or a repeat at seq {seq}");
        if let pvm_shared::EventKind::TableGameSet { stakes, .. } = env.event().expect("reads") {
            assert_ne!(
                stakes, refused_stakes,
                "event {seq} is from a refused group"
            );
        }
    }
    assert_eq!(seen, total, "accepted appends missing from the log");
    assert_eq!(verified_events(&node).await, total);
    node.close().await;
}
