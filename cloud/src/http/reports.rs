//! Reports over the venues a caller sees (docs/REPORTS.md): the API
//! (`GET /api/v1/reports`, `GET /api/v1/reports/csv`) and the admin page
//! `/admin/reports` with its charts (SVG drawn here, no script, no CDN) and
//! CSV downloads. Any role may read the venues it sees.

use super::admin::{guard, page, page_error};
use super::auth::{Caller, Require, VenuesRead};
use super::error::{bad, ApiError};
use crate::reports::{self, Report, VenueRef, WEEKDAYS};
use crate::App;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use maud::{html, Markup};
use uuid::Uuid;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/reports", get(api_report))
        .route("/api/v1/reports/csv", get(api_csv))
        .route("/admin/reports", get(report_page))
        .route("/admin/reports/csv", get(page_csv))
}

/// Tournaments listed on the page (the CSV has them all).
const SHOWN: usize = 25;

/// The parts a report has as CSV.
const PARTS: [&str; 4] = ["tournaments", "cash", "days", "attendance"];

/// What a report was asked for, as typed.
#[derive(Debug, Default, Clone)]
struct Asked {
    from: String,
    to: String,
    venue: String,
    part: String,
}

impl Asked {
    fn parse(query: Option<&str>) -> Asked {
        let mut a = Asked::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let v: String = v.chars().take(64).collect();
            match k.as_ref() {
                "from" => a.from = v,
                "to" => a.to = v,
                "venue" => a.venue = v,
                "part" => a.part = v,
                _ => {}
            }
        }
        a
    }

    /// The dates and the venue asked for, or what is wrong with them.
    fn checked(&self) -> Result<(NaiveDate, NaiveDate, Option<Uuid>), ApiError> {
        let date = |field: &str, v: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
                bad(
                    "invalid",
                    format!("{field}: a date as YYYY-MM-DD (the venue's local day)"),
                )
            })
        };
        let from = date("from", &self.from)?;
        let to = date("to", &self.to)?;
        if to < from {
            return Err(bad("invalid", "to: on or after from"));
        }
        if (to - from).num_days() >= reports::MAX_DAYS {
            return Err(bad(
                "invalid",
                format!("to: at most {} days after from", reports::MAX_DAYS - 1),
            ));
        }
        let venue = match self.venue.trim() {
            "" => None,
            v => Some(
                v.parse::<Uuid>()
                    .map_err(|_| bad("invalid", "venue: a venue id"))?,
            ),
        };
        Ok((from, to, venue))
    }
}

/// The report `caller` asked for: over one venue they see (404 for one
/// they do not), or all of them.
async fn make(
    app: &App,
    caller: &Caller,
    from: NaiveDate,
    to: NaiveDate,
    venue: Option<Uuid>,
) -> Result<Report, ApiError> {
    if let Some(v) = venue {
        caller.venue(app, v).await?;
    }
    let venues: Vec<VenueRef> = super::venues::venue_rows(app, caller)
        .await?
        .into_iter()
        .filter_map(|v| {
            let id = v.id.parse::<Uuid>().ok()?;
            venue
                .is_none_or(|want| want == id)
                .then_some(VenueRef { id, name: v.name })
        })
        .collect();
    // A copy of the days asked for, taken under the lock the fold needs;
    // the report is made off the async workers.
    let now = u64::try_from(crate::now_ms()).unwrap_or(0);
    let facts: std::collections::HashMap<Uuid, reports::facts::VenueFacts> = {
        let all = app.hub.reports.lock().unwrap_or_else(|p| p.into_inner());
        venues
            .iter()
            .filter_map(|v| all.get(&v.id).map(|f| (v.id, f.slice(from, to, now))))
            .collect()
    };
    tokio::task::spawn_blocking(move || reports::report(&facts, venues, from, to))
        .await
        .map_err(|e| anyhow::anyhow!("the report was not made: {e}").into())
}

async fn api_report(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesRead>,
    RawQuery(q): RawQuery,
) -> Result<Json<Report>, ApiError> {
    let (from, to, venue) = Asked::parse(q.as_deref()).checked()?;
    Ok(Json(make(&app, &caller, from, to, venue).await?))
}

