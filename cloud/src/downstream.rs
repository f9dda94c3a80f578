//! Messages down to a venue's node: signed by the hub's key and kept on
//! `PVM_DOWN` until the node's durable consumer takes them.

use crate::{ingest, now_ms, App};
use anyhow::Context;
use uuid::Uuid;

/// The node's durable downstream consumer, filtered to its venue (idempotent).
/// A resynced node (`from_now`) gets only messages sent from then on: it
/// applied the earlier ones under its old id.
pub async fn ensure_down_consumer(
    app: &App,
    node: Uuid,
    venue: Uuid,
    from_now: bool,
) -> anyhow::Result<()> {
    use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
    let name = format!("node-{node}");
    if app
        .js
        .get_consumer_from_stream::<pull::Config, _, _>(&name, ingest::DOWN_STREAM)
        .await
        .is_ok()
    {
        return Ok(());
    }
    app.js
        .create_consumer_on_stream(
            pull::Config {
                durable_name: Some(name),
                filter_subject: format!("pvm.down.{venue}.>"),
                ack_policy: AckPolicy::Explicit,
                ack_wait: std::time::Duration::from_secs(30),
                deliver_policy: if from_now {
                    DeliverPolicy::New
                } else {
                    DeliverPolicy::All
                },
                ..Default::default()
            },
            ingest::DOWN_STREAM,
        )
        .await
        .context("creating the node's downstream consumer")?;
    Ok(())
}

/// Signs a message for a venue's node and puts it on `PVM_DOWN` (kept until the node takes it).
pub async fn send_down(
    app: &App,
    venue: Uuid,
    kind: &str,
    body: pvm_shared::down::DownBody,
) -> anyhow::Result<Uuid> {
    send_down_at(app, venue, kind, body, now_ms() as u64).await
}

/// [`send_down`], issued at `issued_ms`.
pub async fn send_down_at(
    app: &App,
    venue: Uuid,
    kind: &str,
    body: pvm_shared::down::DownBody,
    issued_ms: u64,
) -> anyhow::Result<Uuid> {
    let message = pvm_shared::down::DownMessage {
        id: Uuid::now_v7(),
        venue_id: venue,
        issued_ms,
        body,
        sig: String::new(),
    }
    .sign(&app.key.current());
    let bytes = serde_json::to_vec(&message)?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", message.id.to_string().as_str());
    if matches!(message.body, pvm_shared::down::DownBody::Staff { .. }) {
        // The newest accounts list is the only one kept for the venue.
        headers.insert("Nats-Rollup", "sub");
    }
    app.js
        .publish_with_headers(format!("pvm.down.{venue}.{kind}"), headers, bytes.into())
        .await
        .map_err(|e| anyhow::anyhow!("publishing downstream: {e}"))?
        .await
        .map_err(|e| anyhow::anyhow!("downstream not stored: {e}"))?;
    Ok(message.id)
}
