//! The store's conformance suite: every domain method, the same checks, on
//! both backends (an embedded libSQL file and a PostgreSQL server started by
//! the test). Each check runs on a fresh database.

mod common;

use common::postgres::PgServer;
use pvm_cloud::store::{
    Database, EventRow, HeadMoved, NameTaken, NewNode, NodeRow, OperatorRow, RegistrationTaken,
    StaffChange, StaffRow, Store,
};
use pvm_shared::envelope::{Actor, Envelope, EnvelopeHeader};
use uuid::Uuid;

const KEY_B64: &str = "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=";

fn public_key() -> [u8; 32] {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(KEY_B64)
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

/// A node's chain of `n` sealed and signed events from seq `from`.
fn chain(venue: Uuid, node: Uuid, from: u64, n: u64, mut prev: [u8; 32]) -> Vec<Envelope> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    (from..from + n)
        .map(|seq| {
            let header = EnvelopeHeader {
                id: Uuid::now_v7(),
                venue_id: venue,
                node_id: node,
                seq,
                hlc: pvm_shared::Hlc {
                    wall_ms: 1_900_000_000_000 + seq,
                    counter: 0,
                },
                actor: Actor::System,
                schema: pvm_shared::SCHEMA_VERSION,
            };
            let event = pvm_shared::EventKind::TableOpened {
                table_id: Uuid::from_u128(seq as u128),
            };
            let mut env = Envelope::seal(header, &event, prev);
            env.sign(&key);
            prev = env.hash;
            env
        })
        .collect()
}

fn new_node<'a>(node: Uuid, venue: Uuid, user: &'a str, hash: &'a str, at_ms: i64) -> NewNode<'a> {
    NewNode {
        node_id: node,
        venue_id: venue,
        public_key: KEY_B64,
        leaf_user: user,
        leaf_hash: hash,
        at_ms,
    }
}

/// A venue made by the admin (`token_venue`) and registered by a node that
/// names its own venue id (`venue`): what registration commits.
async fn registered(store: &Store, name: &str) -> (Uuid, Uuid) {
    let (token_venue, venue, node) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let db = store.lock().await.expect("lock");
    db.insert_venue(token_venue, name, None, 1_000)
        .await
        .expect("venue");
    let hash = format!("hash-{node}");
    db.insert_token(&hash, token_venue, 10_000)
        .await
        .expect("token");
    let user = format!("venue-{venue}");
    db.commit_registration(
        &hash,
        token_venue,
        &new_node(node, venue, &user, "$2b$10$x", 2_000),
    )
    .await
    .expect("registration");
    (venue, node)
}

