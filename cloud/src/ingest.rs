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
/// A message re-delivered this often while its predecessor is missing is reported as a gap.
const GAP_REPORT_AFTER: i64 = 20;

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
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
        })
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
                ack_wait: Duration::from_secs(30),
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
    Wait(String),
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
            Verdict::Wait(format!("expected {expected}, got {seq}"))
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

/// Runs until `stop`: pull, judge, store, ack.
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
        let batch = consumer
            .fetch()
            .max_messages(1_000)
            .expires(Duration::from_millis(500))
            .messages()
            .await;
        let mut messages = match batch {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "ingest fetch failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        let mut received = Vec::new();
        while let Some(m) = messages.next().await {
            match m {
                Ok(m) => received.push(m),
                Err(e) => {
                    tracing::warn!(error = %e, "ingest message error");
                    break;
                }
            }
        }
        if received.is_empty() {
            continue;
        }
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
}

async fn handle_batch(hub: &Hub, received: Vec<jetstream::Message>) -> anyhow::Result<()> {
    hub.counts.batches.fetch_add(1, Ordering::Relaxed);
    let mut accepted: Vec<(jetstream::Message, Envelope)> = Vec::new();
    let mut settle: Vec<(jetstream::Message, AckKind)> = Vec::new();
    let mut reports = Vec::new();
    {
        let mut nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        for m in received {
            match judge(&mut nodes, m.subject.as_str(), &m.payload) {
                Verdict::Accept(env) => accepted.push((m, *env)),
                Verdict::Duplicate => {
                    hub.counts.duplicate.fetch_add(1, Ordering::Relaxed);
                    settle.push((m, AckKind::Ack));
                }
                Verdict::Wait(detail) => {
                    hub.counts.waiting.fetch_add(1, Ordering::Relaxed);
                    let delivered = m.info().map(|i| i.delivered).unwrap_or(1);
                    if delivered == GAP_REPORT_AFTER {
                        let node = m
                            .subject
                            .as_str()
                            .rsplit('.')
                            .next()
                            .and_then(|n| n.parse().ok());
                        reports.push((node, None, "gap", detail));
                    }
                    settle.push((m, AckKind::Nak(Some(Duration::from_millis(500)))));
                }
                Verdict::Reject(node, seq, kind, detail) => {
                    hub.counts.rejected.fetch_add(1, Ordering::Relaxed);
                    reports.push((node, seq, kind, detail));
                    settle.push((m, AckKind::Term));
                }
            }
        }
    }
    if !accepted.is_empty() {
        let heads: Vec<NodeRow> = {
            let nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
            let touched: std::collections::BTreeSet<Uuid> =
                accepted.iter().map(|(_, e)| e.header.node_id).collect();
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
            for (m, env) in &accepted {
                insert
                    .execute(libsql::params![
                        env.header.node_id.to_string(),
                        env.header.seq as i64,
                        env.header.venue_id.to_string(),
                        env.kind.as_str(),
                        m.payload.to_vec()
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
            for (_, env) in &accepted {
                if let Ok(event) = env.event() {
                    venues.entry(env.header.venue_id).or_default().apply(&event);
                }
            }
        }
        for (m, _) in accepted {
            settle.push((m, AckKind::Ack));
        }
    }
    for (node, seq, kind, detail) in reports {
        hub.problem(node, seq, kind, detail).await;
    }
    for (m, kind) in settle {
        if let Err(e) = m.ack_with(kind).await {
            tracing::warn!(error = %e, "ack failed; the message will be redelivered");
        }
    }
    Ok(())
}
