use super::*;
use crate::event::EventKind;
use crate::players::PlayerDetails;
use crate::venue::{Command, TableName};
use proptest::prelude::*;

const PLAYERS: u128 = 12;
const TABLES: u128 = 3;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}
fn player(n: u128) -> Uuid {
    id(1000 + n)
}
fn table(n: u128) -> Uuid {
    id(2000 + n)
}
fn list(n: u128) -> Uuid {
    id(3000 + n)
}

fn run(state: &mut VenueState, command: Command) -> Option<EventKind> {
    let event = state.decide(&command).ok()?;
    state.apply(&event);
    Some(event)
}

/// Three open 6-seat tables (two NLHE 1/2, one PLO 2/5), a list for each game, twelve players.
pub(crate) fn room(removes_other_lists: bool) -> VenueState {
    let mut s = VenueState::default();
    let policy = CashPolicy {
        seat_removes_other_lists: removes_other_lists,
        ..CashPolicy::default()
    };
    run(&mut s, Command::Cash(CashCommand::SetPolicy(policy)));
    for t in 0..TABLES {
        let (game, stakes) = if t < 2 {
            (Game::Nlhe, Stakes::new(1, 2))
        } else {
            (Game::Plo, Stakes::new(2, 5))
        };
        let stakes = stakes.unwrap_or_else(|_| unreachable!());
        run(
            &mut s,
            Command::CreateTable {
                table_id: table(t),
                name: TableName::parse(&format!("T{t}")).unwrap_or_else(|_| unreachable!()),
                game,
                stakes,
                seats: 6,
            },
        );
        run(&mut s, Command::OpenTable { table_id: table(t) });
    }
    run(
        &mut s,
        Command::Cash(CashCommand::CreateList {
            list_id: list(0),
            game: Game::Nlhe,
            stakes: Stakes::new(1, 2).unwrap_or_else(|_| unreachable!()),
        }),
    );
    run(
        &mut s,
        Command::Cash(CashCommand::CreateList {
            list_id: list(1),
            game: Game::Plo,
            stakes: Stakes::new(2, 5).unwrap_or_else(|_| unreachable!()),
        }),
    );
    for p in 0..PLAYERS {
        let details = PlayerDetails {
            name: format!("Player {p}"),
            nickname: None,
            phone: None,
            email: None,
            notes: String::new(),
        };
        run(
            &mut s,
            Command::CreatePlayer {
                player_id: player(p),
                details,
            },
        );
    }
    s
}

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Join(u128, u128),
    CallNext(u128),
    SeatFirst(u128, u128, u8),
    SeatDirect(u128, u128, u8),
    NoShow(usize),
    TimeOut(usize),
    Remove(usize),
    Restore(usize),
    CloseList(u128),
    Move(usize, usize),
    Leave(u128, u8),
    Change(u128, u8, u128, u8),
    Tick(u64),
    JoinCallIn(u128, u128),
    Arrived(usize),
    SeatChange(u128, u8),
    SetGame(u128, bool),
    MustMove(u128),
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..PLAYERS, 0..2u128).prop_map(|(p, l)| Op::Join(p, l)),
        2 => (0..2u128).prop_map(Op::CallNext),
        2 => (0..2u128, 0..TABLES, 1..=6u8).prop_map(|(l, t, s)| Op::SeatFirst(l, t, s)),
        1 => (0..PLAYERS, 0..TABLES, 1..=6u8).prop_map(|(p, t, s)| Op::SeatDirect(p, t, s)),
        1 => (0..20usize).prop_map(Op::NoShow),
        1 => (0..20usize).prop_map(Op::TimeOut),
        1 => (0..20usize).prop_map(Op::Remove),
        1 => (0..20usize).prop_map(Op::Restore),
        1 => (0..2u128).prop_map(Op::CloseList),
        1 => (0..20usize, 0..20usize).prop_map(|(a, b)| Op::Move(a, b)),
        1 => (0..TABLES, 1..=6u8).prop_map(|(t, s)| Op::Leave(t, s)),
        1 => (0..TABLES, 1..=6u8, 0..TABLES, 1..=6u8).prop_map(|(a, b, c, d)| Op::Change(a, b, c, d)),
        1 => (1..400_000u64).prop_map(Op::Tick),
        1 => (0..PLAYERS, 0..2u128).prop_map(|(p, l)| Op::JoinCallIn(p, l)),
        1 => (0..20usize).prop_map(Op::Arrived),
        1 => (0..TABLES, 1..=6u8).prop_map(|(t, s)| Op::SeatChange(t, s)),
        1 => (0..TABLES, any::<bool>()).prop_map(|(t, plo)| Op::SetGame(t, plo)),
        1 => (0..TABLES).prop_map(Op::MustMove),
    ]
}

