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

    /// The kind name and canonical payload bytes, written straight from the
    /// event (`canonical::to_vec_of`); the same bytes as through a
    /// `serde_json::Value`, which is the way taken if that writer refuses.
    pub fn to_parts(&self) -> (String, Vec<u8>) {
        self.to_parts_straight()
            .unwrap_or_else(|| self.to_parts_through_value())
    }

    /// `to_parts` by `canonical::to_vec_of`; `None` where it refuses.
    pub(crate) fn to_parts_straight(&self) -> Option<(String, Vec<u8>)> {
        split_tagged(&canonical::to_vec_of(self).ok()?)
    }

    /// `to_parts` through a `serde_json::Value` tree.
    pub(crate) fn to_parts_through_value(&self) -> (String, Vec<u8>) {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let (kind, payload) = match value.as_object_mut() {
            Some(object) => (object.remove("kind"), object.remove("payload")),
            None => (None, None),
        };
        let kind = match kind {
            Some(serde_json::Value::String(kind)) => kind,
            _ => String::new(),
        };
        (kind, canonical::to_vec(&payload.unwrap_or_default()))
    }

    /// Reads an event back from its kind name and payload bytes.
    pub fn from_parts(kind: &str, payload: &[u8]) -> Result<EventKind, serde_json::Error> {
        EventKind::deserialize(Parts { kind, payload })
    }
}

/// The kind and payload of an event's canonical bytes, `{"kind":K}` or
/// `{"kind":K,"payload":P}` (keys sorted, so in that order); `None` for any
/// other shape.
fn split_tagged(whole: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = whole.strip_prefix(b"{\"kind\":")?;
    let mut strings = serde_json::Deserializer::from_slice(rest).into_iter::<String>();
    let kind = strings.next()?.ok()?;
    let rest = rest.get(strings.byte_offset()..)?;
    let payload: &[u8] = match rest.strip_prefix(b",\"payload\":") {
        Some(p) => p.strip_suffix(b"}")?,
        None if rest == b"}" => b"null",
        None => return None,
    };
    Some((kind, payload.to_vec()))
}

/// `{"kind": <kind>, "payload": <payload>}` as serde sees it, the payload
/// read straight from its bytes: no `serde_json::Value` built and converted
/// first, nothing pasted together (the hub reads every event it stores this
/// way). The derive still buffers it once: the untagged cash variant needs
/// that.
struct Parts<'de> {
    kind: &'de str,
    payload: &'de [u8],
}

impl<'de> serde::Deserializer<'de> for Parts<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(PartsMap {
            parts: self,
            next: 0,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct PartsMap<'de> {
    parts: Parts<'de>,
    /// 0: the kind is next, 1: the payload, 2: nothing.
    next: u8,
}

impl<'de> serde::de::MapAccess<'de> for PartsMap<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let key = match self.next {
            0 => "kind",
            1 => "payload",
            _ => return Ok(None),
        };
        seed.deserialize(serde::de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.next += 1;
        if self.next == 1 {
            return seed.deserialize(serde::de::value::BorrowedStrDeserializer::new(
                self.parts.kind,
            ));
        }
        let mut payload = serde_json::Deserializer::from_slice(self.parts.payload);
        let value = seed.deserialize(&mut payload)?;
        payload.end()?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> EventKind {
        EventKind::TableCreated {
            table_id: Uuid::from_u128(7),
            name: TableName::parse("Main 1").expect("name"),
            game: Game::ALL[0],
            stakes: Stakes::new(1, 2).expect("stakes"),
            seats: 9,
        }
    }

    #[test]
    fn parts_read_back_as_the_event_they_were_made_of() {
        let cash = EventKind::Cash(CashEvent::WaitingListClosed {
            list_id: Uuid::from_u128(3),
        });
        for event in [table(), cash] {
            let (kind, payload) = event.to_parts();
            assert_eq!(EventKind::from_parts(&kind, &payload).ok(), Some(event));
        }
    }

    #[test]
    fn parts_are_one_json_value_of_the_named_kind_or_an_error() {
        let (kind, payload) = table().to_parts();
        // Another document pasted after the payload is not read as more fields.
        let mut pasted = payload.clone();
        pasted.extend_from_slice(br#","kind":"table_closed"#);
        assert!(EventKind::from_parts(&kind, &pasted).is_err());
        let mut trailing = payload.clone();
        trailing.extend_from_slice(b" x");
        assert!(EventKind::from_parts(&kind, &trailing).is_err());
        assert!(EventKind::from_parts(&kind, &payload[..payload.len() - 1]).is_err());
        assert!(EventKind::from_parts("no_such_kind", &payload).is_err());
        assert!(EventKind::from_parts("player_seated", &payload).is_err());
        assert!(EventKind::from_parts(&kind, b"").is_err());
    }
}
