//! What the hub sends a venue's node (through `PVM_DOWN`): tournament
//! templates and announcements, each signed by the hub key so the node can
//! tell them from anything else that reaches its leaf.

use crate::canonical;
use crate::tournament::Structure;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DownBody {
    Template {
        structure: Structure,
    },
    Announcement {
        id: Uuid,
        text: String,
        group: Option<String>,
        until_ms: u64,
    },
    /// Erase this node's data and return it to first boot (a stolen box):
    /// the node records it, waits until the hub has that record, then wipes.
    /// Only the node named acts on it.
    Wipe {
        node_id: Uuid,
    },
    /// The operator's hub accounts that may log in at this venue's node
    /// (roaming staff): the whole list, replacing the one the node holds
    /// when this one was issued later.
    Staff {
        accounts: Vec<crate::staff::HubAccount>,
    },
    /// The hub keys this node trusts from now on (base64 ed25519 public
    /// keys, the hub's current one last, 1 to `MAX_HUB_KEYS`): a rotation
    /// adds the new key, signed by the old one; a retirement leaves one out.
    HubKeys {
        keys: Vec<String>,
    },
    /// Take new leaf credentials from the hub (over HTTPS, asked with the
    /// node's key: the secret never travels here) and link with them. Only
    /// the node named acts on it.
    LeafCredentials {
        node_id: Uuid,
    },
    /// Update the venue's containers: role (`node`, …) to image by digest.
    Update {
        version: String,
        images: std::collections::BTreeMap<String, String>,
    },
}

/// At most this many hub keys are trusted at once.
pub const MAX_HUB_KEYS: usize = 8;

/// `repo@sha256:<64 hex>`: an image named by digest, as updates must be.
pub fn by_digest(image: &str) -> bool {
    image.rsplit_once("@sha256:").is_some_and(|(repo, d)| {
        !repo.is_empty() && d.len() == 64 && d.chars().all(|c| c.is_ascii_hexdigit())
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownMessage {
    pub id: Uuid,
    pub venue_id: Uuid,
    pub issued_ms: u64,
    pub body: DownBody,
    /// base64 ed25519 signature by the hub over `signing::DOWN` and the other
    /// fields' canonical JSON.
    #[serde(default)]
    pub sig: String,
}

impl DownMessage {
    fn signed_bytes(&self) -> Vec<u8> {
        let value = serde_json::json!({
            "id": self.id,
            "venue_id": self.venue_id,
            "issued_ms": self.issued_ms,
            "body": self.body,
        });
        crate::signing::with_context(crate::signing::DOWN, &canonical::to_vec(&value))
    }

    pub fn sign(mut self, key: &SigningKey) -> DownMessage {
        let sig = key.sign(&self.signed_bytes());
        self.sig = base64::engine::general_purpose::STANDARD.encode(sig.to_bytes());
        self
    }

    /// True when one of the trusted hub keys signed exactly this message.
    pub fn verify_any(&self, keys: &[VerifyingKey]) -> bool {
        keys.iter().any(|k| self.verify(k))
    }

    /// True when the hub key made the signature over exactly this message.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&self.sig) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        key.verify(&self.signed_bytes(), &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_message_verifies_and_an_altered_one_does_not() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let m = DownMessage {
            id: Uuid::nil(),
            venue_id: Uuid::nil(),
            issued_ms: 1,
            body: DownBody::Announcement {
                id: Uuid::nil(),
                text: "Welcome".into(),
                group: None,
                until_ms: 100,
            },
            sig: String::new(),
        }
        .sign(&key);
        assert!(m.verify(&key.verifying_key()));
        let mut altered = m.clone();
        altered.issued_ms = 2;
        assert!(!altered.verify(&key.verifying_key()));
        assert!(!m.verify(&SigningKey::from_bytes(&[8; 32]).verifying_key()));
    }
}
