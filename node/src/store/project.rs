//! Read tables: each event updates them inside the transaction that appends it.
//!
//! The writer prepares every statement once (`Statements::prepare`) and
//! reuses them for every batch; preparing per event cost more than the insert.

use pvm_shared::cash::TouchedRows;
use pvm_shared::envelope::Envelope;
use pvm_shared::venue::{TableStatus, VenueState};
use pvm_shared::EventKind;
use uuid::Uuid;

/// Rows one multi-row insert of events carries at most; a batch is inserted
/// in chunks of these sizes, largest first (one statement per chunk instead
/// of one per event).
const INSERT_CHUNKS: [usize; 3] = [32, 8, 1];

pub struct Statements {
    /// `BEGIN IMMEDIATE` and `COMMIT`, prepared once like the rest: parsing
    /// them for every batch showed in the writer's profile.
    begin: libsql::Statement,
    commit: libsql::Statement,
    /// `INSERT INTO events` of 32, 8 and 1 rows (`INSERT_CHUNKS`).
    insert_events: [libsql::Statement; 3],
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
    upsert_player: libsql::Statement,
    clear_lockout: libsql::Statement,
    save_template: libsql::Statement,
    delete_template: libsql::Statement,
    replace_hub_staff: libsql::Statement,
}

/// Updates of `staff_users` that single events make. Disabling an account or
/// changing its password or PIN moves its epoch on (older tokens stop working).
const USER_UPDATES: [(&str, &str); 5] = [
    ("role", "role = ?2"),
    ("disable", "enabled = 0, epoch = epoch + 1"),
    ("enable", "enabled = 1"),
    ("password_hash", "password_hash = ?2, epoch = epoch + 1"),
    ("pin_hash", "pin_hash = ?2, epoch = epoch + 1"),
];

