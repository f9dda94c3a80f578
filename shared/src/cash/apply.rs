//! Folding a cash event into the state.

use super::*;

pub(crate) fn drop_entry(cash: &mut CashState, entry_id: Uuid) {
    if let Some(e) = cash.entries.remove(&entry_id) {
        if let Some(l) = cash.lists.get_mut(&e.list_id) {
            l.queue.retain(|id| *id != entry_id);
        }
    }
}

/// Keeps an entry as it is now, and its place, so a no-show or removal can be undone.
fn remember_off(cash: &mut CashState, entry_id: Uuid, no_show: bool) {
    let Some(e) = cash.entries.get(&entry_id) else {
        return;
    };
    let Some(l) = cash.lists.get_mut(&e.list_id) else {
        return;
    };
    let place = l.queue.iter().position(|id| *id == entry_id).unwrap_or(0);
    l.off.retain(|o| o.entry.id != entry_id);
    l.off.push(OffList {
        entry: e.clone(),
        place,
        no_show,
    });
    if l.off.len() > MAX_OFF {
        l.off.remove(0);
    }
}

/// A player takes a seat: the entries it clears leave their lists, a seating
/// from a list of the table's own game counts towards that list's turnover,
/// and any call still running on another list is cancelled (they are seated).
pub(crate) fn record_seating(
    cash: &mut CashState,
    table_game: Option<(Game, Stakes)>,
    player_id: Uuid,
    from_entry: Option<Uuid>,
    left_entries: &[Uuid],
    at_ms: u64,
) {
    let list = from_entry
        .and_then(|id| cash.entries.get(&id))
        .map(|e| e.list_id);
    if let Some(list_id) = list {
        let same_game = cash.lists.get(&list_id).map(|l| (l.game, l.stakes)) == table_game;
        if same_game {
            let times = cash.seatings.entry(list_id).or_default();
            times.push(at_ms);
            if times.len() > TURNOVER_WINDOW {
                times.remove(0);
            }
        }
    }
    for id in left_entries {
        drop_entry(cash, *id);
    }
    for e in cash
        .entries
        .values_mut()
        .filter(|e| e.player_id == player_id)
    {
        e.call = None;
    }
}

pub(crate) fn move_in_queue(cash: &mut CashState, entry_id: Uuid, to: usize) {
    let Some(list_id) = cash.entries.get(&entry_id).map(|e| e.list_id) else {
        return;
    };
    if let Some(l) = cash.lists.get_mut(&list_id) {
        l.queue.retain(|id| *id != entry_id);
        let to = to.min(l.queue.len());
        l.queue.insert(to, entry_id);
    }
}

