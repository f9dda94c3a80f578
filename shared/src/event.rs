//! The domain events. Every change on a node is one of these, inside an envelope.

use crate::auth::Role;
use crate::canonical;
use crate::cash::CashEvent;
use crate::players::PlayerDetails;
use crate::staff::{LockScope, Username};
use crate::tournament::play::{Day2, Day2Entrant, PlayEvent};
use crate::tournament::Structure;
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
    StaffUserCreated {
        user_id: Uuid,
        username: Username,
        display_name: String,
        role: Role,
        password_hash: Option<String>,
        pin_hash: Option<String>,
    },
    StaffRoleChanged {
        user_id: Uuid,
        role: Role,
    },
    StaffUserDisabled {
        user_id: Uuid,
    },
    StaffUserEnabled {
        user_id: Uuid,
    },
    StaffPasswordSet {
        user_id: Uuid,
        password_hash: String,
    },
    StaffPinSet {
        user_id: Uuid,
        pin_hash: Option<String>,
    },
    /// Too many failed logins: the account or address is refused until `until_ms`.
    LoginLockedOut {
        scope: LockScope,
        subject: String,
        until_ms: u64,
    },
    /// An admin let a locked-out account back in (by setting a new password or PIN).
    LoginLockoutCleared {
        scope: LockScope,
        subject: String,
    },
    /// A login session ended (logout, or its user disabled); its tokens are refused until they expire.
    SessionRevoked {
        sid: String,
        user_id: String,
        until_secs: u64,
    },
    ApiKeyCreated {
        key_id: Uuid,
        user_id: Uuid,
        name: String,
        secret_hash: String,
    },
    ApiKeyRevoked {
        key_id: Uuid,
    },
    TableStarting {
        table_id: Uuid,
    },
    PlayerCreated {
        player_id: Uuid,
        details: PlayerDetails,
    },
    PlayerUpdated {
        player_id: Uuid,
        details: PlayerDetails,
    },
    TournamentCreated {
        tournament_id: Uuid,
        name: String,
        structure: Structure,
        tables: u16,
        seats: u8,
    },
    TournamentPlayed {
        tournament_id: Uuid,
        event: PlayEvent,
    },
    /// A Day 2 drawn from bagged flights: who carries which stack.
    Day2Created {
        tournament_id: Uuid,
        name: String,
        structure: Structure,
        tables: u16,
        seats: u8,
        day2: Day2,
        entrants: Vec<Day2Entrant>,
    },
    /// What the wall displays show: devices, groups, announcements, slides, theme.
    DisplayChanged {
        change: crate::displays::DisplayEvent,
    },
    /// A structure staff saved as a template (new, cloned or edited), by name.
    TemplateSaved {
        structure: Structure,
    },
    TemplateDeleted {
        name: String,
    },
    /// The node restarted its leaf nats-server: the hub answered, but the
    /// leaf link had stayed down for `down_for_ms` (nats-server #7615).
    LeafRestarted {
        down_for_ms: u64,
        method: String,
    },
    /// The hub ordered this node's data erased (a stolen box): recorded, and
    /// synced to the hub, before the node erases its data and starts again
    /// at first boot (docs/OPERATIONS.md, "Wiping a node remotely").
    WipeOrdered {
        /// The hub's signed message that ordered it.
        message_id: Uuid,
    },
    /// What this node did with a message from the hub (a template, an
    /// announcement, an update): `applied`, `refused` or `started` (an
    /// update under way), and why. The hub
    /// reads it as the message's delivery state.
    DownHandled {
        message_id: Uuid,
        /// `template`, `announcement` or `update`.
        kind: String,
        outcome: String,
        detail: String,
    },
    /// A container update finished: `updated`, `current`, `pull_failed`,
    /// `rolled_back` or `refused` (a manifest not signed by the hub).
    UpdateFinished {
        container: String,
        image: String,
        outcome: String,
        detail: String,
    },
    /// The operator's hub accounts that may log in at this venue's node
    /// (roaming staff), as the hub issued them at `issued_ms`: the whole
    /// list, replacing the one before.
    HubStaffReplaced {
        issued_ms: u64,
        accounts: Vec<crate::staff::HubAccount>,
    },
    /// Cash-game events, with their own kinds (`player_seated`, …) at the same level.
    #[serde(untagged)]
    Cash(CashEvent),
}

impl EventKind {
    /// True for events that change staff accounts or API keys.
    pub fn touches_staff(&self) -> bool {
        matches!(
            self,
            EventKind::StaffUserCreated { .. }
                | EventKind::StaffRoleChanged { .. }
                | EventKind::StaffUserDisabled { .. }
                | EventKind::StaffUserEnabled { .. }
                | EventKind::StaffPasswordSet { .. }
                | EventKind::StaffPinSet { .. }
                | EventKind::ApiKeyCreated { .. }
                | EventKind::ApiKeyRevoked { .. }
                | EventKind::HubStaffReplaced { .. }
        )
    }

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
