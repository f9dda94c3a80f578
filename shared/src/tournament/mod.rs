//! Tournaments: structures (`structure`), the clock as pure maths (`clock`),
//! and the field (`play`: entries, re-entries, rebuys and add-ons, the seat
//! draw, balancing and table breaks, the final table, bust-outs, places,
//! stats, payouts, flights and Day 2, undo). The node's API and pages are
//! in `node/src/http/tournament*.rs`; see docs/TOURNAMENTS.md.

pub mod clock;
pub mod play;
pub mod structure;

pub use clock::{ClockState, ClockView};
pub use structure::{Ante, Step, Structure, StructureError};
