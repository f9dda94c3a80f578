//! The hub's libSQL file: venues, registration tokens, nodes with their
//! verified head, every event stored once on `(node_id, seq)`, and the
//! problems ingest found. Every SQL statement of the hub is here, behind
//! [`Store::lock`]: the rest of the hub speaks in domain methods (this is
//! where another storage backend plugs in).

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
    conn: tokio::sync::Mutex<Connection>,
}

/// The store, held: what is done through one `Locked` is not interleaved
/// with anyone else's (registration checks and commits under one hold).
pub struct Locked<'a>(tokio::sync::MutexGuard<'a, Connection>);

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

    /// Holds the store until the returned value is dropped.
    pub async fn lock(&self) -> Locked<'_> {
        Locked(self.conn.lock().await)
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

/// A venue as the admin list shows it, with its live node's figures.
#[derive(Debug, Clone)]
pub struct VenueListing {
    pub id: String,
    pub name: String,
    pub node_id: Option<String>,
    pub head_seq: Option<i64>,
    pub verified_seq: i64,
    pub last_contact_ms: Option<i64>,
    pub heartbeat: Option<String>,
    pub events: i64,
}

/// A node as the admin list shows it.
#[derive(Debug, Clone)]
pub struct NodeListing {
    pub node_id: String,
    pub venue_id: String,
    pub head_seq: i64,
    pub verified_seq: i64,
    pub last_contact_ms: Option<i64>,
    pub heartbeat: Option<String>,
    pub retired_ms: Option<i64>,
}

/// A registration token: its venue, when it expires, whether it was used.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub venue_id: String,
    pub expires_ms: i64,
    pub used: bool,
}

/// What `resync` checks about the node it replaces.
#[derive(Debug, Clone)]
pub struct ResyncNode {
    pub venue_id: String,
    pub public_key: String,
    pub leaf_user: String,
    pub leaf_hash: String,
    pub retired: bool,
}

/// (count, first seq, last seq, verified seq, latest 50 as (seq, kind, verified)).
pub type EventsSummary = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Vec<(i64, String, bool)>,
);

/// A kind of problem a node had: the first one's seq and detail, how many
/// there were, and when it was last seen.
#[derive(Debug, serde::Serialize)]
pub struct ProblemRow {
    pub seq: Option<i64>,
    pub kind: String,
    pub detail: String,
    pub at_ms: i64,
    pub count: i64,
    pub last_ms: i64,
}

/// A new node's row (registration and resync).
pub struct NewNode<'a> {
    pub node_id: Uuid,
    pub venue_id: Uuid,
    /// base64 ed25519.
    pub public_key: &'a str,
    pub leaf_user: &'a str,
    /// bcrypt.
    pub leaf_hash: &'a str,
    pub at_ms: i64,
}

