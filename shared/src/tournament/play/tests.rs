use super::*;
use crate::tournament::structure::templates;
use proptest::prelude::*;

fn run(t: &mut Tournament, c: PlayCommand) -> Result<PlayEvent, DomainError> {
    let e = t.decide(&c)?;
    t.apply(&e);
    Ok(e)
}

#[test]
fn the_player_due_the_big_blind_moves_to_the_short_tables_worst_seat() {
    let mut t = Tournament::new(Uuid::nil(), templates()[1].clone(), 2, 9);
    // Table 1: seats 1-8; table 2: seats 1-5 (8 v 5).
    let seats: Vec<SeatRef> = (1..=8)
        .map(|s| (1, s))
        .chain((1..=5).map(|s| (2, s)))
        .collect();
    for (i, seat) in seats.iter().enumerate() {
        t.bullets.insert(
            Uuid::from_u128(i as u128),
            Bullet {
                id: Uuid::from_u128(i as u128),
                player_id: Uuid::from_u128(100 + i as u128),
                reentry: false,
                seat: Some(*seat),
                busted: false,
                rebuys: 0,
                addons: 0,
                left_seat: None,
                chips: None,
            },
        );
    }
    t.status = Status::Running;
    t.tables[0].button = Some(4); // SB 5, BB 6: seat 7 is due the big blind next.
    t.tables[1].button = Some(1); // SB 2, BB 3: the worst open seat is 6.
    let m = t.balance_suggestion().expect("8 v 5 needs a move");
    assert_eq!((m.from, m.to), ((1, 7), (2, 6)));
}

fn with_rebuys() -> Structure {
    let mut s = templates()[1].clone();
    s.rebuy = crate::tournament::structure::EntryRule {
        allowed: true,
        max: Some(2),
        chips: 30_000,
        until_level: Some(6),
        price: 100,
    };
    s
}

fn field(t: &mut Tournament, players: u128) {
    for i in 0..players {
        run(
            t,
            PlayCommand::Register {
                bullet_id: Uuid::from_u128(i),
                player_id: Uuid::from_u128(1000 + i),
                seed: i as u64,
                at_ms: 0,
                override_late_reg: false,
            },
        )
        .expect("register");
    }
}

#[test]
fn rebuys_and_add_ons_keep_to_their_rules_and_feed_the_pool() {
    let mut t = Tournament::new(Uuid::nil(), with_rebuys(), 2, 9);
    field(&mut t, 10);
    let a = Uuid::from_u128(0);
    assert!(
        t.decide(&PlayCommand::Rebuy {
            bullet_id: a,
            at_ms: 0
        })
        .is_err(),
        "not running yet"
    );
    run(&mut t, PlayCommand::Start { at_ms: 0 }).expect("start");
    run(
        &mut t,
        PlayCommand::Rebuy {
            bullet_id: a,
            at_ms: 0,
        },
    )
    .expect("rebuy 1");
    run(
        &mut t,
        PlayCommand::Rebuy {
            bullet_id: a,
            at_ms: 0,
        },
    )
    .expect("rebuy 2");
    let third = t.decide(&PlayCommand::Rebuy {
        bullet_id: a,
        at_ms: 0,
    });
    assert_eq!(
        third,
        Err(conflict("rebuy limit reached (2 allowed per entry)"))
    );
    run(
        &mut t,
        PlayCommand::AddOn {
            bullet_id: a,
            at_ms: 0,
        },
    )
    .expect("add-on");
    assert!(
        t.decide(&PlayCommand::AddOn {
            bullet_id: a,
            at_ms: 0
        })
        .is_err(),
        "one add-on"
    );
    // Daily: 20-minute levels with a break after every 4; level 9 is past both rules.
    let late = (8 * 20 + 2 * 10 + 5) * 60_000;
    assert_eq!(
        t.decide(&PlayCommand::AddOn {
            bullet_id: Uuid::from_u128(1),
            at_ms: late
        }),
        Err(conflict("add-ons are over for this tournament"))
    );
    let s = t.stats();
    assert_eq!(s.total_chips, 10 * 30_000 + 2 * 30_000 + 20_000);
    // 10 buy-ins of 100, 2 rebuys of 100, one add-on of 50 = 1,250; the guarantee is 5,000.
    assert_eq!(t.prize_pool(), 5_000);
    t.structure.guarantee = 0;
    assert_eq!(t.prize_pool(), 1_250);
    let payouts = t.payouts();
    assert_eq!(payouts.iter().map(|p| p.amount).sum::<u64>(), 1_250);
    assert_eq!(payouts.len(), 3);
}

