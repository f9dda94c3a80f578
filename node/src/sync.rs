//! Sync with the hub: registration, the leaf configuration, and the pump.
//!
//! The node's outbox is its own `events` table. The pump publishes events
//! past `acked_seq` to `pvm.up.<venue>.<node>` through the local leaf into the
//! hub's JetStream domain, consecutive events packed in frames of up to 64
//! (`pvm_shared::frame`), `Nats-Msg-Id = <node>:<first>-<last>:<digest>`, up to 64
//! frames in flight, and moves `acked_seq` only over acks, in order. When the link is down the
//! publish fails at once; the pump backs off (0.5 s to 10 s) and starts again
//! from `acked_seq + 1`. Whatever is re-sent is a duplicate the hub drops.
//! See docs/SYNC.md.

use crate::identity::NodeIdentity;
use crate::store::{Db, Reader, StoreError};
use async_nats::jetstream;
use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const HUB_FILE: &str = "hub.json";
/// Frames in flight (of up to 64 events each).
const WINDOW: usize = 64;
const CHUNK: u32 = 4_096;

/// What registration gave this node (kept mode 0600: it holds the leaf password).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubLink {
    #[serde(default)]
    pub hub_url: String,
    pub node_id: Uuid,
    pub venue_id: Uuid,
    pub leaf_url: String,
    pub leaf_user: String,
    pub leaf_password: String,
    pub hub_public_key: String,
    pub nats_domain: String,
    /// The CA (PEM) that signed the hub's leafnode certificate: the leaf
    /// verifies the hub with it. None only for a lab hub (`--insecure-http`).
    #[serde(default)]
    pub leaf_ca: Option<String>,
    /// A private CA (PEM) the hub's HTTPS certificate chains to (`register --hub-ca`).
    #[serde(default)]
    pub hub_ca: Option<String>,
}

/// How `register` may reach the hub.
#[derive(Debug, Default, Clone)]
pub struct Reach {
    /// Allow an `http://` hub and a leaf link without TLS (labs only).
    pub insecure_http: bool,
    /// A private CA (PEM) to trust for the hub's HTTPS, beside the public roots.
    pub hub_ca: Option<String>,
}

/// An HTTP client for the hub: trusting its private CA if it has one.
pub fn hub_client(hub_ca: Option<&str>, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(timeout);
    if let Some(pem) = hub_ca {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| format!("the hub's CA is not a PEM certificate: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| e.to_string())
}

/// An error with its causes ("error sending request: … invalid peer
/// certificate: UnknownIssuer"), so a person sees why.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// `https://…` always; `http://…` only when the lab flag says so.
fn check_hub_url(hub_url: &str, insecure_http: bool) -> Result<(), String> {
    if hub_url.starts_with("https://") {
        return Ok(());
    }
    if hub_url.starts_with("http://") {
        return if insecure_http {
            Ok(())
        } else {
            Err(format!(
                "{hub_url} is plain http: the registration answer holds the leaf password. Use the hub's https:// address (or --insecure-http for a lab without TLS)"
            ))
        };
    }
    Err(format!(
        "{hub_url} is not an https:// address (e.g. https://hub.example.com)"
    ))
}

impl HubLink {
    pub fn load(dir: &Path) -> Result<Option<HubLink>, String> {
        match std::fs::read_to_string(dir.join(HUB_FILE)) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", dir.join(HUB_FILE).display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", dir.join(HUB_FILE).display())),
        }
    }

    pub fn subject(&self) -> String {
        format!("pvm.up.{}.{}", self.venue_id, self.node_id)
    }

    pub fn inbox_prefix(&self) -> String {
        format!("_INBOX_{}", self.venue_id)
    }
}

fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// `pvm-node register`: sends the node's key with a one-time token and keeps what the hub answers.
pub async fn register(
    dir: &Path,
    hub_url: &str,
    token: &str,
    reach: &Reach,
) -> Result<HubLink, String> {
    let hub_url = hub_url.trim_end_matches('/');
    check_hub_url(hub_url, reach.insecure_http)?;
    if let Some(link) = HubLink::load(dir)? {
        return Err(format!(
            "this node is already registered with {} (venue {}); remove {} to register again",
            link.hub_url,
            link.venue_id,
            dir.join(HUB_FILE).display()
        ));
    }
    crate::identity::prepare_data_dir(dir).map_err(|e| e.to_string())?;
    let (identity, _) = NodeIdentity::load_or_create(dir).map_err(|e| e.to_string())?;
    use base64::Engine;
    let key =
        base64::engine::general_purpose::STANDARD.encode(identity.key.verifying_key().as_bytes());
    let client = hub_client(reach.hub_ca.as_deref(), Duration::from_secs(20))?;
    let resp = client
        .post(format!("{hub_url}/api/v1/register"))
        .json(&serde_json::json!({
            "token": token.trim(),
            "node_id": identity.node_id,
            "venue_id": identity.venue_id,
            "public_key": key,
        }))
        .send()
        .await
        .map_err(|e| format!("cannot reach the hub at {hub_url}: {}", causes(&e)))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        return Err(format!(
            "the hub refused the registration ({status}): {message}"
        ));
    }
    let mut link: HubLink = serde_json::from_value(body.clone())
        .map_err(|e| format!("the hub's answer was not understood: {e}"))?;
    link.hub_url = hub_url.to_owned();
    link.hub_ca = reach.hub_ca.clone();
    match &link.leaf_ca {
        Some(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
        Some(_) => return Err("the hub's leaf CA is not a PEM certificate".into()),
        None if reach.insecure_http => {}
        None => return Err(
            "the hub offers no TLS on the leaf link (no leaf_ca in its answer): nothing was kept"
                .into(),
        ),
    }
    let hub_key = base64::engine::general_purpose::STANDARD
        .decode(&link.hub_public_key)
        .map_err(|_| "the hub's key is not base64".to_string())?;
    write_secret(
        &dir.join(HUB_FILE),
        &serde_json::to_string_pretty(&link).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("writing {}: {e}", dir.join(HUB_FILE).display()))?;
    write_secret(
        &dir.join(crate::identity::HUB_KEY_FILE),
        &hex::encode(hub_key),
    )
    .map_err(|e| format!("writing the hub key: {e}"))?;
    Ok(link)
}