impl Locked<'_> {
    /// Every node with its verified head.
    pub async fn nodes(&self) -> anyhow::Result<Vec<NodeRow>> {
        nodes(&self.0).await
    }

    /// Adds problems (see [`add_problems`]).
    pub async fn add_problems(
        &self,
        grouped: &[(crate::ingest::Report, u64)],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        add_problems(&self.0, grouped, now_ms).await
    }

    /// Calls `f` with every stored event of the live (not retired) nodes, as
    /// (venue, envelope), in log order, one row at a time.
    pub async fn each_live_event(&self, mut f: impl FnMut(Uuid, Vec<u8>)) -> anyhow::Result<()> {
        let mut r = self
            .0
            .query(
                "SELECT venue_id, envelope FROM events WHERE node_id IN \
                 (SELECT node_id FROM nodes WHERE retired_ms IS NULL) ORDER BY node_id, seq",
                (),
            )
            .await?;
        while let Some(row) = r.next().await? {
            f(row.get::<String>(0)?.parse()?, row.get::<Vec<u8>>(1)?);
        }
        Ok(())
    }

    /// Stores verified events (a duplicate is left as it was) and the nodes'
    /// new heads, in one transaction.
    pub async fn store_batch(
        &self,
        events: &[pvm_shared::envelope::Envelope],
        heads: &[NodeRow],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let tx = self.0.transaction().await?;
        {
            let insert = tx
                .prepare("INSERT OR IGNORE INTO events (node_id, seq, venue_id, kind, envelope) VALUES (?1, ?2, ?3, ?4, ?5)")
                .await?;
            for env in events {
                insert
                    .execute(libsql::params![
                        env.header.node_id.to_string(),
                        env.header.seq as i64,
                        env.header.venue_id.to_string(),
                        env.kind.as_str(),
                        env.encode()
                    ])
                    .await?;
                insert.reset();
            }
            for h in heads {
                tx.execute(
                    "UPDATE nodes SET head_seq = ?2, head_hash = ?3, verified_seq = ?4, last_contact_ms = ?5 WHERE node_id = ?1",
                    libsql::params![
                        h.node_id.to_string(),
                        h.head_seq as i64,
                        h.head_hash.to_vec(),
                        h.verified_seq as i64,
                        now_ms
                    ],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored envelope of a node's event `seq`.
    pub async fn envelope(&self, node: Uuid, seq: u64) -> anyhow::Result<Option<Vec<u8>>> {
        let mut rows = self
            .0
            .query(
                "SELECT envelope FROM events WHERE node_id = ?1 AND seq = ?2",
                libsql::params![node.to_string(), seq as i64],
            )
            .await?;
        Ok(match rows.next().await? {
            Some(row) => Some(row.get::<Vec<u8>>(0)?),
            None => None,
        })
    }

    /// A node's latest heartbeat (JSON) and the time of this contact.
    pub async fn record_heartbeat(
        &self,
        node: Uuid,
        beat: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        self.0
            .execute(
                "UPDATE nodes SET heartbeat = ?2, last_contact_ms = ?3 WHERE node_id = ?1",
                libsql::params![node.to_string(), beat, now_ms],
            )
            .await?;
        Ok(())
    }

    pub async fn venue_exists(&self, id: Uuid) -> anyhow::Result<bool> {
        let mut rows = self
            .0
            .query("SELECT 1 FROM venues WHERE id = ?1", [id.to_string()])
            .await?;
        Ok(rows.next().await?.is_some())
    }

    pub async fn insert_venue(&self, id: Uuid, name: &str, now_ms: i64) -> anyhow::Result<()> {
        self.0
            .execute(
                "INSERT INTO venues (id, name, created_ms) VALUES (?1, ?2, ?3)",
                libsql::params![id.to_string(), name, now_ms],
            )
            .await?;
        Ok(())
    }

    /// Every venue, by name, with its live node's figures.
    pub async fn venues(&self) -> anyhow::Result<Vec<VenueListing>> {
        let mut rows = self
            .0
            .query(
                "SELECT v.id, v.name, n.node_id, n.head_seq, n.verified_seq, n.last_contact_ms, n.heartbeat, \
                 (SELECT COUNT(*) FROM events e WHERE e.node_id = n.node_id) FROM venues v LEFT JOIN nodes n ON n.venue_id = v.id AND n.retired_ms IS NULL ORDER BY v.name",
                (),
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(VenueListing {
                id: r.get(0)?,
                name: r.get(1)?,
                node_id: r.get(2)?,
                head_seq: r.get(3)?,
                verified_seq: r.get::<Option<i64>>(4)?.unwrap_or(0),
                last_contact_ms: r.get(5)?,
                heartbeat: r.get(6)?,
                events: r.get(7)?,
            });
        }
        Ok(out)
    }

    /// Every node, by venue and registration.
    pub async fn node_listings(&self) -> anyhow::Result<Vec<NodeListing>> {
        let mut rows = self
            .0
            .query("SELECT node_id, venue_id, head_seq, verified_seq, last_contact_ms, heartbeat, retired_ms FROM nodes ORDER BY venue_id, registered_ms", ())
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(NodeListing {
                node_id: r.get(0)?,
                venue_id: r.get(1)?,
                head_seq: r.get(2)?,
                verified_seq: r.get(3)?,
                last_contact_ms: r.get(4)?,
                heartbeat: r.get(5)?,
                retired_ms: r.get(6)?,
            });
        }
        Ok(out)
    }

    /// A registration token by the SHA-256 (hex) of its text.
    pub async fn insert_token(
        &self,
        hash: &str,
        venue: Uuid,
        expires_ms: i64,
    ) -> anyhow::Result<()> {
        self.0
            .execute(
                "INSERT INTO reg_tokens (hash, venue_id, expires_ms) VALUES (?1, ?2, ?3)",
                libsql::params![hash, venue.to_string(), expires_ms],
            )
            .await?;
        Ok(())
    }

    pub async fn token(&self, hash: &str) -> anyhow::Result<Option<TokenRow>> {
        let mut rows = self
            .0
            .query(
                "SELECT venue_id, expires_ms, used_ms FROM reg_tokens WHERE hash = ?1",
                [hash],
            )
            .await?;
        Ok(match rows.next().await? {
            Some(row) => Some(TokenRow {
                venue_id: row.get(0)?,
                expires_ms: row.get(1)?,
                used: row.get::<Option<i64>>(2)?.is_some(),
            }),
            None => None,
        })
    }

    /// Whether this venue or this node id already has a registered node.
    pub async fn node_registered(&self, venue: Uuid, node: Uuid) -> anyhow::Result<bool> {
        let mut existing = self
            .0
            .query(
                "SELECT node_id FROM nodes WHERE venue_id = ?1 OR node_id = ?2",
                libsql::params![venue.to_string(), node.to_string()],
            )
            .await?;
        Ok(existing.next().await?.is_some())
    }

    /// The registration's rows in one transaction: the token spent, the venue
    /// (`token_venue`) taking the id its node's events carry, the node.
    pub async fn commit_registration(
        &self,
        token_hash: &str,
        token_venue: Uuid,
        node: &NewNode<'_>,
    ) -> anyhow::Result<()> {
        let tx = self.0.transaction().await?;
        tx.execute(
            "UPDATE reg_tokens SET used_ms = ?2 WHERE hash = ?1",
            libsql::params![token_hash, node.at_ms],
        )
        .await?;
        // The venue takes the id the node's events carry.
        tx.execute(
            "UPDATE venues SET id = ?2 WHERE id = ?1",
            libsql::params![token_venue.to_string(), node.venue_id.to_string()],
        )
        .await?;
        tx.execute(
            "UPDATE reg_tokens SET venue_id = ?2 WHERE venue_id = ?1",
            libsql::params![token_venue.to_string(), node.venue_id.to_string()],
        )
        .await?;
        insert_node(&tx, node).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn resync_node(&self, node: Uuid) -> anyhow::Result<Option<ResyncNode>> {
        let mut rows = self
            .0
            .query(
                "SELECT venue_id, public_key, leaf_user, leaf_password, retired_ms FROM nodes WHERE node_id = ?1",
                [node.to_string()],
            )
            .await?;
        Ok(match rows.next().await? {
            Some(row) => Some(ResyncNode {
                venue_id: row.get(0)?,
                public_key: row.get(1)?,
                leaf_user: row.get(2)?,
                leaf_hash: row.get(3)?,
                retired: row.get::<Option<i64>>(4)?.is_some(),
            }),
            None => None,
        })
    }

    /// The public key (base64) of a live node of `venue`.
    pub async fn live_node_key(&self, node: Uuid, venue: Uuid) -> anyhow::Result<Option<String>> {
        let mut again = self
            .0
            .query(
                "SELECT public_key FROM nodes WHERE node_id = ?1 AND venue_id = ?2 AND retired_ms IS NULL",
                libsql::params![node.to_string(), venue.to_string()],
            )
            .await?;
        Ok(match again.next().await? {
            Some(row) => Some(row.get::<String>(0)?),
            None => None,
        })
    }

    pub async fn node_exists(&self, node: Uuid) -> anyhow::Result<bool> {
        let mut taken = self
            .0
            .query("SELECT 1 FROM nodes WHERE node_id = ?1", [node.to_string()])
            .await?;
        Ok(taken.next().await?.is_some())
    }

    /// Retires `old` and registers `new` in its place, in one transaction.
    pub async fn replace_node(&self, old: Uuid, new: &NewNode<'_>) -> anyhow::Result<()> {
        let tx = self.0.transaction().await?;
        tx.execute(
            "UPDATE nodes SET retired_ms = ?2 WHERE node_id = ?1",
            libsql::params![old.to_string(), new.at_ms],
        )
        .await?;
        insert_node(&tx, new).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Nodes whose leaf password earlier versions kept in plain text: (node, password).
    pub async fn plain_leaf_passwords(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut rows = self
            .0
            .query(
                "SELECT node_id, leaf_password FROM nodes WHERE leaf_password NOT LIKE '$2%'",
                (),
            )
            .await?;
        let mut plain = Vec::new();
        while let Some(r) = rows.next().await? {
            plain.push((r.get::<String>(0)?, r.get::<String>(1)?));
        }
        Ok(plain)
    }

    pub async fn set_leaf_password(&self, node: &str, hash: &str) -> anyhow::Result<()> {
        self.0
            .execute(
                "UPDATE nodes SET leaf_password = ?2 WHERE node_id = ?1",
                libsql::params![node, hash],
            )
            .await?;
        Ok(())
    }

    /// (node, venue, leaf user, bcrypt hash) of every live node, by user.
    pub async fn leaf_users(&self) -> anyhow::Result<Vec<(String, String, String, String)>> {
        let mut rows = self
            .0
            .query(
                "SELECT node_id, venue_id, leaf_user, leaf_password FROM nodes WHERE retired_ms IS NULL ORDER BY leaf_user",
                (),
            )
            .await?;
        let mut users = Vec::new();
        while let Some(r) = rows.next().await? {
            users.push((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?));
        }
        Ok(users)
    }

    /// A venue's live events: how many, first and last seq, the verified seq,
    /// and the latest 50.
    pub async fn events_summary(&self, id: Uuid) -> anyhow::Result<EventsSummary> {
        let mut rows = self
            .0
            .query(
                "SELECT COUNT(*), MIN(seq), MAX(seq), (SELECT MAX(verified_seq) FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL) FROM events \
                 WHERE venue_id = ?1 AND node_id IN (SELECT node_id FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL)",
                [id.to_string()],
            )
            .await?;
        let r = rows
            .next()
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row"))?;
        let (count, min, max, verified): (i64, Option<i64>, Option<i64>, Option<i64>) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        drop(rows);
        let mut kinds = self
            .0
            .query(
                "SELECT seq, kind FROM events WHERE venue_id = ?1 AND node_id IN \
                 (SELECT node_id FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL) ORDER BY seq DESC LIMIT 50",
                [id.to_string()],
            )
            .await?;
        let mut latest = Vec::new();
        while let Some(k) = kinds.next().await? {
            let seq: i64 = k.get(0)?;
            latest.push((seq, k.get::<String>(1)?, verified.is_some_and(|v| seq <= v)));
        }
        Ok((count, min, max, verified, latest))
    }

    /// A venue's problems (and those of no known node), oldest first.
    pub async fn problems(&self, id: Uuid) -> anyhow::Result<Vec<ProblemRow>> {
        let mut rows = self
            .0
            .query(
                "SELECT p.seq, p.kind, p.detail, p.at_ms, p.count, COALESCE(p.last_ms, p.at_ms) FROM problems p LEFT JOIN nodes n ON n.node_id = p.node_id \
                 WHERE n.venue_id = ?1 OR p.node_id IS NULL OR n.node_id IS NULL ORDER BY p.id",
                [id.to_string()],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(ProblemRow {
                seq: r.get(0)?,
                kind: r.get(1)?,
                detail: r.get(2)?,
                at_ms: r.get(3)?,
                count: r.get(4)?,
                last_ms: r.get(5)?,
            });
        }
        Ok(out)
    }
}

async fn insert_node(tx: &libsql::Transaction, n: &NewNode<'_>) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO nodes (node_id, venue_id, public_key, leaf_user, leaf_password, registered_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        libsql::params![n.node_id.to_string(), n.venue_id.to_string(), n.public_key, n.leaf_user, n.leaf_hash, n.at_ms],
    )
    .await?;
    Ok(())
}

async fn nodes(conn: &Connection) -> anyhow::Result<Vec<NodeRow>> {
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
async fn add_problems(
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
