//! The pump: events past `acked_seq` to the hub in frames, acks in order,
//! and the fork check against the hub's head.

use super::*;

pub(crate) async fn load_acked(conn: &libsql::Connection) -> Result<u64, StoreError> {
    let mut rows = conn
        .query("SELECT acked_seq FROM sync_state WHERE id = 1", ())
        .await?;
    Ok(match rows.next().await? {
        Some(r) => r.get::<i64>(0)? as u64,
        None => 0,
    })
}

pub(crate) async fn save_acked(
    conn: &libsql::Connection,
    acked: u64,
    at_ms: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sync_state (id, acked_seq, last_ack_ms) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET acked_seq = excluded.acked_seq, last_ack_ms = excluded.last_ack_ms",
        libsql::params![acked as i64, at_ms as i64],
    )
    .await?;
    Ok(())
}

/// Compares the hub's head of this node's log (an answer to a heartbeat or a
/// head query) with the log here: the hub's head must be an event of this log.
/// Sets or clears `status`'s fork; returns true when the logs agree.
pub(crate) async fn compare_head(
    link: &HubLink,
    client: &async_nats::Client,
    reader: &Reader,
    status: &SyncStatus,
    answer: &[u8],
) -> bool {
    let Ok(head) = serde_json::from_slice::<HubHead>(answer) else {
        return true;
    };
    let mut theirs = [0u8; 32];
    if head.seq == 0 || hex::decode_to_slice(&head.hash, &mut theirs).is_err() {
        status.set_fork(None);
        return true;
    }
    let ours = match hash_at(reader, head.seq).await {
        Ok(h) => h,
        // The log cannot be read now: decide at the next answer.
        Err(_) => return status.fork().is_none(),
    };
    if ours == Some(theirs) {
        status.set_fork(None);
        status.note_hub_head(head.seq);
        return true;
    }
    // Where the logs part: the first seq whose event differs, found by
    // asking the hub for its hash at a few seqs (a binary search).
    let here = reader.head_seq().await.unwrap_or(0);
    let at = match fork_point(link, client, reader, head.seq.min(here)).await {
        Some(at) => at,
        // The hub did not answer the probes: the next answer tries again.
        None => return status.fork().is_none(),
    };
    status.set_fork(Some(Fork {
        seq: at,
        message: format!(
            "This node's log forked from the hub's at seq {at}: the hub holds other events from there (up to {}) than this node; was it restored from an older backup? Everything here keeps working and is kept, but nothing more is sent to the hub until an administrator runs pvm-node resync (see OPERATIONS.md).",
            head.seq
        ),
    }));
    false
}

/// The hash of this log's event `seq`, if it has one.
pub(crate) async fn hash_at(reader: &Reader, seq: u64) -> Result<Option<[u8; 32]>, StoreError> {
    Ok(reader
        .events_after(seq.saturating_sub(1), 1)
        .await?
        .into_iter()
        .find(|(s, _)| *s == seq)
        .and_then(|(_, bytes)| pvm_shared::envelope::Envelope::decode(&bytes).ok())
        .map(|env| env.hash))
}

/// The first seq in `1..=upto + 1` where this log and the hub's differ,
/// given that they differ somewhere (every seq up to a fork agrees, every
/// one after it differs: the chain carries each hash into the next).
pub(crate) async fn fork_point(
    link: &HubLink,
    client: &async_nats::Client,
    reader: &Reader,
    upto: u64,
) -> Option<u64> {
    let (mut agree, mut differ) = (0u64, upto + 1);
    while differ - agree > 1 {
        let mid = agree + (differ - agree) / 2;
        let theirs = ask_hash(link, client, mid).await?;
        let ours = hash_at(reader, mid).await.ok()?;
        if ours.is_some() && ours == theirs {
            agree = mid;
        } else {
            differ = mid;
        }
    }
    Some(differ)
}

/// The hub's hash of this node's event `seq` (None inside: it has none).
pub(crate) async fn ask_hash(
    link: &HubLink,
    client: &async_nats::Client,
    seq: u64,
) -> Option<Option<[u8; 32]>> {
    let subject = format!("pvm.head.{}.{}", link.venue_id, link.node_id);
    let query = serde_json::json!({ "at": seq }).to_string();
    let answer = tokio::time::timeout(
        Duration::from_secs(3),
        client.request(subject, query.into()),
    )
    .await
    .ok()?
    .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&answer.payload).ok()?;
    if value["at"].as_u64() != Some(seq) {
        return None;
    }
    let mut hash = [0u8; 32];
    Some(
        value["at_hash"]
            .as_str()
            .and_then(|h| hex::decode_to_slice(h, &mut hash).ok())
            .map(|()| hash),
    )
}

