//! Display images: see `pvm_display::media` (shared with the hub).
pub use pvm_display::media::*;
