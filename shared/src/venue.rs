//! Venue settings and poker tables: the first domain slice.
//!
//! `decide` checks a command against the current state and yields the event
//! that records it; `apply` folds an event into the state. Values are parsed
//! into types that cannot hold nonsense (a blank name, stakes that go down).

use crate::auth::Role;
use crate::cash::{self, CashCommand, CashState};
use crate::event::EventKind;
use crate::players::{Player, PlayerDetails};
use crate::staff::{check_display_name, ApiKey, LockScope, StaffDirectory, StaffUser, Username};
use crate::tournament::play::{PlayCommand, Tournament};
use crate::tournament::Structure;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Why a value or a command was refused. The message is for staff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no table with id {0}")]
    UnknownTable(Uuid),
    #[error("no staff user with id {0}")]
    UnknownUser(Uuid),
    #[error("no API key with id {0}")]
    UnknownApiKey(Uuid),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Trims a name and checks its length in characters and that it has no control characters.
fn parse_name(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(invalid(field, "must not be blank"));
    }
    let len = name.chars().count();
    if len > max {
        return Err(invalid(
            field,
            format!("must be at most {max} characters (got {len})"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, |$raw:ident| $parse:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        #[cfg_attr(feature = "openapi", derive(ToSchema), schema(value_type = String))]
        pub struct $name(String);

        impl $name {
            pub fn parse($raw: &str) -> Result<Self, DomainError> {
                $parse.map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(raw: String) -> Result<Self, DomainError> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// A venue's display name, 1–80 characters.
    VenueName, "name", |raw| parse_name("name", raw, 80)
);

string_newtype!(
    /// A table's name as staff and players call it ("Table 7", "Feature"), 1–40 characters.
    TableName, "name", |raw| parse_name("name", raw, 40)
);

string_newtype!(
    /// An IANA time zone name such as `Europe/London`, or `UTC`.
    Timezone, "timezone", |raw| parse_timezone(raw)
);

string_newtype!(
    /// A colour as `#rrggbb`, stored lower case.
    Colour, "colour", |raw| parse_colour(raw)
);

fn parse_timezone(raw: &str) -> Result<String, DomainError> {
    let tz = raw.trim();
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    let well_formed = tz.len() <= 64
        && (tz == "UTC"
            || (tz.contains('/')
                && tz.split('/').all(part_ok)
                && tz.starts_with(|c: char| c.is_ascii_uppercase())));
    if well_formed {
        Ok(tz.to_owned())
    } else {
        Err(invalid(
            "timezone",
            format!("{raw:?} is not an IANA time zone name such as \"Europe/London\" or \"UTC\""),
        ))
    }
}

fn parse_colour(raw: &str) -> Result<String, DomainError> {
    let c = raw.trim();
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|d| d.is_ascii_hexdigit());
    if ok {
        Ok(c.to_ascii_lowercase())
    } else {
        Err(invalid(
            "colour",
            format!("{raw:?} is not a colour like \"#1a2b3c\""),
        ))
    }
}

/// The poker variant dealt at a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Game {
    /// No-limit Texas hold'em.
    Nlhe,
    /// Limit hold'em.
    Lhe,
    /// Pot-limit Omaha.
    Plo,
    /// Five-card pot-limit Omaha.
    Plo5,
    /// Seven-card stud.
    Stud,
    /// A mixed-game rotation.
    Mixed,
}

impl Game {
    pub const ALL: [Game; 6] = [
        Game::Nlhe,
        Game::Lhe,
        Game::Plo,
        Game::Plo5,
        Game::Stud,
        Game::Mixed,
    ];

    /// The short name players use.
    pub fn label(self) -> &'static str {
        match self {
            Game::Nlhe => "NLHE",
            Game::Lhe => "LHE",
            Game::Plo => "PLO",
            Game::Plo5 => "PLO5",
            Game::Stud => "Stud",
            Game::Mixed => "Mixed",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Game::Nlhe => "nlhe",
            Game::Lhe => "lhe",
            Game::Plo => "plo",
            Game::Plo5 => "plo5",
            Game::Stud => "stud",
            Game::Mixed => "mixed",
        }
    }

    pub fn from_code(code: &str) -> Option<Game> {
        Game::ALL.into_iter().find(|g| g.code() == code)
    }
}

/// Blinds for a cash table, in whole currency units (no money is handled; this is game information).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(try_from = "RawStakes")]
pub struct Stakes {
    small_blind: u32,
    big_blind: u32,
}

#[derive(Deserialize)]
struct RawStakes {
    small_blind: u32,
    big_blind: u32,
}

impl TryFrom<RawStakes> for Stakes {
    type Error = DomainError;
    fn try_from(raw: RawStakes) -> Result<Self, DomainError> {
        Stakes::new(raw.small_blind, raw.big_blind)
    }
}

impl Stakes {
    pub fn new(small_blind: u32, big_blind: u32) -> Result<Stakes, DomainError> {
        if small_blind == 0 {
            return Err(invalid("stakes", "the small blind must be at least 1"));
        }
        if big_blind < small_blind {
            return Err(invalid(
                "stakes",
                format!("the big blind ({big_blind}) must not be smaller than the small blind ({small_blind})"),
            ));
        }
        Ok(Stakes {
            small_blind,
            big_blind,
        })
    }
    pub fn small_blind(self) -> u32 {
        self.small_blind
    }
    pub fn big_blind(self) -> u32 {
        self.big_blind
    }
}

impl fmt::Display for Stakes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.small_blind, self.big_blind)
    }
}

