//! Reads from the read tables and the log, on a connection of their own.

use super::{Db, StoreError};
use pvm_shared::auth::Role;
use pvm_shared::cash::{Call, CashState, Seat, SeatChange, WaitEntry, WaitingList};
use pvm_shared::envelope::Envelope;
use pvm_shared::players::Player;
use pvm_shared::staff::{ApiKey, StaffDirectory, StaffUser, Username};
use pvm_shared::tournament::play::{Bullet, Tournament};
use pvm_shared::tournament::Structure;
use pvm_shared::venue::{
    Game, PokerTable, Stakes, TableName, TableStatus, VenueSettings, VenueState,
};
use pvm_shared::{ChainStart, ChainVerifier, Hlc, Problem};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;
use uuid::Uuid;

/// The end of the log: where the next event chains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub start: ChainStart,
    pub hlc: Hlc,
}

/// What `verify-log` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    pub events: u64,
    pub last_seq: u64,
}

#[derive(Clone)]
pub struct Reader {
    conn: Arc<Mutex<libsql::Connection>>,
}

fn uuid_of(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(bad_row)
}

fn bad_row(what: impl std::fmt::Display) -> StoreError {
    StoreError::Log(format!("unreadable row: {what}"))
}

impl Reader {
    pub async fn new(db: &Db) -> Result<Reader, StoreError> {
        Ok(Reader {
            conn: Arc::new(Mutex::new(db.connect().await?)),
        })
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let conn = self.conn.lock().await;
        super::query_text(&conn, "SELECT count(*) FROM schema_migrations").await?;
        Ok(())
    }