/// A resync under way: the new node id and key, kept until it is done so a
/// resync cut short is finished by running it again.
const RESYNC_FILE: &str = "resync.json";

#[derive(Serialize, Deserialize)]
struct PendingResync {
    node_id: Uuid,
    key: String,
}

/// `pvm-node resync` (the node stopped): gives a log that forked from the
/// hub's copy a fresh start at the hub. The log is rebuilt under a new node
/// id and key (every event kept, in order, chained anew and signed); the old
/// key vouches for the new one at the hub, which keeps the old node's events
/// as they were and takes this log in full under the new id. The old
/// database and identity stay in the data dir as `*.forked-<ms>`.
pub async fn resync(dir: &Path, now_ms: u64) -> Result<HubLink, String> {
    let link = HubLink::load(dir)?.ok_or_else(|| {
        "this node is not registered with a hub; there is nothing to resync".to_string()
    })?;
    let old = NodeIdentity::load(dir).map_err(|e| e.to_string())?;
    let pending_path = dir.join(RESYNC_FILE);
    let pending: PendingResync = match std::fs::read(&pending_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: {e}", pending_path.display()))?,
        Err(_) => {
            let p = PendingResync {
                node_id: Uuid::now_v7(),
                key: hex::encode(
                    ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng).to_bytes(),
                ),
            };
            let text = serde_json::to_string(&p).map_err(|e| e.to_string())?;
            write_secret(&pending_path, &text)
                .map_err(|e| format!("writing {}: {e}", pending_path.display()))?;
            p
        }
    };
    let mut key = [0u8; 32];
    hex::decode_to_slice(&pending.key, &mut key)
        .map_err(|e| format!("{}: the key is not hex: {e}", pending_path.display()))?;
    let new = NodeIdentity {
        node_id: pending.node_id,
        venue_id: link.venue_id,
        key: ed25519_dalek::SigningKey::from_bytes(&key),
    };
    if old.node_id == new.node_id && link.node_id == new.node_id {
        let _ = std::fs::remove_file(&pending_path);
        return Ok(link);
    }
    // 1. The log rebuilt under the new identity, beside the old one.
    let db_path = dir.join(crate::store::DB_FILE);
    let fresh = dir.join(format!("{}.resync", crate::store::DB_FILE));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    {
        let db = crate::store::Db::open(&db_path)
            .await
            .map_err(|e| e.to_string())?;
        let source = Reader::new(&db).await.map_err(|e| e.to_string())?;
        let rebuilt = crate::store::reseal_into(&source, &fresh, &new)
            .await
            .map_err(|e| format!("rebuilding the log: {e}"))?;
        let summary = rebuilt
            .verify_log(new.key.verifying_key(), new.node_id, new.venue_id)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|p| format!("the rebuilt log does not verify: {p}"))?;
        tracing::info!(events = summary.events, "log rebuilt under the new node id");
    }
    // 2. The hub moves the venue to the new node id (the old key vouches).
    use base64::Engine;
    use ed25519_dalek::Signer;
    let new_key = new.key.verifying_key().to_bytes();
    let statement =
        pvm_shared::resync::statement(old.node_id, new.node_id, link.venue_id, &new_key);
    let b64 = base64::engine::general_purpose::STANDARD;
    let client = hub_client(link.hub_ca.as_deref(), Duration::from_secs(20))?;
    let resp = client
        .post(format!("{}/api/v1/resync", link.hub_url))
        .json(&serde_json::json!({
            "node_id": old.node_id,
            "new_node_id": new.node_id,
            "venue_id": link.venue_id,
            "public_key": b64.encode(new_key),
            "leaf_password": link.leaf_password,
            "signature": b64.encode(old.key.sign(&statement).to_bytes()),
        }))
        .send()
        .await
        .map_err(|e| format!("cannot reach the hub at {}: {}", link.hub_url, causes(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        return Err(format!("the hub refused the resync ({status}): {message}"));
    }
    // 3. The files: the old log and identity kept aside, the new ones in place.
    let tag = now_ms.to_string();
    for suffix in ["", "-wal", "-shm"] {
        let from = format!("{}{suffix}", db_path.display());
        if Path::new(&from).exists() {
            std::fs::rename(&from, format!("{}.forked-{tag}{suffix}", db_path.display()))
                .map_err(|e| format!("moving {from} aside: {e}"))?;
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let from = format!("{}{suffix}", fresh.display());
        if Path::new(&from).exists() {
            std::fs::rename(&from, format!("{}{suffix}", db_path.display()))
                .map_err(|e| format!("putting the rebuilt log in place: {e}"))?;
        }
    }
    new.replace_in(dir, &tag).map_err(|e| e.to_string())?;
    let link = HubLink {
        node_id: new.node_id,
        ..link
    };
    write_secret(
        &dir.join(HUB_FILE),
        &serde_json::to_string_pretty(&link).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("writing {}: {e}", dir.join(HUB_FILE).display()))?;
    let _ = std::fs::remove_file(&pending_path);
    Ok(link)
}

/// A node registered before the leaf link had TLS has no `leaf_ca`: fetch
/// it from the hub (over HTTPS, trusted as at registration) and keep it.
pub async fn fetch_leaf_ca(dir: &Path, link: &mut HubLink) -> Result<(), String> {
    if link.hub_url.starts_with("http://") {
        return Err(format!(
            "{} is plain http: its leaf CA cannot be fetched safely; register again with the hub's https:// address",
            link.hub_url
        ));
    }
    let client = hub_client(link.hub_ca.as_deref(), Duration::from_secs(20))?;
    let resp = client
        .get(format!("{}/api/v1/hub", link.hub_url))
        .send()
        .await
        .map_err(|e| format!("cannot reach the hub at {}: {}", link.hub_url, causes(&e)))?;
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("the hub's answer was not understood: {e}"))?;
    let Some(pem) = body["leaf_ca"]
        .as_str()
        .filter(|p| p.contains("-----BEGIN CERTIFICATE-----"))
    else {
        return Err("the hub offers no TLS on the leaf link (no leaf_ca)".into());
    };
    link.leaf_ca = Some(pem.to_owned());
    write_secret(
        &dir.join(HUB_FILE),
        &serde_json::to_string_pretty(&link).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("writing {}: {e}", dir.join(HUB_FILE).display()))
}

/// The nats-server configuration of this node's leaf. With the hub's CA
/// (`ca_file`: where the leaf's nats-server reads it) the link is TLS and
/// the hub's certificate must name the leaf URL's host.
pub fn leaf_config(link: &HubLink, port: u16, monitor_port: u16, ca_file: Option<&str>) -> String {
    let remote = link.leaf_url.replacen(
        "://",
        &format!("://{}:{}@", link.leaf_user, link.leaf_password),
        1,
    );
    let tls = match ca_file {
        Some(ca) => format!(", tls: {{ ca_file: \"{ca}\", timeout: 5 }}"),
        None => String::new(),
    };
    format!(
        "# The leaf nats-server beside pvm-node {node} (venue {venue}). Written by `pvm-node leaf-config`.\n\
         host: 127.0.0.1\nport: {port}\nhttp: \"127.0.0.1:{monitor_port}\"\n\
         leafnodes {{\n  reconnect: \"2s\"\n  remotes: [ {{ url: \"{remote}\"{tls} }} ]\n}}\n",
        node = link.node_id,
        venue = link.venue_id,
    )
}

/// A connection to the local leaf, with this venue's inbox prefix (its leaf
/// user may receive replies only there).
async fn connect_leaf(
    link: &HubLink,
    nats_url: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .custom_inbox_prefix(link.inbox_prefix())
        .connection_timeout(Duration::from_secs(3))
        .connect(nats_url)
        .await
}

/// What the staff UI shows about sync.
#[derive(Debug, Default)]
pub struct SyncStatus {
    pub registered: AtomicBool,
    pub connected: AtomicBool,
    pub acked_seq: AtomicU64,
    pub head_seq: AtomicU64,
    /// When the hub last acknowledged anything (ms), 0 for never.
    pub last_contact_ms: AtomicU64,
    /// The leaf watch's view (see `crate::leaf`).
    leaf: std::sync::Mutex<crate::leaf::LeafHealth>,
    /// Set when the hub's copy of this node's log is not a prefix of the
    /// log here: the pump stops until `pvm-node resync`.
    fork: std::sync::Mutex<Option<Fork>>,
    /// The hub's head of this log at its last answer, and how many answers
    /// in a row it stood still below `acked_seq`.
    hub_head: AtomicU64,
    hub_stuck: AtomicU64,
    /// Set to the hub's head when the stream acked events the hub has not
    /// stored (it refused or lost them): the pump sends again from there.
    rewind_to: std::sync::Mutex<Option<u64>>,
}

/// Answers in a row with the hub's head standing still below `acked_seq`
/// before the pump sends again from the hub's head (a draining hub moves).
const STUCK_ANSWERS: u64 = 3;

/// Where this node's log left the hub's copy of it (e.g. the node was
/// restored from a backup older than what the hub has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Fork {
    /// The first seq this node would send that the hub has another event for.
    pub seq: u64,
    /// What staff are told.
    pub message: String,
}

