//! Container updates: how one ended, recorded in the log (by the updater
//! through the control socket, or by the node refusing or starting one the
//! hub sent); and the hub's order to wipe the node.

use crate::store::{AppendError, Committed, Log};
use pvm_shared::venue::Command;
use pvm_shared::Actor;

/// How a container update ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub container: String,
    pub image: String,
    /// "started", "done", "rolled back", "refused" …
    pub outcome: String,
    pub detail: String,
}

/// Records how an update ended.
pub async fn record(log: &Log, actor: Actor, r: Record) -> Result<Committed, AppendError> {
    let command = Command::RecordUpdate {
        container: r.container,
        image: r.image,
        outcome: r.outcome,
        detail: r.detail,
    };
    log.append(actor, command).await
}

/// Records the hub's order to wipe this node (its signed message's id).
pub async fn record_wipe(
    log: &Log,
    actor: Actor,
    message_id: uuid::Uuid,
) -> Result<Committed, AppendError> {
    log.append(actor, Command::RecordWipe { message_id }).await
}

/// Records what this node did with a message from the hub: the hub reads it
/// as the message's delivery state. The detail is cut to what an event may
/// carry.
pub async fn record_down_handled(
    log: &Log,
    actor: Actor,
    message_id: uuid::Uuid,
    kind: &str,
    outcome: &str,
    detail: &str,
) -> Result<Committed, AppendError> {
    let mut detail = detail.to_owned();
    let max = pvm_shared::venue::MAX_DOWN_DETAIL;
    if detail.len() > max {
        let mut cut = max;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
    }
    log.append(
        actor,
        Command::RecordDownHandled {
            message_id,
            kind: kind.into(),
            outcome: outcome.into(),
            detail,
        },
    )
    .await
}
