//! Folding stored events into each venue's state (the hub's copy that
//! its console and the display fallback read) and its report facts.

use super::*;
use pvm_shared::event::EventKind;

/// Folds the node's stored events after the last one folded here, up to
/// `head`, read from the database (stored by another process, or by this
/// one before a batch's outcome was known).
pub(crate) async fn fold_stored(hub: &Registry, node: Uuid, head: u64) -> anyhow::Result<()> {
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
pub(crate) const CATCH_UP_PAGE: u32 = 2_000;

/// Folds stored events into their venues' state (a retired node's are
/// stored, not folded: its venue now follows the node that replaced it), and
/// notes how far each node is folded. Returns what could not be folded.
pub(crate) fn fold_events(hub: &Registry, events: &[Envelope]) -> Vec<Report> {
    let mut reports = Vec::new();
    let retired: std::collections::BTreeSet<Uuid> = {
        let nodes = hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes
            .values()
            .filter(|n| n.retired)
            .map(|n| n.node_id)
            .collect()
    };
    // Read before the locks are taken: the costly part of a fold, done while
    // other nodes' tasks fold theirs.
    type Decoded<'a> = (&'a Envelope, Result<EventKind, (&'static str, String)>);
    let decoded: Vec<Decoded> = events
        .iter()
        .filter(|e| !retired.contains(&e.header.node_id))
        .map(|e| (e, decode(e)))
        .collect();
    let mut venues = hub.venues.lock().unwrap_or_else(|p| p.into_inner());
    let mut facts = hub.reports.lock().unwrap_or_else(|p| p.into_inner());
    let mut versions = hub.versions.lock().unwrap_or_else(|p| p.into_inner());
    let mut folded = hub.folded.lock().unwrap_or_else(|p| p.into_inner());
    for (env, event) in decoded {
        let done = folded.get(&env.header.node_id).copied().unwrap_or(0);
        if env.header.seq <= done {
            continue;
        }
        let state = venues.entry(env.header.venue_id).or_default();
        let venue_facts = facts.entry(env.header.venue_id).or_default();
        match event.and_then(|event| fold_decoded(Arc::make_mut(state), venue_facts, env, &event)) {
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
pub(crate) fn fold(
    state: &mut VenueState,
    facts: &mut crate::reports::facts::VenueFacts,
    env: &Envelope,
) -> Result<(), (&'static str, String)> {
    let event = decode(env)?;
    fold_decoded(state, facts, env, &event)
}

/// The event an envelope carries, or why it cannot be folded.
fn decode(env: &Envelope) -> Result<EventKind, (&'static str, String)> {
    env.event().map_err(|e| {
        let (seq, kind) = (env.header.seq, env.kind.as_str());
        let detail =
            format!("event {seq} ({kind}) is stored but not folded: it does not decode: {e}");
        ("undecodable", detail)
    })
}

/// [`fold`] of an event already read from its envelope.
fn fold_decoded(
    state: &mut VenueState,
    facts: &mut crate::reports::facts::VenueFacts,
    env: &Envelope,
    event: &EventKind,
) -> Result<(), (&'static str, String)> {
    pvm_shared::bounds::check(state, event).map_err(|e| {
        let (seq, kind) = (env.header.seq, env.kind.as_str());
        let detail = format!("event {seq} ({kind}) is stored but not folded: {e}");
        ("out_of_bounds", detail)
    })?;
    let at_ms = env.header.hlc.wall_ms;
    facts.before(state, event, at_ms);
    state.apply(event);
    facts.after(state, event, at_ms);
    Ok(())
}
