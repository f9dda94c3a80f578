//! History and reports on a seeded history: 5 venues in five time zones,
//! 90 days each of cash games (tables opened and closed, players joining
//! waiting lists, called, seated or dropped as no-shows, walk-ups) and
//! tournaments (entries, a re-entry, busts to the finish), all made through
//! each node's HTTP API with the node's clock moved day by day, then synced
//! to a real hub through real leaves. Every figure of the hub's report is
//! checked against a direct computation over the node's own event log, for
//! all venues over the whole range and for one venue over part of it; the
//! CSV and the report page (Chromium, 390 and 1280 px) are looked at too.

#[path = "../../node/tests/common/browser.rs"]
mod browser;
mod common;
#[path = "../../node/tests/common/inprocess.rs"]
#[allow(dead_code)]
mod inprocess;

use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use common::*;
use inprocess::{ManualClock, Venue};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

const DAYS: u64 = 90;
const ZONES: [&str; 5] = [
    "Europe/London",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/Berlin",
];
/// 2026-08-15T00:00:00Z: the first seeded day. The 90 days hold the clock
/// changes of Sydney (4 October), Europe (25 October) and New York (1
/// November): days of 23 and 25 hours.
const FIRST_DAY_MS: u64 = 1_786_752_000_000;

/// A token the node signed for an admin that lasts the whole seeding.
fn admin_token(v: &Venue) -> String {
    let mut c = v.claims(pvm_shared::auth::TokenKind::Access);
    c.role = pvm_shared::auth::Role::Admin;
    c.nbf = c.iat - 10 * 86_400;
    c.exp = c.iat + 200 * 86_400;
    pvm_shared::auth::sign_token(&c, &v.node.state.identity.key, &v.node_kid())
}

/// A small deterministic generator (each venue its own sequence).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

struct Seeder<'a> {
    v: &'a Venue,
    token: String,
}

