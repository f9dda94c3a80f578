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
const NODE_MAX_ACK_PENDING: i64 = 2_048;
/// Held (gap) messages kept in memory per node, by count and bytes. A node's
/// pump has at most 64 frames of at most 256 KiB in flight, so a real gap
/// fits many times over; past them a message is terminated and reported (the
/// node re-sends what the hub's head shows missing, see `pvm_node::sync`).
const MAX_HELD_MESSAGES: usize = 1_024;
const MAX_HELD_BYTES: usize = 32 * 1024 * 1024;
/// A message delivered this often is given up on (terminated and reported).
const MAX_DELIVER: i64 = 2_000;
/// Bytes pulled per batch per node.
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// The largest message the stream takes: one event alone (its payload is
/// at most `envelope::MAX_PAYLOAD`) with its envelope, or a frame.
const MAX_MESSAGE_BYTES: i32 = 2 * 1024 * 1024;
/// A message re-delivered this often (about 90 s) while its predecessor is
/// missing is reported as a gap. Shorter waits are normal: after a hub
/// restart, messages delivered to the dead process come back only after the
/// ack wait, while later ones arrive at once.
const GAP_REPORT_AFTER: i64 = 12;

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
        let mut folded: HashMap<Uuid, u64> = HashMap::new();
        let mut count = 0u64;
        store
            .lock()
            .await?
            .each_live_event(|venue, bytes| {
                if let Ok(env) = Envelope::decode(&bytes) {
                    // Out-of-bounds events were reported when they arrived.
                    let _ = fold(venues.entry(venue).or_default(), &env);
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
            held: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            nodes_changed: tokio::sync::Notify::new(),
        })
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

/// Creates or updates the streams (idempotent). Returns where the per-node
/// consumers begin when an older hub's single consumer is still there (the
/// stream sequence after its ack floor), else None (from the start).
pub async fn ensure_streams(
    js: &jetstream::Context,
    replicas: usize,
) -> anyhow::Result<Option<u64>> {
    let up = jetstream::stream::Config {
        name: UP_STREAM.into(),
        subjects: vec!["pvm.up.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        max_message_size: MAX_MESSAGE_BYTES,
        num_replicas: replicas,
        // Stored as pvm.up.<partition>.<venue>.<node> (see `partitions`).
        subject_transform: Some(jetstream::stream::SubjectTransform {
            source: partitions::transform().0,
            destination: partitions::transform().1,
        }),
        ..Default::default()
    };
    js.create_or_update_stream(up).await?;
    let down = jetstream::stream::Config {
        name: DOWN_STREAM.into(),
        subjects: vec!["pvm.down.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        num_replicas: replicas,
        ..Default::default()
    };
    js.create_or_update_stream(down).await?;
    match js
        .get_consumer_from_stream::<pull::Config, _, _>(LEGACY_CONSUMER, UP_STREAM)
        .await
    {
        Ok(mut legacy) => {
            let info = legacy.info().await?;
            Ok(Some(info.ack_floor.stream_sequence + 1))
        }
        Err(_) => Ok(None),
    }
}

fn consumer_name(node: Uuid) -> String {
    format!("ingest-{node}")
}

/// The subjects a node's events are stored under: from before the stream
/// was partitioned, and since.
fn node_subjects(venue: Uuid, node: Uuid) -> Vec<String> {
    vec![
        format!("pvm.up.{venue}.{node}"),
        format!("pvm.up.*.{venue}.{node}"),
    ]
}

/// The node's ingest consumer, made if missing (from `start`, or the first
/// message of its subjects); one made before the stream was partitioned is
/// given the partitioned subject too (it keeps its place).
async fn node_consumer(
    js: &jetstream::Context,
    venue: Uuid,
    node: Uuid,
    start: Option<u64>,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let name = consumer_name(node);
    let subjects = node_subjects(venue, node);
    if let Ok(mut c) = js
        .get_consumer_from_stream::<pull::Config, _, _>(&name, UP_STREAM)
        .await
    {
        let config = c.info().await?.config.clone();
        if config.filter_subjects == subjects {
            return Ok(c);
        }
        let mut config =
            <pull::Config as jetstream::consumer::FromConsumer>::try_from_consumer_config(config)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        config.filter_subject = String::new();
        config.filter_subjects = subjects;
        return Ok(js.update_consumer_on_stream(config, UP_STREAM).await?);
    }
    let deliver_policy = match start {
        Some(start_sequence) => {
            jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence }
        }
        None => jetstream::consumer::DeliverPolicy::All,
    };
    Ok(js
        .create_consumer_on_stream(
            pull::Config {
                durable_name: Some(name),
                filter_subjects: subjects,
                deliver_policy,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(5),
                max_ack_pending: NODE_MAX_ACK_PENDING,
                max_deliver: MAX_DELIVER,
                ..Default::default()
            },
            UP_STREAM,
        )
        .await?)
}

/// A node's running ingest.
struct Running {
    partition: u32,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Runs the ingest of every node in the partitions this process owns, until
/// `stop`: claims partitions (all of them on libSQL; a fair share on
/// PostgreSQL, see `partitions`), makes each owned node's consumer (at start,
/// and as nodes register) and pulls it in a task of its own. A partition let
/// go has its tasks stopped first. Nodes of other processes' partitions are
/// followed from the database: their heads, and their events folded into
/// the venues' state this process serves. The older single consumer is
/// deleted once every node has its own.
pub async fn run_all(
    hub: Arc<Registry>,
    js: jetstream::Context,
    legacy_start: Option<u64>,
    stop: CancellationToken,
) {
    let mut owner = match hub.store.claims() {
        Some(claims) => Owner::Shared(Box::new(claims)),
        None => Owner::All,
    };
    let shared = matches!(owner, Owner::Shared(_));
    let mut running: HashMap<Uuid, Running> = HashMap::new();
    // Owned partitions whose nodes are not caught up from the database yet.
    let mut behind: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    let mut legacy = legacy_start;
    loop {
        let surplus = owner.surplus().await;
        if !surplus.is_empty() {
            stop_partitions(&hub, &mut running, &surplus).await;
            owner.release(&surplus).await;
        }
        let gained = owner.claim().await;
        behind.extend(gained);
        let owned = owner.owned();
        behind.retain(|p| owned.contains(p));
        // Tasks of partitions lost with the claims connection.
        let lost: Vec<u32> = running
            .values()
            .map(|r| r.partition)
            .filter(|p| !owned.contains(p))
            .collect();
        stop_partitions(&hub, &mut running, &lost).await;
        // Claimed again after the claims connection was made again: ingest
        // restarts from the database's heads.
        let again: Vec<u32> = running
            .values()
            .map(|r| r.partition)
            .filter(|p| behind.contains(p))
            .collect();
        stop_partitions(&hub, &mut running, &again).await;
        hub.counts
            .partitions
            .store(owned.len() as u64, Ordering::Relaxed);
        *hub.owned.lock().unwrap_or_else(|p| p.into_inner()) = owned.clone();
        if shared {
            let ready: std::collections::BTreeSet<u32> =
                owned.difference(&behind).copied().collect();
            match catch_up(&hub, &ready).await {
                Ok(()) => behind.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, "nodes not read from the database; trying again")
                }
            }
        }
        let nodes: Vec<(Uuid, Uuid)> = hub
            .nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|n| (n.node_id, n.venue_id))
            .collect();
        running.retain(|_, r| !r.task.is_finished());
        let mut missing = 0;
        for (node, venue) in nodes {
            let partition = partitions::of(venue);
            if running.contains_key(&node)
                || !owned.contains(&partition)
                || behind.contains(&partition)
            {
                continue;
            }
            match node_consumer(&js, venue, node, legacy).await {
                Ok(consumer) => {
                    let mine = stop.child_token();
                    let task = tokio::spawn(run(hub.clone(), consumer, mine.clone()));
                    running.insert(
                        node,
                        Running {
                            partition,
                            stop: mine,
                            task,
                        },
                    );
                }
                Err(e) => {
                    missing += 1;
                    tracing::warn!(error = %e, %node, "ingest consumer not made; retrying");
                }
            }
        }
        // Every node's own consumer exists once this process owns them all.
        if legacy.is_some() && missing == 0 && owned.len() == partitions::PARTITIONS as usize {
            match js
                .delete_consumer_from_stream(LEGACY_CONSUMER, UP_STREAM)
                .await
            {
                Ok(_) => legacy = None,
                Err(e) => tracing::warn!(error = %e, "the old ingest consumer is not deleted yet"),
            }
        }
        // Shared: a round a second (claims, other processes' nodes).
        let wait = if shared {
            1
        } else if missing > 0 {
            2
        } else {
            30
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = hub.nodes_changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
        }
    }
    for (_, r) in running {
        let _ = r.task.await;
    }
    // Closing the claims connection lets its locks go at once.
    drop(owner);
}

