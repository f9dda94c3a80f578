//! Mistakes at 2 a.m.: every undoable tournament action (bust-out, move,
//! entry or re-entry, clock change, rebuy, add-on) followed by its undo
//! leaves the node's read tables exactly as they were (property test against
//! a real libSQL file). The log itself only grows: the undo is an event that
//! names what it reverses.

use proptest::prelude::*;
use pvm_node::Node;
use pvm_shared::players::PlayerDetails;
use pvm_shared::tournament::play::{PlayCommand, Status};
use pvm_shared::tournament::structure::{templates, EntryRule};
use pvm_shared::venue::Command;
use pvm_shared::{Actor, EventKind};
use uuid::Uuid;

async fn play(node: &Node, id: Uuid, command: PlayCommand) -> Option<EventKind> {
    let c = Command::Tournament {
        tournament_id: id,
        command,
    };
    node.state
        .log
        .append(Actor::System, c)
        .await
        .ok()
        .map(|c| c.event)
}

async fn new_player(node: &Node, name: &str) -> Uuid {
    let player_id = Uuid::now_v7();
    let details = PlayerDetails {
        name: name.into(),
        nickname: None,
        phone: None,
        email: None,
        notes: String::new(),
    };
    node.state
        .log
        .append(Actor::System, Command::CreatePlayer { player_id, details })
        .await
        .expect("player");
    player_id
}

async fn dump(node: &Node) -> String {
    node.state
        .reader
        .dump_read_tables()
        .await
        .expect("dump read tables")
}

/// (action, which player, a number for seeds and minutes)
type Pick = (u8, usize, u64);

async fn scenario(players: usize, picks: Vec<Pick>) -> Result<usize, TestCaseError> {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::open(dir.path()).await.expect("node");
    let id = Uuid::now_v7();
    let mut structure = templates()[1].clone();
    structure.rebuy = EntryRule {
        allowed: true,
        max: Some(2),
        chips: 30_000,
        until_level: Some(8),
        price: 100,
    };
    let create = Command::CreateTournament {
        tournament_id: id,
        name: "Undo night".into(),
        structure: Box::new(structure),
        tables: 4,
        seats: 9,
    };
    node.state
        .log
        .append(Actor::System, create)
        .await
        .expect("create");
    for i in 0..players {
        let player_id = new_player(&node, &format!("Player {i}")).await;
        let reg = PlayCommand::Register {
            bullet_id: Uuid::now_v7(),
            player_id,
            seed: i as u64,
            at_ms: 0,
            override_late_reg: false,
        };
        play(&node, id, reg).await.expect("register");
    }
    let now0 = node.state.clock.now_ms() as i64;
    play(&node, id, PlayCommand::Start { at_ms: now0 })
        .await
        .expect("start");
    let mut undone = 0;
    let mut minutes = 0i64;
    for (kind, pick, r) in picks {
        let venue = node.state.log.venue();
        let t = &venue.tournaments[&id];
        if t.status != Status::Running {
            break;
        }
        minutes += (r % 7) as i64;
        let now = now0 + minutes * 60_000;
        let alive: Vec<Uuid> = t.alive().map(|b| b.id).collect();
        let someone = alive[pick % alive.len()];
        let command = match kind {
            0 => PlayCommand::Bust { bullet_id: someone },
            1 => match t.open_seats().get(pick % 3) {
                Some(to) => PlayCommand::Move {
                    bullet_id: someone,
                    to: *to,
                },
                None => continue,
            },
            2 => {
                // A re-entry of someone out, or a new player's entry.
                let out = t.bullets.values().find(|b| b.busted).map(|b| b.player_id);
                let player_id = match out {
                    Some(p) => p,
                    None => new_player(&node, "Walk In").await,
                };
                PlayCommand::Register {
                    bullet_id: Uuid::now_v7(),
                    player_id,
                    seed: r,
                    at_ms: now,
                    override_late_reg: true,
                }
            }
            3 => PlayCommand::Jump {
                to_step: pick % t.structure.steps.len(),
                at_ms: now,
            },
            4 => PlayCommand::AddTime {
                delta_ms: if r % 2 == 0 { 60_000 } else { -60_000 },
                at_ms: now,
            },
            5 => PlayCommand::Pause { at_ms: now },
            6 => PlayCommand::Rebuy {
                bullet_id: someone,
                at_ms: now,
            },
            _ => PlayCommand::AddOn {
                bullet_id: someone,
                at_ms: now,
            },
        };
        let before = dump(&node).await;
        let Some(EventKind::TournamentPlayed { event, .. }) = play(&node, id, command).await else {
            continue;
        };
        let undo = PlayCommand::Undo {
            event: event.clone(),
        };
        let Some(_) = play(&node, id, undo).await else {
            return Err(TestCaseError::fail(format!("could not undo {event:?}")));
        };
        let after = dump(&node).await;
        prop_assert_eq!(
            &after,
            &before,
            "undo of {:?} left the read tables changed",
            event
        );
        undone += 1;
    }
    node.close().await;
    Ok(undone)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_undoable_action_followed_by_its_undo_leaves_the_read_tables_as_before(
        players in 4usize..24,
        picks in proptest::collection::vec((0u8..8, any::<usize>(), any::<u64>()), 1..16)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(scenario(players, picks))?;
    }
}

#[test]
fn the_undo_property_really_undoes_something() {
    // One fixed case with each kind of action, so the property is never vacuous.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let picks: Vec<Pick> = (0u8..8).map(|k| (k, k as usize * 3, 3)).collect();
    let undone = rt.block_on(scenario(12, picks)).expect("scenario");
    assert_eq!(undone, 8, "every kind of action was made and undone");
}
