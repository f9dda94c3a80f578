//! Walks a run of envelopes and names the first thing wrong with it.
//!
//! Used by `pvm-node verify-log` over the whole log and by the hub over each
//! batch it receives. A run is correct when its seqs follow on without gaps,
//! each event's `prev_hash` is the previous event's hash, each hash matches
//! the event's bytes, every signature is valid, and the run ends signed (the
//! node signs the last event of every commit; the chain covers the rest).

use crate::envelope::{Envelope, Hash, SCHEMA_VERSION};
use ed25519_dalek::VerifyingKey;
use std::fmt;
use uuid::Uuid;

/// Where a run is expected to pick up: the first seq and the hash before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainStart {
    pub seq: u64,
    pub prev_hash: Hash,
}

impl ChainStart {
    /// The very beginning of a node's log.
    pub const GENESIS: ChainStart = ChainStart {
        seq: 1,
        prev_hash: [0; 32],
    };
}

/// The first problem found in a run. `index` is the position in the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The bytes at `index` are not an envelope at all.
    Malformed { index: usize, reason: String },
    /// An envelope written with a schema this build does not know.
    UnknownSchema { index: usize, seq: u64, schema: u16 },
    /// An envelope from another node or venue inside this node's run.
    ForeignNode {
        index: usize,
        seq: u64,
        node_id: Uuid,
    },
    /// Seqs `expected..found` are missing.
    Gap {
        index: usize,
        expected: u64,
        found: u64,
    },
    /// The same seq appears twice.
    Duplicate { index: usize, seq: u64 },
    /// A seq appears before one it should follow.
    OutOfOrder {
        index: usize,
        expected: u64,
        found: u64,
    },
    /// `prev_hash` is not the previous event's hash.
    BrokenChain { index: usize, seq: u64 },
    /// The stored hash does not match the event's bytes: its content was altered.
    HashMismatch { index: usize, seq: u64 },
    /// A signature that the node key did not make over this hash.
    BadSignature { index: usize, seq: u64 },
    /// The run ends with events that no signature covers.
    UnsignedTail { from_seq: u64, to_seq: u64 },
}

impl Problem {
    /// The position in the run where the problem shows, if it has one.
    pub fn index(&self) -> Option<usize> {
        match *self {
            Problem::Malformed { index, .. }
            | Problem::UnknownSchema { index, .. }
            | Problem::ForeignNode { index, .. }
            | Problem::Gap { index, .. }
            | Problem::Duplicate { index, .. }
            | Problem::OutOfOrder { index, .. }
            | Problem::BrokenChain { index, .. }
            | Problem::HashMismatch { index, .. }
            | Problem::BadSignature { index, .. } => Some(index),
            Problem::UnsignedTail { .. } => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Malformed { index, reason } => {
                write!(f, "malformed envelope at position {index}: {reason}")
            }
            Problem::UnknownSchema { seq, schema, .. } => write!(
                f,
                "unknown schema {schema} at seq {seq} (this build reads schema {SCHEMA_VERSION})"
            ),
            Problem::ForeignNode { seq, node_id, .. } => {
                write!(
                    f,
                    "event at seq {seq} belongs to another node or venue (node {node_id})"
                )
            }
            Problem::Gap {
                expected, found, ..
            } => {
                if found - expected == 1 {
                    write!(f, "gap at seq {expected}: it is missing (next is {found})")
                } else {
                    write!(
                        f,
                        "gap at seq {expected}: seqs {expected}..={} are missing",
                        found - 1
                    )
                }
            }
            Problem::Duplicate { seq, .. } => write!(f, "duplicate of seq {seq}"),
            Problem::OutOfOrder {
                expected, found, ..
            } => write!(
                f,
                "out of order at seq {expected}: found seq {found} where {expected} belongs"
            ),
            Problem::BrokenChain { seq, .. } => write!(
                f,
                "broken chain at seq {seq}: its prev_hash is not the hash of seq {}",
                seq.saturating_sub(1)
            ),
            Problem::HashMismatch { seq, .. } => write!(
                f,
                "hash mismatch at seq {seq}: the event was altered after it was written"
            ),
            Problem::BadSignature { seq, .. } => write!(f, "bad signature at seq {seq}"),
            Problem::UnsignedTail { from_seq, to_seq } => write!(
                f,
                "unsigned tail: seqs {from_seq}..={to_seq} are not covered by a signature"
            ),
        }
    }
}

impl std::error::Error for Problem {}

/// Checks envelopes one at a time, in order; `finish` checks the run ended signed.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    key: VerifyingKey,
    node_id: Uuid,
    venue_id: Uuid,
    next: ChainStart,
    index: usize,
    unsigned_from: Option<u64>,
}

impl ChainVerifier {
    pub fn new(key: VerifyingKey, node_id: Uuid, venue_id: Uuid, start: ChainStart) -> Self {
        Self {
            key,
            node_id,
            venue_id,
            next: start,
            index: 0,
            unsigned_from: None,
        }
    }

