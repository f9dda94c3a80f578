//! Storage on libSQL: the event log, the read tables, and the single writer.
//!
//! One writer task owns the only writing connection (libsql connections must
//! not be shared across tasks, libsql #2132); readers use their own. Keeping
//! everything libSQL-specific in this module leaves room to swap the engine.

pub mod migrate;
mod project;
pub mod read;
pub mod writer;

use std::path::{Path, PathBuf};

pub use read::Reader;
pub use writer::{AppendError, Committed, Log};

/// The file name of the node database inside the data dir.
pub const DB_FILE: &str = "pvm.db";

/// Whether a storage error's text is SQLite's "database or disk is full".
pub fn disk_full(detail: &str) -> bool {
    detail.contains("disk is full") || detail.contains("SQLITE_FULL")
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: libsql::Error,
    },
    #[error("database {path} is unreadable or corrupt: {detail}. Restore it from a backup (pvm-node backup) or move it aside to start empty")]
    Corrupt { path: PathBuf, detail: String },
    #[error("database {path}: {source}")]
    Migration {
        path: PathBuf,
        #[source]
        source: migrate::MigrationError,
    },
    #[error("database error: {0}")]
    Sql(#[from] libsql::Error),
    #[error("the event log is damaged: {0}")]
    Log(String),
}

/// The opened database file. Cheap to share; hand out connections with `connect`.
#[derive(Clone)]
pub struct Db {
    path: PathBuf,
    db: std::sync::Arc<libsql::Database>,
}

impl Db {
    /// Opens (creating if needed) the database, checks it is sound, and migrates it.
    pub async fn open(path: &Path) -> Result<Db, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.to_owned(),
            detail,
        };
        let db = libsql::Builder::new_local(path)
            .build()
            .await
            .map_err(open_err)?;
        let this = Db {
            path: path.to_owned(),
            db: std::sync::Arc::new(db),
        };
        let conn = this.connect().await.map_err(|e| match e {
            StoreError::Sql(e) => corrupt(e.to_string()),
            other => other,
        })?;
        // WAL is a property of the file: set it once, before anything else.
        let mode = query_text(&conn, "PRAGMA journal_mode=WAL")
            .await
            .map_err(|e| corrupt(e.to_string()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(corrupt(format!(
                "could not enable WAL (journal mode is {mode})"
            )));
        }
        let check = query_text(&conn, "PRAGMA quick_check")
            .await
            .map_err(|e| corrupt(e.to_string()))?;
        if check != "ok" {
            return Err(corrupt(check));
        }
        migrate::run(&conn, migrate::MIGRATIONS)
            .await
            .map_err(|source| StoreError::Migration {
                path: path.to_owned(),
                source,
            })?;
        Ok(this)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection with the node's settings: every commit is durable
    /// (synchronous=FULL), and a busy database is waited for, not failed.
    pub async fn connect(&self) -> Result<libsql::Connection, StoreError> {
        let conn = self.db.connect()?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        query_text(&conn, "PRAGMA synchronous=FULL").await?;
        Ok(conn)
    }
}

/// Runs a statement that yields one text (or nothing) and drops its rows
/// before returning: an open `Rows` makes a later commit fail.
pub(crate) async fn query_text(
    conn: &libsql::Connection,
    sql: &str,
) -> Result<String, libsql::Error> {
    let mut rows = conn.query(sql, ()).await?;
    let out = match rows.next().await? {
        Some(row) => match row.get_value(0)? {
            libsql::Value::Text(s) => s,
            libsql::Value::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        },
        None => String::new(),
    };
    drop(rows);
    Ok(out)
}

/// Rebuilds a database at `target` (which must not exist) from the event log
/// behind `source`: every event is folded into a fresh state and projected by
/// the same code the writer uses, in the same batches of read-table rewrites.
/// Returns a reader on the rebuilt database, whose read tables must equal the
/// source's (the replay tests compare `dump_read_tables`).
pub async fn replay_into(source: &Reader, target: &Path) -> Result<Reader, StoreError> {
    rebuild_into(source, target, Ok).await
}

/// Rebuilds the log behind `source` at `target` as `identity`'s: every event
/// in order, under the new node id, chained from genesis and signed with the
/// new key (id, seq, clock and actor kept). `pvm-node resync` uses it to give
/// a forked log a fresh start at the hub.
pub async fn reseal_into(
    source: &Reader,
    target: &Path,
    identity: &crate::identity::NodeIdentity,
) -> Result<Reader, StoreError> {
    let mut prev = pvm_shared::verify::ChainStart::GENESIS.prev_hash;
    rebuild_into(source, target, |env: pvm_shared::envelope::Envelope| {
        // The event's kind and payload bytes are kept as they were.
        let mut out = pvm_shared::envelope::Envelope {
            header: pvm_shared::envelope::EnvelopeHeader {
                node_id: identity.node_id,
                venue_id: identity.venue_id,
                ..env.header
            },
            prev_hash: prev,
            hash: [0; 32],
            sig: None,
            ..env
        };
        out.hash = out.compute_hash();
        out.sign(&identity.key);
        prev = out.hash;
        Ok(out)
    })
    .await
}

/// Builds a database at `target` from `source`'s log, each envelope passed
/// through `map` before it is folded, projected and stored.
async fn rebuild_into(
    source: &Reader,
    target: &Path,
    mut map: impl FnMut(
        pvm_shared::envelope::Envelope,
    ) -> Result<pvm_shared::envelope::Envelope, StoreError>,
) -> Result<Reader, StoreError> {
    if target.exists() {
        return Err(StoreError::Log(format!(
            "{} already exists",
            target.display()
        )));
    }
    let db = Db::open(target).await?;
    let conn = db.connect().await?;
    let stmts = project::Statements::prepare(&conn).await?;
    let mut state = pvm_shared::venue::VenueState::default();
    let mut after = 0u64;
    loop {
        let page = source.events_after(after, 1000).await?;
        if page.is_empty() {
            break;
        }
        conn.execute("BEGIN IMMEDIATE", ()).await?;
        for (seq, bytes) in &page {
            let env = pvm_shared::envelope::Envelope::decode(bytes)
                .map_err(|e| StoreError::Log(format!("seq {seq}: {e}")))?;
            let env = map(env)?;
            let event = env.event().map_err(|e| StoreError::Log(e.to_string()))?;
            let touched = writer::touched_by(&state, &event);
            state.apply(&event);
            stmts.append(&env, &event).await?;
            if !touched.is_empty() {
                project::sync_cash(&conn, &touched, &state).await?;
            }
            after = *seq;
        }
        conn.execute("COMMIT", ()).await?;
    }
    Reader::new(&db).await
}