/// Stops the ingest of the nodes in `partitions` and waits for it (a batch
/// in hand is finished or left unacked); what they held on a gap is let go
/// (it is delivered again to whoever owns them next).
async fn stop_partitions(hub: &Registry, running: &mut HashMap<Uuid, Running>, partitions: &[u32]) {
    if partitions.is_empty() {
        return;
    }
    let nodes: Vec<Uuid> = running
        .iter()
        .filter(|(_, r)| partitions.contains(&r.partition))
        .map(|(n, _)| *n)
        .collect();
    let mut stopping = Vec::new();
    for node in &nodes {
        if let Some(r) = running.remove(node) {
            r.stop.cancel();
            stopping.push(r.task);
        }
    }
    futures_util::future::join_all(stopping).await;
    // Only now: a batch in hand puts its held messages back when it ends.
    let mut held = hub.held.lock().unwrap_or_else(|p| p.into_inner());
    for node in &nodes {
        held.remove(node);
    }
    tracing::info!(?partitions, "ingest stopped for partitions");
}

/// Brings this process's copy of other processes' nodes up to the
/// database: their rows (heads, new nodes, retirements) and their stored
/// events folded into the venues' state. Nodes of `ready` partitions (this
/// process ingests them) keep their heads: ingest moves them. Every other
/// node (also of a partition just claimed, whose ingest starts from here)
/// is read as the database has it.
async fn catch_up(hub: &Registry, ready: &std::collections::BTreeSet<u32>) -> anyhow::Result<()> {
    let rows = hub.store.lock().await?.nodes().await?;
    let mut follow: Vec<(Uuid, u64)> = Vec::new();
    let mut refold: Vec<Uuid> = Vec::new();
    {
        let mut nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        for row in rows {
            let ingested_here = ready.contains(&partitions::of(row.venue_id));
            match nodes.get_mut(&row.node_id) {
                Some(known) if ingested_here => {
                    if row.retired && !known.retired {
                        known.retired = true;
                        refold.push(row.venue_id);
                    }
                }
                Some(known) => {
                    if row.retired && !known.retired {
                        refold.push(row.venue_id);
                    }
                    *known = row.clone();
                }
                None => {
                    nodes.insert(row.node_id, row.clone());
                    hub.nodes_changed.notify_one();
                }
            }
            if !ingested_here && !row.retired {
                follow.push((row.node_id, row.head_seq));
            }
        }
    }
    // A venue whose node was replaced (resynced at another process) is
    // folded again from its new node's log.
    for venue in refold {
        hub.venues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&venue);
        *hub.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(venue)
            .or_default() += 1;
        let live: Vec<Uuid> = hub
            .nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|n| n.venue_id == venue && !n.retired)
            .map(|n| n.node_id)
            .collect();
        let mut folded = hub.folded.lock().unwrap_or_else(|p| p.into_inner());
        for n in live {
            folded.remove(&n);
        }
    }
    for (node, head) in follow {
        fold_stored(hub, node, head).await?;
    }
    Ok(())
}