/// Folds one cash event into the state.
pub fn apply(state: &mut VenueState, event: &CashEvent) {
    if let CashEvent::TableMustMoveSet {
        table_id,
        must_move,
    } = event
    {
        if let Some(t) = state.table_mut(table_id) {
            t.must_move = *must_move;
        }
        return;
    }
    // The cash games are copied here only if a published state still shares them.
    let cash = std::sync::Arc::make_mut(&mut state.cash);
    match event.clone() {
        CashEvent::CashPolicySet { policy } => cash.policy = policy,
        CashEvent::WaitingListCreated {
            list_id,
            game,
            stakes,
        } => {
            cash.lists.insert(
                list_id,
                WaitingList {
                    id: list_id,
                    game,
                    stakes,
                    queue: Vec::new(),
                    off: Vec::new(),
                },
            );
        }
        CashEvent::WaitingListClosed { list_id } => {
            if let Some(l) = cash.lists.remove(&list_id) {
                for id in l.queue {
                    cash.entries.remove(&id);
                }
            }
            cash.seatings.remove(&list_id);
        }
        CashEvent::PlayerJoinedList {
            entry_id,
            list_id,
            player_id,
            at_ms,
            call_in_until,
        } => {
            if let Some(l) = cash.lists.get_mut(&list_id) {
                l.queue.push(entry_id);
                cash.entries.insert(
                    entry_id,
                    WaitEntry {
                        id: entry_id,
                        list_id,
                        player_id,
                        joined_ms: at_ms,
                        call: None,
                        calls_made: 0,
                        call_in_until,
                        arrived: false,
                    },
                );
            }
        }
        CashEvent::PlayerCalled { entry_id, call } => {
            if let Some(e) = cash.entries.get_mut(&entry_id) {
                e.call = Some(call);
                e.calls_made = call.number;
            }
        }
        CashEvent::PlayerSeated {
            player_id,
            table_id,
            seat,
            at_ms,
            from_entry,
            left_entries,
        } => {
            let game = state.tables.get(&table_id).map(|t| (t.game, t.stakes));
            record_seating(cash, game, player_id, from_entry, &left_entries, at_ms);
            cash.seats.insert(
                (table_id, seat),
                Seat {
                    table_id,
                    seat,
                    player_id,
                    since_ms: at_ms,
                    away_since: None,
                },
            );
        }
        CashEvent::PlayerNoShow {
            entry_id, moved_to, ..
        } => {
            remember_off(cash, entry_id, true);
            match moved_to {
                None => drop_entry(cash, entry_id),
                Some(to) => {
                    if let Some(e) = cash.entries.get_mut(&entry_id) {
                        e.call = None;
                    }
                    move_in_queue(cash, entry_id, to);
                }
            }
        }
        CashEvent::WaitEntryRemoved { entry_id, .. } => {
            remember_off(cash, entry_id, false);
            drop_entry(cash, entry_id);
        }
        CashEvent::WaitEntryRestored {
            entry_id,
            list_id,
            player_id,
            joined_ms,
            call_in_until,
            arrived,
            to,
        } => {
            let Some(l) = cash.lists.get_mut(&list_id) else {
                return;
            };
            let calls_made = l
                .off
                .iter()
                .rev()
                .find(|o| o.entry.id == entry_id)
                .map_or(0, |o| o.entry.calls_made);
            l.off.retain(|o| o.entry.id != entry_id);
            match cash.entries.get_mut(&entry_id) {
                Some(e) => e.call = None,
                None => {
                    cash.entries.insert(
                        entry_id,
                        WaitEntry {
                            id: entry_id,
                            list_id,
                            player_id,
                            joined_ms,
                            call: None,
                            calls_made,
                            call_in_until,
                            arrived,
                        },
                    );
                }
            }
            move_in_queue(cash, entry_id, to);
        }
        CashEvent::WaitEntryMoved { entry_id, to, .. } => move_in_queue(cash, entry_id, to),
        CashEvent::CallInArrived { entry_id } => {
            if let Some(e) = cash.entries.get_mut(&entry_id) {
                e.arrived = true;
            }
        }
        CashEvent::PlayerLeftSeat { table_id, seat } => {
            if let Some(s) = cash.seats.remove(&(table_id, seat)) {
                cash.seat_changes.retain(|_, r| r.player_id != s.player_id);
            }
        }
        CashEvent::PlayerAway {
            table_id,
            seat,
            at_ms,
        } => {
            if let Some(s) = cash.seats.get_mut(&(table_id, seat)) {
                s.away_since = Some(at_ms);
            }
        }
        CashEvent::PlayerBack { table_id, seat } => {
            if let Some(s) = cash.seats.get_mut(&(table_id, seat)) {
                s.away_since = None;
            }
        }
        CashEvent::PlayerChangedSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
            at_ms,
            left_entries,
            from_entry,
        } => {
            let game = state.tables.get(&to_table).map(|t| (t.game, t.stakes));
            if let Some(s) = cash.seats.remove(&(from_table, from_seat)) {
                record_seating(cash, game, s.player_id, from_entry, &left_entries, at_ms);
                cash.seat_changes.retain(|_, r| r.player_id != s.player_id);
                // A better seat at the same table keeps their time there (must-move order).
                let since_ms = if from_table == to_table {
                    s.since_ms
                } else {
                    at_ms
                };
                cash.seats.insert(
                    (to_table, to_seat),
                    Seat {
                        table_id: to_table,
                        seat: to_seat,
                        player_id: s.player_id,
                        since_ms,
                        away_since: None,
                    },
                );
            }
        }
        CashEvent::SeatChangeRequested {
            request_id,
            player_id,
            table_id,
            wants,
            at_ms,
        } => {
            cash.seat_changes.insert(
                request_id,
                SeatChange {
                    id: request_id,
                    player_id,
                    table_id,
                    wants,
                    at_ms,
                },
            );
        }
        CashEvent::SeatChangeCancelled { request_id } => {
            cash.seat_changes.remove(&request_id);
        }
        CashEvent::TableMustMoveSet { .. } => {}
    }
}