fn nth_entry(s: &VenueState, n: usize) -> Option<Uuid> {
    let all: Vec<Uuid> = s.cash.entries.keys().copied().collect();
    (!all.is_empty()).then(|| all[n % all.len()])
}

pub(crate) fn to_command(
    s: &VenueState,
    op: &Op,
    now: &mut u64,
    fresh: &mut u128,
) -> Option<Command> {
    *fresh += 1;
    let c = match *op {
        Op::Join(p, l) => CashCommand::Join {
            entry_id: id(10_000 + *fresh),
            list_id: list(l),
            player_id: player(p),
            at_ms: *now,
            call_in_until: None,
        },
        Op::CallNext(l) => CashCommand::CallNext {
            list_id: list(l),
            at_ms: *now,
        },
        Op::SeatFirst(l, t, seat) => {
            let entry = s.cash.lists.get(&list(l))?.queue.first().copied()?;
            let player_id = s.cash.entries.get(&entry)?.player_id;
            CashCommand::Seat {
                player_id,
                entry_id: Some(entry),
                table_id: table(t),
                seat,
                at_ms: *now,
            }
        }
        Op::SeatDirect(p, t, seat) => CashCommand::Seat {
            player_id: player(p),
            entry_id: None,
            table_id: table(t),
            seat,
            at_ms: *now,
        },
        Op::NoShow(n) => CashCommand::NoShow {
            entry_id: nth_entry(s, n)?,
        },
        Op::TimeOut(n) => {
            let e = s.cash.entries.get(&nth_entry(s, n)?)?;
            CashCommand::CallTimedOut {
                entry_id: e.id,
                call_number: e.call.map(|c| c.number).unwrap_or(0),
                at_ms: *now,
            }
        }
        Op::Remove(n) => CashCommand::Remove {
            entry_id: nth_entry(s, n)?,
        },
        Op::Restore(n) => {
            let off: Vec<Uuid> = s
                .cash
                .lists
                .values()
                .flat_map(|l| l.off.iter().map(|o| o.entry.id))
                .collect();
            CashCommand::Restore {
                entry_id: *off.get(n % off.len().max(1))?,
            }
        }
        Op::CloseList(l) => CashCommand::CloseList { list_id: list(l) },
        Op::Move(n, to) => {
            let e = s.cash.entries.get(&nth_entry(s, n)?)?;
            let len = s.cash.lists.get(&e.list_id)?.queue.len();
            CashCommand::Move {
                entry_id: e.id,
                to_index: to % len,
                reason: "test".into(),
            }
        }
        Op::Leave(t, seat) => CashCommand::Leave {
            table_id: table(t),
            seat,
        },
        Op::Change(a, b, c, d) => CashCommand::ChangeSeat {
            from_table: table(a),
            from_seat: b,
            to_table: table(c),
            to_seat: d,
            at_ms: *now,
        },
        Op::Tick(ms) => {
            *now += ms;
            return None;
        }
        Op::JoinCallIn(p, l) => CashCommand::Join {
            entry_id: id(10_000 + *fresh),
            list_id: list(l),
            player_id: player(p),
            at_ms: *now,
            call_in_until: Some(*now + 600_000),
        },
        Op::Arrived(n) => CashCommand::Arrived {
            entry_id: nth_entry(s, n)?,
        },
        Op::SeatChange(t, seat) => CashCommand::RequestSeatChange {
            request_id: id(20_000 + *fresh),
            table_id: table(t),
            seat,
            wants: None,
            at_ms: *now,
        },
        Op::SetGame(t, plo) => {
            let (game, stakes) = if plo {
                (Game::Plo, Stakes::new(2, 5))
            } else {
                (Game::Nlhe, Stakes::new(1, 2))
            };
            return Some(Command::SetTableGame {
                table_id: table(t),
                game,
                stakes: stakes.unwrap_or_else(|_| unreachable!()),
            });
        }
        Op::MustMove(t) => CashCommand::SetMustMove {
            table_id: table(t),
            must_move: true,
        },
    };
    Some(Command::Cash(c))
}

