//! The hub's database: venues, registration tokens, nodes with their
//! verified head, every event stored once on `(node_id, seq)`, and the
//! problems ingest found. Every SQL statement of the hub is in this folder,
//! behind [`Store::lock`]: the rest of the hub speaks in domain methods.
//!
//! Two backends answer the same methods, checked by one conformance suite
//! (`cloud/tests/store.rs`): an embedded libSQL file (the default: one
//! command, no other service) and PostgreSQL (`--database postgres://…`,
//! for several pvm-cloud processes and hundreds of venues). Each has its
//! own migrations in `migrations/cloud/{libsql,postgres}/`.

mod libsql;
mod postgres;

pub use postgres::Claims;

use std::path::PathBuf;
use uuid::Uuid;

/// Where the hub keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An embedded libSQL file.
    File(PathBuf),
    /// A PostgreSQL server (a `postgres://` or `postgresql://` URL).
    Postgres(String),
}

impl Database {
    /// `postgres://…` or `postgresql://…` is a server; anything else a file.
    pub fn parse(text: &str) -> Database {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Database::Postgres(text.to_owned())
        } else {
            Database::File(PathBuf::from(text))
        }
    }

    /// For logs and messages: a server's URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Database::File(path) => format!("libSQL file {}", path.display()),
            Database::Postgres(url) => format!("PostgreSQL {}", postgres::without_password(url)),
        }
    }
}

/// The open database. What is done through one [`Locked`] is not
/// interleaved with anything else this process does with the store
/// (registration checks and commits under one hold); across processes
/// (PostgreSQL) the statements themselves carry the conditions.
pub struct Store(Backend);

enum Backend {
    Libsql(libsql::Libsql),
    Postgres(postgres::Postgres),
}

/// The store, held (see [`Store`]).
pub struct Locked<'a>(Held<'a>);

