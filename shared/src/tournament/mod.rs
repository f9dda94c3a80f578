//! Tournaments: structures, the clock, and the field (entries, the seat draw,
//! bust-outs, places, stats). Balancing, undo, flights, events in the log,
//! the API and the pages come next (issue 3).

pub mod clock;
pub mod play;
pub mod structure;

pub use clock::{ClockState, ClockView};
pub use structure::{Ante, Step, Structure, StructureError};
