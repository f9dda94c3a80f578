//! The PostgreSQL backend: a pool of connections (deadpool-postgres) to
//! one server. Within this process the store is held in turn, as the
//! libSQL file is; across processes the statements carry their own
//! conditions (a token is spent only once, one live node per venue).

use super::{
    node_roles_json, node_roles_of_json, venues_json, venues_of_json, ActionRow, DeliveryRow,
    EventRow, EventsSummary, HeadMoved, Migration, NameTaken, NewNode, NodeListing, NodeRecord,
    NodeRow, OperatorRow, ProblemRecord, ProblemRow, Records, RegistrationTaken, ResyncNode,
    StaffChange, StaffRow, TokenRecord, TokenRow, VenueListing, VenueRecord,
};
use anyhow::Context;
use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::TryStreamExt;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use uuid::Uuid;

const MIGRATIONS: &[Migration] = &[
    Migration {
        number: 1,
        name: "hub",
        sql: include_str!("../../../migrations/cloud/postgres/0001_hub.sql"),
    },
    Migration {
        number: 2,
        name: "admin_sessions",
        sql: include_str!("../../../migrations/cloud/postgres/0002_admin_sessions.sql"),
    },
    Migration {
        number: 3,
        name: "events_by_node",
        sql: include_str!("../../../migrations/cloud/postgres/0003_events_by_node.sql"),
    },
    Migration {
        number: 4,
        name: "node_revoked",
        sql: include_str!("../../../migrations/cloud/postgres/0004_node_revoked.sql"),
    },
    Migration {
        number: 5,
        name: "operators",
        sql: include_str!("../../../migrations/cloud/postgres/0005_operators.sql"),
    },
    Migration {
        number: 6,
        name: "operator_webhook",
        sql: include_str!("../../../migrations/cloud/postgres/0006_operator_webhook.sql"),
    },
    Migration {
        number: 7,
        name: "actions",
        sql: include_str!("../../../migrations/cloud/postgres/0007_actions.sql"),
    },
    Migration {
        number: 8,
        name: "node_role",
        sql: include_str!("../../../migrations/cloud/postgres/0008_node_role.sql"),
    },
    Migration {
        number: 9,
        name: "leaf_next",
        sql: include_str!("../../../migrations/cloud/postgres/0009_leaf_next.sql"),
    },
];

/// Connections this process keeps to the server, at most.
pub const POOL_SIZE: usize = 16;
/// How long a connection may take to open, and a caller may wait for one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Taken (for the transaction) while migrations run, so that processes
/// starting together migrate one at a time: "pvm-hub" in ASCII.
const MIGRATION_LOCK: i64 = 0x0070_766d_2d68_7562;

pub struct Postgres {
    pool: Pool,
    turn: tokio::sync::Mutex<()>,
    /// For connections outside the pool (the partition claims).
    config: tokio_postgres::Config,
}

pub struct Held<'a> {
    client: tokio::sync::Mutex<deadpool_postgres::Object>,
    _turn: tokio::sync::MutexGuard<'a, ()>,
}

/// The URL without its password (in the user part or a `password=`
/// parameter), for logs and messages.
pub fn without_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = without_user_password(base);
    match query {
        None => base,
        Some(q) => {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                base
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        }
    }
}

fn without_user_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Postgres {
    pub async fn open(url: &str) -> anyhow::Result<Postgres> {
        let shown = without_password(url);
        let mut config: tokio_postgres::Config = url
            .parse()
            .with_context(|| format!("--database {shown} is not a PostgreSQL URL"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("pvm-cloud");
        }
        // A server that vanishes without closing the connection (a cut
        // cable, a dead VM) is noticed within about a minute, not hours.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(60));
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .context("making the PostgreSQL connection pool")?;
        let mut client = pool
            .get()
            .await
            .with_context(|| format!("connecting to PostgreSQL at {shown}"))?;
        migrate(&mut client)
            .await
            .with_context(|| format!("migrating the hub's tables at {shown}"))?;
        drop(client);
        Ok(Postgres {
            pool,
            turn: tokio::sync::Mutex::new(()),
            config,
        })
    }

    /// The partition claims of this process, on a connection of their own
    /// (made when first used).
    pub fn claims(&self) -> Claims {
        let mut config = self.config.clone();
        // The server lets the locks go when it notices the connection is
        // gone: within about a minute of a cut network too, not hours; and
        // when the process stops asking (it asks every second while it
        // lives), after CLAIMS_IDLE_MS: a hung or frozen process does not
        // keep its partitions.
        let options = format!(
            "{} -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3 -c tcp_user_timeout=60000 -c idle_session_timeout={CLAIMS_IDLE_MS}",
            config.get_options().unwrap_or("")
        );
        config.options(options.trim());
        Claims {
            config,
            client: None,
            owned: std::collections::BTreeSet::new(),
            connections: 0,
        }
    }

    /// A connection of the pool without the process's turn: for ingest,
    /// whose batches stand on their own (see [`store_batch`]).
    pub async fn store_batch(
        &self,
        events: &[EventRow],
        heads: &[NodeRow],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let mut c = self.pool.get().await.context("no PostgreSQL connection")?;
        store_batch(&mut c, events, heads, now_ms).await
    }

    pub async fn lock(&self) -> anyhow::Result<Held<'_>> {
        let turn = self.turn.lock().await;
        let client = self.pool.get().await.context("no PostgreSQL connection")?;
        Ok(Held {
            client: tokio::sync::Mutex::new(client),
            _turn: turn,
        })
    }
}