/// The hub's head of this node's log, as it answers heartbeats and head queries.
#[derive(Debug, Deserialize)]
struct HubHead {
    seq: u64,
    hash: String,
}

impl SyncStatus {
    pub fn leaf(&self) -> crate::leaf::LeafHealth {
        self.leaf.lock().map(|h| h.clone()).unwrap_or_default()
    }

    pub fn update_leaf(&self, f: impl FnOnce(&mut crate::leaf::LeafHealth)) {
        if let Ok(mut h) = self.leaf.lock() {
            f(&mut h);
        }
    }

    pub fn fork(&self) -> Option<Fork> {
        self.fork.lock().map(|f| f.clone()).unwrap_or(None)
    }

    fn set_fork(&self, fork: Option<Fork>) {
        if let Ok(mut f) = self.fork.lock() {
            if *f != fork {
                match &fork {
                    Some(x) => tracing::error!(seq = x.seq, "{}", x.message),
                    None if f.is_some() => tracing::info!("the hub's copy of the log agrees again"),
                    None => {}
                }
            }
            *f = fork;
        }
    }

    /// Notes the hub's head of an agreeing log; after `STUCK_ANSWERS` in a
    /// row at the same seq below `acked_seq`, asks the pump to send again
    /// from there.
    fn note_hub_head(&self, seq: u64) {
        let acked = self.acked_seq.load(Ordering::Relaxed);
        let before = self.hub_head.swap(seq, Ordering::Relaxed);
        if seq >= acked {
            self.hub_stuck.store(0, Ordering::Relaxed);
            return;
        }
        let stuck = if before == seq {
            self.hub_stuck.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.hub_stuck.store(1, Ordering::Relaxed);
            1
        };
        if stuck >= STUCK_ANSWERS {
            self.hub_stuck.store(0, Ordering::Relaxed);
            if let Ok(mut r) = self.rewind_to.lock() {
                tracing::warn!(
                    hub = seq,
                    acked,
                    "the hub has not stored events the stream acked; sending them again"
                );
                *r = Some(seq);
            }
        }
    }

