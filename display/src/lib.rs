//! The wall displays: the kiosk page (HTML, CSS and a small ES5 script, no
//! build step) and the view model every screen is fed from.
//!
//! The model is split in parts (venue, clocks, seat draws, lists, tables,
//! slides, announcements), each kept as its JSON text. A new model reuses the
//! previous one's part when the text is the same, so whoever sends updates
//! can tell what changed by pointer and send only that: a delta.
//! Names on screens are public names only (nickname, or first name and
//! initial). Clocks carry their time left at `server_ms`; screens count down
//! from there with their estimate of the server's time.

pub mod media;

use pvm_shared::displays::DisplayState;
use pvm_shared::tournament::clock::Blinds;
use pvm_shared::tournament::play::{Status, Tournament};
use pvm_shared::venue::{TableStatus, VenueState};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// The kiosk page template; see [`page`].
pub const PAGE: &str = include_str!("../static/display.html");

/// The kiosk page for `device` (a checked id), its feed under `base` ("" on
/// the node, "/venues/<id>" at the hub), marked "possibly delayed" when
/// served from the hub's copy. On the node, `fallback` is the hub's copy
/// (`https://hub/venues/<id>`) the screen follows while the node does not
/// answer; the node's page also names the web app manifest.
pub fn page(device: &str, base: &str, delayed: bool, fallback: Option<&str>) -> String {
    let head = if base.is_empty() {
        r#"<link rel="manifest" href="/display/manifest.webmanifest">"#
    } else {
        ""
    };
    PAGE.replace("{{DEVICE}}", device)
        .replace("{{BASE}}", base)
        .replace("{{DELAYED}}", if delayed { "yes" } else { "no" })
        .replace("{{FALLBACK}}", &attribute(fallback.unwrap_or("")))
        .replace("{{HEAD}}", head)
}

/// `text` made safe inside a double-quoted HTML attribute.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The service worker that keeps the page shell (served at `/display/sw.js`).
pub const SERVICE_WORKER: &str = include_str!("../static/sw.js");
/// The web app manifest (served at `/display/manifest.webmanifest`).
pub const MANIFEST: &str = include_str!("../static/manifest.webmanifest");
/// The icon the manifest names.
pub const ICON: &str = include_str!("../static/icon.svg");
pub const SCRIPT: &str = include_str!("../static/display.js");
pub const STYLE: &str = include_str!("../static/display.css");

/// The parts of the model, in the order they are sent.
pub const PARTS: [&str; 7] = [
    "venue",
    "clocks",
    "seat_draws",
    "lists",
    "tables",
    "slides",
    "announcements",
];

/// One computation of everything the screens show.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub server_ms: u64,
    /// Part name to its JSON text.
    pub parts: BTreeMap<&'static str, Arc<str>>,
    /// When a running clock next changes level (server ms), for a refresh then.
    pub next_boundary_ms: Option<u64>,
}

impl Model {
    /// Builds the model at `now_ms`, reusing `previous`'s parts that did not change.
    pub fn build(state: &VenueState, now_ms: u64, previous: Option<&Model>) -> Model {
        let (clocks, next_boundary_ms) = clocks(state, now_ms);
        let texts: [(&'static str, String); 7] = [
            ("venue", text(&venue(state))),
            ("clocks", text(&clocks)),
            ("seat_draws", text(&seat_draws(state))),
            ("lists", text(&lists(state, now_ms))),
            ("tables", text(&tables(state))),
            ("slides", text(&slides(&state.displays))),
            (
                "announcements",
                text(&announcements(&state.displays, now_ms)),
            ),
        ];
        let parts = texts
            .into_iter()
            .map(|(name, text)| {
                let kept = previous
                    .and_then(|p| p.parts.get(name))
                    .filter(|old| ***old == *text)
                    .cloned();
                (name, kept.unwrap_or_else(|| Arc::from(text)))
            })
            .collect();
        Model {
            server_ms: now_ms,
            parts,
            next_boundary_ms,
        }
    }

    /// The parts that differ from `sent` (all of them when nothing was sent).
    pub fn changed_since(&self, sent: Option<&Model>) -> Vec<(&'static str, Arc<str>)> {
        self.parts
            .iter()
            .filter(|(name, text)| {
                sent.and_then(|s| s.parts.get(*name))
                    .is_none_or(|old| !Arc::ptr_eq(old, text))
            })
            .map(|(name, text)| (*name, text.clone()))
            .collect()
    }

    /// `{"venue": …, "clocks": …}` for the given parts.
    pub fn parts_json(parts: &[(&'static str, Arc<str>)]) -> String {
        let mut out = String::from("{");
        for (i, (name, text)) in parts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            out.push_str(text);
        }
        out.push('}');
        out
    }
}

fn public_name(state: &VenueState, player: Uuid) -> String {
    state
        .players
        .get(&player)
        .map(|p| p.public_name())
        .unwrap_or_else(|| "?".into())
}

/// A part as the JSON text screens get. The parts are plain structs of
/// strings and numbers, which always serialize.
fn text<T: Serialize>(part: &T) -> String {
    serde_json::to_string(part).unwrap_or_else(|_| "null".into())
}

/// The venue's name, colours, theme and logo.
#[derive(Serialize)]
struct VenuePart<'a> {
    name: &'a str,
    primary: &'a str,
    accent: &'a str,
    background: &'a str,
    theme: pvm_shared::displays::Theme,
    logo: Option<String>,
}

fn venue(state: &VenueState) -> VenuePart<'_> {
    let s = &state.settings;
    VenuePart {
        name: s.name.as_str(),
        primary: s.branding.primary.as_str(),
        accent: s.branding.accent.as_str(),
        background: s.branding.background.as_str(),
        theme: state.displays.theme,
        logo: state
            .displays
            .logo
            .as_ref()
            .map(|l| format!("/display/media/{l}")),
    }
}