async fn migrations_are_numbered_and_run_once(store: &Store, reopen: &Database) {
    assert_eq!(
        store.migrations().await.expect("migrations"),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    let (venue, _) = registered(store, "Kept").await;
    let again = Store::open(reopen).await.expect("reopen");
    assert_eq!(
        again.migrations().await.expect("migrations"),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    assert!(again
        .lock()
        .await
        .expect("lock")
        .venue_exists(venue)
        .await
        .expect("exists"));
}

async fn venues_and_tokens(store: &Store, _: &Database) {
    let db = store.lock().await.expect("lock");
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    db.insert_venue(a, "Zebra Room", None, 5).await.expect("a");
    db.insert_venue(b, "Ace Club", None, 6).await.expect("b");
    assert!(db.venue_exists(a).await.expect("exists"));
    assert!(!db.venue_exists(Uuid::now_v7()).await.expect("unknown"));
    let listed = db.venues().await.expect("venues");
    let names: Vec<&str> = listed.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["Ace Club", "Zebra Room"], "by name");
    assert_eq!(listed[0].id, b.to_string());
    assert_eq!(listed[0].node_id, None);
    assert_eq!(
        (listed[0].head_seq, listed[0].verified_seq, listed[0].events),
        (None, 0, 0)
    );
    assert!(
        db.insert_venue(a, "Twice", None, 7).await.is_err(),
        "an id is a venue once"
    );

    db.insert_token("abc", a, 99).await.expect("token");
    let t = db.token("abc").await.expect("token").expect("known");
    assert_eq!(
        (t.venue_id.as_str(), t.expires_ms, t.used),
        (a.to_string().as_str(), 99, false)
    );
    assert!(db.token("nope").await.expect("token").is_none());
}

async fn a_registration_is_committed_once(store: &Store, _: &Database) {
    let (token_venue, venue, node) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let db = store.lock().await.expect("lock");
    db.insert_venue(token_venue, "Room", None, 1)
        .await
        .expect("venue");
    db.insert_token("tok", token_venue, 10)
        .await
        .expect("token");
    db.insert_token("tok2", token_venue, 10)
        .await
        .expect("a second token");
    assert!(!db.node_registered(venue, node).await.expect("registered"));
    let user = format!("venue-{venue}");
    db.commit_registration(
        "tok",
        token_venue,
        &new_node(node, venue, &user, "$2b$10$h", 3),
    )
    .await
    .expect("commit");
    // The venue took the node's venue id; the token is spent and follows it.
    assert!(!db.venue_exists(token_venue).await.expect("old id"));
    assert!(db.venue_exists(venue).await.expect("new id"));
    let t = db.token("tok").await.expect("token").expect("known");
    assert!(t.used);
    assert_eq!(t.venue_id, venue.to_string());
    assert!(db
        .node_registered(venue, Uuid::now_v7())
        .await
        .expect("by venue"));
    assert!(db
        .node_registered(Uuid::now_v7(), node)
        .await
        .expect("by node"));

    // The same token again changes nothing.
    let other = Uuid::now_v7();
    let again = db
        .commit_registration(
            "tok",
            venue,
            &new_node(other, Uuid::now_v7(), "u2", "$2b$10$h", 4),
        )
        .await
        .expect_err("a spent token");
    assert!(again.is::<RegistrationTaken>(), "{again:#}");
    // A second token of the same venue, read before the first registration
    // renamed the venue (another process): refused, not a second node.
    let raced = db
        .commit_registration(
            "tok2",
            token_venue,
            &new_node(other, Uuid::now_v7(), "u3", "$2b$10$h", 5),
        )
        .await
        .expect_err("a token of a venue renamed meanwhile");
    assert!(raced.is::<RegistrationTaken>(), "{raced:#}");
    assert!(
        !db.token("tok2").await.expect("token").expect("known").used,
        "not spent"
    );
    assert!(!db.node_exists(other).await.expect("exists"));

    let nodes = db.nodes().await.expect("nodes");
    assert_eq!(
        nodes,
        vec![NodeRow {
            node_id: node,
            venue_id: venue,
            public_key: public_key(),
            head_seq: 0,
            head_hash: [0; 32],
            verified_seq: 0,
            retired: false,
            revoked: false,
        }]
    );
    let listed = db.node_listings().await.expect("listings");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].node_id.clone(), listed[0].venue_id.clone()),
        (node.to_string(), venue.to_string())
    );
    assert_eq!(
        db.leaf_users().await.expect("leaf users"),
        vec![(
            node.to_string(),
            venue.to_string(),
            user.clone(),
            "$2b$10$h".to_owned()
        )]
    );
    // A rotation: the next user links too until it replaces the current one.
    assert!(db
        .set_leaf_next(node, "zz-next", "$2b$10$n", 10)
        .await
        .expect("next"));
    assert!(
        !db.set_leaf_next(node, "zz-again", "$2b$10$a", 10)
            .await
            .expect("replay"),
        "a request no later than the last one is a replay"
    );
    assert_eq!(
        db.leaf_users().await.expect("leaf users").len(),
        2,
        "both users link meanwhile"
    );
    let records = db.records().await.expect("records");
    assert_eq!(
        records
            .nodes
            .iter()
            .map(|n| (
                n.leaf_user_next.as_deref(),
                n.leaf_hash_next.as_deref(),
                n.leaf_take_ms
            ))
            .collect::<Vec<_>>(),
        vec![(Some("zz-next"), Some("$2b$10$n"), Some(10))],
        "what `pvm-cloud migrate` copies holds the rotation under way"
    );
    assert!(!db
        .promote_leaf_next(node, "someone-else")
        .await
        .expect("not the next"));
    assert!(!db
        .set_leaf_next(uuid::Uuid::now_v7(), "x", "y", 11)
        .await
        .expect("unknown node"));
    assert!(db
        .promote_leaf_next(node, "zz-next")
        .await
        .expect("promote"));
    assert_eq!(
        db.leaf_users().await.expect("leaf users"),
        vec![(
            node.to_string(),
            venue.to_string(),
            "zz-next".to_owned(),
            "$2b$10$n".to_owned()
        )]
    );
    // (Back as it was, for what follows.)
    db.set_leaf_next(node, &user, "$2b$10$h", 12)
        .await
        .expect("next");
    assert!(db.promote_leaf_next(node, &user).await.expect("back"));
    let r = db.resync_node(node).await.expect("resync").expect("known");
    assert_eq!(
        (
            r.venue_id,
            r.public_key.as_str(),
            r.leaf_user,
            r.leaf_hash.as_str(),
            r.retired
        ),
        (venue.to_string(), KEY_B64, user, "$2b$10$h", false)
    );
    assert!(db
        .resync_node(Uuid::now_v7())
        .await
        .expect("resync")
        .is_none());
}

