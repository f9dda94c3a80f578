//! Bounds on events from elsewhere: nothing a node's `decide` could not have made.
//!
//! The hub folds the events venue nodes sign with `apply`, which checks
//! nothing. A node's key can sign an event no `decide` ever makes: a Day 2
//! of 7e17 entries (its standard payout table alone would exhaust memory),
//! a tournament of 65,535 tables. `check` refuses such an event before it
//! is folded: every count, index and length it carries stays within what
//! `decide` enforces, judged against the state it would be folded into.
//!
//! Only sizes are checked here, not every rule: an event that is merely
//! wrong (a seat taken twice) costs no more to fold than a right one.
//! `check` is cheap: linear in the event's size (and in the bullets of the
//! flights a Day 2 names), never in a number the event carries.

use crate::cash::{Call, CashEvent};
use crate::displays::{self, DisplayEvent, Playlist};
use crate::event::EventKind;
use crate::staff::check_display_name;
use crate::tournament::clock::ClockState;
use crate::tournament::play::{Day2, Day2Entrant, PlayEvent, Restore, SeatRef, Tournament};
use crate::tournament::Structure;
use crate::venue::{check_seats, checked_name, checked_tables, DomainError, VenueState, SEATS};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Steps in a structure. `Structure::validate` sets no limit; this is more
/// than the node's 64 KiB structure form can carry (about 9,000 lines).
pub const MAX_STEPS: usize = 10_000;

/// Bytes in a machine-made string `decide` takes as given: a password, PIN
/// or API-key hash, a session id, a container or image name, an outcome, a
/// restart method, a clock action or undo label. Real ones are under 200.
pub const MAX_TOKEN_BYTES: usize = 512;

/// Bytes in a free text `decide` takes as given: a lockout's subject (the
/// username typed at login, bounded only by the node's request body) and an
/// update's detail (an error message).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Characters in a waiting-list move's reason (what `cash::decide` allows).
pub const MAX_REASON_CHARS: usize = 200;

/// Characters a slide's body keeps (`DisplayState::decide` cuts it there).
pub const MAX_SLIDE_BODY_CHARS: usize = 1_000;

/// The latest instant a tournament clock holds, in ms either side of the
/// epoch (9999-12-31): the clock subtracts its instants without saturating.
pub const MAX_CLOCK_MS: i64 = 253_402_300_799_999;

/// Why an event is outside what a node's `decide` could have produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct OutOfBounds {
    pub field: String,
    pub reason: String,
}

impl From<DomainError> for OutOfBounds {
    fn from(e: DomainError) -> OutOfBounds {
        match e {
            DomainError::Invalid { field, reason } => out(field, reason),
            other => out("event", other.to_string()),
        }
    }
}

fn out(field: impl Into<String>, reason: impl Into<String>) -> OutOfBounds {
    OutOfBounds {
        field: field.into(),
        reason: reason.into(),
    }
}

/// What one of `decide`'s own checks says, its value dropped.
fn passes<T>(checked: Result<T, DomainError>) -> Result<(), OutOfBounds> {
    checked.map(drop).map_err(Into::into)
}

/// `Ok` when `ok`, else the field and why.
fn ensure(ok: bool, field: &str, reason: impl FnOnce() -> String) -> Result<(), OutOfBounds> {
    if ok {
        Ok(())
    } else {
        Err(out(field, reason()))
    }
}

/// Checks that `event` stays within the bounds the node's `decide` enforces
/// (counts of tables, seats, entries, levels, string lengths, list lengths;
/// payouts bounded by real bullets), against the venue state it would be
/// folded into.
pub fn check(state: &VenueState, event: &EventKind) -> Result<(), OutOfBounds> {
    match event {
        // Names, stakes, colours, time zones and usernames are parsed into
        // types that cannot hold anything out of bounds.
        EventKind::VenueSettingsUpdated { .. }
        | EventKind::TableRenamed { .. }
        | EventKind::TableGameSet { .. }
        | EventKind::TableOpened { .. }
        | EventKind::TableClosed { .. }
        | EventKind::TableStarting { .. }
        | EventKind::StaffRoleChanged { .. }
        | EventKind::StaffUserDisabled { .. }
        | EventKind::StaffUserEnabled { .. }
        | EventKind::ApiKeyRevoked { .. } => Ok(()),
        EventKind::TableCreated { seats, .. } => passes(check_seats(*seats)),
        EventKind::StaffUserCreated {
            display_name,
            password_hash,
            pin_hash,
            ..
        } => {
            check_display_name(display_name)?;
            optional_bytes("password_hash", password_hash.as_deref(), MAX_TOKEN_BYTES)?;
            optional_bytes("pin_hash", pin_hash.as_deref(), MAX_TOKEN_BYTES)
        }
        EventKind::HubStaffReplaced { accounts, .. } => {
            passes(crate::staff::check_hub_accounts(accounts))
        }
        EventKind::StaffPasswordSet { password_hash, .. } => {
            bytes("password_hash", password_hash, MAX_TOKEN_BYTES)
        }
        EventKind::StaffPinSet { pin_hash, .. } => {
            optional_bytes("pin_hash", pin_hash.as_deref(), MAX_TOKEN_BYTES)
        }
        EventKind::LoginLockedOut { subject, .. }
        | EventKind::LoginLockoutCleared { subject, .. } => {
            bytes("subject", subject, MAX_TEXT_BYTES)
        }
        EventKind::SessionRevoked { sid, user_id, .. } => {
            bytes("sid", sid, MAX_TOKEN_BYTES)?;
            bytes("user_id", user_id, MAX_TOKEN_BYTES)
        }
        EventKind::ApiKeyCreated {
            name, secret_hash, ..
        } => {
            check_display_name(name)?;
            bytes("secret_hash", secret_hash, MAX_TOKEN_BYTES)
        }
        EventKind::PlayerCreated { details, .. } | EventKind::PlayerUpdated { details, .. } => {
            passes(details.checked())
        }
        EventKind::TournamentCreated {
            name,
            structure,
            tables,
            seats,
            ..
        } => {
            checked_name(name)?;
            check_structure(structure)?;
            passes(checked_tables(*tables, *seats))
        }
        EventKind::TournamentPlayed {
            tournament_id,
            event,
        } => check_play(
            state
                .tournaments
                .get(tournament_id)
                .map(std::sync::Arc::as_ref),
            event,
        ),
        EventKind::Day2Created {
            name,
            structure,
            tables,
            seats,
            day2,
            entrants,
            ..
        } => {
            checked_name(name)?;
            check_structure(structure)?;
            checked_tables(*tables, *seats)?;
            check_day2(state, day2, entrants, *tables as usize * *seats as usize)
        }
        EventKind::DisplayChanged { change } => check_display(change),
        EventKind::TemplateSaved { structure } => check_structure(structure),
        EventKind::TemplateDeleted { name } => passes(checked_name(name)),
        EventKind::LeafRestarted { method, .. } => bytes("method", method, MAX_TOKEN_BYTES),
        EventKind::WipeOrdered { .. } => Ok(()),
        EventKind::DownHandled {
            kind,
            outcome,
            detail,
            ..
        } => {
            if !matches!(
                kind.as_str(),
                "template" | "announcement" | "update" | "hub_keys" | "leaf_credentials"
            ) {
                return Err(out(
                    "kind",
                    "template, announcement, update, hub_keys or leaf_credentials",
                ));
            }
            if !matches!(outcome.as_str(), "applied" | "refused" | "started") {
                return Err(out("outcome", "applied, refused or started"));
            }
            bytes("detail", detail, crate::venue::MAX_DOWN_DETAIL)
        }
        EventKind::UpdateFinished {
            container,
            image,
            outcome,
            detail,
        } => {
            bytes("container", container, MAX_TOKEN_BYTES)?;
            bytes("image", image, MAX_TOKEN_BYTES)?;
            bytes("outcome", outcome, MAX_TOKEN_BYTES)?;
            bytes("detail", detail, MAX_TEXT_BYTES)
        }
        EventKind::Cash(e) => check_cash(state, e),
    }
}

/// A string of at most `max` bytes.
fn bytes(field: &str, s: &str, max: usize) -> Result<(), OutOfBounds> {
    ensure(s.len() <= max, field, || {
        format!("at most {max} bytes (got {})", s.len())
    })
}

fn optional_bytes(field: &str, s: Option<&str>, max: usize) -> Result<(), OutOfBounds> {
    s.map_or(Ok(()), |s| bytes(field, s, max))
}

