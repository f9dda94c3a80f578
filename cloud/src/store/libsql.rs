//! The embedded backend: one libSQL file (WAL, synchronous=FULL) and one
//! connection everything goes through, in turn (a libSQL connection must
//! not be used from many tasks at once).

use super::{
    node_roles_json, node_roles_of_json, venues_json, venues_of_json, ActionRow, DeliveryRow,
    EventRow, EventsSummary, HeadMoved, Migration, NameTaken, NewNode, NodeListing, NodeRecord,
    NodeRow, OperatorRow, ProblemRecord, ProblemRow, Records, RegistrationTaken, ResyncNode,
    StaffChange, StaffRow, TokenRecord, TokenRow, VenueListing, VenueRecord,
};
use libsql::Connection;
use std::path::Path;
use uuid::Uuid;

const MIGRATIONS: &[Migration] = &[
    Migration {
        number: 1,
        name: "hub",
        sql: include_str!("../../../migrations/cloud/libsql/0001_hub.sql"),
    },
    Migration {
        number: 2,
        name: "admin_sessions",
        sql: include_str!("../../../migrations/cloud/libsql/0002_admin_sessions.sql"),
    },
    Migration {
        number: 3,
        name: "events_by_node",
        sql: include_str!("../../../migrations/cloud/libsql/0003_events_by_node.sql"),
    },
    Migration {
        number: 4,
        name: "node_revoked",
        sql: include_str!("../../../migrations/cloud/libsql/0004_node_revoked.sql"),
    },
    Migration {
        number: 5,
        name: "operators",
        sql: include_str!("../../../migrations/cloud/libsql/0005_operators.sql"),
    },
    Migration {
        number: 6,
        name: "operator_webhook",
        sql: include_str!("../../../migrations/cloud/libsql/0006_operator_webhook.sql"),
    },
    Migration {
        number: 7,
        name: "actions",
        sql: include_str!("../../../migrations/cloud/libsql/0007_actions.sql"),
    },
    Migration {
        number: 8,
        name: "node_role",
        sql: include_str!("../../../migrations/cloud/libsql/0008_node_role.sql"),
    },
    Migration {
        number: 9,
        name: "leaf_next",
        sql: include_str!("../../../migrations/cloud/libsql/0009_leaf_next.sql"),
    },
];

/// Columns added after the first release, for files made before them (and
/// before migrations were numbered).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("problems", "count", "INTEGER NOT NULL DEFAULT 1"),
    ("problems", "last_ms", "INTEGER"),
    ("nodes", "retired_ms", "INTEGER"),
];

pub struct Libsql {
    _db: libsql::Database,
    conn: tokio::sync::Mutex<Connection>,
}

pub struct Held<'a>(tokio::sync::MutexGuard<'a, Connection>);

impl Libsql {
    pub async fn open(path: &Path) -> anyhow::Result<Libsql> {
        let db = libsql::Builder::new_local(path).build().await?;
        let conn = db.connect()?;
        for pragma in [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=5000",
        ] {
            drop(conn.query(pragma, ()).await?);
        }
        migrate(&conn).await?;
        Ok(Libsql {
            _db: db,
            conn: tokio::sync::Mutex::new(conn),
        })
    }

    pub async fn lock(&self) -> Held<'_> {
        Held(self.conn.lock().await)
    }
}

/// Applies the migrations not yet recorded, each in one transaction with
/// its record; then adds the columns a file from before them lacks.
async fn migrate(conn: &Connection) -> anyhow::Result<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)",
        (),
    )
    .await?;
    for m in MIGRATIONS {
        let mut done = conn
            .query(
                "SELECT 1 FROM schema_migrations WHERE number = ?1",
                [m.number],
            )
            .await?;
        if done.next().await?.is_some() {
            continue;
        }
        drop(done);
        let tx = conn.transaction().await?;
        tx.execute_batch(m.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (number, name, applied_ms) VALUES (?1, ?2, ?3)",
            libsql::params![m.number, m.name, crate::now_ms()],
        )
        .await?;
        tx.commit().await?;
        if m.number == 1 {
            add_missing_columns(conn).await?;
        }
    }
    Ok(())
}