/// The tournament a "current clock" screen shows: the latest running one,
/// else the latest registering one.
pub fn current_tournament(state: &VenueState) -> Option<Uuid> {
    let pick = |status: Status| {
        state
            .tournaments
            .values()
            .filter(|t| t.status == status)
            .map(|t| t.id)
            .max()
    };
    pick(Status::Running).or_else(|| pick(Status::Registering))
}

/// One tournament's clock: where it stands at the model's server time.
#[derive(Serialize)]
struct ClockPart<'a> {
    id: Uuid,
    name: &'a str,
    status: Status,
    started: bool,
    paused: bool,
    running: bool,
    finished: bool,
    level: u32,
    on_break: bool,
    time_left_ms: u64,
    blinds: Option<Blinds>,
    next: Option<Blinds>,
    to_next_break_ms: Option<u64>,
    players_left: u64,
    entries: u64,
    reentries: u64,
    average_stack: u64,
    prize_pool: u64,
    buy_in: u64,
    /// The first ten places: (place, amount).
    payouts: Vec<(u32, u64)>,
}

/// Every clock not finished, and which one a "current clock" screen shows.
#[derive(Serialize)]
struct ClocksPart<'a> {
    current: Option<Uuid>,
    by_id: BTreeMap<Uuid, ClockPart<'a>>,
}

fn clock_of(t: &Tournament, now_ms: u64) -> (ClockPart<'_>, Option<u64>) {
    let v = t.clock.view(&t.structure, now_ms as i64);
    let stats = t.stats();
    let running = v.started && !v.paused && !v.finished && t.status == Status::Running;
    let boundary = running.then(|| now_ms + v.time_left_ms);
    let payouts = t
        .payouts()
        .iter()
        .take(10)
        .map(|p| (p.place, p.amount))
        .collect();
    (
        ClockPart {
            id: t.id,
            name: &t.name,
            status: t.status,
            started: v.started,
            paused: v.paused,
            running,
            finished: v.finished,
            level: v.level,
            on_break: v.on_break,
            time_left_ms: v.time_left_ms,
            blinds: v.blinds,
            next: v.next,
            to_next_break_ms: v.to_next_break_ms,
            players_left: stats.players_left,
            entries: stats.entries,
            reentries: stats.reentries,
            average_stack: stats.average_stack,
            prize_pool: t.prize_pool(),
            buy_in: t.structure.buy_in,
            payouts,
        },
        boundary,
    )
}

fn clocks(state: &VenueState, now_ms: u64) -> (ClocksPart<'_>, Option<u64>) {
    let mut by_id = BTreeMap::new();
    let mut next: Option<u64> = None;
    for t in state.tournaments.values() {
        if t.status == Status::Finished || t.status == Status::Bagged {
            continue;
        }
        let (v, boundary) = clock_of(t, now_ms);
        next = match (next, boundary) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        by_id.insert(t.id, v);
    }
    let current = current_tournament(state);
    (ClocksPart { current, by_id }, next)
}

/// A running tournament's seats by public name: (name, table, seat).
#[derive(Serialize)]
struct SeatDrawPart<'a> {
    name: &'a str,
    rows: Vec<(String, u16, u8)>,
}

