//! Which read rows an event changes (the node's projection rewrites only those).

use super::*;

/// The rows an event changes, worked out before it is applied, so storage can
/// rewrite exactly those from the state after the commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TouchedRows {
    pub policy: bool,
    pub lists: BTreeSet<Uuid>,
    pub entries: BTreeSet<Uuid>,
    pub seats: BTreeSet<(Uuid, u8)>,
    pub seat_changes: BTreeSet<Uuid>,
    pub tables: BTreeSet<Uuid>,
    /// Tournaments whose state row must be rewritten.
    pub tournaments: BTreeSet<Uuid>,
    /// Tournament entries (tournament, bullet) whose row must be rewritten.
    pub tournament_entries: BTreeSet<(Uuid, Uuid)>,
    /// The display settings row.
    pub displays: bool,
}

impl TouchedRows {
    pub fn extend(&mut self, other: TouchedRows) {
        self.policy |= other.policy;
        self.lists.extend(other.lists);
        self.entries.extend(other.entries);
        self.seats.extend(other.seats);
        self.seat_changes.extend(other.seat_changes);
        self.tables.extend(other.tables);
        self.tournaments.extend(other.tournaments);
        self.tournament_entries.extend(other.tournament_entries);
        self.displays |= other.displays;
    }

    pub fn is_empty(&self) -> bool {
        *self == TouchedRows::default()
    }

    fn entry(&mut self, cash: &CashState, entry_id: Uuid) {
        self.entries.insert(entry_id);
        if let Some(e) = cash.entries.get(&entry_id) {
            self.lists.insert(e.list_id);
        }
    }

    /// Every entry of a player, and their lists (a seating cancels their calls).
    fn player_entries(&mut self, cash: &CashState, player_id: Uuid) {
        let ids: Vec<Uuid> = cash
            .entries
            .values()
            .filter(|e| e.player_id == player_id)
            .map(|e| e.id)
            .collect();
        for id in ids {
            self.entry(cash, id);
        }
    }

    fn player_requests(&mut self, cash: &CashState, player_id: Option<Uuid>) {
        if let Some(p) = player_id {
            self.seat_changes.extend(
                cash.seat_changes
                    .values()
                    .filter(|r| r.player_id == p)
                    .map(|r| r.id),
            );
        }
    }
}

/// What `event` will change, judged on the state before it is applied.
pub fn touched(state: &VenueState, event: &CashEvent) -> TouchedRows {
    let cash = &state.cash;
    let mut t = TouchedRows::default();
    match event {
        CashEvent::CashPolicySet { .. } => t.policy = true,
        CashEvent::WaitingListCreated { list_id, .. } => {
            t.lists.insert(*list_id);
        }
        CashEvent::WaitingListClosed { list_id } => {
            t.lists.insert(*list_id);
            if let Some(l) = cash.lists.get(list_id) {
                t.entries.extend(l.queue.iter().copied());
            }
        }
        CashEvent::PlayerJoinedList {
            entry_id, list_id, ..
        }
        | CashEvent::WaitEntryRestored {
            entry_id, list_id, ..
        } => {
            t.entries.insert(*entry_id);
            t.lists.insert(*list_id);
        }
        CashEvent::PlayerCalled { entry_id, .. }
        | CashEvent::PlayerNoShow { entry_id, .. }
        | CashEvent::WaitEntryRemoved { entry_id, .. }
        | CashEvent::WaitEntryMoved { entry_id, .. }
        | CashEvent::CallInArrived { entry_id } => t.entry(cash, *entry_id),
        CashEvent::PlayerSeated {
            player_id,
            table_id,
            seat,
            from_entry,
            left_entries,
            ..
        } => {
            t.seats.insert((*table_id, *seat));
            for id in from_entry.iter().chain(left_entries) {
                t.entry(cash, *id);
            }
            t.player_entries(cash, *player_id);
        }
        CashEvent::PlayerLeftSeat { table_id, seat } => {
            t.seats.insert((*table_id, *seat));
            t.player_requests(
                cash,
                cash.seats.get(&(*table_id, *seat)).map(|s| s.player_id),
            );
        }
        CashEvent::PlayerAway { table_id, seat, .. } | CashEvent::PlayerBack { table_id, seat } => {
            t.seats.insert((*table_id, *seat));
        }
        CashEvent::PlayerChangedSeat {
            from_table,
            from_seat,
            to_table,
            to_seat,
            left_entries,
            from_entry,
            ..
        } => {
            t.seats.insert((*from_table, *from_seat));
            t.seats.insert((*to_table, *to_seat));
            let player = cash
                .seats
                .get(&(*from_table, *from_seat))
                .map(|s| s.player_id);
            t.player_requests(cash, player);
            for id in from_entry.iter().chain(left_entries) {
                t.entry(cash, *id);
            }
            if let Some(p) = player {
                t.player_entries(cash, p);
            }
        }
        CashEvent::SeatChangeRequested { request_id, .. }
        | CashEvent::SeatChangeCancelled { request_id } => {
            t.seat_changes.insert(*request_id);
        }
        CashEvent::TableMustMoveSet { table_id, .. } => {
            t.tables.insert(*table_id);
        }
    }
    t
}
