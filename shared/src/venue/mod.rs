//! Venue settings and poker tables: the first domain slice.
//!
//! `decide` checks a command against the current state and yields the event
//! that records it; `apply` folds an event into the state. Values are parsed
//! into types that cannot hold nonsense (a blank name, stakes that go down).
//!
//! `values` (names, games, stakes, settings, tables), `state` (`VenueState`,
//! `Command`), `decide` and `apply`; the tests in `tests.rs`.

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

mod apply;
mod decide;
mod state;
mod values;

pub use state::*;
pub use values::*;

#[cfg(test)]
mod tests;
