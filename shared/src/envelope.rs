//! The signed event envelope and its canonical byte encoding.
//!
//! Every change on a node is one envelope. Its hash covers the canonical
//! bytes (which include the previous event's hash), so the log is a chain;
//! the node key signs the hash of the last event of every commit batch, and
//! the chain carries that signature back over the rest of the batch.

use crate::canonical;
use crate::event::EventKind;
use crate::hlc::Hlc;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;

/// The envelope layout this build writes and understands.
pub const SCHEMA_VERSION: u16 = 1;

/// Bytes that open every canonical encoding, so a stray blob is never mistaken for an event.
const MAGIC: &[u8; 4] = b"PVME";

/// The longest payload accepted when decoding (a sanity bound, far above any real event).
pub const MAX_PAYLOAD: usize = 1 << 20;

pub type Hash = [u8; 32];

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// The node itself (timers, automatic rules).
    System,
    /// The cloud hub.
    Cloud,
    /// A signed-in staff member, by user id (a hub user's id for hub-issued tokens).
    Staff(String),
}

impl Actor {
    fn tag(&self) -> u8 {
        match self {
            Actor::System => 0,
            Actor::Cloud => 1,
            Actor::Staff(_) => 2,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::Cloud => f.write_str("cloud"),
            Actor::Staff(id) => write!(f, "staff:{id}"),
        }
    }
}

/// Everything about an event except its hash and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeHeader {
    pub id: Uuid,
    pub venue_id: Uuid,
    pub node_id: Uuid,
    pub seq: u64,
    pub hlc: Hlc,
    pub actor: Actor,
    pub schema: u16,
}

/// One event as stored in the log and sent to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub header: EnvelopeHeader,
    /// The event kind, e.g. `table_created`.
    pub kind: String,
    /// The payload as canonical JSON bytes.
    pub payload: Vec<u8>,
    pub prev_hash: Hash,
    pub hash: Hash,
    /// Present on the last event of each commit batch.
    pub sig: Option<Signature>,
}

/// Why bytes could not be read as an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: needed {needed} more bytes for {field}")]
    Truncated { field: &'static str, needed: usize },
    #[error("not an event envelope (bad magic bytes)")]
    BadMagic,
    #[error("{field} is not valid UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("unknown actor tag {0}")]
    UnknownActor(u8),
    #[error("payload is not canonical JSON")]
    NonCanonicalPayload,
    #[error("payload of {0} bytes exceeds the limit")]
    PayloadTooLarge(usize),
    #[error("invalid signature flag {0}")]
    BadSignatureFlag(u8),
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
}

/// Why an envelope's payload could not be read as a known event.
#[derive(Debug, thiserror::Error)]
#[error("event {kind} at seq {seq}: {source}")]
pub struct PayloadError {
    pub seq: u64,
    pub kind: String,
    #[source]
    pub source: serde_json::Error,
}

impl Envelope {
    /// Builds and hashes an unsigned envelope for `event`, chained after `prev_hash`.
    pub fn seal(header: EnvelopeHeader, event: &EventKind, prev_hash: Hash) -> Envelope {
        let (kind, payload) = event.to_parts();
        let mut env = Envelope {
            header,
            kind,
            payload,
            prev_hash,
            hash: [0; 32],
            sig: None,
        };
        env.hash = env.compute_hash();
        env
    }

    /// Signs this envelope's hash with the node key.
    pub fn sign(&mut self, key: &SigningKey) {
        self.sig = Some(key.sign(&self.hash));
    }

    /// True when `sig` is a valid signature of `hash` by `key`.
    pub fn signature_valid(&self, key: &VerifyingKey) -> bool {
        match &self.sig {
            Some(sig) => key.verify_strict(&self.hash, sig).is_ok(),
            None => false,
        }
    }

    /// SHA-256 of the canonical bytes.
    pub fn compute_hash(&self) -> Hash {
        Sha256::digest(self.canonical_bytes()).into()
    }

    /// The typed event, for code that understands this schema.
    pub fn event(&self) -> Result<EventKind, PayloadError> {
        EventKind::from_parts(&self.kind, &self.payload).map_err(|source| PayloadError {
            seq: self.header.seq,
            kind: self.kind.clone(),
            source,
        })
    }

