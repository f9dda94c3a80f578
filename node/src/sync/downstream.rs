//! Messages from the hub (templates, announcements, updates): verified,
//! applied once, acked only when applied or refused for good.

use super::*;

/// Why a message applied already is refused.
const REPLAY: &str = "it was applied here already (a replay)";

/// Hub messages remembered as applied (the newest by issue time).
pub(crate) const DOWN_REMEMBERED: i64 = 10_000;

/// Whether a hub message was applied here, or is older than every one
/// remembered (then it is refused too).
pub(crate) async fn down_seen(
    conn: &libsql::Connection,
    id: Uuid,
    issued_ms: u64,
) -> Result<Option<&'static str>, StoreError> {
    let mut rows = conn
        .query(
            "SELECT (SELECT COUNT(*) FROM down_applied WHERE id = ?1), \
             (SELECT COUNT(*) FROM down_applied), (SELECT MIN(issued_ms) FROM down_applied)",
            libsql::params![id.to_string()],
        )
        .await?;
    let Some(row) = rows.next().await? else {
        return Ok(None);
    };
    let (applied, kept, oldest): (i64, i64, Option<i64>) = (row.get(0)?, row.get(1)?, row.get(2)?);
    if applied > 0 {
        return Ok(Some(REPLAY));
    }
    if kept >= DOWN_REMEMBERED && oldest.is_some_and(|o| (issued_ms as i64) < o) {
        return Ok(Some("it is older than every message this node remembers"));
    }
    Ok(None)
}

/// The issue time of the newest hub message of `kind` this node took (a
/// hub accounts list, a list of hub keys; 0 for none).
async fn newest_of_kind(conn: &libsql::Connection, kind: &str) -> Result<u64, StoreError> {
    let mut rows = conn
        .query(
            "SELECT COALESCE(MAX(issued_ms), 0) FROM down_applied WHERE kind = ?1",
            [kind],
        )
        .await?;
    let newest: i64 = match rows.next().await? {
        Some(row) => row.get(0)?,
        None => 0,
    };
    Ok(u64::try_from(newest).unwrap_or(0))
}

pub(crate) async fn remember_down(
    conn: &libsql::Connection,
    id: Uuid,
    kind: &str,
    issued_ms: u64,
    now_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO down_applied (id, kind, issued_ms, applied_ms) VALUES (?1, ?2, ?3, ?4)",
        libsql::params![id.to_string(), kind, issued_ms as i64, now_ms as i64],
    )
    .await?;
    conn.execute(
        "DELETE FROM down_applied WHERE id IN (SELECT id FROM down_applied ORDER BY issued_ms DESC LIMIT -1 OFFSET ?1)",
        libsql::params![DOWN_REMEMBERED],
    )
    .await?;
    Ok(())
}

