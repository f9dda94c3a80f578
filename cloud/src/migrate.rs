//! `pvm-cloud migrate --from FILE --to postgres://…`: moves a hub's data
//! from one database to another (a libSQL file to PostgreSQL when a hub
//! outgrows one machine; any direction works). Every node's events are
//! verified on the way as the hub verified them when they arrived: seqs from
//! 1 without gaps, each `prev_hash` the previous hash, hashes and signatures
//! under the node's key, ending at the node's recorded head. Nothing is
//! written until all of it verifies, and only into a database holding no
//! hub. The events go first and the venues, tokens, nodes (with their
//! heads) and problems last, in one transaction: a run cut short leaves
//! events without a hub, which the next run writes over.

use crate::store::{Database, EventRow, Locked, NodeRecord, Store};
use anyhow::Context;
use pvm_shared::envelope::Envelope;
use pvm_shared::verify::{ChainStart, ChainVerifier, Problem};

/// Events read (and written) per round trip (envelopes are a few hundred
/// bytes; a frame's whole size bounds a page at a few hundred MiB).
pub const PAGE: u32 = 2_000;

/// What was moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    pub venues: usize,
    pub tokens: usize,
    pub nodes: usize,
    pub problems: usize,
    pub events: u64,
}

pub async fn migrate(from: &Database, to: &Database) -> anyhow::Result<Moved> {
    if from == to {
        anyhow::bail!("--from and --to name the same database");
    }
    if let Database::File(path) = from {
        if !path.is_file() {
            anyhow::bail!("--from {}: no such file", path.display());
        }
    }
    let source = Store::open(from)
        .await
        .with_context(|| format!("opening --from ({})", from.describe()))?;
    let target = Store::open(to)
        .await
        .with_context(|| format!("opening --to ({})", to.describe()))?;
    let src = source.lock().await?;
    let dst = target.lock().await?;
    if !dst.is_empty().await? {
        anyhow::bail!(
            "--to ({}) already holds a hub's venues or nodes: migrate into an empty database",
            to.describe()
        );
    }
    let records = src.records().await?;
    let mut events = 0;
    for node in &records.nodes {
        events += verify_node(&src, node).await?;
    }
    for node in &records.nodes {
        copy_node(&src, &dst, node).await?;
    }
    dst.import_records(&records).await?;
    Ok(Moved {
        venues: records.venues.len(),
        tokens: records.tokens.len(),
        nodes: records.nodes.len(),
        problems: records.problems.len(),
        events,
    })
}

/// Walks a node's stored events; returns how many there are.
async fn verify_node(db: &Locked<'_>, node: &NodeRecord) -> anyhow::Result<u64> {
    use base64::Engine;
    let id = node.node_id;
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&node.public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("node {id}: its stored public key is not 32 bytes of base64")
        })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|e| anyhow::anyhow!("node {id}: its stored public key is unusable: {e}"))?;
    let mut chain = ChainVerifier::new(key, id, node.venue_id, ChainStart::GENESIS);
    let mut after = 0;
    loop {
        let page = db.events_after(id, after, PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        for (seq, bytes) in &page {
            let env = Envelope::decode(bytes)
                .map_err(|e| anyhow::anyhow!("node {id} event {seq}: does not decode: {e}"))?;
            chain
                .push(&env)
                .map_err(|p| anyhow::anyhow!("node {id} event {seq}: {p}"))?;
        }
        after = last;
    }
    let end = chain.position();
    let stored = end.seq - 1;
    if stored != node.head_seq as u64 {
        anyhow::bail!(
            "node {id}: {stored} events stored but its head is {}",
            node.head_seq
        );
    }
    if stored > 0 && end.prev_hash.as_slice() != node.head_hash.as_slice() {
        anyhow::bail!("node {id}: the last stored event's hash is not its recorded head's");
    }
    match chain.finish() {
        Ok(()) => {}
        // The hub keeps a tail no signature covers yet, past the verified seq.
        Err(Problem::UnsignedTail { from_seq, .. }) if from_seq as i64 > node.verified_seq => {}
        Err(p) => anyhow::bail!("node {id}: {p}"),
    }
    Ok(stored)
}

/// Copies a node's events up to its recorded head (what was verified; a
/// hub still running meanwhile may have stored more).
async fn copy_node(src: &Locked<'_>, dst: &Locked<'_>, node: &NodeRecord) -> anyhow::Result<()> {
    let head = node.head_seq as u64;
    let mut after = 0;
    while after < head {
        let page = src.events_after(node.node_id, after, PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        let mut rows = Vec::with_capacity(page.len());
        for (_, bytes) in page.into_iter().filter(|(seq, _)| *seq <= head) {
            let env = Envelope::decode(&bytes)?;
            rows.push(EventRow {
                node_id: env.header.node_id,
                seq: env.header.seq as i64,
                venue_id: env.header.venue_id,
                kind: env.kind.as_str().to_owned(),
                envelope: bytes,
            });
        }
        dst.import_events(&rows).await?;
        after = last;
    }
    Ok(())
}
