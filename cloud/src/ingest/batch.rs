//! One node's ingest task: pull, judge, store in one transaction, ack.

use super::*;

/// One node's ingest, until `stop`: pull (the next pull is in flight while a
/// batch is handled), judge, store, ack.
pub(crate) async fn run(
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

pub(crate) async fn handle_batch(
    hub: &Registry,
    received: Vec<jetstream::Message>,
) -> anyhow::Result<()> {
    hub.counts.batches.fetch_add(1, Ordering::Relaxed);
    let mut accepted: Vec<Envelope> = Vec::new();
    let mut rows: Vec<crate::store::EventRow> = Vec::new();
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
            rows.extend(j.rows);
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
        hub.store.store_batch(&rows, &heads, now_ms()).await?;
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
pub(crate) async fn recheck_heads(hub: &Registry, waited: &std::collections::BTreeSet<Uuid>) {
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
pub(crate) async fn compare_resent(
    hub: &Registry,
    copies: &[Resent],
) -> anyhow::Result<Option<(Uuid, u64)>> {
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
