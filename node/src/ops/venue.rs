//! The venue's own settings.

use crate::store::{AppendError, Committed, Log};
use pvm_shared::venue::{Command, VenueSettings};
use pvm_shared::Actor;

/// Replaces the venue's name, time zone and branding.
pub async fn update_settings(
    log: &Log,
    actor: Actor,
    settings: VenueSettings,
) -> Result<Committed, AppendError> {
    log.append(actor, Command::UpdateSettings(settings)).await
}
