//! Deciding a cash command against the state: the event it yields, or why not.

use super::*;

pub(crate) fn invalid(field: &'static str, reason: &str) -> DomainError {
    DomainError::Invalid {
        field,
        reason: reason.into(),
    }
}

pub(crate) fn conflict(message: impl Into<String>) -> DomainError {
    DomainError::Conflict(message.into())
}

pub(crate) fn seat_label(state: &VenueState, table_id: Uuid, seat: u8) -> String {
    let table = state
        .tables
        .get(&table_id)
        .map(|t| t.name.to_string())
        .unwrap_or_else(|| "?".into());
    format!("{table} seat {seat}")
}

pub(crate) fn player_name(state: &VenueState, player_id: Uuid) -> String {
    state
        .players
        .get(&player_id)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| player_id.to_string())
}

/// A seat with a player in it; an unknown table or seat number is named as such.
pub(crate) fn occupied(state: &VenueState, table_id: Uuid, seat: u8) -> Result<&Seat, DomainError> {
    let table = state
        .tables
        .get(&table_id)
        .ok_or(DomainError::UnknownTable(table_id))?;
    if seat == 0 || seat > table.seats {
        return Err(invalid(
            "seat",
            &format!("table {} has seats 1 to {}", table.name, table.seats),
        ));
    }
    state
        .cash
        .seats
        .get(&(table_id, seat))
        .ok_or_else(|| conflict(format!("{} is empty", seat_label(state, table_id, seat))))
}

/// A seat that can take a player: table open or starting, seat on the table, nobody in it.
pub(crate) fn check_free_seat(
    state: &VenueState,
    table_id: Uuid,
    seat: u8,
) -> Result<(), DomainError> {
    let table = state
        .tables
        .get(&table_id)
        .ok_or(DomainError::UnknownTable(table_id))?;
    if table.status == TableStatus::Closed {
        return Err(conflict(format!("table {} is closed", table.name)));
    }
    if seat == 0 || seat > table.seats {
        return Err(invalid(
            "seat",
            &format!("table {} has seats 1 to {}", table.name, table.seats),
        ));
    }
    if let Some(s) = state.cash.seats.get(&(table_id, seat)) {
        return Err(conflict(format!(
            "{} is taken by {}",
            seat_label(state, table_id, seat),
            player_name(state, s.player_id)
        )));
    }
    Ok(())
}

/// Where a no-show goes under the venue's policy.
pub(crate) fn no_show_target(state: &VenueState, entry: &WaitEntry) -> Option<usize> {
    match state.cash.policy.no_show {
        NoShowPolicy::Drop => None,
        NoShowPolicy::MoveDown { places } => {
            let list = state.cash.lists.get(&entry.list_id)?;
            let at = list.queue.iter().position(|id| *id == entry.id)?;
            Some((at + places as usize).min(list.queue.len().saturating_sub(1)))
        }
    }
}