fn relative_order(before: &[Uuid], after: &[Uuid]) -> bool {
    let kept: Vec<&Uuid> = before.iter().filter(|id| after.contains(id)).collect();
    let after_kept: Vec<&Uuid> = after.iter().filter(|id| before.contains(id)).collect();
    kept == after_kept
}

fn check_invariants(s: &VenueState) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    for seat in s.cash.seats.values() {
        prop_assert!(
            seen.insert(seat.player_id),
            "player {} is in two seats",
            seat.player_id
        );
        let table = &s.tables[&seat.table_id];
        for e in s
            .cash
            .entries
            .values()
            .filter(|e| e.player_id == seat.player_id)
        {
            let l = &s.cash.lists[&e.list_id];
            prop_assert!(
                !(l.game == table.game && l.stakes == table.stakes),
                "seated and still waiting for the same game"
            );
        }
    }
    for l in s.cash.lists.values() {
        for eid in &l.queue {
            prop_assert!(s.cash.entries.get(eid).is_some_and(|e| e.list_id == l.id));
        }
    }
    prop_assert_eq!(
        s.cash.entries.len(),
        s.cash.lists.values().map(|l| l.queue.len()).sum::<usize>()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn seats_lists_and_order_stay_sound_whatever_staff_do(ops in proptest::collection::vec(op(), 1..120), removes in any::<bool>()) {
        let mut s = room(removes);
        let (mut now, mut fresh) = (1_000_000u64, 0u128);
        for op in &ops {
            let Some(command) = to_command(&s, op, &mut now, &mut fresh) else { continue };
            let before: BTreeMap<Uuid, Vec<Uuid>> = s.cash.lists.iter().map(|(k, l)| (*k, l.queue.clone())).collect();
            let before_entries: BTreeMap<Uuid, Uuid> = s.cash.entries.values().map(|e| (e.id, e.player_id)).collect();
            let Some(event) = run(&mut s, command) else { continue };
            check_invariants(&s)?;
            let seated_from = match &event {
                EventKind::Cash(CashEvent::PlayerSeated { player_id, from_entry, .. }) => Some((*player_id, *from_entry)),
                EventKind::Cash(CashEvent::PlayerChangedSeat { from_entry: Some(e), .. }) => {
                    before_entries.get(e).map(|p| (*p, Some(*e)))
                }
                _ => None,
            };
            if let Some((player_id, from_entry)) = &seated_from {
                // Never still waiting on the list they were seated from (nor on any, if the venue says so).
                let from_list = from_entry.and_then(|e| before.iter().find(|(_, q)| q.contains(&e)).map(|(l, _)| *l));
                for e in s.cash.entries.values().filter(|e| e.player_id == *player_id) {
                    prop_assert!(!removes, "seated, yet still on a list");
                    prop_assert!(e.call.is_none(), "seated, yet still called on another list");
                    prop_assert!(Some(e.list_id) != from_list, "seated, yet still on the list they were seated from");
                }
            }
            let explicit_move = matches!(event, EventKind::Cash(CashEvent::WaitEntryMoved { .. })
                | EventKind::Cash(CashEvent::WaitEntryRestored { .. })
                | EventKind::Cash(CashEvent::PlayerNoShow { moved_to: Some(_), .. }));
            if !explicit_move {
                for (lid, q) in &before {
                    // A closed list has no order left to keep.
                    let Some(l) = s.cash.lists.get(lid) else { continue };
                    prop_assert!(relative_order(q, &l.queue), "order changed on {:?}", event);
                }
            }
        }
    }

    #[test]
    fn replaying_the_events_rebuilds_the_same_state(ops in proptest::collection::vec(op(), 1..80)) {
        let mut s = room(true);
        let mut events = Vec::new();
        let (mut now, mut fresh) = (1_000_000u64, 0u128);
        for op in &ops {
            let Some(command) = to_command(&s, op, &mut now, &mut fresh) else { continue };
            if let Some(e) = run(&mut s, command) { events.push(e) }
        }
        let mut replayed = room(true);
        for e in &events {
            // Through the wire form, as the log stores them.
            let (kind, payload) = e.to_parts();
            let back = EventKind::from_parts(&kind, &payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, e);
            replayed.apply(&back);
        }
        prop_assert_eq!(replayed, s);
    }

    #[test]
    fn list_merge_is_commutative_associative_and_idempotent(
        ops in proptest::collection::vec((0..3usize, 0..8u128, 0..50u64, any::<bool>()), 0..60)
    ) {
        let mut r = [ListReplica::default(), ListReplica::default(), ListReplica::default()];
        for (which, entry, t, remove) in ops {
            let h = Hlc { wall_ms: t, counter: 0 };
            if remove { r[which].remove(id(entry)) } else { r[which].add(id(entry), h, player(entry)) }
        }
        let [a, b, c] = &r;
        prop_assert_eq!(a.merge(b), b.merge(a));
        prop_assert_eq!(a.merge(b).merge(c), a.merge(&b.merge(c)));
        prop_assert_eq!(a.merge(a), a.clone());
        // A removal on either side wins over an add of the same entry.
        let merged = a.merge(b);
        for gone in a.removed.union(&b.removed) {
            prop_assert!(!merged.order().contains(gone));
        }
        // Order is by join time.
        let order = merged.order();
        for w in order.windows(2) {
            prop_assert!(merged.joined[&w[0]].0 <= merged.joined[&w[1]].0);
        }
    }
}

