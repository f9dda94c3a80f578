//! Sync with the hub: registration, the leaf configuration, and the pump.
//!
//! The node's outbox is its own `events` table. The pump publishes events
//! past `acked_seq` to `pvm.up.<venue>.<node>` through the local leaf into the
//! hub's JetStream domain, consecutive events packed in frames of up to 64
//! (`pvm_shared::frame`), `Nats-Msg-Id = <node>:<first>-<last>:<digest>`, up to 64
//! frames in flight, and moves `acked_seq` only over acks, in order. When the link is down the
//! publish fails at once; the pump backs off (0.5 s to 10 s) and starts again
//! from `acked_seq + 1`. Whatever is re-sent is a duplicate the hub drops.
//! See docs/SYNC.md. `link` registers and configures the leaf, `pump`
//! sends the log, `heartbeat` and `media` report to the hub, `downstream`
//! takes the hub's messages; the shared types are here.

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

mod downstream;
mod heartbeat;
mod leaf_rotation;
mod link;
mod media;
mod pump;

pub use downstream::*;
pub use heartbeat::*;
pub use link::*;
pub use media::*;
pub use pump::*;

pub const HUB_FILE: &str = "hub.json";

/// What every sync job shares: the hub link, the local leaf it talks
/// through, the node's store and clock, the status the jobs report, and
/// when to stop. Each job takes it, plus what only it needs.
#[derive(Clone)]
pub struct SyncContext {
    pub link: HubLink,
    /// The local leaf node (`nats://…`).
    pub nats_url: String,
    pub db: Db,
    pub reader: Reader,
    pub log: crate::store::Log,
    pub clock: Arc<dyn crate::store::writer::TimeSource>,
    pub status: Arc<SyncStatus>,
    /// Told the hub's keys when a rotation arrives.
    pub auth: Arc<crate::auth::AuthService>,
    pub stop: CancellationToken,
}

impl SyncContext {
    /// The jobs of `node` over `link`, through the leaf at `nats_url`, until `stop`.
    pub fn of(
        node: &crate::Node,
        link: HubLink,
        nats_url: String,
        stop: CancellationToken,
    ) -> SyncContext {
        SyncContext {
            link,
            nats_url,
            db: node.db.clone(),
            reader: node.state.reader.clone(),
            log: node.state.log.clone(),
            clock: node.state.clock.clone(),
            status: node.state.sync.clone(),
            auth: node.state.auth.clone(),
            stop,
        }
    }
}

/// Frames in flight (of up to 64 events each).
pub(crate) const WINDOW: usize = 64;

pub(crate) const CHUNK: u32 = 4_096;

/// What registration gave this node (kept mode 0600: it holds the leaf password).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubLink {
    #[serde(default)]
    pub hub_url: String,
    pub node_id: Uuid,
    pub venue_id: Uuid,
    /// The hub's leafnode URL (the first, from hubs on a NATS cluster).
    pub leaf_url: String,
    /// Every hub server's leafnode URL (hubs on a NATS cluster; empty from
    /// hubs before them): see [`HubLink::leaf_urls`].
    #[serde(default)]
    pub leaf_urls: Vec<String>,
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
pub(crate) fn causes(e: &dyn std::error::Error) -> String {
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
pub(crate) fn check_hub_url(hub_url: &str, insecure_http: bool) -> Result<(), String> {
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
    /// Where the leaf connects: every hub server's URL, or the one URL a
    /// hub before clusters gave.
    pub fn leaf_urls(&self) -> Vec<String> {
        let urls: Vec<String> = self
            .leaf_urls
            .iter()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            vec![self.leaf_url.trim().to_owned()]
        } else {
            urls
        }
    }

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

/// A connection to the local leaf, with this venue's inbox prefix (its leaf
/// user may receive replies only there).
pub(crate) async fn connect_leaf(
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
    /// The hub's copy of this venue's display feed (`<hub>/venues/<id>`),
    /// where wall screens go while this node does not answer.
    hub_display: std::sync::OnceLock<String>,
    /// Asks the leaf watch to restart the leaf now (new credentials): the
    /// request's number, and the last restart done (its number, how it went).
    pub leaf_restart_now: tokio::sync::Notify,
    pub leaf_restart_asked: AtomicU64,
    leaf_restart_done: std::sync::Mutex<(u64, Option<String>)>,
    /// A leaf-credentials rotation is under way (one at a time).
    pub leaf_rotating: AtomicBool,
    /// The leaf's configuration file, which holds its credentials.
    leaf_conf: std::sync::Mutex<Option<std::path::PathBuf>>,
}

/// Answers in a row with the hub's head standing still below `acked_seq`
/// before the pump sends again from the hub's head (a draining hub moves).
pub(crate) const STUCK_ANSWERS: u64 = 3;

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
pub(crate) struct HubHead {
    seq: u64,
    hash: String,
}

impl SyncStatus {
    /// Records where the hub serves this venue's screens (set once, at start).
    pub fn set_hub_display(&self, hub_url: &str, venue_id: uuid::Uuid) {
        let _ = self.hub_display.set(format!(
            "{}/venues/{venue_id}",
            hub_url.trim_end_matches('/')
        ));
    }

    /// The hub's copy of this venue's display feed, once registered.
    pub fn hub_display(&self) -> Option<&str> {
        self.hub_display.get().map(String::as_str)
    }

    /// Asks the leaf watch for a restart now: the request's number.
    pub fn ask_leaf_restart(&self) -> u64 {
        let n = self.leaf_restart_asked.fetch_add(1, Ordering::SeqCst) + 1;
        self.leaf_restart_now.notify_one();
        n
    }

    /// The leaf watch restarted the leaf for request `n`.
    pub fn leaf_restart_done(&self, n: u64, result: Result<(), String>) {
        *self
            .leaf_restart_done
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = (n, result.err());
    }

    /// How the restart for request `n` (or a later one) went, once done.
    pub fn leaf_restarted(&self, n: u64) -> Option<Result<(), String>> {
        let done = self
            .leaf_restart_done
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        (done.0 >= n).then(|| match &done.1 {
            None => Ok(()),
            Some(e) => Err(e.clone()),
        })
    }

    /// Where the leaf's configuration file is (`--leaf-conf`).
    pub fn set_leaf_conf(&self, path: std::path::PathBuf) {
        *self.leaf_conf.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
    }

    pub fn leaf_conf(&self) -> Option<std::path::PathBuf> {
        self.leaf_conf
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

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