/// At most `max` characters, counted no further than needed.
fn chars(field: &str, s: &str, max: usize) -> Result<(), OutOfBounds> {
    ensure(s.chars().nth(max).is_none(), field, || {
        format!("at most {max} characters")
    })
}

/// A list of at most `max` items.
fn at_most(field: &str, len: usize, max: usize) -> Result<(), OutOfBounds> {
    ensure(len <= max, field, || format!("at most {max} (got {len})"))
}

/// A structure `decide` accepts, of at most [`MAX_STEPS`] steps.
fn check_structure(s: &Structure) -> Result<(), OutOfBounds> {
    at_most("structure.steps", s.steps.len(), MAX_STEPS)?;
    s.validate().map_err(|e| out("structure", e.to_string()))
}

/// A Day 2: its flights known and named once, its field and pool no bigger
/// than theirs, its survivors real bullets of them, seated in `room` seats.
fn check_day2(
    state: &VenueState,
    day2: &Day2,
    entrants: &[Day2Entrant],
    room: usize,
) -> Result<(), OutOfBounds> {
    let flights = known_flights(state, &day2.flights)?;
    let entries = flights
        .values()
        .map(|f| f.bullets.len() as u64)
        .fold(0, u64::saturating_add);
    ensure(day2.entries <= entries, "day2.entries", || {
        format!("the flights have {entries} entries, not {}", day2.entries)
    })?;
    let pool = flights
        .values()
        .map(|f| f.collected())
        .fold(0, u64::saturating_add);
    ensure(day2.prize_pool <= pool, "day2.prize_pool", || {
        format!("the flights collected {pool}, not {}", day2.prize_pool)
    })?;
    let last_step = flights.values().filter_map(|f| f.bagged_at_step).max();
    ensure(
        day2.start_step <= last_step.unwrap_or(0),
        "day2.start_step",
        || format!("no flight was bagged at step {}", day2.start_step),
    )?;
    at_most("entrants", entrants.len(), room)?;
    let field = usize::try_from(day2.entries).unwrap_or(usize::MAX);
    at_most("entrants", entrants.len(), field)?;
    check_entrants(&flights, entrants)
}

/// The flights a Day 2 names: at least one, each once, each known.
fn known_flights<'a>(
    state: &'a VenueState,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, &'a Tournament>, OutOfBounds> {
    let mut flights = BTreeMap::new();
    for id in ids {
        let f: &Tournament = state
            .tournaments
            .get(id)
            .ok_or_else(|| out("day2.flights", format!("no flight with id {id}")))?;
        ensure(flights.insert(*id, f).is_none(), "day2.flights", || {
            format!("flight {id} is named twice")
        })?;
    }
    ensure(!flights.is_empty(), "day2.flights", || {
        "a Day 2 is drawn from at least one flight".into()
    })?;
    Ok(flights)
}

/// Survivors in bullet order, each once, each a bullet of a named flight
/// carrying no more chips than it bagged.
fn check_entrants(
    flights: &BTreeMap<Uuid, &Tournament>,
    entrants: &[Day2Entrant],
) -> Result<(), OutOfBounds> {
    let mut last: Option<Uuid> = None;
    for e in entrants {
        ensure(last < Some(e.bullet_id), "entrants", || {
            "list each survivor once, in bullet order".into()
        })?;
        last = Some(e.bullet_id);
        let bagged = flights
            .get(&e.flight)
            .and_then(|f| f.bullets.get(&e.bullet_id))
            .map(|b| b.chips.unwrap_or(0))
            .ok_or_else(|| {
                out(
                    "entrants",
                    format!("{} is not a bullet of a flight named", e.bullet_id),
                )
            })?;
        ensure(e.chips <= bagged, "entrants", || {
            format!("{} bagged {bagged} chips, not {}", e.bullet_id, e.chips)
        })?;
    }
    Ok(())
}

/// A tournament event: seats on the tournament's own tables, steps of its
/// structure, lists no longer than its field. Events for a tournament the
/// state does not know are folded as nothing, so only their texts count.
fn check_play(t: Option<&Tournament>, event: &PlayEvent) -> Result<(), OutOfBounds> {
    match event {
        PlayEvent::Started { at_ms } => clock_instant("at_ms", *at_ms),
        PlayEvent::Registered { seat, .. } | PlayEvent::Busted { seat, .. } => {
            seat.map_or(Ok(()), |s| check_seat(t, "seat", s))
        }
        PlayEvent::LateRegClosed | PlayEvent::Rebought { .. } | PlayEvent::AddedOn { .. } => Ok(()),
        PlayEvent::ClockSet {
            action,
            clock,
            before,
        } => {
            bytes("action", action, MAX_TOKEN_BYTES)?;
            check_clock(t, "clock", clock)?;
            before
                .as_ref()
                .map_or(Ok(()), |b| check_clock(t, "before", b))
        }
        PlayEvent::Undone { what, restore } => {
            bytes("what", what, MAX_TOKEN_BYTES)?;
            check_restore(t, restore)
        }
        PlayEvent::ButtonSet { table, seat } => check_seat(t, "seat", (*table, *seat)),
        PlayEvent::Moved { from, to, .. } => {
            check_seat(t, "from", *from)?;
            check_seat(t, "to", *to)
        }
        PlayEvent::TableBroken { table, moves, .. } => {
            table_seats(t, *table)?;
            check_seated(t, "moves", moves)
        }
        PlayEvent::FinalTableDrawn { table, seats, .. } => {
            if let Some(room) = table_seats(t, *table)? {
                at_most("seats", seats.len(), room as usize)?;
            }
            check_seated(t, "seats", seats)
        }
        PlayEvent::Bagged { stacks, step } => {
            if let Some(t) = t {
                at_most("stacks", stacks.len(), t.bullets.len())?;
                check_step(t, "step", *step)?;
            }
            Ok(())
        }
    }
}

fn check_restore(t: Option<&Tournament>, restore: &Restore) -> Result<(), OutOfBounds> {
    match restore {
        Restore::Unbust { seat, .. } => seat.map_or(Ok(()), |s| check_seat(t, "restore.seat", s)),
        Restore::MoveBack { to, .. } => check_seat(t, "restore.to", *to),
        Restore::ClockBack { clock } => check_clock(t, "restore.clock", clock),
        Restore::Unregister { .. } | Restore::Unrebuy { .. } | Restore::Unaddon { .. } => Ok(()),
    }
}

/// Bullets given seats: no more than the tournament's bullets, each seat on its tables.
fn check_seated(
    t: Option<&Tournament>,
    field: &str,
    seated: &[(Uuid, SeatRef)],
) -> Result<(), OutOfBounds> {
    if let Some(t) = t {
        at_most(field, seated.len(), t.bullets.len())?;
    }
    seated
        .iter()
        .try_for_each(|(_, s)| check_seat(t, field, *s))
}

/// The seats of the tournament's table `number` (None for an unknown tournament).
fn table_seats(t: Option<&Tournament>, number: u16) -> Result<Option<u8>, OutOfBounds> {
    let Some(t) = t else { return Ok(None) };
    t.tables
        .iter()
        .find(|x| x.number == number)
        .map(|x| Some(x.seats))
        .ok_or_else(|| {
            out(
                "table",
                format!(
                    "the tournament has tables 1 to {} (got {number})",
                    t.tables.len()
                ),
            )
        })
}

/// A (table, seat) on the tournament's own tables.
fn check_seat(
    t: Option<&Tournament>,
    field: &str,
    (table, seat): SeatRef,
) -> Result<(), OutOfBounds> {
    match table_seats(t, table)? {
        Some(seats) => ensure((1..=seats).contains(&seat), field, || {
            format!("table {table} has seats 1 to {seats} (got {seat})")
        }),
        None => Ok(()),
    }
}

/// A step index of the tournament's structure.
fn check_step(t: &Tournament, field: &str, step: usize) -> Result<(), OutOfBounds> {
    let steps = t.structure.steps.len();
    ensure(step < steps, field, || {
        format!(
            "the structure has steps 0 to {} (got {step})",
            steps.saturating_sub(1)
        )
    })
}