/// Seats at a table: 2 to 10.
pub const SEATS: std::ops::RangeInclusive<u8> = 2..=10;

pub(crate) fn check_seats(seats: u8) -> Result<u8, DomainError> {
    if SEATS.contains(&seats) {
        Ok(seats)
    } else {
        Err(invalid(
            "seats",
            format!(
                "a table has {} to {} seats (got {seats})",
                SEATS.start(),
                SEATS.end()
            ),
        ))
    }
}

/// Branding shown on the staff UI and, later, the wall displays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Branding {
    pub primary: Colour,
    pub accent: Colour,
    pub background: Colour,
}

/// A venue's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VenueSettings {
    pub name: VenueName,
    pub timezone: Timezone,
    pub branding: Branding,
}

impl Default for VenueSettings {
    fn default() -> Self {
        VenueSettings {
            name: VenueName("My poker room".into()),
            timezone: Timezone("UTC".into()),
            branding: Branding {
                primary: Colour("#1f8a4c".into()),
                accent: Colour("#f2c94c".into()),
                background: Colour("#0b0f14".into()),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    Open,
    Closed,
    /// Being set up: players may be seated, the game has not started.
    Starting,
}

impl TableStatus {
    pub fn code(self) -> &'static str {
        match self {
            TableStatus::Open => "open",
            TableStatus::Closed => "closed",
            TableStatus::Starting => "starting",
        }
    }
}

/// A physical poker table in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PokerTable {
    pub id: Uuid,
    pub name: TableName,
    pub game: Game,
    pub stakes: Stakes,
    pub seats: u8,
    pub status: TableStatus,
    /// A must-move table feeds the main game of the same game and stakes.
    #[serde(default)]
    pub must_move: bool,
}

/// What a node knows about its venue: the fold of every venue and table event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VenueState {
    pub settings: VenueSettings,
    pub tables: BTreeMap<Uuid, PokerTable>,
    pub staff: StaffDirectory,
    pub players: BTreeMap<Uuid, Player>,
    pub cash: CashState,
    pub tournaments: BTreeMap<Uuid, Tournament>,
    /// Templates staff saved, by lower-case name (the built-in ones are in code).
    pub templates: BTreeMap<String, Structure>,
    pub displays: crate::displays::DisplayState,
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
    fn table(&self, id: Uuid) -> Result<&PokerTable, DomainError> {
        self.tables.get(&id).ok_or(DomainError::UnknownTable(id))
    }

