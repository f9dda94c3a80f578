//! A walk-in player and their entry are one append: committed together in
//! one transaction, or not at all (a refused entry adds nobody).

mod common;

use common::inprocess::{body_of_login, token_of, Venue};
use pvm_shared::cash::CashCommand;
use pvm_shared::envelope::Envelope;
use pvm_shared::players::PlayerDetails;
use pvm_shared::venue::Command;
use serde_json::json;
use uuid::Uuid;

fn walk_in(name: &str) -> (Uuid, Command) {
    let player_id = Uuid::now_v7();
    let details = PlayerDetails {
        name: name.into(),
        nickname: None,
        phone: None,
        email: None,
        notes: String::new(),
    };
    (player_id, Command::CreatePlayer { player_id, details })
}

fn join(list_id: Uuid, player_id: Uuid) -> Command {
    Command::Cash(CashCommand::Join {
        entry_id: Uuid::now_v7(),
        list_id,
        player_id,
        at_ms: common::inprocess::START_MS,
        call_in_until: None,
    })
}

#[tokio::test]
async fn a_walk_in_and_their_entry_are_one_commit_or_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    let (status, _) = v
        .request(
            "POST",
            "/api/v1/cash/lists",
            Some(&boss),
            Some(json!({"game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}})),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let log = &v.node.state.log;
    let list_id = *log.venue().cash.lists.keys().next().expect("the list");
    let reader = &v.node.state.reader;

    // Refused: the entry names no list. Neither is stored.
    let head = reader.head_seq().await.expect("head");
    let (ghost, create) = walk_in("Ghost");
    let refused = log
        .append_all(
            pvm_shared::Actor::System,
            vec![create, join(Uuid::now_v7(), ghost)],
        )
        .await;
    assert!(refused.is_err(), "an entry to no list was taken");
    assert!(
        !log.venue().players.contains_key(&ghost),
        "the walk-in stayed"
    );
    assert_eq!(
        reader.head_seq().await.expect("head"),
        head,
        "nothing stored"
    );

    // Taken: both, in one commit (one batch: only the last is signed).
    let (ann, create) = walk_in("Ann Able");
    let done = log
        .append_all(pvm_shared::Actor::System, vec![create, join(list_id, ann)])
        .await
        .expect("walk-in and entry");
    assert_eq!(done.len(), 2);
    assert_eq!(done[1].seq, done[0].seq + 1);
    let stored = reader.events_after(head, 10).await.expect("events");
    assert_eq!(stored.len(), 2, "{stored:?}");
    let signed: Vec<bool> = stored
        .iter()
        .map(|(_, b)| Envelope::decode(b).expect("envelope").sig.is_some())
        .collect();
    assert_eq!(signed, [false, true], "one batch, signed at its end");
    let venue = log.venue();
    assert!(venue.players.contains_key(&ann));
    assert!(venue.cash.lists[&list_id].queue.iter().any(|e| venue
        .cash
        .entries
        .get(e)
        .is_some_and(|e| e.player_id == ann)));
}

#[tokio::test]
async fn the_api_walk_in_adds_the_player_and_the_entry_in_one_append() {
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    v.request(
        "POST",
        "/api/v1/cash/lists",
        Some(&boss),
        Some(json!({"game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}})),
    )
    .await;
    let list_id = *v
        .node
        .state
        .log
        .venue()
        .cash
        .lists
        .keys()
        .next()
        .expect("list");
    let head = v.node.state.reader.head_seq().await.expect("head");
    let (status, body) = v
        .request(
            "POST",
            &format!("/api/v1/cash/lists/{list_id}/entries"),
            Some(&boss),
            Some(json!({"walk_in": {"name": "Zed Zero"}})),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
    assert_eq!(
        body["seq"].as_u64(),
        Some(head + 2),
        "the entry's seq: {body}"
    );
    let stored = v
        .node
        .state
        .reader
        .events_after(head, 10)
        .await
        .expect("events");
    let kinds: Vec<String> = stored
        .iter()
        .map(|(_, b)| Envelope::decode(b).expect("envelope").kind)
        .collect();
    assert_eq!(kinds, ["player_created", "player_joined_list"], "{kinds:?}");
    assert!(
        Envelope::decode(&stored[1].1).expect("env").sig.is_some()
            && Envelope::decode(&stored[0].1).expect("env").sig.is_none(),
        "one batch"
    );
}

/// The one rule for a player named at the desk (`ops::players::Who`), the
/// same for the waiting list and the tournament entry.
#[tokio::test]
async fn a_typed_name_joins_as_the_one_player_it_names_or_as_a_walk_in() {
    use pvm_node::ops::{self, players::Who};
    let dir = tempfile::tempdir().expect("tmp");
    let v = Venue::new(dir.path()).await;
    let boss = token_of(&body_of_login(&v).await, "access_token");
    v.request(
        "POST",
        "/api/v1/cash/lists",
        Some(&boss),
        Some(json!({"game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}})),
    )
    .await;
    let log = &v.node.state.log;
    let reader = &v.node.state.reader;
    let list_id = *log.venue().cash.lists.keys().next().expect("the list");
    let actor = || pvm_shared::Actor::System;
    let at = |list_id| ops::cash::Join {
        list_id,
        at_ms: common::inprocess::START_MS,
        call_in_until: None,
    };
    // Two players called Sam, one of them nicknamed "Ace".
    for (name, nickname) in [("Sam Stone", Some("Ace")), ("sam stone", None)] {
        let details = PlayerDetails {
            name: name.into(),
            nickname: nickname.map(String::from),
            phone: None,
            email: None,
            notes: String::new(),
        };
        log.append(
            actor(),
            Command::CreatePlayer {
                player_id: Uuid::now_v7(),
                details,
            },
        )
        .await
        .expect("player");
    }
    let players = || log.venue().players.len();
    let before = players();

    // A nickname (any case) names its one player: nobody is added.
    let head = reader.head_seq().await.expect("head");
    ops::cash::join(log, actor(), Who::Typed(" ace ".into()), at(list_id))
        .await
        .expect("joins as Ace");
    assert_eq!(players(), before);
    assert_eq!(
        reader.head_seq().await.expect("head"),
        head + 1,
        "one event"
    );

    // A name two players answer to is refused, and nothing is stored.
    let head = reader.head_seq().await.expect("head");
    let refused = ops::cash::join(log, actor(), Who::Typed("SAM STONE".into()), at(list_id)).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("2 players answer to")),
        "{refused:?}"
    );
    assert_eq!(reader.head_seq().await.expect("head"), head);

    // No list: refused before anything is added.
    let refused = ops::cash::join(
        log,
        actor(),
        Who::Typed("New Face".into()),
        at(Uuid::now_v7()),
    )
    .await;
    assert!(refused.is_err());
    assert_eq!(
        (players(), reader.head_seq().await.expect("head")),
        (before, head)
    );

    // A new name is a walk-in: added and entered in one batch, on the list
    // and in a tournament alike.
    let joined = ops::cash::join(log, actor(), Who::Typed("New Face".into()), at(list_id))
        .await
        .expect("walk-in");
    assert_eq!(joined.1.seq, head + 2, "the player and the entry");
    assert_eq!(players(), before + 1);
    let (status, t) = v
        .request(
            "POST",
            "/api/v1/tournaments",
            Some(&boss),
            Some(json!({"name": "Daily", "template": "Turbo", "tables": 2})),
        )
        .await;
    assert!(status.is_success(), "{status} {t}");
    let tournament_id = *log.venue().tournaments.keys().next().expect("tournament");
    let entry = |who| {
        ops::tournaments::register(
            log,
            actor(),
            who,
            ops::tournaments::Entry {
                tournament_id,
                at_ms: common::inprocess::START_MS as i64,
                override_late_reg: false,
            },
        )
    };
    let known = entry(Who::Typed("new face".into())).await.expect("entry");
    assert_eq!(players(), before + 1, "the same walk-in, found by name");
    let fresh = entry(Who::Typed("Other Face".into())).await.expect("entry");
    assert_ne!(fresh.player_id, known.player_id);
    assert_eq!(players(), before + 2);
    let unknown = entry(Who::Known(Uuid::now_v7())).await;
    assert!(unknown.is_err_and(|e| e.to_string().contains("no player")));
    let no_tournament = ops::tournaments::register(
        log,
        actor(),
        Who::Typed("Anyone".into()),
        ops::tournaments::Entry {
            tournament_id: Uuid::now_v7(),
            at_ms: 0,
            override_late_reg: false,
        },
    )
    .await;
    assert!(no_tournament.is_err_and(|e| e.to_string().contains("no tournament")));
    assert_eq!(players(), before + 2, "refusals add nobody");
}