impl Statements {
    pub async fn prepare(conn: &libsql::Connection) -> Result<Statements, libsql::Error> {
        Ok(Statements {
            begin: conn.prepare("BEGIN IMMEDIATE").await?,
            commit: conn.prepare("COMMIT").await?,
            replace_hub_staff: conn
                .prepare(
                    "INSERT INTO hub_staff (id, issued_ms, accounts, updated_seq) VALUES (1, ?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET issued_ms = excluded.issued_ms,
                     accounts = excluded.accounts, updated_seq = excluded.updated_seq",
                )
                .await?,
            save_template: conn
                .prepare("INSERT OR REPLACE INTO tournament_templates (name_key, structure) VALUES (?1, ?2)")
                .await?,
            delete_template: conn
                .prepare("DELETE FROM tournament_templates WHERE name_key = ?1")
                .await?,
            insert_events: [
                conn.prepare(&insert_events_sql(INSERT_CHUNKS[0])).await?,
                conn.prepare(&insert_events_sql(INSERT_CHUNKS[1])).await?,
                conn.prepare(&insert_events_sql(INSERT_CHUNKS[2])).await?,
            ],
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
                for (name, set) in USER_UPDATES {
                    let sql = format!("UPDATE staff_users SET {set}, updated_seq = ?3 WHERE id = ?1");
                    v.push((name, conn.prepare(&sql).await?));
                }
                v
            },
            insert_api_key: conn
                .prepare(
                    "INSERT INTO api_keys (id, user_id, name, secret_hash, revoked, created_seq, epoch)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, coalesce((SELECT epoch FROM staff_users WHERE id = ?2), 0))",
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
            clear_lockout: conn
                .prepare("DELETE FROM login_lockouts WHERE scope = ?1 AND subject = ?2")
                .await?,
            upsert_player: conn
                .prepare(
                    "INSERT INTO players (id, name, nickname, phone, email, notes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, nickname = excluded.nickname,
                     phone = excluded.phone, email = excluded.email, notes = excluded.notes",
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

    /// Opens the write transaction.
    pub async fn begin(&self) -> Result<(), libsql::Error> {
        run(&self.begin, ()).await
    }

    /// Commits the write transaction.
    pub async fn commit(&self) -> Result<(), libsql::Error> {
        run(&self.commit, ()).await
    }

    /// Appends one envelope to the log and applies its event to the read tables.
    pub async fn append(&self, env: &Envelope, event: &EventKind) -> Result<(), libsql::Error> {
        self.insert_events(&[env]).await?;
        self.project(env.header.seq as i64, event).await
    }

    /// Appends envelopes to the log, in order, a chunk of rows per statement.
    pub async fn insert_events(&self, envs: &[&Envelope]) -> Result<(), libsql::Error> {
        let mut rows = Vec::with_capacity(envs.len() * EVENT_COLUMNS);
        for env in envs {
            event_row(env, &mut rows);
        }
        self.insert_rows(rows).await
    }

    /// Appends rows made by `event_row` to the log, in order, a chunk of
    /// rows per statement.
    pub async fn insert_rows(&self, rows: Vec<libsql::Value>) -> Result<(), libsql::Error> {
        let mut left = rows.len() / EVENT_COLUMNS;
        let mut values = rows.into_iter();
        while left > 0 {
            let (size, stmt) = INSERT_CHUNKS
                .iter()
                .zip(&self.insert_events)
                .find(|(size, _)| **size <= left)
                .unwrap_or((&1, &self.insert_events[2]));
            let chunk: Vec<libsql::Value> = values.by_ref().take(size * EVENT_COLUMNS).collect();
            run(stmt, chunk).await?;
            left -= size;
        }
        Ok(())
    }

    /// Applies one event to the read tables (its envelope inserted apart).
    pub async fn project(&self, seq: i64, event: &EventKind) -> Result<(), libsql::Error> {
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
                self.set_user("disable", user_id, "".into(), seq).await
            }
            EventKind::StaffUserEnabled { user_id } => {
                self.set_user("enable", user_id, "".into(), seq).await
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
            EventKind::LoginLockoutCleared { scope, subject } => {
                run(
                    &self.clear_lockout,
                    libsql::params![scope.code(), subject.as_str()],
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
            EventKind::TableStarting { table_id } => {
                run(
                    &self.set_table_status,
                    libsql::params![table_id.to_string(), TableStatus::Starting.code(), seq],
                )
                .await
            }
            EventKind::PlayerCreated { player_id, details }
            | EventKind::PlayerUpdated { player_id, details } => {
                run(
                    &self.upsert_player,
                    libsql::params![
                        player_id.to_string(),
                        details.name.as_str(),
                        details.nickname.clone(),
                        details.phone.clone(),
                        details.email.clone(),
                        details.notes.as_str()
                    ],
                )
                .await
            }
            EventKind::TemplateSaved { structure } => {
                let json = serde_json::to_string(structure).unwrap_or_default();
                run(
                    &self.save_template,
                    libsql::params![structure.name.to_lowercase(), json],
                )
                .await
            }
            EventKind::HubStaffReplaced {
                issued_ms,
                accounts,
            } => {
                let json = serde_json::to_string(accounts).unwrap_or_default();
                run(
                    &self.replace_hub_staff,
                    libsql::params![*issued_ms as i64, json, seq],
                )
                .await
            }
            EventKind::TemplateDeleted { name } => {
                run(&self.delete_template, libsql::params![name.to_lowercase()]).await
            }
            // Cash and tournament rows are rewritten from the state once per batch: see `sync_cash`.
            EventKind::Cash(_)
            | EventKind::TournamentCreated { .. }
            | EventKind::TournamentPlayed { .. }
            | EventKind::Day2Created { .. }
            | EventKind::DisplayChanged { .. }
            | EventKind::LeafRestarted { .. }
            | EventKind::WipeOrdered { .. }
            | EventKind::DownHandled { .. }
            | EventKind::UpdateFinished { .. } => Ok(()),
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

/// Columns of one row of `events`, as `event_row` makes them.
pub const EVENT_COLUMNS: usize = 7;

/// `env`'s row of `events`, its values appended to `out` in
/// `insert_events_sql`'s column order.
pub fn event_row(env: &Envelope, out: &mut Vec<libsql::Value>) {
    let h = &env.header;
    out.extend([
        libsql::Value::Integer(h.seq as i64),
        libsql::Value::Text(h.id.to_string()),
        libsql::Value::Text(env.kind.clone()),
        libsql::Value::Integer(h.hlc.wall_ms as i64),
        libsql::Value::Integer(h.hlc.counter as i64),
        libsql::Value::Text(h.actor.to_string()),
        libsql::Value::Blob(env.encode()),
    ]);
}

/// `INSERT INTO events` of `rows` rows.
fn insert_events_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (seq, id, kind, hlc_ms, hlc_ctr, actor, envelope) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let p = row * 7;
        sql.push_str(&format!(
            "(?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7
        ));
    }
    sql
}

fn opt_i64(v: Option<u64>) -> libsql::Value {
    v.map(|x| libsql::Value::Integer(x as i64))
        .unwrap_or(libsql::Value::Null)
}

/// Rewrites the cash-game rows a batch touched from the writer's state after
/// the batch: a row present in the state is upserted, a row gone is deleted.
pub async fn sync_cash(
    conn: &libsql::Connection,
    t: &TouchedRows,
    state: &VenueState,
) -> Result<(), libsql::Error> {
    let cash = &state.cash;
    if t.policy {
        let json = serde_json::to_string(&cash.policy).unwrap_or_default();
        conn.execute(
            "INSERT INTO cash_policy (id, policy) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET policy = excluded.policy",
            [json],
        )
        .await?;
    }
    for id in &t.lists {
        match cash.lists.get(id) {
            Some(l) => {
                let queue = serde_json::to_string(&l.queue).unwrap_or_default();
                let seatings =
                    serde_json::to_string(cash.seatings.get(id).map(Vec::as_slice).unwrap_or(&[]))
                        .unwrap_or_default();
                let off = serde_json::to_string(&l.off).unwrap_or_else(|_| "[]".into());
                conn.execute(
                    "INSERT INTO waiting_lists (id, game, small_blind, big_blind, queue, seatings, off_list) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, seatings = excluded.seatings, off_list = excluded.off_list",
                    libsql::params![id.to_string(), l.game.code(), l.stakes.small_blind(), l.stakes.big_blind(), queue, seatings, off],
                )
                .await?;
            }
            None => {
                conn.execute("DELETE FROM waiting_lists WHERE id = ?1", [id.to_string()])
                    .await?;
            }
        }
    }
    for id in &t.entries {
        match cash.entries.get(id) {
            Some(e) => {
                conn.execute(
                    "INSERT OR REPLACE INTO wait_entries (id, list_id, player_id, joined_ms, call_number, called_ms, deadline_ms,
                     calls_made, call_in_until, arrived) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    libsql::params![
                        id.to_string(),
                        e.list_id.to_string(),
                        e.player_id.to_string(),
                        e.joined_ms as i64,
                        e.call.map(|c| libsql::Value::Integer(c.number as i64)).unwrap_or(libsql::Value::Null),
                        opt_i64(e.call.map(|c| c.called_ms)),
                        opt_i64(e.call.map(|c| c.deadline_ms)),
                        e.calls_made as i64,
                        opt_i64(e.call_in_until),
                        e.arrived as i64
                    ],
                )
                .await?;
            }
            None => {
                conn.execute("DELETE FROM wait_entries WHERE id = ?1", [id.to_string()])
                    .await?;
            }
        }
    }
    for (table_id, seat) in &t.seats {
        match cash.seats.get(&(*table_id, *seat)) {
            Some(s) => {
                conn.execute(
                    "INSERT OR REPLACE INTO seats (table_id, seat, player_id, since_ms, away_since) VALUES (?1, ?2, ?3, ?4, ?5)",
                    libsql::params![table_id.to_string(), *seat as i64, s.player_id.to_string(), s.since_ms as i64, opt_i64(s.away_since)],
                )
                .await?;
            }
            None => {
                conn.execute(
                    "DELETE FROM seats WHERE table_id = ?1 AND seat = ?2",
                    libsql::params![table_id.to_string(), *seat as i64],
                )
                .await?;
            }
        }
    }
    for id in &t.seat_changes {
        match cash.seat_changes.get(id) {
            Some(r) => {
                conn.execute(
                    "INSERT OR REPLACE INTO seat_changes (id, player_id, table_id, wants, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    libsql::params![
                        id.to_string(),
                        r.player_id.to_string(),
                        r.table_id.to_string(),
                        r.wants.map(|w| libsql::Value::Text(w.to_string())).unwrap_or(libsql::Value::Null),
                        r.at_ms as i64
                    ],
                )
                .await?;
            }
            None => {
                conn.execute("DELETE FROM seat_changes WHERE id = ?1", [id.to_string()])
                    .await?;
            }
        }
    }
    for id in &t.tournaments {
        match state.tournaments.get(id) {
            Some(tour) => {
                // Entries are rows of their own: the JSON leaves them out.
                let json = serde_json::to_string(&**tour).unwrap_or_default();
                let status = serde_json::to_value(tour.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                conn.execute(
                    "INSERT OR REPLACE INTO tournaments (id, name, status, state) VALUES (?1, ?2, ?3, ?4)",
                    libsql::params![id.to_string(), tour.name.as_str(), status, json],
                )
                .await?;
            }
            None => {
                conn.execute("DELETE FROM tournaments WHERE id = ?1", [id.to_string()])
                    .await?;
                conn.execute(
                    "DELETE FROM tournament_entries WHERE tournament_id = ?1",
                    [id.to_string()],
                )
                .await?;
            }
        }
    }
    sync_tournament_entries(conn, t, state).await?;
    if t.displays {
        let json = serde_json::to_string(&*state.displays).unwrap_or_default();
        conn.execute(
            "INSERT OR REPLACE INTO display_state (id, state) VALUES (1, ?1)",
            [json],
        )
        .await?;
    }
    for id in &t.tables {
        let must_move = state.tables.get(id).is_some_and(|t| t.must_move);
        conn.execute(
            "UPDATE poker_tables SET must_move = ?2 WHERE id = ?1",
            libsql::params![id.to_string(), must_move as i64],
        )
        .await?;
    }
    Ok(())
}

/// Rewrites the tournament entry rows a batch touched.
async fn sync_tournament_entries(
    conn: &libsql::Connection,
    t: &TouchedRows,
    state: &VenueState,
) -> Result<(), libsql::Error> {
    if t.tournament_entries.is_empty() {
        return Ok(());
    }
    let upsert = conn
        .prepare(
            "INSERT OR REPLACE INTO tournament_entries (tournament_id, bullet_id, player_id, reentry, table_no, seat_no, busted, bust_index, left_table, left_seat, rebuys, addons, chips) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .await?;
    // Bust positions, worked out once per tournament the batch touched.
    let mut bust_index: std::collections::BTreeMap<Uuid, std::collections::HashMap<Uuid, i64>> =
        Default::default();
    for (tid, bid) in &t.tournament_entries {
        let bullet = state
            .tournaments
            .get(tid)
            .and_then(|tour| tour.bullets.get(bid).map(|b| (tour, b)));
        let Some((tour, b)) = bullet else {
            conn.execute(
                "DELETE FROM tournament_entries WHERE tournament_id = ?1 AND bullet_id = ?2",
                [tid.to_string(), bid.to_string()],
            )
            .await?;
            continue;
        };
        let index = if b.busted {
            let map = bust_index.entry(*tid).or_insert_with(|| {
                tour.bust_order
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (*id, i as i64 + 1))
                    .collect()
            });
            map.get(bid).map(|i| libsql::Value::Integer(*i))
        } else {
            None
        };
        let seat = |s: Option<(u16, u8)>, part: usize| {
            s.map(|(t, n)| libsql::Value::Integer(if part == 0 { t as i64 } else { n as i64 }))
                .unwrap_or(libsql::Value::Null)
        };
        let result = upsert
            .execute(libsql::params![
                tid.to_string(),
                bid.to_string(),
                b.player_id.to_string(),
                b.reentry as i64,
                seat(b.seat, 0),
                seat(b.seat, 1),
                b.busted as i64,
                index.unwrap_or(libsql::Value::Null),
                seat(b.left_seat, 0),
                seat(b.left_seat, 1),
                b.rebuys as i64,
                b.addons as i64,
                opt_i64(b.chips)
            ])
            .await;
        upsert.reset();
        result?;
    }
    Ok(())
}