/// Applies the migrations not yet recorded, each in one transaction with
/// its record, under a transaction-scoped advisory lock.
async fn migrate(client: &mut deadpool_postgres::Object) -> anyhow::Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (number BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)",
        )
        .await
        .or_else(|e| {
            // Two processes creating it at once: one wins, the other sees it.
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    for m in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE number = $1",
                &[&m.number],
            )
            .await?;
        if done.is_none() {
            tx.batch_execute(m.sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (number, name, applied_ms) VALUES ($1, $2, $3)",
                &[&m.number, &m.name, &crate::now_ms()],
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

fn uuid_of(text: &str) -> anyhow::Result<Uuid> {
    text.parse()
        .with_context(|| format!("{text:?} is not a uuid"))
}

impl Held<'_> {
    pub async fn migrations(&self) -> anyhow::Result<Vec<i64>> {
        let c = self.client.lock().await;
        let rows = c
            .query("SELECT number FROM schema_migrations ORDER BY number", &[])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn nodes(&self) -> anyhow::Result<Vec<NodeRow>> {
        use base64::Engine;
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT node_id, venue_id, public_key, head_seq, head_hash, verified_seq, retired_ms IS NOT NULL, revoked_ms IS NOT NULL FROM nodes",
                &[],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let key = base64::engine::general_purpose::STANDARD.decode(r.get::<_, &str>(2))?;
            let hash: Vec<u8> = r.get(4);
            out.push(NodeRow {
                node_id: r.get(0),
                venue_id: r.get(1),
                public_key: key.try_into().map_err(|_| anyhow::anyhow!("bad key"))?,
                head_seq: r.get::<_, i64>(3) as u64,
                head_hash: hash.try_into().map_err(|_| anyhow::anyhow!("bad hash"))?,
                verified_seq: r.get::<_, i64>(5) as u64,
                retired: r.get(6),
                revoked: r.get(7),
            });
        }
        Ok(out)
    }

    pub async fn add_problems(
        &self,
        grouped: &[(crate::ingest::Report, u64)],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        for ((node, seq, kind, detail), n) in grouped {
            let (kind, n, seq) = (*kind, *n as i64, seq.map(|s| s as i64));
            // One row per node and kind, whichever process reports it.
            tx.execute(
                "INSERT INTO problems (node_id, seq, kind, detail, at_ms, count, last_ms) VALUES ($1, $2, $3, $4, $5, $6, $5) \
                 ON CONFLICT (node_id, kind) DO UPDATE SET count = problems.count + EXCLUDED.count, last_ms = EXCLUDED.last_ms",
                &[node, &seq, &kind, detail, &now_ms, &n],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn each_live_event(&self, mut f: impl FnMut(Uuid, Vec<u8>)) -> anyhow::Result<()> {
        let c = self.client.lock().await;
        let rows = c
            .query_raw(
                "SELECT venue_id, envelope FROM events WHERE node_id IN \
                 (SELECT node_id FROM nodes WHERE retired_ms IS NULL) ORDER BY node_id, seq",
                std::iter::empty::<i64>(),
            )
            .await?;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await? {
            f(row.get(0), row.get(1));
        }
        Ok(())
    }

    pub async fn store_batch(
        &self,
        events: &[EventRow],
        heads: &[NodeRow],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let mut c = self.client.lock().await;
        store_batch(&mut c, events, heads, now_ms).await
    }

    pub async fn envelope(&self, node: Uuid, seq: i64) -> anyhow::Result<Option<Vec<u8>>> {
        let c = self.client.lock().await;
        let row = c
            .query_opt(
                "SELECT envelope FROM events WHERE node_id = $1 AND seq = $2",
                &[&node, &seq],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn record_heartbeat(
        &self,
        node: Uuid,
        beat: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let c = self.client.lock().await;
        c.execute(
            "UPDATE nodes SET heartbeat = $2, last_contact_ms = $3 WHERE node_id = $1",
            &[&node, &beat, &now_ms],
        )
        .await?;
        Ok(())
    }

    pub async fn venue_exists(&self, id: Uuid) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        Ok(c.query_opt("SELECT 1 FROM venues WHERE id = $1", &[&id])
            .await?
            .is_some())
    }

    pub async fn insert_venue(
        &self,
        id: Uuid,
        name: &str,
        operator: Option<Uuid>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let c = self.client.lock().await;
        c.execute(
            "INSERT INTO venues (id, name, created_ms, operator_id) VALUES ($1, $2, $3, $4)",
            &[&id, &name, &now_ms, &operator],
        )
        .await?;
        Ok(())
    }

    pub async fn venues(&self) -> anyhow::Result<Vec<VenueListing>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT v.id::text, v.name, n.node_id::text, n.head_seq, n.verified_seq, n.last_contact_ms, n.heartbeat, \
                 COALESCE(n.head_seq, 0), n.revoked_ms, v.operator_id \
                 FROM venues v LEFT JOIN nodes n ON n.venue_id = v.id AND n.retired_ms IS NULL \
                 ORDER BY v.name COLLATE \"C\"",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| VenueListing {
                id: r.get(0),
                name: r.get(1),
                node_id: r.get(2),
                head_seq: r.get(3),
                verified_seq: r.get::<_, Option<i64>>(4).unwrap_or(0),
                last_contact_ms: r.get(5),
                heartbeat: r.get(6),
                events: r.get(7),
                revoked_ms: r.get(8),
                operator_id: r.get(9),
            })
            .collect())
    }

    pub async fn node_listings(&self) -> anyhow::Result<Vec<NodeListing>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT node_id::text, venue_id::text, head_seq, verified_seq, last_contact_ms, heartbeat, retired_ms, revoked_ms \
                 FROM nodes ORDER BY venue_id::text, registered_ms",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| NodeListing {
                node_id: r.get(0),
                venue_id: r.get(1),
                head_seq: r.get(2),
                verified_seq: r.get(3),
                last_contact_ms: r.get(4),
                heartbeat: r.get(5),
                retired_ms: r.get(6),
                revoked_ms: r.get(7),
            })
            .collect())
    }

    pub async fn insert_token(
        &self,
        hash: &str,
        venue: Uuid,
        expires_ms: i64,
    ) -> anyhow::Result<()> {
        let c = self.client.lock().await;
        c.execute(
            "INSERT INTO reg_tokens (hash, venue_id, expires_ms) VALUES ($1, $2, $3)",
            &[&hash, &venue, &expires_ms],
        )
        .await?;
        Ok(())
    }

    pub async fn token(&self, hash: &str) -> anyhow::Result<Option<TokenRow>> {
        let c = self.client.lock().await;
        let row = c
            .query_opt(
                "SELECT venue_id::text, expires_ms, used_ms FROM reg_tokens WHERE hash = $1",
                &[&hash],
            )
            .await?;
        Ok(row.map(|r| TokenRow {
            venue_id: r.get(0),
            expires_ms: r.get(1),
            used: r.get::<_, Option<i64>>(2).is_some(),
        }))
    }

    pub async fn node_registered(&self, venue: Uuid, node: Uuid) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        Ok(c.query_opt(
            "SELECT 1 FROM nodes WHERE venue_id = $1 OR node_id = $2 LIMIT 1",
            &[&venue, &node],
        )
        .await?
        .is_some())
    }

    pub async fn commit_registration(
        &self,
        token_hash: &str,
        token_venue: Uuid,
        node: &NewNode<'_>,
    ) -> anyhow::Result<()> {
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        let spent = tx
            .execute(
                "UPDATE reg_tokens SET used_ms = $2 WHERE hash = $1 AND used_ms IS NULL AND venue_id = $3",
                &[&token_hash, &node.at_ms, &token_venue],
            )
            .await?;
        if spent != 1 {
            return Err(RegistrationTaken.into());
        }
        // The venue takes the id the node's events carry.
        let renamed = tx
            .execute(
                "UPDATE venues SET id = $2 WHERE id = $1",
                &[&token_venue, &node.venue_id],
            )
            .await
            .map_err(taken)?;
        if renamed != 1 {
            return Err(RegistrationTaken.into());
        }
        tx.execute(
            "UPDATE reg_tokens SET venue_id = $2 WHERE venue_id = $1",
            &[&token_venue, &node.venue_id],
        )
        .await?;
        // Regional managers' sets follow the venue to its new id.
        tx.execute(
            "UPDATE hub_staff SET venues = REPLACE(venues, $1::uuid::text, $2::uuid::text) \
             WHERE strpos(venues, $1::uuid::text) > 0",
            &[&token_venue, &node.venue_id],
        )
        .await?;
        insert_node(&tx, node).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn resync_node(&self, node: Uuid) -> anyhow::Result<Option<ResyncNode>> {
        let c = self.client.lock().await;
        let row = c
            .query_opt(
                "SELECT venue_id::text, public_key, leaf_user, leaf_password, retired_ms, revoked_ms FROM nodes WHERE node_id = $1",
                &[&node],
            )
            .await?;
        Ok(row.map(|r| ResyncNode {
            venue_id: r.get(0),
            public_key: r.get(1),
            leaf_user: r.get(2),
            leaf_hash: r.get(3),
            retired: r.get::<_, Option<i64>>(4).is_some(),
            revoked_ms: r.get(5),
        }))
    }

    pub async fn live_node_key(&self, node: Uuid, venue: Uuid) -> anyhow::Result<Option<String>> {
        let c = self.client.lock().await;
        let row = c
            .query_opt(
                "SELECT public_key FROM nodes WHERE node_id = $1 AND venue_id = $2 AND retired_ms IS NULL",
                &[&node, &venue],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn revoke_node(&self, node: Uuid, at_ms: i64) -> anyhow::Result<Option<i64>> {
        let c = self.client.lock().await;
        let row = c
            .query_opt(
                "UPDATE nodes SET revoked_ms = COALESCE(revoked_ms, $2) WHERE node_id = $1 RETURNING revoked_ms",
                &[&node, &at_ms],
            )
            .await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    pub async fn node_exists(&self, node: Uuid) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        Ok(
            c.query_opt("SELECT 1 FROM nodes WHERE node_id = $1", &[&node])
                .await?
                .is_some(),
        )
    }

    pub async fn replace_node(&self, old: Uuid, new: &NewNode<'_>) -> anyhow::Result<()> {
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        tx.execute(
            "UPDATE nodes SET retired_ms = $2 WHERE node_id = $1",
            &[&old, &new.at_ms],
        )
        .await?;
        insert_node(&tx, new).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn plain_leaf_passwords(&self) -> anyhow::Result<Vec<(String, String)>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT node_id::text, leaf_password FROM nodes WHERE leaf_password NOT LIKE '$2%'",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn set_leaf_password(&self, node: &str, hash: &str) -> anyhow::Result<()> {
        let node = uuid_of(node)?;
        let c = self.client.lock().await;
        c.execute(
            "UPDATE nodes SET leaf_password = $2 WHERE node_id = $1",
            &[&node, &hash],
        )
        .await?;
        Ok(())
    }

    pub async fn set_leaf_next(
        &self,
        node: Uuid,
        user: &str,
        hash: &str,
        at_ms: i64,
    ) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        let n = c
            .execute(
                "UPDATE nodes SET leaf_user_next = $2, leaf_hash_next = $3, leaf_take_ms = $4 \
                 WHERE node_id = $1 AND retired_ms IS NULL AND revoked_ms IS NULL \
                 AND (leaf_take_ms IS NULL OR leaf_take_ms < $4)",
                &[&node, &user, &hash, &at_ms],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn promote_leaf_next(&self, node: Uuid, user: &str) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        let n = c
            .execute(
                "UPDATE nodes SET leaf_user = leaf_user_next, leaf_password = leaf_hash_next, \
                 leaf_user_next = NULL, leaf_hash_next = NULL \
                 WHERE node_id = $1 AND leaf_user_next = $2 AND retired_ms IS NULL AND revoked_ms IS NULL",
                &[&node, &user],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn leaf_users(&self) -> anyhow::Result<Vec<(String, String, String, String)>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT node_id, venue_id, leaf_user, leaf_password FROM (\
                 SELECT node_id::text, venue_id::text, leaf_user, leaf_password FROM nodes \
                 WHERE retired_ms IS NULL AND revoked_ms IS NULL \
                 UNION ALL SELECT node_id::text, venue_id::text, leaf_user_next, leaf_hash_next FROM nodes \
                 WHERE retired_ms IS NULL AND revoked_ms IS NULL AND leaf_user_next IS NOT NULL\
                 ) AS users ORDER BY leaf_user COLLATE \"C\"",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    pub async fn events_summary(&self, id: Uuid) -> anyhow::Result<EventsSummary> {
        let c = self.client.lock().await;
        let r = c
            .query_one(
                "SELECT COUNT(*), MIN(seq), MAX(seq), (SELECT MAX(verified_seq) FROM nodes WHERE venue_id = $1 AND retired_ms IS NULL) FROM events \
                 WHERE node_id = (SELECT node_id FROM nodes WHERE venue_id = $1 AND retired_ms IS NULL ORDER BY registered_ms DESC LIMIT 1)",
                &[&id],
            )
            .await?;
        let (count, min, max, verified): (i64, Option<i64>, Option<i64>, Option<i64>) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let kinds = c
            .query(
                "SELECT seq, kind FROM events WHERE node_id = \
                 (SELECT node_id FROM nodes WHERE venue_id = $1 AND retired_ms IS NULL ORDER BY registered_ms DESC LIMIT 1) ORDER BY seq DESC LIMIT 50",
                &[&id],
            )
            .await?;
        let latest = kinds.iter().map(|k| (k.get(0), k.get(1))).collect();
        Ok((
            count,
            min,
            max,
            verified,
            super::latest_with_verified(latest, verified),
        ))
    }

    pub async fn problems(&self, id: Uuid) -> anyhow::Result<Vec<ProblemRow>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT p.seq, p.kind, p.detail, p.at_ms, p.count, COALESCE(p.last_ms, p.at_ms) FROM problems p LEFT JOIN nodes n ON n.node_id = p.node_id \
                 WHERE n.venue_id = $1 OR p.node_id IS NULL OR n.node_id IS NULL ORDER BY p.id",
                &[&id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ProblemRow {
                seq: r.get(0),
                kind: r.get(1),
                detail: r.get(2),
                at_ms: r.get(3),
                count: r.get(4),
                last_ms: r.get(5),
            })
            .collect())
    }
}

impl Held<'_> {
    pub async fn events_after(
        &self,
        node: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
        let c = self.client.lock().await;
        let rows = c
            .query(
                "SELECT seq, envelope FROM events WHERE node_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&node, &after_seq, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    pub async fn is_empty(&self) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        let any: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM venues) OR EXISTS (SELECT 1 FROM nodes)",
                &[],
            )
            .await?
            .get(0);
        Ok(!any)
    }

    pub async fn records(&self) -> anyhow::Result<Records> {
        let c = self.client.lock().await;
        let venues = c
            .query(
                "SELECT id, name, created_ms, operator_id FROM venues ORDER BY created_ms, id",
                &[],
            )
            .await?
            .iter()
            .map(|r| VenueRecord {
                id: r.get(0),
                name: r.get(1),
                created_ms: r.get(2),
                operator_id: r.get(3),
            })
            .collect();
        let tokens = c
            .query(
                "SELECT hash, venue_id, expires_ms, used_ms FROM reg_tokens ORDER BY hash",
                &[],
            )
            .await?
            .iter()
            .map(|r| TokenRecord {
                hash: r.get(0),
                venue_id: r.get(1),
                expires_ms: r.get(2),
                used_ms: r.get(3),
            })
            .collect();
        let nodes = c
            .query(
                "SELECT node_id, venue_id, public_key, leaf_user, leaf_password, registered_ms, head_seq, head_hash, \
                 verified_seq, last_contact_ms, heartbeat, retired_ms, revoked_ms, leaf_user_next, leaf_hash_next, leaf_take_ms \
                 FROM nodes ORDER BY registered_ms, node_id",
                &[],
            )
            .await?
            .iter()
            .map(|r| NodeRecord {
                node_id: r.get(0),
                venue_id: r.get(1),
                public_key: r.get(2),
                leaf_user: r.get(3),
                leaf_password: r.get(4),
                registered_ms: r.get(5),
                head_seq: r.get(6),
                head_hash: r.get(7),
                verified_seq: r.get(8),
                last_contact_ms: r.get(9),
                heartbeat: r.get(10),
                retired_ms: r.get(11),
                revoked_ms: r.get(12),
                leaf_user_next: r.get(13),
                leaf_hash_next: r.get(14),
                leaf_take_ms: r.get(15),
            })
            .collect();
        let problems = c
            .query(
                "SELECT node_id, seq, kind, detail, at_ms, count, last_ms FROM problems ORDER BY id",
                &[],
            )
            .await?
            .iter()
            .map(|r| ProblemRecord {
                node_id: r.get(0),
                seq: r.get(1),
                kind: r.get(2),
                detail: r.get(3),
                at_ms: r.get(4),
                count: r.get(5),
                last_ms: r.get(6),
            })
            .collect();
        Ok(Records {
            venues,
            tokens,
            nodes,
            problems,
            operators: operators(&*c).await?,
            staff: staff_where(&*c, "TRUE", None).await?,
            actions: {
                let mut out = Vec::new();
                for a in actions(&*c, None, i64::MAX).await? {
                    if let Some(found) = action(&*c, a.id).await? {
                        out.push(found);
                    }
                }
                out
            },
        })
    }

    pub async fn import_records(&self, records: &Records) -> anyhow::Result<()> {
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        for o in &records.operators {
            tx.execute(
                "INSERT INTO operators (id, name, created_ms, alert_webhook) VALUES ($1, $2, $3, $4)",
                &[&o.id, &o.name, &o.created_ms, &o.alert_webhook],
            )
            .await?;
        }
        for v in &records.venues {
            tx.execute(
                "INSERT INTO venues (id, name, created_ms, operator_id) VALUES ($1, $2, $3, $4)",
                &[&v.id, &v.name, &v.created_ms, &v.operator_id],
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
                "INSERT INTO reg_tokens (hash, venue_id, expires_ms, used_ms) VALUES ($1, $2, $3, $4)",
                &[&t.hash, &t.venue_id, &t.expires_ms, &t.used_ms],
            )
            .await?;
        }
        for n in &records.nodes {
            tx.execute(
                "INSERT INTO nodes (node_id, venue_id, public_key, leaf_user, leaf_password, registered_ms, head_seq, head_hash, \
                 verified_seq, last_contact_ms, heartbeat, retired_ms, revoked_ms, leaf_user_next, leaf_hash_next, leaf_take_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                &[
                    &n.node_id,
                    &n.venue_id,
                    &n.public_key,
                    &n.leaf_user,
                    &n.leaf_password,
                    &n.registered_ms,
                    &n.head_seq,
                    &n.head_hash,
                    &n.verified_seq,
                    &n.last_contact_ms,
                    &n.heartbeat,
                    &n.retired_ms,
                    &n.revoked_ms,
                    &n.leaf_user_next,
                    &n.leaf_hash_next,
                    &n.leaf_take_ms,
                ],
            )
            .await?;
        }
        for p in &records.problems {
            tx.execute(
                "INSERT INTO problems (node_id, seq, kind, detail, at_ms, count, last_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&p.node_id, &p.seq, &p.kind, &p.detail, &p.at_ms, &p.count, &p.last_ms],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Stores a batch in one transaction: the events by binary COPY (new rows:
/// ingest accepts only events past each node's head), falling back to an
/// `INSERT … ON CONFLICT DO NOTHING` when the COPY meets a row already there;
/// then each node's head, on condition that it is still where this batch
/// began ([`HeadMoved`] and nothing stored otherwise: another process stored
/// these events first).
async fn store_batch(
    c: &mut deadpool_postgres::Object,
    events: &[EventRow],
    heads: &[NodeRow],
    now_ms: i64,
) -> anyhow::Result<()> {
    let mut tx = c.transaction().await?;
    if !events.is_empty() {
        let sp = tx.savepoint("copy").await?;
        match copy_events(&sp, events).await {
            Ok(()) => sp.commit().await?,
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                sp.rollback().await?;
                insert_events(&tx, events).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    for h in heads {
        let first = events
            .iter()
            .filter(|e| e.node_id == h.node_id)
            .map(|e| e.seq)
            .min();
        let set = "UPDATE nodes SET head_seq = $2, head_hash = $3, verified_seq = $4, last_contact_ms = $5 WHERE node_id = $1";
        let (seq, hash, verified) = (
            h.head_seq as i64,
            h.head_hash.as_slice(),
            h.verified_seq as i64,
        );
        let updated = match first {
            Some(first) => {
                tx.execute(
                    &format!("{set} AND head_seq = $6"),
                    &[&h.node_id, &seq, &hash, &verified, &now_ms, &(first - 1)],
                )
                .await?
            }
            None => {
                tx.execute(set, &[&h.node_id, &seq, &hash, &verified, &now_ms])
                    .await?
            }
        };
        if first.is_some() && updated != 1 {
            return Err(HeadMoved(h.node_id).into());
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn copy_events(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[EventRow],
) -> Result<(), tokio_postgres::Error> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::Type;
    let sink = tx
        .copy_in("COPY events (node_id, seq, venue_id, kind, envelope) FROM STDIN (FORMAT binary)")
        .await?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[Type::UUID, Type::INT8, Type::UUID, Type::TEXT, Type::BYTEA],
    );
    let mut writer = std::pin::pin!(writer);
    for e in events {
        writer
            .as_mut()
            .write(&[&e.node_id, &e.seq, &e.venue_id, &e.kind, &e.envelope])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// The same rows, a duplicate left as it was.
async fn insert_events(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[EventRow],
) -> anyhow::Result<()> {
    let nodes: Vec<Uuid> = events.iter().map(|e| e.node_id).collect();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let venues: Vec<Uuid> = events.iter().map(|e| e.venue_id).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let envelopes: Vec<&[u8]> = events.iter().map(|e| e.envelope.as_slice()).collect();
    tx.execute(
        "INSERT INTO events (node_id, seq, venue_id, kind, envelope) \
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::bytea[]) \
         ON CONFLICT DO NOTHING",
        &[&nodes, &seqs, &venues, &kinds, &envelopes],
    )
    .await?;
    Ok(())
}

/// A unique violation (another process registered the same venue or node
/// first) is [`RegistrationTaken`]; anything else as it is.
fn taken(e: tokio_postgres::Error) -> anyhow::Error {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        RegistrationTaken.into()
    } else {
        e.into()
    }
}

async fn insert_node(
    tx: &deadpool_postgres::Transaction<'_>,
    n: &NewNode<'_>,
) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO nodes (node_id, venue_id, public_key, leaf_user, leaf_password, registered_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&n.node_id, &n.venue_id, &n.public_key, &n.leaf_user, &n.leaf_hash, &n.at_ms],
    )
    .await
    .map_err(taken)?;
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
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        tx.execute(
            "DELETE FROM admin_sessions WHERE expires_ms <= $1",
            &[&now_ms],
        )
        .await?;
        tx.execute(
            "INSERT INTO admin_sessions (hash, admin_key, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
            &[&hash, &admin_key, &now_ms, &expires_ms],
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
        let c = self.client.lock().await;
        Ok(c.query_opt(
            "SELECT 1 FROM admin_sessions WHERE hash = $1 AND admin_key = $2 AND expires_ms > $3",
            &[&hash, &admin_key, &now_ms],
        )
        .await?
        .is_some())
    }

    pub async fn delete_session(&self, hash: &str) -> anyhow::Result<()> {
        let c = self.client.lock().await;
        c.execute("DELETE FROM admin_sessions WHERE hash = $1", &[&hash])
            .await?;
        Ok(())
    }
}

/// Advisory-lock keys (the first of the two int4 keys): a live pvm-cloud
/// process holds one "member" lock (keyed by its backend pid) and one
/// "partition" lock per partition of `PVM_UP` it ingests.
const MEMBER_LOCKS: i32 = 0x7076_6d01;
/// The claims connection is closed by the server after this long without a
/// statement (PostgreSQL 14 or newer).
const CLAIMS_IDLE_MS: u32 = 15_000;
const PARTITION_LOCKS: i32 = 0x7076_6d02;

/// The partitions this process holds, through session advisory locks on a
/// connection of their own (not a pooled one: a lock lives exactly as long
/// as its connection, and PostgreSQL lets it go the moment this process
/// dies). Any failure of that connection counts as losing every claim.
pub struct Claims {
    config: tokio_postgres::Config,
    client: Option<tokio_postgres::Client>,
    owned: std::collections::BTreeSet<u32>,
    /// Connections made so far: a new one holds none of the old one's locks.
    connections: u64,
}

/// Where advisory locks of this database are listed (they are per database:
/// two hubs on one server do not see each other's).
const LOCKS_HERE: &str = "FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

impl Claims {
    /// The partitions held now.
    pub fn owned(&self) -> &std::collections::BTreeSet<u32> {
        &self.owned
    }

    /// How many connections have been made: when it changes, every claim
    /// held before was lost in between.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// Drops the connection: the server lets every lock go with it.
    pub fn lose(&mut self) {
        self.client = None;
        self.owned.clear();
    }

    async fn client(&mut self) -> anyhow::Result<&tokio_postgres::Client> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.lose();
        }
        if self.client.is_none() {
            let (client, connection) = self.config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "the partition claims' connection ended");
                }
            });
            client
                .execute(
                    "SELECT pg_advisory_lock($1, pg_backend_pid())",
                    &[&MEMBER_LOCKS],
                )
                .await?;
            self.client = Some(client);
            self.connections += 1;
        }
        self.client
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no claims connection"))
    }

    /// How many pvm-cloud processes share this database now (this one
    /// included), and the partitions the others hold.
    pub async fn others(&mut self) -> anyhow::Result<(u32, std::collections::BTreeSet<u32>)> {
        let c = self.client().await?;
        let live: i64 = c
            .query_one(
                &format!("SELECT count(*) {LOCKS_HERE} AND classid = $1::int4::oid"),
                &[&MEMBER_LOCKS],
            )
            .await?
            .get(0);
        let taken = c
            .query(
                &format!(
                    "SELECT objid::int8 {LOCKS_HERE} AND classid = $1::int4::oid AND pid <> pg_backend_pid()"
                ),
                &[&PARTITION_LOCKS],
            )
            .await?
            .iter()
            .map(|r| r.get::<_, i64>(0) as u32)
            .collect();
        Ok((u32::try_from(live).unwrap_or(1).max(1), taken))
    }

    /// Takes partition `p` if no other process holds it.
    pub async fn claim(&mut self, p: u32) -> anyhow::Result<bool> {
        let key = i32::try_from(p)?;
        let got: bool = self
            .client()
            .await?
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&PARTITION_LOCKS, &key],
            )
            .await?
            .get(0);
        if got {
            self.owned.insert(p);
        }
        Ok(got)
    }

    /// Lets partition `p` go (its ingest has stopped).
    pub async fn release(&mut self, p: u32) -> anyhow::Result<()> {
        let key = i32::try_from(p)?;
        self.owned.remove(&p);
        self.client()
            .await?
            .execute(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&PARTITION_LOCKS, &key],
            )
            .await?;
        Ok(())
    }
}

