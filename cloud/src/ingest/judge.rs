//! Judging a message: each envelope against its node's verified head,
//! chain, hash and signature.

use super::*;

/// The venue and node a `PVM_UP` subject names: `pvm.up.<venue>.<node>`
/// (stored before the stream was partitioned) or
/// `pvm.up.<partition>.<venue>.<node>`.
pub(crate) fn venue_and_node(subject: &str) -> Option<(Uuid, Uuid)> {
    let parts: Vec<&str> = subject.split('.').collect();
    let (v, n) = match parts.as_slice() {
        ["pvm", "up", v, n] => (v, n),
        ["pvm", "up", p, v, n] if p.parse::<u32>().is_ok() => (v, n),
        _ => return None,
    };
    Some((v.parse().ok()?, n.parse().ok()?))
}

pub(crate) enum Verdict {
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
pub(crate) type Keys = HashMap<[u8; 32], ed25519_dalek::VerifyingKey>;

pub(crate) fn judge(
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
    if row.revoked {
        return Verdict::Reject(
            Some(node),
            Some(seq),
            "node_revoked",
            format!("node {node} was revoked by the hub's admin: what it sends is refused"),
        );
    }
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
pub(crate) type Resent = (Uuid, u64, [u8; 32]);

pub(crate) fn forked_at(seq: u64) -> String {
    format!("this node's log forked from the hub's at seq {seq}: the node sent an event {seq} other than the one stored")
}

/// What became of one message (a frame of envelopes, or a single one).
pub(crate) struct Judged {
    pub(crate) accepted: Vec<Envelope>,
    /// The accepted envelopes' rows, with their bytes as received.
    pub(crate) rows: Vec<crate::store::EventRow>,
    pub(crate) duplicates: u64,
    /// Seqs below the head sent again, with their hashes, still to compare.
    pub(crate) resent: Vec<Resent>,
    /// Envelopes refused (the one that failed and every one after it).
    pub(crate) rejected: u64,
    pub(crate) problems: Vec<(Option<Uuid>, Option<u64>, &'static str, String)>,
    /// Its first new event is ahead of the node's head: hold the whole message.
    pub(crate) wait: Option<(Uuid, u64, String)>,
}

/// Judges a message's envelopes in order. Nothing is taken from a message
/// that must wait; in a message that fails, what came before the failure
/// (verified on its own) is kept and the rest refused.
pub(crate) fn judge_message(
    nodes: &mut HashMap<Uuid, NodeRow>,
    keys: &mut Keys,
    subject: &str,
    payload: &[u8],
) -> Judged {
    let mut out = Judged {
        accepted: Vec::new(),
        rows: Vec::new(),
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
            Verdict::Accept(env) => {
                // Stored as received: `decode` is strict enough that these
                // are the bytes `encode` would make.
                debug_assert_eq!(env.encode(), bytes);
                out.rows
                    .push(crate::store::EventRow::with_bytes(&env, bytes.to_vec()));
                out.accepted.push(*env);
            }
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