fn csv_response(r: &Report, part: &str) -> Result<Response, ApiError> {
    let body = reports::csv(r, part)
        .ok_or_else(|| bad("invalid", "part: tournaments, cash, days or attendance"))?;
    let name = format!("pvm-{part}-{}-{}.csv", r.from, r.to);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

async fn api_csv(
    State(app): State<App>,
    Require(caller, ..): Require<VenuesRead>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    csv_of(&app, &caller, &Asked::parse(q.as_deref())).await
}

/// The part of the report asked for, as CSV.
async fn csv_of(app: &App, caller: &Caller, asked: &Asked) -> Result<Response, ApiError> {
    if !PARTS.contains(&asked.part.as_str()) {
        return Err(bad(
            "invalid",
            "part: tournaments, cash, days or attendance",
        ));
    }
    let (from, to, venue) = asked.checked()?;
    csv_response(&make(app, caller, from, to, venue).await?, &asked.part)
}

async fn page_csv(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    let caller = guard(&app, &headers, false).await?;
    csv_of(&app, &caller, &Asked::parse(q.as_deref()))
        .await
        .map_err(page_error)
}

/// Today in UTC, and four weeks before it: the page's range until one is asked.
fn default_range() -> (String, String) {
    let today = chrono::DateTime::from_timestamp_millis(crate::now_ms())
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let from = today - chrono::Duration::days(27);
    (from.to_string(), today.to_string())
}

async fn report_page(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, Response> {
    let caller = guard(&app, &headers, false).await?;
    let mut asked = Asked::parse(q.as_deref());
    if asked.from.is_empty() && asked.to.is_empty() {
        (asked.from, asked.to) = default_range();
    }
    let venues = super::venues::venue_rows(&app, &caller)
        .await
        .map_err(page_error)?;
    let made = match asked.checked() {
        Ok((from, to, venue)) => make(&app, &caller, from, to, venue).await,
        Err(e) => Err(e),
    };
    let (status, body) = match made {
        Ok(r) => (StatusCode::OK, report_body(&r, &asked)),
        Err(e) if e.0 == StatusCode::NOT_FOUND || e.0 == StatusCode::UNPROCESSABLE_ENTITY => {
            (e.0, html! { p.error role="alert" { (e.2) } })
        }
        Err(e) => return Err(page_error(e)),
    };
    let form = html! {
        h1 { "Reports" }
        form.report method="get" action="/admin/reports" {
            label { "From" input type="date" name="from" required value=(asked.from); }
            label { "To" input type="date" name="to" required value=(asked.to); }
            label { "Venue" select name="venue" {
                option value="" selected[asked.venue.is_empty()] { "All my venues (" (venues.len()) ")" }
                @for v in &venues { option value=(v.id) selected[asked.venue == v.id] { (v.name) } }
            } }
            button type="submit" { "Show" }
        }
        p.meta { "Days are each venue's own local days (its time zone). Figures are attendance, play and time, never money." }
    };
    let body = html! { (form) (body) };
    Ok((status, page("Reports", true, body)).into_response())
}

/// A query string for the same report, one CSV part.
fn csv_link(asked: &Asked, part: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &asked.from)
        .append_pair("to", &asked.to)
        .append_pair("venue", &asked.venue)
        .append_pair("part", part)
        .finish();
    format!("/admin/reports/csv?{q}")
}

fn minutes(s: Option<u32>) -> String {
    s.map(|s| format!("{} min", s.div_ceil(60)))
        .unwrap_or_else(|| "–".into())
}

fn report_body(r: &Report, asked: &Asked) -> Markup {
    let t = &r.tournaments;
    html! {
        section.summary {
            p.figures {
                span { strong { (t.count) } " tournaments" }
                span { strong { (t.entries) } " entries (" (t.reentries) " re-entries)" }
                span { strong { (format!("{:.1}", r.cash.table_hours)) } " cash table-hours" }
                span { strong { (r.cash.peak_tables) } " cash tables at once (the most at one venue)" }
                span { strong { (r.attendance.visits) } " visits" }
            }
        }
        section {
            h2 { "Cash table-hours by day" }
            (bars(&r.days.iter().map(|d| (d.day.clone(), d.table_ms as f64 / 3_600_000.0)).collect::<Vec<_>>(), "table-hours", "#3f8f5f"))
            h2 { "Visits by day" }
            (bars(&r.days.iter().map(|d| (d.day.clone(), d.visits as f64)).collect::<Vec<_>>(), "visits", "#4a7bd0"))
            h2 { "When players come" }
            (heatmap(&r.attendance.by_weekday_hour))
            p.meta { a href=(csv_link(asked, "days")) { "Days (CSV)" } " · " a href=(csv_link(asked, "attendance")) { "Weekday and hour (CSV)" } }
        }
        section {
            h2 { "Cash games" }
            @if r.cash.games.is_empty() { p.empty { "No cash games in these days." } } @else {
                div.scroll { table.report {
                    thead { tr { th { "Game" } th { "Table-hours" } th { "Seated from the list" } th { "Wait p50" } th { "Wait p90" } th { "No-shows" } } }
                    tbody { @for g in &r.cash.games { tr {
                        td data-label="Game" { strong { (g.game) } } td data-label="Table-hours" { (format!("{:.1}", g.table_hours)) } td data-label="Seated from the list" { (g.seated_from_list) }
                        td data-label="Wait p50" { (minutes(g.wait_p50_s)) } td data-label="Wait p90" { (minutes(g.wait_p90_s)) }
                        td data-label="No-shows" { (g.no_shows) " of " (g.called) " called" @if let Some(rate) = g.no_show_rate { " (" (format!("{:.0}", rate * 100.0)) " %)" } }
                    } } }
                } }
            }
            p.meta { a href=(csv_link(asked, "cash")) { "Cash games (CSV)" } }
        }
        section {
            h2 { "Tournaments" }
            @if t.list.is_empty() { p.empty { "No tournaments started in these days." } } @else {
                p.meta { (t.finished) " finished" @if let Some(m) = t.mean_minutes { ", " (format!("{m:.0}")) " min on average" } "; " (t.unique_players) " players (each tournament's own, added up)." }
                div.scroll { table.report {
                    thead { tr { th { "Day" } th { "Venue" } th { "Tournament" } th { "Entries" } th { "Players" } th { "Time" } th { "First three" } } }
                    tbody { @for row in t.list.iter().take(SHOWN) { tr {
                        td data-label="Day" { (row.day) } td data-label="Venue" { (row.venue) } td data-label="Tournament" { strong { (row.name) } }
                        td data-label="Entries" { (row.entries) @if row.reentries > 0 { " (" (row.reentries) " re)" } }
                        td data-label="Players" { (row.unique_players) }
                        td data-label="Time" { @match row.minutes { Some(m) => { (m) " min" }, None => { "running" } } }
                        td data-label="First three" { @for (i, p) in row.podium.iter().enumerate() { @if i > 0 { ", " } (p.place) ". " (p.name) } }
                    } } }
                } }
                @if t.list.len() > SHOWN {
                    p.meta { "The newest " (SHOWN) " are shown; the CSV has "
                        @if t.listed_all { "all " (t.list.len()) "." } @else { "the newest " (t.list.len()) " (a shorter range lists the rest)." } }
                }
            }
            p.meta { a href=(csv_link(asked, "tournaments")) { "Tournaments (CSV)" } }
        }
    }
}

/// A bar chart of `values` by day (drawn in SVG, scaled to its box).
fn bars(values: &[(String, f64)], unit: &str, colour: &str) -> Markup {
    const W: f64 = 720.0;
    const H: f64 = 160.0;
    const PAD: f64 = 28.0;
    let max = values.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let n = values.len().max(1) as f64;
    let step = (W - PAD) / n;
    let label = |i: usize| values.get(i).map(|(d, _)| d.clone()).unwrap_or_default();
    html! {
        svg.chart viewBox=(format!("0 0 {W} {}", H + 20.0)) role="img" preserveAspectRatio="none"
            aria-label=(format!("{unit} by day, from {} to {}; the most {max:.1}", label(0), label(values.len().saturating_sub(1)))) {
            line x1=(PAD) y1=(H) x2=(W) y2=(H) stroke="#8892a0" stroke-width="1" {}
            text x="0" y="12" font-size="11" fill="#aab3c0" { (format!("{max:.0}")) }
            text x="0" y=(H) font-size="11" fill="#aab3c0" { "0" }
            @for (i, (day, v)) in values.iter().enumerate() {
                @let h = if max > 0.0 { v / max * (H - 16.0) } else { 0.0 };
                rect x=(format!("{:.2}", PAD + i as f64 * step)) y=(format!("{:.2}", H - h))
                    width=(format!("{:.2}", (step * 0.8).max(0.5))) height=(format!("{h:.2}")) fill=(colour) {
                    title { (day) ": " (format!("{v:.1}")) " " (unit) }
                }
            }
            text x=(PAD) y=(H + 16.0) font-size="11" fill="#aab3c0" { (label(0)) }
            text x=(W) y=(H + 16.0) font-size="11" fill="#aab3c0" text-anchor="end" { (label(values.len().saturating_sub(1))) }
        }
    }
}

/// Visits by weekday (rows) and hour (columns), darker for more.
fn heatmap(grid: &[[u32; 24]]) -> Markup {
    const CELL: f64 = 26.0;
    const LEFT: f64 = 36.0;
    let max = grid.iter().flatten().copied().max().unwrap_or(0).max(1);
    html! {
        svg.chart viewBox=(format!("0 0 {} {}", LEFT + 24.0 * CELL, 7.0 * CELL + 18.0)) role="img"
            aria-label="visits by weekday and the hour players came" {
            @for (d, hours) in grid.iter().enumerate() {
                text x="0" y=(format!("{:.0}", d as f64 * CELL + 17.0)) font-size="11" fill="#aab3c0" { (WEEKDAYS.get(d).copied().unwrap_or("")) }
                @for (h, n) in hours.iter().enumerate() {
                    rect x=(format!("{:.0}", LEFT + h as f64 * CELL)) y=(format!("{:.0}", d as f64 * CELL))
                        width=(CELL - 2.0) height=(CELL - 2.0) rx="3"
                        fill="#4a7bd0" fill-opacity=(format!("{:.2}", 0.08 + 0.92 * f64::from(*n) / f64::from(max))) {
                        title { (WEEKDAYS.get(d).copied().unwrap_or("")) " " (format!("{h:02}:00")) ": " (n) " visits" }
                    }
                }
            }
            @for h in (0..24).step_by(3) {
                text x=(format!("{:.0}", LEFT + h as f64 * CELL)) y=(format!("{:.0}", 7.0 * CELL + 14.0)) font-size="11" fill="#aab3c0" { (format!("{h:02}")) }
            }
        }
    }
}