async fn events_are_stored_once_with_their_heads(store: &Store, _: &Database) {
    let (venue, node) = registered(store, "Events").await;
    let events = chain(venue, node, 1, 60, [0; 32]);
    let head = |seq: usize| NodeRow {
        node_id: node,
        venue_id: venue,
        public_key: public_key(),
        head_seq: seq as u64,
        head_hash: events[seq - 1].hash,
        verified_seq: seq as u64,
        retired: false,
        revoked: false,
    };
    let db = store.lock().await.expect("lock");
    db.store_batch(&events[..40], &[head(40)], 7_000)
        .await
        .expect("batch");
    // A batch that does not follow on from the stored head (another process
    // stored those events first): refused whole.
    let moved = db
        .store_batch(&events[30..], &[head(60)], 8_000)
        .await
        .expect_err("a batch from seq 31 onto head 40");
    assert!(moved.is::<HeadMoved>(), "{moved:#}");
    assert!(
        db.envelope(node, 45).await.expect("envelope").is_none(),
        "nothing stored"
    );
    assert_eq!(db.nodes().await.expect("nodes"), vec![head(40)]);
    // Rows already there past the head (written without heads) are left as
    // they were; the batch that follows on from the head still commits.
    let mut forged = chain(venue, node, 41, 1, [1; 32]);
    db.import_events(&[EventRow::of(&forged[0])])
        .await
        .expect("a different copy of seq 41");
    db.store_batch(&events[40..], &[head(60)], 8_500)
        .await
        .expect("follows on");
    let stored = db
        .envelope(node, 41)
        .await
        .expect("envelope")
        .expect("seq 41");
    assert_eq!(stored, forged.remove(0).encode(), "the first copy stays");
    assert_eq!(
        db.envelope(node, 42).await.expect("envelope"),
        Some(events[41].encode())
    );
    assert!(db.envelope(node, 61).await.expect("envelope").is_none());

    assert_eq!(db.nodes().await.expect("nodes"), vec![head(60)]);
    let mut seen = Vec::new();
    db.each_live_event(|v, bytes| seen.push((v, bytes)))
        .await
        .expect("each");
    assert_eq!(seen.len(), 60);
    assert!(seen.iter().all(|(v, _)| *v == venue));
    let seqs: Vec<u64> = seen
        .iter()
        .map(|(_, b)| Envelope::decode(b).expect("decodes").header.seq)
        .collect();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>(), "in log order");

    let (count, min, max, verified, latest) = db.events_summary(venue).await.expect("summary");
    assert_eq!(
        (count, min, max, verified),
        (60, Some(1), Some(60), Some(60))
    );
    assert_eq!(latest.len(), 50);
    assert_eq!(latest[0], (60, "table_opened".to_owned(), true));
    assert_eq!(latest[49].0, 11);

    let listed = db.venues().await.expect("venues");
    assert_eq!(listed[0].events, 60);
    assert_eq!(
        (
            listed[0].head_seq,
            listed[0].verified_seq,
            listed[0].last_contact_ms
        ),
        (Some(60), 60, Some(8_500))
    );

    // Heads that verify less than they hold: the latest marks say which.
    let mut partly = head(60);
    partly.verified_seq = 55;
    db.store_batch(&[], &[partly], 9_000)
        .await
        .expect("heads only");
    let (_, _, _, verified, latest) = db.events_summary(venue).await.expect("summary");
    assert_eq!(verified, Some(55));
    assert!(!latest[0].2 && latest[5].2, "{latest:?}");
    let (empty, ..) = db
        .events_summary(Uuid::now_v7())
        .await
        .expect("unknown venue");
    assert_eq!(empty, 0);
}