    fn take_rewind(&self) -> Option<u64> {
        self.rewind_to.lock().ok().and_then(|mut r| r.take())
    }

    pub fn pending(&self) -> u64 {
        self.head_seq
            .load(Ordering::Relaxed)
            .saturating_sub(self.acked_seq.load(Ordering::Relaxed))
    }
}

async fn load_acked(conn: &libsql::Connection) -> Result<u64, StoreError> {
    let mut rows = conn
        .query("SELECT acked_seq FROM sync_state WHERE id = 1", ())
        .await?;
    Ok(match rows.next().await? {
        Some(r) => r.get::<i64>(0)? as u64,
        None => 0,
    })
}

async fn save_acked(conn: &libsql::Connection, acked: u64, at_ms: u64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sync_state (id, acked_seq, last_ack_ms) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET acked_seq = excluded.acked_seq, last_ack_ms = excluded.last_ack_ms",
        libsql::params![acked as i64, at_ms as i64],
    )
    .await?;
    Ok(())
}

/// Compares the hub's head of this node's log (an answer to a heartbeat or a
/// head query) with the log here: the hub's head must be an event of this log.
/// Sets or clears `status`'s fork; returns true when the logs agree.
async fn compare_head(
    link: &HubLink,
    client: &async_nats::Client,
    reader: &Reader,
    status: &SyncStatus,
    answer: &[u8],
) -> bool {
    let Ok(head) = serde_json::from_slice::<HubHead>(answer) else {
        return true;
    };
    let mut theirs = [0u8; 32];
    if head.seq == 0 || hex::decode_to_slice(&head.hash, &mut theirs).is_err() {
        status.set_fork(None);
        return true;
    }
    let ours = match hash_at(reader, head.seq).await {
        Ok(h) => h,
        // The log cannot be read now: decide at the next answer.
        Err(_) => return status.fork().is_none(),
    };
    if ours == Some(theirs) {
        status.set_fork(None);
        status.note_hub_head(head.seq);
        return true;
    }
    // Where the logs part: the first seq whose event differs, found by
    // asking the hub for its hash at a few seqs (a binary search).
    let here = reader.head_seq().await.unwrap_or(0);
    let at = match fork_point(link, client, reader, head.seq.min(here)).await {
        Some(at) => at,
        // The hub did not answer the probes: the next answer tries again.
        None => return status.fork().is_none(),
    };
    status.set_fork(Some(Fork {
        seq: at,
        message: format!(
            "This node's log forked from the hub's at seq {at}: the hub holds other events from there (up to {}) than this node; was it restored from an older backup? Everything here keeps working and is kept, but nothing more is sent to the hub until an administrator runs pvm-node resync (see OPERATIONS.md).",
            head.seq
        ),
    }));
    false
}

/// The hash of this log's event `seq`, if it has one.
async fn hash_at(reader: &Reader, seq: u64) -> Result<Option<[u8; 32]>, StoreError> {
    Ok(reader
        .events_after(seq.saturating_sub(1), 1)
        .await?
        .into_iter()
        .find(|(s, _)| *s == seq)
        .and_then(|(_, bytes)| pvm_shared::envelope::Envelope::decode(&bytes).ok())
        .map(|env| env.hash))
}

/// The first seq in `1..=upto + 1` where this log and the hub's differ,
/// given that they differ somewhere (every seq up to a fork agrees, every
/// one after it differs: the chain carries each hash into the next).
async fn fork_point(
    link: &HubLink,
    client: &async_nats::Client,
    reader: &Reader,
    upto: u64,
) -> Option<u64> {
    let (mut agree, mut differ) = (0u64, upto + 1);
    while differ - agree > 1 {
        let mid = agree + (differ - agree) / 2;
        let theirs = ask_hash(link, client, mid).await?;
        let ours = hash_at(reader, mid).await.ok()?;
        if ours.is_some() && ours == theirs {
            agree = mid;
        } else {
            differ = mid;
        }
    }
    Some(differ)
}

/// The hub's hash of this node's event `seq` (None inside: it has none).
async fn ask_hash(
    link: &HubLink,
    client: &async_nats::Client,
    seq: u64,
) -> Option<Option<[u8; 32]>> {
    let subject = format!("pvm.head.{}.{}", link.venue_id, link.node_id);
    let query = serde_json::json!({ "at": seq }).to_string();
    let answer = tokio::time::timeout(
        Duration::from_secs(3),
        client.request(subject, query.into()),
    )
    .await
    .ok()?
    .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&answer.payload).ok()?;
    if value["at"].as_u64() != Some(seq) {
        return None;
    }
    let mut hash = [0u8; 32];
    Some(
        value["at_hash"]
            .as_str()
            .and_then(|h| hex::decode_to_slice(h, &mut hash).ok())
            .map(|()| hash),
    )
}