    pub async fn settings(&self) -> Result<VenueSettings, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query("SELECT settings FROM venue_settings WHERE id = 1", ())
            .await?;
        match rows.next().await? {
            Some(row) => serde_json::from_str(&row.get::<String>(0)?).map_err(bad_row),
            None => Ok(VenueSettings::default()),
        }
    }

    pub async fn tables(&self) -> Result<Vec<PokerTable>, StoreError> {
        self.query_tables("", ()).await
    }

    pub async fn table(&self, id: Uuid) -> Result<Option<PokerTable>, StoreError> {
        Ok(self
            .query_tables("WHERE id = ?1", [id.to_string()])
            .await?
            .into_iter()
            .next())
    }

    async fn query_tables(
        &self,
        filter: &str,
        params: impl libsql::params::IntoParams,
    ) -> Result<Vec<PokerTable>, StoreError> {
        let conn = self.conn.lock().await;
        let sql = format!(
            "SELECT id, name, game, small_blind, big_blind, seats, status, must_move FROM poker_tables {filter} ORDER BY name COLLATE NOCASE"
        );
        let mut rows = conn.query(&sql, params).await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            let id: String = row.get(0)?;
            out.push(PokerTable {
                id: Uuid::parse_str(&id).map_err(bad_row)?,
                name: TableName::parse(&row.get::<String>(1)?).map_err(bad_row)?,
                game: Game::from_code(&row.get::<String>(2)?).ok_or_else(|| bad_row("game"))?,
                stakes: Stakes::new(row.get(3)?, row.get(4)?).map_err(bad_row)?,
                seats: row.get::<u32>(5)? as u8,
                status: match row.get::<String>(6)?.as_str() {
                    "open" => TableStatus::Open,
                    "starting" => TableStatus::Starting,
                    _ => TableStatus::Closed,
                },
                must_move: row.get::<i64>(7)? != 0,
            });
        }
        Ok(out)
    }

    /// The whole venue state, as the writer needs it at start.
    pub async fn state(&self) -> Result<VenueState, StoreError> {
        let settings = self.settings().await?;
        let tables: std::collections::BTreeMap<_, _> = self
            .tables()
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let staff = self.staff().await?;
        let players = std::sync::Arc::new(
            self.players()
                .await?
                .into_iter()
                .map(|p| (p.id, p))
                .collect(),
        );
        let cash = self.cash().await?;
        let tournaments: std::collections::BTreeMap<_, _> = self
            .tournaments()
            .await?
            .into_iter()
            .map(|t| (t.id, std::sync::Arc::new(t)))
            .collect();
        let templates = self.templates().await?;
        let displays = self.displays().await?;
        Ok(VenueState {
            displays: std::sync::Arc::new(displays),
            settings: std::sync::Arc::new(settings),
            tables: std::sync::Arc::new(tables),
            staff: std::sync::Arc::new(staff),
            players,
            cash: std::sync::Arc::new(cash),
            tournaments: std::sync::Arc::new(tournaments),
            templates: std::sync::Arc::new(templates),
            // What the node did with hub messages is the hub's to follow
            // (its fold of the events); the node keeps no rows for it.
            down: Default::default(),
        })
    }

    /// Every tournament with its entries, oldest first.
    pub async fn tournaments(&self) -> Result<Vec<Tournament>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query("SELECT state FROM tournaments ORDER BY id", ())
            .await?;
        let mut out: std::collections::BTreeMap<Uuid, Tournament> = Default::default();
        while let Some(row) = rows.next().await? {
            let t: Tournament = serde_json::from_str(&row.get::<String>(0)?).map_err(bad_row)?;
            out.insert(t.id, t);
        }
        let mut rows = conn
            .query(
                "SELECT tournament_id, bullet_id, player_id, reentry, table_no, seat_no, busted, bust_index, left_table, left_seat, rebuys, addons, chips \
                 FROM tournament_entries ORDER BY tournament_id, bust_index",
                (),
            )
            .await?;
        let seat = |t: Option<i64>, s: Option<i64>| match (t, s) {
            (Some(t), Some(s)) => Some((t as u16, s as u8)),
            _ => None,
        };
        while let Some(row) = rows.next().await? {
            let tid = uuid_of(&row.get::<String>(0)?)?;
            let bullet = Bullet {
                id: uuid_of(&row.get::<String>(1)?)?,
                player_id: uuid_of(&row.get::<String>(2)?)?,
                reentry: row.get::<i64>(3)? != 0,
                seat: seat(row.get(4)?, row.get(5)?),
                busted: row.get::<i64>(6)? != 0,
                rebuys: row.get::<i64>(10)? as u32,
                addons: row.get::<i64>(11)? as u32,
                left_seat: seat(row.get(8)?, row.get(9)?),
                chips: row.get::<Option<i64>>(12)?.map(|c| c as u64),
            };
            let busted_at: Option<i64> = row.get(7)?;
            let t = out.get_mut(&tid).ok_or_else(|| {
                bad_row(format!("entry {} of unknown tournament {tid}", bullet.id))
            })?;
            if busted_at.is_some() {
                t.bust_order.push(bullet.id);
            }
            t.bullets.insert(bullet.id, bullet);
        }
        Ok(out.into_values().collect())
    }

    /// What staff decided about the wall displays.
    pub async fn displays(&self) -> Result<pvm_shared::displays::DisplayState, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query("SELECT state FROM display_state WHERE id = 1", ())
            .await?;
        match rows.next().await? {
            Some(row) => serde_json::from_str(&row.get::<String>(0)?).map_err(bad_row),
            None => Ok(Default::default()),
        }
    }

    /// The templates staff saved, by lower-case name.
    pub async fn templates(
        &self,
    ) -> Result<std::collections::BTreeMap<String, Structure>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query("SELECT name_key, structure FROM tournament_templates", ())
            .await?;
        let mut out = std::collections::BTreeMap::new();
        while let Some(row) = rows.next().await? {
            let s: Structure = serde_json::from_str(&row.get::<String>(1)?).map_err(bad_row)?;
            out.insert(row.get::<String>(0)?, s);
        }
        Ok(out)
    }

    /// The player directory, by name.
    pub async fn players(&self) -> Result<Vec<Player>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query("SELECT id, name, nickname, phone, email, notes FROM players ORDER BY name COLLATE NOCASE", ())
            .await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            out.push(Player {
                id: uuid_of(&row.get::<String>(0)?)?,
                name: row.get(1)?,
                nickname: row.get(2)?,
                phone: row.get(3)?,
                email: row.get(4)?,
                notes: row.get(5)?,
            });
        }
        Ok(out)
    }

    /// Lists, entries, seats and requests, as the writer keeps them.
    pub async fn cash(&self) -> Result<CashState, StoreError> {
        let conn = self.conn.lock().await;
        let mut cash = CashState::default();
        let mut rows = conn
            .query("SELECT policy FROM cash_policy WHERE id = 1", ())
            .await?;
        if let Some(row) = rows.next().await? {
            cash.policy = serde_json::from_str(&row.get::<String>(0)?).map_err(bad_row)?;
        }
        drop(rows);
        let mut rows = conn
            .query(
                "SELECT id, game, small_blind, big_blind, queue, seatings, off_list FROM waiting_lists",
                (),
            )
            .await?;
        while let Some(row) = rows.next().await? {
            let id = uuid_of(&row.get::<String>(0)?)?;
            cash.lists.insert(
                id,
                WaitingList {
                    id,
                    game: Game::from_code(&row.get::<String>(1)?).ok_or_else(|| bad_row("game"))?,
                    stakes: Stakes::new(row.get(2)?, row.get(3)?).map_err(bad_row)?,
                    queue: serde_json::from_str(&row.get::<String>(4)?).map_err(bad_row)?,
                    off: serde_json::from_str(&row.get::<String>(6)?).map_err(bad_row)?,
                },
            );
            let seatings: Vec<u64> =
                serde_json::from_str(&row.get::<String>(5)?).map_err(bad_row)?;
            if !seatings.is_empty() {
                cash.seatings.insert(id, seatings);
            }
        }
        drop(rows);
        let mut rows = conn
            .query(
                "SELECT id, list_id, player_id, joined_ms, call_number, called_ms, deadline_ms, calls_made, call_in_until, arrived
                 FROM wait_entries",
                (),
            )
            .await?;
        while let Some(row) = rows.next().await? {
            let id = uuid_of(&row.get::<String>(0)?)?;
            let call = match (
                row.get::<Option<u32>>(4)?,
                row.get::<Option<u64>>(5)?,
                row.get::<Option<u64>>(6)?,
            ) {
                (Some(number), Some(called_ms), Some(deadline_ms)) => Some(Call {
                    number,
                    called_ms,
                    deadline_ms,
                }),
                _ => None,
            };
            cash.entries.insert(
                id,
                WaitEntry {
                    id,
                    list_id: uuid_of(&row.get::<String>(1)?)?,
                    player_id: uuid_of(&row.get::<String>(2)?)?,
                    joined_ms: row.get(3)?,
                    call,
                    calls_made: row.get(7)?,
                    call_in_until: row.get(8)?,
                    arrived: row.get::<i64>(9)? != 0,
                },
            );
        }
        drop(rows);
        let mut rows = conn
            .query(
                "SELECT table_id, seat, player_id, since_ms, away_since FROM seats",
                (),
            )
            .await?;
        while let Some(row) = rows.next().await? {
            let table_id = uuid_of(&row.get::<String>(0)?)?;
            let seat = row.get::<u32>(1)? as u8;
            cash.seats.insert(
                (table_id, seat),
                Seat {
                    table_id,
                    seat,
                    player_id: uuid_of(&row.get::<String>(2)?)?,
                    since_ms: row.get(3)?,
                    away_since: row.get(4)?,
                },
            );
        }
        drop(rows);
        let mut rows = conn
            .query(
                "SELECT id, player_id, table_id, wants, at_ms FROM seat_changes",
                (),
            )
            .await?;
        while let Some(row) = rows.next().await? {
            let id = uuid_of(&row.get::<String>(0)?)?;
            let wants = match row.get::<Option<String>>(3)? {
                Some(w) => Some(uuid_of(&w)?),
                None => None,
            };
            cash.seat_changes.insert(
                id,
                SeatChange {
                    id,
                    player_id: uuid_of(&row.get::<String>(1)?)?,
                    table_id: uuid_of(&row.get::<String>(2)?)?,
                    wants,
                    at_ms: row.get(4)?,
                },
            );
        }
        Ok(cash)
    }

    /// Every row of every read table, in a fixed order: two databases with
    /// the same events give the same dump (the replay tests compare them).
    pub async fn dump_read_tables(&self) -> Result<String, StoreError> {
        const TABLES: [(&str, &str); 11] = [
            ("venue_settings", "id"),
            ("poker_tables", "id"),
            ("staff_users", "id"),
            ("api_keys", "id"),
            ("revoked_sessions", "sid"),
            ("login_lockouts", "scope, subject"),
            ("players", "id"),
            ("cash_policy", "id"),
            ("waiting_lists", "id"),
            ("wait_entries", "id"),
            ("seats", "table_id, seat"),
        ];
        let conn = self.conn.lock().await;
        let mut out = String::new();
        for (table, order) in TABLES.iter().chain(
            [
                ("seat_changes", "id"),
                ("tournaments", "id"),
                ("tournament_entries", "tournament_id, bullet_id"),
                ("tournament_templates", "name_key"),
                ("hub_staff", "id"),
            ]
            .iter(),
        ) {
            out.push_str(&format!("## {table}\n"));
            let mut rows = conn
                .query(&format!("SELECT * FROM {table} ORDER BY {order}"), ())
                .await?;
            while let Some(row) = rows.next().await? {
                let cols: Vec<String> = (0..row.column_count())
                    .map(|i| format!("{:?}", row.get_value(i).unwrap_or(libsql::Value::Null)))
                    .collect();
                out.push_str(&cols.join("|"));
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// Every staff account and API key.
    pub async fn staff(&self) -> Result<StaffDirectory, StoreError> {
        let conn = self.conn.lock().await;
        let mut dir = StaffDirectory::default();
        let mut rows = conn
            .query(
                "SELECT id, username, display_name, role, enabled, password_hash, pin_hash, epoch FROM staff_users",
                (),
            )
            .await?;
        while let Some(row) = rows.next().await? {
            let id = Uuid::parse_str(&row.get::<String>(0)?).map_err(bad_row)?;
            dir.users.insert(
                id,
                StaffUser {
                    id,
                    username: Username::parse(&row.get::<String>(1)?).map_err(bad_row)?,
                    display_name: row.get(2)?,
                    role: Role::from_code(&row.get::<String>(3)?).ok_or_else(|| bad_row("role"))?,
                    enabled: row.get::<i64>(4)? != 0,
                    password_hash: row.get(5)?,
                    pin_hash: row.get(6)?,
                    epoch: row.get(7)?,
                },
            );
        }
        drop(rows);
        let mut rows = conn
            .query(
                "SELECT id, user_id, name, secret_hash, revoked, epoch FROM api_keys",
                (),
            )
            .await?;
        while let Some(row) = rows.next().await? {
            let id = Uuid::parse_str(&row.get::<String>(0)?).map_err(bad_row)?;
            dir.api_keys.insert(
                id,
                ApiKey {
                    id,
                    user_id: Uuid::parse_str(&row.get::<String>(1)?).map_err(bad_row)?,
                    name: row.get(2)?,
                    secret_hash: row.get(3)?,
                    revoked: row.get::<i64>(4)? != 0,
                    epoch: row.get(5)?,
                },
            );
        }
        drop(rows);
        let mut rows = conn
            .query("SELECT issued_ms, accounts FROM hub_staff WHERE id = 1", ())
            .await?;
        if let Some(row) = rows.next().await? {
            let accounts: Vec<pvm_shared::staff::HubAccount> =
                serde_json::from_str(&row.get::<String>(1)?).map_err(bad_row)?;
            dir.replace_hub(row.get::<i64>(0)? as u64, &accounts);
        }
        Ok(dir)
    }

    /// Sessions revoked and not yet expired at `now_secs`: (sid, until_secs).
    pub async fn revoked_sessions(&self, now_secs: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT sid, until_secs FROM revoked_sessions WHERE until_secs > ?1",
                [now_secs as i64],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            out.push((row.get::<String>(0)?, row.get::<u64>(1)?));
        }
        Ok(out)
    }

    /// Lockouts still running at `now_ms`: (scope, subject, until_ms).
    pub async fn lockouts(&self, now_ms: u64) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT scope, subject, until_ms FROM login_lockouts WHERE until_ms > ?1",
                [now_ms as i64],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            out.push((
                row.get::<String>(0)?,
                row.get::<String>(1)?,
                row.get::<u64>(2)?,
            ));
        }
        Ok(out)
    }

    /// The last event's seq, hash and clock reading; genesis for an empty log.
    pub async fn chain_head(&self) -> Result<ChainHead, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query("SELECT envelope FROM events ORDER BY seq DESC LIMIT 1", ())
            .await?;
        match rows.next().await? {
            None => Ok(ChainHead {
                start: ChainStart::GENESIS,
                hlc: Hlc::ZERO,
            }),
            Some(row) => {
                let env = Envelope::decode(&row.get::<Vec<u8>>(0)?)
                    .map_err(|e| StoreError::Log(format!("last event: {e}")))?;
                Ok(ChainHead {
                    start: ChainStart {
                        seq: env.header.seq + 1,
                        prev_hash: env.hash,
                    },
                    hlc: env.header.hlc,
                })
            }
        }
    }

    /// Envelopes with `seq > after`, in order, at most `limit`.
    pub async fn events_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT seq, envelope FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                (after as i64, limit as i64),
            )
            .await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            out.push((row.get::<u64>(0)?, row.get::<Vec<u8>>(1)?));
        }
        Ok(out)
    }

    /// The last seq in the log (0 when empty).
    pub async fn head_seq(&self) -> Result<u64, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query("SELECT COALESCE(MAX(seq), 0) FROM events", ())
            .await?;
        Ok(match rows.next().await? {
            Some(r) => r.get::<i64>(0)? as u64,
            None => 0,
        })
    }

    /// The latest `limit` events, newest first.
    /// Up to `limit` events before `before`, newest first.
    pub async fn events_before(
        &self,
        before: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT seq, envelope FROM events WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
                (before.min(i64::MAX as u64) as i64, limit as i64),
            )
            .await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            out.push((row.get::<u64>(0)?, row.get::<Vec<u8>>(1)?));
        }
        Ok(out)
    }

    pub async fn recent_events(&self, limit: u32) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT seq, envelope FROM events ORDER BY seq DESC LIMIT ?1",
                [limit as i64],
            )
            .await?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await? {
            out.push((row.get::<u64>(0)?, row.get::<Vec<u8>>(1)?));
        }
        Ok(out)
    }

    /// Walks the whole log from genesis. `Ok(Err(problem))` names the first thing wrong.
    pub async fn verify_log(
        &self,
        key: ed25519_dalek::VerifyingKey,
        node_id: Uuid,
        venue_id: Uuid,
    ) -> Result<Result<LogSummary, Problem>, StoreError> {
        let mut verifier = ChainVerifier::new(key, node_id, venue_id, ChainStart::GENESIS);
        let mut after = 0u64;
        let mut count = 0u64;
        loop {
            let page = self.events_after(after, 1000).await?;
            if page.is_empty() {
                break;
            }
            for (seq, bytes) in page {
                let index = count as usize;
                let env = match Envelope::decode(&bytes) {
                    Ok(env) => env,
                    Err(e) => {
                        return Ok(Err(Problem::Malformed {
                            index,
                            reason: format!("row seq {seq}: {e}"),
                        }))
                    }
                };
                if env.header.seq != seq {
                    return Ok(Err(Problem::Malformed {
                        index,
                        reason: format!(
                            "row seq {seq} holds an envelope with seq {}",
                            env.header.seq
                        ),
                    }));
                }
                if let Err(problem) = verifier.push(&env) {
                    return Ok(Err(problem));
                }
                after = seq;
                count += 1;
            }
        }
        if let Err(problem) = verifier.finish() {
            return Ok(Err(problem));
        }
        Ok(Ok(LogSummary {
            events: count,
            last_seq: after,
        }))
    }

    /// Writes a consistent snapshot of the live database to `target` (which must not exist).
    pub async fn backup(&self, target: &Path) -> Result<u64, StoreError> {
        let conn = self.conn.lock().await;
        let target_str = target.to_string_lossy().into_owned();
        conn.execute("VACUUM INTO ?1", [target_str]).await?;
        Ok(std::fs::metadata(target).map(|m| m.len()).unwrap_or(0))
    }
}