    /// The bytes the hash covers: every field but the hash and signature.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let h = &self.header;
        let actor_id = match &h.actor {
            Actor::Staff(id) => id.as_bytes(),
            _ => &[],
        };
        let mut out =
            Vec::with_capacity(128 + actor_id.len() + self.kind.len() + self.payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&h.schema.to_be_bytes());
        out.extend_from_slice(h.id.as_bytes());
        out.extend_from_slice(h.venue_id.as_bytes());
        out.extend_from_slice(h.node_id.as_bytes());
        out.extend_from_slice(&h.seq.to_be_bytes());
        out.extend_from_slice(&h.hlc.wall_ms.to_be_bytes());
        out.extend_from_slice(&h.hlc.counter.to_be_bytes());
        out.push(h.actor.tag());
        put_len_prefixed(&mut out, actor_id);
        put_len_prefixed(&mut out, self.kind.as_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&self.prev_hash);
        out
    }

    /// The stored and transmitted form: canonical bytes, hash, signature flag and signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.canonical_bytes();
        out.extend_from_slice(&self.hash);
        match &self.sig {
            Some(sig) => {
                out.push(1);
                out.extend_from_slice(&sig.to_bytes());
            }
            None => out.push(0),
        }
        out
    }

    /// Reads the form `encode` writes. Strict: any byte that `encode` would not
    /// have produced is an error, so a change to stored bytes never goes unseen.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4, "magic")? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let schema = u16::from_be_bytes(r.array("schema")?);
        let id = Uuid::from_bytes(r.array("id")?);
        let venue_id = Uuid::from_bytes(r.array("venue_id")?);
        let node_id = Uuid::from_bytes(r.array("node_id")?);
        let seq = u64::from_be_bytes(r.array("seq")?);
        let wall_ms = u64::from_be_bytes(r.array("hlc")?);
        let counter = u32::from_be_bytes(r.array("hlc")?);
        let actor_tag = r.array::<1>("actor")?[0];
        let actor_id = r.string("actor")?;
        let actor = match (actor_tag, actor_id.is_empty()) {
            (0, true) => Actor::System,
            (1, true) => Actor::Cloud,
            (2, _) => Actor::Staff(actor_id),
            (tag, _) => return Err(DecodeError::UnknownActor(tag)),
        };
        let kind = r.string("kind")?;
        let payload_len = u32::from_be_bytes(r.array("payload length")?) as usize;
        if payload_len > MAX_PAYLOAD {
            return Err(DecodeError::PayloadTooLarge(payload_len));
        }
        let payload = r.take(payload_len, "payload")?.to_vec();
        let parsed: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|_| DecodeError::NonCanonicalPayload)?;
        if canonical::to_vec(&parsed) != payload {
            return Err(DecodeError::NonCanonicalPayload);
        }
        let prev_hash = r.array("prev_hash")?;
        let hash = r.array("hash")?;
        let sig = match r.array::<1>("signature flag")?[0] {
            0 => None,
            1 => Some(Signature::from_bytes(&r.array("signature")?)),
            other => return Err(DecodeError::BadSignatureFlag(other)),
        };
        if r.pos != bytes.len() {
            return Err(DecodeError::TrailingBytes(bytes.len() - r.pos));
        }
        Ok(Envelope {
            header: EnvelopeHeader {
                id,
                venue_id,
                node_id,
                seq,
                hlc: Hlc { wall_ms, counter },
                actor,
                schema,
            },
            kind,
            payload,
            prev_hash,
            hash,
            sig,
        })
    }
}

fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(DecodeError::Truncated {
                field,
                needed: self.pos + n - self.bytes.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = u16::from_be_bytes(self.array(field)?) as usize;
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8 { field })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::venue::{Game, Stakes, TableName};

    pub fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    pub fn sample(seq: u64, prev_hash: Hash, actor: Actor) -> Envelope {
        let header = EnvelopeHeader {
            id: Uuid::from_u128(seq as u128 + 1000),
            venue_id: Uuid::from_u128(1),
            node_id: Uuid::from_u128(2),
            seq,
            hlc: Hlc {
                wall_ms: 1_700_000_000_000 + seq,
                counter: 0,
            },
            actor,
            schema: SCHEMA_VERSION,
        };
        let event = EventKind::TableCreated {
            table_id: Uuid::from_u128(seq as u128),
            name: TableName::parse(&format!("Table {seq}")).unwrap_or_else(|_| unreachable!()),
            game: Game::Nlhe,
            stakes: Stakes::new(1, 2).unwrap_or_else(|_| unreachable!()),
            seats: 9,
        };
        Envelope::seal(header, &event, prev_hash)
    }

    #[test]
    fn encode_then_decode_gives_back_the_same_envelope() {
        let mut env = sample(1, [0; 32], Actor::Staff("u-1".into()));
        env.sign(&key());
        let back = Envelope::decode(&env.encode()).expect("decodes");
        assert_eq!(back, env);
        assert!(back.signature_valid(&key().verifying_key()));
    }

    #[test]
    fn the_typed_event_survives_the_round_trip() {
        let env = sample(3, [1; 32], Actor::System);
        let back = Envelope::decode(&env.encode()).expect("decodes");
        assert!(matches!(
            back.event(),
            Ok(EventKind::TableCreated { seats: 9, .. })
        ));
    }

    #[test]
    fn a_payload_that_is_not_canonical_json_is_refused() {
        let mut env = sample(1, [0; 32], Actor::System);
        env.payload = br#"{ "seats":9}"#.to_vec();
        assert_eq!(
            Envelope::decode(&env.encode()),
            Err(DecodeError::NonCanonicalPayload)
        );
    }
}