enum Held<'a> {
    Libsql(libsql::Held<'a>),
    Postgres(Box<postgres::Held<'a>>),
}

/// Calls the same method on whichever backend holds the store.
macro_rules! each {
    ($held:expr, $method:ident ( $($arg:expr),* )) => {
        match &$held.0 {
            Held::Libsql(h) => h.$method($($arg),*).await,
            Held::Postgres(h) => h.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Opens (or creates) the database and brings its schema up to date.
    pub async fn open(database: &Database) -> anyhow::Result<Store> {
        Ok(Store(match database {
            Database::File(path) => Backend::Libsql(libsql::Libsql::open(path).await?),
            Database::Postgres(url) => Backend::Postgres(postgres::Postgres::open(url).await?),
        }))
    }

    /// Holds the store until the returned value is dropped.
    pub async fn lock(&self) -> anyhow::Result<Locked<'_>> {
        Ok(Locked(match &self.0 {
            Backend::Libsql(db) => Held::Libsql(db.lock().await),
            Backend::Postgres(db) => Held::Postgres(Box::new(db.lock().await?)),
        }))
    }

    /// [`Locked::store_batch`] for ingest: on PostgreSQL on a connection of
    /// its own, not waiting for this process's turn (each batch stands on
    /// its own: the head condition keeps it right); on libSQL in turn.
    pub async fn store_batch(
        &self,
        rows: &[EventRow],
        heads: &[NodeRow],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        match &self.0 {
            Backend::Libsql(_) => self.lock().await?.store_rows(rows, heads, now_ms).await,
            Backend::Postgres(db) => db.store_batch(rows, heads, now_ms).await,
        }
    }

    /// The partition claims of a process sharing the database with others
    /// (PostgreSQL), or None: the only process (libSQL) ingests everything.
    pub fn claims(&self) -> Option<Claims> {
        match &self.0 {
            Backend::Libsql(_) => None,
            Backend::Postgres(db) => Some(db.claims()),
        }
    }

    /// Which backend this is: "libsql" or "postgres".
    pub fn backend(&self) -> &'static str {
        match &self.0 {
            Backend::Libsql(_) => "libsql",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The migrations applied, by number (both backends keep them in
    /// `schema_migrations`).
    pub async fn migrations(&self) -> anyhow::Result<Vec<i64>> {
        let db = self.lock().await?;
        each!(db, migrations())
    }
}

/// A migration: its number, its name and its SQL (run as one batch, in one
/// transaction with its record in `schema_migrations`).
pub(crate) struct Migration {
    pub number: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A node as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node_id: Uuid,
    pub venue_id: Uuid,
    pub public_key: [u8; 32],
    pub head_seq: u64,
    pub head_hash: [u8; 32],
    pub verified_seq: u64,
    /// Replaced by a resynced node: its events are kept, not folded.
    pub retired: bool,
    /// Revoked by an admin: what it sends now is refused; what it sent
    /// before stays, folded.
    pub revoked: bool,
}

/// A venue as the admin list shows it, with its live node's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueListing {
    pub id: String,
    pub name: String,
    pub node_id: Option<String>,
    pub head_seq: Option<i64>,
    pub verified_seq: i64,
    pub last_contact_ms: Option<i64>,
    pub heartbeat: Option<String>,
    /// Events stored of the live node: its head (ingest stores each node's
    /// events contiguously from seq 1, so this is their count without
    /// counting them).
    pub events: i64,
    /// When an admin revoked the live node (its history stays).
    pub revoked_ms: Option<i64>,
    pub operator_id: Option<Uuid>,
}

/// A node as the admin list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeListing {
    pub node_id: String,
    pub venue_id: String,
    pub head_seq: i64,
    pub verified_seq: i64,
    pub last_contact_ms: Option<i64>,
    pub heartbeat: Option<String>,
    pub retired_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// A registration token: its venue, when it expires, whether it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub venue_id: String,
    pub expires_ms: i64,
    pub used: bool,
}

/// What `resync` checks about the node it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncNode {
    pub venue_id: String,
    pub public_key: String,
    pub leaf_user: String,
    pub leaf_hash: String,
    pub retired: bool,
    /// When an admin revoked it: it may not resync, upload or link again.
    pub revoked_ms: Option<i64>,
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// A stored event as written: the envelope's keys and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub node_id: Uuid,
    pub seq: i64,
    pub venue_id: Uuid,
    pub kind: String,
    pub envelope: Vec<u8>,
}

impl EventRow {
    pub fn of(env: &pvm_shared::envelope::Envelope) -> EventRow {
        EventRow::with_bytes(env, env.encode())
    }

    /// The row of an envelope decoded from `bytes` (which are its encoding).
    pub fn with_bytes(env: &pvm_shared::envelope::Envelope, bytes: Vec<u8>) -> EventRow {
        EventRow {
            node_id: env.header.node_id,
            seq: env.header.seq as i64,
            venue_id: env.header.venue_id,
            kind: env.kind.as_str().to_owned(),
            envelope: bytes,
        }
    }
}

/// Every row of a hub but its events, as stored: what `pvm-cloud migrate`
/// copies from one database to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    pub venues: Vec<VenueRecord>,
    pub tokens: Vec<TokenRecord>,
    pub nodes: Vec<NodeRecord>,
    pub problems: Vec<ProblemRecord>,
    pub operators: Vec<OperatorRow>,
    pub staff: Vec<StaffRow>,
    pub actions: Vec<(ActionRow, Vec<DeliveryRow>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueRecord {
    pub id: Uuid,
    pub name: String,
    pub created_ms: i64,
    pub operator_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: String,
    pub venue_id: Uuid,
    pub expires_ms: i64,
    pub used_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node_id: Uuid,
    pub venue_id: Uuid,
    pub public_key: String,
    pub leaf_user: String,
    pub leaf_password: String,
    pub registered_ms: i64,
    pub head_seq: i64,
    pub head_hash: Vec<u8>,
    pub verified_seq: i64,
    pub last_contact_ms: Option<i64>,
    pub heartbeat: Option<String>,
    pub retired_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
    /// A leaf-credentials rotation under way: the next user and its hash.
    pub leaf_user_next: Option<String>,
    pub leaf_hash_next: Option<String>,
    /// The node clock of the last credentials take it signed.
    pub leaf_take_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemRecord {
    pub node_id: Option<Uuid>,
    pub seq: Option<i64>,
    pub kind: String,
    pub detail: String,
    pub at_ms: i64,
    pub count: i64,
    pub last_ms: Option<i64>,
}

/// An operator (a tenant): a chain or club that owns venues.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OperatorRow {
    pub id: Uuid,
    pub name: String,
    pub created_ms: i64,
    /// Where its venues' alerts are POSTed too.
    pub alert_webhook: Option<String>,
}

/// A hub staff account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRow {
    pub id: Uuid,
    /// None: a hub super-admin.
    pub operator_id: Option<Uuid>,
    /// Lower case.
    pub username: String,
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// `super`, `owner`, `admin`, `regional` or `auditor`.
    pub role: String,
    /// A regional manager's venues.
    pub venues: Vec<Uuid>,
    /// Base32, once confirmed.
    pub totp_secret: Option<String>,
    /// Base32, waiting for its first code.
    pub totp_pending: Option<String>,
    pub totp_last_step: i64,
    pub epoch: i64,
    pub disabled_ms: Option<i64>,
    pub created_ms: i64,
    /// Its role at the operator's venues' nodes (`dealer`, `floor`,
    /// `manager`, `admin`); None: it does not log in at nodes.
    pub node_role: Option<String>,
    /// Its role at some of the operator's venues, other than `node_role`
    /// (`none`: it does not log in there).
    pub node_roles: std::collections::BTreeMap<Uuid, String>,
}

/// What can change on a staff account (each `Some` is written; a new
/// password or a disable raises the epoch, ending its sessions).
#[derive(Debug, Clone, Default)]
pub struct StaffChange {
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub venues: Option<Vec<Uuid>>,
    /// Some(None) enables, Some(Some(t)) disables at t.
    pub disabled_ms: Option<Option<i64>>,
    /// Some(None) removes.
    pub totp_secret: Option<Option<String>>,
    pub totp_pending: Option<Option<String>>,
    /// Ends every session of the account.
    pub new_epoch: bool,
    /// Some(None) removes.
    pub node_role: Option<Option<String>>,
    /// Replaces the per-venue roles.
    pub node_roles: Option<std::collections::BTreeMap<Uuid, String>>,
}

/// One action sent to many venues.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActionRow {
    pub id: Uuid,
    pub operator_id: Option<Uuid>,
    /// `template`, `announcement` or `update`.
    pub kind: String,
    /// What was sent, in words.
    pub label: String,
    pub sent_by: Option<Uuid>,
    pub created_ms: i64,
}