const STAFF_COLUMNS: &str =
    "id, operator_id, username, display_name, password_hash, role, venues, \
     totp_secret, totp_pending, totp_last_step, epoch, disabled_ms, created_ms, node_role, node_roles";

fn staff_row(r: &tokio_postgres::Row) -> StaffRow {
    StaffRow {
        id: r.get(0),
        operator_id: r.get(1),
        username: r.get(2),
        display_name: r.get(3),
        password_hash: r.get(4),
        role: r.get(5),
        venues: venues_of_json(r.get(6)),
        totp_secret: r.get(7),
        totp_pending: r.get(8),
        totp_last_step: r.get(9),
        epoch: r.get(10),
        disabled_ms: r.get(11),
        created_ms: r.get(12),
        node_role: r.get(13),
        node_roles: node_roles_of_json(r.get(14)),
    }
}

fn name_taken(e: tokio_postgres::Error) -> anyhow::Error {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        NameTaken.into()
    } else {
        e.into()
    }
}

async fn insert_staff(c: &impl GenericClient, st: &StaffRow) -> anyhow::Result<()> {
    c.execute(
        &format!("INSERT INTO hub_staff ({STAFF_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"),
        &[
            &st.id,
            &st.operator_id,
            &st.username,
            &st.display_name,
            &st.password_hash,
            &st.role,
            &venues_json(&st.venues),
            &st.totp_secret,
            &st.totp_pending,
            &st.totp_last_step,
            &st.epoch,
            &st.disabled_ms,
            &st.created_ms,
            &st.node_role,
            &node_roles_json(&st.node_roles),
        ],
    )
    .await
    .map_err(name_taken)?;
    Ok(())
}