async fn a_resynced_node_is_kept_but_not_folded(store: &Store, _: &Database) {
    let (venue, old) = registered(store, "Resync").await;
    let db = store.lock().await.expect("lock");
    let events = chain(venue, old, 1, 3, [0; 32]);
    db.store_batch(&events, &[], 1).await.expect("batch");
    let new = Uuid::now_v7();
    assert!(!db.node_exists(new).await.expect("exists"));
    db.replace_node(old, &new_node(new, venue, "venue-user", "$2b$10$h", 5_000))
        .await
        .expect("replace");
    assert!(db.node_exists(new).await.expect("exists"));
    assert!(
        db.resync_node(old)
            .await
            .expect("old")
            .expect("kept")
            .retired
    );
    assert_eq!(
        db.live_node_key(new, venue).await.expect("key").as_deref(),
        Some(KEY_B64)
    );
    assert_eq!(
        db.live_node_key(old, venue).await.expect("key"),
        None,
        "retired"
    );
    assert_eq!(
        db.live_node_key(new, Uuid::now_v7()).await.expect("key"),
        None,
        "another venue"
    );
    let mut seen = 0;
    db.each_live_event(|_, _| seen += 1).await.expect("each");
    assert_eq!(seen, 0, "the retired node's events are not folded");
    assert!(
        db.envelope(old, 2).await.expect("envelope").is_some(),
        "but kept"
    );
    let listed = db.venues().await.expect("venues");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].node_id, Some(new.to_string()));
    let nodes = db.node_listings().await.expect("listings");
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].retired_ms, Some(5_000), "by registration");
    assert_eq!(nodes[1].retired_ms, None);
    assert_eq!(db.leaf_users().await.expect("users").len(), 1);
    assert_eq!(db.events_summary(venue).await.expect("summary").0, 0);
}

async fn a_revoked_node_loses_its_leaf_user_and_keeps_its_events(store: &Store, _: &Database) {
    let (venue, node) = registered(store, "Revoked").await;
    let db = store.lock().await.expect("lock");
    let events = chain(venue, node, 1, 3, [0; 32]);
    db.store_batch(&events, &[], 1).await.expect("batch");
    assert_eq!(db.leaf_users().await.expect("users").len(), 1);
    assert_eq!(
        db.revoke_node(node, 7_000).await.expect("revoke"),
        Some(7_000)
    );
    // Once: a second revoke keeps the first time.
    assert_eq!(
        db.revoke_node(node, 9_000).await.expect("again"),
        Some(7_000)
    );
    assert_eq!(
        db.revoke_node(Uuid::now_v7(), 9_000)
            .await
            .expect("unknown"),
        None
    );
    assert!(db.leaf_users().await.expect("users").is_empty());
    let found = db.resync_node(node).await.expect("node").expect("kept");
    assert_eq!((found.retired, found.revoked_ms), (false, Some(7_000)));
    let nodes = db.node_listings().await.expect("listings");
    assert_eq!(nodes[0].revoked_ms, Some(7_000));
    let listed = db.venues().await.expect("venues");
    assert_eq!(
        listed[0].node_id,
        Some(node.to_string()),
        "still the venue's node"
    );
    assert_eq!(listed[0].revoked_ms, Some(7_000));
    let mut seen = 0;
    db.each_live_event(|_, _| seen += 1).await.expect("each");
    assert_eq!(seen, 3, "its history is still folded");
    assert_eq!(db.events_summary(venue).await.expect("summary").0, 3);
}