#[test]
fn a_call_that_runs_out_is_due_once_and_then_never_again() {
    let mut s = room(true);
    run(
        &mut s,
        Command::Cash(CashCommand::Join {
            entry_id: id(1),
            list_id: list(0),
            player_id: player(0),
            at_ms: 0,
            call_in_until: None,
        }),
    );
    run(
        &mut s,
        Command::Cash(CashCommand::CallNext {
            list_id: list(0),
            at_ms: 1_000,
        }),
    );
    assert!(s.cash.due(1_000 + 179_999).is_empty());
    let due = s.cash.due(181_000);
    assert_eq!(due.len(), 1);
    assert!(run(&mut s, Command::Cash(due[0].clone())).is_some());
    assert!(s.cash.due(181_000).is_empty());
    assert!(
        s.decide(&Command::Cash(due[0].clone())).is_err(),
        "the same timeout twice"
    );
    assert!(
        s.cash.entries.is_empty(),
        "dropped under the default policy"
    );
}

#[test]
fn a_no_show_moves_down_under_that_policy() {
    let mut s = room(true);
    let policy = CashPolicy {
        no_show: NoShowPolicy::MoveDown { places: 2 },
        ..CashPolicy::default()
    };
    run(&mut s, Command::Cash(CashCommand::SetPolicy(policy)));
    for p in 0..4 {
        run(
            &mut s,
            Command::Cash(CashCommand::Join {
                entry_id: id(p + 1),
                list_id: list(0),
                player_id: player(p),
                at_ms: p as u64,
                call_in_until: None,
            }),
        );
    }
    run(
        &mut s,
        Command::Cash(CashCommand::CallNext {
            list_id: list(0),
            at_ms: 10,
        }),
    );
    run(
        &mut s,
        Command::Cash(CashCommand::NoShow { entry_id: id(1) }),
    );
    assert_eq!(
        s.cash.lists[&list(0)].queue,
        vec![id(2), id(3), id(1), id(4)]
    );
    assert!(s.cash.entries[&id(1)].call.is_none());
}