/// Asks the hub for its head of this node's log (`pvm.head.<venue>.<node>`).
/// None when the hub does not answer in time (an older hub, or the line is
/// down): the pump goes on, and the hub reports a fork if there is one.
async fn ask_head(link: &HubLink, client: &async_nats::Client) -> Option<Vec<u8>> {
    let subject = format!("pvm.head.{}.{}", link.venue_id, link.node_id);
    let asked = tokio::time::timeout(
        Duration::from_secs(3),
        client.request(subject, Vec::<u8>::new().into()),
    )
    .await;
    match asked {
        Ok(Ok(m)) => Some(m.payload.to_vec()),
        _ => None,
    }
}

/// Publishes the log to the hub until `stop`.
#[allow(clippy::too_many_arguments)]
pub async fn pump(
    link: HubLink,
    nats_url: String,
    db: Db,
    reader: Reader,
    clock: Arc<dyn crate::store::writer::TimeSource>,
    status: Arc<SyncStatus>,
    mut wake: tokio::sync::watch::Receiver<Arc<pvm_shared::venue::VenueState>>,
    stop: CancellationToken,
) {
    status.registered.store(true, Ordering::Relaxed);
    let conn = match db.connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "sync pump cannot open the database");
            return;
        }
    };
    let mut acked = load_acked(&conn).await.unwrap_or(0);
    status.acked_seq.store(acked, Ordering::Relaxed);
    let mut backoff = Duration::from_millis(500);
    loop {
        if stop.is_cancelled() {
            return;
        }
        let client = connect_leaf(&link, &nats_url).await;
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "sync: local leaf not reachable");
                status.connected.store(false, Ordering::Relaxed);
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        // A log that forked from the hub's is not sent on (the heartbeat
        // keeps asking; `pvm-node resync` is the way out).
        if let Some(answer) = ask_head(&link, &client).await {
            compare_head(&link, &client, &reader, &status, &answer).await;
        }
        let js = jetstream::with_domain(client.clone(), &link.nats_domain);
        // Publish until something fails; then back off and start again from `acked`.
        let result = publish_from(
            &link,
            &js,
            &conn,
            &reader,
            &clock,
            &status,
            &mut acked,
            &mut wake,
            &stop,
            &mut backoff,
        )
        .await;
        status.connected.store(false, Ordering::Relaxed);
        if let Err(e) = result {
            tracing::debug!(error = %e, acked, "sync: link down; backing off");
        }
        drop(client);
        tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[allow(clippy::too_many_arguments)]
