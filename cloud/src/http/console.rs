//! The console's HTTP side: `GET /api/v1/console` (JSON), the page
//! `/admin/console` (every venue the signed-in role sees, at a glance),
//! and its live feed `/admin/console/events` (server-sent events: the
//! venues part again whenever it changes, looked at every 2 s).

use super::admin::{ago, guard, page};
use super::auth::{Caller, Require, VenuesRead};
use super::error::ApiError;
use crate::console::{Totals, VenueGlance};
use crate::App;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use maud::{html, Markup};
use serde_json::json;
use std::time::Duration;

/// Live console feeds one pvm-cloud process serves at once; past it, 429.
pub const MAX_FEEDS: usize = 64;
static FEEDS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_FEEDS);
/// Live feeds one sign-in keeps open at once (a few tabs): one person
/// cannot take every feed of the process.
pub const MAX_FEEDS_PER_SIGN_IN: usize = 4;
static PER_SIGN_IN: std::sync::Mutex<std::collections::BTreeMap<String, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());
/// How often a feed looks for a change.
const EVERY: Duration = Duration::from_secs(2);
/// How often a feed checks its sign-in is still good (ends it if not).
const RECHECK: Duration = Duration::from_secs(30);

const SCRIPT: &str = include_str!("console.js");

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/console", get(api))
        .route("/admin/console", get(console_page))
        .route("/admin/console/events", get(feed))
        .route("/admin/console.js", get(script))
}

async fn api(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesRead>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (venues, totals) = crate::console::of(&app, &caller).await?;
    Ok(Json(json!({"totals": totals, "venues": venues})))
}

async fn script() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )],
        SCRIPT,
    )
        .into_response()
}

fn minutes(n: u64) -> String {
    if n == 1 {
        "1 min".into()
    } else {
        format!("{n} min")
    }
}

fn count(n: impl std::fmt::Display + PartialEq<u64> + Copy, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The live part of the page: the totals and a card per venue.
pub fn venues_part(venues: &[VenueGlance], totals: &Totals) -> Markup {
    html! {
        p.meta {
            (totals.online) " of " (count(totals.venues as u64, "venue", "venues")) " online · "
            (count(totals.tournaments_running as u64, "tournament", "tournaments")) " running, "
            (pvm_shared::words::grouped(totals.players_left)) " players left · "
            (count(totals.tables_open as u64, "table", "tables")) " open · "
            (pvm_shared::words::grouped(totals.waiting as u64)) " waiting"
        }
        @if venues.is_empty() { p.empty { "No venues to show." } }
        ul.tables {
            @for v in venues {
                li.table.open[v.status == "online"] {
                    div.summary {
                        span.name { a href=(format!("/admin/venues/{}", v.id)) { (v.name) } }
                        span.status { (v.status) }
                        span.game {
                            @if let Some(ver) = &v.version { "version " (ver) " · " }
                            "contact " (ago(v.last_contact_ms))
                            @if let Some(b) = v.backlog { @if b > 0 { " · " (pvm_shared::words::grouped(b)) " to sync" } }
                        }
                    }
                    (activity(v))
                }
            }
        }
    }
}

/// What is running at a venue: its tournaments, cash games and tables.
pub fn activity(v: &VenueGlance) -> Markup {
    html! {
        @if v.tournaments.is_empty() && v.games.is_empty() && v.tables_open == 0 {
            p.empty { "Nothing running." }
        }
        ul.plain {
            @for t in &v.tournaments {
                li {
                    strong { (t.name) } " · "
                    @if t.status == "registering" {
                        "registering, " (count(t.entries, "entry", "entries"))
                    } @else {
                        "level " (t.level)
                        @if t.on_break { " (break)" }
                        @if t.paused { " paused" } @else { ", " (minutes(t.minutes_left)) " left" }
                        " · " (pvm_shared::words::grouped(t.players_left)) " of " (pvm_shared::words::grouped(t.entries + t.reentries)) " left"
                    }
                }
            }
            @for g in &v.games {
                li { strong { (g.label) } " · " (count(g.tables as u64, "table", "tables")) ", " (g.waiting) " waiting" }
            }
        }
        @if v.tables > 0 {
            p.meta { (v.tables_open) " of " (count(v.tables as u64, "table", "tables")) " open" }
        }
    }
}

async fn console_page(State(app): State<App>, headers: HeaderMap) -> Result<Response, Response> {
    let caller = guard(&app, &headers, false).await?;
    let (venues, totals) = crate::console::of(&app, &caller)
        .await
        .map_err(super::admin::page_error)?;
    let body = html! {
        h1 { "Console " small id="live" { "live" } }
        div id="console" { (venues_part(&venues, &totals)) }
        script src="/admin/console.js" {}
    };
    Ok(page("Console", true, body).into_response())
}

/// The venues part again whenever it changes; ends when the sign-in does
/// (checked every 30 s) or the hub stops.
async fn feed(State(app): State<App>, headers: HeaderMap) -> Result<Response, Response> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let caller = guard(&app, &headers, false).await?;
    let sign_in = caller.session.clone().unwrap_or_else(|| "admin key".into());
    {
        let mut open = PER_SIGN_IN.lock().unwrap_or_else(|p| p.into_inner());
        let mine = open.entry(sign_in.clone()).or_default();
        if *mine >= MAX_FEEDS_PER_SIGN_IN {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                "too many live consoles open with this sign-in: close a tab",
            )
                .into_response());
        }
        *mine += 1;
    }
    // From here the slot gives back what it took, whatever happens.
    let mut slot = Slot {
        sign_in,
        permit: false,
    };
    let Ok(permit) = FEEDS.try_acquire() else {
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            "too many live consoles open on this hub process",
        )
            .into_response());
    };
    permit.forget();
    slot.permit = true;
    struct Feed {
        app: App,
        caller: Caller,
        headers: HeaderMap,
        sent: Option<String>,
        checked: tokio::time::Instant,
        every: tokio::time::Interval,
        _slot: Slot,
    }
    /// Gives the feed's places back when the stream is dropped.
    struct Slot {
        sign_in: String,
        permit: bool,
    }
    impl Drop for Slot {
        fn drop(&mut self) {
            if self.permit {
                FEEDS.add_permits(1);
            }
            let mut open = PER_SIGN_IN.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = open.get_mut(&self.sign_in) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&self.sign_in);
                }
            }
        }
    }
    let feed = Feed {
        app,
        caller,
        headers,
        sent: None,
        checked: tokio::time::Instant::now(),
        every: tokio::time::interval(EVERY),
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        loop {
            tokio::select! {
                _ = f.every.tick() => {}
                _ = f.app.stop.cancelled() => return None,
            }
            if f.checked.elapsed() >= RECHECK {
                f.checked = tokio::time::Instant::now();
                match super::admin::signed_in_again(&f.app, &f.headers).await {
                    Some(c) => f.caller = c,
                    None => return None,
                }
            }
            let Ok((venues, totals)) = crate::console::of(&f.app, &f.caller).await else {
                continue;
            };
            let html = venues_part(&venues, &totals).into_string();
            if f.sent.as_deref() == Some(html.as_str()) {
                continue;
            }
            f.sent = Some(html.clone());
            return Some((
                Ok::<Event, std::convert::Infallible>(Event::default().data(html)),
                f,
            ));
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