#[test]
fn seating_into_a_taken_seat_or_a_closed_table_is_refused_with_the_reason() {
    let mut s = room(true);
    run(
        &mut s,
        Command::Cash(CashCommand::Seat {
            player_id: player(0),
            entry_id: None,
            table_id: table(0),
            seat: 1,
            at_ms: 0,
        }),
    );
    let err = s.decide(&Command::Cash(CashCommand::Seat {
        player_id: player(1),
        entry_id: None,
        table_id: table(0),
        seat: 1,
        at_ms: 0,
    }));
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("T0 seat 1 is taken by Player 0".into())
    );
    let err = s.decide(&Command::Cash(CashCommand::CallNext {
        list_id: list(0),
        at_ms: 0,
    }));
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("the list is empty: no one to call".into())
    );
    run(
        &mut s,
        Command::Cash(CashCommand::Leave {
            table_id: table(0),
            seat: 1,
        }),
    );
    run(&mut s, Command::CloseTable { table_id: table(0) });
    let err = s.decide(&Command::Cash(CashCommand::Seat {
        player_id: player(1),
        entry_id: None,
        table_id: table(0),
        seat: 2,
        at_ms: 0,
    }));
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("table T0 is closed".into())
    );
}

#[test]
fn the_wait_estimate_is_unknown_until_there_is_turnover_then_a_range() {
    let mut cash = CashState::default();
    assert_eq!(estimate_wait(&cash, list(0), 0, 0), WaitEstimate::Unknown);
    cash.seatings.insert(list(0), vec![0, 600_000, 1_200_000]);
    // One seat every 10 minutes: third in line expects ~30, shown as 15 to 45.
    assert_eq!(
        estimate_wait(&cash, list(0), 2, 1_300_000),
        WaitEstimate::Range {
            min_minutes: 15,
            max_minutes: 45
        }
    );
    assert_eq!(
        estimate_wait(&cash, list(0), 2, 1_200_000 + TURNOVER_HORIZON_MS + 1),
        WaitEstimate::Unknown
    );
}

/// Four on list 0, the first one called.
fn four_waiting(no_show: NoShowPolicy) -> VenueState {
    let mut s = room(true);
    let policy = CashPolicy {
        no_show,
        ..CashPolicy::default()
    };
    run(&mut s, Command::Cash(CashCommand::SetPolicy(policy)));
    for p in 0..4 {
        run(
            &mut s,
            Command::Cash(CashCommand::Join {
                entry_id: id(p + 1),
                list_id: list(0),
                player_id: player(p),
                at_ms: p as u64,
                call_in_until: None,
            }),
        );
    }
    run(
        &mut s,
        Command::Cash(CashCommand::CallNext {
            list_id: list(0),
            at_ms: 10,
        }),
    );
    s
}

#[test]
fn a_dropped_no_show_goes_back_to_its_place_uncalled_with_its_join_time() {
    let mut s = four_waiting(NoShowPolicy::Drop);
    run(
        &mut s,
        Command::Cash(CashCommand::NoShow { entry_id: id(1) }),
    );
    assert!(!s.cash.entries.contains_key(&id(1)));
    let event = run(
        &mut s,
        Command::Cash(CashCommand::Restore { entry_id: id(1) }),
    );
    assert!(matches!(
        event,
        Some(EventKind::Cash(CashEvent::WaitEntryRestored { to: 0, .. }))
    ));
    assert_eq!(
        s.cash.lists[&list(0)].queue,
        vec![id(1), id(2), id(3), id(4)]
    );
    let e = &s.cash.entries[&id(1)];
    assert_eq!((e.joined_ms, e.call, e.calls_made), (0, None, 1));
    assert!(s.cash.lists[&list(0)].off.is_empty());
    let again = s.decide(&Command::Cash(CashCommand::Restore { entry_id: id(1) }));
    assert!(again.is_err(), "the same undo twice");
}

