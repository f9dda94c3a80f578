//! The operations (`ops::tables`, `ops::venue`, `ops::displays`, `ops::cash`,
//! `ops::tournaments`) called directly, as the API and the staff pages call
//! them: each is one commit, and a refusal stores nothing.

use pvm_node::ops::tables::{self, Change, NewTable};
use pvm_node::store::AppendError;
use pvm_shared::venue::{DomainError, Game, Stakes, TableName, TableStatus};
use pvm_shared::Actor;

/// A 1/2 NLHE table of nine called "Table 1".
fn table_1() -> NewTable {
    NewTable {
        name: TableName::parse("Table 1").expect("name"),
        game: Game::Nlhe,
        stakes: Stakes::new(1, 2).expect("stakes"),
        seats: 9,
    }
}

fn boss() -> Actor {
    Actor::Staff("boss".into())
}

#[tokio::test]
async fn a_table_is_added_renamed_dealt_opened_and_closed_one_commit_each() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = pvm_node::Node::open(dir.path()).await.expect("node");
    let log = node.state.log.clone();
    let new = table_1();
    let (id, created) = tables::create(&log, boss(), new.clone())
        .await
        .expect("created");
    let mut seq = created.seq;
    for change in [
        Change::Rename(TableName::parse("Feature").expect("name")),
        Change::Deal {
            game: Game::Plo,
            stakes: Stakes::new(2, 5).expect("stakes"),
        },
        Change::Open,
        Change::Close,
    ] {
        let c = tables::change(&log, boss(), id, change)
            .await
            .expect("change");
        assert_eq!(c.seq, seq + 1, "one event per operation");
        seq = c.seq;
    }
    let table = node
        .state
        .reader
        .table(id)
        .await
        .expect("read")
        .expect("table");
    assert_eq!(table.name.as_str(), "Feature");
    assert_eq!(table.game, Game::Plo);
    assert_eq!(table.status, TableStatus::Closed);

    // Refusals store nothing: a second table with the same name, and an unknown table.
    let same = tables::create(&log, boss(), new).await;
    let same_name = NewTable {
        name: TableName::parse("feature").expect("name"),
        game: Game::Nlhe,
        stakes: Stakes::new(1, 2).expect("stakes"),
        seats: 9,
    };
    assert!(same.is_ok(), "the old name is free again after the rename");
    let clash = tables::create(&log, boss(), same_name).await;
    assert!(
        matches!(clash, Err(AppendError::Rejected(DomainError::Conflict(_)))),
        "{clash:?}"
    );
    let unknown = tables::change(&log, boss(), uuid::Uuid::now_v7(), Change::Open).await;
    assert!(
        matches!(
            unknown,
            Err(AppendError::Rejected(DomainError::UnknownTable(_)))
        ),
        "{unknown:?}"
    );
    let head = node
        .state
        .reader
        .events_after(seq, 100)
        .await
        .expect("events");
    assert_eq!(
        head.len(),
        1,
        "only the second table was stored after the close"
    );
    node.close().await;
}

#[tokio::test]
async fn the_venue_settings_are_replaced_in_one_commit() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = pvm_node::Node::open(dir.path()).await.expect("node");
    let mut settings = node.state.reader.settings().await.expect("settings");
    settings.name = pvm_shared::venue::VenueName::parse("Riverside").expect("name");
    let committed = pvm_node::ops::venue::update_settings(&node.state.log, boss(), settings)
        .await
        .expect("saved");
    assert!(committed.seq > 0);
    assert_eq!(
        node.state
            .reader
            .settings()
            .await
            .expect("settings")
            .name
            .as_str(),
        "Riverside"
    );
    node.close().await;
}

#[tokio::test]
async fn a_screen_decision_is_one_commit_and_a_refused_one_stores_nothing() {
    use pvm_shared::displays::{DisplayEvent, Theme};
    let dir = tempfile::tempdir().expect("tmp");
    let node = pvm_node::Node::open(dir.path()).await.expect("node");
    let log = node.state.log.clone();
    let set = pvm_node::ops::displays::change(
        &log,
        boss(),
        1_000,
        DisplayEvent::ThemeSet {
            theme: Theme::Light,
        },
    )
    .await
    .expect("theme set");
    assert_eq!(log.venue().displays.theme, Theme::Light);
    let gone = pvm_node::ops::displays::change(
        &log,
        boss(),
        2_000,
        DisplayEvent::SlideRemoved {
            id: uuid::Uuid::now_v7(),
        },
    )
    .await;
    assert!(
        matches!(gone, Err(AppendError::Rejected(DomainError::NotFound(_)))),
        "{gone:?}"
    );
    let after = node
        .state
        .reader
        .events_after(set.seq, 10)
        .await
        .expect("events");
    assert!(after.is_empty(), "the refused removal stored nothing");
    node.close().await;
}