/// A clock on the tournament's structure, its instants within [`MAX_CLOCK_MS`].
fn check_clock(t: Option<&Tournament>, field: &str, c: &ClockState) -> Result<(), OutOfBounds> {
    clock_instant(field, c.step_started_ms)?;
    c.paused_at_ms.map_or(Ok(()), |p| clock_instant(field, p))?;
    c.remembered
        .values()
        .try_for_each(|played| clock_instant(field, *played))?;
    let Some(t) = t else { return Ok(()) };
    check_step(t, field, c.step)?;
    // Keys are distinct steps: the last one below the step count bounds them all.
    c.remembered
        .keys()
        .next_back()
        .map_or(Ok(()), |last| check_step(t, field, *last))
}

fn clock_instant(field: &str, ms: i64) -> Result<(), OutOfBounds> {
    ensure((-MAX_CLOCK_MS..=MAX_CLOCK_MS).contains(&ms), field, || {
        format!("{ms} ms is past year 9999")
    })
}

/// A cash event: seats on their tables, places in their lists, entries the state has.
fn check_cash(state: &VenueState, e: &CashEvent) -> Result<(), OutOfBounds> {
    match e {
        CashEvent::CashPolicySet { policy } => passes(policy.checked()),
        CashEvent::WaitingListCreated { .. }
        | CashEvent::WaitingListClosed { .. }
        | CashEvent::PlayerJoinedList { .. }
        | CashEvent::CallInArrived { .. }
        | CashEvent::SeatChangeRequested { .. }
        | CashEvent::SeatChangeCancelled { .. }
        | CashEvent::TableMustMoveSet { .. } => Ok(()),
        CashEvent::PlayerCalled { entry_id, call } => check_call(state, *entry_id, call),
        CashEvent::PlayerSeated {
            table_id,
            seat,
            left_entries,
            ..
        } => {
            table_seat(state, "seat", *table_id, *seat)?;
            at_most("left_entries", left_entries.len(), state.cash.entries.len())
        }
        CashEvent::PlayerNoShow {
            entry_id, moved_to, ..
        } => moved_to.map_or(Ok(()), |to| queue_place(state, "moved_to", *entry_id, to)),
        CashEvent::WaitEntryRemoved { reason, .. } => chars("reason", reason, MAX_REASON_CHARS),
        CashEvent::WaitEntryMoved {
            entry_id,
            from,
            to,
            reason,
        } => {
            chars("reason", reason, MAX_REASON_CHARS)?;
            queue_place(state, "from", *entry_id, *from)?;
            queue_place(state, "to", *entry_id, *to)
        }
        CashEvent::WaitEntryRestored {
            entry_id,
            list_id,
            to,
            ..
        } => {
            let Some(list) = state.cash.lists.get(list_id) else {
                return Ok(());
            };
            let queued = state.cash.entries.get(entry_id);
            if let Some(e) = queued {
                ensure(e.list_id == *list_id, "list_id", || {
                    "the entry is on another list".into()
                })?;
            }
            // Back into the list: after the last place at most.
            let places = list
                .queue
                .len()
                .saturating_sub(usize::from(queued.is_some()));
            ensure(*to <= places, "to", || {
                format!("the list has places 0 to {places} (got {to})")
            })
        }
        CashEvent::PlayerLeftSeat { table_id, seat }
        | CashEvent::PlayerAway { table_id, seat, .. }
        | CashEvent::PlayerBack { table_id, seat } => table_seat(state, "seat", *table_id, *seat),
        CashEvent::PlayerChangedSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
            left_entries,
            ..
        } => {
            table_seat(state, "from_seat", *from_table, *from_seat)?;
            table_seat(state, "to_seat", *to_table, *to_seat)?;
            at_most("left_entries", left_entries.len(), state.cash.entries.len())
        }
    }
}

/// A seat of the table, or of any table when the state does not know it.
fn table_seat(
    state: &VenueState,
    field: &str,
    table_id: Uuid,
    seat: u8,
) -> Result<(), OutOfBounds> {
    let seats = state
        .tables
        .get(&table_id)
        .map_or(*SEATS.end(), |t| t.seats);
    ensure((1..=seats).contains(&seat), field, || {
        format!("the table has seats 1 to {seats} (got {seat})")
    })
}

/// A place in the entry's list (when the state knows the entry).
fn queue_place(
    state: &VenueState,
    field: &str,
    entry_id: Uuid,
    at: usize,
) -> Result<(), OutOfBounds> {
    let queue = state
        .cash
        .entries
        .get(&entry_id)
        .and_then(|e| state.cash.lists.get(&e.list_id))
        .map(|l| l.queue.len());
    match queue {
        Some(len) => ensure(at < len, field, || {
            format!("the list has {len} places (got {at})")
        }),
        None => Ok(()),
    }
}

/// A call numbered after the calls the entry had, with its deadline after it.
fn check_call(state: &VenueState, entry_id: Uuid, call: &Call) -> Result<(), OutOfBounds> {
    let made = state.cash.entries.get(&entry_id).map(|e| e.calls_made);
    let next = made.map_or(u32::MAX, |m| m.saturating_add(1));
    ensure((1..=next).contains(&call.number), "call.number", || {
        format!("the next call is number {next} (got {})", call.number)
    })?;
    ensure(
        call.deadline_ms >= call.called_ms,
        "call.deadline_ms",
        || "a call ends after it is made".into(),
    )
}

/// A display change within the lengths `DisplayState::decide` allows.
fn check_display(change: &DisplayEvent) -> Result<(), OutOfBounds> {
    match change {
        DisplayEvent::DeviceSaved { device } => {
            device_id(&device.id)?;
            displays::text("name", &device.name, 60)?;
            group(device.group.as_deref())?;
            device.playlist.as_ref().map_or(Ok(()), check_playlist)
        }
        DisplayEvent::DeviceForgotten { device_id: id } => device_id(id),
        DisplayEvent::GroupSaved { name, playlist } => {
            displays::text("group", name, 40)?;
            check_playlist(playlist)
        }
        DisplayEvent::Announced { announcement } => {
            displays::text("text", &announcement.text, 280)?;
            group(announcement.group.as_deref())
        }
        DisplayEvent::SlideSaved { slide } => {
            displays::media(slide.image.as_deref())?;
            displays::text("title", &slide.title, 80)?;
            chars("body", &slide.body, MAX_SLIDE_BODY_CHARS)
        }
        DisplayEvent::LogoSet { image } => passes(displays::media(image.as_deref())),
        DisplayEvent::AnnouncementEnded { .. }
        | DisplayEvent::SlideRemoved { .. }
        | DisplayEvent::ThemeSet { .. } => Ok(()),
    }
}

fn device_id(id: &str) -> Result<(), OutOfBounds> {
    ensure(displays::valid_device_id(id), "device_id", || {
        "1 to 64 letters, digits, - or _".into()
    })
}

fn group(g: Option<&str>) -> Result<(), OutOfBounds> {
    g.map_or(Ok(()), |g| passes(displays::text("group", g, 40)))
}