/// Folds the node's stored events after the last one folded here, up to
/// `head`, read from the database (stored by another process, or by this
/// one before a batch's outcome was known).
async fn fold_stored(hub: &Registry, node: Uuid, head: u64) -> anyhow::Result<()> {
    loop {
        let from = hub
            .folded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&node)
            .copied()
            .unwrap_or(0);
        if from >= head {
            return Ok(());
        }
        let page = hub
            .store
            .lock()
            .await?
            .events_after(node, from, CATCH_UP_PAGE)
            .await?;
        let events: Vec<Envelope> = page
            .iter()
            .filter_map(|(_, bytes)| Envelope::decode(bytes).ok())
            .collect();
        // Unfoldable events were reported by the process that stored them.
        let _ = fold_events(hub, &events);
        match page.last() {
            Some((last, _)) => {
                hub.folded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(node, *last);
            }
            None => return Ok(()),
        }
        if page.len() < CATCH_UP_PAGE as usize {
            return Ok(());
        }
    }
}

/// Events read from the database per statement when catching up.
const CATCH_UP_PAGE: u32 = 2_000;

/// The venue and node a `PVM_UP` subject names: `pvm.up.<venue>.<node>`
/// (stored before the stream was partitioned) or
/// `pvm.up.<partition>.<venue>.<node>`.
fn venue_and_node(subject: &str) -> Option<(Uuid, Uuid)> {
    let parts: Vec<&str> = subject.split('.').collect();
    let (v, n) = match parts.as_slice() {
        ["pvm", "up", v, n] => (v, n),
        ["pvm", "up", p, v, n] if p.parse::<u32>().is_ok() => (v, n),
        _ => return None,
    };
    Some((v.parse().ok()?, n.parse().ok()?))
}

