//! The table, venue and screen operations (`ops::tables`, `ops::venue`,
//! `ops::displays`) called directly, as the API and the staff pages call
//! them: each is one commit, and a refusal stores nothing.

use pvm_node::ops::tables::{self, Change, NewTable};
use pvm_node::store::AppendError;
use pvm_shared::venue::{DomainError, Game, Stakes, TableName, TableStatus};
use pvm_shared::Actor;

fn boss() -> Actor {
    Actor::Staff("boss".into())
}

#[tokio::test]
async fn a_table_is_added_renamed_dealt_opened_and_closed_one_commit_each() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = pvm_node::Node::open(dir.path()).await.expect("node");
    let log = node.state.log.clone();
    let new = NewTable {
        name: TableName::parse("Table 1").expect("name"),
        game: Game::Nlhe,
        stakes: Stakes::new(1, 2).expect("stakes"),
        seats: 9,
    };
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