fn seat_draws(state: &VenueState) -> BTreeMap<Uuid, SeatDrawPart<'_>> {
    let mut map = BTreeMap::new();
    for t in state.tournaments.values() {
        if t.status != Status::Running {
            continue;
        }
        let mut rows: Vec<(String, u16, u8)> = t
            .alive()
            .filter_map(|b| {
                b.seat
                    .map(|(tn, s)| (public_name(state, b.player_id), tn, s))
            })
            .collect();
        rows.sort_by(|a, b| {
            a.0.to_lowercase()
                .cmp(&b.0.to_lowercase())
                .then(a.1.cmp(&b.1))
        });
        map.insert(
            t.id,
            SeatDrawPart {
                name: &t.name,
                rows,
            },
        );
    }
    map
}

/// A waiting list: its game, the tables dealing it, who waits (public
/// names, called ones marked) and how long the next seat may take.
#[derive(Serialize)]
struct ListPart {
    label: String,
    /// Open tables dealing this game and stakes, and their free seats.
    tables: usize,
    open_seats: usize,
    waiting: Vec<WaitingPart>,
    /// The next player's wait in minutes, when recent seatings say.
    next_wait: Option<(u32, u32)>,
}

#[derive(Serialize)]
struct WaitingPart {
    name: String,
    /// Called to a seat and not yet seated.
    called: bool,
}

fn lists(state: &VenueState, now_ms: u64) -> Vec<ListPart> {
    let cash = &state.cash;
    cash.lists
        .values()
        .map(|l| {
            let dealing: Vec<_> = state
                .tables
                .values()
                .filter(|t| {
                    t.status != TableStatus::Closed && t.game == l.game && t.stakes == l.stakes
                })
                .collect();
            let open_seats = dealing
                .iter()
                .map(|t| (t.seats as usize).saturating_sub(taken_seats(state, t.id)))
                .sum();
            let next_wait = match pvm_shared::cash::estimate_wait(cash, l.id, 0, now_ms) {
                pvm_shared::cash::WaitEstimate::Range {
                    min_minutes,
                    max_minutes,
                } => Some((min_minutes, max_minutes)),
                pvm_shared::cash::WaitEstimate::Unknown => None,
            };
            ListPart {
                label: format!("{} {}", l.stakes, l.game.label()),
                tables: dealing.len(),
                open_seats,
                waiting: l
                    .queue
                    .iter()
                    .filter_map(|id| cash.entries.get(id))
                    .map(|e| WaitingPart {
                        name: public_name(state, e.player_id),
                        called: e.call.is_some(),
                    })
                    .collect(),
                next_wait,
            }
        })
        .collect()
}

/// Seats taken at a table.
fn taken_seats(state: &VenueState, table_id: Uuid) -> usize {
    state
        .cash
        .seats
        .keys()
        .filter(|(id, _)| *id == table_id)
        .count()
}

/// An open table and its free seats.
#[derive(Serialize)]
struct TablePart<'a> {
    name: &'a str,
    game: String,
    open_seats: usize,
    status: TableStatus,
}

fn tables(state: &VenueState) -> Vec<TablePart<'_>> {
    state
        .tables
        .values()
        .filter(|t| t.status != TableStatus::Closed)
        .map(|t| TablePart {
            name: t.name.as_str(),
            game: format!("{} {}", t.stakes, t.game.label()),
            open_seats: (t.seats as usize).saturating_sub(taken_seats(state, t.id)),
            status: t.status,
        })
        .collect()
}

#[derive(Serialize)]
struct SlidePart<'a> {
    title: &'a str,
    body: &'a str,
    image: Option<String>,
}

fn slides(d: &DisplayState) -> Vec<SlidePart<'_>> {
    d.slides
        .values()
        .map(|s| SlidePart {
            title: &s.title,
            body: &s.body,
            image: s.image.as_ref().map(|i| format!("/display/media/{i}")),
        })
        .collect()
}

#[derive(Serialize)]
struct AnnouncementPart<'a> {
    id: Uuid,
    text: &'a str,
    group: Option<&'a str>,
    until_ms: u64,
}

fn announcements(d: &DisplayState, now_ms: u64) -> Vec<AnnouncementPart<'_>> {
    d.announcements
        .values()
        .filter(|a| a.until_ms > now_ms)
        .map(|a| AnnouncementPart {
            id: a.id,
            text: &a.text,
            group: a.group.as_deref(),
            until_ms: a.until_ms,
        })
        .collect()
}