async fn add_missing_columns(conn: &Connection) -> anyhow::Result<()> {
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
    Ok(())
}

impl Held<'_> {
    pub async fn migrations(&self) -> anyhow::Result<Vec<i64>> {
        let mut rows = self
            .0
            .query("SELECT number FROM schema_migrations ORDER BY number", ())
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(r.get::<i64>(0)?);
        }
        Ok(out)
    }

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

    pub async fn store_batch(
        &self,
        events: &[EventRow],
        heads: &[NodeRow],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let tx = self.0.transaction().await?;
        {
            let insert = tx
                .prepare("INSERT OR IGNORE INTO events (node_id, seq, venue_id, kind, envelope) VALUES (?1, ?2, ?3, ?4, ?5)")
                .await?;
            for e in events {
                insert
                    .execute(libsql::params![
                        e.node_id.to_string(),
                        e.seq,
                        e.venue_id.to_string(),
                        e.kind.as_str(),
                        e.envelope.as_slice()
                    ])
                    .await?;
                insert.reset();
            }
            for h in heads {
                // Moves only from where this batch began (see HeadMoved).
                let first = events
                    .iter()
                    .filter(|e| e.node_id == h.node_id)
                    .map(|e| e.seq)
                    .min();
                let updated = tx
                    .execute(
                        "UPDATE nodes SET head_seq = ?2, head_hash = ?3, verified_seq = ?4, last_contact_ms = ?5 \
                         WHERE node_id = ?1 AND (?6 IS NULL OR head_seq = ?6)",
                        libsql::params![
                            h.node_id.to_string(),
                            h.head_seq as i64,
                            h.head_hash.to_vec(),
                            h.verified_seq as i64,
                            now_ms,
                            first.map(|f| f - 1)
                        ],
                    )
                    .await?;
                if first.is_some() && updated != 1 {
                    return Err(HeadMoved(h.node_id).into());
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored envelope of a node's event `seq`.
    pub async fn envelope(&self, node: Uuid, seq: i64) -> anyhow::Result<Option<Vec<u8>>> {
        let mut rows = self
            .0
            .query(
                "SELECT envelope FROM events WHERE node_id = ?1 AND seq = ?2",
                libsql::params![node.to_string(), seq],
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

    pub async fn insert_venue(
        &self,
        id: Uuid,
        name: &str,
        operator: Option<Uuid>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        self.0
            .execute(
                "INSERT INTO venues (id, name, created_ms, operator_id) VALUES (?1, ?2, ?3, ?4)",
                libsql::params![
                    id.to_string(),
                    name,
                    now_ms,
                    operator.map(|o| o.to_string())
                ],
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
                 COALESCE(n.head_seq, 0), n.revoked_ms, v.operator_id FROM venues v LEFT JOIN nodes n ON n.venue_id = v.id AND n.retired_ms IS NULL ORDER BY v.name",
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
                revoked_ms: r.get(8)?,
                operator_id: r.get::<Option<String>>(9)?.map(|t| t.parse()).transpose()?,
            });
        }
        Ok(out)
    }

    /// Every node, by venue and registration.
    pub async fn node_listings(&self) -> anyhow::Result<Vec<NodeListing>> {
        let mut rows = self
            .0
            .query("SELECT node_id, venue_id, head_seq, verified_seq, last_contact_ms, heartbeat, retired_ms, revoked_ms FROM nodes ORDER BY venue_id, registered_ms", ())
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
                revoked_ms: r.get(7)?,
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
        let spent = tx
            .execute(
                "UPDATE reg_tokens SET used_ms = ?2 WHERE hash = ?1 AND used_ms IS NULL AND venue_id = ?3",
                libsql::params![token_hash, node.at_ms, token_venue.to_string()],
            )
            .await?;
        if spent != 1 {
            return Err(RegistrationTaken.into());
        }
        // The venue takes the id the node's events carry.
        let renamed = tx
            .execute(
                "UPDATE venues SET id = ?2 WHERE id = ?1",
                libsql::params![token_venue.to_string(), node.venue_id.to_string()],
            )
            .await
            .map_err(|e| {
                if e.to_string().contains("UNIQUE constraint failed") {
                    RegistrationTaken.into()
                } else {
                    anyhow::Error::from(e)
                }
            })?;
        if renamed != 1 {
            return Err(RegistrationTaken.into());
        }
        tx.execute(
            "UPDATE reg_tokens SET venue_id = ?2 WHERE venue_id = ?1",
            libsql::params![token_venue.to_string(), node.venue_id.to_string()],
        )
        .await?;
        // Regional managers' sets follow the venue to its new id.
        tx.execute(
            "UPDATE hub_staff SET venues = REPLACE(venues, ?1, ?2) WHERE instr(venues, ?1) > 0",
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
                "SELECT venue_id, public_key, leaf_user, leaf_password, retired_ms, revoked_ms FROM nodes WHERE node_id = ?1",
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
                revoked_ms: row.get(5)?,
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

    pub async fn revoke_node(&self, node: Uuid, at_ms: i64) -> anyhow::Result<Option<i64>> {
        self.0
            .execute(
                "UPDATE nodes SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE node_id = ?1",
                libsql::params![node.to_string(), at_ms],
            )
            .await?;
        let mut rows = self
            .0
            .query(
                "SELECT revoked_ms FROM nodes WHERE node_id = ?1",
                [node.to_string()],
            )
            .await?;
        Ok(match rows.next().await? {
            Some(row) => row.get::<Option<i64>>(0)?,
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

    /// A live node's next leaf user and its bcrypt hash (a rotation).
    pub async fn set_leaf_next(
        &self,
        node: Uuid,
        user: &str,
        hash: &str,
        at_ms: i64,
    ) -> anyhow::Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE nodes SET leaf_user_next = ?2, leaf_hash_next = ?3, leaf_take_ms = ?4 \
                 WHERE node_id = ?1 AND retired_ms IS NULL AND revoked_ms IS NULL \
                 AND (leaf_take_ms IS NULL OR leaf_take_ms < ?4)",
                libsql::params![node.to_string(), user, hash, at_ms],
            )
            .await?;
        Ok(n > 0)
    }

    /// The next leaf user `user` replaces the node's current one.
    pub async fn promote_leaf_next(&self, node: Uuid, user: &str) -> anyhow::Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE nodes SET leaf_user = leaf_user_next, leaf_password = leaf_hash_next, \
                 leaf_user_next = NULL, leaf_hash_next = NULL \
                 WHERE node_id = ?1 AND leaf_user_next = ?2 AND retired_ms IS NULL AND revoked_ms IS NULL",
                libsql::params![node.to_string(), user],
            )
            .await?;
        Ok(n > 0)
    }

    /// (node, venue, leaf user, bcrypt hash) of every live node, by user.
    pub async fn leaf_users(&self) -> anyhow::Result<Vec<(String, String, String, String)>> {
        let mut rows = self
            .0
            .query(
                "SELECT node_id, venue_id, leaf_user, leaf_password FROM nodes WHERE retired_ms IS NULL AND revoked_ms IS NULL \
                 UNION ALL SELECT node_id, venue_id, leaf_user_next, leaf_hash_next FROM nodes \
                 WHERE retired_ms IS NULL AND revoked_ms IS NULL AND leaf_user_next IS NOT NULL ORDER BY 3",
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
                 WHERE node_id = (SELECT node_id FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL ORDER BY registered_ms DESC LIMIT 1)",
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
                "SELECT seq, kind FROM events WHERE node_id = \
                 (SELECT node_id FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL ORDER BY registered_ms DESC LIMIT 1) ORDER BY seq DESC LIMIT 50",
                [id.to_string()],
            )
            .await?;
        let mut latest = Vec::new();
        while let Some(k) = kinds.next().await? {
            latest.push((k.get::<i64>(0)?, k.get::<String>(1)?));
        }
        Ok((
            count,
            min,
            max,
            verified,
            super::latest_with_verified(latest, verified),
        ))
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

impl Held<'_> {
    pub async fn events_after(
        &self,
        node: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
        let mut rows = self
            .0
            .query(
                "SELECT seq, envelope FROM events WHERE node_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                libsql::params![node.to_string(), after_seq, limit],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push((r.get::<i64>(0)? as u64, r.get::<Vec<u8>>(1)?));
        }
        Ok(out)
    }

    pub async fn is_empty(&self) -> anyhow::Result<bool> {
        let mut rows = self
            .0
            .query(
                "SELECT EXISTS (SELECT 1 FROM venues) OR EXISTS (SELECT 1 FROM nodes)",
                (),
            )
            .await?;
        let any = match rows.next().await? {
            Some(r) => r.get::<i64>(0)? != 0,
            None => false,
        };
        Ok(!any)
    }

    pub async fn records(&self) -> anyhow::Result<Records> {
        let mut out = Records::default();
        let mut rows = self
            .0
            .query(
                "SELECT id, name, created_ms, operator_id FROM venues ORDER BY created_ms, id",
                (),
            )
            .await?;
        while let Some(r) = rows.next().await? {
            out.venues.push(VenueRecord {
                id: uuid_at(&r, 0)?,
                name: r.get(1)?,
                created_ms: r.get(2)?,
                operator_id: r.get::<Option<String>>(3)?.map(|t| t.parse()).transpose()?,
            });
        }
        out.operators = self.operators().await?;
        for a in self.actions(None, i64::MAX).await? {
            if let Some(found) = self.action(a.id).await? {
                out.actions.push(found);
            }
        }
        out.staff = self.staff_where("1 = 1", "").await?;
        let mut rows = self
            .0
            .query(
                "SELECT hash, venue_id, expires_ms, used_ms FROM reg_tokens ORDER BY hash",
                (),
            )
            .await?;
        while let Some(r) = rows.next().await? {
            out.tokens.push(TokenRecord {
                hash: r.get(0)?,
                venue_id: uuid_at(&r, 1)?,
                expires_ms: r.get(2)?,
                used_ms: r.get(3)?,
            });
        }
        let mut rows = self
            .0
            .query(
                "SELECT node_id, venue_id, public_key, leaf_user, leaf_password, registered_ms, head_seq, head_hash, \
                 verified_seq, last_contact_ms, heartbeat, retired_ms, revoked_ms, leaf_user_next, leaf_hash_next, leaf_take_ms \
                 FROM nodes ORDER BY registered_ms, node_id",
                (),
            )
            .await?;
        while let Some(r) = rows.next().await? {
            out.nodes.push(NodeRecord {
                node_id: uuid_at(&r, 0)?,
                venue_id: uuid_at(&r, 1)?,
                public_key: r.get(2)?,
                leaf_user: r.get(3)?,
                leaf_password: r.get(4)?,
                registered_ms: r.get(5)?,
                head_seq: r.get(6)?,
                head_hash: r.get(7)?,
                verified_seq: r.get(8)?,
                last_contact_ms: r.get(9)?,
                heartbeat: r.get(10)?,
                retired_ms: r.get(11)?,
                revoked_ms: r.get(12)?,
                leaf_user_next: r.get(13)?,
                leaf_hash_next: r.get(14)?,
                leaf_take_ms: r.get(15)?,
            });
        }
        let mut rows = self
            .0
            .query("SELECT node_id, seq, kind, detail, at_ms, count, last_ms FROM problems ORDER BY id", ())
            .await?;
        while let Some(r) = rows.next().await? {
            out.problems.push(ProblemRecord {
                node_id: r.get::<Option<String>>(0)?.map(|t| t.parse()).transpose()?,
                seq: r.get(1)?,
                kind: r.get(2)?,
                detail: r.get(3)?,
                at_ms: r.get(4)?,
                count: r.get(5)?,
                last_ms: r.get(6)?,
            });
        }
        Ok(out)
    }

    pub async fn import_records(&self, records: &Records) -> anyhow::Result<()> {
        let tx = self.0.transaction().await?;
        for o in &records.operators {
            tx.execute(
                "INSERT INTO operators (id, name, created_ms, alert_webhook) VALUES (?1, ?2, ?3, ?4)",
                libsql::params![o.id.to_string(), o.name.as_str(), o.created_ms, o.alert_webhook.clone()],
            )
            .await?;
        }
        for v in &records.venues {
            tx.execute(
                "INSERT INTO venues (id, name, created_ms, operator_id) VALUES (?1, ?2, ?3, ?4)",
                libsql::params![
                    v.id.to_string(),
                    v.name.as_str(),
                    v.created_ms,
                    v.operator_id.map(|o| o.to_string())
                ],
            )
            .await?;
        }
        for st in &records.staff {
            insert_staff(&tx, st).await?;
        }
        for (a, d) in &records.actions {
            insert_action(&tx, a, d).await?;
        }
        for t in &records.tokens {
            tx.execute(
                "INSERT INTO reg_tokens (hash, venue_id, expires_ms, used_ms) VALUES (?1, ?2, ?3, ?4)",
                libsql::params![t.hash.as_str(), t.venue_id.to_string(), t.expires_ms, t.used_ms],
            )
            .await?;
        }
        for n in &records.nodes {
            tx.execute(
                "INSERT INTO nodes (node_id, venue_id, public_key, leaf_user, leaf_password, registered_ms, head_seq, head_hash, \
                 verified_seq, last_contact_ms, heartbeat, retired_ms, revoked_ms, leaf_user_next, leaf_hash_next, leaf_take_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                libsql::params![
                    n.node_id.to_string(),
                    n.venue_id.to_string(),
                    n.public_key.as_str(),
                    n.leaf_user.as_str(),
                    n.leaf_password.as_str(),
                    n.registered_ms,
                    n.head_seq,
                    n.head_hash.clone(),
                    n.verified_seq,
                    n.last_contact_ms,
                    n.heartbeat.clone(),
                    n.retired_ms,
                    n.revoked_ms,
                    n.leaf_user_next.clone(),
                    n.leaf_hash_next.clone(),
                    n.leaf_take_ms
                ],
            )
            .await?;
        }
        for p in &records.problems {
            tx.execute(
                "INSERT INTO problems (node_id, seq, kind, detail, at_ms, count, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                libsql::params![
                    p.node_id.map(|n| n.to_string()),
                    p.seq,
                    p.kind.as_str(),
                    p.detail.as_str(),
                    p.at_ms,
                    p.count,
                    p.last_ms
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn uuid_at(row: &libsql::Row, column: i32) -> anyhow::Result<Uuid> {
    let text: String = row.get(column)?;
    text.parse()
        .map_err(|e| anyhow::anyhow!("{text:?} is not a uuid: {e}"))
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
            "SELECT node_id, venue_id, public_key, head_seq, head_hash, verified_seq, retired_ms IS NOT NULL, revoked_ms IS NOT NULL FROM nodes",
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
            revoked: r.get::<i64>(7)? != 0,
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

impl Held<'_> {
    pub async fn insert_session(
        &self,
        hash: &str,
        admin_key: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> anyhow::Result<()> {
        let tx = self.0.transaction().await?;
        tx.execute(
            "DELETE FROM admin_sessions WHERE expires_ms <= ?1",
            [now_ms],
        )
        .await?;
        tx.execute(
            "INSERT INTO admin_sessions (hash, admin_key, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            libsql::params![hash, admin_key, now_ms, expires_ms],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn session_valid(
        &self,
        hash: &str,
        admin_key: &str,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        let mut rows = self
            .0
            .query(
                "SELECT 1 FROM admin_sessions WHERE hash = ?1 AND admin_key = ?2 AND expires_ms > ?3",
                libsql::params![hash, admin_key, now_ms],
            )
            .await?;
        Ok(rows.next().await?.is_some())
    }

    pub async fn delete_session(&self, hash: &str) -> anyhow::Result<()> {
        self.0
            .execute("DELETE FROM admin_sessions WHERE hash = ?1", [hash])
            .await?;
        Ok(())
    }
}

const STAFF_COLUMNS: &str =
    "id, operator_id, username, display_name, password_hash, role, venues, \
     totp_secret, totp_pending, totp_last_step, epoch, disabled_ms, created_ms, node_role, node_roles";

fn staff_row(r: &libsql::Row) -> anyhow::Result<StaffRow> {
    Ok(StaffRow {
        id: uuid_at(r, 0)?,
        operator_id: r.get::<Option<String>>(1)?.map(|t| t.parse()).transpose()?,
        username: r.get(2)?,
        display_name: r.get(3)?,
        password_hash: r.get(4)?,
        role: r.get(5)?,
        venues: venues_of_json(&r.get::<String>(6)?),
        totp_secret: r.get(7)?,
        totp_pending: r.get(8)?,
        totp_last_step: r.get(9)?,
        epoch: r.get(10)?,
        disabled_ms: r.get(11)?,
        created_ms: r.get(12)?,
        node_role: r.get(13)?,
        node_roles: node_roles_of_json(&r.get::<String>(14)?),
    })
}

fn unique_violation(e: &libsql::Error) -> bool {
    e.to_string().contains("UNIQUE constraint failed")
}

async fn insert_staff(conn: &Connection, st: &StaffRow) -> anyhow::Result<()> {
    conn.execute(
        &format!("INSERT INTO hub_staff ({STAFF_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
        libsql::params![
            st.id.to_string(),
            st.operator_id.map(|o| o.to_string()),
            st.username.as_str(),
            st.display_name.as_str(),
            st.password_hash.as_str(),
            st.role.as_str(),
            venues_json(&st.venues),
            st.totp_secret.clone(),
            st.totp_pending.clone(),
            st.totp_last_step,
            st.epoch,
            st.disabled_ms,
            st.created_ms,
            st.node_role.clone(),
            node_roles_json(&st.node_roles)
        ],
    )
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            anyhow::Error::new(NameTaken)
        } else {
            e.into()
        }
    })?;
    Ok(())
}

impl Held<'_> {
    pub async fn insert_operator(&self, op: &OperatorRow) -> anyhow::Result<()> {
        self.0
            .execute(
                "INSERT INTO operators (id, name, created_ms, alert_webhook) VALUES (?1, ?2, ?3, ?4)",
                libsql::params![op.id.to_string(), op.name.as_str(), op.created_ms, op.alert_webhook.clone()],
            )
            .await
            .map_err(|e| {
                if unique_violation(&e) {
                    anyhow::Error::new(NameTaken)
                } else {
                    e.into()
                }
            })?;
        Ok(())
    }

    pub async fn operators(&self) -> anyhow::Result<Vec<OperatorRow>> {
        let mut rows = self
            .0
            .query(
                "SELECT id, name, created_ms, alert_webhook FROM operators ORDER BY name, id",
                (),
            )
            .await?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(OperatorRow {
                id: uuid_at(&r, 0)?,
                name: r.get(1)?,
                created_ms: r.get(2)?,
                alert_webhook: r.get(3)?,
            });
        }
        Ok(out)
    }

    pub async fn operator(&self, id: Uuid) -> anyhow::Result<Option<OperatorRow>> {
        let mut rows = self
            .0
            .query(
                "SELECT id, name, created_ms, alert_webhook FROM operators WHERE id = ?1",
                [id.to_string()],
            )
            .await?;
        Ok(match rows.next().await? {
            Some(r) => Some(OperatorRow {
                id: uuid_at(&r, 0)?,
                name: r.get(1)?,
                created_ms: r.get(2)?,
                alert_webhook: r.get(3)?,
            }),
            None => None,
        })
    }

    pub async fn change_operator(
        &self,
        id: Uuid,
        name: Option<&str>,
        webhook: Option<Option<&str>>,
    ) -> anyhow::Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE operators SET name = COALESCE(?2, name), \
                 alert_webhook = CASE WHEN ?3 THEN ?4 ELSE alert_webhook END WHERE id = ?1",
                libsql::params![id.to_string(), name, webhook.is_some(), webhook.flatten()],
            )
            .await
            .map_err(|e| {
                if unique_violation(&e) {
                    anyhow::Error::new(NameTaken)
                } else {
                    e.into()
                }
            })?;
        Ok(n > 0)
    }

    pub async fn venue_operator(&self, venue: Uuid) -> anyhow::Result<Option<Option<Uuid>>> {
        let mut rows = self
            .0
            .query(
                "SELECT operator_id FROM venues WHERE id = ?1",
                [venue.to_string()],
            )
            .await?;
        Ok(match rows.next().await? {
            Some(r) => Some(r.get::<Option<String>>(0)?.map(|t| t.parse()).transpose()?),
            None => None,
        })
    }

    pub async fn insert_staff(&self, st: &StaffRow) -> anyhow::Result<()> {
        insert_staff(&self.0, st).await
    }

    async fn staff_where(&self, condition: &str, value: &str) -> anyhow::Result<Vec<StaffRow>> {
        let sql =
            format!("SELECT {STAFF_COLUMNS} FROM hub_staff WHERE {condition} ORDER BY username");
        let mut rows = if condition.contains("?1") {
            self.0.query(&sql, [value]).await?
        } else {
            self.0.query(&sql, ()).await?
        };
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(staff_row(&r)?);
        }
        Ok(out)
    }

    pub async fn staff_by(&self, by_id: bool, key: &str) -> anyhow::Result<Option<StaffRow>> {
        let condition = if by_id { "id = ?1" } else { "username = ?1" };
        Ok(self.staff_where(condition, key).await?.into_iter().next())
    }

    pub async fn staff_of(&self, operator: Option<Uuid>) -> anyhow::Result<Vec<StaffRow>> {
        match operator {
            Some(o) => self.staff_where("operator_id = ?1", &o.to_string()).await,
            None => self.staff_where("operator_id IS NULL", "").await,
        }
    }

    pub async fn change_staff(&self, id: Uuid, c: &StaffChange) -> anyhow::Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE hub_staff SET \
                 password_hash = COALESCE(?2, password_hash), \
                 display_name = COALESCE(?3, display_name), \
                 role = COALESCE(?4, role), \
                 venues = COALESCE(?5, venues), \
                 disabled_ms = CASE WHEN ?6 THEN ?7 ELSE disabled_ms END, \
                 totp_secret = CASE WHEN ?8 THEN ?9 ELSE totp_secret END, \
                 totp_pending = CASE WHEN ?10 THEN ?11 ELSE totp_pending END, \
                 epoch = epoch + ?12, \
                 node_role = CASE WHEN ?13 THEN ?14 ELSE node_role END, \
                 node_roles = COALESCE(?15, node_roles) WHERE id = ?1",
                libsql::params![
                    id.to_string(),
                    c.password_hash.clone(),
                    c.display_name.clone(),
                    c.role.clone(),
                    c.venues.as_deref().map(venues_json),
                    c.disabled_ms.is_some(),
                    c.disabled_ms.flatten(),
                    c.totp_secret.is_some(),
                    c.totp_secret.clone().flatten(),
                    c.totp_pending.is_some(),
                    c.totp_pending.clone().flatten(),
                    i64::from(c.new_epoch),
                    c.node_role.is_some(),
                    c.node_role.clone().flatten(),
                    c.node_roles.as_ref().map(node_roles_json)
                ],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn take_totp_step(&self, id: Uuid, step: i64) -> anyhow::Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE hub_staff SET totp_last_step = ?2 WHERE id = ?1 AND totp_last_step < ?2",
                libsql::params![id.to_string(), step],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn insert_staff_session(
        &self,
        hash: &str,
        staff: Uuid,
        epoch: i64,
        now_ms: i64,
        expires_ms: i64,
    ) -> anyhow::Result<()> {
        let tx = self.0.transaction().await?;
        tx.execute(
            "DELETE FROM staff_sessions WHERE expires_ms <= ?1",
            [now_ms],
        )
        .await?;
        tx.execute(
            "INSERT INTO staff_sessions (hash, staff_id, epoch, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            libsql::params![hash, staff.to_string(), epoch, now_ms, expires_ms],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn staff_session(
        &self,
        hash: &str,
        now_ms: i64,
    ) -> anyhow::Result<Option<(StaffRow, i64)>> {
        let mut rows = self
            .0
            .query(
                "SELECT staff_id, epoch FROM staff_sessions WHERE hash = ?1 AND expires_ms > ?2",
                libsql::params![hash, now_ms],
            )
            .await?;
        let Some(r) = rows.next().await? else {
            return Ok(None);
        };
        let (id, epoch): (String, i64) = (r.get(0)?, r.get(1)?);
        drop(rows);
        Ok(self.staff_by(true, &id).await?.map(|s| (s, epoch)))
    }

    pub async fn delete_staff_session(&self, hash: &str) -> anyhow::Result<()> {
        self.0
            .execute("DELETE FROM staff_sessions WHERE hash = ?1", [hash])
            .await?;
        Ok(())
    }
}

async fn insert_action(
    conn: &Connection,
    a: &ActionRow,
    deliveries: &[DeliveryRow],
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO actions (id, operator_id, kind, label, sent_by, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        libsql::params![
            a.id.to_string(),
            a.operator_id.map(|o| o.to_string()),
            a.kind.as_str(),
            a.label.as_str(),
            a.sent_by.map(|s| s.to_string()),
            a.created_ms
        ],
    )
    .await?;
    for d in deliveries {
        conn.execute(
            "INSERT INTO action_deliveries (action_id, venue_id, message_id, error) VALUES (?1, ?2, ?3, ?4)",
            libsql::params![
                a.id.to_string(),
                d.venue_id.to_string(),
                d.message_id.map(|m| m.to_string()),
                d.error.clone()
            ],
        )
        .await?;
    }
    Ok(())
}

fn action_row(r: &libsql::Row) -> anyhow::Result<ActionRow> {
    Ok(ActionRow {
        id: uuid_at(r, 0)?,
        operator_id: r.get::<Option<String>>(1)?.map(|t| t.parse()).transpose()?,
        kind: r.get(2)?,
        label: r.get(3)?,
        sent_by: r.get::<Option<String>>(4)?.map(|t| t.parse()).transpose()?,
        created_ms: r.get(5)?,
    })
}

impl Held<'_> {
    pub async fn insert_action(&self, a: &ActionRow, d: &[DeliveryRow]) -> anyhow::Result<()> {
        let tx = self.0.transaction().await?;
        insert_action(&tx, a, d).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn actions(
        &self,
        operator: Option<Uuid>,
        limit: i64,
    ) -> anyhow::Result<Vec<ActionRow>> {
        const COLUMNS: &str =
            "SELECT id, operator_id, kind, label, sent_by, created_ms FROM actions";
        let mut rows = match operator {
            Some(o) => {
                self.0
                    .query(
                        &format!("{COLUMNS} WHERE operator_id = ?1 ORDER BY created_ms DESC, id DESC LIMIT ?2"),
                        libsql::params![o.to_string(), limit],
                    )
                    .await?
            }
            None => {
                self.0
                    .query(
                        &format!("{COLUMNS} ORDER BY created_ms DESC, id DESC LIMIT ?1"),
                        libsql::params![limit],
                    )
                    .await?
            }
        };
        let mut out = Vec::new();
        while let Some(r) = rows.next().await? {
            out.push(action_row(&r)?);
        }
        Ok(out)
    }

    pub async fn action(&self, id: Uuid) -> anyhow::Result<Option<(ActionRow, Vec<DeliveryRow>)>> {
        let mut rows = self
            .0
            .query(
                "SELECT id, operator_id, kind, label, sent_by, created_ms FROM actions WHERE id = ?1",
                [id.to_string()],
            )
            .await?;
        let Some(r) = rows.next().await? else {
            return Ok(None);
        };
        let action = action_row(&r)?;
        drop(rows);
        let mut rows = self
            .0
            .query(
                "SELECT venue_id, message_id, error FROM action_deliveries WHERE action_id = ?1 ORDER BY venue_id",
                [id.to_string()],
            )
            .await?;
        let mut deliveries = Vec::new();
        while let Some(r) = rows.next().await? {
            deliveries.push(DeliveryRow {
                venue_id: uuid_at(&r, 0)?,
                message_id: r.get::<Option<String>>(1)?.map(|t| t.parse()).transpose()?,
                error: r.get(2)?,
            });
        }
        Ok(Some((action, deliveries)))
    }
}
