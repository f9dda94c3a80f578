//! Read tables: each event updates them inside the transaction that appends it.

use pvm_shared::venue::TableStatus;
use pvm_shared::EventKind;

/// Applies one event to the read tables.
pub async fn apply(
    tx: &libsql::Connection,
    seq: u64,
    event: &EventKind,
) -> Result<(), libsql::Error> {
    let seq = seq as i64;
    match event {
        EventKind::VenueSettingsUpdated { settings } => {
            let json = serde_json::to_string(settings).unwrap_or_default();
            tx.execute(
                "INSERT INTO venue_settings (id, settings, updated_seq) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_seq = excluded.updated_seq",
                (json, seq),
            )
            .await?;
        }
        EventKind::TableCreated {
            table_id,
            name,
            game,
            stakes,
            seats,
        } => {
            tx.execute(
                "INSERT INTO poker_tables (id, name, game, small_blind, big_blind, seats, status, created_seq, updated_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
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
            .await?;
        }
        EventKind::TableRenamed { table_id, name } => {
            tx.execute(
                "UPDATE poker_tables SET name = ?2, updated_seq = ?3 WHERE id = ?1",
                (table_id.to_string(), name.as_str(), seq),
            )
            .await?;
        }
        EventKind::TableGameSet {
            table_id,
            game,
            stakes,
        } => {
            tx.execute(
                "UPDATE poker_tables SET game = ?2, small_blind = ?3, big_blind = ?4, updated_seq = ?5 WHERE id = ?1",
                libsql::params![
                    table_id.to_string(),
                    game.code(),
                    stakes.small_blind(),
                    stakes.big_blind(),
                    seq
                ],
            )
            .await?;
        }
        EventKind::TableOpened { table_id } | EventKind::TableClosed { table_id } => {
            let status = if matches!(event, EventKind::TableOpened { .. }) {
                TableStatus::Open
            } else {
                TableStatus::Closed
            };
            tx.execute(
                "UPDATE poker_tables SET status = ?2, updated_seq = ?3 WHERE id = ?1",
                (table_id.to_string(), status.code(), seq),
            )
            .await?;
        }
    }
    Ok(())
}