/// Asks the hub for its head of this node's log (`pvm.head.<venue>.<node>`).
/// None when the hub does not answer in time (an older hub, or the line is
/// down): the pump goes on, and the hub reports a fork if there is one.
pub(crate) async fn ask_head(link: &HubLink, client: &async_nats::Client) -> Option<Vec<u8>> {
    let subject = format!("pvm.head.{}.{}", link.venue_id, link.node_id);
    let asked = tokio::time::timeout(
        Duration::from_secs(3),
        client.request(subject, Vec::<u8>::new().into()),
    )
    .await;
    match asked {
        Ok(Ok(m)) => Some(m.payload.to_vec()),
        _ => None,
    }
}

/// Publishes the log to the hub until `stop`.
pub async fn pump(ctx: SyncContext) {
    let SyncContext {
        link,
        nats_url,
        db,
        reader,
        status,
        stop,
        ..
    } = &ctx;
    let mut wake = ctx.log.watch_venue();
    status.registered.store(true, Ordering::Relaxed);
    let conn = match db.connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "sync pump cannot open the database");
            return;
        }
    };
    let mut acked = load_acked(&conn).await.unwrap_or(0);
    status.acked_seq.store(acked, Ordering::Relaxed);
    let mut backoff = Duration::from_millis(500);
    loop {
        if stop.is_cancelled() {
            return;
        }
        let client = connect_leaf(link, nats_url).await;
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "sync: local leaf not reachable");
                status.connected.store(false, Ordering::Relaxed);
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        // A log that forked from the hub's is not sent on (the heartbeat
        // keeps asking; `pvm-node resync` is the way out).
        if let Some(answer) = ask_head(link, &client).await {
            compare_head(link, &client, reader, status, &answer).await;
        }
        let js = jetstream::with_domain(client.clone(), &link.nats_domain);
        // Publish until something fails; then back off and start again from `acked`.
        let at = Position {
            acked: &mut acked,
            wake: &mut wake,
            backoff: &mut backoff,
        };
        let result = publish_from(&ctx, &js, &conn, at).await;
        status.connected.store(false, Ordering::Relaxed);
        if let Err(e) = result {
            tracing::debug!(error = %e, acked, "sync: link down; backing off");
        }
        drop(client);
        tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Where a pump is: the last seq the hub acked, the writer's wake-up, and
/// the back-off to use after the next failure.
pub(crate) struct Position<'a> {
    pub acked: &'a mut u64,
    pub wake: &'a mut tokio::sync::watch::Receiver<Arc<pvm_shared::venue::VenueState>>,
    pub backoff: &'a mut Duration,
}

