//! Wall screens: what staff decide about them (names, groups, playlists,
//! announcements, slides, theme, logo).

use crate::store::{AppendError, Committed, Log};
use pvm_shared::displays::DisplayEvent;
use pvm_shared::venue::Command;
use pvm_shared::Actor;

/// Applies one decision about the screens, stamped `at_ms`.
pub async fn change(
    log: &Log,
    actor: Actor,
    at_ms: u64,
    change: DisplayEvent,
) -> Result<Committed, AppendError> {
    log.append(actor, Command::Display { change, at_ms }).await
}
