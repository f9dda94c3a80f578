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
}

impl Registry {
    pub async fn load(store: Arc<Store>) -> anyhow::Result<Registry> {
        let rows = store.lock().await.nodes().await?;
        let mut venues: HashMap<Uuid, VenueState> = HashMap::new();
        store
            .lock()
            .await
            .each_live_event(|venue, bytes| {
                if let Ok(env) = Envelope::decode(&bytes) {
                    // Out-of-bounds events were reported when they arrived.
                    let _ = fold(venues.entry(venue).or_default(), &env);
                }
            })
            .await?;
        Ok(Registry {
            store,
            counts: Counts::default(),
            nodes: Mutex::new(rows.into_iter().map(|n| (n.node_id, n)).collect()),
            venues: Mutex::new(venues.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()),
            held: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            nodes_changed: tokio::sync::Notify::new(),
        })
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
        let db = self.store.lock().await;
        if let Err(e) = db.add_problems(&grouped, now_ms()).await {
            tracing::error!(error = %e, "problems not recorded");
        }
    }
}

/// A problem found: the node, the seq, its kind and what happened.
pub type Report = (Option<Uuid>, Option<u64>, &'static str, String);

/// Creates or updates the streams (idempotent). Returns where the per-node
/// consumers begin when an older hub's single consumer is still there (the
/// stream sequence after its ack floor), else None (from the start).
pub async fn ensure_streams(js: &jetstream::Context) -> anyhow::Result<Option<u64>> {
    let up = jetstream::stream::Config {
        name: UP_STREAM.into(),
        subjects: vec!["pvm.up.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        max_message_size: MAX_MESSAGE_BYTES,
        ..Default::default()
    };
    js.create_or_update_stream(up).await?;
    let down = jetstream::stream::Config {
        name: DOWN_STREAM.into(),
        subjects: vec!["pvm.down.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
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

/// The node's ingest consumer, made if missing (from `start`, or the first
/// message of its subject).
async fn node_consumer(
    js: &jetstream::Context,
    venue: Uuid,
    node: Uuid,
    start: Option<u64>,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let name = consumer_name(node);
    if let Ok(c) = js.get_consumer_from_stream(&name, UP_STREAM).await {
        return Ok(c);
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
                filter_subject: format!("pvm.up.{venue}.{node}"),
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

/// Runs every node's ingest until `stop`: makes each registered node's
/// consumer (at start, and as nodes register) and pulls it in a task of its
/// own. The older single consumer is deleted once every node has its own.
pub async fn run_all(
    hub: Arc<Registry>,
    js: jetstream::Context,
    legacy_start: Option<u64>,
    stop: CancellationToken,
) {
    let mut running: HashMap<Uuid, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut legacy = legacy_start;
    loop {
        let nodes: Vec<(Uuid, Uuid)> = hub
            .nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|n| (n.node_id, n.venue_id))
            .collect();
        running.retain(|_, task| !task.is_finished());
        let mut missing = 0;
        for (node, venue) in nodes {
            if running.contains_key(&node) {
                continue;
            }
            match node_consumer(&js, venue, node, legacy).await {
                Ok(consumer) => {
                    running.insert(node, tokio::spawn(run(hub.clone(), consumer, stop.clone())));
                }
                Err(e) => {
                    missing += 1;
                    tracing::warn!(error = %e, %node, "ingest consumer not made; retrying");
                }
            }
        }
        if legacy.is_some() && missing == 0 {
            match js
                .delete_consumer_from_stream(LEGACY_CONSUMER, UP_STREAM)
                .await
            {
                Ok(_) => legacy = None,
                Err(e) => tracing::warn!(error = %e, "the old ingest consumer is not deleted yet"),
            }
        }
        let wait = if missing > 0 { 2 } else { 30 };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = hub.nodes_changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
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

fn judge(nodes: &mut HashMap<Uuid, NodeRow>, subject: &str, payload: &[u8]) -> Verdict {
    let parts: Vec<&str> = subject.split('.').collect();
    let (venue, node) = match parts.as_slice() {
        ["pvm", "up", v, n] => match (v.parse::<Uuid>(), n.parse::<Uuid>()) {
            (Ok(v), Ok(n)) => (v, n),
            _ => {
                return Verdict::Reject(
                    None,
                    None,
                    "subject",
                    format!("{subject} names no venue and node"),
                )
            }
        },
        _ => {
            return Verdict::Reject(
                None,
                None,
                "subject",
                format!("{subject} is not pvm.up.<venue>.<node>"),
            )
        }
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
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&row.public_key) else {
        return Verdict::Reject(
            Some(node),
            Some(seq),
            "key",
            "the node's key is unusable".into(),
        );
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
fn judge_message(nodes: &mut HashMap<Uuid, NodeRow>, subject: &str, payload: &[u8]) -> Judged {
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
        match judge(nodes, subject, bytes) {
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
                if let Err(e) = handle_batch(&hub, received).await {
                    tracing::error!(error = %e, "ingest batch failed; it will be redelivered");
                    // Heads in memory may be ahead of the database: reload them.
                    let db = hub.store.lock().await;
                    if let Ok(rows) = db.nodes().await {
                        let mut nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
                        *nodes = rows.into_iter().map(|n| (n.node_id, n)).collect();
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
    {
        let mut nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let mut held = hub.held.lock().unwrap_or_else(|p| p.into_inner());
        let mut take = |m: jetstream::Message,
                        nodes: &mut HashMap<Uuid, NodeRow>,
                        held: &mut HashMap<
            Uuid,
            std::collections::BTreeMap<u64, jetstream::Message>,
        >,
                        fresh: bool|
         -> bool {
            let j = judge_message(nodes, m.subject.as_str(), &m.payload);
            hub.counts
                .duplicate
                .fetch_add(j.duplicates, Ordering::Relaxed);
            hub.counts.rejected.fetch_add(j.rejected, Ordering::Relaxed);
            reports.extend(j.problems);
            accepted.extend(j.accepted);
            if let Some((node, seq, detail)) = j.wait {
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
        let mine: std::collections::BTreeSet<Uuid> = received
            .iter()
            .filter_map(|m| m.subject.as_str().rsplit('.').next()?.parse().ok())
            .collect();
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
        held.retain(|_, mine| !mine.is_empty());
    }
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
        hub.store
            .lock()
            .await
            .store_batch(&accepted, &heads, now_ms())
            .await?;
        hub.counts
            .accepted
            .fetch_add(accepted.len() as u64, Ordering::Relaxed);
        {
            let mut venues = hub.venues.lock().unwrap_or_else(|p| p.into_inner());
            let mut versions = hub.versions.lock().unwrap_or_else(|p| p.into_inner());
            let retired: std::collections::BTreeSet<Uuid> = {
                let nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
                nodes
                    .values()
                    .filter(|n| n.retired)
                    .map(|n| n.node_id)
                    .collect()
            };
            // A retired node's late events are stored, not folded: its venue
            // now follows the node that replaced it.
            for env in accepted
                .iter()
                .filter(|e| !retired.contains(&e.header.node_id))
            {
                let state = venues.entry(env.header.venue_id).or_default();
                match fold(Arc::make_mut(state), env) {
                    Ok(()) => *versions.entry(env.header.venue_id).or_default() += 1,
                    Err((kind, detail)) => {
                        reports.push((Some(env.header.node_id), Some(env.header.seq), kind, detail))
                    }
                }
            }
        }
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

/// Compares re-sent events with the stored ones: the first whose hash
/// differs (a fork), or None when every one is a true duplicate.
async fn compare_resent(hub: &Registry, copies: &[Resent]) -> anyhow::Result<Option<(Uuid, u64)>> {
    let db = hub.store.lock().await;
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
