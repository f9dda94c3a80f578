//! The writer's group commit under many callers at once: every batch's last
//! event carries a valid signature (big batches included), the log
//! verifies, the WAL starts over instead of growing, and a batch that fails
//! part-way leaves nothing behind, in the log or the read tables, while one
//! batch of table changes leaves each row as the log says. And SQLite is
//! built so that each connection keeps its own page cache.

mod common;

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

    // About 4,000 events' worth of frames at most (measured ~3.9 MB): the
    // writer's checkpoints let the WAL start over. Never restarted, it would
    // hold all ~13,000 (measured ~11.7 MB).
    let wal = std::fs::metadata(data.join(format!("{}-wal", pvm_node::store::DB_FILE)))
        .expect("the WAL file")
        .len();
    assert!(
        wal < 6 * 1024 * 1024,
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

/// A statement that fails part-way through a batch (a trigger refuses one
/// read-table update), while many callers append at once: when the batch
/// is written, the statements before the refused one have already run in
/// its transaction (at least its own group's first update), and all of it
/// is rolled back. Every caller told "stored" finds their event in the log,
/// no caller told otherwise does, the log has no gap and verifies, the read
/// tables agree with it, and appends after the failures are stored again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_failing_part_way_rolls_back_the_whole_batch() {
    const CALLERS: usize = 16;
    const ROUNDS: u32 = 30;
    /// Small blinds the trigger refuses.
    const REFUSED: u32 = 13;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::open(&dir.path().join("node"))
        .await
        .expect("node opens");
    let log = node.state.log.clone();
    let tables = create_tables(&log, CALLERS).await;
    let conn = node.db.connect().await.expect("connect");
    conn.execute(
        &format!(
            "CREATE TRIGGER refuse_13 BEFORE UPDATE OF small_blind ON poker_tables \
             WHEN NEW.small_blind = {REFUSED} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ),
        (),
    )
    .await
    .expect("trigger");

    let mut tasks = Vec::new();
    for (w, table_id) in tables.iter().copied().enumerate() {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let set = |small: u32| Command::SetTableGame {
                table_id,
                game: Game::Nlhe,
                stakes: Stakes::new(small, small * 2).expect("stakes"),
            };
            for i in 0..ROUNDS {
                // Every few rounds, the last round included, one caller
                // sends a group whose second update meets the trigger, so
                // its first has run in the transaction by then.
                if w == 0 && i % 5 == 4 {
                    let result = log
                        .append_all(
                            Actor::Staff("test".into()),
                            vec![set(100 + i), set(REFUSED)],
                        )
                        .await;
                    assert!(
                        matches!(result, Err(pvm_node::store::AppendError::Storage(_))),
                        "the refused group was not refused for storage: {result:?}"
                    );
                    outcomes.push((table_id, REFUSED, None));
                    continue;
                }
                let result = log.append(Actor::Staff("test".into()), set(100 + i)).await;
                match &result {
                    Ok(_) => {}
                    Err(pvm_node::store::AppendError::Storage(_)) => {}
                    Err(e) => panic!("unexpected answer: {e}"),
                }
                outcomes.push((table_id, 100 + i, result.ok().map(|c| c.seq)));
            }
            outcomes
        }));
    }
    let mut stored = std::collections::BTreeMap::new();
    let mut failed = 0;
    for t in tasks {
        for (table_id, small, seq) in t.await.expect("caller task") {
            match seq {
                Some(seq) => {
                    stored.insert(seq, (table_id, small));
                }
                None => failed += 1,
            }
        }
    }
    // More than the trigger's own appends failed: the others in their
    // batches (with 16 callers in step, ~16 per batch), or this test did
    // not test a batch rolled back.
    assert!(
        failed > (ROUNDS / 5) as usize,
        "only {failed} appends failed: the refused ones were alone in their batches"
    );

    let mut logged = std::collections::BTreeMap::new();
    // Each table's last change in the log: its small blind and seq.
    let mut last_change = std::collections::BTreeMap::new();
    let mut expect_seq = 0;
    for (seq, env) in whole_log(&node).await {
        expect_seq += 1;
        assert_eq!(
            seq, expect_seq,
            "the log has a gap or a repeat at seq {seq}"
        );
        match env.event().expect("reads") {
            pvm_shared::EventKind::TableGameSet {
                table_id, stakes, ..
            } => {
                logged.insert(seq, (table_id, stakes.small_blind()));
                last_change.insert(
                    table_id.to_string(),
                    (stakes.small_blind() as i64, seq as i64),
                );
            }
            pvm_shared::EventKind::TableCreated {
                table_id, stakes, ..
            } => {
                last_change.insert(
                    table_id.to_string(),
                    (stakes.small_blind() as i64, seq as i64),
                );
            }
            _ => {}
        }
    }
    assert_eq!(
        logged, stored,
        "the log holds exactly the appends whose callers were told they were stored"
    );
    // The read tables hold nothing of a batch rolled back either (the last
    // round's failed appends are each table's last word if they leaked).
    let mut rows = conn
        .query("SELECT id, small_blind, updated_seq FROM poker_tables", ())
        .await
        .expect("read tables");
    let mut read_tables = std::collections::BTreeMap::new();
    while let Some(row) = rows.next().await.expect("row") {
        read_tables.insert(
            row.get::<String>(0).expect("id"),
            (
                row.get::<i64>(1).expect("small blind"),
                row.get::<i64>(2).expect("seq"),
            ),
        );
    }
    assert_eq!(
        read_tables, last_change,
        "the read tables disagree with the log"
    );
    assert_eq!(
        verified_events(&node).await,
        (CALLERS + stored.len()) as u64
    );
    // The writer goes on after the failures.
    log.append(
        Actor::Staff("test".into()),
        Command::SetTableGame {
            table_id: tables[1],
            game: Game::Plo,
            stakes: Stakes::new(5, 10).expect("stakes"),
        },
    )
    .await
    .expect("an append after the failures is stored");
    node.close().await;
}

