//! Upstream ingest: each node has its own durable consumer (`ingest-<node>`,
//! filtered to `pvm.up.<venue>.<node>` on `PVM_UP`), so one node's gaps or
//! flood use only its own ack budget and never stall another venue. Each
//! consumer's task pulls batches; each event is checked against its node's
//! verified head (subject, node, venue, seq, chain, hash, signature), accepted
//! events of a batch are stored in one transaction with their node's new
//! head, and only then acked.
//!
//! - seq at or below the head: a duplicate (a redelivery or a re-publish) if
//!   its hash is the stored one: acked, counted; another event at a stored seq
//!   is a fork: refused and reported.
//! - seq past head + 1: an earlier event has not arrived yet (a pipelined
//!   publish that will be retried): held (after its hash and signature are
//!   checked) within the node's bounds, else nak'd with a delay, so it comes
//!   back after; if it keeps coming back the gap is reported, never skipped.
//! - a bad signature, an altered event, a broken chain, an event of another
//!   node or venue, bytes that are not an envelope: rejected (terminated, so
//!   it cannot block the venue's stream) and reported.
//!
//! Problems are kept once per node and kind, with a count.
//!
//! A signature covers its event's hash, which chains every event before it;
//! events that arrive before the signed one of their batch are stored
//! chain-checked, and `verified_seq` moves up to each signed event.

use crate::now_ms;
use crate::partitions::{self, Owner};
use crate::store::{NodeRow, Store};
use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;
use pvm_shared::envelope::Envelope;
use pvm_shared::venue::VenueState;
use pvm_shared::verify::{ChainStart, ChainVerifier, Problem};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const UP_STREAM: &str = "PVM_UP";
pub const DOWN_STREAM: &str = "PVM_DOWN";
/// The single consumer older hubs used for every node; replaced by one per
/// node at start (the new ones begin where it had got to) and deleted.
pub const LEGACY_CONSUMER: &str = "cloud-ingest";
/// Messages one node's consumer may have delivered and not yet settled: the
/// most one node can hold back. Gaps are held within it.
pub(crate) const NODE_MAX_ACK_PENDING: i64 = 2_048;
/// Held (gap) messages kept in memory per node, by count and bytes. A node's
/// pump has at most 64 frames of at most 256 KiB in flight, so a real gap
/// fits many times over; past them a message is terminated and reported (the
/// node re-sends what the hub's head shows missing, see `pvm_node::sync`).
pub(crate) const MAX_HELD_MESSAGES: usize = 1_024;
pub(crate) const MAX_HELD_BYTES: usize = 32 * 1024 * 1024;
/// A message delivered this often is given up on (terminated and reported).
pub(crate) const MAX_DELIVER: i64 = 2_000;
/// Bytes pulled per batch per node.
pub(crate) const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// The largest message the stream takes: one event alone (its payload is
/// at most `envelope::MAX_PAYLOAD`) with its envelope, or a frame.
pub(crate) const MAX_MESSAGE_BYTES: i32 = 2 * 1024 * 1024;
/// A message re-delivered this often (about 90 s) while its predecessor is
/// missing is reported as a gap. Shorter waits are normal: after a hub
/// restart, messages delivered to the dead process come back only after the
/// ack wait, while later ones arrive at once.
pub(crate) const GAP_REPORT_AFTER: i64 = 12;

/// Counts visible in metrics and the admin UI.
#[derive(Default)]
pub struct Counts {
    pub accepted: AtomicU64,
    pub duplicate: AtomicU64,
    pub rejected: AtomicU64,
    pub waiting: AtomicU64,
    pub batches: AtomicU64,
    /// Heartbeats over their size or rate bounds, not stored.
    pub heartbeats_dropped: AtomicU64,
    /// Events folded into this process's copy of the venues' state (those
    /// it ingested and those other processes stored, read back).
    pub folded: AtomicU64,
    /// Partitions of `PVM_UP` this process ingests now.
    pub partitions: AtomicU64,
}

