//! Deciding a command against the venue state: the event that records it,
//! or a `DomainError` saying why not.

use super::*;

impl VenueState {
    pub(crate) fn decide_day2(
        &self,
        tournament_id: Uuid,
        name: String,
        flights: Vec<Uuid>,
        tables: u16,
        seats: u8,
    ) -> Result<EventKind, DomainError> {
        if self.tournaments.contains_key(&tournament_id) {
            return Err(DomainError::Conflict(format!(
                "a tournament with id {tournament_id} already exists"
            )));
        }
        let name = checked_name(&name)?;
        checked_tables(tables, seats)?;
        let unique: std::collections::BTreeSet<&Uuid> = flights.iter().collect();
        if flights.is_empty() || unique.len() != flights.len() {
            return Err(DomainError::Invalid {
                field: "flights",
                reason: "name each flight once".into(),
            });
        }
        let mut found = Vec::new();
        for id in &flights {
            let f: &Tournament = self
                .tournaments
                .get(id)
                .ok_or_else(|| DomainError::NotFound(format!("no flight with id {id}")))?;
            if f.status != crate::tournament::play::Status::Bagged {
                return Err(DomainError::Conflict(format!(
                    "flight {:?} has not been bagged yet",
                    f.name
                )));
            }
            if f.fed_day2.is_some() {
                return Err(DomainError::Conflict(format!(
                    "flight {:?} is already in a Day 2",
                    f.name
                )));
            }
            found.push(f);
        }
        let entrants = Tournament::day2_entrants(&found);
        if entrants.len() < 2 {
            return Err(DomainError::Conflict(
                "a Day 2 needs at least two survivors".into(),
            ));
        }
        let room = tables as usize * seats as usize;
        if entrants.len() > room {
            return Err(DomainError::Invalid {
                field: "tables",
                reason: format!("{} survivors need more than {room} seats", entrants.len()),
            });
        }
        Ok(EventKind::Day2Created {
            tournament_id,
            name,
            structure: found[0].structure.clone(),
            tables,
            seats,
            day2: Tournament::day2_of(&found),
            entrants,
        })
    }