    fn name_taken(&self, name: &TableName, except: Option<Uuid>) -> bool {
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

    fn decide_day2(
        &self,
        tournament_id: Uuid,
        name: String,
        flights: Vec<Uuid>,
        tables: u16,
        seats: u8,
    ) -> Result<EventKind, DomainError> {
        if self.tournaments.contains_key(&tournament_id) {
            return Err(DomainError::Conflict(format!(
                "a tournament with id {tournament_id} already exists"
            )));
        }
        let name = checked_name(&name)?;
        checked_tables(tables, seats)?;
        let unique: std::collections::BTreeSet<&Uuid> = flights.iter().collect();
        if flights.is_empty() || unique.len() != flights.len() {
            return Err(DomainError::Invalid {
                field: "flights",
                reason: "name each flight once".into(),
            });
        }
        let mut found = Vec::new();
        for id in &flights {
            let f = self
                .tournaments
                .get(id)
                .ok_or_else(|| DomainError::NotFound(format!("no flight with id {id}")))?;
            if f.status != crate::tournament::play::Status::Bagged {
                return Err(DomainError::Conflict(format!(
                    "flight {:?} has not been bagged yet",
                    f.name
                )));
            }
            if f.fed_day2.is_some() {
                return Err(DomainError::Conflict(format!(
                    "flight {:?} is already in a Day 2",
                    f.name
                )));
            }
            found.push(f);
        }
        let entrants = Tournament::day2_entrants(&found);
        if entrants.len() < 2 {
            return Err(DomainError::Conflict(
                "a Day 2 needs at least two survivors".into(),
            ));
        }
        let room = tables as usize * seats as usize;
        if entrants.len() > room {
            return Err(DomainError::Invalid {
                field: "tables",
                reason: format!("{} survivors need more than {room} seats", entrants.len()),
            });
        }
        Ok(EventKind::Day2Created {
            tournament_id,
            name,
            structure: found[0].structure.clone(),
            tables,
            seats,
            day2: Tournament::day2_of(&found),
            entrants,
        })
    }

    pub fn decide(&self, command: &Command) -> Result<EventKind, DomainError> {
        match command.clone() {
            Command::UpdateSettings(settings) => Ok(EventKind::VenueSettingsUpdated { settings }),
            Command::CreateTable {
                table_id,
                name,
                game,
                stakes,
                seats,
            } => {
                if self.tables.contains_key(&table_id) {
                    return Err(DomainError::Conflict(format!(
                        "a table with id {table_id} already exists"
                    )));
                }
                if self.name_taken(&name, None) {
                    return Err(DomainError::Conflict(format!(
                        "there is already a table called \"{name}\""
                    )));
                }
                Ok(EventKind::TableCreated {
                    table_id,
                    name,
                    game,
                    stakes,
                    seats: check_seats(seats)?,
                })
            }
            Command::RenameTable { table_id, name } => {
                self.table(table_id)?;
                if self.name_taken(&name, Some(table_id)) {
                    return Err(DomainError::Conflict(format!(
                        "there is already a table called \"{name}\""
                    )));
                }
                Ok(EventKind::TableRenamed { table_id, name })
            }
            Command::SetTableGame {
                table_id,
                game,
                stakes,
            } => {
                let table = self.table(table_id)?;
                let seated = self
                    .cash
                    .seats
                    .keys()
                    .filter(|(t, _)| *t == table_id)
                    .count();
                if seated > 0 && (table.game, table.stakes) != (game, stakes) {
                    // Seated players may be waiting for the new game: change it on an empty table.
                    return Err(DomainError::Conflict(format!(
                        "table {} has {seated} player(s) seated; change the game once it is empty",
                        table.name
                    )));
                }
                Ok(EventKind::TableGameSet {
                    table_id,
                    game,
                    stakes,
                })
            }
            Command::OpenTable { table_id } => match self.table(table_id)?.status {
                TableStatus::Open => Err(DomainError::Conflict(format!(
                    "table {} is already open",
                    self.table(table_id)?.name
                ))),
                _ => Ok(EventKind::TableOpened { table_id }),
            },
            Command::StartTable { table_id } => match self.table(table_id)?.status {
                TableStatus::Closed => Ok(EventKind::TableStarting { table_id }),
                _ => Err(DomainError::Conflict(format!(
                    "table {} is already running or starting",
                    self.table(table_id)?.name
                ))),
            },
            Command::CloseTable { table_id } => {
                let table = self.table(table_id)?;
                if table.status == TableStatus::Closed {
                    return Err(DomainError::Conflict(format!(
                        "table {} is already closed",
                        table.name
                    )));
                }
                let seated = self
                    .cash
                    .seats
                    .keys()
                    .filter(|(t, _)| *t == table_id)
                    .count();
                if seated > 0 {
                    return Err(DomainError::Conflict(format!(
                        "table {} still has {seated} player(s) seated; move them or mark them gone first",
                        table.name
                    )));
                }
                Ok(EventKind::TableClosed { table_id })
            }
            Command::CreatePlayer { player_id, details } => {
                if self.players.contains_key(&player_id) {
                    return Err(DomainError::Conflict(format!(
                        "a player with id {player_id} already exists"
                    )));
                }
                Ok(EventKind::PlayerCreated {
                    player_id,
                    details: details.checked()?,
                })
            }
            Command::UpdatePlayer { player_id, details } => {
                if !self.players.contains_key(&player_id) {
                    return Err(DomainError::NotFound(format!(
                        "no player with id {player_id}"
                    )));
                }
                Ok(EventKind::PlayerUpdated {
                    player_id,
                    details: details.checked()?,
                })
            }
            Command::Cash(c) => cash::decide(self, &c).map(EventKind::Cash),
            Command::CreateTournament {
                tournament_id,
                name,
                structure,
                tables,
                seats,
            } => {
                if self.tournaments.contains_key(&tournament_id) {
                    return Err(DomainError::Conflict(format!(
                        "a tournament with id {tournament_id} already exists"
                    )));
                }
                let name = checked_name(&name)?;
                structure.validate().map_err(|e| DomainError::Invalid {
                    field: "structure",
                    reason: e.to_string(),
                })?;
                checked_tables(tables, seats)?;
                Ok(EventKind::TournamentCreated {
                    tournament_id,
                    name,
                    structure: *structure,
                    tables,
                    seats,
                })
            }
            Command::Tournament {
                tournament_id,
                command,
            } => {
                let t = self.tournaments.get(&tournament_id).ok_or_else(|| {
                    DomainError::NotFound(format!("no tournament with id {tournament_id}"))
                })?;
                let event = t.decide(&command)?;
                Ok(EventKind::TournamentPlayed {
                    tournament_id,
                    event,
                })
            }
            Command::CreateDay2 {
                tournament_id,
                name,
                flights,
                tables,
                seats,
            } => self.decide_day2(tournament_id, name, flights, tables, seats),
            Command::SaveTemplate { structure } => {
                structure.validate().map_err(|e| DomainError::Invalid {
                    field: "structure",
                    reason: e.to_string(),
                })?;
                let builtin = crate::tournament::structure::templates()
                    .iter()
                    .any(|t| t.name.eq_ignore_ascii_case(structure.name.trim()));
                if builtin {
                    return Err(DomainError::Conflict(format!(
                        "{:?} is a built-in template: save your copy under another name",
                        structure.name
                    )));
                }
                let mut structure = *structure;
                structure.name = structure.name.trim().to_owned();
                Ok(EventKind::TemplateSaved { structure })
            }
            Command::Display { change, at_ms } => Ok(EventKind::DisplayChanged {
                change: self.displays.decide(change, at_ms)?,
            }),
            Command::RecordUpdate {
                container,
                image,
                outcome,
                detail,
            } => Ok(EventKind::UpdateFinished {
                container,
                image,
                outcome,
                detail,
            }),
            Command::RecordLeafRestart {
                down_for_ms,
                method,
            } => Ok(EventKind::LeafRestarted {
                down_for_ms,
                method,
            }),
            Command::DeleteTemplate { name } => {
                if !self.templates.contains_key(&name.trim().to_lowercase()) {
                    return Err(DomainError::NotFound(format!(
                        "no saved template called {name:?}"
                    )));
                }
                Ok(EventKind::TemplateDeleted {
                    name: name.trim().to_owned(),
                })
            }
            Command::CreateStaff {
                user_id,
                username,
                display_name,
                role,
                password_hash,
                pin_hash,
            } => {
                if self.staff.by_username(&username).is_some() {
                    return Err(DomainError::Conflict(format!(
                        "there is already a user called \"{username}\""
                    )));
                }
                if password_hash.is_none() && pin_hash.is_none() {
                    return Err(DomainError::Invalid {
                        field: "password",
                        reason: "give a password, a PIN, or both".into(),
                    });
                }
                Ok(EventKind::StaffUserCreated {
                    user_id,
                    username,
                    display_name: check_display_name(&display_name)?,
                    role,
                    password_hash,
                    pin_hash,
                })
            }
            Command::SetStaffRole { user_id, role } => {
                let user = self.staff.user(user_id)?;
                self.staff.keeps_an_admin(user_id, role, user.enabled)?;
                Ok(EventKind::StaffRoleChanged { user_id, role })
            }
            Command::SetStaffEnabled { user_id, enabled } => {
                let user = self.staff.user(user_id)?;
                self.staff.keeps_an_admin(user_id, user.role, enabled)?;
                Ok(if enabled {
                    EventKind::StaffUserEnabled { user_id }
                } else {
                    EventKind::StaffUserDisabled { user_id }
                })
            }
            Command::SetPassword {
                user_id,
                password_hash,
            } => {
                self.staff.user(user_id)?;
                Ok(EventKind::StaffPasswordSet {
                    user_id,
                    password_hash,
                })
            }
            Command::SetPin { user_id, pin_hash } => {
                self.staff.user(user_id)?;
                Ok(EventKind::StaffPinSet { user_id, pin_hash })
            }
            Command::RecordLockout {
                scope,
                subject,
                until_ms,
            } => Ok(EventKind::LoginLockedOut {
                scope,
                subject,
                until_ms,
            }),
            Command::ClearLockout { scope, subject } => {
                Ok(EventKind::LoginLockoutCleared { scope, subject })
            }
            Command::RevokeSession {
                sid,
                user_id,
                until_secs,
            } => Ok(EventKind::SessionRevoked {
                sid,
                user_id,
                until_secs,
            }),
            Command::CreateApiKey {
                key_id,
                user_id,
                name,
                secret_hash,
            } => {
                self.staff.user(user_id)?;
                Ok(EventKind::ApiKeyCreated {
                    key_id,
                    user_id,
                    name: check_display_name(&name).map_err(|_| DomainError::Invalid {
                        field: "name",
                        reason: "use 1 to 60 characters".into(),
                    })?,
                    secret_hash,
                })
            }
            Command::RevokeApiKey { key_id } => match self.staff.api_keys.get(&key_id) {
                None => Err(DomainError::UnknownApiKey(key_id)),
                Some(k) if k.revoked => Err(DomainError::Conflict(
                    "that API key is already revoked".into(),
                )),
                Some(_) => Ok(EventKind::ApiKeyRevoked { key_id }),
            },
        }
    }

    /// Folds one event into the state. Events for unknown tables are ignored:
    /// `decide` never produces them, and replay must not fail on history.
    pub fn apply(&mut self, event: &EventKind) {
        match event.clone() {
            EventKind::VenueSettingsUpdated { settings } => self.settings = settings,
            EventKind::TableCreated {
                table_id,
                name,
                game,
                stakes,
                seats,
            } => {
                self.tables.insert(
                    table_id,
                    PokerTable {
                        id: table_id,
                        name,
                        game,
                        stakes,
                        seats,
                        status: TableStatus::Closed,
                        must_move: false,
                    },
                );
            }
            EventKind::TableRenamed { table_id, name } => {
                if let Some(t) = self.tables.get_mut(&table_id) {
                    t.name = name;
                }
            }
            EventKind::TableGameSet {
                table_id,
                game,
                stakes,
            } => {
                if let Some(t) = self.tables.get_mut(&table_id) {
                    t.game = game;
                    t.stakes = stakes;
                }
            }
            EventKind::TableOpened { table_id } => {
                if let Some(t) = self.tables.get_mut(&table_id) {
                    t.status = TableStatus::Open;
                }
            }
            EventKind::TableClosed { table_id } => {
                if let Some(t) = self.tables.get_mut(&table_id) {
                    t.status = TableStatus::Closed;
                }
            }
            EventKind::TableStarting { table_id } => {
                if let Some(t) = self.tables.get_mut(&table_id) {
                    t.status = TableStatus::Starting;
                }
            }
            EventKind::PlayerCreated { player_id, details }
            | EventKind::PlayerUpdated { player_id, details } => {
                self.players
                    .insert(player_id, Player::from_details(player_id, details));
            }
            EventKind::Cash(e) => cash::apply(self, &e),
            EventKind::TournamentCreated {
                tournament_id,
                name,
                structure,
                tables,
                seats,
            } => {
                let mut t = Tournament::new(tournament_id, structure, tables, seats);
                t.name = name;
                self.tournaments.insert(tournament_id, t);
            }
            EventKind::TournamentPlayed {
                tournament_id,
                event,
            } => {
                if let Some(t) = self.tournaments.get_mut(&tournament_id) {
                    t.apply(&event);
                }
            }
            EventKind::Day2Created {
                tournament_id,
                name,
                structure,
                tables,
                seats,
                day2,
                entrants,
            } => {
                for f in &day2.flights {
                    if let Some(f) = self.tournaments.get_mut(f) {
                        f.fed_day2 = Some(tournament_id);
                    }
                }
                let mut t =
                    Tournament::new_day2(tournament_id, structure, tables, seats, day2, &entrants);
                t.name = name;
                self.tournaments.insert(tournament_id, t);
            }
            EventKind::DisplayChanged { change } => self.displays.apply(&change),
            EventKind::TemplateSaved { structure } => {
                self.templates
                    .insert(structure.name.to_lowercase(), structure);
            }
            EventKind::TemplateDeleted { name } => {
                self.templates.remove(&name.to_lowercase());
            }
            EventKind::LeafRestarted { .. } | EventKind::UpdateFinished { .. } => {}
            EventKind::StaffUserCreated {
                user_id,
                username,
                display_name,
                role,
                password_hash,
                pin_hash,
            } => {
                self.staff.users.insert(
                    user_id,
                    StaffUser {
                        id: user_id,
                        username,
                        display_name,
                        role,
                        enabled: true,
                        password_hash,
                        pin_hash,
                        epoch: 0,
                    },
                );
            }
            EventKind::StaffRoleChanged { user_id, role } => {
                if let Some(u) = self.staff.users.get_mut(&user_id) {
                    u.role = role;
                }
            }
            EventKind::StaffUserDisabled { user_id } | EventKind::StaffUserEnabled { user_id } => {
                let enabled = matches!(event, EventKind::StaffUserEnabled { .. });
                if let Some(u) = self.staff.users.get_mut(&user_id) {
                    u.enabled = enabled;
                    if !enabled {
                        u.epoch += 1;
                    }
                }
            }
            EventKind::StaffPasswordSet {
                user_id,
                password_hash,
            } => {
                if let Some(u) = self.staff.users.get_mut(&user_id) {
                    u.password_hash = Some(password_hash);
                    u.epoch += 1;
                }
            }
            EventKind::StaffPinSet { user_id, pin_hash } => {
                if let Some(u) = self.staff.users.get_mut(&user_id) {
                    u.pin_hash = pin_hash;
                    u.epoch += 1;
                }
            }
            EventKind::LoginLockedOut { .. }
            | EventKind::LoginLockoutCleared { .. }
            | EventKind::SessionRevoked { .. } => {}
            EventKind::ApiKeyCreated {
                key_id,
                user_id,
                name,
                secret_hash,
            } => {
                let epoch = self.staff.users.get(&user_id).map_or(0, |u| u.epoch);
                self.staff.api_keys.insert(
                    key_id,
                    ApiKey {
                        id: key_id,
                        user_id,
                        name,
                        secret_hash,
                        revoked: false,
                        epoch,
                    },
                );
            }
            EventKind::ApiKeyRevoked { key_id } => {
                if let Some(k) = self.staff.api_keys.get_mut(&key_id) {
                    k.revoked = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(state: &VenueState, id: u128, name: &str) -> Result<EventKind, DomainError> {
        state.decide(&Command::CreateTable {
            table_id: Uuid::from_u128(id),
            name: TableName::parse(name)?,
            game: Game::Nlhe,
            stakes: Stakes::new(1, 2)?,
            seats: 9,
        })
    }

    #[test]
    fn a_blank_table_name_is_rejected() {
        assert!(TableName::parse("   ").is_err());
    }

    #[test]
    fn a_table_name_longer_than_40_characters_is_rejected() {
        assert!(TableName::parse(&"x".repeat(41)).is_err());
        assert!(TableName::parse(&"é".repeat(40)).is_ok());
    }

    #[test]
    fn a_big_blind_below_the_small_blind_is_rejected() {
        assert!(Stakes::new(5, 2).is_err());
        assert!(Stakes::new(0, 2).is_err());
        assert!(Stakes::new(2, 2).is_ok());
    }

    #[test]
    fn stakes_from_json_are_checked_too() {
        let bad: Result<Stakes, _> = serde_json::from_str(r#"{"small_blind":5,"big_blind":2}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn colours_must_be_six_hex_digits_and_are_stored_lower_case() {
        assert_eq!(
            Colour::parse("#AABBCC").map(|c| c.to_string()),
            Ok("#aabbcc".into())
        );
        assert!(Colour::parse("red").is_err());
        assert!(Colour::parse("#abc").is_err());
    }

    #[test]
    fn time_zones_look_like_iana_names() {
        assert!(Timezone::parse("Europe/London").is_ok());
        assert!(Timezone::parse("America/Argentina/Buenos_Aires").is_ok());
        assert!(Timezone::parse("UTC").is_ok());
        assert!(Timezone::parse("london").is_err());
        assert!(Timezone::parse("Europe/../etc").is_err());
    }

    #[test]
    fn two_tables_cannot_share_a_name_whatever_the_case() {
        let mut state = VenueState::default();
        let ev = create(&state, 1, "Table 1").expect("first table");
        state.apply(&ev);
        assert!(matches!(
            create(&state, 2, "table 1"),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn a_new_table_starts_closed_and_opens_once() {
        let mut state = VenueState::default();
        let ev = create(&state, 1, "Table 1").expect("create");
        state.apply(&ev);
        let id = Uuid::from_u128(1);
        assert_eq!(state.tables[&id].status, TableStatus::Closed);
        let open = state
            .decide(&Command::OpenTable { table_id: id })
            .expect("open");
        state.apply(&open);
        assert_eq!(state.tables[&id].status, TableStatus::Open);
        assert!(state.decide(&Command::OpenTable { table_id: id }).is_err());
    }

    #[test]
    fn renaming_an_unknown_table_names_the_id() {
        let state = VenueState::default();
        let id = Uuid::from_u128(9);
        let err = state.decide(&Command::RenameTable {
            table_id: id,
            name: TableName::parse("X").unwrap_or_else(|_| unreachable!()),
        });
        assert_eq!(err, Err(DomainError::UnknownTable(id)));
    }

    #[test]
    fn seats_outside_two_to_ten_are_rejected() {
        let state = VenueState::default();
        let cmd = |seats| Command::CreateTable {
            table_id: Uuid::from_u128(1),
            name: TableName::parse("T").unwrap_or_else(|_| unreachable!()),
            game: Game::Plo,
            stakes: Stakes::new(1, 2).unwrap_or_else(|_| unreachable!()),
            seats,
        };
        assert!(state.decide(&cmd(1)).is_err());
        assert!(state.decide(&cmd(11)).is_err());
        assert!(state.decide(&cmd(10)).is_ok());
    }
}