/// The state the writer publishes after a commit shares every part (the
/// settings, tables, staff, players, cash games, tournaments, templates,
/// displays, hub deliveries) with the state before unless the commit
/// changed it (publishing a big room's state copied thousands of records
/// per commit); a state already published never changes.
#[tokio::test]
async fn a_commit_copies_only_the_parts_of_the_state_it_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::open(&dir.path().join("node"))
        .await
        .expect("node opens");
    let log = node.state.log.clone();
    let player = |name: &str| pvm_shared::players::PlayerDetails {
        name: name.into(),
        nickname: None,
        phone: None,
        email: None,
        notes: String::new(),
    };
    let ann = Uuid::now_v7();
    log.append(
        Actor::Staff("test".into()),
        Command::CreatePlayer {
            player_id: ann,
            details: player("Ann Lee"),
        },
    )
    .await
    .expect("player");
    let before = log.venue();
    create_tables(&log, 1).await;
    let after_table = log.venue();
    assert_eq!(after_table.tables.len(), 1);
    assert!(
        std::sync::Arc::ptr_eq(&before.players, &after_table.players),
        "a commit that changed no player copied the player directory"
    );
    // Nor anything else it left alone; the tables it changed are new.
    let same = |a: &pvm_shared::venue::VenueState, b: &pvm_shared::venue::VenueState| {
        use std::sync::Arc;
        [
            ("settings", Arc::ptr_eq(&a.settings, &b.settings)),
            ("tables", Arc::ptr_eq(&a.tables, &b.tables)),
            ("staff", Arc::ptr_eq(&a.staff, &b.staff)),
            ("players", Arc::ptr_eq(&a.players, &b.players)),
            ("cash", Arc::ptr_eq(&a.cash, &b.cash)),
            ("tournaments", Arc::ptr_eq(&a.tournaments, &b.tournaments)),
            ("templates", Arc::ptr_eq(&a.templates, &b.templates)),
            ("displays", Arc::ptr_eq(&a.displays, &b.displays)),
            ("down", Arc::ptr_eq(&a.down, &b.down)),
        ]
        .into_iter()
        .filter(|(_, shared)| *shared)
        .map(|(part, _)| part)
        .collect::<Vec<_>>()
    };
    assert_eq!(
        same(&before, &after_table),
        [
            "settings",
            "staff",
            "players",
            "cash",
            "tournaments",
            "templates",
            "displays",
            "down"
        ],
        "a table's commit shares every part but the tables with the state before it"
    );
    log.append(
        Actor::Staff("test".into()),
        Command::UpdatePlayer {
            player_id: ann,
            details: player("Ann Park"),
        },
    )
    .await
    .expect("update");
    let after_update = log.venue();
    assert_eq!(after_update.players[&ann].name, "Ann Park");
    assert_eq!(
        same(&after_table, &after_update),
        [
            "settings",
            "tables",
            "staff",
            "cash",
            "tournaments",
            "templates",
            "displays",
            "down"
        ],
        "a player's commit shares every part but the players with the state before it"
    );
    // The states published before keep what they had.
    assert_eq!(before.players[&ann].name, "Ann Lee");
    assert_eq!(after_table.players[&ann].name, "Ann Lee");
    assert!(before.tables.is_empty());
    node.close().await;
}

