//! Heartbeats and head queries from the nodes, over core NATS.

use crate::{now_ms, Registry};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A heartbeat larger than this is dropped and counted: a node's figures fit
/// in a few hundred bytes.
pub const MAX_HEARTBEAT_BYTES: usize = 4 * 1024;

/// At most one heartbeat per node is stored in this time; faster ones are
/// answered but dropped and counted, so no node can keep the database busy.
pub const HEARTBEAT_MIN_GAP_MS: i64 = 500;

/// Heartbeats (core NATS `pvm.hb.<venue>.<node>`) are stored, within their
/// bounds; they and head queries (`pvm.head.<venue>.<node>`, sent by the pump
/// when it connects) are answered with the hub's head of that node's log
/// (`seq`, `hash`), so a node learns when its log forked from the hub's.
pub async fn heartbeats(hub: Arc<Registry>, client: async_nats::Client, stop: CancellationToken) {
    use futures_util::StreamExt;
    // Every process sees every heartbeat; the one ingesting the node's
    // partition answers it (with the head it judges by) and stores it.
    let (Ok(beats), Ok(queries)) = (
        client.subscribe("pvm.hb.>").await,
        client.subscribe("pvm.head.>").await,
    ) else {
        tracing::error!("cannot subscribe to heartbeats");
        return;
    };
    let mut messages = futures_util::stream::select(beats, queries);
    let mut stored_at: std::collections::HashMap<Uuid, i64> = std::collections::HashMap::new();
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = messages.next() => match m { Some(m) => m, None => return },
        };
        let parts: Vec<&str> = msg.subject.as_str().split('.').collect();
        let (kind, venue, node) = match parts.as_slice() {
            ["pvm", kind, v, n] => match (v.parse::<Uuid>(), n.parse::<Uuid>()) {
                (Ok(v), Ok(n)) => (*kind, v, n),
                _ => continue,
            },
            _ => continue,
        };
        if !hub.owns(venue) {
            continue;
        }
        let head = hub
            .nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&node)
            .filter(|row| row.venue_id == venue && !row.revoked)
            .map(|row| (row.head_seq, row.head_hash));
        let Some((seq, hash)) = head else { continue };
        if let Some(reply) = msg.reply.clone() {
            let mut answer = json!({"seq": seq, "hash": hex::encode(hash)});
            // A node finding where its log forked asks for the hash at a seq.
            let at = (kind == "head")
                .then(|| serde_json::from_slice::<serde_json::Value>(&msg.payload).ok())
                .flatten()
                .and_then(|q| q["at"].as_u64());
            if let Some(at) = at {
                answer["at"] = json!(at);
                answer["at_hash"] = json!(stored_hash(&hub, node, at).await.map(hex::encode));
            }
            if let Err(e) = client.publish(reply, answer.to_string().into()).await {
                tracing::debug!(error = %e, "head answer not sent");
            }
        }
        if kind != "hb" {
            continue;
        }
        let now = now_ms();
        let too_soon = stored_at
            .get(&node)
            .is_some_and(|at| now - at < HEARTBEAT_MIN_GAP_MS);
        let beat = (msg.payload.len() <= MAX_HEARTBEAT_BYTES && !too_soon)
            .then(|| serde_json::from_slice::<serde_json::Value>(&msg.payload).ok())
            .flatten()
            .filter(serde_json::Value::is_object);
        let Some(mut beat) = beat else {
            hub.counts
                .heartbeats_dropped
                .fetch_add(1, Ordering::Relaxed);
            continue;
        };
        stored_at.insert(node, now);
        // When it arrived by the hub's clock: the clock-skew alert compares
        // the node's `clock_ms` with this (docs/OPERATIONS.md, "Alerts").
        beat["hub_ms"] = serde_json::json!(now);
        let recorded = match hub.store.lock().await {
            Ok(db) => db.record_heartbeat(node, &beat.to_string(), now).await,
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "heartbeat not recorded");
        }
    }
}

/// The hash of a node's stored event `seq`, if the hub has it.
pub async fn stored_hash(hub: &Registry, node: Uuid, seq: u64) -> Option<[u8; 32]> {
    let bytes = hub
        .store
        .lock()
        .await
        .ok()?
        .envelope(node, seq)
        .await
        .ok()??;
    pvm_shared::envelope::Envelope::decode(&bytes)
        .ok()
        .map(|e| e.hash)
}