async fn operators(c: &impl GenericClient) -> anyhow::Result<Vec<OperatorRow>> {
    Ok(c.query(
        "SELECT id, name, created_ms, alert_webhook FROM operators ORDER BY name COLLATE \"C\", id",
        &[],
    )
    .await?
    .iter()
    .map(|r| OperatorRow {
        id: r.get(0),
        name: r.get(1),
        created_ms: r.get(2),
        alert_webhook: r.get(3),
    })
    .collect())
}

async fn staff_where(
    c: &impl GenericClient,
    condition: &str,
    value: Option<&(dyn tokio_postgres::types::ToSql + Sync)>,
) -> anyhow::Result<Vec<StaffRow>> {
    let sql = format!(
        "SELECT {STAFF_COLUMNS} FROM hub_staff WHERE {condition} ORDER BY username COLLATE \"C\""
    );
    let rows = match value {
        Some(v) => c.query(&sql, &[v]).await?,
        None => c.query(&sql, &[]).await?,
    };
    Ok(rows.iter().map(staff_row).collect())
}

impl Held<'_> {
    pub async fn insert_operator(&self, op: &OperatorRow) -> anyhow::Result<()> {
        let c = self.client.lock().await;
        c.execute(
            "INSERT INTO operators (id, name, created_ms, alert_webhook) VALUES ($1, $2, $3, $4)",
            &[&op.id, &op.name, &op.created_ms, &op.alert_webhook],
        )
        .await
        .map_err(name_taken)?;
        Ok(())
    }

    pub async fn operators(&self) -> anyhow::Result<Vec<OperatorRow>> {
        let c = self.client.lock().await;
        operators(&*c).await
    }

    pub async fn operator(&self, id: Uuid) -> anyhow::Result<Option<OperatorRow>> {
        let c = self.client.lock().await;
        Ok(c.query_opt(
            "SELECT id, name, created_ms, alert_webhook FROM operators WHERE id = $1",
            &[&id],
        )
        .await?
        .map(|r| OperatorRow {
            id: r.get(0),
            name: r.get(1),
            created_ms: r.get(2),
            alert_webhook: r.get(3),
        }))
    }

    pub async fn change_operator(
        &self,
        id: Uuid,
        name: Option<&str>,
        webhook: Option<Option<&str>>,
    ) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        let n = c
            .execute(
                "UPDATE operators SET name = COALESCE($2, name), \
                 alert_webhook = CASE WHEN $3 THEN $4 ELSE alert_webhook END WHERE id = $1",
                &[&id, &name, &webhook.is_some(), &webhook.flatten()],
            )
            .await
            .map_err(name_taken)?;
        Ok(n > 0)
    }

    pub async fn venue_operator(&self, venue: Uuid) -> anyhow::Result<Option<Option<Uuid>>> {
        let c = self.client.lock().await;
        Ok(
            c.query_opt("SELECT operator_id FROM venues WHERE id = $1", &[&venue])
                .await?
                .map(|r| r.get(0)),
        )
    }

    pub async fn insert_staff(&self, st: &StaffRow) -> anyhow::Result<()> {
        let c = self.client.lock().await;
        insert_staff(&*c, st).await
    }

    pub async fn staff_by(&self, by_id: bool, key: &str) -> anyhow::Result<Option<StaffRow>> {
        let c = self.client.lock().await;
        let found = if by_id {
            let Ok(id) = key.parse::<Uuid>() else {
                return Ok(None);
            };
            staff_where(&*c, "id = $1", Some(&id)).await?
        } else {
            staff_where(&*c, "username = $1", Some(&key)).await?
        };
        Ok(found.into_iter().next())
    }

    pub async fn staff_of(&self, operator: Option<Uuid>) -> anyhow::Result<Vec<StaffRow>> {
        let c = self.client.lock().await;
        match operator {
            Some(o) => staff_where(&*c, "operator_id = $1", Some(&o)).await,
            None => staff_where(&*c, "operator_id IS NULL", None).await,
        }
    }

    pub async fn change_staff(&self, id: Uuid, ch: &StaffChange) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        let n = c
            .execute(
                "UPDATE hub_staff SET \
                 password_hash = COALESCE($2, password_hash), \
                 display_name = COALESCE($3, display_name), \
                 role = COALESCE($4, role), \
                 venues = COALESCE($5, venues), \
                 disabled_ms = CASE WHEN $6 THEN $7 ELSE disabled_ms END, \
                 totp_secret = CASE WHEN $8 THEN $9 ELSE totp_secret END, \
                 totp_pending = CASE WHEN $10 THEN $11 ELSE totp_pending END, \
                 epoch = epoch + $12, \
                 node_role = CASE WHEN $13 THEN $14 ELSE node_role END, \
                 node_roles = COALESCE($15, node_roles) WHERE id = $1",
                &[
                    &id,
                    &ch.password_hash,
                    &ch.display_name,
                    &ch.role,
                    &ch.venues.as_deref().map(venues_json),
                    &ch.disabled_ms.is_some(),
                    &ch.disabled_ms.flatten(),
                    &ch.totp_secret.is_some(),
                    &ch.totp_secret.clone().flatten(),
                    &ch.totp_pending.is_some(),
                    &ch.totp_pending.clone().flatten(),
                    &i64::from(ch.new_epoch),
                    &ch.node_role.is_some(),
                    &ch.node_role.clone().flatten(),
                    &ch.node_roles.as_ref().map(node_roles_json),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn take_totp_step(&self, id: Uuid, step: i64) -> anyhow::Result<bool> {
        let c = self.client.lock().await;
        let n = c
            .execute(
                "UPDATE hub_staff SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
                &[&id, &step],
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
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        tx.execute(
            "DELETE FROM staff_sessions WHERE expires_ms <= $1",
            &[&now_ms],
        )
        .await?;
        tx.execute(
            "INSERT INTO staff_sessions (hash, staff_id, epoch, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)",
            &[&hash, &staff, &epoch, &now_ms, &expires_ms],
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
        let c = self.client.lock().await;
        let Some(r) = c
            .query_opt(
                "SELECT staff_id, epoch FROM staff_sessions WHERE hash = $1 AND expires_ms > $2",
                &[&hash, &now_ms],
            )
            .await?
        else {
            return Ok(None);
        };
        let (id, epoch): (Uuid, i64) = (r.get(0), r.get(1));
        let found = staff_where(&*c, "id = $1", Some(&id)).await?;
        Ok(found.into_iter().next().map(|s| (s, epoch)))
    }

    pub async fn delete_staff_session(&self, hash: &str) -> anyhow::Result<()> {
        let c = self.client.lock().await;
        c.execute("DELETE FROM staff_sessions WHERE hash = $1", &[&hash])
            .await?;
        Ok(())
    }
}

async fn insert_action(
    c: &impl GenericClient,
    a: &ActionRow,
    deliveries: &[DeliveryRow],
) -> anyhow::Result<()> {
    c.execute(
        "INSERT INTO actions (id, operator_id, kind, label, sent_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&a.id, &a.operator_id, &a.kind, &a.label, &a.sent_by, &a.created_ms],
    )
    .await?;
    for d in deliveries {
        c.execute(
            "INSERT INTO action_deliveries (action_id, venue_id, message_id, error) VALUES ($1, $2, $3, $4)",
            &[&a.id, &d.venue_id, &d.message_id, &d.error],
        )
        .await?;
    }
    Ok(())
}

fn action_row(r: &tokio_postgres::Row) -> ActionRow {
    ActionRow {
        id: r.get(0),
        operator_id: r.get(1),
        kind: r.get(2),
        label: r.get(3),
        sent_by: r.get(4),
        created_ms: r.get(5),
    }
}

async fn actions(
    c: &impl GenericClient,
    operator: Option<Uuid>,
    limit: i64,
) -> anyhow::Result<Vec<ActionRow>> {
    const COLUMNS: &str = "SELECT id, operator_id, kind, label, sent_by, created_ms FROM actions";
    let rows = match operator {
        Some(o) => {
            c.query(
                &format!(
                    "{COLUMNS} WHERE operator_id = $1 ORDER BY created_ms DESC, id DESC LIMIT $2"
                ),
                &[&o, &limit],
            )
            .await?
        }
        None => {
            c.query(
                &format!("{COLUMNS} ORDER BY created_ms DESC, id DESC LIMIT $1"),
                &[&limit],
            )
            .await?
        }
    };
    Ok(rows.iter().map(action_row).collect())
}

async fn action(
    c: &impl GenericClient,
    id: Uuid,
) -> anyhow::Result<Option<(ActionRow, Vec<DeliveryRow>)>> {
    let Some(r) = c
        .query_opt(
            "SELECT id, operator_id, kind, label, sent_by, created_ms FROM actions WHERE id = $1",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let deliveries = c
        .query(
            "SELECT venue_id, message_id, error FROM action_deliveries WHERE action_id = $1 ORDER BY venue_id::text",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| DeliveryRow {
            venue_id: r.get(0),
            message_id: r.get(1),
            error: r.get(2),
        })
        .collect();
    Ok(Some((action_row(&r), deliveries)))
}

impl Held<'_> {
    pub async fn insert_action(&self, a: &ActionRow, d: &[DeliveryRow]) -> anyhow::Result<()> {
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        insert_action(&tx, a, d).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn actions(
        &self,
        operator: Option<Uuid>,
        limit: i64,
    ) -> anyhow::Result<Vec<ActionRow>> {
        let c = self.client.lock().await;
        actions(&*c, operator, limit).await
    }

    pub async fn action(&self, id: Uuid) -> anyhow::Result<Option<(ActionRow, Vec<DeliveryRow>)>> {
        let c = self.client.lock().await;
        action(&*c, id).await
    }
}
