//! Which process ingests which nodes: every partition in embedded mode, a
//! claimed share of them with several processes; starting and stopping the
//! per-node tasks as the share moves, and catching up on the rest.

use super::*;

/// A node's running ingest.
pub(crate) struct Running {
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
pub(crate) async fn stop_partitions(
    hub: &Registry,
    running: &mut HashMap<Uuid, Running>,
    partitions: &[u32],
) {
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
pub(crate) async fn catch_up(
    hub: &Registry,
    ready: &std::collections::BTreeSet<u32>,
) -> anyhow::Result<()> {
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
                    // Revoked at another process: refused here from now on.
                    known.revoked |= row.revoked;
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
        hub.forget_venue(venue);
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