/// An action's message to one venue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryRow {
    pub venue_id: Uuid,
    /// None when it could not be sent.
    pub message_id: Option<Uuid>,
    pub error: Option<String>,
}

/// The name (operators) or username (staff) is in use.
#[derive(Debug, thiserror::Error)]
#[error("that name is taken")]
pub struct NameTaken;

/// Per-venue node roles as stored (a JSON object).
pub(crate) fn node_roles_json(roles: &std::collections::BTreeMap<Uuid, String>) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn node_roles_of_json(text: &str) -> std::collections::BTreeMap<Uuid, String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A regional manager's venues as stored (a JSON array of ids).
pub(crate) fn venues_json(venues: &[Uuid]) -> String {
    serde_json::to_string(venues).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn venues_of_json(text: &str) -> Vec<Uuid> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A staff account whose stored epoch, disable or expiry ended this session: None.
pub(crate) fn session_staff(row: Option<(StaffRow, i64)>) -> Option<StaffRow> {
    row.and_then(|(s, epoch)| (s.epoch == epoch && s.disabled_ms.is_none()).then_some(s))
}

/// A batch whose node's stored head is no longer where the batch began
/// (another process stored those events first): nothing of it was stored.
#[derive(Debug, thiserror::Error)]
#[error("node {0}'s head moved meanwhile (another process stored its events): nothing stored")]
pub struct HeadMoved(pub Uuid);

/// A registration that cannot be committed: the token was spent or the
/// venue or node got a node meanwhile (another process, or a race).
#[derive(Debug, thiserror::Error)]
#[error("the registration token was spent or the node registered meanwhile")]
pub struct RegistrationTaken;

impl Locked<'_> {
    /// Every node with its verified head.
    pub async fn nodes(&self) -> anyhow::Result<Vec<NodeRow>> {
        each!(self, nodes())
    }

    /// Adds problems, once per node and kind: a new kind for a node keeps
    /// its first seq and detail; later ones of that kind add to its count
    /// and move its last-seen time. One transaction.
    pub async fn add_problems(
        &self,
        grouped: &[(crate::ingest::Report, u64)],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        each!(self, add_problems(grouped, now_ms))
    }

    /// Calls `f` with every stored event of the live (not retired) nodes, as
    /// (venue, envelope), in log order, one row at a time.
    pub async fn each_live_event(&self, f: impl FnMut(Uuid, Vec<u8>)) -> anyhow::Result<()> {
        each!(self, each_live_event(f))
    }

    /// Stores verified events (a duplicate is left as it was) and the nodes'
    /// new heads, in one transaction. A node's head moves only from where
    /// the batch's first event of that node follows on, else [`HeadMoved`]
    /// and nothing is stored (heads of nodes without events in the batch are
    /// set as given).
    pub async fn store_batch(
        &self,
        events: &[pvm_shared::envelope::Envelope],
        heads: &[NodeRow],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let rows: Vec<EventRow> = events.iter().map(EventRow::of).collect();
        self.store_rows(&rows, heads, now_ms).await
    }

    /// [`Locked::store_batch`] of rows whose envelope bytes are at hand (as
    /// received: nothing encoded again).
    pub async fn store_rows(
        &self,
        rows: &[EventRow],
        heads: &[NodeRow],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        each!(self, store_batch(rows, heads, now_ms))
    }

    /// The stored envelope of a node's event `seq`.
    pub async fn envelope(&self, node: Uuid, seq: u64) -> anyhow::Result<Option<Vec<u8>>> {
        each!(self, envelope(node, seq as i64))
    }

    /// A node's latest heartbeat (JSON) and the time of this contact.
    pub async fn record_heartbeat(
        &self,
        node: Uuid,
        beat: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        each!(self, record_heartbeat(node, beat, now_ms))
    }

    pub async fn venue_exists(&self, id: Uuid) -> anyhow::Result<bool> {
        each!(self, venue_exists(id))
    }

    pub async fn insert_venue(
        &self,
        id: Uuid,
        name: &str,
        operator: Option<Uuid>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        each!(self, insert_venue(id, name, operator, now_ms))
    }

    /// Every venue, by name, with its live node's figures.
    pub async fn venues(&self) -> anyhow::Result<Vec<VenueListing>> {
        each!(self, venues())
    }

    /// Every node, by venue and registration.
    pub async fn node_listings(&self) -> anyhow::Result<Vec<NodeListing>> {
        each!(self, node_listings())
    }

    /// A registration token by the SHA-256 (hex) of its text.
    pub async fn insert_token(
        &self,
        hash: &str,
        venue: Uuid,
        expires_ms: i64,
    ) -> anyhow::Result<()> {
        each!(self, insert_token(hash, venue, expires_ms))
    }

    pub async fn token(&self, hash: &str) -> anyhow::Result<Option<TokenRow>> {
        each!(self, token(hash))
    }

    /// Whether this venue or this node id already has a registered node.
    pub async fn node_registered(&self, venue: Uuid, node: Uuid) -> anyhow::Result<bool> {
        each!(self, node_registered(venue, node))
    }

    /// The registration's rows in one transaction: the token spent, the venue
    /// (`token_venue`) taking the id its node's events carry, the node.
    /// Fails with [`RegistrationTaken`] (and changes nothing) when the token
    /// was spent or the venue or node id got a live node meanwhile.
    pub async fn commit_registration(
        &self,
        token_hash: &str,
        token_venue: Uuid,
        node: &NewNode<'_>,
    ) -> anyhow::Result<()> {
        each!(self, commit_registration(token_hash, token_venue, node))
    }

    pub async fn resync_node(&self, node: Uuid) -> anyhow::Result<Option<ResyncNode>> {
        each!(self, resync_node(node))
    }

    /// The public key (base64) of a live node of `venue`.
    pub async fn live_node_key(&self, node: Uuid, venue: Uuid) -> anyhow::Result<Option<String>> {
        each!(self, live_node_key(node, venue))
    }

    /// Marks a node revoked at `at_ms` (kept if it already was) and answers
    /// when it was revoked; `None` if no such node is registered.
    pub async fn revoke_node(&self, node: Uuid, at_ms: i64) -> anyhow::Result<Option<i64>> {
        each!(self, revoke_node(node, at_ms))
    }

    pub async fn node_exists(&self, node: Uuid) -> anyhow::Result<bool> {
        each!(self, node_exists(node))
    }

    /// Retires `old` and registers `new` in its place, in one transaction.
    pub async fn replace_node(&self, old: Uuid, new: &NewNode<'_>) -> anyhow::Result<()> {
        each!(self, replace_node(old, new))
    }

    /// Nodes whose leaf password earlier versions kept in plain text: (node, password).
    pub async fn plain_leaf_passwords(&self) -> anyhow::Result<Vec<(String, String)>> {
        each!(self, plain_leaf_passwords())
    }

    pub async fn set_leaf_password(&self, node: &str, hash: &str) -> anyhow::Result<()> {
        each!(self, set_leaf_password(node, hash))
    }

    /// A live node's next leaf user and its bcrypt hash (a rotation under
    /// way; both users may link until the node confirms), taken by a
    /// request the node signed at `at_ms`: false for a node that is not
    /// live, or a request no later than the last one taken (a replay).
    pub async fn set_leaf_next(
        &self,
        node: Uuid,
        user: &str,
        hash: &str,
        at_ms: i64,
    ) -> anyhow::Result<bool> {
        each!(self, set_leaf_next(node, user, hash, at_ms))
    }

    /// The node's next leaf user `user` replaces its current one: false when
    /// that is not its next user.
    pub async fn promote_leaf_next(&self, node: Uuid, user: &str) -> anyhow::Result<bool> {
        each!(self, promote_leaf_next(node, user))
    }

    /// (node, venue, leaf user, bcrypt hash) of every live node (and its
    /// next user while a rotation is under way), by user.
    pub async fn leaf_users(&self) -> anyhow::Result<Vec<(String, String, String, String)>> {
        each!(self, leaf_users())
    }

    /// A venue's live events: how many, first and last seq, the verified seq,
    /// and the latest 50.
    pub async fn events_summary(&self, id: Uuid) -> anyhow::Result<EventsSummary> {
        each!(self, events_summary(id))
    }

    /// A venue's problems (and those of no known node), oldest first.
    pub async fn problems(&self, id: Uuid) -> anyhow::Result<Vec<ProblemRow>> {
        each!(self, problems(id))
    }

    /// A node's stored events after `after_seq`, at most `limit`, in order:
    /// (seq, envelope as stored).
    pub async fn events_after(
        &self,
        node: Uuid,
        after_seq: u64,
        limit: u32,
    ) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
        each!(self, events_after(node, after_seq as i64, i64::from(limit)))
    }

    /// Whether no hub is stored yet: no venue and no node (events without
    /// them are what an interrupted `pvm-cloud migrate` leaves: the next run
    /// writes over them).
    pub async fn is_empty(&self) -> anyhow::Result<bool> {
        each!(self, is_empty())
    }

    /// Every row but the events, as stored.
    pub async fn records(&self) -> anyhow::Result<Records> {
        each!(self, records())
    }

    /// Writes rows read by [`Locked::records`] from another hub, in one
    /// transaction (into an empty store).
    pub async fn import_records(&self, records: &Records) -> anyhow::Result<()> {
        each!(self, import_records(records))
    }

    /// An admin sign-in by the SHA-256 (hex) of its cookie's secret, made
    /// with the admin key `admin_key` (a fingerprint), until `expires_ms`;
    /// expired ones go at the same time.
    pub async fn insert_session(
        &self,
        hash: &str,
        admin_key: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> anyhow::Result<()> {
        each!(self, insert_session(hash, admin_key, now_ms, expires_ms))
    }

    /// Whether the sign-in is known, made with this admin key (a hub whose
    /// key was replaced signs everyone out) and not expired.
    pub async fn session_valid(
        &self,
        hash: &str,
        admin_key: &str,
        now_ms: i64,
    ) -> anyhow::Result<bool> {
        each!(self, session_valid(hash, admin_key, now_ms))
    }

    /// Signs out (nothing if unknown).
    pub async fn delete_session(&self, hash: &str) -> anyhow::Result<()> {
        each!(self, delete_session(hash))
    }

    /// A new operator; [`NameTaken`] if its name is in use.
    pub async fn insert_operator(&self, op: &OperatorRow) -> anyhow::Result<()> {
        each!(self, insert_operator(op))
    }

    /// Every operator, by name.
    pub async fn operators(&self) -> anyhow::Result<Vec<OperatorRow>> {
        each!(self, operators())
    }

    pub async fn operator(&self, id: Uuid) -> anyhow::Result<Option<OperatorRow>> {
        each!(self, operator(id))
    }

    /// The operator a venue belongs to: None if there is no such venue,
    /// Some(None) for a venue of no operator.
    /// Renames an operator and/or sets its alert webhook (Some(None)
    /// removes it); false if there is no such operator, [`NameTaken`] if
    /// the name is in use.
    pub async fn change_operator(
        &self,
        id: Uuid,
        name: Option<&str>,
        webhook: Option<Option<&str>>,
    ) -> anyhow::Result<bool> {
        each!(self, change_operator(id, name, webhook))
    }

    pub async fn venue_operator(&self, venue: Uuid) -> anyhow::Result<Option<Option<Uuid>>> {
        each!(self, venue_operator(venue))
    }

    /// A new staff account; [`NameTaken`] if its username is in use.
    pub async fn insert_staff(&self, staff: &StaffRow) -> anyhow::Result<()> {
        each!(self, insert_staff(staff))
    }

    /// By username (lower case).
    pub async fn staff_by_username(&self, username: &str) -> anyhow::Result<Option<StaffRow>> {
        each!(self, staff_by(false, username))
    }

    pub async fn staff_by_id(&self, id: Uuid) -> anyhow::Result<Option<StaffRow>> {
        each!(self, staff_by(true, &id.to_string()))
    }

    /// An operator's staff (None: the super-admins), by username.
    pub async fn staff_of(&self, operator: Option<Uuid>) -> anyhow::Result<Vec<StaffRow>> {
        each!(self, staff_of(operator))
    }

    /// Writes what `change` holds; false if there is no such account.
    pub async fn change_staff(&self, id: Uuid, change: &StaffChange) -> anyhow::Result<bool> {
        each!(self, change_staff(id, change))
    }

    /// Takes a TOTP step for the account if it is later than the last one
    /// taken (a code works once): false if it was used already.
    pub async fn take_totp_step(&self, id: Uuid, step: i64) -> anyhow::Result<bool> {
        each!(self, take_totp_step(id, step))
    }

    /// A staff sign-in by the SHA-256 (hex) of its secret, bound to the
    /// account's epoch; expired ones go at the same time.
    pub async fn insert_staff_session(
        &self,
        hash: &str,
        staff: Uuid,
        epoch: i64,
        now_ms: i64,
        expires_ms: i64,
    ) -> anyhow::Result<()> {
        each!(
            self,
            insert_staff_session(hash, staff, epoch, now_ms, expires_ms)
        )
    }

    /// The account of a live staff session: not expired, the account not
    /// disabled and its epoch unchanged since the sign-in.
    pub async fn staff_session(&self, hash: &str, now_ms: i64) -> anyhow::Result<Option<StaffRow>> {
        let row = each!(self, staff_session(hash, now_ms))?;
        Ok(session_staff(row))
    }

    pub async fn delete_staff_session(&self, hash: &str) -> anyhow::Result<()> {
        each!(self, delete_staff_session(hash))
    }

    /// An action and its deliveries, in one transaction.
    pub async fn insert_action(
        &self,
        action: &ActionRow,
        deliveries: &[DeliveryRow],
    ) -> anyhow::Result<()> {
        each!(self, insert_action(action, deliveries))
    }

    /// The latest `limit` actions, newest first: of one operator (Some), or
    /// every one (None).
    pub async fn actions(
        &self,
        operator: Option<Uuid>,
        limit: u32,
    ) -> anyhow::Result<Vec<ActionRow>> {
        each!(self, actions(operator, i64::from(limit)))
    }

    /// An action with its deliveries.
    pub async fn action(&self, id: Uuid) -> anyhow::Result<Option<(ActionRow, Vec<DeliveryRow>)>> {
        each!(self, action(id))
    }

    /// Writes stored envelopes as they are (a duplicate is left as it was),
    /// in one transaction; heads are not touched.
    pub async fn import_events(&self, rows: &[EventRow]) -> anyhow::Result<()> {
        each!(self, store_batch(rows, &[], 0))
    }
}

/// The events' latest-50 list with its verified marks.
pub(crate) fn latest_with_verified(
    rows: Vec<(i64, String)>,
    verified: Option<i64>,
) -> Vec<(i64, String, bool)> {
    rows.into_iter()
        .map(|(seq, kind)| (seq, kind, verified.is_some_and(|v| seq <= v)))
        .collect()
}