/// What the hub knows of each node and venue while it runs.
pub struct Registry {
    pub store: Arc<Store>,
    pub counts: Counts,
    pub nodes: Mutex<HashMap<Uuid, NodeRow>>,
    /// Each venue's state, from its events (for the API and the display fallback).
    /// Shared, not copied: a screen takes an `Arc` under the lock; a fold
    /// copies the state only while a screen still holds the old one.
    pub venues: Mutex<HashMap<Uuid, Arc<VenueState>>>,
    /// Each venue's report facts, folded with its state (`crate::reports`).
    pub reports: Mutex<HashMap<Uuid, crate::reports::facts::VenueFacts>>,
    /// Events that arrived before their predecessor, per node, by seq: held
    /// (not acked) until the gap closes, then stored in order.
    pub held: Mutex<HashMap<Uuid, std::collections::BTreeMap<u64, jetstream::Message>>>,
    /// Bumped whenever a venue's state changes (the display fallback watches it).
    pub versions: Mutex<HashMap<Uuid, u64>>,
    /// Woken when a node registers (its consumer is made and pulled at once).
    pub nodes_changed: tokio::sync::Notify,
    /// Per live node, the last seq folded into its venue's state here.
    pub folded: Mutex<HashMap<Uuid, u64>>,
    /// Nodes' public keys, decompressed (see `judge`).
    keys: Mutex<Keys>,
    /// The partitions whose nodes this process ingests (and answers
    /// heartbeats for).
    pub owned: Mutex<std::collections::BTreeSet<u32>>,
    /// When each node's head was last read back from the database because
    /// its next event seemed missing (see `recheck_heads`).
    rechecked: Mutex<HashMap<Uuid, std::time::Instant>>,
}

impl Registry {
    pub async fn load(store: Arc<Store>) -> anyhow::Result<Registry> {
        let rows = store.lock().await?.nodes().await?;
        let mut venues: HashMap<Uuid, VenueState> = HashMap::new();
        let mut reports: HashMap<Uuid, crate::reports::facts::VenueFacts> = HashMap::new();
        let mut folded: HashMap<Uuid, u64> = HashMap::new();
        let mut count = 0u64;
        store
            .lock()
            .await?
            .each_live_event(|venue, bytes| {
                if let Ok(env) = Envelope::decode(&bytes) {
                    // Out-of-bounds events were reported when they arrived.
                    let _ = fold(
                        venues.entry(venue).or_default(),
                        reports.entry(venue).or_default(),
                        &env,
                    );
                    folded.insert(env.header.node_id, env.header.seq);
                    count += 1;
                }
            })
            .await?;
        // Heads read before the events: a row another process moved since
        // is caught up from the database (see `catch_up`).
        let counts = Counts::default();
        counts.folded.store(count, Ordering::Relaxed);
        // The only process (libSQL) owns everything from the start.
        let owned = match store.claims() {
            None => (0..partitions::PARTITIONS).collect(),
            Some(_) => std::collections::BTreeSet::new(),
        };
        Ok(Registry {
            store,
            counts,
            folded: Mutex::new(folded),
            // The only process (libSQL) owns everything from the start.
            owned: Mutex::new(owned),
            keys: Mutex::new(HashMap::new()),
            rechecked: Mutex::new(HashMap::new()),
            nodes: Mutex::new(rows.into_iter().map(|n| (n.node_id, n)).collect()),
            venues: Mutex::new(venues.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()),
            reports: Mutex::new(reports),
            held: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            nodes_changed: tokio::sync::Notify::new(),
        })
    }

    /// Drops a venue's folded state and report facts (its node was
    /// replaced: both are folded again from the new node's log).
    pub fn forget_venue(&self, venue: Uuid) {
        self.venues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&venue);
        self.reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&venue);
        *self
            .versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(venue)
            .or_default() += 1;
    }

    /// Whether this process ingests the venue's partition now.
    pub fn owns(&self, venue: Uuid) -> bool {
        self.owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&partitions::of(venue))
    }

    /// How many times the venue's state has changed since start.
    pub fn version(&self, venue: Uuid) -> u64 {
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&venue)
            .copied()
            .unwrap_or(0)
    }

    /// Records problems once per node and kind: the first one's seq and
    /// detail, a count, and when it was last seen. One transaction.
    pub async fn problems(&self, found: Vec<Report>) {
        if found.is_empty() {
            return;
        }
        let mut grouped: Vec<(Report, u64)> = Vec::new();
        for r in found {
            tracing::warn!(node = ?r.0, seq = ?r.1, kind = r.2, detail = %r.3, "ingest problem");
            match grouped.iter_mut().find(|(g, _)| g.0 == r.0 && g.2 == r.2) {
                Some((_, n)) => *n += 1,
                None => grouped.push((r, 1)),
            }
        }
        let recorded = match self.store.lock().await {
            Ok(db) => db.add_problems(&grouped, now_ms()).await,
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "problems not recorded");
        }
    }
}

/// A problem found: the node, the seq, its kind and what happened.
pub type Report = (Option<Uuid>, Option<u64>, &'static str, String);

mod batch;
mod fold;
mod judge;
mod owners;
mod streams;

pub(crate) use batch::*;
pub(crate) use fold::*;
pub(crate) use judge::*;
pub use owners::*;
pub use streams::*;