#[test]
fn a_moved_down_no_show_moves_back_up_and_a_removal_comes_back() {
    let mut s = four_waiting(NoShowPolicy::MoveDown { places: 2 });
    run(
        &mut s,
        Command::Cash(CashCommand::NoShow { entry_id: id(1) }),
    );
    run(
        &mut s,
        Command::Cash(CashCommand::Remove { entry_id: id(3) }),
    );
    assert_eq!(s.cash.lists[&list(0)].queue, vec![id(2), id(1), id(4)]);
    run(
        &mut s,
        Command::Cash(CashCommand::Restore { entry_id: id(1) }),
    );
    assert_eq!(s.cash.lists[&list(0)].queue, vec![id(1), id(2), id(4)]);
    // Back to the place it had when it was taken off (2nd).
    run(
        &mut s,
        Command::Cash(CashCommand::Restore { entry_id: id(3) }),
    );
    assert_eq!(
        s.cash.lists[&list(0)].queue,
        vec![id(1), id(3), id(2), id(4)]
    );
}

#[test]
fn an_undo_is_refused_once_the_player_is_seated_or_back_on_the_list() {
    let mut s = four_waiting(NoShowPolicy::Drop);
    run(
        &mut s,
        Command::Cash(CashCommand::Remove { entry_id: id(2) }),
    );
    run(
        &mut s,
        Command::Cash(CashCommand::Remove { entry_id: id(3) }),
    );
    run(
        &mut s,
        Command::Cash(CashCommand::Seat {
            player_id: player(1),
            entry_id: None,
            table_id: table(0),
            seat: 1,
            at_ms: 20,
        }),
    );
    run(
        &mut s,
        Command::Cash(CashCommand::Join {
            entry_id: id(9),
            list_id: list(0),
            player_id: player(2),
            at_ms: 30,
            call_in_until: None,
        }),
    );
    for (entry, says) in [(id(2), "seated at"), (id(3), "on this list again")] {
        let refused = s.decide(&Command::Cash(CashCommand::Restore { entry_id: entry }));
        match refused {
            Err(e) => assert!(e.to_string().contains(says), "{e}"),
            Ok(ev) => panic!("restored: {ev:?}"),
        }
    }
}

#[test]
fn a_list_keeps_only_its_last_few_removals_for_undo() {
    let mut s = room(true);
    for p in 0..(MAX_OFF as u128 + 2) {
        run(
            &mut s,
            Command::Cash(CashCommand::Join {
                entry_id: id(p + 1),
                list_id: list(0),
                player_id: player(p),
                at_ms: 0,
                call_in_until: None,
            }),
        );
        run(
            &mut s,
            Command::Cash(CashCommand::Remove {
                entry_id: id(p + 1),
            }),
        );
    }
    let off = &s.cash.lists[&list(0)].off;
    assert_eq!(off.len(), MAX_OFF);
    assert_eq!(off[0].entry.id, id(3));
    assert!(s
        .decide(&Command::Cash(CashCommand::Restore { entry_id: id(1) }))
        .is_err());
}

#[test]
fn a_list_closes_only_once_nobody_waits_on_it() {
    let mut s = four_waiting(NoShowPolicy::Drop);
    let refused = s.decide(&Command::Cash(CashCommand::CloseList { list_id: list(0) }));
    match refused {
        Err(e) => assert!(e.to_string().contains("4 players are still waiting"), "{e}"),
        Ok(ev) => panic!("closed with players waiting: {ev:?}"),
    }
    for p in 1..=4 {
        run(
            &mut s,
            Command::Cash(CashCommand::Remove { entry_id: id(p) }),
        );
    }
    assert!(run(
        &mut s,
        Command::Cash(CashCommand::CloseList { list_id: list(0) })
    )
    .is_some());
    assert!(!s.cash.lists.contains_key(&list(0)));
    assert!(s.cash.entries.is_empty());
}
