//! The venue's state (`VenueState`) and every command (`Command`).

use super::*;
use std::sync::Arc;

/// What a node knows about its venue: the fold of every venue and table event.
///
/// Every part is shared (`Arc`) between the states the writer publishes
/// until a commit changes it (`Arc::make_mut`): publishing the state after
/// each commit, before the callers hear back, then copies pointers, and a
/// commit copies only the parts it changes (a table's commit leaves the cash
/// games, the staff and the settings alone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VenueState {
    pub settings: Arc<VenueSettings>,
    pub tables: Arc<BTreeMap<Uuid, PokerTable>>,
    pub staff: Arc<StaffDirectory>,
    /// A big room's thousands of records: copied only by a commit that
    /// changes a player.
    pub players: Arc<BTreeMap<Uuid, Player>>,
    pub cash: Arc<CashState>,
    /// Each tournament shared as well: a commit copies the map's pointers
    /// and the one tournament it changes.
    pub tournaments: Arc<BTreeMap<Uuid, Arc<Tournament>>>,
    /// Templates staff saved, by lower-case name (the built-in ones are in code).
    pub templates: Arc<BTreeMap<String, Structure>>,
    pub displays: Arc<crate::displays::DisplayState>,
    /// What the node did with the hub's latest messages, by message id
    /// (the last `MAX_DOWN_KEPT`): the hub's delivery state.
    /// Shared like `players`.
    pub down: Arc<BTreeMap<Uuid, DownHandled>>,
}

/// Bytes of a delivery report's detail, at most.
pub const MAX_DOWN_DETAIL: usize = 500;

/// Hub messages whose handling the state keeps (the newest, by id: ids are
/// time-ordered uuids).
pub const MAX_DOWN_KEPT: usize = 1_000;

/// What a node did with a message from the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownHandled {
    pub kind: String,
    /// `applied`, `refused` or `started` (an update whose helper started:
    /// how it ends is its `update_finished` event).
    pub outcome: String,
    pub detail: String,
}

/// A request to change the venue, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    UpdateSettings(VenueSettings),
    CreateTable {
        table_id: Uuid,
        name: TableName,
        game: Game,
        stakes: Stakes,
        seats: u8,
    },
    RenameTable {
        table_id: Uuid,
        name: TableName,
    },
    SetTableGame {
        table_id: Uuid,
        game: Game,
        stakes: Stakes,
    },
    OpenTable {
        table_id: Uuid,
    },
    CloseTable {
        table_id: Uuid,
    },
    StartTable {
        table_id: Uuid,
    },
    CreatePlayer {
        player_id: Uuid,
        details: PlayerDetails,
    },
    UpdatePlayer {
        player_id: Uuid,
        details: PlayerDetails,
    },
    Cash(CashCommand),
    CreateTournament {
        tournament_id: Uuid,
        name: String,
        structure: Box<Structure>,
        tables: u16,
        seats: u8,
    },
    Tournament {
        tournament_id: Uuid,
        command: PlayCommand,
    },
    CreateDay2 {
        tournament_id: Uuid,
        name: String,
        flights: Vec<Uuid>,
        tables: u16,
        seats: u8,
    },
    SaveTemplate {
        structure: Box<Structure>,
    },
    Display {
        change: crate::displays::DisplayEvent,
        at_ms: u64,
    },
    DeleteTemplate {
        name: String,
    },
    /// Records how a container update ended (see `EventKind::UpdateFinished`).
    RecordUpdate {
        container: String,
        image: String,
        outcome: String,
        detail: String,
    },
    /// Records what the node did with a hub message (see `EventKind::DownHandled`).
    RecordDownHandled {
        message_id: Uuid,
        kind: String,
        outcome: String,
        detail: String,
    },
    /// Takes the hub's newer list of roaming accounts (see
    /// `EventKind::HubStaffReplaced`).
    ReplaceHubStaff {
        issued_ms: u64,
        accounts: Vec<crate::staff::HubAccount>,
    },
    /// Records that the hub ordered this node wiped (see `EventKind::WipeOrdered`).
    RecordWipe {
        message_id: Uuid,
    },
    /// Records that the node restarted its leaf (see `EventKind::LeafRestarted`).
    RecordLeafRestart {
        down_for_ms: u64,
        method: String,
    },
    CreateStaff {
        user_id: Uuid,
        username: Username,
        display_name: String,
        role: Role,
        password_hash: Option<String>,
        pin_hash: Option<String>,
    },
    SetStaffRole {
        user_id: Uuid,
        role: Role,
    },
    SetStaffEnabled {
        user_id: Uuid,
        enabled: bool,
    },
    SetPassword {
        user_id: Uuid,
        password_hash: String,
    },
    SetPin {
        user_id: Uuid,
        pin_hash: Option<String>,
    },
    RecordLockout {
        scope: LockScope,
        subject: String,
        until_ms: u64,
    },
    RevokeSession {
        sid: String,
        user_id: String,
        until_secs: u64,
    },
    ClearLockout {
        scope: LockScope,
        subject: String,
    },
    CreateApiKey {
        key_id: Uuid,
        user_id: Uuid,
        name: String,
        secret_hash: String,
    },
    RevokeApiKey {
        key_id: Uuid,
    },
}

pub(crate) fn checked_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(DomainError::Invalid {
            field: "name",
            reason: "use 1 to 80 characters".into(),
        });
    }
    Ok(name)
}

pub(crate) fn checked_tables(tables: u16, seats: u8) -> Result<(), DomainError> {
    if !(1..=500).contains(&tables) || !(2..=10).contains(&seats) {
        return Err(DomainError::Invalid {
            field: "tables",
            reason: "use 1 to 500 tables of 2 to 10 seats".into(),
        });
    }
    Ok(())
}

impl VenueState {
    pub(crate) fn table(&self, id: Uuid) -> Result<&PokerTable, DomainError> {
        self.tables.get(&id).ok_or(DomainError::UnknownTable(id))
    }

    pub(crate) fn name_taken(&self, name: &TableName, except: Option<Uuid>) -> bool {
        self.tables.values().any(|t| {
            Some(t.id) != except && t.name.as_str().to_lowercase() == name.as_str().to_lowercase()
        })
    }

    /// Checks a command against the state and returns the event that records it.
    /// Every template: the built-in ones, then those staff saved.
    pub fn all_templates(&self) -> Vec<Structure> {
        let mut all = crate::tournament::structure::templates();
        all.extend(self.templates.values().cloned());
        all
    }
}
