//! The node's use cases: each operation takes typed input and the actor,
//! builds the commands (a walk-in player included), appends them as one
//! atomic batch and returns what was committed. API handlers and staff
//! pages call these instead of building commands themselves, so one action
//! has one behaviour whichever door it comes in by.
//!
//! Operations never parse HTTP input and never render: that is `http`'s.
//! Errors are the writer's `AppendError` (a refusal carries the domain's
//! `DomainError`), which `http::error` maps for the API and the pages alike.

pub mod cash;
pub mod displays;
pub mod players;
pub mod staff;
pub mod tables;
pub mod tournaments;
pub mod updates;
pub mod venue;

use crate::store::{AppendError, Committed};

/// The last of a batch's committed events (the one a caller reports).
fn last(committed: Vec<Committed>) -> Result<Committed, AppendError> {
    committed
        .into_iter()
        .last()
        .ok_or_else(|| AppendError::Storage("nothing was appended".into()))
}
