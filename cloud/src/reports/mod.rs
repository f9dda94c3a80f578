//! History and reports across an operator's venues (docs/REPORTS.md):
//! tournaments, cash games and attendance by venue-local day, over any date
//! range, for one venue or all the caller sees; as JSON, CSV and the admin
//! page's server-rendered SVG charts (`http::reports`).
//!
//! Reports read each venue's facts (`facts`), kept in memory beside the
//! venue's folded state: a report reads no events.

pub mod facts;

use chrono::NaiveDate;
use facts::{weekday, TournamentFacts, VenueFacts};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The longest range a report covers (days).
pub const MAX_DAYS: i64 = 3_660;
/// At most this many tournaments are listed in one report (the totals
/// count them all).
pub const MAX_LISTED: usize = 1_000;

/// A venue in a report.
#[derive(Debug, Clone, Serialize)]
pub struct VenueRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub venues: Vec<VenueRef>,
    pub tournaments: Tournaments,
    pub cash: Cash,
    pub attendance: Attendance,
    /// One row per local day of the range (every venue's that day together).
    pub days: Vec<DayRow>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Tournaments {
    /// Tournaments that started in the range.
    pub count: u64,
    pub finished: u64,
    pub entries: u64,
    pub reentries: u64,
    /// Each tournament's distinct players, summed.
    pub unique_players: u64,
    /// Mean start-to-finish time of the finished ones (minutes).
    pub mean_minutes: Option<f64>,
    /// Newest first, at most `MAX_LISTED`.
    pub list: Vec<TournamentRow>,
    pub listed_all: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TournamentRow {
    pub venue: String,
    pub day: String,
    pub name: String,
    pub entries: u64,
    pub reentries: u64,
    pub unique_players: u64,
    pub minutes: Option<u64>,
    pub podium: Vec<Place>,
}

/// A place in a finished tournament and its player's public name.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    pub place: u32,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cash {
    pub games: Vec<GameRow>,
    /// The most cash tables open at once at one venue on one day.
    pub peak_tables: u32,
    pub table_ms: u64,
    pub table_hours: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GameRow {
    /// "1/2 NLHE".
    pub game: String,
    pub table_ms: u64,
    pub table_hours: f64,
    /// Players seated from the waiting list, and how long they had waited
    /// (seconds, nearest-rank percentiles).
    pub seated_from_list: u64,
    pub wait_p50_s: Option<u32>,
    pub wait_p90_s: Option<u32>,
    pub called: u64,
    pub no_shows: u64,
    /// no_shows / called.
    pub no_show_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Attendance {
    /// Players who came, each counted once per venue and day.
    pub visits: u64,
    /// Visits by the local weekday (Monday first) and hour they came.
    pub by_weekday_hour: Vec<[u32; 24]>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DayRow {
    pub day: String,
    pub table_ms: u64,
    pub peak_tables: u32,
    pub visits: u64,
    pub tournaments: u64,
    pub entries: u64,
}

/// Hours with two decimals.
fn hours(ms: u64) -> f64 {
    (ms as f64 / 36_000.0).round() / 100.0
}

/// The nearest-rank `p`th percentile of sorted `v`.
pub fn percentile(v: &[u32], p: u32) -> Option<u32> {
    if v.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * v.len() as u64).div_ceil(100).max(1) as usize;
    v.get(rank - 1).copied()
}

/// The report over local days `from..=to` of `venues` (their facts in
/// `facts`; a venue with none yet counts nothing).
pub fn report(
    facts: &HashMap<Uuid, VenueFacts>,
    venues: Vec<VenueRef>,
    from: NaiveDate,
    to: NaiveDate,
) -> Report {
    let mut r = Report {
        from: from.to_string(),
        to: to.to_string(),
        ..Report::default()
    };
    r.attendance.by_weekday_hour = vec![[0; 24]; 7];
    let mut games: BTreeMap<String, (GameRow, Vec<u32>)> = BTreeMap::new();
    let mut days: BTreeMap<NaiveDate, DayRow> = BTreeMap::new();
    let mut listed: Vec<(&TournamentFacts, &str)> = Vec::new();
    let (mut finished_ms, mut finished) = (0u64, 0u64);
    for v in &venues {
        let Some(f) = facts.get(&v.id) else { continue };
        for (day, d) in f.days.range(from..=to) {
            let row = days.entry(*day).or_default();
            row.peak_tables = row.peak_tables.max(d.peak_tables);
            row.visits += d.players.len() as u64;
            r.cash.peak_tables = r.cash.peak_tables.max(d.peak_tables);
            r.attendance.visits += d.players.len() as u64;
            let wd = &mut r.attendance.by_weekday_hour[weekday(*day)];
            for (h, n) in d.arrivals.iter().enumerate() {
                wd[h] += n;
            }
            for (key, g) in &d.games {
                let (row_g, waits) = games.entry(key.clone()).or_insert_with(|| {
                    (
                        GameRow {
                            game: key.clone(),
                            ..GameRow::default()
                        },
                        Vec::new(),
                    )
                });
                row_g.table_ms += g.table_ms;
                row_g.called += u64::from(g.called);
                row_g.no_shows += u64::from(g.no_shows);
                waits.extend_from_slice(&g.waits_s);
                row.table_ms += g.table_ms;
                r.cash.table_ms += g.table_ms;
            }
        }
        for t in f
            .tournaments
            .values()
            .filter(|t| (from..=to).contains(&t.day))
        {
            let row = days.entry(t.day).or_default();
            row.tournaments += 1;
            row.entries += t.entries;
            r.tournaments.count += 1;
            r.tournaments.entries += t.entries;
            r.tournaments.reentries += t.reentries;
            r.tournaments.unique_players += t.unique_players;
            if let Some(end) = t.finished_ms {
                finished += 1;
                finished_ms = finished_ms.saturating_add(end.saturating_sub(t.started_ms));
            }
            listed.push((t, v.name.as_str()));
        }
    }
    r.tournaments.finished = finished;
    r.tournaments.mean_minutes =
        (finished > 0).then(|| (finished_ms as f64 / finished as f64 / 6_000.0).round() / 10.0);
    listed.sort_by_key(|t| std::cmp::Reverse(t.0.started_ms));
    r.tournaments.listed_all = listed.len() <= MAX_LISTED;
    r.tournaments.list = listed
        .into_iter()
        .take(MAX_LISTED)
        .map(|(t, venue)| TournamentRow {
            venue: venue.to_owned(),
            day: t.day.to_string(),
            name: t.name.clone(),
            entries: t.entries,
            reentries: t.reentries,
            unique_players: t.unique_players,
            minutes: t
                .finished_ms
                .map(|end| end.saturating_sub(t.started_ms) / 60_000),
            podium: t
                .podium
                .iter()
                .map(|(place, name)| Place {
                    place: *place,
                    name: name.clone(),
                })
                .collect(),
        })
        .collect();
    r.cash.table_hours = hours(r.cash.table_ms);
    r.cash.games = games
        .into_values()
        .map(|(mut g, mut waits)| {
            waits.sort_unstable();
            g.table_hours = hours(g.table_ms);
            g.seated_from_list = waits.len() as u64;
            g.wait_p50_s = percentile(&waits, 50);
            g.wait_p90_s = percentile(&waits, 90);
            g.no_show_rate = (g.called > 0)
                .then(|| (g.no_shows as f64 / g.called as f64 * 1000.0).round() / 1000.0);
            g
        })
        .collect();
    let mut day = from;
    while day <= to {
        let mut row = days.remove(&day).unwrap_or_default();
        row.day = day.to_string();
        r.days.push(row);
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    r.venues = venues;
    r
}

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-`, `@`, tab
/// or carriage return gets a `'` so a spreadsheet never runs it as a formula.
fn field(s: &str) -> String {
    let s = match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_owned(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// One part of a report as CSV: `tournaments`, `cash`, `days` or
/// `attendance`; None for another name.
pub fn csv(r: &Report, part: &str) -> Option<String> {
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let cells: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    match part {
        "tournaments" => {
            line(
                [
                    "venue",
                    "day",
                    "name",
                    "entries",
                    "reentries",
                    "unique_players",
                    "minutes",
                    "first",
                    "second",
                    "third",
                ]
                .map(String::from)
                .to_vec(),
            );
            for t in &r.tournaments.list {
                let place = |n: u32| {
                    t.podium
                        .iter()
                        .find(|p| p.place == n)
                        .map(|p| p.name.clone())
                        .unwrap_or_default()
                };
                line(vec![
                    t.venue.clone(),
                    t.day.clone(),
                    t.name.clone(),
                    t.entries.to_string(),
                    t.reentries.to_string(),
                    t.unique_players.to_string(),
                    opt(t.minutes),
                    place(1),
                    place(2),
                    place(3),
                ]);
            }
        }
        "cash" => {
            line(
                [
                    "game",
                    "table_hours",
                    "seated_from_list",
                    "wait_p50_s",
                    "wait_p90_s",
                    "called",
                    "no_shows",
                    "no_show_rate",
                ]
                .map(String::from)
                .to_vec(),
            );
            for g in &r.cash.games {
                line(vec![
                    g.game.clone(),
                    g.table_hours.to_string(),
                    g.seated_from_list.to_string(),
                    opt(g.wait_p50_s),
                    opt(g.wait_p90_s),
                    g.called.to_string(),
                    g.no_shows.to_string(),
                    opt(g.no_show_rate),
                ]);
            }
        }
        "days" => {
            line(
                [
                    "day",
                    "table_hours",
                    "peak_tables",
                    "visits",
                    "tournaments",
                    "entries",
                ]
                .map(String::from)
                .to_vec(),
            );
            for d in &r.days {
                line(vec![
                    d.day.clone(),
                    hours(d.table_ms).to_string(),
                    d.peak_tables.to_string(),
                    d.visits.to_string(),
                    d.tournaments.to_string(),
                    d.entries.to_string(),
                ]);
            }
        }
        "attendance" => {
            let mut head = vec!["weekday".to_owned()];
            head.extend((0..24).map(|h| format!("{h:02}")));
            line(head);
            for (i, hours) in r.attendance.by_weekday_hour.iter().enumerate() {
                let mut row = vec![WEEKDAYS[i].to_owned()];
                row.extend(hours.iter().map(|n| n.to_string()));
                line(row);
            }
        }
        _ => return None,
    }
    Some(out)
}

pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(field("Friday 5"), "Friday 5");
    }
}
