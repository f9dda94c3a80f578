//! Applies `migrations/node/NNNN_*.sql` in order and refuses to start when a
//! migration that was already applied has changed since.
//!
//! Rollback after an update: the older binary starts on the newer schema if
//! every migration it does not know was recorded as backward compatible
//! (additive: new tables, columns with defaults, indexes). Migrations after
//! 0008 declare it on their first line, `-- rollback: compatible` or
//! `-- rollback: breaking`; a test keeps compatible ones free of DROP and
//! RENAME. A breaking one makes older versions refuse the database, naming it.

use sha2::{Digest, Sha256};

/// One migration file, embedded at build time.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(Migration { name: $name, sql: include_str!(concat!("../../../migrations/node/", $name)) }),*]
    };
}

/// Every node migration, in order. A unit test checks this matches the folder.
pub const MIGRATIONS: &[Migration] = embed![
    "0001_event_log.sql",
    "0002_venue_and_tables.sql",
    "0003_staff.sql",
    "0004_cash.sql",
    "0005_tournaments.sql",
    "0006_tournament_entries.sql",
    "0007_displays.sql",
    "0008_sync.sql",
    "0009_down_applied.sql",
    "0010_write_probe.sql",
    "0011_api_key_epoch.sql",
    "0012_list_undo.sql",
    "0013_hub_staff.sql",
];

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {name} was edited after it was applied (applied checksum {applied}, file now {now}); restore the original file and add a new migration instead")]
    Edited {
        name: String,
        applied: String,
        now: String,
    },
    #[error("the database has migration {0}, which this pvm-node does not know and which changed the schema incompatibly: it was written by a newer version; run that version or restore the backup taken before the update")]
    Unknown(String),
    #[error("migration {name} failed: {source}")]
    Failed {
        name: String,
        #[source]
        source: libsql::Error,
    },
    #[error("reading applied migrations: {0}")]
    Sql(#[from] libsql::Error),
}

/// Whether older versions can run on the schema after this migration (see the module doc).
pub fn backward_compatible(m: &Migration) -> bool {
    !m.sql.trim_start().starts_with("-- rollback: breaking")
}

pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies what is missing, in one transaction per migration. Returns the names applied now.
pub async fn run(
    conn: &libsql::Connection,
    migrations: &[Migration],
) -> Result<Vec<&'static str>, MigrationError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            name TEXT PRIMARY KEY,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        )",
    )
    .await?;
    let mut has_flag = false;
    let mut cols = conn
        .query(
            "SELECT name FROM pragma_table_info('schema_migrations')",
            (),
        )
        .await?;
    while let Some(row) = cols.next().await? {
        has_flag |= row.get::<String>(0)? == "backward_compatible";
    }
    drop(cols);
    if !has_flag {
        conn.execute(
            "ALTER TABLE schema_migrations ADD COLUMN backward_compatible INTEGER NOT NULL DEFAULT 1",
            (),
        )
        .await?;
    }
    let mut applied = Vec::new();
    let mut rows = conn
        .query(
            "SELECT name, checksum, backward_compatible FROM schema_migrations ORDER BY name",
            (),
        )
        .await?;
    while let Some(row) = rows.next().await? {
        applied.push((
            row.get::<String>(0)?,
            row.get::<String>(1)?,
            row.get::<i64>(2)? != 0,
        ));
    }
    drop(rows);
    for (name, sum, compatible) in &applied {
        match migrations.iter().find(|m| m.name == name) {
            None if *compatible => {
                tracing::warn!(migration = %name, "the database was migrated by a newer pvm-node (a rollback?); its change is backward compatible, so this version runs on it");
            }
            None => return Err(MigrationError::Unknown(name.clone())),
            Some(m) if checksum(m.sql) != *sum => {
                return Err(MigrationError::Edited {
                    name: name.clone(),
                    applied: sum.clone(),
                    now: checksum(m.sql),
                })
            }
            Some(_) => {}
        }
    }
    let mut done = Vec::new();
    for m in migrations {
        if applied.iter().any(|(n, _, _)| n == m.name) {
            continue;
        }
        let failed = |source| MigrationError::Failed {
            name: m.name.to_owned(),
            source,
        };
        let tx = conn
            .transaction_with_behavior(libsql::TransactionBehavior::Immediate)
            .await
            .map_err(failed)?;
        tx.execute_batch(m.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (name, checksum, backward_compatible) VALUES (?1, ?2, ?3)",
            (m.name, checksum(m.sql), backward_compatible(m) as i64),
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        done.push(m.name);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn memory() -> libsql::Connection {
        let db = libsql::Builder::new_local(":memory:")
            .build()
            .await
            .expect("memory db");
        db.connect().expect("connect")
    }

    #[test]
    fn every_file_in_the_folder_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/node");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, embedded);
    }

    #[tokio::test]
    async fn tournament_entries_move_out_of_the_state_json_into_rows() {
        use pvm_shared::tournament::play::{PlayCommand, Tournament};
        use pvm_shared::tournament::structure::templates;
        let conn = memory().await;
        run(&conn, &MIGRATIONS[..5]).await.expect("up to 0005");
        let mut t = Tournament::new(uuid::Uuid::from_u128(7), templates()[0].clone(), 2, 9);
        for i in 0..3u128 {
            let e = t
                .decide(&PlayCommand::Register {
                    bullet_id: uuid::Uuid::from_u128(i),
                    player_id: uuid::Uuid::from_u128(100 + i),
                    seed: 1,
                    at_ms: 0,
                    override_late_reg: false,
                })
                .expect("register");
            t.apply(&e);
        }
        for c in [
            PlayCommand::Start { at_ms: 0 },
            PlayCommand::Bust {
                bullet_id: uuid::Uuid::from_u128(2),
            },
        ] {
            let e = t.decide(&c).expect("play");
            t.apply(&e);
        }
        // The JSON as 0005 stored it: entries and bust order inside.
        let mut old = serde_json::to_value(&t).expect("json");
        old["bullets"] = serde_json::to_value(&t.bullets).expect("bullets");
        old["bust_order"] = serde_json::to_value(&t.bust_order).expect("order");
        conn.execute(
            "INSERT INTO tournaments (id, name, status, state) VALUES (?1, 'T', 'running', ?2)",
            libsql::params![t.id.to_string(), old.to_string()],
        )
        .await
        .expect("old row");
        run(&conn, MIGRATIONS).await.expect("0006");
        let mut rows = conn
            .query("SELECT bullet_id, busted, bust_index, table_no IS NOT NULL, left_table IS NOT NULL FROM tournament_entries ORDER BY bullet_id", ())
            .await
            .expect("entries");
        let mut got = Vec::new();
        while let Some(r) = rows.next().await.expect("row") {
            got.push((
                r.get::<String>(0).expect("id"),
                r.get::<i64>(1).expect("busted"),
                r.get::<Option<i64>>(2).expect("index"),
                r.get::<i64>(3).expect("seat"),
                r.get::<i64>(4).expect("left"),
            ));
        }
        let id = |i: u128| uuid::Uuid::from_u128(i).to_string();
        assert_eq!(
            got,
            vec![
                (id(0), 0, None, 1, 0),
                (id(1), 0, None, 1, 0),
                (id(2), 1, Some(1), 0, 1)
            ]
        );
        let mut rows = conn
            .query("SELECT state FROM tournaments", ())
            .await
            .expect("state");
        let state: String = rows
            .next()
            .await
            .expect("row")
            .expect("one")
            .get(0)
            .expect("text");
        assert!(
            !state.contains("bullets") && !state.contains("bust_order"),
            "{state}"
        );
    }

    #[tokio::test]
    async fn migrations_apply_once_and_a_second_run_does_nothing() {
        let conn = memory().await;
        assert_eq!(
            run(&conn, MIGRATIONS).await.expect("first").len(),
            MIGRATIONS.len()
        );
        assert!(run(&conn, MIGRATIONS).await.expect("second").is_empty());
    }

    #[tokio::test]
    async fn an_applied_migration_that_was_edited_refuses_to_start() {
        let conn = memory().await;
        run(&conn, MIGRATIONS).await.expect("first");
        let mut edited = MIGRATIONS.to_vec();
        edited[1] = Migration {
            name: MIGRATIONS[1].name,
            sql: "CREATE TABLE something_else (x);",
        };
        let err = run(&conn, &edited).await.expect_err("edited");
        assert!(
            matches!(err, MigrationError::Edited { ref name, .. } if name == "0002_venue_and_tables.sql")
        );
        assert!(err.to_string().contains("was edited after it was applied"));
    }

    #[tokio::test]
    async fn after_a_rollback_an_older_version_runs_on_a_compatible_newer_schema_only() {
        let newer_ok = Migration {
            name: "9001_add_column.sql",
            sql: "-- rollback: compatible\nALTER TABLE events ADD COLUMN note TEXT;",
        };
        let conn = memory().await;
        let mut newer = MIGRATIONS.to_vec();
        newer.push(newer_ok);
        run(&conn, &newer)
            .await
            .expect("the newer version migrates");
        run(&conn, MIGRATIONS)
            .await
            .expect("the older version starts on it after a rollback");
        let breaking = Migration {
            name: "9002_drop.sql",
            sql: "-- rollback: breaking\nDROP TABLE sync_state;",
        };
        newer.push(breaking);
        run(&conn, &newer)
            .await
            .expect("the newer version migrates");
        let err = run(&conn, MIGRATIONS).await.expect_err("refused");
        assert!(
            matches!(err, MigrationError::Unknown(ref n) if n == "9002_drop.sql"),
            "{err}"
        );
        assert!(err.to_string().contains("restore the backup"));
    }

    /// Migrations after the first release say whether a rollback can run on
    /// them, and the compatible ones only add.
    #[test]
    fn new_migrations_declare_rollback_compatibility_and_compatible_ones_only_add() {
        for m in MIGRATIONS.iter().filter(|m| m.name >= "0009") {
            let first = m.sql.lines().next().unwrap_or_default();
            assert!(
                first == "-- rollback: compatible" || first == "-- rollback: breaking",
                "{} must start with `-- rollback: compatible` or `-- rollback: breaking`",
                m.name
            );
            if backward_compatible(m) {
                let upper = m.sql.to_uppercase();
                for word in ["DROP ", "RENAME ", "ALTER COLUMN"] {
                    assert!(
                        !upper.contains(word),
                        "{} is marked compatible but contains {word}",
                        m.name
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn a_failing_migration_leaves_nothing_half_applied() {
        let conn = memory().await;
        let bad = [Migration {
            name: "0001_bad.sql",
            sql: "CREATE TABLE a (x); CREATE TABLE a (x);",
        }];
        assert!(matches!(
            run(&conn, &bad).await,
            Err(MigrationError::Failed { .. })
        ));
        let mut rows = conn
            .query("SELECT count(*) FROM sqlite_master WHERE name = 'a'", ())
            .await
            .expect("query");
        let row = rows.next().await.expect("row").expect("some");
        assert_eq!(row.get::<i64>(0).expect("count"), 0);
    }
}
