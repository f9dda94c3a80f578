//! The hub's libSQL file: venues, registration tokens, nodes with their
//! verified head, every event stored once on `(node_id, seq)`, and the
//! problems ingest found.

use libsql::Connection;
use std::path::Path;
use uuid::Uuid;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS venues (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reg_tokens (
    hash TEXT PRIMARY KEY,
    venue_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER
);
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY,
    venue_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    leaf_user TEXT NOT NULL,
    leaf_password TEXT NOT NULL,
    registered_ms INTEGER NOT NULL,
    head_seq INTEGER NOT NULL DEFAULT 0,
    head_hash BLOB NOT NULL DEFAULT x'0000000000000000000000000000000000000000000000000000000000000000',
    verified_seq INTEGER NOT NULL DEFAULT 0,
    last_contact_ms INTEGER,
    heartbeat TEXT,
    -- Set when `pvm-node resync` moved the venue to a new node id: this
    -- node's events are kept as they are but no longer folded.
    retired_ms INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    node_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    venue_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    envelope BLOB NOT NULL,
    PRIMARY KEY (node_id, seq)
) WITHOUT ROWID;
-- A venue's events, newest first, without scanning every venue's (the admin pages).
CREATE INDEX IF NOT EXISTS events_by_venue ON events (venue_id, seq);
CREATE TABLE IF NOT EXISTS problems (
    id INTEGER PRIMARY KEY,
    node_id TEXT,
    seq INTEGER,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    last_ms INTEGER
);
";

/// Columns added after the first release, for databases made before them.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("problems", "count", "INTEGER NOT NULL DEFAULT 1"),
    ("problems", "last_ms", "INTEGER"),
    ("nodes", "retired_ms", "INTEGER"),
];

/// The database and the one connection everything goes through, in turn
/// (one libSQL connection must not be used from many tasks at once).
pub struct Store {
    _db: libsql::Database,
    pub conn: tokio::sync::Mutex<Connection>,
}

impl Store {
    pub async fn open(path: &Path) -> anyhow::Result<Store> {
        let db = libsql::Builder::new_local(path).build().await?;
        let conn = db.connect()?;
        for pragma in [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=5000",
        ] {
            drop(conn.query(pragma, ()).await?);
        }
        conn.execute_batch(SCHEMA).await?;
        for (table, column, decl) in ADDED_COLUMNS {
            let mut rows = conn
                .query(
                    &format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"),
                    [*column],
                )
                .await?;
            if rows.next().await?.is_none() {
                drop(rows);
                conn.execute(
                    &format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"),
                    (),
                )
                .await?;
            }
        }
        Ok(Store {
            _db: db,
            conn: tokio::sync::Mutex::new(conn),
        })
    }
}

/// A node as the hub knows it.
#[derive(Debug, Clone)]
pub struct NodeRow {
    pub node_id: Uuid,
    pub venue_id: Uuid,
    pub public_key: [u8; 32],
    pub head_seq: u64,
    pub head_hash: [u8; 32],
    pub verified_seq: u64,
    /// Replaced by a resynced node: its events are kept, not folded.
    pub retired: bool,
}

pub async fn nodes(conn: &Connection) -> anyhow::Result<Vec<NodeRow>> {
    use base64::Engine;
    let mut rows = conn
        .query(
            "SELECT node_id, venue_id, public_key, head_seq, head_hash, verified_seq, retired_ms IS NOT NULL FROM nodes",
            (),
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let key = base64::engine::general_purpose::STANDARD.decode(r.get::<String>(2)?)?;
        let hash: Vec<u8> = r.get(4)?;
        out.push(NodeRow {
            node_id: r.get::<String>(0)?.parse()?,
            venue_id: r.get::<String>(1)?.parse()?,
            public_key: key.try_into().map_err(|_| anyhow::anyhow!("bad key"))?,
            head_seq: r.get::<i64>(3)? as u64,
            head_hash: hash.try_into().map_err(|_| anyhow::anyhow!("bad hash"))?,
            verified_seq: r.get::<i64>(5)? as u64,
            retired: r.get::<i64>(6)? != 0,
        });
    }
    Ok(out)
}

/// Adds problems, once per node and kind: a new kind for a node keeps its
/// first seq and detail; later ones of that kind add to its count and move
/// its last-seen time. One transaction.
pub async fn add_problems(
    conn: &Connection,
    grouped: &[(crate::ingest::Report, u64)],
    now_ms: i64,
) -> anyhow::Result<()> {
    let tx = conn.transaction().await?;
    for ((node, seq, kind, detail), n) in grouped {
        let node = node.map(|n| n.to_string());
        let updated = tx
            .execute(
                "UPDATE problems SET count = count + ?3, last_ms = ?4 WHERE node_id IS ?1 AND kind = ?2",
                libsql::params![node.clone(), *kind, *n as i64, now_ms],
            )
            .await?;
        if updated == 0 {
            tx.execute(
                "INSERT INTO problems (node_id, seq, kind, detail, at_ms, count, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)",
                libsql::params![node, seq.map(|s| s as i64), *kind, detail.clone(), now_ms, *n as i64],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