async fn publish_from(
    link: &HubLink,
    js: &jetstream::Context,
    conn: &libsql::Connection,
    reader: &Reader,
    clock: &Arc<dyn crate::store::writer::TimeSource>,
    status: &SyncStatus,
    acked: &mut u64,
    wake: &mut tokio::sync::watch::Receiver<Arc<pvm_shared::venue::VenueState>>,
    stop: &CancellationToken,
    backoff: &mut Duration,
) -> Result<(), String> {
    let subject = link.subject();
    // After a rewind: up to which seq frames are sent again, and their tag.
    let mut resend: Option<(u64, u64)> = None;
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        if resend.is_some_and(|(until, _)| *acked >= until) {
            resend = None;
        }
        if status.fork().is_some() {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        if let Some(hub_head) = status.take_rewind().filter(|h| *h < *acked) {
            // Sent again under new ids: the stream's duplicate window would
            // otherwise drop what it took (and the hub never stored) before.
            resend = Some((*acked, clock.now_ms()));
            *acked = hub_head;
            if save_acked(conn, *acked, clock.now_ms()).await.is_ok() {
                status.acked_seq.store(*acked, Ordering::Relaxed);
            }
        }
        if let Ok(head) = reader.head_seq().await {
            status.head_seq.store(head, Ordering::Relaxed);
        }
        let events = reader
            .events_after(*acked, CHUNK)
            .await
            .map_err(|e| e.to_string())?;
        if events.is_empty() {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = wake.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let mut in_flight: VecDeque<(u64, jetstream::context::PublishAckFuture)> = VecDeque::new();
        let mut failure = None;
        for frame in frames(&events) {
            let (first, last) = (events[frame.start].0, events[frame.end - 1].0);
            if in_flight.len() >= WINDOW {
                if let Some((s, f)) = in_flight.pop_front() {
                    match f.await {
                        Ok(_) => *acked = s,
                        Err(e) => {
                            failure = Some(e.to_string());
                            break;
                        }
                    }
                }
            }
            let body = pvm_shared::frame::encode(events[frame].iter().map(|(_, b)| b.as_slice()));
            let mut headers = HeaderMap::new();
            let tag = resend
                .filter(|(until, _)| first <= *until)
                .map(|(_, tag)| tag);
            headers.insert(
                "Nats-Msg-Id",
                msg_id(link.node_id, first, last, &body, tag).as_str(),
            );
            match js
                .publish_with_headers(subject.clone(), headers, body.into())
                .await
            {
                Ok(f) => in_flight.push_back((last, f)),
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        while let Some((s, f)) = in_flight.pop_front() {
            if failure.is_some() {
                break;
            }
            match f.await {
                Ok(_) => *acked = s,
                Err(e) => failure = Some(e.to_string()),
            }
        }
        let now = clock.now_ms();
        if save_acked(conn, *acked, now).await.is_ok() {
            status.acked_seq.store(*acked, Ordering::Relaxed);
        }
        if let Some(e) = failure {
            return Err(e);
        }
        status.connected.store(true, Ordering::Relaxed);
        status.last_contact_ms.store(now, Ordering::Relaxed);
        *backoff = Duration::from_millis(500);
    }
}

/// The frame's id for JetStream's duplicate window: its seqs and a digest of
/// its bytes. A true re-publish has the same id and is dropped by the stream;
/// a different event at a reused seq (a node restored from a backup) has
/// another, so it reaches the hub, which reports the fork instead of the
/// stream acking it unseen.
/// A frame sent again after a rewind carries the rewind's tag, so the window
/// does not drop it as the copy the hub never stored.
fn msg_id(node: uuid::Uuid, first: u64, last: u64, body: &[u8], resend: Option<u64>) -> String {
    use sha2::Digest;
    let digest = hex::encode(&sha2::Sha256::digest(body)[..8]);
    match resend {
        Some(tag) => format!("{node}:{first}-{last}:{digest}:r{tag}"),
        None => format!("{node}:{first}-{last}:{digest}"),
    }
}

/// Consecutive events grouped into frames (see `pvm_shared::frame`): at most
/// `MAX_EVENTS` each, closed before `MAX_BYTES` (an event larger than that
/// travels alone).
fn frames(events: &[(u64, Vec<u8>)]) -> Vec<std::ops::Range<usize>> {
    use pvm_shared::frame::{MAX_BYTES, MAX_EVENTS};
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, e)) in events.iter().enumerate() {
        let full = i - start == MAX_EVENTS || (i > start && bytes + e.len() + 4 > MAX_BYTES);
        if full {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += e.len() + 4;
    }
    if start < events.len() {
        out.push(start..events.len());
    }
    out
}

/// Heartbeats: `pvm.hb.<venue>.<node>` every `every` with version, backlog, uptime, free memory and disk, and the CPU temperature where the board reports it.
pub async fn heartbeat(
    link: HubLink,
    nats_url: String,
    data_dir: std::path::PathBuf,
    reader: Reader,
    status: Arc<SyncStatus>,
    every: Duration,
    stop: CancellationToken,
) {
    let started = std::time::Instant::now();
    let subject = format!("pvm.hb.{}.{}", link.venue_id, link.node_id);
    let mut client = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! { _ = stop.cancelled() => return, _ = tick.tick() => {} }
        if client.is_none() {
            client = connect_leaf(&link, &nats_url).await.ok();
        }
        let Some(c) = &client else { continue };
        let beat = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "backlog": status.pending(),
            "uptime_s": started.elapsed().as_secs(),
            "acked_seq": status.acked_seq.load(Ordering::Relaxed),
            "mem_available_kb": meminfo("MemAvailable:"),
            "disk_free_mb": disk_free_mb(&data_dir),
            "cpu_temp_c": cpu_temp(),
        });
        // A request: the hub answers with its head of this log.
        let asked = tokio::time::timeout(
            every.min(Duration::from_secs(5)),
            c.request(subject.clone(), beat.to_string().into()),
        )
        .await;
        match asked {
            Ok(Ok(answer)) => {
                compare_head(&link, c, &reader, &status, &answer.payload).await;
            }
            // No answer in time (the hub is away): the beat was still sent.
            Err(_) | Ok(Err(_))
                if c.connection_state() == async_nats::connection::State::Connected => {}
            _ => client = None,
        }
    }
}

/// How often the media upload asks the hub again about images it already has.
const MEDIA_RECHECK: Duration = Duration::from_secs(3600);

/// Display images to the hub (its display fallback shows them too): every
/// 30 s, each image in `<data dir>/media` the hub does not have yet is sent
/// over HTTP, signed by the node's key (`pvm_display::media::upload_message`).
pub async fn media_upload(
    link: HubLink,
    data_dir: std::path::PathBuf,
    identity: Arc<NodeIdentity>,
    every: Duration,
    stop: CancellationToken,
) {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let client = match hub_client(link.hub_ca.as_deref(), Duration::from_secs(30)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "media upload cannot start");
            return;
        }
    };
    let media = crate::media::MediaStore::new(&data_dir);
    let mut done = std::collections::HashSet::new();
    let mut tick = tokio::time::interval(every);
    let mut since_recheck = std::time::Instant::now();
    loop {
        tokio::select! { _ = stop.cancelled() => return, _ = tick.tick() => {} }
        // Once an hour every image is asked about again: the hub answers
        // "not found" for a copy it found damaged, and gets it again.
        if since_recheck.elapsed() >= MEDIA_RECHECK {
            done.clear();
            since_recheck = std::time::Instant::now();
        }
        let Ok(dir) = std::fs::read_dir(data_dir.join("media")) else {
            continue;
        };
        let names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| crate::media::valid_name(n) && !done.contains(n))
            .collect();
        for name in names {
            let url = format!("{}/display/media/{name}", link.hub_url);
            match client.head(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    done.insert(name);
                    continue;
                }
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {}
                Ok(_) | Err(_) => break, // the hub is not answering: next round
            }
            let Some((bytes, content_type)) = media.get(&name) else {
                continue;
            };
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let sig = identity.key.sign(&pvm_display::media::upload_message(
                identity.node_id,
                &name,
                at,
            ));
            let sent = client
                .put(format!(
                    "{}/api/v1/nodes/{}/media/{name}",
                    link.hub_url, identity.node_id
                ))
                .header("content-type", content_type)
                .header("x-pvm-time", at.to_string())
                .header(
                    "x-pvm-signature",
                    base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
                )
                .body(bytes)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(%name, "display image sent to the hub");
                    done.insert(name);
                }
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    tracing::warn!(%name, %status, %body, "the hub refused a display image");
                    if status.is_client_error() {
                        // It will not change its mind about these bytes.
                        done.insert(name);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "the hub is not answering; images later");
                    break;
                }
            }
        }
    }
}