/// One batch of table changes (two tables trading names by way of a
/// temporary one, which the unique name index must allow at every step; a
/// table's game and stakes set twice; statuses and a third table's name
/// changed) leaves each row as the log says: name, game, stakes, status and
/// the seq of its last table event. A replay of the log writes the same
/// rows, and the node reads the same tables back after a restart. (Kept
/// from a measured attempt to write a batch's table rows from the state in
/// one statement, which a name written from the end state would break:
/// docs/PERFORMANCE.md.)
#[tokio::test]
async fn one_batch_of_table_changes_leaves_each_row_as_the_log_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node");
    let node = Node::open(&path).await.expect("node opens");
    let log = node.state.log.clone();
    let t = create_tables(&log, 3).await;
    let name = |n: &str| TableName::parse(n).expect("name");
    let stakes = |s: u32| Stakes::new(s, 2 * s).expect("stakes");
    let commands = vec![
        Command::RenameTable {
            table_id: t[0],
            name: name("Swap"),
        },
        Command::RenameTable {
            table_id: t[1],
            name: name("Table 0"),
        },
        Command::RenameTable {
            table_id: t[0],
            name: name("Table 1"),
        },
        Command::SetTableGame {
            table_id: t[0],
            game: Game::Plo,
            stakes: stakes(5),
        },
        Command::SetTableGame {
            table_id: t[1],
            game: Game::Plo,
            stakes: stakes(2),
        },
        Command::OpenTable { table_id: t[1] },
        Command::SetTableGame {
            table_id: t[1],
            game: Game::Nlhe,
            stakes: stakes(3),
        },
        Command::StartTable { table_id: t[2] },
        Command::RenameTable {
            table_id: t[2],
            name: name("Feature"),
        },
    ];
    let committed = log
        .append_all(Actor::Staff("test".into()), commands)
        .await
        .expect("one batch");
    assert_eq!(committed.len(), 9);
    let seq = |i: usize| committed[i].seq as i64;
    let conn = node.db.connect().await.expect("connect");
    let mut rows = conn
        .query(
            "SELECT id, name, game, small_blind, big_blind, status, updated_seq FROM poker_tables ORDER BY id",
            (),
        )
        .await
        .expect("read tables");
    let mut got = Vec::new();
    while let Some(row) = rows.next().await.expect("row") {
        got.push((
            Uuid::parse_str(&row.get::<String>(0).expect("id")).expect("uuid"),
            row.get::<String>(1).expect("name"),
            row.get::<String>(2).expect("game"),
            row.get::<i64>(3).expect("small"),
            row.get::<i64>(4).expect("big"),
            row.get::<String>(5).expect("status"),
            row.get::<i64>(6).expect("seq"),
        ));
    }
    drop(rows);
    let mut want = vec![
        (
            t[0],
            "Table 1".into(),
            "plo".into(),
            5,
            10,
            "closed".into(),
            seq(3),
        ),
        (
            t[1],
            "Table 0".into(),
            "nlhe".into(),
            3,
            6,
            "open".into(),
            seq(6),
        ),
        (
            t[2],
            "Feature".into(),
            "nlhe".into(),
            1,
            2,
            "starting".into(),
            seq(8),
        ),
    ];
    want.sort();
    assert_eq!(got, want, "the read tables disagree with the batch");
    // The same as the state the writer published.
    let venue = log.venue();
    for (id, name, game, small, big, status, _) in &got {
        let table = &venue.tables[id];
        assert_eq!(
            (
                table.name.as_str(),
                table.game.code(),
                table.stakes.small_blind() as i64,
                table.stakes.big_blind() as i64,
                table.status.code()
            ),
            (name.as_str(), game.as_str(), *small, *big, status.as_str())
        );
    }
    drop(conn);
    node.close().await;

    // A replay of the log, one event per statement batch, writes the same rows.
    let (original, replayed) = common::dump_and_replay(&path.join("pvm.db")).await;
    assert!(
        original.contains("Feature"),
        "the dump holds the tables: {original}"
    );
    assert_eq!(original, replayed);

    // The state read back at start is the one the batch left.
    let node = Node::open(&path).await.expect("node reopens");
    let again = node.state.log.venue();
    assert_eq!(again.tables, venue.tables);
    node.close().await;
}