/// The feed's frames (WebSocket and SSE, node and hub alike): a `snapshot`
/// or `delta` with the parts of `model` that changed since `sent` (all when
/// nothing was sent) and, when it changed, what the device is told about itself.
pub fn frame(
    kind: &str,
    version: u64,
    server_ms: u64,
    model: &Model,
    sent: Option<&Model>,
    device: Option<&DeviceInfo>,
) -> String {
    let parts = model.changed_since(sent);
    let device_json = device
        .and_then(|d| serde_json::to_string(d).ok())
        .unwrap_or_else(|| "null".into());
    format!(
        "{{\"type\":\"{kind}\",\"version\":{version},\"server_ms\":{server_ms},\"model_ms\":{},\"device\":{device_json},\"parts\":{}}}",
        model.server_ms,
        Model::parts_json(&parts)
    )
}

/// Proof the link is alive, with the server's time.
pub fn tick_frame(server_ms: u64) -> String {
    format!("{{\"type\":\"tick\",\"server_ms\":{server_ms}}}")
}

/// The answer to a screen's `ping` (its `t` back, for the round trip).
pub fn pong_frame(t: f64, server_ms: u64) -> String {
    format!("{{\"type\":\"pong\",\"t\":{t},\"server_ms\":{server_ms}}}")
}

/// What one device is told about itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceInfo {
    pub id: String,
    pub code: String,
    pub name: Option<String>,
    pub group: Option<String>,
    pub playlist: pvm_shared::displays::Playlist,
}

impl DeviceInfo {
    pub fn of(state: &VenueState, device_id: &str) -> DeviceInfo {
        let device = state.displays.devices.get(device_id);
        DeviceInfo {
            id: device_id.to_owned(),
            code: pvm_shared::displays::device_code(device_id),
            name: device.map(|d| d.name.clone()),
            group: device.and_then(|d| d.group.clone()),
            playlist: state.displays.playlist_of(device_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvm_shared::tournament::play::PlayCommand;
    use pvm_shared::tournament::structure::templates;
    use serde_json::{json, Value};

    fn running() -> VenueState {
        let mut state = VenueState::default();
        let mut t = Tournament::new(Uuid::from_u128(1), templates()[0].clone(), 2, 9);
        for i in 0..4u128 {
            let e = t
                .decide(&PlayCommand::Register {
                    bullet_id: Uuid::from_u128(10 + i),
                    player_id: Uuid::from_u128(100 + i),
                    seed: 1,
                    at_ms: 0,
                    override_late_reg: false,
                })
                .expect("register");
            t.apply(&e);
        }
        let e = t.decide(&PlayCommand::Start { at_ms: 0 }).expect("start");
        t.apply(&e);
        std::sync::Arc::make_mut(&mut state.tournaments).insert(t.id, std::sync::Arc::new(t));
        state
    }

    #[test]
    fn only_the_parts_that_changed_are_sent_again() {
        let state = running();
        let first = Model::build(&state, 1_000, None);
        assert_eq!(first.changed_since(None).len(), PARTS.len());
        // A second later only the clock moved.
        let second = Model::build(&state, 2_000, Some(&first));
        let changed: Vec<&str> = second
            .changed_since(Some(&first))
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(changed, vec!["clocks"]);
        assert_eq!(first.next_boundary_ms, Some(12 * 60_000));
        let v: Value = serde_json::from_str(&second.parts["clocks"]).expect("json");
        assert_eq!(v["current"], json!(Uuid::from_u128(1)));
        assert_eq!(
            v["by_id"][Uuid::from_u128(1).to_string()]["time_left_ms"],
            12 * 60_000 - 2_000
        );
        let all = Model::parts_json(&second.changed_since(None));
        let parsed: Value = serde_json::from_str(&all).expect("parts json");
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(PARTS.len()));
    }

    #[test]
    fn the_seat_draw_is_alphabetical_by_public_name() {
        let state = running();
        let m = Model::build(&state, 0, None);
        let v: Value = serde_json::from_str(&m.parts["seat_draws"]).expect("json");
        let rows = v[Uuid::from_u128(1).to_string()]["rows"]
            .as_array()
            .expect("rows")
            .len();
        assert_eq!(rows, 4);
    }

    #[test]
    fn the_page_carries_no_inline_script_or_style() {
        assert!(PAGE.contains("{{DEVICE}}"));
        assert!(!PAGE.contains("<script>") && !PAGE.contains("style="));
        // ES5 only, for old Android WebViews.
        for modern in ["=>", "let ", "const ", "`", "class ", "async ", "fetch("] {
            assert!(!SCRIPT.contains(modern), "display.js uses {modern:?}");
        }
    }
}