/// What became of a message from the hub.
pub(crate) enum DownOutcome {
    /// Applied (or refused with an event saying why): ack it and remember it.
    Done(Uuid, &'static str, u64),
    /// Not the hub's, not this venue's, or unreadable: ack it, nothing else.
    Ignored,
    /// The node could not save it now (storage, shutting down): not acked,
    /// so it comes again.
    Later(String),
    /// A wipe order, recorded at `seq` and marked: the node stops and
    /// erases its data once the hub has that seq (see `crate::wipe`).
    Wipe(Uuid, &'static str, u64, u64),
    /// The hub keys to trust from now on (written to `hub.pub`): done, and
    /// the downstream loop verifies with them.
    Keys(Uuid, &'static str, u64, Vec<ed25519_dalek::VerifyingKey>),
}

pub async fn downstream(
    ctx: SyncContext,
    hub_keys: Vec<ed25519_dalek::VerifyingKey>,
    self_update: Option<crate::update::SelfUpdate>,
    data_dir: std::path::PathBuf,
) {
    let mut hub_keys = hub_keys;
    let SyncContext {
        link,
        nats_url,
        db,
        clock,
        stop,
        status,
        ..
    } = &ctx;
    use async_nats::jetstream::consumer::pull;
    use futures_util::StreamExt;
    let conn = match db.connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "downstream cannot open the database");
            return;
        }
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        if stop.is_cancelled() {
            return;
        }
        let client = connect_leaf(link, nats_url).await;
        let consumer = match client {
            Ok(c) => {
                let js = jetstream::with_domain(c, &link.nats_domain);
                js.get_consumer_from_stream::<pull::Config, _, _>(
                    format!("node-{}", link.node_id),
                    "PVM_DOWN",
                )
                .await
                .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let consumer = match consumer {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "downstream: hub not reachable");
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(500);
        loop {
            if stop.is_cancelled() {
                return;
            }
            let batch = consumer
                .fetch()
                .max_messages(50)
                .expires(Duration::from_secs(1))
                .messages()
                .await;
            let Ok(mut messages) = batch else { break };
            let mut failed = false;
            while let Some(m) = messages.next().await {
                let Ok(m) = m else {
                    failed = true;
                    break;
                };
                let outcome = apply_down(
                    &ctx,
                    &conn,
                    &hub_keys,
                    self_update.as_ref(),
                    &data_dir,
                    &m.payload,
                )
                .await;
                match outcome {
                    DownOutcome::Wipe(id, kind, issued_ms, seq) => {
                        if let Err(e) =
                            remember_down(&conn, id, kind, issued_ms, clock.now_ms()).await
                        {
                            tracing::warn!(error = %e, "downstream: the wipe order not remembered");
                        }
                        let _ = m.ack().await;
                        // Reported before it runs: the hub holds the record
                        // once the pump's acked seq reaches it.
                        let until = tokio::time::Instant::now() + crate::wipe::REPORT_WAIT;
                        while status.acked_seq.load(std::sync::atomic::Ordering::Relaxed) < seq
                            && tokio::time::Instant::now() < until
                        {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        let reported =
                            status.acked_seq.load(std::sync::atomic::Ordering::Relaxed) >= seq;
                        tracing::warn!(%id, seq, reported, "the hub ordered this node wiped: stopping to erase its data");
                        stop.cancel();
                        return;
                    }
                    DownOutcome::Keys(id, kind, issued_ms, keys) => {
                        tracing::info!(
                            keys = keys.len(),
                            "now trusting the hub's keys as it sent them"
                        );
                        ctx.auth.set_hub_keys(&keys);
                        hub_keys = keys;
                        // Not acked unless remembered: a replay must be known.
                        if let Err(e) =
                            remember_down(&conn, id, kind, issued_ms, clock.now_ms()).await
                        {
                            tracing::warn!(error = %e, "downstream: the hub keys not remembered; they will come again");
                            failed = true;
                            break;
                        }
                        let _ = m.ack().await;
                    }
                    DownOutcome::Done(id, kind, issued_ms) => {
                        if let Err(e) =
                            remember_down(&conn, id, kind, issued_ms, clock.now_ms()).await
                        {
                            tracing::warn!(error = %e, "downstream: not remembered; it will come again");
                            failed = true;
                            break;
                        }
                        let _ = m.ack().await;
                    }
                    DownOutcome::Ignored => {
                        let _ = m.ack().await;
                    }
                    DownOutcome::Later(e) => {
                        tracing::warn!(error = %e, "downstream: not applied now; it will come again");
                        let _ = m
                            .ack_with(async_nats::jetstream::AckKind::Nak(Some(
                                Duration::from_secs(5),
                            )))
                            .await;
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                break;
            }
        }
        tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
    }
}

/// Applies one message from the hub: checked (the hub's signature, this
/// venue), refused when it was applied already or is an update older than
/// this node (an update refused says so in an event, which reaches the hub),
/// else turned into a command with the cloud as actor.
pub(crate) async fn apply_down(
    ctx: &SyncContext,
    conn: &libsql::Connection,
    hub_keys: &[ed25519_dalek::VerifyingKey],
    self_update: Option<&crate::update::SelfUpdate>,
    data_dir: &std::path::Path,
    payload: &[u8],
) -> DownOutcome {
    let SyncContext {
        link, log, clock, ..
    } = ctx;
    use crate::ops;
    use pvm_shared::down::{DownBody, DownMessage};
    /// What a message asks of the node.
    enum Apply {
        Record(ops::updates::Record),
        Template(pvm_shared::tournament::Structure),
        Announce(pvm_shared::displays::DisplayEvent),
        Wipe(Uuid),
    }
    let message: DownMessage = match serde_json::from_slice(payload) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "downstream: not a hub message; ignored");
            return DownOutcome::Ignored;
        }
    };
    if message.venue_id != link.venue_id || !message.verify_any(hub_keys) {
        tracing::warn!(id = %message.id, "downstream: not signed by the hub for this venue; ignored");
        return DownOutcome::Ignored;
    }
    let kind = match &message.body {
        DownBody::Update { .. } => "update",
        DownBody::Template { .. } => "template",
        DownBody::Announcement { .. } => "announcement",
        DownBody::Wipe { .. } => "wipe",
        DownBody::Staff { .. } => "staff",
        DownBody::HubKeys { .. } => "hub_keys",
        DownBody::LeafCredentials { .. } => "leaf_credentials",
    };
    let done = DownOutcome::Done(message.id, kind, message.issued_ms);
    let seen = match down_seen(conn, message.id, message.issued_ms).await {
        Ok(seen) => seen,
        Err(e) => return DownOutcome::Later(e.to_string()),
    };
    if let DownBody::LeafCredentials { node_id } = &message.body {
        if *node_id != link.node_id || seen.is_some() {
            return done;
        }
        // Taken in the background: restarting the leaf ends this very link.
        if let Err(e) = ops::updates::record_down_handled(
            log,
            pvm_shared::Actor::Cloud,
            message.id,
            kind,
            "started",
            "taking new leaf credentials from the hub",
        )
        .await
        {
            return DownOutcome::Later(e.to_string());
        }
        tokio::spawn(super::leaf_rotation::rotate(
            ctx.clone(),
            data_dir.to_owned(),
            message.id,
        ));
        return done;
    }
    if let DownBody::HubKeys { keys } = &message.body {
        if seen.is_some() {
            return done;
        }
        // A list older than one taken is a replay: it could bring back a
        // key retired since.
        match newest_of_kind(conn, "hub_keys").await {
            Ok(newest) if message.issued_ms <= newest => {
                tracing::warn!(id = %message.id, "downstream: an older list of hub keys; ignored");
                return done;
            }
            Ok(_) => {}
            Err(e) => return DownOutcome::Later(e.to_string()),
        }
        return take_hub_keys(ctx, data_dir, &message, keys).await;
    }
    if let DownBody::Staff { accounts } = &message.body {
        // The accounts list is its own record (`hub_staff_replaced`): no
        // `down_handled` report; a replay or an older list changes nothing.
        if seen.is_some() {
            return done;
        }
        // Older than a list taken (or found the same) before: a redelivery
        // after a newer one must not bring back an account it removed.
        match newest_of_kind(conn, "staff").await {
            Ok(newest) if message.issued_ms <= newest => return done,
            Ok(_) => {}
            Err(e) => return DownOutcome::Later(e.to_string()),
        }
        let n = accounts.len();
        return match ops::staff::replace_hub_staff(log, message.issued_ms, accounts.clone()).await {
            Ok(Some(c)) => {
                tracing::info!(
                    seq = c.seq,
                    accounts = n,
                    "took the hub's accounts for this venue"
                );
                done
            }
            Ok(None) => done,
            Err(crate::store::AppendError::Rejected(e)) => {
                tracing::info!(id = %message.id, "the hub's accounts list not taken: {e}");
                done
            }
            Err(e) => DownOutcome::Later(e.to_string()),
        };
    }
    let apply = match message.body {
        DownBody::Staff { .. } | DownBody::HubKeys { .. } | DownBody::LeafCredentials { .. } => {
            return done
        }
        DownBody::Update { version, images } => {
            let record = |outcome: &str, detail: String| {
                Apply::Record(ops::updates::Record {
                    container: self_update.map_or_else(String::new, |s| s.container.clone()),
                    image: images.get("node").cloned().unwrap_or_default(),
                    outcome: outcome.into(),
                    detail,
                })
            };
            let running = env!("CARGO_PKG_VERSION");
            match (images.get("node"), self_update) {
                _ if seen.is_some() => record(
                    "refused",
                    format!("update {} to version {version}: {}", message.id, seen.unwrap_or_default()),
                ),
                _ if older_version(&version, running) => record(
                    "refused",
                    format!("update {} to version {version}: older than the running {running}", message.id),
                ),
                (Some(image), Some(su)) if pvm_shared::down::by_digest(image) => {
                    let spawned = match crate::update::connect().await {
                        Ok(docker) => crate::update::spawn_helper(&docker, su, image).await,
                        Err(e) => Err(e),
                    };
                    match spawned {
                        Ok(helper) => record(
                            "started",
                            format!("version {version}: the helper {helper} replaces {}", su.container),
                        ),
                        Err(e) => record("refused", format!("version {version}: {e}")),
                    }
                }
                (Some(_), Some(_)) => record("refused", "the node image is not named by digest".into()),
                (None, _) => record("refused", format!("version {version} names no node image")),
                (Some(_), None) => record(
                    "refused",
                    "this node does not run under Docker with --self-container: update it with the installer or by hand".into(),
                ),
            }
        }
        DownBody::Template { structure } => Apply::Template(structure),
        DownBody::Wipe { node_id } if node_id != link.node_id => {
            tracing::warn!(id = %message.id, %node_id, "downstream: a wipe for another node of this venue; ignored");
            return done;
        }
        DownBody::Wipe { .. } => Apply::Wipe(message.id),
        DownBody::Announcement {
            id,
            text,
            group,
            until_ms,
        } => Apply::Announce(pvm_shared::displays::DisplayEvent::Announced {
            announcement: pvm_shared::displays::Announcement {
                id,
                text,
                group,
                until_ms,
            },
        }),
    };
    // A replay was reported the first time; a message older than every one
    // remembered was never reported here (or so long ago the hub has
    // forgotten it): say it is refused.
    let report_refusal = seen.is_some_and(|why| why != REPLAY);
    if let (Some(why), false) = (seen, matches!(apply, Apply::Record(_))) {
        tracing::warn!(id = %message.id, kind, "downstream: refused: {why}");
        if report_refusal {
            if let Err(e) = ops::updates::record_down_handled(
                log,
                pvm_shared::Actor::Cloud,
                message.id,
                kind,
                "refused",
                why,
            )
            .await
            {
                tracing::warn!(error = %e, id = %message.id, "the refusal was not recorded");
            }
        }
        return done;
    }
    let actor = pvm_shared::Actor::Cloud;
    if let Apply::Wipe(id) = apply {
        return match ops::updates::record_wipe(log, actor, id).await {
            Ok(c) => {
                if let Err(e) = crate::wipe::mark(data_dir) {
                    tracing::error!(error = %e, "the wipe marker could not be written; wiping at this stop only");
                }
                DownOutcome::Wipe(message.id, kind, message.issued_ms, c.seq)
            }
            Err(e) => DownOutcome::Later(e.to_string()),
        };
    }
    // What to report back (a replay reported the first time already).
    let (report, applied) = match apply {
        Apply::Record(r) => {
            // A started update is not yet applied: `update_finished` says how it ends.
            let outcome = if r.outcome == "refused" {
                "refused"
            } else {
                "started"
            };
            let report = (outcome, r.detail.clone());
            (report, ops::updates::record(log, actor.clone(), r).await)
        }
        Apply::Template(structure) => {
            let report = (
                "applied",
                format!("saved as the template {}", structure.name),
            );
            (
                report,
                ops::tournaments::save_template(log, actor.clone(), structure).await,
            )
        }
        Apply::Announce(change) => {
            let report = ("applied", "shown on the venue's screens".to_owned());
            (
                report,
                ops::displays::change(log, actor.clone(), clock.now_ms(), change).await,
            )
        }
        Apply::Wipe(_) => return DownOutcome::Later("a wipe is handled above".into()),
    };
    let (outcome, detail) = match applied {
        Ok(c) => {
            tracing::info!(seq = c.seq, id = %message.id, "applied a message from the hub");
            report
        }
        // The message itself cannot be applied (e.g. a template that is
        // not valid here): remembered as done, said in the log.
        Err(crate::store::AppendError::Rejected(e)) => {
            tracing::warn!(error = %e, id = %message.id, "a message from the hub could not be applied");
            ("refused", e.to_string())
        }
        Err(e) => return DownOutcome::Later(e.to_string()),
    };
    if seen.is_none() || report_refusal {
        if let Err(e) =
            ops::updates::record_down_handled(log, actor, message.id, kind, outcome, &detail).await
        {
            tracing::warn!(error = %e, id = %message.id, "what became of a message from the hub was not recorded");
        }
    }
    done
}

/// The hub's keys to trust from now on (a rotation or a retirement): kept
/// in `hub.pub`, reported back; a list that is not 1 to `MAX_HUB_KEYS`
/// ed25519 keys is refused and the keys held stay.
async fn take_hub_keys(
    ctx: &SyncContext,
    data_dir: &std::path::Path,
    message: &pvm_shared::down::DownMessage,
    keys: &[String],
) -> DownOutcome {
    use base64::Engine;
    let parsed: Option<Vec<ed25519_dalek::VerifyingKey>> = keys
        .iter()
        .map(|k| {
            let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
                .decode(k)
                .ok()?
                .try_into()
                .ok()?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
        })
        .collect();
    let kind = "hub_keys";
    let report = |outcome: &'static str, detail: String| async move {
        if let Err(e) = crate::ops::updates::record_down_handled(
            &ctx.log,
            pvm_shared::Actor::Cloud,
            message.id,
            kind,
            outcome,
            &detail,
        )
        .await
        {
            tracing::warn!(error = %e, id = %message.id, "what became of the hub keys was not recorded");
        }
    };
    let keys = match parsed {
        Some(k) if (1..=pvm_shared::down::MAX_HUB_KEYS).contains(&k.len()) => k,
        _ => {
            report(
                "refused",
                format!(
                    "a list of 1 to {} ed25519 keys was expected: the keys held stay",
                    pvm_shared::down::MAX_HUB_KEYS
                ),
            )
            .await;
            return DownOutcome::Done(message.id, kind, message.issued_ms);
        }
    };
    let path = data_dir.join(crate::identity::HUB_KEY_FILE);
    if let Err(e) = super::link::write_secret(&path, &crate::identity::hub_keys_text(&keys)) {
        return DownOutcome::Later(format!("writing {}: {e}", path.display()));
    }
    let current = keys
        .last()
        .map(pvm_shared::auth::key_id)
        .unwrap_or_default();
    report(
        "applied",
        format!(
            "{} hub keys trusted; the hub's current key is {current}",
            keys.len()
        ),
    )
    .await;
    DownOutcome::Keys(message.id, kind, message.issued_ms, keys)
}

/// True when `version` is older than `running` (dotted numbers; anything
/// else is not older).
pub(crate) fn older_version(version: &str, running: &str) -> bool {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.trim_start_matches('v')
            .split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse::<u64>().ok())
            .collect()
    };
    match (parse(version), parse(running)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}