#[test]
fn the_final_table_draw_seats_everyone_left_at_one_table() {
    let mut t = Tournament::new(Uuid::nil(), templates()[1].clone(), 3, 9);
    field(&mut t, 20);
    run(&mut t, PlayCommand::Start { at_ms: 0 }).expect("start");
    let ids: Vec<Uuid> = t.alive().map(|b| b.id).collect();
    assert!(
        t.decide(&PlayCommand::FinalTable { table: 2, seed: 7 })
            .is_err(),
        "20 do not fit"
    );
    for id in &ids[..11] {
        run(&mut t, PlayCommand::Bust { bullet_id: *id }).expect("bust");
    }
    let e = run(&mut t, PlayCommand::FinalTable { table: 2, seed: 7 }).expect("final table");
    assert_eq!(
        t.decide(&PlayCommand::FinalTable { table: 2, seed: 7 })
            .map(|_| ()),
        Ok(())
    );
    let counts = t.counts();
    assert_eq!(counts, BTreeMap::from([(2, 9)]));
    let seats: BTreeSet<SeatRef> = t.alive().filter_map(|b| b.seat).collect();
    assert_eq!(seats.len(), 9);
    // Same seed, same draw.
    let mut again = t.clone();
    again.apply(&e);
    assert_eq!(again, t);
}

#[test]
fn flights_bag_their_survivors_and_day_2_carries_the_stacks() {
    let mut flights = Vec::new();
    for f in 0..2u128 {
        let mut t = Tournament::new(Uuid::from_u128(50 + f), templates()[2].clone(), 2, 9);
        for i in 0..12u128 {
            // Player 1005 plays both flights.
            let player = if i == 5 { 1005 } else { 1000 + f * 100 + i };
            run(
                &mut t,
                PlayCommand::Register {
                    bullet_id: Uuid::from_u128(f * 100 + i),
                    player_id: Uuid::from_u128(player),
                    seed: i as u64,
                    at_ms: 0,
                    override_late_reg: false,
                },
            )
            .expect("register");
        }
        run(&mut t, PlayCommand::Start { at_ms: 0 }).expect("start");
        for i in 6..12u128 {
            run(
                &mut t,
                PlayCommand::Bust {
                    bullet_id: Uuid::from_u128(f * 100 + i),
                },
            )
            .expect("bust");
        }
        let mut stacks: Vec<(Uuid, u64)> = t
            .alive()
            .map(|b| (b.id, 40_000 + b.id.as_u128() as u64))
            .collect();
        let missing = stacks.pop().expect("six left");
        let at = 5 * 40 * 60_000;
        assert!(
            t.decide(&PlayCommand::Bag {
                stacks: stacks.clone(),
                at_ms: at
            })
            .is_err(),
            "a survivor without a count"
        );
        stacks.push(missing);
        run(&mut t, PlayCommand::Bag { stacks, at_ms: at }).expect("bag");
        assert_eq!(t.status, Status::Bagged);
        assert!(t
            .decide(&PlayCommand::Bust {
                bullet_id: Uuid::from_u128(f * 100)
            })
            .is_err());
        flights.push(t);
    }
    let refs: Vec<&Tournament> = flights.iter().collect();
    let entrants = Tournament::day2_entrants(&refs);
    // 6 + 6 survivors, but player 1005 bagged twice: the bigger stack (flight 2's) goes on.
    assert_eq!(entrants.len(), 11);
    let twice: Vec<&Day2Entrant> = entrants
        .iter()
        .filter(|e| e.player_id == Uuid::from_u128(1005))
        .collect();
    assert_eq!(twice.len(), 1);
    assert_eq!(twice[0].flight, Uuid::from_u128(51));
    let day2 = Tournament::day2_of(&refs);
    assert_eq!(day2.entries, 24);
    assert_eq!(day2.prize_pool, 24 * 300);
    let mut d2 = Tournament::new_day2(
        Uuid::from_u128(99),
        templates()[2].clone(),
        2,
        9,
        day2.clone(),
        &entrants,
    );
    assert!(d2
        .decide(&PlayCommand::Register {
            bullet_id: Uuid::from_u128(7777),
            player_id: Uuid::from_u128(7777),
            seed: 1,
            at_ms: 0,
            override_late_reg: true
        })
        .is_err());
    run(&mut d2, PlayCommand::Start { at_ms: 1_000 }).expect("day 2 starts");
    assert_eq!(d2.clock.view(&d2.structure, 1_000).step, day2.start_step);
    assert!(day2.start_step > 0);
    let total: u64 = entrants.iter().map(|e| e.chips).sum();
    assert_eq!(d2.stats().total_chips, total);
    assert_eq!(d2.stats().entries, 11);
    assert_eq!(d2.field(), 24);
    let counts = d2.counts();
    assert_eq!(counts.values().sum::<usize>(), 11);
    assert!(counts.values().max() <= Some(&6));
    assert_eq!(d2.prize_pool(), 25_000, "the guarantee");
}