async fn problems_are_counted_per_node_and_kind(store: &Store, _: &Database) {
    let (venue, node) = registered(store, "Problems").await;
    let db = store.lock().await.expect("lock");
    db.add_problems(
        &[
            ((Some(node), Some(7), "bad_signature", "event 7".into()), 3),
            ((None, None, "undecodable", "not an envelope".into()), 1),
        ],
        100,
    )
    .await
    .expect("problems");
    db.add_problems(
        &[((Some(node), Some(9), "bad_signature", "event 9".into()), 2)],
        200,
    )
    .await
    .expect("more");
    let found = db.problems(venue).await.expect("problems");
    assert_eq!(found.len(), 2, "{found:?}");
    let sig = &found[0];
    assert_eq!(
        (
            sig.seq,
            sig.kind.as_str(),
            sig.detail.as_str(),
            sig.at_ms,
            sig.count,
            sig.last_ms
        ),
        (Some(7), "bad_signature", "event 7", 100, 5, 200)
    );
    assert_eq!(
        (found[1].seq, found[1].kind.as_str(), found[1].count),
        (None, "undecodable", 1)
    );
    // Another venue sees the node-less problem only.
    drop(db);
    let (other, _) = registered(store, "Other").await;
    let db = store.lock().await.expect("lock");
    let theirs = db.problems(other).await.expect("problems");
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].kind, "undecodable");
}