    /// Where the next envelope must pick up.
    pub fn position(&self) -> ChainStart {
        self.next
    }

    pub fn push(&mut self, env: &Envelope) -> Result<(), Problem> {
        let index = self.index;
        let seq = env.header.seq;
        let expected = self.next.seq;
        if env.header.schema != SCHEMA_VERSION {
            return Err(Problem::UnknownSchema {
                index,
                seq,
                schema: env.header.schema,
            });
        }
        if env.header.node_id != self.node_id || env.header.venue_id != self.venue_id {
            return Err(Problem::ForeignNode {
                index,
                seq,
                node_id: env.header.node_id,
            });
        }
        if seq > expected {
            return Err(Problem::Gap {
                index,
                expected,
                found: seq,
            });
        }
        if seq < expected {
            return Err(if seq + 1 == expected && env.hash == self.next.prev_hash {
                Problem::Duplicate { index, seq }
            } else {
                Problem::OutOfOrder {
                    index,
                    expected,
                    found: seq,
                }
            });
        }
        if env.prev_hash != self.next.prev_hash {
            return Err(Problem::BrokenChain { index, seq });
        }
        if env.compute_hash() != env.hash {
            return Err(Problem::HashMismatch { index, seq });
        }
        match env.sig {
            Some(_) if !env.signature_valid(&self.key) => {
                return Err(Problem::BadSignature { index, seq })
            }
            Some(_) => self.unsigned_from = None,
            None => {
                self.unsigned_from.get_or_insert(seq);
            }
        }
        self.next = ChainStart {
            seq: seq + 1,
            prev_hash: env.hash,
        };
        self.index += 1;
        Ok(())
    }

    /// Ends the run. Fails when its last events are not covered by a signature.
    pub fn finish(&self) -> Result<(), Problem> {
        match self.unsigned_from {
            Some(from_seq) => Err(Problem::UnsignedTail {
                from_seq,
                to_seq: self.next.seq - 1,
            }),
            None => Ok(()),
        }
    }
}

