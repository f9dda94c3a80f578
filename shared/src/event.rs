//! The domain events. Every change on a node is one of these, inside an envelope.

use crate::canonical;
use crate::venue::{Game, Stakes, TableName, VenueSettings};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A domain event. Serialized as `{"kind": "...", "payload": {...}}`; the
/// envelope stores the kind and the canonical payload separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum EventKind {
    VenueSettingsUpdated {
        settings: VenueSettings,
    },
    TableCreated {
        table_id: Uuid,
        name: TableName,
        game: Game,
        stakes: Stakes,
        seats: u8,
    },
    TableRenamed {
        table_id: Uuid,
        name: TableName,
    },
    TableGameSet {
        table_id: Uuid,
        game: Game,
        stakes: Stakes,
    },
    TableOpened {
        table_id: Uuid,
    },
    TableClosed {
        table_id: Uuid,
    },
}

impl EventKind {
    /// The kind name and canonical payload bytes.
    pub fn to_parts(&self) -> (String, Vec<u8>) {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_owned();
        let payload = value.get("payload").cloned().unwrap_or_default();
        (kind, canonical::to_vec(&payload))
    }

    /// Reads an event back from its kind name and payload bytes.
    pub fn from_parts(kind: &str, payload: &[u8]) -> Result<EventKind, serde_json::Error> {
        let payload: serde_json::Value = serde_json::from_slice(payload)?;
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }
}