#[tokio::test]
async fn a_walk_in_seated_at_once_is_one_commit_and_a_refused_seat_adds_nobody() {
    use pvm_node::ops::{cash, players::Who};
    let dir = tempfile::tempdir().expect("tmp");
    let node = pvm_node::Node::open(dir.path()).await.expect("node");
    let log = node.state.log.clone();
    let new = table_1();
    let (table, _) = tables::create(&log, boss(), new).await.expect("table");
    let opened = tables::change(&log, boss(), table, Change::Open)
        .await
        .expect("open");
    let walk_in = || Who::walk_in("Gus Hale".into(), None);
    let (gus, seated) = cash::seat_now(&log, boss(), 1_000, walk_in(), table, 4)
        .await
        .expect("seated");
    assert_eq!(
        seated.seq,
        opened.seq + 2,
        "the player and the seat: one batch of two"
    );
    assert_eq!(
        log.venue().cash.seats.get(&(table, 4)).map(|s| s.player_id),
        Some(gus)
    );
    let taken = cash::seat_now(
        &log,
        boss(),
        2_000,
        Who::walk_in("Ivy Ng".into(), None),
        table,
        4,
    )
    .await;
    assert!(matches!(taken, Err(AppendError::Rejected(_))), "{taken:?}");
    assert_eq!(
        log.venue().players.len(),
        1,
        "the refused seat added no walk-in"
    );
    assert_eq!(
        node.state.reader.head_seq().await.expect("head"),
        seated.seq,
        "nothing stored"
    );
    // The typed name of a known player seats that player, adding nobody.
    let left = cash::act(
        &log,
        boss(),
        3_000,
        cash::Action::Leave {
            table_id: table,
            seat: 4,
        },
    )
    .await
    .expect("left");
    let (again, _) = cash::seat_now(&log, boss(), 4_000, Who::Typed("gus hale".into()), table, 2)
        .await
        .expect("seated again");
    assert_eq!(again, gus);
    assert_eq!(log.venue().players.len(), 1);
    assert!(left.seq > seated.seq);
    node.close().await;
}

#[tokio::test]
async fn a_call_runs_out_once_however_often_the_timer_looks() {
    use pvm_node::ops::{cash, players::Who};
    let dir = tempfile::tempdir().expect("tmp");
    let node = pvm_node::Node::open(dir.path()).await.expect("node");
    let log = node.state.log.clone();
    cash::act(
        &log,
        boss(),
        0,
        cash::Action::CreateList {
            game: Game::Nlhe,
            stakes: Stakes::new(1, 2).expect("stakes"),
        },
    )
    .await
    .expect("list");
    let list_id = *log.venue().cash.lists.keys().next().expect("a list");
    let join = cash::Join {
        list_id,
        at_ms: 0,
        call_in_until: None,
    };
    let (entry, _) = cash::join(&log, boss(), Who::walk_in("Ann Able".into(), None), join)
        .await
        .expect("joined");
    cash::act(&log, boss(), 1_000, cash::Action::CallNext { list_id })
        .await
        .expect("called");
    let timeout = log.venue().cash.policy.call_timeout_secs as u64 * 1_000;
    assert_eq!(
        cash::expire_due(&log, 1_000 + timeout - 1).await,
        0,
        "not yet"
    );
    assert_eq!(cash::expire_due(&log, 1_000 + timeout).await, 1);
    assert_eq!(cash::expire_due(&log, 1_000 + timeout + 5).await, 0, "once");
    assert!(
        log.venue()
            .cash
            .entries
            .get(&entry)
            .is_none_or(|e| e.call.is_none()),
        "the call is over"
    );
    node.close().await;
}

#[tokio::test]
async fn tournament_actions_take_the_time_and_levels_from_the_node() {
    use pvm_node::ops::players::Who;
    use pvm_node::ops::tournaments::{self as t, Action, NewTournament};
    let dir = tempfile::tempdir().expect("tmp");
    let node = pvm_node::Node::open(dir.path()).await.expect("node");
    let log = node.state.log.clone();
    let structure = pvm_shared::tournament::structure::templates()
        .into_iter()
        .next()
        .expect("a template");
    let id = t::create(
        &log,
        boss(),
        NewTournament {
            name: "Monday".into(),
            structure,
            tables: 2,
            seats: 9,
        },
    )
    .await
    .expect("created");
    // Nothing to balance or undo yet: refused, naming why.
    for (action, why) in [
        (Action::UndoLastBust, "no bust-out to undo"),
        (Action::Balance, "the tables are balanced"),
    ] {
        let refused = t::play(&log, boss(), 0, id, action).await;
        assert!(
            matches!(&refused, Err(AppendError::Rejected(DomainError::Conflict(m))) if m == why),
            "{refused:?}"
        );
    }
    for name in ["Ann", "Bo", "Cy"] {
        let entry = t::Entry {
            tournament_id: id,
            at_ms: 0,
            override_late_reg: false,
        };
        t::register(&log, boss(), Who::walk_in(name.into(), None), entry)
            .await
            .expect("registered");
    }
    t::play(&log, boss(), 1_000, id, Action::Start)
        .await
        .expect("started");
    t::play(&log, boss(), 2_000, id, Action::NextStep)
        .await
        .expect("next");
    let state = log.venue();
    let tt = state.tournaments.get(&id).expect("tournament");
    assert_eq!(
        tt.clock.view(&tt.structure, 2_000).step,
        1,
        "one step on from step 0"
    );
    drop(state);
    t::play(&log, boss(), 3_000, id, Action::PreviousStep)
        .await
        .expect("back");
    let state = log.venue();
    let tt = state.tournaments.get(&id).expect("tournament");
    assert_eq!(tt.clock.view(&tt.structure, 3_000).step, 0);
    drop(state);
    let nobody = t::play(&log, boss(), 0, uuid::Uuid::now_v7(), Action::Pause).await;
    assert!(
        matches!(nobody, Err(AppendError::Rejected(DomainError::NotFound(_)))),
        "{nobody:?}"
    );
    node.close().await;
}