enum Verdict {
    Accept(Box<Envelope>),
    Duplicate,
    /// A seq below the node's head sent again: a duplicate only if its hash
    /// is the stored one (compared once the locks are let go), else a fork.
    Resent(Uuid, u64, [u8; 32]),
    Wait(Uuid, u64, String),
    Reject(Option<Uuid>, Option<u64>, &'static str, String),
}

/// Nodes' public keys, decompressed once (a point decompression costs more
/// than hashing and chaining an event).
type Keys = HashMap<[u8; 32], ed25519_dalek::VerifyingKey>;

fn judge(
    nodes: &mut HashMap<Uuid, NodeRow>,
    keys: &mut Keys,
    subject: &str,
    payload: &[u8],
) -> Verdict {
    let Some((venue, node)) = venue_and_node(subject) else {
        return Verdict::Reject(
            None,
            None,
            "subject",
            format!("{subject} is not pvm.up.[<partition>.]<venue>.<node>"),
        );
    };
    let env = match Envelope::decode(payload) {
        Ok(e) => e,
        Err(e) => return Verdict::Reject(Some(node), None, "malformed", e.to_string()),
    };
    let seq = env.header.seq;
    let Some(row) = nodes.get_mut(&node) else {
        return Verdict::Reject(
            Some(node),
            Some(seq),
            "unknown_node",
            format!("node {node} is not registered"),
        );
    };
    if row.venue_id != venue {
        return Verdict::Reject(
            Some(node),
            Some(seq),
            "foreign_venue",
            format!("node {node} belongs to venue {}, not {venue}", row.venue_id),
        );
    }
    let key = match keys.get(&row.public_key) {
        Some(key) => *key,
        None => {
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&row.public_key) else {
                return Verdict::Reject(
                    Some(node),
                    Some(seq),
                    "key",
                    "the node's key is unusable".into(),
                );
            };
            keys.insert(row.public_key, key);
            key
        }
    };
    if seq <= row.head_seq && env.header.node_id == node {
        // Already stored; a copy that is not the node's own is still refused.
        let forged =
            env.compute_hash() != env.hash || (env.sig.is_some() && !env.signature_valid(&key));
        if forged {
            return Verdict::Reject(
                Some(node),
                Some(seq),
                "bad_signature",
                format!("a forged copy of event {seq}"),
            );
        }
        if seq < row.head_seq {
            return Verdict::Resent(node, seq, env.hash);
        }
        if env.hash != row.head_hash {
            return Verdict::Reject(Some(node), Some(seq), "fork", forked_at(seq));
        }
        return Verdict::Duplicate;
    }
    let mut v = ChainVerifier::new(
        key,
        node,
        venue,
        ChainStart {
            seq: row.head_seq + 1,
            prev_hash: row.head_hash,
        },
    );
    match v.push(&env) {
        Ok(()) => {
            row.head_seq = seq;
            row.head_hash = env.hash;
            if env.sig.is_some() {
                row.verified_seq = seq;
            }
            Verdict::Accept(Box::new(env))
        }
        // Held only if it is intact: a forged or altered event is refused at once.
        Err(Problem::Gap { .. }) if env.compute_hash() != env.hash => Verdict::Reject(
            Some(node),
            Some(seq),
            "hash_mismatch",
            format!("event {seq}: its hash is not the hash of its bytes"),
        ),
        Err(Problem::Gap { .. }) if env.sig.is_some() && !env.signature_valid(&key) => {
            Verdict::Reject(
                Some(node),
                Some(seq),
                "bad_signature",
                format!("event {seq}: not signed by the node's key"),
            )
        }
        Err(Problem::Gap { expected, .. }) => {
            Verdict::Wait(node, seq, format!("expected {expected}, got {seq}"))
        }
        // The next seq, signed by the node, but chained to another history:
        // the node's log forked from the hub's (e.g. restored from a backup).
        Err(Problem::BrokenChain { .. })
            if env.compute_hash() == env.hash && env.sig.is_some() && env.signature_valid(&key) =>
        {
            Verdict::Reject(Some(node), Some(seq), "fork", forked_at(seq))
        }
        Err(p) => {
            let kind = match p {
                Problem::BadSignature { .. } => "bad_signature",
                Problem::ForeignNode { .. } => "foreign_node",
                Problem::BrokenChain { .. } => "broken_chain",
                Problem::HashMismatch { .. } => "hash_mismatch",
                Problem::UnknownSchema { .. } => "unknown_schema",
                _ => "out_of_order",
            };
            Verdict::Reject(Some(node), Some(seq), kind, format!("{p}"))
        }
    }
}