pub(crate) async fn publish_from(
    ctx: &SyncContext,
    js: &jetstream::Context,
    conn: &libsql::Connection,
    at: Position<'_>,
) -> Result<(), String> {
    let SyncContext {
        link,
        reader,
        clock,
        status,
        stop,
        ..
    } = ctx;
    let Position {
        acked,
        wake,
        backoff,
    } = at;
    let subject = link.subject();
    // After a rewind: up to which seq frames are sent again, and their tag.
    let mut resend: Option<(u64, u64)> = None;
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        if resend.is_some_and(|(until, _)| *acked >= until) {
            resend = None;
        }
        if status.fork().is_some() {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        if let Some(hub_head) = status.take_rewind().filter(|h| *h < *acked) {
            // Sent again under new ids: the stream's duplicate window would
            // otherwise drop what it took (and the hub never stored) before.
            resend = Some((*acked, clock.now_ms()));
            *acked = hub_head;
            if save_acked(conn, *acked, clock.now_ms()).await.is_ok() {
                status.acked_seq.store(*acked, Ordering::Relaxed);
            }
        }
        if let Ok(head) = reader.head_seq().await {
            status.head_seq.store(head, Ordering::Relaxed);
        }
        let events = reader
            .events_after(*acked, CHUNK)
            .await
            .map_err(|e| e.to_string())?;
        if events.is_empty() {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = wake.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let mut in_flight: VecDeque<(u64, jetstream::context::PublishAckFuture)> = VecDeque::new();
        let mut failure = None;
        for frame in frames(&events) {
            let (first, last) = (events[frame.start].0, events[frame.end - 1].0);
            if in_flight.len() >= WINDOW {
                if let Some((s, f)) = in_flight.pop_front() {
                    match f.await {
                        Ok(_) => *acked = s,
                        Err(e) => {
                            failure = Some(e.to_string());
                            break;
                        }
                    }
                }
            }
            let body = pvm_shared::frame::encode(events[frame].iter().map(|(_, b)| b.as_slice()));
            let mut headers = HeaderMap::new();
            let tag = resend
                .filter(|(until, _)| first <= *until)
                .map(|(_, tag)| tag);
            headers.insert(
                "Nats-Msg-Id",
                msg_id(link.node_id, first, last, &body, tag).as_str(),
            );
            match js
                .publish_with_headers(subject.clone(), headers, body.into())
                .await
            {
                Ok(f) => in_flight.push_back((last, f)),
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        while let Some((s, f)) = in_flight.pop_front() {
            if failure.is_some() {
                break;
            }
            match f.await {
                Ok(_) => *acked = s,
                Err(e) => failure = Some(e.to_string()),
            }
        }
        let now = clock.now_ms();
        if save_acked(conn, *acked, now).await.is_ok() {
            status.acked_seq.store(*acked, Ordering::Relaxed);
        }
        if let Some(e) = failure {
            return Err(e);
        }
        status.connected.store(true, Ordering::Relaxed);
        status.last_contact_ms.store(now, Ordering::Relaxed);
        *backoff = Duration::from_millis(500);
    }
}

/// The frame's id for JetStream's duplicate window: its seqs and a digest of
/// its bytes. A true re-publish has the same id and is dropped by the stream;
/// a different event at a reused seq (a node restored from a backup) has
/// another, so it reaches the hub, which reports the fork instead of the
/// stream acking it unseen.
/// A frame sent again after a rewind carries the rewind's tag, so the window
/// does not drop it as the copy the hub never stored.
pub(crate) fn msg_id(
    node: uuid::Uuid,
    first: u64,
    last: u64,
    body: &[u8],
    resend: Option<u64>,
) -> String {
    use sha2::Digest;
    let digest = hex::encode(&sha2::Sha256::digest(body)[..8]);
    match resend {
        Some(tag) => format!("{node}:{first}-{last}:{digest}:r{tag}"),
        None => format!("{node}:{first}-{last}:{digest}"),
    }
}

/// Consecutive events grouped into frames (see `pvm_shared::frame`): at most
/// `MAX_EVENTS` each, closed before `MAX_BYTES` (an event larger than that
/// travels alone).
pub(crate) fn frames(events: &[(u64, Vec<u8>)]) -> Vec<std::ops::Range<usize>> {
    use pvm_shared::frame::{MAX_BYTES, MAX_EVENTS};
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, e)) in events.iter().enumerate() {
        let full = i - start == MAX_EVENTS || (i > start && bytes + e.len() + 4 > MAX_BYTES);
        if full {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += e.len() + 4;
    }
    if start < events.len() {
        out.push(start..events.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cover_every_event_once_in_order_within_their_limits() {
        let events: Vec<(u64, Vec<u8>)> = (1..=200u64)
            .map(|seq| (seq, vec![0u8; if seq == 70 { 300_000 } else { 5_000 }]))
            .collect();
        let got = frames(&events);
        let mut next = 0;
        for f in &got {
            assert_eq!(f.start, next);
            assert!(!f.is_empty() && f.len() <= pvm_shared::frame::MAX_EVENTS);
            let bytes: usize = events[f.clone()].iter().map(|(_, e)| e.len() + 4).sum();
            assert!(
                f.len() == 1 || bytes <= pvm_shared::frame::MAX_BYTES,
                "{f:?}"
            );
            next = f.end;
        }
        assert_eq!(next, events.len());
        assert!(
            got.iter().any(|f| f.len() == 1 && f.start == 69),
            "the big one alone"
        );
        assert!(frames(&[]).is_empty());
    }
}
