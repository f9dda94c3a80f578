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
    insert_user: libsql::Statement,
    set_user_field: Vec<(&'static str, libsql::Statement)>,
    insert_api_key: libsql::Statement,
    revoke_api_key: libsql::Statement,
    revoke_session: libsql::Statement,
    lockout: libsql::Statement,
}

/// Columns of `staff_users` that single events set.
const USER_FIELDS: [&str; 4] = ["role", "enabled", "password_hash", "pin_hash"];

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
            insert_user: conn
                .prepare(
                    "INSERT INTO staff_users (id, username, display_name, role, enabled, password_hash, pin_hash, updated_seq)
                     VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
                )
                .await?,
            set_user_field: {
                let mut v = Vec::new();
                for field in USER_FIELDS {
                    let sql = format!("UPDATE staff_users SET {field} = ?2, updated_seq = ?3 WHERE id = ?1");
                    v.push((field, conn.prepare(&sql).await?));
                }
                v
            },
            insert_api_key: conn
                .prepare(
                    "INSERT INTO api_keys (id, user_id, name, secret_hash, revoked, created_seq) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
                )
                .await?,
            revoke_api_key: conn
                .prepare("UPDATE api_keys SET revoked = 1 WHERE id = ?1")
                .await?,
            revoke_session: conn
                .prepare(
                    "INSERT INTO revoked_sessions (sid, user_id, until_secs) VALUES (?1, ?2, ?3)
                     ON CONFLICT (sid) DO UPDATE SET until_secs = max(until_secs, excluded.until_secs)",
                )
                .await?,
            lockout: conn
                .prepare(
                    "INSERT INTO login_lockouts (scope, subject, until_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (scope, subject) DO UPDATE SET until_ms = excluded.until_ms",
                )
                .await?,
        })
    }

    async fn set_user(
        &self,
        field: &str,
        user_id: &uuid::Uuid,
        value: libsql::Value,
        seq: i64,
    ) -> Result<(), libsql::Error> {
        match self.set_user_field.iter().find(|(f, _)| *f == field) {
            Some((_, stmt)) => run(stmt, libsql::params![user_id.to_string(), value, seq]).await,
            None => Ok(()),
        }
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
            EventKind::StaffUserCreated {
                user_id,
                username,
                display_name,
                role,
                password_hash,
                pin_hash,
            } => {
                run(
                    &self.insert_user,
                    libsql::params![
                        user_id.to_string(),
                        username.as_str(),
                        display_name.as_str(),
                        role.code(),
                        password_hash.clone(),
                        pin_hash.clone(),
                        seq
                    ],
                )
                .await
            }
            EventKind::StaffRoleChanged { user_id, role } => {
                self.set_user("role", user_id, role.code().into(), seq)
                    .await
            }
            EventKind::StaffUserDisabled { user_id } => {
                self.set_user("enabled", user_id, 0.into(), seq).await
            }
            EventKind::StaffUserEnabled { user_id } => {
                self.set_user("enabled", user_id, 1.into(), seq).await
            }
            EventKind::StaffPasswordSet {
                user_id,
                password_hash,
            } => {
                self.set_user("password_hash", user_id, password_hash.clone().into(), seq)
                    .await
            }
            EventKind::StaffPinSet { user_id, pin_hash } => {
                let value = match pin_hash {
                    Some(h) => h.clone().into(),
                    None => libsql::Value::Null,
                };
                self.set_user("pin_hash", user_id, value, seq).await
            }
            EventKind::LoginLockedOut {
                scope,
                subject,
                until_ms,
            } => {
                run(
                    &self.lockout,
                    libsql::params![scope.code(), subject.as_str(), *until_ms as i64],
                )
                .await
            }
            EventKind::SessionRevoked {
                sid,
                user_id,
                until_secs,
            } => {
                run(
                    &self.revoke_session,
                    libsql::params![sid.as_str(), user_id.as_str(), *until_secs as i64],
                )
                .await
            }
            EventKind::ApiKeyCreated {
                key_id,
                user_id,
                name,
                secret_hash,
            } => {
                run(
                    &self.insert_api_key,
                    libsql::params![
                        key_id.to_string(),
                        user_id.to_string(),
                        name.as_str(),
                        secret_hash.as_str(),
                        seq
                    ],
                )
                .await
            }
            EventKind::ApiKeyRevoked { key_id } => {
                run(&self.revoke_api_key, libsql::params![key_id.to_string()]).await
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
