//! Alerts for whoever watches the venues: a node offline for five minutes,
//! a sync backlog over 1,000 events, a disk running low, a node clock more
//! than 2 s off the hub's, a forked log, rejected events. Worked out from
//! what the hub already stores (each node's last contact and heartbeat, each
//! venue's problems): shown on the admin pages, and each change (firing,
//! resolved) POSTed as JSON to the hub's webhook (`--alert-webhook`) and to
//! the venue's operator's own (`PATCH /api/v1/operators/{id}`), each
//! destination followed on its own.
//!
//! Each pvm-cloud process sends the alerts of the venues whose partitions
//! it ingests, so several processes do not repeat each other (a partition
//! that moves to another process may repeat its firing alerts once).

use crate::ingest::Registry;
use crate::store::{ProblemRow, VenueListing};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The rules' thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// A node not heard from for this long is offline (5 minutes).
    pub offline_after_ms: i64,
    /// More events than this waiting to be synced.
    pub backlog_over: u64,
    /// Less free space than this (MB) where the node keeps its data.
    pub disk_low_mb: u64,
    /// The node's clock this far from the hub's, either way.
    pub skew_over_ms: i64,
    /// Problems (forks, rejected events) this recent.
    pub problems_within_ms: i64,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            offline_after_ms: 5 * 60_000,
            backlog_over: 1_000,
            disk_low_mb: 1_024,
            skew_over_ms: 2_000,
            problems_within_ms: 24 * 3_600_000,
        }
    }
}

/// One alert: which venue (and node), what, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub venue_id: String,
    pub venue_name: String,
    pub node_id: Option<String>,
    /// `offline`, `backlog`, `disk_low`, `clock_skew`, `fork` or `rejected`.
    pub kind: &'static str,
    pub detail: String,
}

impl Alert {
    /// What makes it the same alert from one look to the next (figures change).
    fn key(&self) -> (String, Option<String>, &'static str) {
        (self.venue_id.clone(), self.node_id.clone(), self.kind)
    }
}

/// The alerts a venue's node raises at `now_ms`.
pub fn of_venue(v: &VenueListing, now_ms: i64, rules: &Rules) -> Vec<Alert> {
    let Some(node) = &v.node_id else {
        return Vec::new();
    };
    // A revoked node is meant to be silent: nothing it does is news.
    if v.revoked_ms.is_some() {
        return Vec::new();
    }
    let alert = |kind: &'static str, detail: String| Alert {
        venue_id: v.id.clone(),
        venue_name: v.name.clone(),
        node_id: Some(node.clone()),
        kind,
        detail,
    };
    let mut out = Vec::new();
    let Some(contact) = v.last_contact_ms else {
        return out;
    };
    let silent = now_ms.saturating_sub(contact);
    if silent > rules.offline_after_ms {
        out.push(alert(
            "offline",
            format!("no contact for {} min", silent / 60_000),
        ));
    }
    let beat: serde_json::Value = v
        .heartbeat
        .as_deref()
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default();
    if let Some(b) = beat["backlog"].as_u64().filter(|b| *b > rules.backlog_over) {
        out.push(alert("backlog", format!("{b} events waiting to sync")));
    }
    if let Some(mb) = beat["disk_free_mb"]
        .as_u64()
        .filter(|mb| *mb < rules.disk_low_mb)
    {
        out.push(alert("disk_low", format!("{mb} MB free")));
    }
    // The node's clock when it sent its last heartbeat, against the hub's
    // when that heartbeat arrived (`hub_ms`, added by the hub as it reads
    // it: the last contact also moves with every stored batch). The transit
    // through the leaf counts as skew: on a working link it is milliseconds.
    if let (Some(clock), Some(arrived)) = (beat["clock_ms"].as_i64(), beat["hub_ms"].as_i64()) {
        let skew = clock - arrived;
        if skew.abs() > rules.skew_over_ms {
            let way = if skew > 0 { "ahead of" } else { "behind" };
            out.push(alert(
                "clock_skew",
                format!(
                    "the node's clock is {:.1} s {way} the hub's",
                    skew.abs() as f64 / 1000.0
                ),
            ));
        }
    }
    out
}

/// Problems that hold events back rather than refuse them.
const HELD_KINDS: &[&str] = &["gap", "held_overflow"];

/// The alerts a venue's recent problems raise: a fork, rejected events
/// (bad signature, malformed, unknown or revoked node; counted over every
/// kind still seen in the last day, its count since it was first seen).
pub fn of_problems(
    v: &VenueListing,
    problems: &[ProblemRow],
    now_ms: i64,
    rules: &Rules,
) -> Vec<Alert> {
    let recent = problems
        .iter()
        .filter(|p| now_ms.saturating_sub(p.last_ms.max(p.at_ms)) <= rules.problems_within_ms);
    let (mut forks, mut rejected) = (0, 0);
    for p in recent {
        match p.kind.as_str() {
            "fork" => forks += p.count,
            // Held, not refused: a gap waits for the missing events.
            k if HELD_KINDS.contains(&k) => {}
            _ => rejected += p.count,
        }
    }
    let alert = |kind: &'static str, detail: String| Alert {
        venue_id: v.id.clone(),
        venue_name: v.name.clone(),
        node_id: v.node_id.clone(),
        kind,
        detail,
    };
    let mut out = Vec::new();
    if forks > 0 {
        out.push(alert(
            "fork",
            "the node's log forked from the hub's (restored from a backup?)".into(),
        ));
    }
    if rejected > 0 {
        out.push(alert(
            "rejected",
            format!(
                "{}: see the venue's problems",
                pvm_shared::words::count(rejected as u64, "event rejected", "events rejected")
            ),
        ));
    }
    out
}