#[test]
fn the_same_seed_draws_the_same_seat() {
    let t = Tournament::new(Uuid::nil(), templates()[0].clone(), 7, 9);
    assert_eq!(t.draw_seat(42), t.draw_seat(42));
}

#[test]
fn registration_closes_after_the_late_reg_level_unless_overridden() {
    let mut t = Tournament::new(Uuid::nil(), templates()[0].clone(), 2, 9);
    for i in 0..4u128 {
        run(
            &mut t,
            PlayCommand::Register {
                bullet_id: Uuid::from_u128(i),
                player_id: Uuid::from_u128(100 + i),
                seed: 1,
                at_ms: 0,
                override_late_reg: false,
            },
        )
        .expect("register");
    }
    run(&mut t, PlayCommand::Start { at_ms: 0 }).expect("start");
    // Turbo: late reg through level 6 and the break after it; level 7 starts at 82 minutes.
    let break_after_6 = 6 * 12 * 60_000 + 60_000;
    assert!(t.registration_open(break_after_6));
    let late = (6 * 12 + 10 + 1) * 60_000;
    let err = t.decide(&PlayCommand::Register {
        bullet_id: Uuid::from_u128(9),
        player_id: Uuid::from_u128(109),
        seed: 1,
        at_ms: late,
        override_late_reg: false,
    });
    assert!(err.is_err());
    let ok = t.decide(&PlayCommand::Register {
        bullet_id: Uuid::from_u128(9),
        player_id: Uuid::from_u128(109),
        seed: 1,
        at_ms: late,
        override_late_reg: true,
    });
    assert!(matches!(
        ok,
        Ok(PlayEvent::Registered {
            override_late_reg: true,
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_undoable_action_followed_by_its_undo_leaves_the_state_as_before(
        players in 4usize..30, picks in proptest::collection::vec((0u8..7, any::<prop::sample::Index>(), any::<u64>()), 1..40)
    ) {
        let mut t = Tournament::new(Uuid::nil(), with_rebuys(), 4, 9);
        for i in 0..players {
            let c = PlayCommand::Register { bullet_id: Uuid::from_u128(i as u128), player_id: Uuid::from_u128(1000 + i as u128), seed: i as u64, at_ms: 0, override_late_reg: false };
            run(&mut t, c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        run(&mut t, PlayCommand::Start { at_ms: 0 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut now = 0i64;
        let mut next = 10_000u128;
        for (kind, pick, r) in picks {
            if t.status != Status::Running { break; }
            now += (r % 600_000) as i64;
            let alive: Vec<Uuid> = t.alive().map(|b| b.id).collect();
            let command = match kind {
                0 => PlayCommand::Bust { bullet_id: alive[pick.index(alive.len())] },
                1 => match t.open_seats().first() {
                    Some(to) => PlayCommand::Move { bullet_id: alive[pick.index(alive.len())], to: *to },
                    None => continue,
                },
                2 => { next += 1; PlayCommand::Register { bullet_id: Uuid::from_u128(next), player_id: Uuid::from_u128(next), seed: r, at_ms: now, override_late_reg: true } }
                3 => PlayCommand::Jump { to_step: pick.index(t.structure.steps.len()), at_ms: now },
                4 => PlayCommand::AddTime { delta_ms: 60_000, at_ms: now },
                5 => PlayCommand::Rebuy { bullet_id: alive[pick.index(alive.len())], at_ms: now },
                _ => PlayCommand::AddOn { bullet_id: alive[pick.index(alive.len())], at_ms: now },
            };
            let before = t.clone();
            let Ok(event) = run(&mut t, command) else { continue };
            let undo = t.decide(&PlayCommand::Undo { event: event.clone() }).map_err(|e| TestCaseError::fail(format!("{e} for {event:?}")))?;
            let mut undone = t.clone();
            undone.apply(&undo);
            prop_assert_eq!(&undone, &before, "undo of {:?} did not restore the state", event);
        }
    }

    #[test]
    fn after_busts_and_balancing_the_tables_differ_by_at_most_one(
        players in 20usize..63,
        busts in proptest::collection::vec(any::<prop::sample::Index>(), 0..55),
        buttons in proptest::collection::vec((1u16..8, 1u8..=9), 0..10)
    ) {
        let mut t = Tournament::new(Uuid::nil(), templates()[1].clone(), 7, 9);
        for i in 0..players {
            let c = PlayCommand::Register { bullet_id: Uuid::from_u128(i as u128), player_id: Uuid::from_u128(1000 + i as u128), seed: i as u64, at_ms: 0, override_late_reg: false };
            run(&mut t, c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        run(&mut t, PlayCommand::Start { at_ms: 0 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (table, seat) in buttons {
            let _ = run(&mut t, PlayCommand::SetButton { table, seat });
        }
        for (n, pick) in busts.iter().enumerate() {
            if t.status != Status::Running {
                break;
            }
            let alive: Vec<Uuid> = t.alive().map(|b| b.id).collect();
            run(&mut t, PlayCommand::Bust { bullet_id: alive[pick.index(alive.len())] }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // The director breaks tables when the field fits, and confirms every balancing move.
            while let Some(table) = t.table_to_break() {
                run(&mut t, PlayCommand::BreakTable { table, seed: n as u64 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            let mut guard = 0;
            while let Some(m) = t.balance_suggestion() {
                run(&mut t, PlayCommand::Move { bullet_id: m.bullet_id, to: m.to }).map_err(|e| TestCaseError::fail(e.to_string()))?;
                guard += 1;
                prop_assert!(guard < 100, "balancing does not settle");
            }
            let counts = t.counts();
            let most = counts.values().max().copied().unwrap_or(0);
            let fewest = counts.values().min().copied().unwrap_or(0);
            prop_assert!(most <= fewest + 1, "tables {:?} differ by more than one", counts);
            let seats: Vec<SeatRef> = t.alive().filter_map(|b| b.seat).collect();
            let unique: BTreeSet<SeatRef> = seats.iter().copied().collect();
            prop_assert_eq!(seats.len(), unique.len(), "two players in one seat after a move");
        }
    }

    #[test]
    fn the_draw_never_seats_two_in_one_seat_nor_more_than_a_table_holds(
        players in 2usize..63, seeds in proptest::collection::vec(any::<u64>(), 63), tables in 2u16..8
    ) {
        let mut t = Tournament::new(Uuid::nil(), templates()[0].clone(), tables, 9);
        for (i, seed) in seeds.iter().copied().enumerate().take(players.min(tables as usize * 9)) {
            let e = t.decide(&PlayCommand::Register { bullet_id: Uuid::from_u128(i as u128), player_id: Uuid::from_u128(1000 + i as u128), seed, at_ms: 0, override_late_reg: false });
            if let Ok(e) = e { t.apply(&e) }
            if i == 1 { let _ = run(&mut t, PlayCommand::Start { at_ms: 0 }); }
        }
        let seats: Vec<SeatRef> = t.alive().filter_map(|b| b.seat).collect();
        let unique: BTreeSet<SeatRef> = seats.iter().copied().collect();
        prop_assert_eq!(seats.len(), unique.len(), "two players in one seat");
        for s in &seats {
            prop_assert!(s.1 >= 1 && s.1 <= 9 && s.0 >= 1 && s.0 <= tables);
        }
        prop_assert_eq!(seats.len(), t.alive().count(), "everyone running has a seat");
    }

    #[test]
    fn finishing_places_are_a_permutation_with_the_winner_first(
        players in 2usize..40, reentries in 0usize..10, order in proptest::collection::vec(any::<prop::sample::Index>(), 60)
    ) {
        let mut t = Tournament::new(Uuid::nil(), templates()[1].clone(), 6, 9);
        for i in 0..players {
            run(&mut t, PlayCommand::Register { bullet_id: Uuid::from_u128(i as u128), player_id: Uuid::from_u128(1000 + i as u128), seed: i as u64, at_ms: 0, override_late_reg: false }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        run(&mut t, PlayCommand::Start { at_ms: 0 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut next = players as u128;
        let mut steps = order.iter();
        while t.status == Status::Running {
            let alive: Vec<Uuid> = t.alive().map(|b| b.id).collect();
            let Some(pick) = steps.next() else { break };
            let victim = alive[pick.index(alive.len())];
            let player = t.bullets[&victim].player_id;
            run(&mut t, PlayCommand::Bust { bullet_id: victim }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let may_reenter = (next as usize) < players + reentries && t.status == Status::Running;
            if may_reenter && run(&mut t, PlayCommand::Register { bullet_id: Uuid::from_u128(next), player_id: player, seed: next as u64, at_ms: 0, override_late_reg: false }).is_ok() {
                next += 1;
            }
        }
        while t.status == Status::Running {
            let victim = t.alive().map(|b| b.id).next().ok_or_else(|| TestCaseError::fail("nobody left"))?;
            run(&mut t, PlayCommand::Bust { bullet_id: victim }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let places = t.places();
        let mut got: Vec<u32> = places.values().copied().collect();
        got.sort();
        let want: Vec<u32> = (1..=t.bullets.len() as u32).collect();
        prop_assert_eq!(got, want);
        let winner = t.alive().next().map(|b| b.id).ok_or_else(|| TestCaseError::fail("no winner"))?;
        prop_assert_eq!(places[&winner], 1);
        prop_assert_eq!(t.stats().players_left, 1);
    }
}