/// A seq below its node's head sent again: the node, the seq and the hash sent.
type Resent = (Uuid, u64, [u8; 32]);

fn forked_at(seq: u64) -> String {
    format!("this node's log forked from the hub's at seq {seq}: the node sent an event {seq} other than the one stored")
}

/// What became of one message (a frame of envelopes, or a single one).
struct Judged {
    accepted: Vec<Envelope>,
    duplicates: u64,
    /// Seqs below the head sent again, with their hashes, still to compare.
    resent: Vec<Resent>,
    /// Envelopes refused (the one that failed and every one after it).
    rejected: u64,
    problems: Vec<(Option<Uuid>, Option<u64>, &'static str, String)>,
    /// Its first new event is ahead of the node's head: hold the whole message.
    wait: Option<(Uuid, u64, String)>,
}

/// Judges a message's envelopes in order. Nothing is taken from a message
/// that must wait; in a message that fails, what came before the failure
/// (verified on its own) is kept and the rest refused.
fn judge_message(
    nodes: &mut HashMap<Uuid, NodeRow>,
    keys: &mut Keys,
    subject: &str,
    payload: &[u8],
) -> Judged {
    let mut out = Judged {
        accepted: Vec::new(),
        duplicates: 0,
        resent: Vec::new(),
        rejected: 0,
        problems: Vec::new(),
        wait: None,
    };
    let parts = match pvm_shared::frame::split(payload) {
        Ok(p) => p,
        Err(e) => {
            out.rejected = 1;
            out.problems
                .push((None, None, "malformed", format!("{subject}: {e}")));
            return out;
        }
    };
    let total = parts.len() as u64;
    for (i, bytes) in parts.into_iter().enumerate() {
        match judge(nodes, keys, subject, bytes) {
            Verdict::Accept(env) => out.accepted.push(*env),
            Verdict::Duplicate => out.duplicates += 1,
            Verdict::Resent(node, seq, hash) => out.resent.push((node, seq, hash)),
            Verdict::Wait(node, seq, detail) if out.accepted.is_empty() => {
                out.wait = Some((node, seq, detail));
                return out;
            }
            Verdict::Wait(node, seq, detail) => {
                out.rejected = total - i as u64;
                out.problems.push((
                    Some(node),
                    Some(seq),
                    "out_of_order",
                    format!("inside a frame: {detail}"),
                ));
                return out;
            }
            Verdict::Reject(node, seq, kind, detail) => {
                out.rejected = total - i as u64;
                out.problems.push((node, seq, kind, detail));
                return out;
            }
        }
    }
    out
}

/// One node's ingest, until `stop`: pull (the next pull is in flight while a
/// batch is handled), judge, store, ack.
async fn run(
    hub: Arc<Registry>,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if stop.is_cancelled() {
            return;
        }
        let messages = consumer
            .stream()
            .max_messages_per_batch(2_000)
            .max_bytes_per_batch(BATCH_BYTES)
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await;
        let messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "ingest pull failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        let mut chunks = messages.ready_chunks(2_000);
        loop {
            let chunk = tokio::select! {
                _ = stop.cancelled() => return,
                c = chunks.next() => c,
            };
            let Some(chunk) = chunk else { break };
            let mut received = Vec::with_capacity(chunk.len());
            let mut broken = false;
            for m in chunk {
                match m {
                    Ok(m) => received.push(m),
                    Err(e) => {
                        tracing::warn!(error = %e, "ingest message error");
                        broken = true;
                    }
                }
            }
            if !received.is_empty() {
                let batch_nodes: std::collections::BTreeSet<Uuid> = received
                    .iter()
                    .filter_map(|m| m.subject.as_str().rsplit('.').next()?.parse().ok())
                    .collect();
                if let Err(e) = handle_batch(&hub, received).await {
                    tracing::error!(error = %e, "ingest batch failed; it will be redelivered");
                    // This batch's heads in memory may be ahead of the
                    // database: reload them (only them: other nodes' tasks
                    // may be committing theirs), waiting until the database
                    // answers (a restarting server): judging on heads it may
                    // not have would take the redelivered events for copies
                    // of stored ones.
                    let mut wait = Duration::from_millis(200);
                    loop {
                        let read = async {
                            match hub.store.lock().await {
                                Ok(db) => db.nodes().await,
                                Err(e) => Err(e),
                            }
                        };
                        let rows = tokio::select! {
                            _ = stop.cancelled() => return,
                            rows = read => rows,
                        };
                        match rows {
                            Ok(rows) => {
                                let mut nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
                                for n in rows
                                    .into_iter()
                                    .filter(|n| batch_nodes.contains(&n.node_id))
                                {
                                    nodes.insert(n.node_id, n);
                                }
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "heads not reloaded; trying again");
                                tokio::select! {
                                    _ = stop.cancelled() => return,
                                    _ = tokio::time::sleep(wait) => {}
                                }
                                wait = (wait * 2).min(Duration::from_secs(5));
                            }
                        }
                    }
                }
            }
            if broken {
                break;
            }
        }
    }
}