/// Free space (MB) on the file system holding the data dir, for non-root users.
// The field types differ between targets (u32 on 32-bit boards).
#[allow(clippy::unnecessary_cast)]
fn disk_free_mb(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs writes into the buffer we own and reads a NUL-terminated path.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64) / (1024 * 1024))
}

fn meminfo(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
    })
}

/// The board's CPU temperature where it reports one (a Pi does).
fn cpu_temp() -> Option<f64> {
    std::fs::read_to_string("/sys/class/thermal/thermal_zone0/temp")
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map(|m| m / 1000.0)
}

/// Hub messages remembered as applied (the newest by issue time).
const DOWN_REMEMBERED: i64 = 10_000;

/// Whether a hub message was applied here, or is older than every one
/// remembered (then it is refused too).
async fn down_seen(
    conn: &libsql::Connection,
    id: Uuid,
    issued_ms: u64,
) -> Result<Option<&'static str>, StoreError> {
    let mut rows = conn
        .query(
            "SELECT (SELECT COUNT(*) FROM down_applied WHERE id = ?1), \
             (SELECT COUNT(*) FROM down_applied), (SELECT MIN(issued_ms) FROM down_applied)",
            libsql::params![id.to_string()],
        )
        .await?;
    let Some(row) = rows.next().await? else {
        return Ok(None);
    };
    let (applied, kept, oldest): (i64, i64, Option<i64>) = (row.get(0)?, row.get(1)?, row.get(2)?);
    if applied > 0 {
        return Ok(Some("it was applied here already (a replay)"));
    }
    if kept >= DOWN_REMEMBERED && oldest.is_some_and(|o| (issued_ms as i64) < o) {
        return Ok(Some("it is older than every message this node remembers"));
    }
    Ok(None)
}

async fn remember_down(
    conn: &libsql::Connection,
    id: Uuid,
    kind: &str,
    issued_ms: u64,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO down_applied (id, kind, issued_ms, applied_ms) VALUES (?1, ?2, ?3, ?4)",
        libsql::params![id.to_string(), kind, issued_ms as i64, now_ms as i64],
    )
    .await?;
    conn.execute(
        "DELETE FROM down_applied WHERE id IN (SELECT id FROM down_applied ORDER BY issued_ms DESC LIMIT -1 OFFSET ?1)",
        libsql::params![DOWN_REMEMBERED],
    )
    .await?;
    Ok(())
}