/// Every alert for these venues now, problems included.
pub async fn current(
    hub: &Registry,
    venues: &[VenueListing],
    now_ms: i64,
    rules: &Rules,
) -> anyhow::Result<Vec<Alert>> {
    let mut out = Vec::new();
    for v in venues {
        out.extend(of_venue(v, now_ms, rules));
        if v.node_id.is_some() {
            let id: Uuid = v.id.parse()?;
            let problems = hub.store.lock().await?.problems(id).await?;
            out.extend(of_problems(v, &problems, now_ms, rules));
        }
    }
    Ok(out)
}

/// Looks every `every` and POSTs each alert that starts or ends to the
/// hub's webhook (`global`) and its venue's operator's.
pub async fn watch(
    hub: Arc<Registry>,
    global: Option<String>,
    rules: Rules,
    every: Duration,
    stop: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the alert webhook's HTTP client; no alerts will be sent");
            return;
        }
    };
    type Key = (String, (String, Option<String>, &'static str));
    // By destination and alert.
    let mut firing: BTreeMap<Key, Alert> = BTreeMap::new();
    // The last contacts in the database are as old as this process's
    // downtime: "offline" waits one offline period after the start, so a
    // hub that was down does not post every venue offline and then resolved.
    let started = crate::now_ms();
    // A destination whose last post failed waits before the next (doubling
    // up to 10 minutes): a dead webhook does not slow the others' looks.
    let mut failing: std::collections::HashMap<String, (tokio::time::Instant, Duration)> =
        std::collections::HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! { _ = stop.cancelled() => return, _ = tick.tick() => {} }
        let read = match hub.store.lock().await {
            Ok(db) => match db.venues().await {
                Ok(v) => db.operators().await.map(|o| (v, o)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let (venues, operators) = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "alerts: cannot read the venues; will retry");
                continue;
            }
        };
        let hooks: std::collections::HashMap<Uuid, String> = operators
            .into_iter()
            .filter_map(|o| o.alert_webhook.map(|w| (o.id, w)))
            .collect();
        // Nobody to tell: no work (the pages work alerts out when shown).
        if global.is_none() && hooks.is_empty() {
            firing.clear();
            continue;
        }
        // Where each venue's alerts go.
        let destinations: std::collections::HashMap<String, Vec<String>> = venues
            .iter()
            .map(|v| {
                let own = v.operator_id.and_then(|o| hooks.get(&o).cloned());
                let mut to: Vec<String> = global.iter().cloned().chain(own).collect();
                to.dedup();
                (v.id.clone(), to)
            })
            .collect();
        let no_one: Vec<String> = Vec::new();
        let to = |venue: &str| destinations.get(venue).unwrap_or(&no_one);
        let venues: Vec<VenueListing> = venues
            .into_iter()
            .filter(|v| v.id.parse().is_ok_and(|id| hub.owns(id)))
            .collect();
        let now = crate::now_ms();
        let now_alerts = match current(&hub, &venues, now, &rules).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "alerts: cannot read the problems; will retry");
                continue;
            }
        };
        let warming = now - started < rules.offline_after_ms;
        let now_alerts: Vec<Alert> = now_alerts
            .into_iter()
            .filter(|a| !(warming && a.kind == "offline"))
            .collect();
        // A venue this process no longer ingests is left to its new owner.
        let owned: std::collections::BTreeSet<&str> =
            venues.iter().map(|v| v.id.as_str()).collect();
        let mut changes: Vec<(String, &'static str, Alert)> = Vec::new();
        let mut next = BTreeMap::new();
        for a in now_alerts {
            for dest in to(&a.venue_id) {
                let key = (dest.clone(), a.key());
                if firing.contains_key(&key) {
                    next.insert(key, a.clone());
                } else {
                    changes.push((dest.clone(), "firing", a.clone()));
                }
            }
        }
        for ((dest, key), a) in &firing {
            let still_there = to(&a.venue_id).contains(dest);
            let gone = !next.contains_key(&(dest.clone(), key.clone()));
            // A destination removed meanwhile hears nothing more.
            if gone && still_there && owned.contains(a.venue_id.as_str()) {
                changes.push((dest.clone(), "resolved", a.clone()));
            }
        }
        // Sent a few at a time, so one slow webhook does not hold every
        // change; a firing counts only once delivered (tried again at the
        // next look), and a resolved that failed stays firing until it goes.
        let client = &client;
        let now_instant = tokio::time::Instant::now();
        let (changes, waiting): (Vec<_>, Vec<_>) = changes.into_iter().partition(|(dest, _, _)| {
            failing
                .get(dest)
                .is_none_or(|(until, _)| *until <= now_instant)
        });
        // Those waiting keep their state: a firing is tried again later, a
        // resolved stays firing until it is said.
        for (dest, state, a) in waiting {
            if state == "resolved" {
                next.insert((dest, a.key()), a);
            }
        }
        let posts: Vec<_> = changes
            .into_iter()
            .map(
                |(dest, state, a): (String, &'static str, Alert)| async move {
                    (send(client, &dest, state, &a, now).await, dest, state, a)
                },
            )
            .collect();
        let sent: Vec<(bool, String, &'static str, Alert)> = futures_util::stream::iter(posts)
            .buffer_unordered(WEBHOOK_AT_ONCE)
            .collect()
            .await;
        for (delivered, dest, state, a) in sent {
            if delivered {
                failing.remove(&dest);
            } else {
                let wait = failing
                    .get(&dest)
                    .map_or(every, |(_, w)| (*w * 2).min(Duration::from_secs(600)));
                failing.insert(dest.clone(), (tokio::time::Instant::now() + wait, wait));
            }
            if delivered == (state == "firing") {
                next.insert((dest, a.key()), a);
            }
        }
        firing = next;
    }
}

