//! The event log page (managers): the venue's log, newest first, a page at
//! a time, each event with its time on the venue's clock, who did it and
//! what; how far the hub has it; and a check of the whole chain (hashes and
//! signatures from the first event), run on demand, one at a time.

use super::api::{redact, sync_view};
use super::auth::{CsrfToken, LogRead, Require};
use super::error::ApiError;
use super::page::{csrf_field, layout, redirect_saying, Flash};
use super::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use pvm_shared::envelope::{Actor, Envelope};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/log", get(log_page))
        .route("/log/verify", post(verify))
}

/// Events on one page.
const PAGE: u32 = 50;
/// A payload is shown up to this many characters.
const SHOWN: usize = 240;

#[derive(Debug, Default, Deserialize)]
struct LogQuery {
    /// Show the events before this seq (older pages); read leniently.
    before: Option<String>,
}

/// An event's payload for a person: `field: value` pairs (nested ones in
/// brackets), ids of players, tables, tournaments and lists named, strings
/// unquoted.
fn in_words(payload: &serde_json::Value, state: &pvm_shared::venue::VenueState) -> String {
    use serde_json::Value;
    match payload {
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Object(_) => format!("({})", in_words(v, state)),
                    other => in_words(other, state),
                };
                format!("{}: {v}", k.replace('_', " "))
            })
            .collect::<Vec<_>>()
            .join(" · "),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|v| in_words(v, state))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => name_of(s, state).unwrap_or_else(|| s.clone()),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

/// The name behind an id the venue knows: a player, table, tournament, list or entry.
fn name_of(id: &str, state: &pvm_shared::venue::VenueState) -> Option<String> {
    let id = id.parse::<uuid::Uuid>().ok()?;
    state
        .players
        .get(&id)
        .map(|p| p.name.clone())
        .or_else(|| state.tables.get(&id).map(|t| t.name.to_string()))
        .or_else(|| state.tournaments.get(&id).map(|t| t.name.clone()))
        .or_else(|| {
            let l = state.cash.lists.get(&id)?;
            Some(format!("{} {} list", l.stakes, l.game.label()))
        })
        .or_else(|| {
            let e = state.cash.entries.get(&id)?;
            state.players.get(&e.player_id).map(|p| p.name.clone())
        })
}

fn who(actor: &Actor, s: &AppState) -> String {
    match actor {
        Actor::System => "the node".into(),
        Actor::Cloud => "the hub".into(),
        Actor::Staff(id) => {
            let staff = s.log.staff();
            id.parse::<uuid::Uuid>()
                .ok()
                .and_then(|uid| {
                    let local = staff.users.get(&uid);
                    let hub = staff.hub_user(uid).map(|u| (u, " from the hub"));
                    local.map(|u| (u, "")).or(hub)
                })
                .map(|(u, from)| format!("{} ({}{from})", u.display_name, u.username))
                .unwrap_or_else(|| format!("staff {id}"))
        }
    }
}

async fn log_page(
    State(s): State<AppState>,
    who_: Require<LogRead>,
    csrf: CsrfToken,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let head = s.reader.head_seq().await?;
    let before = q
        .before
        .and_then(|b| b.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    let page = s.reader.events_before(before, PAGE).await?;
    let sync = sync_view(&s, head);
    let tz = &settings.timezone;
    let state = s.log.venue();
    let rows: Vec<_> = page
        .iter()
        .map(|(seq, bytes)| match Envelope::decode(bytes) {
            Ok(env) => {
                let payload = redact(serde_json::from_slice(&env.payload).unwrap_or_default());
                let mut shown = in_words(&payload, &state);
                if shown.chars().count() > SHOWN {
                    shown = shown.chars().take(SHOWN).collect::<String>() + "…";
                }
                (
                    *seq,
                    tz.local_time(env.header.hlc.wall_ms),
                    env.kind.replace(['_', '/'], " "),
                    who(&env.header.actor, &s),
                    shown,
                    env.sig.is_some(),
                )
            }
            Err(e) => (
                *seq,
                String::new(),
                "unreadable".into(),
                String::new(),
                e.to_string(),
                false,
            ),
        })
        .collect();
    let newest = rows.first().map(|r| r.0);
    let oldest = rows.last().map(|r| r.0);
    let flash = Flash::take(&headers, "/log");
    let body = html! {
        @if let Some(text) = flash.text() { p.notice role="status" { (text) } }
        h1 { "Event log " small { (pvm_shared::words::count(head, "event", "events")) " · newest first" } }
        p.meta {
            @if !sync.registered { "Not registered with a hub: the log is kept here only (and in backups)." }
            @else if sync.acked_seq >= head { "The hub has every event." }
            @else { "The hub has everything up to #" (sync.acked_seq) "; " (pvm_shared::words::count(sync.pending, "event waits", "events wait")) " to sync." }
        }
        form.inline method="post" action="/log/verify" {
            (csrf_field(&csrf))
            button.secondary type="submit" { "Check the whole log" }
            span.meta { " every hash and signature from the first event" }
        }
        @if rows.is_empty() { p.empty { "No events here." } }
        @else {
            div.scroll {
                table.api.log {
                    thead { tr { th { "#" } th { "When" } th { "What" } th { "Who" } th { "Details" } } }
                    tbody {
                        @for (seq, when, kind, by, shown, signed) in &rows {
                            tr {
                                td { (seq) @if *signed { " " span.badge title="signed by this node" { "✓" } } }
                                td { (when) }
                                td { (kind) }
                                td { (by) }
                                td.payload { (shown) }
                            }
                        }
                    }
                }
            }
        }
        p.meta { "✓ marks the event that ends a batch, signed by this node: “Check the whole log” above verifies every hash and signature." }
        p.buttons {
            @if let Some(n) = newest { @if n < head {
                a href=(format!("/log?before={}", (n + 1 + PAGE as u64).min(head + 1))) { "← Newer" }
            } }
            @if let Some(o) = oldest { @if o > 1 {
                " " a href=(format!("/log?before={o}")) { "Older →" }
            } }
        }
    };
    let page = layout(&settings, who_.principal(), &csrf, "Event log", None, body).into_response();
    Ok(flash.spend(page))
}

/// One check of the whole log at a time: it reads every event.
static CHECKING: AtomicBool = AtomicBool::new(false);

struct Checking;

impl Drop for Checking {
    fn drop(&mut self) {
        CHECKING.store(false, Ordering::Release);
    }
}

async fn verify(State(s): State<AppState>, _who: Require<LogRead>) -> Result<Response, ApiError> {
    if CHECKING
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Ok(redirect_saying(
            "/log",
            "/log",
            "A check of the log is already running; try again when it has finished.",
        ));
    }
    let _done = Checking;
    let id = &s.identity;
    let said = match s
        .reader
        .verify_log(id.key.verifying_key(), id.node_id, id.venue_id)
        .await?
    {
        Ok(summary) => format!(
            "Checked: {} in order, every hash and signature good, up to #{}.",
            pvm_shared::words::count(summary.events, "event", "events"),
            summary.last_seq
        ),
        Err(problem) => format!(
            "The check found a problem: {problem}. See docs/OPERATIONS.md, \"Checking the log\"."
        ),
    };
    Ok(redirect_saying("/log", "/log", &said))
}