async fn heartbeats_and_leaf_passwords(store: &Store, _: &Database) {
    let (_, node) = registered(store, "Beats").await;
    let db = store.lock().await.expect("lock");
    db.record_heartbeat(node, r#"{"version":"1.2.3"}"#, 4_242)
        .await
        .expect("beat");
    let listed = db.venues().await.expect("venues");
    assert_eq!(
        listed[0].heartbeat.as_deref(),
        Some(r#"{"version":"1.2.3"}"#)
    );
    assert_eq!(listed[0].last_contact_ms, Some(4_242));

    assert!(db.plain_leaf_passwords().await.expect("plain").is_empty());
    db.set_leaf_password(&node.to_string(), "plain-text")
        .await
        .expect("set");
    assert_eq!(
        db.plain_leaf_passwords().await.expect("plain"),
        vec![(node.to_string(), "plain-text".to_owned())]
    );
    db.set_leaf_password(&node.to_string(), "$2b$10$again")
        .await
        .expect("set");
    assert!(db.plain_leaf_passwords().await.expect("plain").is_empty());
}

async fn admin_sessions_last_until_they_expire_or_end(store: &Store, reopen: &Database) {
    let db = store.lock().await.expect("lock");
    db.insert_session("aaa", "k1", 1_000, 5_000)
        .await
        .expect("session");
    db.insert_session("bbb", "k1", 1_000, 9_000)
        .await
        .expect("session");
    assert!(db.session_valid("aaa", "k1", 4_999).await.expect("valid"));
    assert!(!db.session_valid("aaa", "k1", 5_000).await.expect("expired"));
    assert!(!db.session_valid("zzz", "k1", 1_000).await.expect("unknown"));
    assert!(
        !db.session_valid("aaa", "k2", 2_000)
            .await
            .expect("another key"),
        "a session made with another admin key"
    );
    db.delete_session("bbb").await.expect("sign out");
    assert!(!db
        .session_valid("bbb", "k1", 2_000)
        .await
        .expect("signed out"));
    db.delete_session("never").await.expect("unknown is fine");
    // A new sign-in clears the expired ones; the rest outlive a restart.
    db.insert_session("ccc", "k1", 6_000, 20_000)
        .await
        .expect("session");
    drop(db);
    let again = Store::open(reopen).await.expect("reopen");
    let db = again.lock().await.expect("lock");
    assert!(db.session_valid("ccc", "k1", 7_000).await.expect("kept"));
    assert!(
        db.insert_session("ccc", "k1", 7_000, 30_000).await.is_err(),
        "a secret is one session"
    );
}

fn staff(username: &str, operator: Option<Uuid>, role: &str, venues: Vec<Uuid>) -> StaffRow {
    StaffRow {
        id: Uuid::now_v7(),
        operator_id: operator,
        username: username.into(),
        display_name: format!("{username} (shown)"),
        password_hash: "$argon2id$x".into(),
        role: role.into(),
        venues,
        totp_secret: None,
        totp_pending: None,
        totp_last_step: 0,
        epoch: 0,
        disabled_ms: None,
        created_ms: 1_000,
        node_role: (role == "regional").then(|| "manager".to_owned()),
        node_roles: Default::default(),
    }
}

async fn operators_and_staff_accounts(store: &Store, reopen: &Database) {
    let db = store.lock().await.expect("lock");
    let acme = OperatorRow {
        id: Uuid::now_v7(),
        name: "Acme".into(),
        created_ms: 1,
        alert_webhook: None,
    };
    db.insert_operator(&acme).await.expect("operator");
    let twice = OperatorRow {
        id: Uuid::now_v7(),
        ..acme.clone()
    };
    let e = db
        .insert_operator(&twice)
        .await
        .expect_err("a name is one operator");
    assert!(e.is::<NameTaken>(), "{e:#}");
    assert_eq!(db.operators().await.expect("list"), vec![acme.clone()]);
    assert_eq!(db.operator(acme.id).await.expect("one"), Some(acme.clone()));
    assert_eq!(db.operator(Uuid::now_v7()).await.expect("none"), None);
    // Its webhook is set and removed; a rename keeps it; a taken name is refused.
    assert!(db
        .change_operator(acme.id, None, Some(Some("https://hooks.example/a")))
        .await
        .expect("webhook"));
    assert!(db
        .change_operator(acme.id, Some("Acme Poker"), None)
        .await
        .expect("rename"));
    let got = db.operator(acme.id).await.expect("one").expect("there");
    assert_eq!(
        (got.name.as_str(), got.alert_webhook.as_deref()),
        ("Acme Poker", Some("https://hooks.example/a"))
    );
    assert!(db
        .change_operator(acme.id, Some("Acme"), Some(None))
        .await
        .expect("back"));
    assert_eq!(db.operator(acme.id).await.expect("one"), Some(acme.clone()));
    assert!(!db
        .change_operator(Uuid::now_v7(), Some("X"), None)
        .await
        .expect("unknown"));
    let other = OperatorRow {
        id: Uuid::now_v7(),
        name: "Other".into(),
        created_ms: 2,
        alert_webhook: None,
    };
    db.insert_operator(&other).await.expect("other");
    let e = db
        .change_operator(other.id, Some("Acme"), None)
        .await
        .expect_err("taken");
    assert!(e.is::<NameTaken>(), "{e:#}");
    // A venue of the operator, and one of none.
    let (mine, loose) = (Uuid::now_v7(), Uuid::now_v7());
    db.insert_venue(mine, "Mine", Some(acme.id), 2)
        .await
        .expect("venue");
    db.insert_venue(loose, "Loose", None, 3)
        .await
        .expect("venue");
    assert_eq!(
        db.venue_operator(mine).await.expect("op"),
        Some(Some(acme.id))
    );
    assert_eq!(db.venue_operator(loose).await.expect("op"), Some(None));
    assert_eq!(db.venue_operator(Uuid::now_v7()).await.expect("op"), None);
    let listed = db.venues().await.expect("venues");
    assert_eq!(
        listed
            .iter()
            .find(|v| v.name == "Mine")
            .and_then(|v| v.operator_id),
        Some(acme.id)
    );
    // Staff: unique usernames, listed per operator.
    let owner = staff("owner", Some(acme.id), "owner", vec![]);
    let regional = staff("reg", Some(acme.id), "regional", vec![mine]);
    let root = staff("root", None, "super", vec![]);
    for s in [&owner, &regional, &root] {
        db.insert_staff(s).await.expect("staff");
    }
    let e = db
        .insert_staff(&staff("owner", Some(acme.id), "admin", vec![]))
        .await
        .expect_err("a username is one account");
    assert!(e.is::<NameTaken>(), "{e:#}");
    assert_eq!(
        db.staff_by_username("reg").await.expect("by name"),
        Some(regional.clone())
    );
    assert_eq!(
        db.staff_by_id(root.id).await.expect("by id"),
        Some(root.clone())
    );
    let names: Vec<String> = db
        .staff_of(Some(acme.id))
        .await
        .expect("of")
        .into_iter()
        .map(|s| s.username)
        .collect();
    assert_eq!(names, ["owner", "reg"]);
    assert_eq!(db.staff_of(None).await.expect("supers"), vec![root.clone()]);
    // Sessions hold while the epoch does; a change with a new epoch ends them.
    db.insert_staff_session("s1", owner.id, 0, 1_000, 50_000)
        .await
        .expect("session");
    assert_eq!(
        db.staff_session("s1", 2_000)
            .await
            .expect("live")
            .map(|s| s.id),
        Some(owner.id)
    );
    assert_eq!(db.staff_session("s1", 50_000).await.expect("expired"), None);
    assert!(db
        .change_staff(
            owner.id,
            &StaffChange {
                display_name: Some("Olive".into()),
                ..Default::default()
            }
        )
        .await
        .expect("rename"));
    assert!(
        db.staff_session("s1", 2_000).await.expect("kept").is_some(),
        "a rename keeps sessions"
    );
    assert!(db
        .change_staff(
            owner.id,
            &StaffChange {
                password_hash: Some("$argon2id$new".into()),
                new_epoch: true,
                ..Default::default()
            }
        )
        .await
        .expect("new password"));
    assert_eq!(db.staff_session("s1", 2_000).await.expect("ended"), None);
    // The role at the venues' nodes: set, kept by other changes, removed.
    for (role, want) in [
        (Some(Some("floor")), Some("floor")),
        (None, Some("floor")),
        (Some(None), None),
    ] {
        assert!(db
            .change_staff(
                regional.id,
                &StaffChange {
                    node_role: role.map(|r| r.map(String::from)),
                    ..Default::default()
                }
            )
            .await
            .expect("node role"));
        let got = db
            .staff_by_id(regional.id)
            .await
            .expect("read")
            .expect("there");
        assert_eq!(got.node_role.as_deref(), want);
    }
    let per_venue: std::collections::BTreeMap<Uuid, String> = [(mine, "floor".to_owned())].into();
    assert!(db
        .change_staff(
            regional.id,
            &StaffChange {
                node_roles: Some(per_venue.clone()),
                ..Default::default()
            }
        )
        .await
        .expect("node roles"));
    let got = db
        .staff_by_id(regional.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(got.node_roles, per_venue, "kept per venue");
    let changed = db
        .staff_by_id(owner.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(
        (
            changed.epoch,
            changed.password_hash.as_str(),
            changed.display_name.as_str()
        ),
        (1, "$argon2id$new", "Olive")
    );
    db.insert_staff_session("s2", owner.id, 1, 1_000, 50_000)
        .await
        .expect("session");
    assert!(db
        .change_staff(
            owner.id,
            &StaffChange {
                disabled_ms: Some(Some(7)),
                ..Default::default()
            }
        )
        .await
        .expect("disable"));
    assert_eq!(db.staff_session("s2", 2_000).await.expect("disabled"), None);
    assert!(db
        .change_staff(
            owner.id,
            &StaffChange {
                disabled_ms: Some(None),
                totp_secret: Some(Some("ABC".into())),
                ..Default::default()
            }
        )
        .await
        .expect("enable"));
    let back = db
        .staff_by_id(owner.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(
        (back.disabled_ms, back.totp_secret.as_deref()),
        (None, Some("ABC"))
    );
    assert!(!db
        .change_staff(Uuid::now_v7(), &StaffChange::default())
        .await
        .expect("unknown"));
    db.delete_staff_session("s2").await.expect("sign out");
    // A TOTP step is taken once, and only forwards.
    assert!(db.take_totp_step(owner.id, 100).await.expect("step"));
    assert!(!db.take_totp_step(owner.id, 100).await.expect("again"));
    assert!(!db.take_totp_step(owner.id, 99).await.expect("older"));
    assert!(db.take_totp_step(owner.id, 101).await.expect("next"));
    // Registration gives a venue its node's id: a regional set follows it.
    let hash = "reg-token";
    db.insert_token(hash, mine, 10_000).await.expect("token");
    let (venue, node) = (Uuid::now_v7(), Uuid::now_v7());
    let user = format!("venue-{venue}");
    db.commit_registration(hash, mine, &new_node(node, venue, &user, "$2b$10$x", 2_000))
        .await
        .expect("registration");
    assert_eq!(
        db.venue_operator(venue).await.expect("op"),
        Some(Some(acme.id))
    );
    assert_eq!(
        db.staff_by_id(regional.id)
            .await
            .expect("read")
            .expect("there")
            .venues,
        vec![venue]
    );
    // All of it is what `pvm-cloud migrate` copies, and it outlives a restart.
    let records = db.records().await.expect("records");
    assert_eq!(records.operators, vec![acme.clone(), other]);
    assert_eq!(records.staff.len(), 3);
    assert!(records
        .venues
        .iter()
        .any(|v| v.operator_id == Some(acme.id)));
    drop(db);
    let again = Store::open(reopen).await.expect("reopen");
    let db = again.lock().await.expect("lock");
    assert_eq!(
        db.staff_by_username("root").await.expect("kept"),
        Some(root)
    );
}

/// Runs every check, each on a fresh database that `fresh` makes.
macro_rules! conformance {
    ($fresh:expr, $($check:ident),* $(,)?) => {{
        $(
            let database: Database = $fresh(stringify!($check));
            let store = Store::open(&database)
                .await
                .unwrap_or_else(|e| panic!("{}: open {}: {e:#}", stringify!($check), database.describe()));
            println!("{} on {}", stringify!($check), store.backend());
            $check(&store, &database).await;
        )*
    }};
}

macro_rules! every_check {
    ($fresh:expr) => {
        conformance!(
            $fresh,
            migrations_are_numbered_and_run_once,
            venues_and_tokens,
            a_registration_is_committed_once,
            events_are_stored_once_with_their_heads,
            a_resynced_node_is_kept_but_not_folded,
            a_revoked_node_loses_its_leaf_user_and_keeps_its_events,
            problems_are_counted_per_node_and_kind,
            heartbeats_and_leaf_passwords,
            admin_sessions_last_until_they_expire_or_end,
            operators_and_staff_accounts,
        )
    };
}

#[tokio::test]
async fn the_store_conforms_on_libsql() {
    let dir = tempfile::tempdir().expect("temp dir");
    every_check!(|check: &str| Database::File(dir.path().join(format!("{check}.db"))));
}

#[tokio::test]
async fn the_store_conforms_on_postgres() {
    let pg = PgServer::start();
    every_check!(|check: &str| Database::Postgres(pg.new_database(check)));
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_named_in_the_error() {
    let port = common::free_port();
    let url = format!("postgres://pvm:secret@127.0.0.1:{port}/hub");
    let database = Database::parse(&url);
    let err = match Store::open(&database).await {
        Ok(_) => panic!("nothing listens on {port}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("secret"), "the password is not shown: {err}");
    assert_eq!(
        database.describe(),
        format!("PostgreSQL postgres://pvm@127.0.0.1:{port}/hub")
    );
    let in_query = Database::parse(&format!(
        "postgres://127.0.0.1:{port}/hub?user=pvm&password=secret&sslmode=disable"
    ));
    assert_eq!(
        in_query.describe(),
        format!("PostgreSQL postgres://127.0.0.1:{port}/hub?user=pvm&sslmode=disable")
    );
}