async fn handle_batch(hub: &Registry, received: Vec<jetstream::Message>) -> anyhow::Result<()> {
    hub.counts.batches.fetch_add(1, Ordering::Relaxed);
    let mut accepted: Vec<Envelope> = Vec::new();
    // Messages whose envelopes are all stored or known once this batch commits.
    let mut done: Vec<jetstream::Message> = Vec::new();
    let mut settle: Vec<(jetstream::Message, AckKind)> = Vec::new();
    // Messages that re-send seqs below the head: settled once compared.
    let mut resent: Vec<(jetstream::Message, Vec<Resent>)> = Vec::new();
    let mut reports = Vec::new();
    // Nodes whose next event seemed missing.
    let mut waited: std::collections::BTreeSet<Uuid> = std::collections::BTreeSet::new();
    let mine: std::collections::BTreeSet<Uuid> = received
        .iter()
        .filter_map(|m| m.subject.as_str().rsplit('.').next()?.parse().ok())
        .collect();
    // This batch's nodes, taken out of the shared maps: a node is judged only
    // by its own consumer's task, so the judging (hashes, chains, signatures)
    // runs while other nodes' tasks judge theirs.
    let mut nodes: HashMap<Uuid, NodeRow> = {
        let all = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        mine.iter()
            .filter_map(|n| all.get(n).map(|row| (*n, row.clone())))
            .collect()
    };
    let mut held: HashMap<Uuid, std::collections::BTreeMap<u64, jetstream::Message>> = {
        let mut all = hub.held.lock().unwrap_or_else(|p| p.into_inner());
        mine.iter()
            .filter_map(|n| all.remove(n).map(|h| (*n, h)))
            .collect()
    };
    let mut keys: Keys = {
        let all = hub.keys.lock().unwrap_or_else(|p| p.into_inner());
        nodes
            .values()
            .filter_map(|row| all.get(&row.public_key).map(|k| (row.public_key, *k)))
            .collect()
    };
    {
        let mut take = |m: jetstream::Message,
                        nodes: &mut HashMap<Uuid, NodeRow>,
                        held: &mut HashMap<
            Uuid,
            std::collections::BTreeMap<u64, jetstream::Message>,
        >,
                        fresh: bool|
         -> bool {
            let j = judge_message(nodes, &mut keys, m.subject.as_str(), &m.payload);
            hub.counts
                .duplicate
                .fetch_add(j.duplicates, Ordering::Relaxed);
            hub.counts.rejected.fetch_add(j.rejected, Ordering::Relaxed);
            reports.extend(j.problems);
            accepted.extend(j.accepted);
            if let Some((node, seq, detail)) = j.wait {
                waited.insert(node);
                let delivered = m.info().map(|i| i.delivered).unwrap_or(1);
                if fresh {
                    hub.counts.waiting.fetch_add(1, Ordering::Relaxed);
                    if delivered == GAP_REPORT_AFTER {
                        reports.push((Some(node), Some(seq), "gap", detail.clone()));
                    }
                }
                let mine = held.entry(node).or_default();
                mine.remove(&seq);
                if delivered >= MAX_DELIVER - 1 {
                    // Never followed on: given up, said so.
                    hub.counts.rejected.fetch_add(1, Ordering::Relaxed);
                    reports.push((
                        Some(node),
                        Some(seq),
                        "given_up",
                        format!(
                            "delivered {delivered} times and its predecessor never came: {detail}"
                        ),
                    ));
                    settle.push((m, AckKind::Term));
                    return false;
                }
                // Held until its predecessors arrive (a redelivery replaces
                // the older copy), within the node's bounds.
                let bytes: usize = mine.values().map(|h| h.payload.len()).sum();
                if mine.len() < MAX_HELD_MESSAGES && bytes + m.payload.len() <= MAX_HELD_BYTES {
                    mine.insert(seq, m);
                } else {
                    hub.counts.rejected.fetch_add(1, Ordering::Relaxed);
                    reports.push((Some(node), Some(seq), "held_overflow", format!("more than {MAX_HELD_MESSAGES} messages or {} MiB wait on a gap: {detail}", MAX_HELD_BYTES >> 20)));
                    settle.push((m, AckKind::Term));
                }
                return false;
            }
            if j.rejected > 0 {
                settle.push((m, AckKind::Term));
            } else if !j.resent.is_empty() {
                resent.push((m, j.resent));
            } else {
                done.push(m);
            }
            true
        };
        for m in received {
            take(m, &mut nodes, &mut held, true);
        }
        // Held messages that now follow on: only this batch's nodes (each
        // node's messages are settled by its own consumer's task, so no other
        // task stores a node's later events before its earlier ones commit).
        let waiting: Vec<Uuid> = held.keys().copied().filter(|n| mine.contains(n)).collect();
        for node in waiting {
            loop {
                let head = nodes.get(&node).map_or(0, |n| n.head_seq);
                let next = held.get_mut(&node).and_then(|mine| {
                    mine.first_key_value()
                        .map(|(k, _)| *k)
                        .filter(|seq| *seq <= head + 1)
                        .and_then(|_| mine.pop_first())
                });
                let Some((_, m)) = next else { break };
                if !take(m, &mut nodes, &mut held, false) {
                    break;
                }
            }
        }
    }
    // Back into the shared maps: the heads judging moved (a resync may have
    // retired the node meanwhile), what waits on a gap, the keys.
    {
        let mut all = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        for (id, row) in &nodes {
            if let Some(known) = all.get_mut(id) {
                known.head_seq = row.head_seq;
                known.head_hash = row.head_hash;
                known.verified_seq = row.verified_seq;
            }
        }
    }
    hub.held
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(held.into_iter().filter(|(_, waiting)| !waiting.is_empty()));
    hub.keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(keys);
    if !accepted.is_empty() {
        let heads: Vec<NodeRow> = {
            let nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
            let touched: std::collections::BTreeSet<Uuid> =
                accepted.iter().map(|e| e.header.node_id).collect();
            touched
                .iter()
                .filter_map(|n| nodes.get(n).cloned())
                .collect()
        };
        hub.store.store_batch(&accepted, &heads, now_ms()).await?;
        hub.counts
            .accepted
            .fetch_add(accepted.len() as u64, Ordering::Relaxed);
        // Events of these nodes stored but not folded here (by another
        // process, or by this one when a commit's answer was lost) go first.
        let mut firsts: HashMap<Uuid, u64> = HashMap::new();
        for env in &accepted {
            firsts.entry(env.header.node_id).or_insert(env.header.seq);
        }
        for (node, first) in firsts {
            // Nothing to read when the node is folded up to `first - 1`.
            if let Err(e) = fold_stored(hub, node, first.saturating_sub(1)).await {
                tracing::warn!(error = %e, %node, "stored events not read back for the venue's state");
            }
        }
        reports.extend(fold_events(hub, &accepted));
    }
    for (m, copies) in resent {
        match compare_resent(hub, &copies).await? {
            None => {
                hub.counts
                    .duplicate
                    .fetch_add(copies.len() as u64, Ordering::Relaxed);
                done.push(m);
            }
            Some((node, seq)) => {
                hub.counts.rejected.fetch_add(1, Ordering::Relaxed);
                reports.push((Some(node), Some(seq), "fork", forked_at(seq)));
                settle.push((m, AckKind::Term));
            }
        }
    }
    recheck_heads(hub, &waited).await;
    // Acked only now that what they carried is committed.
    settle.extend(done.into_iter().map(|m| (m, AckKind::Ack)));
    hub.problems(reports).await;
    let acks =
        futures_util::future::join_all(settle.iter().map(|(m, kind)| m.ack_with(*kind))).await;
    for e in acks.into_iter().filter_map(Result::err) {
        tracing::warn!(error = %e, "ack failed; the message will be redelivered");
    }
    Ok(())
}

