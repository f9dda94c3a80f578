//! Upstream ingest: the durable consumer `cloud-ingest` on `PVM_UP` pulls
//! batches, each event is checked against its node's verified head (subject,
//! node, venue, seq, chain, hash, signature), accepted events of a batch are
//! stored in one transaction with their node's new head, and only then acked.
//!
//! - seq at or below the head: a duplicate (a redelivery or a re-publish): acked, counted.
//! - seq past head + 1: an earlier event has not arrived yet (a pipelined
//!   publish that will be retried): nak'd with a delay, so it comes back
//!   after; if it keeps coming back the gap is reported, never skipped.
//! - a bad signature, an altered event, a broken chain, an event of another
//!   node or venue, bytes that are not an envelope: rejected (terminated, so
//!   it cannot block the venue's stream) and reported.
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
pub const INGEST_CONSUMER: &str = "cloud-ingest";
/// A message re-delivered this often (about 90 s) while its predecessor is
/// missing is reported as a gap. Shorter waits are normal: after a hub
/// restart, messages delivered to the dead process come back only after the
/// ack wait, while later ones arrive at once.
const GAP_REPORT_AFTER: i64 = 12;
/// Events held per node while a gap closes (the consumer's max_ack_pending bounds it too).
const MAX_HELD: usize = 50_000;

/// Counts visible in metrics and the admin UI.
#[derive(Default)]
pub struct Counts {
    pub accepted: AtomicU64,
    pub duplicate: AtomicU64,
    pub rejected: AtomicU64,
    pub waiting: AtomicU64,
    pub batches: AtomicU64,
}

/// What the hub knows of each node and venue while it runs.
pub struct Hub {
    pub store: Arc<Store>,
    pub counts: Counts,
    pub nodes: Mutex<HashMap<Uuid, NodeRow>>,
    /// Each venue's state, from its events (for the API and the display fallback).
    pub venues: Mutex<HashMap<Uuid, VenueState>>,
    /// Events that arrived before their predecessor, per node, by seq: held
    /// (not acked) until the gap closes, then stored in order.
    pub held: Mutex<HashMap<Uuid, std::collections::BTreeMap<u64, jetstream::Message>>>,
    /// Bumped whenever a venue's state changes (the display fallback watches it).
    pub versions: Mutex<HashMap<Uuid, u64>>,
}

