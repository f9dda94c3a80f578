//! The venue's values, parsed into types that cannot hold nonsense: names,
//! time zones, colours, games, stakes, seats, settings and tables; and the
//! domain's one error type.

use super::*;

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

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Trims a name and checks its length in characters and that it has no control characters.
pub(crate) fn parse_name(
    field: &'static str,
    raw: &str,
    max: usize,
) -> Result<String, DomainError> {
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

impl Timezone {
    /// The zone from the IANA time zone database (chrono-tz), or why not.
    pub fn known(&self) -> Result<chrono_tz::Tz, DomainError> {
        self.0.parse::<chrono_tz::Tz>().map_err(|_| {
            invalid(
                "timezone",
                format!(
                    "{:?} is not a time zone in the IANA database; pick one such as \"Europe/London\" or \"America/New_York\"",
                    self.0
                ),
            )
        })
    }

    /// A moment (Unix ms) as the venue's clocks show it, e.g. "Fri 4 Dec
    /// 13:14:02"; in UTC (marked so) when the zone is not one chrono-tz knows.
    pub fn local_time(&self, unix_ms: u64) -> String {
        use chrono::TimeZone;
        let utc = chrono::Utc.timestamp_millis_opt(unix_ms as i64).single();
        match (utc, self.known()) {
            (Some(t), Ok(tz)) => t
                .with_timezone(&tz)
                .format("%a %-d %b %H:%M:%S")
                .to_string(),
            (Some(t), Err(_)) => t.format("%a %-d %b %H:%M:%S UTC").to_string(),
            (None, _) => format!("{unix_ms} ms"),
        }
    }

    /// Every zone name a venue can pick, sorted.
    pub fn all_names() -> Vec<&'static str> {
        let mut names: Vec<&'static str> =
            chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
        names.sort_unstable();
        names
    }
}

pub(crate) fn parse_timezone(raw: &str) -> Result<String, DomainError> {
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

pub(crate) fn parse_colour(raw: &str) -> Result<String, DomainError> {
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
pub(crate) struct RawStakes {
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