/// A node whose next event seems missing may have moved on in the
/// database: around a hand-over another process can store (and ack) a few
/// of its events, which are then never delivered here. Its head is read
/// back (at most once a second per node) and adopted when the database is
/// ahead; held events follow on at their next delivery.
async fn recheck_heads(hub: &Registry, waited: &std::collections::BTreeSet<Uuid>) {
    let due: Vec<Uuid> = {
        let mut rechecked = hub.rechecked.lock().unwrap_or_else(|p| p.into_inner());
        waited
            .iter()
            .copied()
            .filter(|n| {
                let due = rechecked
                    .get(n)
                    .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
                if due {
                    rechecked.insert(*n, std::time::Instant::now());
                }
                due
            })
            .collect()
    };
    if due.is_empty() {
        return;
    }
    let rows = match hub.store.lock().await {
        Ok(db) => db.nodes().await,
        Err(e) => Err(e),
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "heads not read back");
            return;
        }
    };
    let mut moved = Vec::new();
    {
        let mut nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        for row in rows.into_iter().filter(|r| due.contains(&r.node_id)) {
            if let Some(known) = nodes.get_mut(&row.node_id) {
                if row.head_seq > known.head_seq {
                    moved.push((row.node_id, known.head_seq, row.head_seq));
                    *known = row;
                }
            }
        }
    }
    for (node, was, head) in moved {
        tracing::warn!(%node, was, head, "the node's head moved on in the database (another process stored its events)");
        if let Err(e) = fold_stored(hub, node, head).await {
            tracing::warn!(error = %e, %node, "stored events not read back for the venue's state");
        }
    }
}