fn check_playlist(p: &Playlist) -> Result<(), OutOfBounds> {
    passes(p.clone().checked())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::cash::{CashCommand, CashPolicy, NoShowPolicy};
    use crate::displays::{Announcement, Device, Slide, Theme, View};
    use crate::players::PlayerDetails;
    use crate::staff::{LockScope, Username};
    use crate::tournament::play::{PlayCommand, Status};
    use crate::tournament::structure::{templates, EntryRule, Step};
    use crate::venue::{Command, Game, Stakes, TableName, VenueSettings};
    use proptest::prelude::*;
    use proptest::sample::Index;
    use std::collections::BTreeSet;

    const T0: u64 = 1_700_000_000_000;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Decides, checks the event against the state it is folded into, applies it.
    fn run(s: &mut VenueState, command: Command) -> EventKind {
        let event = s
            .decide(&command)
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        assert_eq!(check(s, &event), Ok(()), "{event:?}");
        s.apply(&event);
        event
    }

    fn play_event(s: &mut VenueState, tournament: u128, command: PlayCommand) -> EventKind {
        let command = Command::Tournament {
            tournament_id: id(tournament),
            command,
        };
        run(s, command)
    }

    fn play(s: &mut VenueState, tournament: u128, command: PlayCommand) -> PlayEvent {
        match play_event(s, tournament, command) {
            EventKind::TournamentPlayed { event, .. } => event,
            other => panic!("not a tournament event: {other:?}"),
        }
    }

    fn cash(s: &mut VenueState, command: CashCommand) -> EventKind {
        run(s, Command::Cash(command))
    }

    fn display(s: &mut VenueState, change: DisplayEvent) -> EventKind {
        run(s, Command::Display { change, at_ms: T0 })
    }

    /// The Daily with rebuys as well as its add-on.
    fn with_rebuys() -> Structure {
        let mut s = templates()[1].clone();
        s.rebuy = EntryRule {
            allowed: true,
            max: Some(2),
            chips: 30_000,
            until_level: Some(6),
            price: 100,
        };
        s
    }

    fn create(
        s: &mut VenueState,
        t: u128,
        structure: Structure,
        tables: u16,
        seats: u8,
    ) -> EventKind {
        run(
            s,
            Command::CreateTournament {
                tournament_id: id(t),
                name: format!(" Event {t} "),
                structure: Box::new(structure),
                tables,
                seats,
            },
        )
    }

    fn register(s: &mut VenueState, t: u128, bullet: u128, at_ms: i64) -> PlayEvent {
        play(
            s,
            t,
            PlayCommand::Register {
                bullet_id: id(bullet),
                player_id: id(bullet + 1_000_000),
                seed: bullet as u64,
                at_ms,
                override_late_reg: true,
            },
        )
    }

    fn alive(s: &VenueState, t: u128) -> Vec<Uuid> {
        s.tournaments[&id(t)].alive().map(|b| b.id).collect()
    }

    /// A tournament of `players` on `tables` tables of `seats`, started.
    fn running(t: u128, tables: u16, seats: u8, players: u128) -> VenueState {
        let mut s = VenueState::default();
        create(&mut s, t, with_rebuys(), tables, seats);
        for i in 0..players {
            register(&mut s, t, t * 1_000 + i, 0);
        }
        play(&mut s, t, PlayCommand::Start { at_ms: T0 as i64 });
        s
    }

    /// Busts the first bullet still in.
    fn bust_one(s: &mut VenueState, t: u128) -> PlayEvent {
        let bullet_id = alive(s, t)[0];
        play(s, t, PlayCommand::Bust { bullet_id })
    }

    /// Two flights bagged with their survivors, and the Day 2 `decide` draws from them (not applied).
    fn flights_and_day2(seen: &mut Vec<EventKind>) -> (VenueState, EventKind) {
        let mut s = VenueState::default();
        for f in [600, 601] {
            create(&mut s, f, templates()[0].clone(), 2, 9);
            for i in 0..12 {
                register(&mut s, f, f * 1_000 + i, 0);
            }
            play(&mut s, f, PlayCommand::Start { at_ms: 0 });
            for _ in 0..6 {
                bust_one(&mut s, f);
            }
            let stacks = alive(&s, f)
                .into_iter()
                .map(|b| (b, 40_000 + (b.as_u128() % 1_000) as u64))
                .collect();
            let at_ms = 100 * 60_000;
            seen.push(play_event(&mut s, f, PlayCommand::Bag { stacks, at_ms }));
        }
        let day2 = s
            .decide(&Command::CreateDay2 {
                tournament_id: id(700),
                name: "Day 2".into(),
                flights: vec![id(600), id(601)],
                tables: 2,
                seats: 9,
            })
            .expect("day 2");
        assert_eq!(check(&s, &day2), Ok(()));
        (s, day2)
    }

    fn tweak(event: &EventKind, change: impl FnOnce(&mut EventKind)) -> EventKind {
        let mut e = event.clone();
        change(&mut e);
        e
    }

    fn field_of(s: &VenueState, e: &EventKind) -> String {
        match check(s, e) {
            Ok(()) => panic!("accepted: {e:?}"),
            Err(o) => o.field,
        }
    }

    /// The event's kind, with what it carries for tournament and display events
    /// (`tournament_played/undone/unbust`).
    fn kind_path(e: &EventKind) -> String {
        let (kind, payload) = e.to_parts();
        let v: serde_json::Value = serde_json::from_slice(&payload).expect("payload");
        let inner = v.get("event").or_else(|| v.get("change"));
        let mut path = vec![kind];
        for step in [inner, inner.and_then(|i| i.get("restore"))] {
            if let Some(t) = step.and_then(|i| i.get("type")).and_then(|t| t.as_str()) {
                path.push(t.to_owned());
            }
        }
        path.join("/")
    }

    fn venue_and_staff(s: &mut VenueState, seen: &mut Vec<EventKind>) {
        seen.push(run(s, Command::UpdateSettings(VenueSettings::default())));
        let stakes = |sb, bb| Stakes::new(sb, bb).expect("stakes");
        for n in 1..=2 {
            seen.push(run(
                s,
                Command::CreateTable {
                    table_id: id(n),
                    name: TableName::parse(&format!("Table {n}")).expect("name"),
                    game: Game::Nlhe,
                    stakes: stakes(1, 2),
                    seats: 6,
                },
            ));
        }
        let name = TableName::parse("Feature").expect("name");
        seen.push(run(
            s,
            Command::RenameTable {
                table_id: id(2),
                name,
            },
        ));
        seen.push(run(
            s,
            Command::SetTableGame {
                table_id: id(2),
                game: Game::Plo,
                stakes: stakes(2, 5),
            },
        ));
        seen.push(run(s, Command::StartTable { table_id: id(1) }));
        seen.push(run(s, Command::OpenTable { table_id: id(1) }));
        seen.push(run(s, Command::OpenTable { table_id: id(2) }));
        for p in 0..4 {
            let details = PlayerDetails {
                name: format!(" Player {p} "),
                nickname: Some(" Ace ".into()),
                phone: Some(String::new()),
                email: Some("p@example.com".into()),
                notes: " a regular ".into(),
            };
            seen.push(run(
                s,
                Command::CreatePlayer {
                    player_id: id(100 + p),
                    details,
                },
            ));
        }
        let details = PlayerDetails {
            name: "Player Zero".into(),
            nickname: None,
            phone: None,
            email: None,
            notes: "x".repeat(1_000),
        };
        seen.push(run(
            s,
            Command::UpdatePlayer {
                player_id: id(100),
                details,
            },
        ));
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned();
        for (n, name, role) in [(200, "Ann", Role::Admin), (201, "bob.k", Role::Floor)] {
            seen.push(run(
                s,
                Command::CreateStaff {
                    user_id: id(n),
                    username: Username::parse(name).expect("username"),
                    display_name: format!(" {name} "),
                    role,
                    password_hash: Some(hash.clone()),
                    pin_hash: (n == 201).then(|| hash.clone()),
                },
            ));
        }
        let user_id = id(201);
        let staff = [
            Command::SetStaffRole {
                user_id,
                role: Role::Manager,
            },
            Command::SetStaffEnabled {
                user_id,
                enabled: false,
            },
            Command::SetStaffEnabled {
                user_id,
                enabled: true,
            },
            Command::SetPassword {
                user_id,
                password_hash: hash.clone(),
            },
            Command::SetPin {
                user_id,
                pin_hash: None,
            },
            Command::RecordLockout {
                scope: LockScope::Account,
                subject: "x".repeat(60_000),
                until_ms: T0,
            },
            Command::ClearLockout {
                scope: LockScope::Address,
                subject: "203.0.113.7".into(),
            },
            Command::RevokeSession {
                sid: Uuid::now_v7().simple().to_string(),
                user_id: user_id.to_string(),
                until_secs: T0 / 1000,
            },
            Command::CreateApiKey {
                key_id: id(210),
                user_id,
                name: " Till ".into(),
                secret_hash: "ab".repeat(32),
            },
            Command::RevokeApiKey { key_id: id(210) },
            Command::RecordUpdate {
                container: "pvm-node".into(),
                image: format!("ghcr.io/pvm/node@sha256:{}", "0".repeat(64)),
                outcome: "refused".into(),
                detail: "the node image is not named by digest".into(),
            },
            Command::RecordLeafRestart {
                down_for_ms: 90_000,
                method: "docker".into(),
            },
            Command::RecordWipe {
                message_id: id(211),
            },
            Command::RecordDownHandled {
                message_id: id(212),
                kind: "template".into(),
                outcome: "applied".into(),
                detail: "saved as Series Daily".into(),
            },
            Command::ReplaceHubStaff {
                issued_ms: 5,
                accounts: vec![crate::staff::HubAccount {
                    staff_id: id(213),
                    username: Username::parse("acme-owner").expect("username"),
                    display_name: "Olive".into(),
                    role: Role::Admin,
                    password_hash: hash.clone(),
                    epoch: 2,
                }],
            },
        ];
        for c in staff {
            seen.push(run(s, c));
        }
        let mine = Structure {
            name: " My turbo ".into(),
            ..templates()[0].clone()
        };
        seen.push(run(
            s,
            Command::SaveTemplate {
                structure: Box::new(mine),
            },
        ));
        seen.push(run(
            s,
            Command::DeleteTemplate {
                name: " my TURBO ".into(),
            },
        ));
    }

    fn screens(s: &mut VenueState, seen: &mut Vec<EventKind>) {
        let playlist = Playlist {
            views: vec![
                View::Clock { tournament: None },
                View::SeatDraw {
                    tournament: Some(id(500)),
                },
                View::WaitingLists,
                View::TableStatus,
                View::Slides,
                View::Tournaments,
            ],
            rotate_secs: 20,
        };
        let device = Device {
            id: "lobby-tv_1".into(),
            name: " Lobby ".into(),
            group: Some(" bar ".into()),
            playlist: Some(playlist.clone()),
        };
        let image = Some(format!("{}.png", "a".repeat(32)));
        let changes = [
            DisplayEvent::DeviceSaved { device },
            DisplayEvent::GroupSaved {
                name: " bar ".into(),
                playlist,
            },
            DisplayEvent::Announced {
                announcement: Announcement {
                    id: id(800),
                    text: format!(" {} ", "é".repeat(280)),
                    group: Some(String::new()),
                    until_ms: T0 + 60_000,
                },
            },
            DisplayEvent::AnnouncementEnded { id: id(800) },
            DisplayEvent::SlideSaved {
                slide: Slide {
                    id: id(801),
                    title: "Tonight".into(),
                    body: "y".repeat(5_000),
                    image: image.clone(),
                },
            },
            DisplayEvent::SlideRemoved { id: id(801) },
            DisplayEvent::ThemeSet {
                theme: Theme::Contrast,
            },
            DisplayEvent::LogoSet { image },
            DisplayEvent::DeviceForgotten {
                device_id: "lobby-tv_1".into(),
            },
        ];
        for c in changes {
            seen.push(display(s, c));
        }
    }

    /// A cash evening on tables 1 (NLHE 1/2) and 2 (PLO 2/5), players 100 to 103.
    fn cash_games(s: &mut VenueState, seen: &mut Vec<EventKind>) {
        let policy = CashPolicy {
            no_show: NoShowPolicy::MoveDown { places: 1 },
            seat_removes_other_lists: false,
            ..CashPolicy::default()
        };
        seen.push(cash(s, CashCommand::SetPolicy(policy)));
        for (list, game, sb, bb) in [
            (300, Game::Nlhe, 1, 2),
            (301, Game::Plo, 2, 5),
            (302, Game::Stud, 5, 10),
        ] {
            let stakes = Stakes::new(sb, bb).expect("stakes");
            seen.push(cash(
                s,
                CashCommand::CreateList {
                    list_id: id(list),
                    game,
                    stakes,
                },
            ));
        }
        for p in 0..4 {
            seen.push(cash(
                s,
                CashCommand::Join {
                    entry_id: id(400 + p),
                    list_id: id(300),
                    player_id: id(100 + p),
                    at_ms: T0,
                    call_in_until: None,
                },
            ));
        }
        let (e0, e1, e2, e3) = (id(400), id(401), id(402), id(403));
        let steps = [
            CashCommand::CallNext {
                list_id: id(300),
                at_ms: T0,
            },
            CashCommand::NoShow { entry_id: e0 },
            CashCommand::Restore { entry_id: e0 },
            CashCommand::CloseList { list_id: id(302) },
            CashCommand::Move {
                entry_id: e3,
                to_index: 0,
                reason: " regular ".into(),
            },
            CashCommand::Call {
                entry_id: e1,
                at_ms: T0,
            },
            CashCommand::CallTimedOut {
                entry_id: e1,
                call_number: 1,
                at_ms: T0 + 180_000,
            },
            CashCommand::Seat {
                player_id: id(102),
                entry_id: Some(e2),
                table_id: id(1),
                seat: 1,
                at_ms: T0,
            },
            CashCommand::Away {
                table_id: id(1),
                seat: 1,
                at_ms: T0,
            },
            CashCommand::Back {
                table_id: id(1),
                seat: 1,
            },
            CashCommand::ChangeSeat {
                from_table: id(1),
                from_seat: 1,
                to_table: id(1),
                to_seat: 6,
                at_ms: T0,
            },
            CashCommand::RequestSeatChange {
                request_id: id(900),
                table_id: id(1),
                seat: 6,
                wants: Some(id(2)),
                at_ms: T0,
            },
            CashCommand::CancelSeatChange {
                request_id: id(900),
            },
            CashCommand::SetMustMove {
                table_id: id(2),
                must_move: true,
            },
            CashCommand::Seat {
                player_id: id(103),
                entry_id: None,
                table_id: id(2),
                seat: 2,
                at_ms: T0,
            },
            CashCommand::Seat {
                player_id: id(103),
                entry_id: Some(e3),
                table_id: id(1),
                seat: 2,
                at_ms: T0,
            },
            CashCommand::Join {
                entry_id: id(404),
                list_id: id(301),
                player_id: id(100),
                at_ms: T0,
                call_in_until: Some(T0 + 600_000),
            },
            CashCommand::Arrived { entry_id: id(404) },
            CashCommand::Join {
                entry_id: id(405),
                list_id: id(301),
                player_id: id(101),
                at_ms: T0,
                call_in_until: Some(T0 + 1_000),
            },
            CashCommand::CallInExpired {
                entry_id: id(405),
                at_ms: T0 + 2_000,
            },
            CashCommand::Remove { entry_id: e0 },
            CashCommand::Leave {
                table_id: id(1),
                seat: 6,
            },
            CashCommand::Leave {
                table_id: id(1),
                seat: 2,
            },
        ];
        for c in steps {
            seen.push(cash(s, c));
        }
        seen.push(run(s, Command::CloseTable { table_id: id(1) }));
    }

    /// A tournament played to the end with every action and its undo.
    fn tournament(s: &mut VenueState, seen: &mut Vec<EventKind>) {
        let t = 500;
        seen.push(create(s, t, with_rebuys(), 3, 9));
        let mut at = |ev: PlayEvent| {
            seen.push(EventKind::TournamentPlayed {
                tournament_id: id(t),
                event: ev.clone(),
            });
            ev
        };
        for i in 0..20 {
            at(register(s, t, 50_000 + i, 0));
        }
        let now = T0 as i64;
        at(play(s, t, PlayCommand::Start { at_ms: now }));
        at(play(s, t, PlayCommand::SetButton { table: 1, seat: 3 }));
        for c in [
            PlayCommand::Pause {
                at_ms: now + 60_000,
            },
            PlayCommand::Resume {
                at_ms: now + 120_000,
            },
            PlayCommand::AddTime {
                delta_ms: -60_000,
                at_ms: now + 180_000,
            },
            PlayCommand::Jump {
                to_step: 3,
                at_ms: now + 240_000,
            },
        ] {
            at(play(s, t, c));
        }
        let jump = at(play(
            s,
            t,
            PlayCommand::Jump {
                to_step: 1,
                at_ms: now + 300_000,
            },
        ));
        at(play(s, t, PlayCommand::Undo { event: jump }));
        let bullet_id = alive(s, t)[0];
        for c in [
            PlayCommand::Rebuy {
                bullet_id,
                at_ms: now,
            },
            PlayCommand::AddOn {
                bullet_id,
                at_ms: now,
            },
            PlayCommand::Bust { bullet_id },
        ] {
            let done = at(play(s, t, c));
            at(play(s, t, PlayCommand::Undo { event: done }));
        }
        let to = s.tournaments[&id(t)].open_seats()[0];
        let moved = at(play(s, t, PlayCommand::Move { bullet_id, to }));
        at(play(s, t, PlayCommand::Undo { event: moved }));
        let late = at(register(s, t, 59_999, now + 600_000));
        at(play(s, t, PlayCommand::Undo { event: late }));
        at(play(s, t, PlayCommand::CloseLateReg));
        while alive(s, t).len() > 9 {
            at(bust_one(s, t));
            while let Some(table) = s.tournaments[&id(t)].table_to_break() {
                at(play(s, t, PlayCommand::BreakTable { table, seed: 7 }));
            }
            while let Some(m) = s.tournaments[&id(t)].balance_suggestion() {
                let command = PlayCommand::Move {
                    bullet_id: m.bullet_id,
                    to: m.to,
                };
                at(play(s, t, command));
            }
        }
        at(play(s, t, PlayCommand::FinalTable { table: 1, seed: 3 }));
        while s.tournaments[&id(t)].status == Status::Running {
            at(bust_one(s, t));
        }
    }

    #[test]
    fn every_kind_of_event_decide_makes_is_within_bounds() {
        let seen = events_of_every_kind();
        let kinds: BTreeSet<String> = seen.iter().map(kind_path).collect();
        let missing: Vec<&str> = EVERY_KIND
            .iter()
            .copied()
            .filter(|k| !kinds.contains(*k))
            .collect();
        assert!(missing.is_empty(), "not exercised: {missing:?}");
    }

    /// The canonical payload is written straight from the event; a byte
    /// different from the `Value` path would make `Envelope::decode` refuse it.
    #[test]
    fn every_kind_of_event_has_the_same_canonical_bytes_written_straight() {
        for event in events_of_every_kind() {
            let (kind, payload) = event
                .to_parts_straight()
                .unwrap_or_else(|| panic!("written through a Value: {event:?}"));
            let (value_kind, value_payload) = event.to_parts_through_value();
            assert_eq!(kind, value_kind);
            assert_eq!(
                String::from_utf8_lossy(&payload),
                String::from_utf8_lossy(&value_payload),
                "{kind}"
            );
            assert_eq!(EventKind::from_parts(&kind, &payload).ok(), Some(event));
        }
    }

    /// At least one event of every kind (`EVERY_KIND`), as decide makes them.
    fn events_of_every_kind() -> Vec<EventKind> {
        let mut s = VenueState::default();
        let mut seen = Vec::new();
        venue_and_staff(&mut s, &mut seen);
        screens(&mut s, &mut seen);
        cash_games(&mut s, &mut seen);
        tournament(&mut s, &mut seen);
        let (mut flights, day2) = flights_and_day2(&mut seen);
        seen.push(run(
            &mut flights,
            Command::CreateDay2 {
                tournament_id: id(700),
                name: "Day 2".into(),
                flights: vec![id(600), id(601)],
                tables: 2,
                seats: 9,
            },
        ));
        assert_eq!(seen.last(), Some(&day2));
        seen.push(play_event(
            &mut flights,
            700,
            PlayCommand::Start { at_ms: 0 },
        ));
        let bullet_id = alive(&flights, 700)[0];
        seen.push(play_event(
            &mut flights,
            700,
            PlayCommand::Bust { bullet_id },
        ));
        seen
    }

    /// Every event kind (tournament and display events by what they carry).
    const EVERY_KIND: &[&str] = &[
        "venue_settings_updated",
        "table_created",
        "table_renamed",
        "table_game_set",
        "table_opened",
        "table_closed",
        "table_starting",
        "staff_user_created",
        "staff_role_changed",
        "staff_user_disabled",
        "staff_user_enabled",
        "staff_password_set",
        "staff_pin_set",
        "login_locked_out",
        "login_lockout_cleared",
        "session_revoked",
        "api_key_created",
        "api_key_revoked",
        "player_created",
        "player_updated",
        "tournament_created",
        "day2_created",
        "template_saved",
        "template_deleted",
        "leaf_restarted",
        "update_finished",
        "down_handled",
        "hub_staff_replaced",
        "cash_policy_set",
        "waiting_list_created",
        "waiting_list_closed",
        "player_joined_list",
        "player_called",
        "player_seated",
        "player_no_show",
        "wait_entry_removed",
        "wait_entry_moved",
        "wait_entry_restored",
        "call_in_arrived",
        "player_left_seat",
        "player_away",
        "player_back",
        "player_changed_seat",
        "seat_change_requested",
        "seat_change_cancelled",
        "table_must_move_set",
        "tournament_played/started",
        "tournament_played/registered",
        "tournament_played/busted",
        "tournament_played/late_reg_closed",
        "tournament_played/clock_set",
        "tournament_played/undone/unbust",
        "tournament_played/undone/move_back",
        "tournament_played/undone/unregister",
        "tournament_played/undone/clock_back",
        "tournament_played/undone/unrebuy",
        "tournament_played/undone/unaddon",
        "tournament_played/button_set",
        "tournament_played/moved",
        "tournament_played/table_broken",
        "tournament_played/rebought",
        "tournament_played/added_on",
        "tournament_played/final_table_drawn",
        "tournament_played/bagged",
        "display_changed/device_saved",
        "display_changed/device_forgotten",
        "display_changed/group_saved",
        "display_changed/announced",
        "display_changed/announcement_ended",
        "display_changed/slide_saved",
        "display_changed/slide_removed",
        "display_changed/theme_set",
        "display_changed/logo_set",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn whatever_staff_do_at_the_cash_tables_stays_within_bounds(
            ops in proptest::collection::vec(crate::cash::tests::op(), 1..120),
            removes in any::<bool>(),
        ) {
            use crate::cash::tests::{room, to_command};
            let mut s = room(removes);
            let (mut now, mut fresh) = (1_000_000u64, 0u128);
            for op in &ops {
                let Some(command) = to_command(&s, op, &mut now, &mut fresh) else { continue };
                let Ok(event) = s.decide(&command) else { continue };
                prop_assert_eq!(check(&s, &event), Ok(()), "{:?}", event);
                s.apply(&event);
            }
        }

        #[test]
        fn whatever_a_director_does_stays_within_bounds(
            players in 2u128..40,
            tables in 1u16..6,
            picks in proptest::collection::vec((0u8..14, any::<Index>(), any::<u64>()), 1..80),
        ) {
            let t = 1;
            let mut s = VenueState::default();
            create(&mut s, t, with_rebuys(), tables, 9);
            let mut now = T0 as i64;
            let mut next = 10_000u128;
            let mut last: Option<PlayEvent> = None;
            for i in 0..players {
                let _ = decided(&mut s, t, register_command(i, now))?;
            }
            for (kind, pick, r) in picks {
                now += (r % 600_000) as i64;
                let tour = &s.tournaments[&id(t)];
                let alive: Vec<Uuid> = tour.alive().map(|b| b.id).collect();
                let Some(&bullet_id) = alive.get(pick.index(alive.len().max(1))) else { break };
                let table = 1 + pick.index(tables as usize) as u16;
                let command = match kind {
                    0 | 1 => PlayCommand::Bust { bullet_id },
                    2 => match tour.open_seats().get(pick.index(7)) {
                        Some(to) => PlayCommand::Move { bullet_id, to: *to },
                        None => continue,
                    },
                    3 => { next += 1; register_command(next, now) }
                    4 => PlayCommand::Jump { to_step: pick.index(tour.structure.steps.len()), at_ms: now },
                    5 => PlayCommand::AddTime { delta_ms: (r % 7_200_000) as i64 - 3_600_000, at_ms: now },
                    6 => PlayCommand::Rebuy { bullet_id, at_ms: now },
                    7 => PlayCommand::AddOn { bullet_id, at_ms: now },
                    8 => PlayCommand::BreakTable { table, seed: r },
                    9 => PlayCommand::SetButton { table, seat: (r % 11) as u8 },
                    10 => PlayCommand::FinalTable { table, seed: r },
                    11 if tour.clock.paused_at_ms.is_some() => PlayCommand::Resume { at_ms: now },
                    11 => PlayCommand::Pause { at_ms: now },
                    12 => match tour.status {
                        Status::Registering => PlayCommand::Start { at_ms: now },
                        _ => PlayCommand::Bag {
                            stacks: alive.iter().map(|b| (*b, 1 + r % 100_000)).collect(),
                            at_ms: now,
                        },
                    },
                    _ => match last.clone() {
                        Some(event) => PlayCommand::Undo { event },
                        None => continue,
                    },
                };
                if let Some(event) = decided(&mut s, t, command)? {
                    last = Some(event);
                }
            }
        }
    }

    fn register_command(bullet: u128, at_ms: i64) -> PlayCommand {
        PlayCommand::Register {
            bullet_id: id(bullet),
            player_id: id(bullet % 30 + 1_000_000),
            seed: bullet as u64,
            at_ms,
            override_late_reg: bullet % 2 == 1,
        }
    }

    /// Decides a command if it can be; what it decides must be within bounds.
    fn decided(
        s: &mut VenueState,
        t: u128,
        command: PlayCommand,
    ) -> Result<Option<PlayEvent>, TestCaseError> {
        let command = Command::Tournament {
            tournament_id: id(t),
            command,
        };
        let Ok(event) = s.decide(&command) else {
            return Ok(None);
        };
        prop_assert_eq!(check(s, &event), Ok(()), "{:?}", event);
        s.apply(&event);
        Ok(match event {
            EventKind::TournamentPlayed { event, .. } => Some(event),
            _ => None,
        })
    }

    #[test]
    fn a_day2_of_7e17_entries_is_refused_before_its_payouts_are_sized() {
        let (s, day2) = flights_and_day2(&mut Vec::new());
        let huge = tweak(&day2, |e| {
            if let EventKind::Day2Created { day2, .. } = e {
                day2.entries = 700_000_000_000_000_000;
            }
        });
        assert_eq!(field_of(&s, &huge), "day2.entries");
        let one_more = tweak(&day2, |e| {
            if let EventKind::Day2Created { day2, .. } = e {
                day2.entries += 1;
            }
        });
        assert_eq!(field_of(&s, &one_more), "day2.entries");
    }

    #[test]
    fn a_day2_bigger_than_its_flights_is_refused() {
        let (s, day2) = flights_and_day2(&mut Vec::new());
        type Change = Box<dyn Fn(&mut Day2, &mut Vec<Day2Entrant>)>;
        let cases: Vec<(&str, Change)> = vec![
            ("day2.prize_pool", Box::new(|d, _| d.prize_pool = u64::MAX)),
            (
                "day2.start_step",
                Box::new(|d, _| d.start_step = usize::MAX),
            ),
            (
                "day2.flights",
                Box::new(|d, _| d.flights.push(d.flights[0])),
            ),
            ("day2.flights", Box::new(|d, _| d.flights.push(id(12345)))),
            ("day2.flights", Box::new(|d, _| d.flights.clear())),
            ("entrants", Box::new(|d, _| d.entries = 5)),
            ("entrants", Box::new(|_, e| e[0].chips += 1)),
            ("entrants", Box::new(|_, e| e[0].bullet_id = id(12345))),
            ("entrants", Box::new(|_, e| e[0].flight = id(12345))),
            ("entrants", Box::new(|_, e| e.push(e[0].clone()))),
            ("entrants", Box::new(|_, e| e.reverse())),
        ];
        for (field, change) in cases {
            let bad = tweak(&day2, |ev| {
                if let EventKind::Day2Created { day2, entrants, .. } = ev {
                    change(day2, entrants);
                }
            });
            assert_eq!(field_of(&s, &bad), field, "{bad:?}");
        }
        let cramped = tweak(&day2, |ev| {
            if let EventKind::Day2Created { tables, seats, .. } = ev {
                (*tables, *seats) = (1, 10);
            }
        });
        assert_eq!(field_of(&s, &cramped), "entrants");
        assert_eq!(field_of(&VenueState::default(), &day2), "day2.flights");
    }

    fn created(name: &str, tables: u16, seats: u8) -> EventKind {
        EventKind::TournamentCreated {
            tournament_id: id(1),
            name: name.into(),
            structure: templates()[0].clone(),
            tables,
            seats,
        }
    }

    #[test]
    fn a_tournament_of_65535_tables_is_refused() {
        let s = VenueState::default();
        assert_eq!(check(&s, &created("Main", 500, 10)), Ok(()));
        assert_eq!(field_of(&s, &created("Main", 65_535, 9)), "tables");
        assert_eq!(field_of(&s, &created("Main", 0, 9)), "tables");
        assert_eq!(field_of(&s, &created("Main", 10, 255)), "tables");
        let table = |seats| EventKind::TableCreated {
            table_id: id(1),
            name: TableName::parse("T").expect("name"),
            game: Game::Nlhe,
            stakes: Stakes::new(1, 2).expect("stakes"),
            seats,
        };
        assert_eq!(check(&s, &table(10)), Ok(()));
        assert_eq!(field_of(&s, &table(11)), "seats");
    }

    #[test]
    fn over_long_names_are_refused() {
        let s = VenueState::default();
        assert_eq!(check(&s, &created(&"é".repeat(80), 1, 9)), Ok(()));
        assert_eq!(field_of(&s, &created(&"x".repeat(81), 1, 9)), "name");
        assert_eq!(field_of(&s, &created("   ", 1, 9)), "name");
        let (flights, day2) = flights_and_day2(&mut Vec::new());
        let long = tweak(&day2, |e| {
            if let EventKind::Day2Created { name, .. } = e {
                *name = "x".repeat(81);
            }
        });
        assert_eq!(field_of(&flights, &long), "name");
        let template = EventKind::TemplateSaved {
            structure: Structure {
                name: "x".repeat(81),
                ..templates()[0].clone()
            },
        };
        assert_eq!(field_of(&s, &template), "structure");
        let deleted = EventKind::TemplateDeleted {
            name: "x".repeat(81),
        };
        assert_eq!(field_of(&s, &deleted), "name");
        // A table's name is a type: an over-long one is not even read.
        let payload = serde_json::json!({
            "table_id": id(1), "name": "x".repeat(41), "game": "nlhe",
            "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9,
        });
        let bytes = serde_json::to_vec(&payload).expect("json");
        assert!(EventKind::from_parts("table_created", &bytes).is_err());
    }

    #[test]
    fn seats_and_tables_past_the_tournaments_own_are_refused() {
        let s = running(1, 2, 9, 10);
        let played = |event| EventKind::TournamentPlayed {
            tournament_id: id(1),
            event,
        };
        let bullet_id = alive(&s, 1)[0];
        let moved = |to| {
            played(PlayEvent::Moved {
                bullet_id,
                from: (1, 1),
                to,
            })
        };
        assert_eq!(check(&s, &moved((2, 9))), Ok(()));
        assert_eq!(field_of(&s, &moved((2, 10))), "to");
        assert_eq!(field_of(&s, &moved((1, 0))), "to");
        assert_eq!(field_of(&s, &moved((3, 1))), "table");
        assert_eq!(field_of(&s, &moved((65_535, 1))), "table");
        let button = played(PlayEvent::ButtonSet { table: 1, seat: 0 });
        assert_eq!(field_of(&s, &button), "seat");
        let registered = played(PlayEvent::Registered {
            bullet_id: id(77),
            player_id: id(77),
            reentry: false,
            seat: Some((2, 200)),
            seed: 0,
            override_late_reg: true,
        });
        assert_eq!(field_of(&s, &registered), "seat");
        let back = played(PlayEvent::Undone {
            what: "move".into(),
            restore: Restore::MoveBack {
                bullet_id,
                to: (9, 1),
            },
        });
        assert_eq!(field_of(&s, &back), "table");
        // A tournament the state does not know is folded as nothing.
        let elsewhere = EventKind::TournamentPlayed {
            tournament_id: id(2),
            event: PlayEvent::ButtonSet { table: 9, seat: 99 },
        };
        assert_eq!(check(&s, &elsewhere), Ok(()));
    }

    #[test]
    fn cash_seats_past_the_tables_seats_are_refused() {
        let mut s = VenueState::default();
        let mut seen = Vec::new();
        venue_and_staff(&mut s, &mut seen);
        let seated = |table_id, seat| {
            EventKind::Cash(CashEvent::PlayerSeated {
                player_id: id(100),
                table_id,
                seat,
                at_ms: T0,
                from_entry: None,
                left_entries: Vec::new(),
            })
        };
        assert_eq!(check(&s, &seated(id(1), 6)), Ok(()));
        assert_eq!(field_of(&s, &seated(id(1), 7)), "seat");
        assert_eq!(field_of(&s, &seated(id(1), 0)), "seat");
        assert_eq!(check(&s, &seated(id(99), 10)), Ok(()));
        assert_eq!(field_of(&s, &seated(id(99), 11)), "seat");
        let changed = EventKind::Cash(CashEvent::PlayerChangedSeat {
            from_table: id(1),
            from_seat: 1,
            to_table: id(2),
            to_seat: 255,
            at_ms: T0,
            left_entries: Vec::new(),
            from_entry: None,
        });
        assert_eq!(field_of(&s, &changed), "to_seat");
        // The state has no waiting-list entries, so a seating clears none.
        let left = tweak(&seated(id(1), 1), |e| {
            if let EventKind::Cash(CashEvent::PlayerSeated { left_entries, .. }) = e {
                left_entries.push(id(400));
            }
        });
        assert_eq!(field_of(&s, &left), "left_entries");
    }

    #[test]
    fn lists_and_steps_past_the_field_and_structure_are_refused() {
        let s = running(1, 2, 9, 10);
        let played = |event| EventKind::TournamentPlayed {
            tournament_id: id(1),
            event,
        };
        let ids = alive(&s, 1);
        let seated: Vec<(Uuid, SeatRef)> = ids.iter().map(|b| (*b, (1, 1))).collect();
        let mut eleven = seated.clone();
        eleven.push(seated[0]);
        let final_table = |seats| {
            played(PlayEvent::FinalTableDrawn {
                table: 1,
                seed: 0,
                seats,
            })
        };
        assert_eq!(check(&s, &final_table(seated[..9].to_vec())), Ok(()));
        assert_eq!(field_of(&s, &final_table(seated.clone())), "seats");
        let broken = played(PlayEvent::TableBroken {
            table: 2,
            seed: 0,
            moves: eleven,
        });
        assert_eq!(field_of(&s, &broken), "moves");
        let steps = s.tournaments[&id(1)].structure.steps.len();
        let bagged = |n: usize, step| {
            played(PlayEvent::Bagged {
                stacks: ids.iter().cycle().take(n).map(|b| (*b, 1)).collect(),
                step,
            })
        };
        assert_eq!(check(&s, &bagged(10, steps - 1)), Ok(()));
        assert_eq!(field_of(&s, &bagged(11, 0)), "stacks");
        assert_eq!(field_of(&s, &bagged(10, steps)), "step");
        let clock = |c: ClockState| {
            played(PlayEvent::ClockSet {
                action: "jump".into(),
                clock: c,
                before: None,
            })
        };
        let now = s.tournaments[&id(1)].clock.clone();
        assert_eq!(check(&s, &clock(now.clone())), Ok(()));
        let past_end = ClockState {
            step: steps,
            ..now.clone()
        };
        assert_eq!(field_of(&s, &clock(past_end)), "clock");
        let mut remembered = now.clone();
        remembered.remembered.insert(usize::MAX, 0);
        assert_eq!(field_of(&s, &clock(remembered)), "clock");
        let ancient = ClockState {
            step_started_ms: i64::MIN,
            ..now.clone()
        };
        assert_eq!(field_of(&s, &clock(ancient)), "clock");
        let started = played(PlayEvent::Started { at_ms: i64::MAX });
        assert_eq!(field_of(&s, &started), "at_ms");
        let undo = played(PlayEvent::Undone {
            what: "clock change".into(),
            restore: Restore::ClockBack {
                clock: ClockState {
                    step: 10_000,
                    ..now
                },
            },
        });
        assert_eq!(field_of(&s, &undo), "restore.clock");
    }

    #[test]
    fn cash_places_past_the_list_are_refused() {
        let mut s = VenueState::default();
        let mut seen = Vec::new();
        venue_and_staff(&mut s, &mut seen);
        cash(
            &mut s,
            CashCommand::CreateList {
                list_id: id(300),
                game: Game::Nlhe,
                stakes: Stakes::new(1, 2).expect("stakes"),
            },
        );
        for p in 0..3 {
            cash(
                &mut s,
                CashCommand::Join {
                    entry_id: id(400 + p),
                    list_id: id(300),
                    player_id: id(100 + p),
                    at_ms: T0,
                    call_in_until: None,
                },
            );
        }
        let moved = |to, reason: &str| {
            EventKind::Cash(CashEvent::WaitEntryMoved {
                entry_id: id(400),
                from: 0,
                to,
                reason: reason.into(),
            })
        };
        assert_eq!(check(&s, &moved(2, &"é".repeat(200))), Ok(()));
        assert_eq!(field_of(&s, &moved(3, "why")), "to");
        assert_eq!(field_of(&s, &moved(usize::MAX, "why")), "to");
        assert_eq!(field_of(&s, &moved(1, &"x".repeat(201))), "reason");
        let no_show = EventKind::Cash(CashEvent::PlayerNoShow {
            entry_id: id(401),
            timed_out: true,
            moved_to: Some(3),
        });
        assert_eq!(field_of(&s, &no_show), "moved_to");
        let called = |number| {
            EventKind::Cash(CashEvent::PlayerCalled {
                entry_id: id(402),
                call: Call {
                    number,
                    called_ms: T0,
                    deadline_ms: T0 + 180_000,
                },
            })
        };
        assert_eq!(check(&s, &called(1)), Ok(()));
        assert_eq!(field_of(&s, &called(2)), "call.number");
        assert_eq!(field_of(&s, &called(0)), "call.number");
    }

    #[test]
    fn texts_past_their_limits_are_refused() {
        let s = VenueState::default();
        let long = |n| "x".repeat(n);
        let cases = [
            (
                "password_hash",
                EventKind::StaffPasswordSet {
                    user_id: id(1),
                    password_hash: long(MAX_TOKEN_BYTES + 1),
                },
            ),
            (
                "sid",
                EventKind::SessionRevoked {
                    sid: long(MAX_TOKEN_BYTES + 1),
                    user_id: "u".into(),
                    until_secs: 0,
                },
            ),
            (
                "detail",
                EventKind::UpdateFinished {
                    container: "c".into(),
                    image: "i".into(),
                    outcome: "updated".into(),
                    detail: long(MAX_TEXT_BYTES + 1),
                },
            ),
            (
                "subject",
                EventKind::LoginLockedOut {
                    scope: LockScope::Account,
                    subject: long(MAX_TEXT_BYTES + 1),
                    until_ms: 0,
                },
            ),
            (
                "display_name",
                EventKind::ApiKeyCreated {
                    key_id: id(1),
                    user_id: id(2),
                    name: long(61),
                    secret_hash: "h".into(),
                },
            ),
            (
                "name",
                EventKind::PlayerCreated {
                    player_id: id(1),
                    details: PlayerDetails {
                        name: long(81),
                        nickname: None,
                        phone: None,
                        email: None,
                        notes: String::new(),
                    },
                },
            ),
            (
                "action",
                EventKind::TournamentPlayed {
                    tournament_id: id(1),
                    event: PlayEvent::ClockSet {
                        action: long(MAX_TOKEN_BYTES + 1),
                        clock: ClockState::default(),
                        before: None,
                    },
                },
            ),
            (
                "text",
                EventKind::DisplayChanged {
                    change: DisplayEvent::Announced {
                        announcement: Announcement {
                            id: id(1),
                            text: long(281),
                            group: None,
                            until_ms: T0,
                        },
                    },
                },
            ),
            (
                "body",
                EventKind::DisplayChanged {
                    change: DisplayEvent::SlideSaved {
                        slide: Slide {
                            id: id(1),
                            title: "t".into(),
                            body: long(MAX_SLIDE_BODY_CHARS + 1),
                            image: None,
                        },
                    },
                },
            ),
            (
                "device_id",
                EventKind::DisplayChanged {
                    change: DisplayEvent::DeviceForgotten {
                        device_id: long(65),
                    },
                },
            ),
            (
                "views",
                EventKind::DisplayChanged {
                    change: DisplayEvent::GroupSaved {
                        name: "bar".into(),
                        playlist: Playlist {
                            views: vec![View::Slides; 13],
                            rotate_secs: 20,
                        },
                    },
                },
            ),
            (
                "reason",
                EventKind::Cash(CashEvent::WaitEntryRemoved {
                    entry_id: id(1),
                    reason: long(201),
                }),
            ),
        ];
        for (field, event) in cases {
            assert_eq!(field_of(&s, &event), field, "{event:?}");
        }
    }

    #[test]
    fn a_structure_of_too_many_steps_or_nonsense_is_refused() {
        let s = VenueState::default();
        let with_steps = |steps: Vec<Step>| EventKind::TemplateSaved {
            structure: Structure {
                steps,
                ..templates()[0].clone()
            },
        };
        let level = templates()[0].steps[0].clone();
        assert_eq!(
            check(&s, &with_steps(vec![level.clone(); MAX_STEPS])),
            Ok(())
        );
        let too_many = with_steps(vec![level; MAX_STEPS + 1]);
        assert_eq!(field_of(&s, &too_many), "structure.steps");
        assert_eq!(field_of(&s, &with_steps(Vec::new())), "structure");
    }

    #[test]
    fn out_of_bounds_names_the_field_and_why() {
        let s = VenueState::default();
        let err = check(&s, &created("Main", 65_535, 9)).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "tables: use 1 to 500 tables of 2 to 10 seats"
        );
        let err: Box<dyn std::error::Error> = Box::new(err);
        assert!(err.to_string().starts_with("tables: "));
    }
}