/// Verifies a whole run of encoded envelopes from `start`. Returns where the
/// chain ends, or the first problem. A seq that is missing at its place but
/// turns up later in the run is named out of order rather than a gap.
pub fn verify_run(
    encoded: &[impl AsRef<[u8]>],
    key: VerifyingKey,
    node_id: Uuid,
    venue_id: Uuid,
    start: ChainStart,
) -> Result<ChainStart, Problem> {
    let mut envs = Vec::with_capacity(encoded.len());
    for (index, bytes) in encoded.iter().enumerate() {
        match Envelope::decode(bytes.as_ref()) {
            Ok(env) => envs.push(env),
            Err(e) => {
                return Err(Problem::Malformed {
                    index,
                    reason: e.to_string(),
                })
            }
        }
    }
    let mut verifier = ChainVerifier::new(key, node_id, venue_id, start);
    for env in &envs {
        if let Err(problem) = verifier.push(env) {
            return Err(match problem {
                Problem::Gap {
                    index,
                    expected,
                    found,
                } if envs[index..].iter().any(|e| e.header.seq == expected) => {
                    Problem::OutOfOrder {
                        index,
                        expected,
                        found,
                    }
                }
                other => other,
            });
        }
    }
    verifier.finish()?;
    Ok(verifier.position())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::tests::{key, sample};
    use crate::envelope::Actor;
    use proptest::prelude::*;

    /// A run of `len` events from genesis, signed at the end of each batch of `batch`.
    fn run(len: usize, batch: usize) -> Vec<Envelope> {
        let mut prev = [0u8; 32];
        let mut out = Vec::new();
        for i in 0..len {
            let actor = if i % 3 == 0 {
                Actor::Staff(format!("user-{i}"))
            } else {
                Actor::System
            };
            let mut env = sample(i as u64 + 1, prev, actor);
            if (i + 1) % batch == 0 || i + 1 == len {
                env.sign(&key());
            }
            prev = env.hash;
            out.push(env);
        }
        out
    }

    fn encoded(envs: &[Envelope]) -> Vec<Vec<u8>> {
        envs.iter().map(Envelope::encode).collect()
    }

    fn check(bytes: &[Vec<u8>]) -> Result<ChainStart, Problem> {
        verify_run(
            bytes,
            key().verifying_key(),
            Uuid::from_u128(2),
            Uuid::from_u128(1),
            ChainStart::GENESIS,
        )
    }

    #[test]
    fn a_clean_run_verifies_and_reports_where_it_ends() {
        let envs = run(10, 4);
        let end = check(&encoded(&envs)).expect("clean run");
        assert_eq!(end.seq, 11);
        assert_eq!(end.prev_hash, envs[9].hash);
    }

    #[test]
    fn a_missing_event_is_named_as_a_gap_at_its_seq() {
        let mut bytes = encoded(&run(6, 1));
        bytes.remove(2);
        let problem = check(&bytes).expect_err("gap");
        assert_eq!(
            problem,
            Problem::Gap {
                index: 2,
                expected: 3,
                found: 4
            }
        );
        assert_eq!(
            problem.to_string(),
            "gap at seq 3: it is missing (next is 4)"
        );
    }

    #[test]
    fn a_forged_signature_is_named() {
        let mut envs = run(3, 1);
        envs[1].sign(&ed25519_dalek::SigningKey::from_bytes(&[9; 32]));
        assert_eq!(
            check(&encoded(&envs)),
            Err(Problem::BadSignature { index: 1, seq: 2 })
        );
    }

    #[test]
    fn an_unknown_schema_is_named() {
        let mut envs = run(2, 1);
        envs[1].header.schema = 99;
        envs[1].hash = envs[1].compute_hash();
        envs[1].sign(&key());
        let problem = check(&encoded(&envs)).expect_err("schema");
        assert_eq!(
            problem,
            Problem::UnknownSchema {
                index: 1,
                seq: 2,
                schema: 99
            }
        );
    }

    #[test]
    fn an_event_signed_for_another_venue_is_named() {
        let mut envs = run(3, 1);
        envs[1].header.venue_id = Uuid::from_u128(77);
        envs[1].hash = envs[1].compute_hash();
        envs[1].sign(&key());
        assert!(matches!(
            check(&encoded(&envs)),
            Err(Problem::ForeignNode {
                index: 1,
                seq: 2,
                ..
            })
        ));
    }

    #[test]
    fn a_run_cut_inside_a_batch_ends_unsigned() {
        let envs = run(8, 4);
        let problem = check(&encoded(&envs[..6])).expect_err("unsigned");
        assert_eq!(
            problem,
            Problem::UnsignedTail {
                from_seq: 5,
                to_seq: 6
            }
        );
    }

    #[test]
    fn a_rewritten_event_that_is_rehashed_breaks_the_chain_after_it() {
        let mut envs = run(4, 1);
        envs[1].header.hlc.wall_ms += 1;
        envs[1].hash = envs[1].compute_hash();
        envs[1].sign(&key()); // even with the real key, the next event still points at the old hash
        assert_eq!(
            check(&encoded(&envs)),
            Err(Problem::BrokenChain { index: 2, seq: 3 })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_single_byte_change_is_detected_at_the_changed_envelope(
            len in 2usize..12, batch in 1usize..5, pick in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(), xor in 1u8..=255,
        ) {
            let mut bytes = encoded(&run(len, batch));
            let i = pick.index(len);
            let j = at.index(bytes[i].len());
            bytes[i][j] ^= xor;
            let problem = check(&bytes);
            prop_assert!(problem.is_err(), "change at envelope {i} byte {j} went unseen");
            let problem = problem.unwrap_err();
            // The change shows at the envelope itself, or (an altered hash field) at the
            // next event, whose prev_hash no longer matches.
            match problem.index() {
                Some(k) => prop_assert!(k == i || k == i + 1, "named {problem} for a change at {i}"),
                None => prop_assert!(matches!(problem, Problem::UnsignedTail { .. }), "{}", problem),
            }
            prop_assert!(!problem.to_string().is_empty());
        }

        #[test]
        fn swapping_two_envelopes_is_named_out_of_order(len in 3usize..12, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
            let mut bytes = encoded(&run(len, 1));
            let (a, b) = (a.index(len), b.index(len));
            prop_assume!(a != b);
            bytes.swap(a, b);
            let problem = check(&bytes).expect_err("reorder");
            prop_assert!(matches!(problem, Problem::OutOfOrder { index, .. } if index == a.min(b)), "{problem:?}");
        }

        #[test]
        fn dropping_an_envelope_is_named_a_gap(len in 2usize..12, batch in 1usize..5, pick in any::<prop::sample::Index>()) {
            let mut bytes = encoded(&run(len, batch));
            let i = pick.index(len - 1); // dropping the very last event is a truncation, not a gap
            bytes.remove(i);
            let problem = check(&bytes).expect_err("drop");
            prop_assert_eq!(problem, Problem::Gap { index: i, expected: i as u64 + 1, found: i as u64 + 2 });
        }

        #[test]
        fn duplicating_an_envelope_is_named_a_duplicate(len in 1usize..12, batch in 1usize..5, pick in any::<prop::sample::Index>()) {
            let mut bytes = encoded(&run(len, batch));
            let i = pick.index(len);
            let copy = bytes[i].clone();
            bytes.insert(i + 1, copy);
            let problem = check(&bytes).expect_err("duplicate");
            prop_assert_eq!(problem, Problem::Duplicate { index: i + 1, seq: i as u64 + 1 });
        }
    }
}
