//! Read tables: each event updates them inside the transaction that appends it.
//!
//! The writer prepares every statement once (`Statements::prepare`) and
//! reuses them for every batch; preparing per event cost more than the insert.

use pvm_shared::envelope::Envelope;
use pvm_shared::venue::TableStatus;
use pvm_shared::EventKind;

pub struct Statements {
    insert_event: libsql::Statement,
    upsert_settings: libsql::Statement,
    insert_table: libsql::Statement,
    rename_table: libsql::Statement,
    set_table_game: libsql::Statement,
    set_table_status: libsql::Statement,
}

impl Statements {
    pub async fn prepare(conn: &libsql::Connection) -> Result<Statements, libsql::Error> {
        Ok(Statements {
            insert_event: conn
                .prepare("INSERT INTO events (seq, id, kind, hlc_ms, hlc_ctr, actor, envelope) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .await?,
            upsert_settings: conn
                .prepare(
                    "INSERT INTO venue_settings (id, settings, updated_seq) VALUES (1, ?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_seq = excluded.updated_seq",
                )
                .await?,
            insert_table: conn
                .prepare(
                    "INSERT INTO poker_tables (id, name, game, small_blind, big_blind, seats, status, created_seq, updated_seq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                )
                .await?,
            rename_table: conn
                .prepare("UPDATE poker_tables SET name = ?2, updated_seq = ?3 WHERE id = ?1")
                .await?,
            set_table_game: conn
                .prepare("UPDATE poker_tables SET game = ?2, small_blind = ?3, big_blind = ?4, updated_seq = ?5 WHERE id = ?1")
                .await?,
            set_table_status: conn
                .prepare("UPDATE poker_tables SET status = ?2, updated_seq = ?3 WHERE id = ?1")
                .await?,
        })
    }

    /// Appends one envelope to the log and applies its event to the read tables.
    pub async fn append(&self, env: &Envelope, event: &EventKind) -> Result<(), libsql::Error> {
        let h = &env.header;
        run(
            &self.insert_event,
            libsql::params![
                h.seq as i64,
                h.id.to_string(),
                env.kind.as_str(),
                h.hlc.wall_ms as i64,
                h.hlc.counter as i64,
                h.actor.to_string(),
                env.encode()
            ],
        )
        .await?;
        self.project(h.seq as i64, event).await
    }

    async fn project(&self, seq: i64, event: &EventKind) -> Result<(), libsql::Error> {
        match event {
            EventKind::VenueSettingsUpdated { settings } => {
                let json = serde_json::to_string(settings).unwrap_or_default();
                run(&self.upsert_settings, libsql::params![json, seq]).await
            }
            EventKind::TableCreated {
                table_id,
                name,
                game,
                stakes,
                seats,
            } => {
                run(
                    &self.insert_table,
                    libsql::params![
                        table_id.to_string(),
                        name.as_str(),
                        game.code(),
                        stakes.small_blind(),
                        stakes.big_blind(),
                        *seats as i64,
                        TableStatus::Closed.code(),
                        seq
                    ],
                )
                .await
            }
            EventKind::TableRenamed { table_id, name } => {
                run(
                    &self.rename_table,
                    libsql::params![table_id.to_string(), name.as_str(), seq],
                )
                .await
            }
            EventKind::TableGameSet {
                table_id,
                game,
                stakes,
            } => {
                run(
                    &self.set_table_game,
                    libsql::params![
                        table_id.to_string(),
                        game.code(),
                        stakes.small_blind(),
                        stakes.big_blind(),
                        seq
                    ],
                )
                .await
            }
            EventKind::TableOpened { table_id } => {
                run(
                    &self.set_table_status,
                    libsql::params![table_id.to_string(), TableStatus::Open.code(), seq],
                )
                .await
            }
            EventKind::TableClosed { table_id } => {
                run(
                    &self.set_table_status,
                    libsql::params![table_id.to_string(), TableStatus::Closed.code(), seq],
                )
                .await
            }
        }
    }
}

/// Executes a cached statement and resets it for the next use, even on error.
async fn run(
    stmt: &libsql::Statement,
    params: impl libsql::params::IntoParams,
) -> Result<(), libsql::Error> {
    let result = stmt.execute(params).await;
    stmt.reset();
    result.map(|_| ())
}