impl Hub {
    pub async fn load(store: Arc<Store>) -> anyhow::Result<Hub> {
        let rows = {
            let conn = store.conn.lock().await;
            crate::store::nodes(&conn).await?
        };
        let mut venues: HashMap<Uuid, VenueState> = HashMap::new();
        {
            let conn = store.conn.lock().await;
            let mut r = conn
                .query(
                    "SELECT venue_id, envelope FROM events ORDER BY node_id, seq",
                    (),
                )
                .await?;
            while let Some(row) = r.next().await? {
                let venue: Uuid = row.get::<String>(0)?.parse()?;
                let bytes: Vec<u8> = row.get(1)?;
                if let Ok(Ok(event)) = Envelope::decode(&bytes).map(|e| e.event()) {
                    venues.entry(venue).or_default().apply(&event);
                }
            }
        }
        Ok(Hub {
            store,
            counts: Counts::default(),
            nodes: Mutex::new(rows.into_iter().map(|n| (n.node_id, n)).collect()),
            venues: Mutex::new(venues),
            held: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
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

    pub async fn problem(&self, node: Option<Uuid>, seq: Option<u64>, kind: &str, detail: String) {
        tracing::warn!(?node, ?seq, kind, %detail, "ingest problem");
        let conn = self.store.conn.lock().await;
        let _ = conn
            .execute(
                "INSERT INTO problems (node_id, seq, kind, detail, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                libsql::params![
                    node.map(|n| n.to_string()),
                    seq.map(|s| s as i64),
                    kind,
                    detail,
                    now_ms()
                ],
            )
            .await;
    }
}

/// Creates or updates the streams and the ingest consumer (idempotent).
pub async fn ensure_streams(
    js: &jetstream::Context,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let up = jetstream::stream::Config {
        name: UP_STREAM.into(),
        subjects: vec!["pvm.up.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
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
    let consumer = js
        .create_consumer_on_stream(
            pull::Config {
                durable_name: Some(INGEST_CONSUMER.into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(5),
                max_ack_pending: 20_000,
                ..Default::default()
            },
            UP_STREAM,
        )
        .await?;
    Ok(consumer)
}

enum Verdict {
    Accept(Box<Envelope>),
    Duplicate,
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
        Err(Problem::Gap { expected, .. }) => {
            Verdict::Wait(node, seq, format!("expected {expected}, got {seq}"))
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

/// What became of one message (a frame of envelopes, or a single one).
struct Judged {
    accepted: Vec<Envelope>,
    duplicates: u64,
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

/// Runs until `stop`: pull (the next pull is in flight while a batch is
/// handled), judge, store, ack.
pub async fn run(
    hub: Arc<Hub>,
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
                    let conn = hub.store.conn.lock().await;
                    if let Ok(rows) = crate::store::nodes(&conn).await {
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

async fn handle_batch(hub: &Hub, received: Vec<jetstream::Message>) -> anyhow::Result<()> {
    hub.counts.batches.fetch_add(1, Ordering::Relaxed);
    let mut accepted: Vec<Envelope> = Vec::new();
    // Messages whose envelopes are all stored or known once this batch commits.
    let mut done: Vec<jetstream::Message> = Vec::new();
    let mut settle: Vec<(jetstream::Message, AckKind)> = Vec::new();
    let mut reports = Vec::new();
    {
        let mut nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let mut held = hub.held.lock().unwrap_or_else(|p| p.into_inner());
        let mut take =
            |m: jetstream::Message,
             nodes: &mut HashMap<Uuid, NodeRow>,
             held: &mut HashMap<Uuid, std::collections::BTreeMap<u64, jetstream::Message>>,
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
                    if fresh {
                        hub.counts.waiting.fetch_add(1, Ordering::Relaxed);
                        let delivered = m.info().map(|i| i.delivered).unwrap_or(1);
                        if delivered == GAP_REPORT_AFTER {
                            reports.push((Some(node), Some(seq), "gap", detail));
                        }
                    }
                    // Held until its predecessors arrive; a redelivery replaces the older copy.
                    let mine = held.entry(node).or_default();
                    if mine.len() < MAX_HELD || mine.contains_key(&seq) {
                        mine.insert(seq, m);
                    } else {
                        settle.push((m, AckKind::Nak(Some(Duration::from_secs(2)))));
                    }
                    return false;
                }
                if j.rejected > 0 {
                    settle.push((m, AckKind::Term));
                } else {
                    done.push(m);
                }
                true
            };
        for m in received {
            take(m, &mut nodes, &mut held, true);
        }
        // Held messages that now follow on.
        let waiting: Vec<Uuid> = held.keys().copied().collect();
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
        let conn = hub.store.conn.lock().await;
        let tx = conn.transaction().await?;
        {
            let insert = tx
                .prepare("INSERT OR IGNORE INTO events (node_id, seq, venue_id, kind, envelope) VALUES (?1, ?2, ?3, ?4, ?5)")
                .await?;
            for env in &accepted {
                insert
                    .execute(libsql::params![
                        env.header.node_id.to_string(),
                        env.header.seq as i64,
                        env.header.venue_id.to_string(),
                        env.kind.as_str(),
                        env.encode()
                    ])
                    .await?;
                insert.reset();
            }
            for h in &heads {
                tx.execute(
                    "UPDATE nodes SET head_seq = ?2, head_hash = ?3, verified_seq = ?4, last_contact_ms = ?5 WHERE node_id = ?1",
                    libsql::params![
                        h.node_id.to_string(),
                        h.head_seq as i64,
                        h.head_hash.to_vec(),
                        h.verified_seq as i64,
                        now_ms()
                    ],
                )
                .await?;
            }
        }
        tx.commit().await?;
        drop(conn);
        hub.counts
            .accepted
            .fetch_add(accepted.len() as u64, Ordering::Relaxed);
        {
            let mut venues = hub.venues.lock().unwrap_or_else(|p| p.into_inner());
            let mut versions = hub.versions.lock().unwrap_or_else(|p| p.into_inner());
            for env in &accepted {
                if let Ok(event) = env.event() {
                    venues.entry(env.header.venue_id).or_default().apply(&event);
                    *versions.entry(env.header.venue_id).or_default() += 1;
                }
            }
        }
    }
    // Acked only now that what they carried is committed.
    settle.extend(done.into_iter().map(|m| (m, AckKind::Ack)));
    for (node, seq, kind, detail) in reports {
        hub.problem(node, seq, kind, detail).await;
    }
    let acks =
        futures_util::future::join_all(settle.iter().map(|(m, kind)| m.ack_with(*kind))).await;
    for e in acks.into_iter().filter_map(Result::err) {
        tracing::warn!(error = %e, "ack failed; the message will be redelivered");
    }
    Ok(())
}