/// Compares re-sent events with the stored ones: the first whose hash
/// differs (a fork), or None when every one is a true duplicate.
async fn compare_resent(hub: &Registry, copies: &[Resent]) -> anyhow::Result<Option<(Uuid, u64)>> {
    let db = hub.store.lock().await?;
    for (node, seq, hash) in copies {
        let stored = db
            .envelope(*node, *seq)
            .await?
            .and_then(|bytes| Envelope::decode(&bytes).ok())
            .map(|e| e.hash);
        if stored.as_ref() != Some(hash) {
            return Ok(Some((*node, *seq)));
        }
    }
    Ok(None)
}

/// Folds stored events into their venues' state (a retired node's are
/// stored, not folded: its venue now follows the node that replaced it), and
/// notes how far each node is folded. Returns what could not be folded.
fn fold_events(hub: &Registry, events: &[Envelope]) -> Vec<Report> {
    let mut reports = Vec::new();
    let retired: std::collections::BTreeSet<Uuid> = {
        let nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes
            .values()
            .filter(|n| n.retired)
            .map(|n| n.node_id)
            .collect()
    };
    let mut venues = hub.venues.lock().unwrap_or_else(|p| p.into_inner());
    let mut versions = hub.versions.lock().unwrap_or_else(|p| p.into_inner());
    let mut folded = hub.folded.lock().unwrap_or_else(|p| p.into_inner());
    for env in events
        .iter()
        .filter(|e| !retired.contains(&e.header.node_id))
    {
        let done = folded.get(&env.header.node_id).copied().unwrap_or(0);
        if env.header.seq <= done {
            continue;
        }
        let state = venues.entry(env.header.venue_id).or_default();
        match fold(Arc::make_mut(state), env) {
            Ok(()) => *versions.entry(env.header.venue_id).or_default() += 1,
            Err((kind, detail)) => {
                reports.push((Some(env.header.node_id), Some(env.header.seq), kind, detail))
            }
        }
        folded.insert(env.header.node_id, env.header.seq);
        hub.counts.folded.fetch_add(1, Ordering::Relaxed);
    }
    reports
}

/// Folds a stored event into its venue's state, if it is one the node's
/// `decide` could have produced: a venue's key can sign anything, and an
/// event past those bounds (a Day 2 of 7e17 entries, a 65,535-table
/// tournament) would make the fold or a view of it run out of memory or CPU
/// for every venue. Such an event stays stored (it is in the signed chain:
/// evidence) but is not folded.
fn fold(state: &mut VenueState, env: &Envelope) -> Result<(), (&'static str, String)> {
    let (seq, kind) = (env.header.seq, env.kind.as_str());
    let event = env.event().map_err(|e| {
        let detail =
            format!("event {seq} ({kind}) is stored but not folded: it does not decode: {e}");
        ("undecodable", detail)
    })?;
    pvm_shared::bounds::check(state, &event).map_err(|e| {
        let detail = format!("event {seq} ({kind}) is stored but not folded: {e}");
        ("out_of_bounds", detail)
    })?;
    state.apply(&event);
    Ok(())
}