impl Seeder<'_> {
    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.v.request(method, path, Some(&self.token), body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }
    async fn maybe(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let (s, v) = self.v.request(method, path, Some(&self.token), body).await;
        s.is_success().then_some(v)
    }
    fn at(&self, ms: u64) {
        self.v
            .clock
            .0
            .store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

/// 90 days of one venue, through its API.
async fn seed(v: &Venue, index: usize) {
    let s = Seeder {
        v,
        token: admin_token(v),
    };
    let mut rnd = Lcg(index as u64 + 7);
    s.at(FIRST_DAY_MS - 86_400_000);
    let mut settings = s.ok("GET", "/api/v1/venue", None).await;
    settings["timezone"] = json!(ZONES[index]);
    settings["name"] = json!(format!("Venue {index}"));
    s.ok("PUT", "/api/v1/venue", Some(settings)).await;
    let mut tables = Vec::new();
    for (name, game, sb, bb) in [
        ("T1", "nlhe", 1, 2),
        ("T2", "nlhe", 1, 2),
        ("T3", "plo", 2, 5),
    ] {
        let t = s
            .ok(
                "POST",
                "/api/v1/tables",
                Some(json!({"name": name, "game": game, "stakes": {"small_blind": sb, "big_blind": bb}, "seats": 9})),
            )
            .await;
        tables.push(t["id"].as_str().expect("table").to_owned());
    }
    for (game, sb, bb) in [("nlhe", 1, 2), ("plo", 2, 5)] {
        s.ok(
            "POST",
            "/api/v1/cash/lists",
            Some(json!({"game": game, "stakes": {"small_blind": sb, "big_blind": bb}})),
        )
        .await;
    }
    let board = s.ok("GET", "/api/v1/cash", None).await;
    let list_of = |game: &str| {
        board["lists"]
            .as_array()
            .expect("lists")
            .iter()
            .find(|l| l["game"] == game)
            .expect("list")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (nlhe, plo) = (list_of("nlhe"), list_of("plo"));
    let mut players = Vec::new();
    for i in 0..30 {
        let p = s
            .ok(
                "POST",
                "/api/v1/players",
                Some(json!({"name": format!("Player {index}-{i:02}")})),
            )
            .await;
        players.push(p["id"].as_str().expect("player").to_owned());
    }
    for day in 0..DAYS {
        let base = FIRST_DAY_MS + day * 86_400_000;
        let mut t = base + (15 + rnd.next(4)) * 3_600_000;
        s.at(t);
        // Tables: T1 every day, T3 (PLO) every other day, T2 every third.
        let open: Vec<usize> = [0, 1, 2]
            .into_iter()
            .filter(|i| match i {
                0 => true,
                1 => day % 3 == 0,
                _ => day % 2 == 0,
            })
            .collect();
        for i in &open {
            s.ok("POST", &format!("/api/v1/tables/{}/open", tables[*i]), None)
                .await;
            t += 60_000;
            s.at(t);
        }
        // The lists: NLHE players 0..12, PLO players 12..18.
        let mut seated: Vec<(String, u32)> = Vec::new();
        let mut seats_used = [0u32; 3];
        for (list, pool, table) in [(&nlhe, 0..12usize, 0usize), (&plo, 12..18, 2)] {
            if !open.contains(&table) {
                continue;
            }
            let n = 2 + rnd.next(4) as usize;
            let start = pool.start + rnd.next(pool.len() as u64) as usize;
            for k in 0..n {
                let p = &players[pool.start + (start - pool.start + k) % pool.len()];
                s.ok(
                    "POST",
                    &format!("/api/v1/cash/lists/{list}/entries"),
                    Some(json!({"player_id": p})),
                )
                .await;
                t += (1 + rnd.next(5)) * 60_000;
                s.at(t);
            }
            for _ in 0..n {
                t += (1 + rnd.next(30)) * 60_000;
                s.at(t);
                if s.maybe(
                    "POST",
                    &format!("/api/v1/cash/lists/{list}/call-next"),
                    None,
                )
                .await
                .is_none()
                {
                    break;
                }
                let board = s.ok("GET", "/api/v1/cash", None).await;
                let called = board["lists"]
                    .as_array()
                    .expect("lists")
                    .iter()
                    .find(|l| l["id"] == list.as_str())
                    .and_then(|l| {
                        l["entries"]
                            .as_array()?
                            .iter()
                            .find(|e| !e["call"].is_null())
                            .cloned()
                    });
                let Some(entry) = called else { break };
                let entry_id = entry["id"].as_str().expect("entry").to_owned();
                t += 60_000;
                s.at(t);
                if rnd.next(5) == 0 {
                    s.ok(
                        "POST",
                        &format!("/api/v1/cash/entries/{entry_id}/no-show"),
                        None,
                    )
                    .await;
                    continue;
                }
                let tbl = if table == 0 && seats_used[0] >= 6 && open.contains(&1) {
                    1
                } else {
                    table
                };
                seats_used[tbl] += 1;
                let seat = seats_used[tbl];
                if s.maybe(
                    "POST",
                    &format!("/api/v1/cash/entries/{entry_id}/seat"),
                    Some(json!({"table_id": tables[tbl], "seat": seat})),
                )
                .await
                .is_some()
                {
                    seated.push((tables[tbl].clone(), seat));
                }
            }
        }
        // A walk-up sits down without the list.
        t += 10 * 60_000;
        s.at(t);
        seats_used[0] += 1;
        let walk_up = &players[24 + rnd.next(6) as usize];
        if s.maybe(
            "POST",
            "/api/v1/cash/seats",
            Some(json!({"player_id": walk_up, "table_id": tables[0], "seat": seats_used[0]})),
        )
        .await
        .is_some()
        {
            seated.push((tables[0].clone(), seats_used[0]));
        }
        // A tournament every third day: players 18..30 and one from the cash
        // game (one visit that day), a re-entry, busts to the finish.
        if day % 3 == 1 {
            t += 20 * 60_000;
            s.at(t);
            let tour = s
                .ok(
                    "POST",
                    "/api/v1/tournaments",
                    Some(json!({"name": format!("Daily {day}"), "template": "Turbo", "tables": 2, "seats": 9})),
                )
                .await;
            let id = tour["id"].as_str().expect("tournament").to_owned();
            let field = 4 + rnd.next(4) as usize;
            let mut entrants: Vec<&String> = players[18..18 + field].iter().collect();
            entrants.push(&players[rnd.next(12) as usize]);
            for p in &entrants {
                s.ok(
                    "POST",
                    &format!("/api/v1/tournaments/{id}/entries"),
                    Some(json!({"player_id": p})),
                )
                .await;
            }
            t += 5 * 60_000;
            s.at(t);
            s.ok("POST", &format!("/api/v1/tournaments/{id}/start"), None)
                .await;
            let mut reentered = false;
            loop {
                t += (5 + rnd.next(20)) * 60_000;
                s.at(t);
                let entries = s
                    .ok("GET", &format!("/api/v1/tournaments/{id}/entries"), None)
                    .await;
                let alive: Vec<Value> = entries
                    .as_array()
                    .expect("entries")
                    .iter()
                    .filter(|e| e["busted"] == false)
                    .cloned()
                    .collect();
                if alive.len() < 2 {
                    break;
                }
                let out = &alive[rnd.next(alive.len() as u64) as usize];
                s.ok(
                    "POST",
                    &format!(
                        "/api/v1/tournaments/{id}/bullets/{}/bust",
                        out["bullet_id"].as_str().expect("bullet")
                    ),
                    None,
                )
                .await;
                if !reentered && alive.len() > 3 {
                    reentered = true;
                    // Back in with a new stack, if the structure allows it.
                    let _ = s
                        .maybe(
                            "POST",
                            &format!("/api/v1/tournaments/{id}/entries"),
                            Some(json!({"player_id": out["player_id"]})),
                        )
                        .await;
                }
            }
        }
        // Everyone leaves; the tables close (T1 after midnight UTC on odd days).
        t = t.max(base + 23 * 3_600_000) + rnd.next(60) * 60_000;
        s.at(t);
        for (table, seat) in &seated {
            s.ok(
                "POST",
                &format!("/api/v1/cash/tables/{table}/seats/{seat}/leave"),
                None,
            )
            .await;
        }
        for i in open.iter().rev() {
            // On the last day T1 stays open: it counts up to now, and the
            // quiet days after have it open at their peak.
            if *i == 0 && day == DAYS - 1 {
                continue;
            }
            if *i == 0 && day % 2 == 1 {
                t += 90 * 60_000;
                s.at(t);
            }
            s.ok(
                "POST",
                &format!("/api/v1/tables/{}/close", tables[*i]),
                None,
            )
            .await;
            t += 60_000;
            s.at(t);
        }
    }
}

/// Every event of a node, from its API.
async fn node_events(v: &Venue) -> Vec<Value> {
    let token = admin_token(v);
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
        let (s, page) = v
            .request(
                "GET",
                &format!("/api/v1/events?after={after}&limit=1000"),
                Some(&token),
                None,
            )
            .await;
        assert!(s.is_success(), "{s} {page}");
        let page = page.as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// What the report should say, computed straight from the events.
#[derive(Debug, Default)]
struct Expected {
    /// (local day, game) -> open ms.
    table_ms: BTreeMap<(NaiveDate, String), u64>,
    /// local day -> most tables open at once.
    peak: BTreeMap<NaiveDate, u32>,
    /// (local day, game) -> waits (s).
    waits: BTreeMap<(NaiveDate, String), Vec<u32>>,
    called: BTreeMap<(NaiveDate, String), u64>,
    no_shows: BTreeMap<(NaiveDate, String), u64>,
    /// local day -> players who came; and (weekday, hour) of their first.
    visits: BTreeMap<NaiveDate, BTreeSet<String>>,
    arrivals: BTreeMap<(NaiveDate, usize, u32), u32>,
    /// (local start day, entries, reentries, unique, minutes)
    tournaments: Vec<(NaiveDate, u64, u64, u64, Option<u64>)>,
}

fn local(tz: Tz, ms: u64) -> (NaiveDate, u32) {
    let t = tz
        .timestamp_millis_opt(ms as i64)
        .earliest()
        .expect("a moment");
    (t.date_naive(), t.hour())
}

fn wall(e: &Value) -> u64 {
    e["hlc"]
        .as_str()
        .and_then(|h| h.split('.').next())
        .and_then(|w| w.parse().ok())
        .expect("hlc")
}

fn key(game: &Value, stakes: &Value) -> String {
    let label = match game.as_str().expect("game") {
        "nlhe" => "NLHE",
        "plo" => "PLO",
        other => panic!("seeded no {other}"),
    };
    format!("{}/{} {label}", stakes["small_blind"], stakes["big_blind"])
}

/// Adds a table's time `[from, until)` to each local day it covers.
fn split(x: &mut Expected, tz: Tz, game: &str, mut from: u64, until: u64) {
    while from < until {
        let (day, _) = local(tz, from);
        let next = tz
            .from_local_datetime(
                &day.succ_opt()
                    .expect("next day")
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight"),
            )
            .earliest()
            .expect("midnight exists")
            .timestamp_millis() as u64;
        let end = next.min(until);
        *x.table_ms.entry((day, game.to_owned())).or_default() += end - from;
        from = end;
    }
}

/// A tournament from its events: start, finish, entries, re-entries, players.
type Tour = (u64, Option<u64>, u64, u64, BTreeSet<String>);

fn expected(events: &[Value], tz: Tz, now_ms: u64) -> Expected {
    let mut x = Expected::default();
    let mut table_game: HashMap<String, String> = HashMap::new();
    let mut list_game: HashMap<String, String> = HashMap::new();
    let mut entries: HashMap<String, (u64, String)> = HashMap::new();
    let mut open: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut intervals: Vec<(u64, u64)> = Vec::new();
    let mut seats: HashMap<(String, u64), String> = HashMap::new();
    // tournament -> (start ms, finish ms, entries, reentries, players)
    let mut tours: BTreeMap<String, Tour> = BTreeMap::new();
    let came = |x: &mut Expected, player: &str, ms: u64| {
        let (day, hour) = local(tz, ms);
        if x.visits.entry(day).or_default().insert(player.to_owned()) {
            let wd = day.weekday().num_days_from_monday() as usize;
            *x.arrivals.entry((day, wd, hour)).or_default() += 1;
        }
    };
    for e in events {
        let p = &e["payload"];
        let at = wall(e);
        match e["kind"].as_str().expect("kind") {
            "table_created" => {
                table_game.insert(
                    p["table_id"].as_str().expect("id").into(),
                    key(&p["game"], &p["stakes"]),
                );
            }
            "table_opened" => {
                let id = p["table_id"].as_str().expect("id").to_owned();
                let g = table_game[&id].clone();
                open.insert(id, (at, g));
            }
            "table_closed" => {
                let (since, g) = open
                    .remove(p["table_id"].as_str().expect("id"))
                    .expect("was open");
                intervals.push((since, at));
                split(&mut x, tz, &g, since, at);
            }
            "waiting_list_created" => {
                list_game.insert(
                    p["list_id"].as_str().expect("id").into(),
                    key(&p["game"], &p["stakes"]),
                );
            }
            "player_joined_list" => {
                entries.insert(
                    p["entry_id"].as_str().expect("id").into(),
                    (
                        p["at_ms"].as_u64().expect("at"),
                        list_game[p["list_id"].as_str().expect("list")].clone(),
                    ),
                );
            }
            "player_called" if p["call"]["number"] == 1 => {
                let g = entries[p["entry_id"].as_str().expect("entry")].1.clone();
                *x.called.entry((local(tz, at).0, g)).or_default() += 1;
            }
            "player_no_show" if p["moved_to"].is_null() => {
                let g = entries[p["entry_id"].as_str().expect("entry")].1.clone();
                *x.no_shows.entry((local(tz, at).0, g)).or_default() += 1;
            }
            "player_seated" => {
                let ms = p["at_ms"].as_u64().expect("at");
                let player = p["player_id"].as_str().expect("player");
                if !seats.values().any(|s| s == player) {
                    came(&mut x, player, ms);
                }
                seats.insert(
                    (
                        p["table_id"].as_str().expect("table").into(),
                        p["seat"].as_u64().expect("seat"),
                    ),
                    player.into(),
                );
                if let Some(entry) = p["from_entry"].as_str() {
                    let (joined, g) = entries[entry].clone();
                    x.waits
                        .entry((local(tz, ms).0, g))
                        .or_default()
                        .push(((ms - joined) / 1000) as u32);
                }
            }
            "player_left_seat" => {
                seats.remove(&(
                    p["table_id"].as_str().expect("table").into(),
                    p["seat"].as_u64().expect("seat"),
                ));
            }
            "tournament_played" => {
                let id = p["tournament_id"].as_str().expect("id").to_owned();
                let ev = &p["event"];
                let t = tours.entry(id).or_insert((0, None, 0, 0, BTreeSet::new()));
                match ev["type"].as_str().expect("type") {
                    "started" => t.0 = ev["at_ms"].as_u64().expect("at"),
                    "registered" => {
                        t.2 += 1;
                        if ev["reentry"] == true {
                            t.3 += 1;
                        }
                        let player = ev["player_id"].as_str().expect("player");
                        t.4.insert(player.to_owned());
                        came(&mut x, player, at);
                    }
                    "busted" if ev["finished"] == true => t.1 = Some(at),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    // A table still open counts up to now.
    for (since, _) in open.values() {
        intervals.push((*since, now_ms));
    }
    for (since, g) in std::mem::take(&mut open).into_values() {
        split(&mut x, tz, &g, since, now_ms);
    }
    // The most tables open at once on each local day: at each opening, and
    // at the start of each day for those still open from the day before.
    let mut points: Vec<u64> = intervals.iter().map(|(a, _)| *a).collect();
    for (a, b) in &intervals {
        let (mut day, _) = local(tz, *a);
        loop {
            day = day.succ_opt().expect("day");
            let start = tz
                .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
                .earliest()
                .expect("exists")
                .timestamp_millis() as u64;
            if start >= *b {
                break;
            }
            points.push(start);
        }
    }
    for pt in points {
        let n = intervals
            .iter()
            .filter(|(a, b)| *a <= pt && pt < *b)
            .count() as u32;
        let e = x.peak.entry(local(tz, pt).0).or_default();
        *e = (*e).max(n);
    }
    for (start, finish, entries, reentries, players) in tours.into_values() {
        x.tournaments.push((
            local(tz, start).0,
            entries,
            reentries,
            players.len() as u64,
            finish.map(|f| (f - start) / 60_000),
        ));
    }
    x
}

fn percentile(v: &mut [u32], p: usize) -> Option<u32> {
    v.sort_unstable();
    if v.is_empty() {
        return None;
    }
    let rank = (p * v.len()).div_ceil(100).max(1);
    Some(v[rank - 1])
}

/// Checks a report over `from..=to` against `venues`' expected figures.
fn check(report: &Value, venues: &[&Expected], from: NaiveDate, to: NaiveDate) {
    let within = |d: &NaiveDate| (from..=to).contains(d);
    // Cash, per game.
    let mut games: BTreeMap<String, (u64, Vec<u32>, u64, u64)> = BTreeMap::new();
    for x in venues {
        for ((d, g), ms) in &x.table_ms {
            if within(d) {
                games.entry(g.clone()).or_default().0 += ms;
            }
        }
        for ((d, g), w) in &x.waits {
            if within(d) {
                games.entry(g.clone()).or_default().1.extend(w);
            }
        }
        for ((d, g), n) in &x.called {
            if within(d) {
                games.entry(g.clone()).or_default().2 += n;
            }
        }
        for ((d, g), n) in &x.no_shows {
            if within(d) {
                games.entry(g.clone()).or_default().3 += n;
            }
        }
    }
    let got: BTreeMap<String, &Value> = report["cash"]["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| (g["game"].as_str().expect("game").to_owned(), g))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        games.keys().collect::<Vec<_>>(),
        "the games"
    );
    for (g, (ms, mut waits, called, no_shows)) in games {
        let row = got[&g];
        assert_eq!(row["table_ms"], ms, "{g} table time");
        assert_eq!(row["seated_from_list"], waits.len(), "{g} seated");
        assert_eq!(row["called"], called, "{g} called");
        assert_eq!(row["no_shows"], no_shows, "{g} no-shows");
        assert_eq!(
            row["wait_p50_s"],
            json!(percentile(&mut waits, 50)),
            "{g} p50"
        );
        assert_eq!(
            row["wait_p90_s"],
            json!(percentile(&mut waits, 90)),
            "{g} p90"
        );
    }
    // Days: table time, peak, visits.
    let days: BTreeMap<String, &Value> = report["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| (d["day"].as_str().expect("day").to_owned(), d))
        .collect();
    assert_eq!(
        days.len() as i64,
        (to - from).num_days() + 1,
        "one row a day"
    );
    let mut peak_all = 0;
    let (mut visits_all, mut grid) = (0u64, vec![[0u32; 24]; 7]);
    for (day, row) in &days {
        let d: NaiveDate = day.parse().expect("date");
        let ms: u64 = venues
            .iter()
            .flat_map(|x| x.table_ms.iter())
            .filter(|((dd, _), _)| *dd == d)
            .map(|(_, ms)| *ms)
            .sum();
        let peak = venues
            .iter()
            .filter_map(|x| x.peak.get(&d))
            .max()
            .copied()
            .unwrap_or(0);
        let visits: usize = venues
            .iter()
            .filter_map(|x| x.visits.get(&d))
            .map(BTreeSet::len)
            .sum();
        peak_all = peak_all.max(peak);
        visits_all += visits as u64;
        assert_eq!(
            (
                row["table_ms"].as_u64(),
                row["peak_tables"].as_u64(),
                row["visits"].as_u64()
            ),
            (Some(ms), Some(u64::from(peak)), Some(visits as u64)),
            "{day}"
        );
    }
    for x in venues {
        for ((d, wd, h), n) in &x.arrivals {
            if within(d) {
                grid[*wd][*h as usize] += n;
            }
        }
    }
    assert_eq!(report["cash"]["peak_tables"], peak_all);
    assert_eq!(report["attendance"]["visits"], visits_all);
    assert_eq!(report["attendance"]["by_weekday_hour"], json!(grid));
    // Tournaments.
    let tours: Vec<&(NaiveDate, u64, u64, u64, Option<u64>)> = venues
        .iter()
        .flat_map(|x| x.tournaments.iter())
        .filter(|t| within(&t.0))
        .collect();
    let t = &report["tournaments"];
    assert_eq!(t["count"], tours.len());
    assert_eq!(t["entries"], tours.iter().map(|t| t.1).sum::<u64>());
    assert_eq!(t["reentries"], tours.iter().map(|t| t.2).sum::<u64>());
    assert_eq!(t["unique_players"], tours.iter().map(|t| t.3).sum::<u64>());
    assert_eq!(
        t["finished"],
        tours.iter().filter(|t| t.4.is_some()).count()
    );
    let mut want: Vec<(String, u64, u64, Option<u64>)> = tours
        .iter()
        .map(|t| (t.0.to_string(), t.1, t.2, t.4))
        .collect();
    let mut listed: Vec<(String, u64, u64, Option<u64>)> = t["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| {
            (
                r["day"].as_str().expect("day").to_owned(),
                r["entries"].as_u64().expect("entries"),
                r["reentries"].as_u64().expect("re"),
                r["minutes"].as_u64(),
            )
        })
        .collect();
    want.sort();
    listed.sort();
    assert_eq!(listed, want, "each tournament");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_over_a_seeded_history_match_the_events() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let admin = cloud.client();
    let url = |p: &str| format!("{}{p}", cloud.url);
    let op: Value = admin
        .post(url("/api/v1/operators"))
        .json(&json!({"name": "Acme Poker"}))
        .send()
        .await
        .expect("operator")
        .json()
        .await
        .expect("json");
    let op = op["id"].as_str().expect("id").to_owned();
    let r = admin
        .post(url(&format!("/api/v1/operators/{op}/staff")))
        .json(&json!({"username": "a-owner", "password": STAFF_PW, "role": "owner"}))
        .send()
        .await
        .expect("owner");
    assert_eq!(r.status().as_u16(), 201);
    let owner = staff_client(&cloud, "a-owner").await;
    // Five venues, each registered, then seeded in this process.
    let mut dirs = Vec::new();
    let mut venue_ids = Vec::new();
    for i in 0..ZONES.len() {
        let v: Value = owner
            .post(url("/api/v1/venues"))
            .json(&json!({"name": format!("Venue {i}")}))
            .send()
            .await
            .expect("venue")
            .json()
            .await
            .expect("json");
        let id = v["id"].as_str().expect("id");
        let t: Value = owner
            .post(url(&format!("/api/v1/venues/{id}/tokens")))
            .json(&json!({}))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let dir = tmp.path().join(format!("node{i}"));
        let out = register(&dir, &cloud.url, t["token"].as_str().expect("token"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        venue_ids.push(venue_of(&dir));
        dirs.push(dir);
    }
    let started = std::time::Instant::now();
    let mut venues = Vec::new();
    for dir in &dirs {
        let clock = Arc::new(ManualClock(AtomicU64::new(FIRST_DAY_MS)));
        venues.push(Arc::new(Venue::open(dir, clock).await));
    }
    let mut seeding = Vec::new();
    for (i, v) in venues.iter().enumerate() {
        let v = v.clone();
        seeding.push(tokio::spawn(async move { seed(&v, i).await }));
    }
    for s in seeding {
        s.await.expect("seeded");
    }
    println!("seeded 5 venues x {DAYS} days in {:?}", started.elapsed());
    // Synced through real leaves.
    let mut leaves = Vec::new();
    let mut pumps = Vec::new();
    for (v, dir) in venues.iter().zip(&dirs) {
        let leaf = Leaf::start(dir);
        pumps.push(pump_in_process(&v.node, dir, leaf.port));
        leaves.push(leaf);
    }
    let mut heads = Vec::new();
    for v in &venues {
        heads.push(v.node.state.reader.head_seq().await.expect("head"));
    }
    println!("events per venue: {heads:?}");
    for (venue, head) in venue_ids.iter().zip(&heads) {
        until(
            Duration::from_secs(240),
            "every event at the hub",
            || async { cloud.events(venue).await["count"].as_u64() == Some(*head) },
        )
        .await;
    }
    // Expected figures, straight from each node's events.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("now")
        .as_millis() as u64;
    let mut expect = Vec::new();
    for (i, v) in venues.iter().enumerate() {
        let tz: Tz = ZONES[i].parse().expect("zone");
        expect.push(expected(&node_events(v).await, tz, now));
    }
    let all: Vec<&Expected> = expect.iter().collect();
    let first = NaiveDate::from_ymd_opt(2026, 8, 14).expect("date");
    let last = NaiveDate::from_ymd_opt(2026, 11, 15).expect("date");
    let report = |q: String| {
        let owner = owner.clone();
        let url = url(&format!("/api/v1/reports?{q}"));
        async move {
            let r = owner.get(url).send().await.expect("report");
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.expect("json")
        }
    };
    // The hub folds each batch after storing it: wait for the last ones.
    let tournaments: usize = expect.iter().map(|x| x.tournaments.len()).sum();
    until(Duration::from_secs(60), "every tournament folded", || {
        let r = report(format!("from={first}&to={last}"));
        async move { r.await["tournaments"]["count"].as_u64() == Some(tournaments as u64) }
    })
    .await;
    let whole = report(format!("from={first}&to={last}")).await;
    assert!(
        whole["tournaments"]["count"].as_u64() > Some(100),
        "{}",
        whole["tournaments"]["count"]
    );
    assert!(whole["tournaments"]["reentries"].as_u64() > Some(0));
    check(&whole, &all, first, last);
    // One venue, part of the range.
    let (from, to) = (
        NaiveDate::from_ymd_opt(2026, 10, 1).expect("date"),
        NaiveDate::from_ymd_opt(2026, 10, 31).expect("date"),
    );
    let part = report(format!("from={from}&to={to}&venue={}", venue_ids[2])).await;
    assert_eq!(part["venues"].as_array().map(Vec::len), Some(1));
    check(&part, &[&expect[2]], from, to);
    // The CSV of the tournaments, and a bad range.
    let csv = owner
        .get(url(&format!(
            "/api/v1/reports/csv?from={from}&to={to}&part=tournaments"
        )))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status().as_u16(), 200);
    assert!(csv
        .headers()
        .get("content-type")
        .is_some_and(|c| c.to_str().unwrap_or_default().starts_with("text/csv")));
    let csv = csv.text().await.expect("text");
    let october = all
        .iter()
        .flat_map(|x| x.tournaments.iter())
        .filter(|t| (from..=to).contains(&t.0))
        .count();
    assert_eq!(
        csv.lines().count(),
        october + 1,
        "a header and a row each: {csv}"
    );
    let r = owner
        .get(url("/api/v1/reports?from=2026-10-31&to=2026-10-01"))
        .send()
        .await
        .expect("bad");
    assert_eq!(r.status().as_u16(), 422);
    let r = owner
        .get(url(&format!(
            "/api/v1/reports?from={from}&to={to}&venue={}",
            uuid::Uuid::now_v7()
        )))
        .send()
        .await
        .expect("unseen");
    assert_eq!(r.status().as_u16(), 404);
    // The page, at phone and desktop width.
    for (width, height) in [(390, 844), (1280, 900)] {
        let b = browser::Browser::start(width, height).await;
        b.goto(&url("/admin/login")).await;
        b.type_into("input[name=username]", "a-owner").await;
        b.type_into("input[name=password]", STAFF_PW).await;
        b.click_and_wait("button[type=submit]").await;
        b.goto(&url(&format!("/admin/reports?from={first}&to={last}")))
            .await;
        let charts = b
            .eval("return document.querySelectorAll('svg.chart').length")
            .await;
        assert_eq!(charts, json!(3));
        let figures = b
            .eval("return document.querySelector('p.figures').textContent")
            .await;
        assert!(
            figures
                .as_str()
                .unwrap_or_default()
                .contains(&format!("{} tournaments", whole["tournaments"]["count"])),
            "{figures}"
        );
        if let Ok(dir) = std::env::var("PVM_SCREENSHOT_DIR") {
            b.full_screenshot(&std::path::Path::new(&dir).join(format!("reports-{width}.png")))
                .await;
        }
        b.quit().await;
    }
    for p in pumps {
        p.cancel();
    }
}
