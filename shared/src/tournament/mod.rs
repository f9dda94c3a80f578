//! Tournaments: structures and the clock (this slice); entries, seating and
//! balancing come next (issue 3).

pub mod clock;
pub mod structure;

pub use clock::{ClockState, ClockView};
pub use structure::{Ante, Step, Structure, StructureError};