    pub fn decide(&self, command: &Command) -> Result<EventKind, DomainError> {
        match command.clone() {
            Command::UpdateSettings(settings) => {
                // Older events may hold any well-formed name (they still
                // replay); new settings name a zone the IANA database knows.
                settings.timezone.known()?;
                Ok(EventKind::VenueSettingsUpdated { settings })
            }
            Command::CreateTable {
                table_id,
                name,
                game,
                stakes,
                seats,
            } => {
                if self.tables.contains_key(&table_id) {
                    return Err(DomainError::Conflict(format!(
                        "a table with id {table_id} already exists"
                    )));
                }
                if self.name_taken(&name, None) {
                    return Err(DomainError::Conflict(format!(
                        "there is already a table called \"{name}\""
                    )));
                }
                Ok(EventKind::TableCreated {
                    table_id,
                    name,
                    game,
                    stakes,
                    seats: check_seats(seats)?,
                })
            }
            Command::RenameTable { table_id, name } => {
                self.table(table_id)?;
                if self.name_taken(&name, Some(table_id)) {
                    return Err(DomainError::Conflict(format!(
                        "there is already a table called \"{name}\""
                    )));
                }
                Ok(EventKind::TableRenamed { table_id, name })
            }
            Command::SetTableGame {
                table_id,
                game,
                stakes,
            } => {
                let table = self.table(table_id)?;
                let seated = self
                    .cash
                    .seats
                    .keys()
                    .filter(|(t, _)| *t == table_id)
                    .count();
                if seated > 0 && (table.game, table.stakes) != (game, stakes) {
                    // Seated players may be waiting for the new game: change it on an empty table.
                    return Err(DomainError::Conflict(format!(
                        "table {} has {} seated; change the game once it is empty",
                        table.name,
                        crate::words::count(seated as u64, "player", "players")
                    )));
                }
                Ok(EventKind::TableGameSet {
                    table_id,
                    game,
                    stakes,
                })
            }
            Command::OpenTable { table_id } => match self.table(table_id)?.status {
                TableStatus::Open => Err(DomainError::Conflict(format!(
                    "table {} is already open",
                    self.table(table_id)?.name
                ))),
                _ => Ok(EventKind::TableOpened { table_id }),
            },
            Command::StartTable { table_id } => match self.table(table_id)?.status {
                TableStatus::Closed => Ok(EventKind::TableStarting { table_id }),
                _ => Err(DomainError::Conflict(format!(
                    "table {} is already running or starting",
                    self.table(table_id)?.name
                ))),
            },
            Command::CloseTable { table_id } => {
                let table = self.table(table_id)?;
                if table.status == TableStatus::Closed {
                    return Err(DomainError::Conflict(format!(
                        "table {} is already closed",
                        table.name
                    )));
                }
                let seated = self
                    .cash
                    .seats
                    .keys()
                    .filter(|(t, _)| *t == table_id)
                    .count();
                if seated > 0 {
                    return Err(DomainError::Conflict(format!(
                        "table {} still has {} seated; move them or mark them gone first",
                        table.name,
                        crate::words::count(seated as u64, "player", "players")
                    )));
                }
                Ok(EventKind::TableClosed { table_id })
            }
            Command::CreatePlayer { player_id, details } => {
                if self.players.contains_key(&player_id) {
                    return Err(DomainError::Conflict(format!(
                        "a player with id {player_id} already exists"
                    )));
                }
                Ok(EventKind::PlayerCreated {
                    player_id,
                    details: details.checked()?,
                })
            }
            Command::UpdatePlayer { player_id, details } => {
                if !self.players.contains_key(&player_id) {
                    return Err(DomainError::NotFound(format!(
                        "no player with id {player_id}"
                    )));
                }
                Ok(EventKind::PlayerUpdated {
                    player_id,
                    details: details.checked()?,
                })
            }
            Command::Cash(c) => cash::decide(self, &c).map(EventKind::Cash),
            Command::CreateTournament {
                tournament_id,
                name,
                structure,
                tables,
                seats,
            } => {
                if self.tournaments.contains_key(&tournament_id) {
                    return Err(DomainError::Conflict(format!(
                        "a tournament with id {tournament_id} already exists"
                    )));
                }
                let name = checked_name(&name)?;
                structure.validate().map_err(|e| DomainError::Invalid {
                    field: "structure",
                    reason: e.to_string(),
                })?;
                checked_tables(tables, seats)?;
                Ok(EventKind::TournamentCreated {
                    tournament_id,
                    name,
                    structure: *structure,
                    tables,
                    seats,
                })
            }
            Command::Tournament {
                tournament_id,
                command,
            } => {
                let t = self.tournaments.get(&tournament_id).ok_or_else(|| {
                    DomainError::NotFound(format!("no tournament with id {tournament_id}"))
                })?;
                let event = t.decide(&command)?;
                Ok(EventKind::TournamentPlayed {
                    tournament_id,
                    event,
                })
            }
            Command::CreateDay2 {
                tournament_id,
                name,
                flights,
                tables,
                seats,
            } => self.decide_day2(tournament_id, name, flights, tables, seats),
            Command::SaveTemplate { structure } => {
                structure.validate().map_err(|e| DomainError::Invalid {
                    field: "structure",
                    reason: e.to_string(),
                })?;
                let builtin = crate::tournament::structure::templates()
                    .iter()
                    .any(|t| t.name.eq_ignore_ascii_case(structure.name.trim()));
                if builtin {
                    return Err(DomainError::Conflict(format!(
                        "{:?} is a built-in template: save your copy under another name",
                        structure.name
                    )));
                }
                let mut structure = *structure;
                structure.name = structure.name.trim().to_owned();
                Ok(EventKind::TemplateSaved { structure })
            }
            Command::Display { change, at_ms } => Ok(EventKind::DisplayChanged {
                change: self.displays.decide(change, at_ms)?,
            }),
            Command::RecordUpdate {
                container,
                image,
                outcome,
                detail,
            } => Ok(EventKind::UpdateFinished {
                container,
                image,
                outcome,
                detail,
            }),
            Command::RecordWipe { message_id } => Ok(EventKind::WipeOrdered { message_id }),
            Command::RecordDownHandled {
                message_id,
                kind,
                outcome,
                detail,
            } => Ok(EventKind::DownHandled {
                message_id,
                kind,
                outcome,
                detail,
            }),
            Command::RecordLeafRestart {
                down_for_ms,
                method,
            } => Ok(EventKind::LeafRestarted {
                down_for_ms,
                method,
            }),
            Command::DeleteTemplate { name } => {
                if !self.templates.contains_key(&name.trim().to_lowercase()) {
                    return Err(DomainError::NotFound(format!(
                        "no saved template called {name:?}"
                    )));
                }
                Ok(EventKind::TemplateDeleted {
                    name: name.trim().to_owned(),
                })
            }
            Command::CreateStaff {
                user_id,
                username,
                display_name,
                role,
                password_hash,
                pin_hash,
            } => {
                if self.staff.by_username(&username).is_some() {
                    return Err(DomainError::Conflict(format!(
                        "there is already a user called \"{username}\""
                    )));
                }
                if password_hash.is_none() && pin_hash.is_none() {
                    return Err(DomainError::Invalid {
                        field: "password",
                        reason: "give a password, a PIN, or both".into(),
                    });
                }
                Ok(EventKind::StaffUserCreated {
                    user_id,
                    username,
                    display_name: check_display_name(&display_name)?,
                    role,
                    password_hash,
                    pin_hash,
                })
            }
            Command::ReplaceHubStaff {
                issued_ms,
                accounts,
            } => {
                if issued_ms <= self.staff.hub_issued_ms {
                    return Err(DomainError::Conflict(
                        "the node holds a list of hub accounts issued later".into(),
                    ));
                }
                crate::staff::check_hub_accounts(&accounts)?;
                Ok(EventKind::HubStaffReplaced {
                    issued_ms,
                    accounts,
                })
            }
            Command::SetStaffRole { user_id, role } => {
                let user = self.staff.user(user_id)?;
                self.staff.keeps_an_admin(user_id, role, user.enabled)?;
                Ok(EventKind::StaffRoleChanged { user_id, role })
            }
            Command::SetStaffEnabled { user_id, enabled } => {
                let user = self.staff.user(user_id)?;
                self.staff.keeps_an_admin(user_id, user.role, enabled)?;
                Ok(if enabled {
                    EventKind::StaffUserEnabled { user_id }
                } else {
                    EventKind::StaffUserDisabled { user_id }
                })
            }
            Command::SetPassword {
                user_id,
                password_hash,
            } => {
                self.staff.user(user_id)?;
                Ok(EventKind::StaffPasswordSet {
                    user_id,
                    password_hash,
                })
            }
            Command::SetPin { user_id, pin_hash } => {
                self.staff.user(user_id)?;
                Ok(EventKind::StaffPinSet { user_id, pin_hash })
            }
            Command::RecordLockout {
                scope,
                subject,
                until_ms,
            } => Ok(EventKind::LoginLockedOut {
                scope,
                subject,
                until_ms,
            }),
            Command::ClearLockout { scope, subject } => {
                Ok(EventKind::LoginLockoutCleared { scope, subject })
            }
            Command::RevokeSession {
                sid,
                user_id,
                until_secs,
            } => Ok(EventKind::SessionRevoked {
                sid,
                user_id,
                until_secs,
            }),
            Command::CreateApiKey {
                key_id,
                user_id,
                name,
                secret_hash,
            } => {
                self.staff.user(user_id)?;
                Ok(EventKind::ApiKeyCreated {
                    key_id,
                    user_id,
                    name: check_display_name(&name).map_err(|_| DomainError::Invalid {
                        field: "name",
                        reason: "use 1 to 60 characters".into(),
                    })?,
                    secret_hash,
                })
            }
            Command::RevokeApiKey { key_id } => match self.staff.api_keys.get(&key_id) {
                None => Err(DomainError::UnknownApiKey(key_id)),
                Some(k) if k.revoked => Err(DomainError::Conflict(
                    "that API key is already revoked".into(),
                )),
                Some(_) => Ok(EventKind::ApiKeyRevoked { key_id }),
            },
        }
    }
}
