//! Folding an event into the venue state.

use super::*;
use std::sync::Arc;

/// Each part of the state is shared with the states already published
/// (`Arc`): these find the record first, so an event for an id the state
/// does not hold (replayed history, the hub's fold) copies nothing, and
/// copy the part (`Arc::make_mut`) only to change it.
impl VenueState {
    pub(crate) fn table_mut(&mut self, id: &Uuid) -> Option<&mut PokerTable> {
        if !self.tables.contains_key(id) {
            return None;
        }
        Arc::make_mut(&mut self.tables).get_mut(id)
    }

    fn user_mut(&mut self, id: &Uuid) -> Option<&mut StaffUser> {
        if !self.staff.users.contains_key(id) {
            return None;
        }
        Arc::make_mut(&mut self.staff).users.get_mut(id)
    }

    fn api_key_mut(&mut self, id: &Uuid) -> Option<&mut ApiKey> {
        if !self.staff.api_keys.contains_key(id) {
            return None;
        }
        Arc::make_mut(&mut self.staff).api_keys.get_mut(id)
    }

    fn tournament_mut(&mut self, id: &Uuid) -> Option<&mut Tournament> {
        if !self.tournaments.contains_key(id) {
            return None;
        }
        Arc::make_mut(&mut self.tournaments)
            .get_mut(id)
            .map(Arc::make_mut)
    }
}

impl VenueState {
    /// Folds one event into the state. Events for unknown tables are ignored:
    /// `decide` never produces them, and replay must not fail on history.
    pub fn apply(&mut self, event: &EventKind) {
        match event.clone() {
            EventKind::VenueSettingsUpdated { settings } => self.settings = Arc::new(settings),
            EventKind::TableCreated {
                table_id,
                name,
                game,
                stakes,
                seats,
            } => {
                Arc::make_mut(&mut self.tables).insert(
                    table_id,
                    PokerTable {
                        id: table_id,
                        name,
                        game,
                        stakes,
                        seats,
                        status: TableStatus::Closed,
                        must_move: false,
                    },
                );
            }
            EventKind::TableRenamed { table_id, name } => {
                if let Some(t) = self.table_mut(&table_id) {
                    t.name = name;
                }
            }
            EventKind::TableGameSet {
                table_id,
                game,
                stakes,
            } => {
                if let Some(t) = self.table_mut(&table_id) {
                    t.game = game;
                    t.stakes = stakes;
                }
            }
            EventKind::TableOpened { table_id } => {
                if let Some(t) = self.table_mut(&table_id) {
                    t.status = TableStatus::Open;
                }
            }
            EventKind::TableClosed { table_id } => {
                if let Some(t) = self.table_mut(&table_id) {
                    t.status = TableStatus::Closed;
                }
            }
            EventKind::TableStarting { table_id } => {
                if let Some(t) = self.table_mut(&table_id) {
                    t.status = TableStatus::Starting;
                }
            }
            EventKind::PlayerCreated { player_id, details }
            | EventKind::PlayerUpdated { player_id, details } => {
                Arc::make_mut(&mut self.players)
                    .insert(player_id, Player::from_details(player_id, details));
            }
            EventKind::Cash(e) => cash::apply(self, &e),
            EventKind::TournamentCreated {
                tournament_id,
                name,
                structure,
                tables,
                seats,
            } => {
                let mut t = Tournament::new(tournament_id, structure, tables, seats);
                t.name = name;
                Arc::make_mut(&mut self.tournaments).insert(tournament_id, Arc::new(t));
            }
            EventKind::TournamentPlayed {
                tournament_id,
                event,
            } => {
                if let Some(t) = self.tournament_mut(&tournament_id) {
                    t.apply(&event);
                }
            }
            EventKind::Day2Created {
                tournament_id,
                name,
                structure,
                tables,
                seats,
                day2,
                entrants,
            } => {
                for f in &day2.flights {
                    if let Some(f) = self.tournament_mut(f) {
                        f.fed_day2 = Some(tournament_id);
                    }
                }
                let mut t =
                    Tournament::new_day2(tournament_id, structure, tables, seats, day2, &entrants);
                t.name = name;
                Arc::make_mut(&mut self.tournaments).insert(tournament_id, Arc::new(t));
            }
            EventKind::DisplayChanged { change } => {
                Arc::make_mut(&mut self.displays).apply(&change)
            }
            EventKind::TemplateSaved { structure } => {
                Arc::make_mut(&mut self.templates).insert(structure.name.to_lowercase(), structure);
            }
            EventKind::TemplateDeleted { name } => {
                Arc::make_mut(&mut self.templates).remove(&name.to_lowercase());
            }
            EventKind::DownHandled {
                message_id,
                kind,
                outcome,
                detail,
            } => {
                let down = Arc::make_mut(&mut self.down);
                down.insert(
                    message_id,
                    DownHandled {
                        kind,
                        outcome,
                        detail,
                    },
                );
                while down.len() > MAX_DOWN_KEPT {
                    down.pop_first();
                }
            }
            EventKind::LeafRestarted { .. }
            | EventKind::UpdateFinished { .. }
            | EventKind::WipeOrdered { .. } => {}
            EventKind::StaffUserCreated {
                user_id,
                username,
                display_name,
                role,
                password_hash,
                pin_hash,
            } => {
                Arc::make_mut(&mut self.staff).users.insert(
                    user_id,
                    StaffUser {
                        id: user_id,
                        username,
                        display_name,
                        role,
                        enabled: true,
                        password_hash,
                        pin_hash,
                        epoch: 0,
                    },
                );
            }
            EventKind::HubStaffReplaced {
                issued_ms,
                accounts,
            } => Arc::make_mut(&mut self.staff).replace_hub(issued_ms, &accounts),
            EventKind::StaffRoleChanged { user_id, role } => {
                if let Some(u) = self.user_mut(&user_id) {
                    u.role = role;
                }
            }
            EventKind::StaffUserDisabled { user_id } | EventKind::StaffUserEnabled { user_id } => {
                let enabled = matches!(event, EventKind::StaffUserEnabled { .. });
                if let Some(u) = self.user_mut(&user_id) {
                    u.enabled = enabled;
                    if !enabled {
                        u.epoch += 1;
                    }
                }
            }
            EventKind::StaffPasswordSet {
                user_id,
                password_hash,
            } => {
                if let Some(u) = self.user_mut(&user_id) {
                    u.password_hash = Some(password_hash);
                    u.epoch += 1;
                }
            }
            EventKind::StaffPinSet { user_id, pin_hash } => {
                if let Some(u) = self.user_mut(&user_id) {
                    u.pin_hash = pin_hash;
                    u.epoch += 1;
                }
            }
            EventKind::LoginLockedOut { .. }
            | EventKind::LoginLockoutCleared { .. }
            | EventKind::SessionRevoked { .. } => {}
            EventKind::ApiKeyCreated {
                key_id,
                user_id,
                name,
                secret_hash,
            } => {
                let epoch = self.staff.users.get(&user_id).map_or(0, |u| u.epoch);
                Arc::make_mut(&mut self.staff).api_keys.insert(
                    key_id,
                    ApiKey {
                        id: key_id,
                        user_id,
                        name,
                        secret_hash,
                        revoked: false,
                        epoch,
                    },
                );
            }
            EventKind::ApiKeyRevoked { key_id } => {
                if let Some(k) = self.api_key_mut(&key_id) {
                    k.revoked = true;
                }
            }
        }
    }
}