/// Webhook POSTs in flight at once.
const WEBHOOK_AT_ONCE: usize = 8;

/// How many times a webhook POST is tried before the change is given up (logged).
const WEBHOOK_TRIES: u32 = 3;

/// POSTs one change; whether the webhook took it.
async fn send(
    client: &reqwest::Client,
    webhook: &str,
    state: &str,
    a: &Alert,
    now_ms: i64,
) -> bool {
    let body = serde_json::json!({
        "state": state,
        "kind": a.kind,
        "venue_id": a.venue_id,
        "venue_name": a.venue_name,
        "node_id": a.node_id,
        "detail": a.detail,
        "at_ms": now_ms,
    });
    for attempt in 1..=WEBHOOK_TRIES {
        match client.post(webhook).json(&body).send().await {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(status = %r.status(), attempt, "alert webhook refused"),
            Err(e) => tracing::warn!(error = %e, attempt, "alert webhook unreachable"),
        }
        if attempt < WEBHOOK_TRIES {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
    }
    tracing::error!(kind = a.kind, venue = %a.venue_id, state, "alert not delivered to the webhook");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venue(contact: Option<i64>, beat: &str) -> VenueListing {
        VenueListing {
            id: "v".into(),
            name: "Riverside".into(),
            node_id: Some("n".into()),
            head_seq: Some(1),
            verified_seq: 1,
            last_contact_ms: contact,
            heartbeat: Some(beat.into()),
            events: 1,
            revoked_ms: None,
            operator_id: None,
        }
    }

    fn kinds(a: &[Alert]) -> Vec<&'static str> {
        a.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn a_healthy_node_raises_nothing_and_each_rule_fires_past_its_threshold() {
        let rules = Rules::default();
        let now = 10_000_000;
        let fine =
            r#"{"backlog": 1000, "disk_free_mb": 1024, "clock_ms": 9998000, "hub_ms": 9998000}"#;
        assert_eq!(
            of_venue(&venue(Some(now - 2_000), fine), now, &rules),
            vec![]
        );
        let bad =
            r#"{"backlog": 1001, "disk_free_mb": 1023, "clock_ms": 9697998, "hub_ms": 9699999}"#;
        let a = of_venue(&venue(Some(now - 300_001), bad), now, &rules);
        assert_eq!(kinds(&a), ["offline", "backlog", "disk_low", "clock_skew"]);
        assert_eq!(a[0].detail, "no contact for 5 min");
        assert_eq!(a[1].detail, "1001 events waiting to sync");
        assert_eq!(a[3].detail, "the node's clock is 2.0 s behind the hub's");
        // Never contacted, or not registered: nothing to say yet.
        assert_eq!(of_venue(&venue(None, bad), now, &rules), vec![]);
        // Revoked: silent on purpose.
        let revoked = VenueListing {
            revoked_ms: Some(now - 1),
            ..venue(Some(now - 300_001), bad)
        };
        assert_eq!(of_venue(&revoked, now, &rules), vec![]);
    }

    #[test]
    fn forks_and_rejected_events_alert_while_recent() {
        let rules = Rules::default();
        let now = 100 * 3_600_000;
        let problem = |kind: &str, count: i64, at: i64| ProblemRow {
            seq: Some(1),
            kind: kind.into(),
            detail: String::new(),
            at_ms: at,
            count,
            last_ms: at,
        };
        let v = venue(Some(now), "{}");
        let a = of_problems(
            &v,
            &[
                problem("fork", 1, now),
                problem("bad_signature", 3, now - 60_000),
            ],
            now,
            &rules,
        );
        assert_eq!(kinds(&a), ["fork", "rejected"]);
        assert_eq!(a[1].detail, "3 events rejected: see the venue's problems");
        let old = now - 25 * 3_600_000;
        assert_eq!(
            of_problems(&v, &[problem("fork", 1, old)], now, &rules),
            vec![]
        );
    }
}