/// What became of a message from the hub.
enum DownOutcome {
    /// Applied (or refused with an event saying why): ack it and remember it.
    Done(Uuid, &'static str, u64),
    /// Not the hub's, not this venue's, or unreadable: ack it, nothing else.
    Ignored,
    /// The node could not save it now (storage, shutting down): not acked,
    /// so it comes again.
    Later(String),
}

#[allow(clippy::too_many_arguments)]
pub async fn downstream(
    link: HubLink,
    nats_url: String,
    db: Db,
    log: crate::store::Log,
    clock: Arc<dyn crate::store::writer::TimeSource>,
    hub_key: ed25519_dalek::VerifyingKey,
    self_update: Option<crate::update::SelfUpdate>,
    stop: CancellationToken,
) {
    use async_nats::jetstream::consumer::pull;
    use futures_util::StreamExt;
    let conn = match db.connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "downstream cannot open the database");
            return;
        }
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        if stop.is_cancelled() {
            return;
        }
        let client = connect_leaf(&link, &nats_url).await;
        let consumer = match client {
            Ok(c) => {
                let js = jetstream::with_domain(c, &link.nats_domain);
                js.get_consumer_from_stream::<pull::Config, _, _>(
                    format!("node-{}", link.node_id),
                    "PVM_DOWN",
                )
                .await
                .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let consumer = match consumer {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "downstream: hub not reachable");
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(500);
        loop {
            if stop.is_cancelled() {
                return;
            }
            let batch = consumer
                .fetch()
                .max_messages(50)
                .expires(Duration::from_secs(1))
                .messages()
                .await;
            let Ok(mut messages) = batch else { break };
            let mut failed = false;
            while let Some(m) = messages.next().await {
                let Ok(m) = m else {
                    failed = true;
                    break;
                };
                let outcome = apply_down(
                    &link,
                    &conn,
                    &log,
                    &clock,
                    &hub_key,
                    self_update.as_ref(),
                    &m.payload,
                )
                .await;
                match outcome {
                    DownOutcome::Done(id, kind, issued_ms) => {
                        if let Err(e) =
                            remember_down(&conn, id, kind, issued_ms, clock.now_ms()).await
                        {
                            tracing::warn!(error = %e, "downstream: not remembered; it will come again");
                            failed = true;
                            break;
                        }
                        let _ = m.ack().await;
                    }
                    DownOutcome::Ignored => {
                        let _ = m.ack().await;
                    }
                    DownOutcome::Later(e) => {
                        tracing::warn!(error = %e, "downstream: not applied now; it will come again");
                        let _ = m
                            .ack_with(async_nats::jetstream::AckKind::Nak(Some(
                                Duration::from_secs(5),
                            )))
                            .await;
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                break;
            }
        }
        tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
    }
}

/// Applies one message from the hub: checked (the hub's signature, this
/// venue), refused when it was applied already or is an update older than
/// this node (an update refused says so in an event, which reaches the hub),
/// else turned into a command with the cloud as actor.
#[allow(clippy::too_many_arguments)]
async fn apply_down(
    link: &HubLink,
    conn: &libsql::Connection,
    log: &crate::store::Log,
    clock: &Arc<dyn crate::store::writer::TimeSource>,
    hub_key: &ed25519_dalek::VerifyingKey,
    self_update: Option<&crate::update::SelfUpdate>,
    payload: &[u8],
) -> DownOutcome {
    use pvm_shared::down::{DownBody, DownMessage};
    use pvm_shared::venue::Command;
    let message: DownMessage = match serde_json::from_slice(payload) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "downstream: not a hub message; ignored");
            return DownOutcome::Ignored;
        }
    };
    if message.venue_id != link.venue_id || !message.verify(hub_key) {
        tracing::warn!(id = %message.id, "downstream: not signed by the hub for this venue; ignored");
        return DownOutcome::Ignored;
    }
    let kind = match &message.body {
        DownBody::Update { .. } => "update",
        DownBody::Template { .. } => "template",
        DownBody::Announcement { .. } => "announcement",
    };
    let done = DownOutcome::Done(message.id, kind, message.issued_ms);
    let seen = match down_seen(conn, message.id, message.issued_ms).await {
        Ok(seen) => seen,
        Err(e) => return DownOutcome::Later(e.to_string()),
    };
    let command = match message.body {
        DownBody::Update { version, images } => {
            let record = |outcome: &str, detail: String| Command::RecordUpdate {
                container: self_update.map_or_else(String::new, |s| s.container.clone()),
                image: images.get("node").cloned().unwrap_or_default(),
                outcome: outcome.into(),
                detail,
            };
            let running = env!("CARGO_PKG_VERSION");
            match (images.get("node"), self_update) {
                _ if seen.is_some() => record(
                    "refused",
                    format!("update {} to version {version}: {}", message.id, seen.unwrap_or_default()),
                ),
                _ if older_version(&version, running) => record(
                    "refused",
                    format!("update {} to version {version}: older than the running {running}", message.id),
                ),
                (Some(image), Some(su)) if pvm_shared::down::by_digest(image) => {
                    match crate::update::spawn_helper(su, image).await {
                        Ok(helper) => record(
                            "started",
                            format!("version {version}: the helper {helper} replaces {}", su.container),
                        ),
                        Err(e) => record("refused", format!("version {version}: {e}")),
                    }
                }
                (Some(_), Some(_)) => record("refused", "the node image is not named by digest".into()),
                (None, _) => record("refused", format!("version {version} names no node image")),
                (Some(_), None) => record(
                    "refused",
                    "this node does not run under Docker with --self-container: update it with the installer or by hand".into(),
                ),
            }
        }
        DownBody::Template { structure } => Command::SaveTemplate {
            structure: Box::new(structure),
        },
        DownBody::Announcement {
            id,
            text,
            group,
            until_ms,
        } => Command::Display {
            change: pvm_shared::displays::DisplayEvent::Announced {
                announcement: pvm_shared::displays::Announcement {
                    id,
                    text,
                    group,
                    until_ms,
                },
            },
            at_ms: clock.now_ms(),
        },
    };
    if let (Some(why), false) = (seen, matches!(command, Command::RecordUpdate { .. })) {
        tracing::warn!(id = %message.id, kind, "downstream: refused: {why}");
        return done;
    }
    match log.append(pvm_shared::Actor::Cloud, command).await {
        Ok(c) => {
            tracing::info!(seq = c.seq, id = %message.id, "applied a message from the hub");
            done
        }
        // The message itself cannot be applied (e.g. a template that is
        // not valid here): remembered as done, said in the log.
        Err(crate::store::AppendError::Rejected(e)) => {
            tracing::warn!(error = %e, id = %message.id, "a message from the hub could not be applied");
            done
        }
        Err(e) => DownOutcome::Later(e.to_string()),
    }
}

/// True when `version` is older than `running` (dotted numbers; anything
/// else is not older).
fn older_version(version: &str, running: &str) -> bool {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.trim_start_matches('v')
            .split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse::<u64>().ok())
            .collect()
    };
    match (parse(version), parse(running)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cover_every_event_once_in_order_within_their_limits() {
        let events: Vec<(u64, Vec<u8>)> = (1..=200u64)
            .map(|seq| (seq, vec![0u8; if seq == 70 { 300_000 } else { 5_000 }]))
            .collect();
        let got = frames(&events);
        let mut next = 0;
        for f in &got {
            assert_eq!(f.start, next);
            assert!(!f.is_empty() && f.len() <= pvm_shared::frame::MAX_EVENTS);
            let bytes: usize = events[f.clone()].iter().map(|(_, e)| e.len() + 4).sum();
            assert!(
                f.len() == 1 || bytes <= pvm_shared::frame::MAX_BYTES,
                "{f:?}"
            );
            next = f.end;
        }
        assert_eq!(next, events.len());
        assert!(
            got.iter().any(|f| f.len() == 1 && f.start == 69),
            "the big one alone"
        );
        assert!(frames(&[]).is_empty());
    }
}
