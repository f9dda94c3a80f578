use super::*;

fn create(state: &VenueState, id: u128, name: &str) -> Result<EventKind, DomainError> {
    state.decide(&Command::CreateTable {
        table_id: Uuid::from_u128(id),
        name: TableName::parse(name)?,
        game: Game::Nlhe,
        stakes: Stakes::new(1, 2)?,
        seats: 9,
    })
}

#[test]
fn a_blank_table_name_is_rejected() {
    assert!(TableName::parse("   ").is_err());
}

#[test]
fn a_table_name_longer_than_40_characters_is_rejected() {
    assert!(TableName::parse(&"x".repeat(41)).is_err());
    assert!(TableName::parse(&"é".repeat(40)).is_ok());
}

#[test]
fn a_big_blind_below_the_small_blind_is_rejected() {
    assert!(Stakes::new(5, 2).is_err());
    assert!(Stakes::new(0, 2).is_err());
    assert!(Stakes::new(2, 2).is_ok());
}

#[test]
fn stakes_from_json_are_checked_too() {
    let bad: Result<Stakes, _> = serde_json::from_str(r#"{"small_blind":5,"big_blind":2}"#);
    assert!(bad.is_err());
}

#[test]
fn colours_must_be_six_hex_digits_and_are_stored_lower_case() {
    assert_eq!(
        Colour::parse("#AABBCC").map(|c| c.to_string()),
        Ok("#aabbcc".into())
    );
    assert!(Colour::parse("red").is_err());
    assert!(Colour::parse("#abc").is_err());
}

#[test]
fn time_zones_look_like_iana_names() {
    assert!(Timezone::parse("Europe/London").is_ok());
    assert!(Timezone::parse("America/Argentina/Buenos_Aires").is_ok());
    assert!(Timezone::parse("UTC").is_ok());
    assert!(Timezone::parse("london").is_err());
    assert!(Timezone::parse("Europe/../etc").is_err());
    // Well formed, so an old event holding it still replays, but unknown:
    // new settings naming it are refused.
    let mars = Timezone::parse("Mars/Olympus").expect("well formed");
    assert!(mars.known().is_err());
    assert!(Timezone::parse("America/Argentina/Buenos_Aires")
        .expect("well formed")
        .known()
        .is_ok());
    assert!(Timezone::all_names().contains(&"Europe/London"));
    // 2026-07-01 12:00:00 UTC: summer time in London and Athens.
    let noon = 1_782_907_200_000;
    let london = Timezone::parse("Europe/London").expect("tz");
    assert_eq!(london.local_time(noon), "Wed 1 Jul 13:00:00");
    assert_eq!(mars.local_time(noon), "Wed 1 Jul 12:00:00 UTC");
}

#[test]
fn two_tables_cannot_share_a_name_whatever_the_case() {
    let mut state = VenueState::default();
    let ev = create(&state, 1, "Table 1").expect("first table");
    state.apply(&ev);
    assert!(matches!(
        create(&state, 2, "table 1"),
        Err(DomainError::Conflict(_))
    ));
}

#[test]
fn a_new_table_starts_closed_and_opens_once() {
    let mut state = VenueState::default();
    let ev = create(&state, 1, "Table 1").expect("create");
    state.apply(&ev);
    let id = Uuid::from_u128(1);
    assert_eq!(state.tables[&id].status, TableStatus::Closed);
    let open = state
        .decide(&Command::OpenTable { table_id: id })
        .expect("open");
    state.apply(&open);
    assert_eq!(state.tables[&id].status, TableStatus::Open);
    assert!(state.decide(&Command::OpenTable { table_id: id }).is_err());
}

#[test]
fn renaming_an_unknown_table_names_the_id() {
    let state = VenueState::default();
    let id = Uuid::from_u128(9);
    let err = state.decide(&Command::RenameTable {
        table_id: id,
        name: TableName::parse("X").unwrap_or_else(|_| unreachable!()),
    });
    assert_eq!(err, Err(DomainError::UnknownTable(id)));
}

#[test]
fn seats_outside_two_to_ten_are_rejected() {
    let state = VenueState::default();
    let cmd = |seats| Command::CreateTable {
        table_id: Uuid::from_u128(1),
        name: TableName::parse("T").unwrap_or_else(|_| unreachable!()),
        game: Game::Plo,
        stakes: Stakes::new(1, 2).unwrap_or_else(|_| unreachable!()),
        seats,
    };
    assert!(state.decide(&cmd(1)).is_err());
    assert!(state.decide(&cmd(11)).is_err());
    assert!(state.decide(&cmd(10)).is_ok());
}

#[test]
fn a_published_part_is_copied_only_by_an_event_that_changes_it() {
    let mut state = VenueState::default();
    let created = create(&state, 1, "Table 1").expect("create");
    state.apply(&created);
    let published = state.clone();
    // Replayed history can name a table, user, key or tournament the state
    // does not hold: nothing to change, nothing copied.
    let unknown = Uuid::from_u128(99);
    for event in [
        EventKind::TableOpened { table_id: unknown },
        EventKind::StaffRoleChanged {
            user_id: unknown,
            role: Role::Dealer,
        },
        EventKind::ApiKeyRevoked { key_id: unknown },
    ] {
        state.apply(&event);
    }
    assert!(std::sync::Arc::ptr_eq(&state.tables, &published.tables));
    assert!(std::sync::Arc::ptr_eq(&state.staff, &published.staff));
    // A change copies the part, and the published state keeps what it had.
    state.apply(&EventKind::TableOpened {
        table_id: Uuid::from_u128(1),
    });
    assert!(!std::sync::Arc::ptr_eq(&state.tables, &published.tables));
    assert_eq!(state.tables[&Uuid::from_u128(1)].status, TableStatus::Open);
    assert_eq!(
        published.tables[&Uuid::from_u128(1)].status,
        TableStatus::Closed
    );
}