/// Checks a cash-game command and returns the event that records it.
pub fn decide(state: &VenueState, command: &CashCommand) -> Result<CashEvent, DomainError> {
    let cash = &state.cash;
    Ok(match command.clone() {
        CashCommand::SetPolicy(policy) => CashEvent::CashPolicySet {
            policy: policy.checked()?,
        },
        CashCommand::CloseList { list_id } => {
            let list = cash.list(list_id)?;
            if !list.queue.is_empty() {
                return Err(conflict(format!(
                    "{} still waiting on the {} {} list: seat them or take them off first",
                    crate::words::count(list.queue.len() as u64, "player is", "players are"),
                    list.stakes,
                    list.game.label()
                )));
            }
            CashEvent::WaitingListClosed { list_id }
        }
        CashCommand::CreateList {
            list_id,
            game,
            stakes,
        } => {
            if cash.lists.contains_key(&list_id) {
                return Err(conflict(format!("a list with id {list_id} already exists")));
            }
            if cash
                .lists
                .values()
                .any(|l| l.game == game && l.stakes == stakes)
            {
                return Err(conflict(format!(
                    "there is already a {} {} list",
                    stakes,
                    game.label()
                )));
            }
            CashEvent::WaitingListCreated {
                list_id,
                game,
                stakes,
            }
        }
        CashCommand::Join {
            entry_id,
            list_id,
            player_id,
            at_ms,
            call_in_until,
        } => {
            let list = cash.list(list_id)?;
            if cash.entries.contains_key(&entry_id) {
                return Err(conflict(format!(
                    "an entry with id {entry_id} already exists"
                )));
            }
            if !state.players.contains_key(&player_id) {
                return Err(DomainError::NotFound(format!(
                    "no player with id {player_id}"
                )));
            }
            if cash
                .entries
                .values()
                .any(|e| e.list_id == list_id && e.player_id == player_id)
            {
                return Err(conflict(format!(
                    "{} is already on this list",
                    player_name(state, player_id)
                )));
            }
            if let Some(seat) = cash.seat_of(player_id) {
                let t = state.tables.get(&seat.table_id);
                if t.is_some_and(|t| t.game == list.game && t.stakes == list.stakes) {
                    return Err(conflict(format!(
                        "{} already plays this game at {}; use a seat change request",
                        player_name(state, player_id),
                        seat_label(state, seat.table_id, seat.seat)
                    )));
                }
            }
            if call_in_until.is_some_and(|u| u <= at_ms) {
                return Err(invalid(
                    "call_in_until",
                    "a call-in's arrival deadline must be in the future",
                ));
            }
            CashEvent::PlayerJoinedList {
                entry_id,
                list_id,
                player_id,
                at_ms,
                call_in_until,
            }
        }
        CashCommand::CallNext { list_id, at_ms } => {
            let list = cash.list(list_id)?;
            if list.queue.is_empty() {
                return Err(conflict("the list is empty: no one to call"));
            }
            let next = list
                .queue
                .iter()
                .filter_map(|id| cash.entries.get(id))
                .find(|e| e.callable())
                .ok_or_else(|| {
                    conflict("everyone on this list is already called or has not arrived")
                })?;
            call_event(state, next, at_ms)
        }
        CashCommand::Call { entry_id, at_ms } => {
            let e = cash.entry(entry_id)?;
            if e.call.is_some() {
                return Err(conflict(format!(
                    "{} is already called",
                    player_name(state, e.player_id)
                )));
            }
            if !e.callable() {
                return Err(conflict(format!(
                    "{} is a call-in who has not arrived",
                    player_name(state, e.player_id)
                )));
            }
            call_event(state, e, at_ms)
        }
        CashCommand::Seat {
            player_id,
            entry_id,
            table_id,
            seat,
            at_ms,
        } => {
            if !state.players.contains_key(&player_id) {
                return Err(DomainError::NotFound(format!(
                    "no player with id {player_id}"
                )));
            }
            check_free_seat(state, table_id, seat)?;
            if let Some(id) = entry_id {
                if cash.entry(id)?.player_id != player_id {
                    return Err(invalid("entry_id", "that entry belongs to another player"));
                }
            }
            if let Some(s) = cash.seat_of(player_id) {
                // Seated already: from a list, this is a move to the game they waited for.
                let Some(from_entry) = entry_id else {
                    return Err(conflict(format!(
                        "{} is already seated at {}; change their seat instead",
                        player_name(state, player_id),
                        seat_label(state, s.table_id, s.seat)
                    )));
                };
                let left_entries = entries_leaving(state, player_id, table_id, |e| {
                    e.id == from_entry || cash.policy.seat_removes_other_lists
                })?;
                return Ok(CashEvent::PlayerChangedSeat {
                    from_table: s.table_id,
                    from_seat: s.seat,
                    to_table: table_id,
                    to_seat: seat,
                    at_ms,
                    left_entries,
                    from_entry: Some(from_entry),
                });
            }
            let left_entries = entries_leaving(state, player_id, table_id, |e| {
                Some(e.id) == entry_id || cash.policy.seat_removes_other_lists
            })?;
            CashEvent::PlayerSeated {
                player_id,
                table_id,
                seat,
                at_ms,
                from_entry: entry_id,
                left_entries,
            }
        }
        CashCommand::NoShow { entry_id } => {
            let e = cash.entry(entry_id)?;
            if e.call.is_none() {
                return Err(conflict(format!(
                    "{} has not been called",
                    player_name(state, e.player_id)
                )));
            }
            CashEvent::PlayerNoShow {
                entry_id,
                timed_out: false,
                moved_to: no_show_target(state, e),
            }
        }
        CashCommand::CallTimedOut {
            entry_id,
            call_number,
            at_ms,
        } => {
            let e = cash.entry(entry_id)?;
            match e.call {
                Some(c) if c.number == call_number && at_ms >= c.deadline_ms => {}
                _ => return Err(conflict("that call is no longer running")),
            }
            CashEvent::PlayerNoShow {
                entry_id,
                timed_out: true,
                moved_to: no_show_target(state, e),
            }
        }
        CashCommand::Remove { entry_id } => {
            cash.entry(entry_id)?;
            CashEvent::WaitEntryRemoved {
                entry_id,
                reason: "removed".into(),
            }
        }
        CashCommand::Restore { entry_id } => {
            let (list, off) = cash
                .lists
                .values()
                .find_map(|l| {
                    l.off
                        .iter()
                        .rev()
                        .find(|o| o.entry.id == entry_id)
                        .map(|o| (l, o))
                })
                .ok_or_else(|| {
                    conflict("there is no recent no-show or removal of that entry to undo")
                })?;
            let e = &off.entry;
            let name = player_name(state, e.player_id);
            let len = match cash.entries.get(&entry_id) {
                // A no-show that only moved them down.
                Some(_) => list.queue.len().saturating_sub(1),
                None => {
                    if cash
                        .entries
                        .values()
                        .any(|x| x.list_id == list.id && x.player_id == e.player_id)
                    {
                        return Err(conflict(format!("{name} is on this list again already")));
                    }
                    let same_game = |seat: &&Seat| {
                        cash.policy.seat_removes_other_lists
                            || state
                                .tables
                                .get(&seat.table_id)
                                .is_some_and(|t| t.game == list.game && t.stakes == list.stakes)
                    };
                    if let Some(seat) = cash.seat_of(e.player_id).filter(same_game) {
                        return Err(conflict(format!(
                            "{name} is seated at {} now",
                            seat_label(state, seat.table_id, seat.seat)
                        )));
                    }
                    list.queue.len()
                }
            };
            CashEvent::WaitEntryRestored {
                entry_id,
                list_id: list.id,
                player_id: e.player_id,
                joined_ms: e.joined_ms,
                call_in_until: e.call_in_until,
                // Staff putting a call-in back vouch they are here: an
                // expired call-in would otherwise be taken off again.
                arrived: e.arrived || e.call_in_until.is_some(),
                to: off.place.min(len),
            }
        }
        CashCommand::Move {
            entry_id,
            to_index,
            reason,
        } => {
            let e = cash.entry(entry_id)?;
            let list = cash.list(e.list_id)?;
            let from = list
                .queue
                .iter()
                .position(|id| *id == entry_id)
                .ok_or_else(|| conflict("entry is not queued"))?;
            if to_index >= list.queue.len() {
                return Err(invalid(
                    "to_index",
                    &format!("the list has places 0 to {}", list.queue.len() - 1),
                ));
            }
            let reason = reason.trim().to_owned();
            if reason.is_empty() || reason.chars().count() > 200 {
                return Err(invalid("reason", "say why, in 1 to 200 characters"));
            }
            if from == to_index {
                return Err(conflict("the player is already at that place"));
            }
            CashEvent::WaitEntryMoved {
                entry_id,
                from,
                to: to_index,
                reason,
            }
        }
        CashCommand::Arrived { entry_id } => {
            let e = cash.entry(entry_id)?;
            if e.call_in_until.is_none() || e.arrived {
                return Err(conflict("that entry is not a call-in waiting to arrive"));
            }
            CashEvent::CallInArrived { entry_id }
        }
        CashCommand::CallInExpired { entry_id, at_ms } => {
            let e = cash.entry(entry_id)?;
            match (e.call_in_until, e.arrived) {
                (Some(until), false) if at_ms > until => {}
                _ => return Err(conflict("that call-in has not expired")),
            }
            CashEvent::WaitEntryRemoved {
                entry_id,
                reason: "call-in did not arrive in time".into(),
            }
        }
        CashCommand::Leave { table_id, seat } => {
            occupied(state, table_id, seat)?;
            CashEvent::PlayerLeftSeat { table_id, seat }
        }
        CashCommand::Away {
            table_id,
            seat,
            at_ms,
        } => {
            if occupied(state, table_id, seat)?.away_since.is_some() {
                return Err(conflict("already marked away"));
            }
            CashEvent::PlayerAway {
                table_id,
                seat,
                at_ms,
            }
        }
        CashCommand::Back { table_id, seat } => {
            if occupied(state, table_id, seat)?.away_since.is_none() {
                return Err(conflict("not marked away"));
            }
            CashEvent::PlayerBack { table_id, seat }
        }
        CashCommand::ChangeSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
            at_ms,
        } => {
            let player_id = occupied(state, from_table, from_seat)?.player_id;
            check_free_seat(state, to_table, to_seat)?;
            let left_entries = entries_leaving(state, player_id, to_table, |_| false)?;
            CashEvent::PlayerChangedSeat {
                from_table,
                from_seat,
                to_table,
                to_seat,
                at_ms,
                left_entries,
                from_entry: None,
            }
        }
        CashCommand::RequestSeatChange {
            request_id,
            table_id,
            seat,
            wants,
            at_ms,
        } => {
            if cash.seat_changes.contains_key(&request_id) {
                return Err(conflict(format!(
                    "a request with id {request_id} already exists"
                )));
            }
            let s = occupied(state, table_id, seat)?;
            if let Some(w) = wants {
                if !state.tables.contains_key(&w) {
                    return Err(DomainError::UnknownTable(w));
                }
            }
            if cash
                .seat_changes
                .values()
                .any(|r| r.player_id == s.player_id)
            {
                return Err(conflict(format!(
                    "{} already has a seat change request",
                    player_name(state, s.player_id)
                )));
            }
            CashEvent::SeatChangeRequested {
                request_id,
                player_id: s.player_id,
                table_id,
                wants,
                at_ms,
            }
        }
        CashCommand::CancelSeatChange { request_id } => {
            if !cash.seat_changes.contains_key(&request_id) {
                return Err(DomainError::NotFound(format!(
                    "no seat change request with id {request_id}"
                )));
            }
            CashEvent::SeatChangeCancelled { request_id }
        }
        CashCommand::SetMustMove {
            table_id,
            must_move,
        } => {
            if !state.tables.contains_key(&table_id) {
                return Err(DomainError::UnknownTable(table_id));
            }
            CashEvent::TableMustMoveSet {
                table_id,
                must_move,
            }
        }
    })
}

/// The player's entries a seat at `table_id` takes them off: every entry for
/// that table's game and stakes, and any entry `also` picks.
pub(crate) fn entries_leaving(
    state: &VenueState,
    player_id: Uuid,
    table_id: Uuid,
    also: impl Fn(&WaitEntry) -> bool,
) -> Result<Vec<Uuid>, DomainError> {
    let table = state
        .tables
        .get(&table_id)
        .ok_or(DomainError::UnknownTable(table_id))?;
    let cash = &state.cash;
    Ok(cash
        .entries
        .values()
        .filter(|e| e.player_id == player_id)
        .filter(|e| {
            also(e)
                || cash
                    .lists
                    .get(&e.list_id)
                    .is_some_and(|l| l.game == table.game && l.stakes == table.stakes)
        })
        .map(|e| e.id)
        .collect())
}

pub(crate) fn call_event(state: &VenueState, e: &WaitEntry, at_ms: u64) -> CashEvent {
    let timeout = state.cash.policy.call_timeout_secs as u64 * 1000;
    CashEvent::PlayerCalled {
        entry_id: e.id,
        call: Call {
            number: e.calls_made + 1,
            called_ms: at_ms,
            deadline_ms: at_ms + timeout,
        },
    }
}
