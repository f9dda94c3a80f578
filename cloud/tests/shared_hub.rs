//! One hub shared by many venues: what one venue sends, however it is
//! signed, must not take the hub down for the others. Real processes: the
//! hub's nats-server, pvm-cloud, and per venue a leaf nats-server and pvm-node.

mod common;

use common::*;
use pvm_shared::envelope::{Actor, Envelope, EnvelopeHeader};
use pvm_shared::tournament::play::Day2;
use pvm_shared::EventKind;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

struct Site {
    leaf: Leaf,
    node: NodeProc,
    venue: String,
    token: String,
}

async fn site(dir: &Path, cloud: &Cloud, name: &str) -> Site {
    let venue = registered_node(dir, cloud, name).await;
    let leaf = Leaf::start(dir);
    let node = NodeProc::start(dir, &leaf, &[]);
    let token = node.token().await;
    Site {
        leaf,
        node,
        venue,
        token,
    }
}

impl Site {
    async fn table(&self, name: &str) {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/tables", self.node.url))
            .bearer_auth(&self.token)
            .json(&json!({"name": name, "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
            .send()
            .await
            .expect("table");
        assert!(
            resp.status().is_success(),
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }

    async fn drained(&self) {
        until(Duration::from_secs(15), "the backlog drains", || async {
            self.node.sync(&self.token).await["pending"] == 0
        })
        .await;
    }

    /// The node's last event: its seq and hash.
    async fn head(&self) -> (u64, [u8; 32]) {
        let events: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/events?limit=1000", self.node.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        let last = events
            .as_array()
            .and_then(|a| a.last())
            .cloned()
            .expect("an event");
        let mut hash = [0u8; 32];
        hex::decode_to_slice(last["hash"].as_str().expect("hash"), &mut hash).expect("hex");
        (last["seq"].as_u64().expect("seq"), hash)
    }
}

/// Events sealed after `(seq, prev)` and signed with the node's own key,
/// as a venue that holds its box's key could make them.
fn signed_by_the_node(dir: &Path, seq: u64, prev: [u8; 32], events: &[EventKind]) -> Vec<Vec<u8>> {
    let link = pvm_node::sync::HubLink::load(dir)
        .expect("hub.json")
        .expect("registered");
    let identity = pvm_node::identity::NodeIdentity::load(dir).expect("node key");
    let mut prev = prev;
    let mut out = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let header = EnvelopeHeader {
            id: uuid::Uuid::now_v7(),
            venue_id: link.venue_id,
            node_id: link.node_id,
            seq: seq + 1 + i as u64,
            hlc: pvm_shared::Hlc {
                wall_ms: 1_900_000_000_000 + i as u64,
                counter: 0,
            },
            actor: Actor::System,
            schema: pvm_shared::SCHEMA_VERSION,
        };
        let mut env = Envelope::seal(header, event, prev);
        env.sign(&identity.key);
        prev = env.hash;
        out.push(env.encode());
    }
    out
}

/// Publishes through the venue's own leaf, as its node's pump does.
async fn publish_through_leaf(dir: &Path, leaf: &Leaf, payloads: Vec<Vec<u8>>) {
    let link = pvm_node::sync::HubLink::load(dir)
        .expect("hub.json")
        .expect("registered");
    let client = async_nats::ConnectOptions::new()
        .custom_inbox_prefix(link.inbox_prefix())
        .connect(format!("nats://127.0.0.1:{}", leaf.port))
        .await
        .expect("leaf client");
    let js = async_nats::jetstream::with_domain(client, &link.nats_domain);
    for p in payloads {
        js.publish(link.subject(), p.into())
            .await
            .expect("publish")
            .await
            .expect("stored in the hub's stream");
    }
}

fn kinds(problems: &Value) -> Vec<String> {
    problems
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["kind"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn events_past_what_a_node_could_decide_are_kept_not_folded_and_the_hub_stays_up() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = site(&a_dir, &cloud, "Riverside Card Room").await;
    let b = site(&b_dir, &cloud, "Harbour Poker Club").await;
    a.table("A1").await;
    a.drained().await;
    b.drained().await;
    let (seq, hash) = a.head().await;
    // The venue's node stops; whoever holds its key signs what decide never would.
    a.node.proc.kill();
    let structure = pvm_shared::tournament::structure::templates()
        .into_iter()
        .next()
        .expect("a template");
    let evil = [
        // A Day 2 for 7e17 entries: its payouts would take ~8e17 bytes.
        EventKind::Day2Created {
            tournament_id: uuid::Uuid::now_v7(),
            name: "Day 2".into(),
            structure: structure.clone(),
            tables: 2,
            seats: 9,
            day2: Day2 {
                flights: vec![uuid::Uuid::now_v7()],
                entries: 700_000_000_000_000_000,
                prize_pool: 1,
                start_step: 0,
            },
            entrants: Vec::new(),
        },
        // A 65,535-table tournament.
        EventKind::TournamentCreated {
            tournament_id: uuid::Uuid::now_v7(),
            name: "Huge".into(),
            structure,
            tables: 65_535,
            seats: 10,
        },
    ];
    let payloads = signed_by_the_node(&a_dir, seq, hash, &evil);
    publish_through_leaf(&a_dir, &a.leaf, payloads).await;

    until(
        Duration::from_secs(10),
        "both stored as evidence and reported",
        || async {
            let stored = cloud.events(&a.venue).await["max_seq"].as_u64() == Some(seq + 2);
            // Once per kind, with a count.
            let problems = cloud.problems(&a.venue).await;
            let reported = problems.as_array().is_some_and(|p| {
                p.len() == 1
                    && p[0]["kind"] == "out_of_bounds"
                    && p[0]["seq"].as_u64() == Some(seq + 1)
                    && p[0]["count"] == 2
            });
            stored && reported
        },
    )
    .await;
    // The hub is up: its API answers, the venue's fallback display serves
    // (without the unfolded events), and the other venue syncs at once.
    let page = reqwest::get(format!("{}/venues/{}/display/lobby", cloud.url, a.venue))
        .await
        .expect("fallback page");
    assert_eq!(page.status().as_u16(), 200);
    let before = cloud.events(&b.venue).await["max_seq"]
        .as_u64()
        .unwrap_or(0);
    b.table("B1").await;
    until(
        Duration::from_secs(1),
        "the other venue's event at the hub",
        || async { cloud.events(&b.venue).await["max_seq"].as_u64() > Some(before) },
    )
    .await;
    assert_eq!(kinds(&cloud.problems(&b.venue).await), Vec::<String>::new());
    // And it stays up across a restart, which folds every stored event again.
    let mut cloud = cloud;
    let key = cloud.admin_key.clone();
    drop(cloud);
    cloud = Cloud::start_with_key(&tmp.path().join("cloud"), &hub, Some(key));
    assert_eq!(
        cloud.events(&a.venue).await["max_seq"].as_u64(),
        Some(seq + 2)
    );
    let ws = reqwest::get(format!("{}/venues/{}/display/lobby", cloud.url, a.venue))
        .await
        .expect("fallback page after restart");
    assert_eq!(ws.status().as_u16(), 200);
}

/// A node restored from a backup after the hub saw later events makes new
/// events at seqs the hub has. The node learns the hub's head, stops sending
/// and says so; whatever reaches the hub at a reused seq is reported as a
/// fork, never dropped as a duplicate.
#[tokio::test]
async fn a_node_restored_from_an_old_backup_stops_and_warns_the_hub_reports_the_fork_and_resync_sends_it_all(
) {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let dir = tmp.path().join("a");
    let mut a = site(&dir, &cloud, "Riverside Card Room").await;
    for name in ["T1", "T2", "T3"] {
        a.table(name).await;
    }
    a.drained().await;
    let (backed_up, backed_up_hash) = a.head().await;
    let backup = tmp.path().join("backup.db");
    let out = run_node(&dir, &["backup", backup.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["T4", "T5", "T6"] {
        a.table(name).await;
    }
    a.drained().await;
    // Acked by the stream is not yet stored by the hub: wait for that.
    let (node_head, _) = a.head().await;
    until(
        Duration::from_secs(15),
        "the hub storing the new tables",
        || async { cloud.events(&a.venue).await["max_seq"].as_u64() == Some(node_head) },
    )
    .await;
    let hub_head = node_head;
    assert!(hub_head >= backed_up + 3, "{hub_head} after {backed_up}");
    // Restored as docs/OPERATIONS.md says: stopped, the snapshot in place.
    a.node.proc.kill();
    for f in ["pvm.db-wal", "pvm.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::copy(&backup, dir.join("pvm.db")).expect("restore");
    a.node = NodeProc::start(&dir, &a.leaf, &[]);
    a.token = a.node.token().await;
    for name in ["R1", "R2"] {
        a.table(name).await;
    }
    until(
        Duration::from_secs(10),
        "the node sees the fork",
        || async { a.node.sync(&a.token).await["fork"]["seq"].as_u64() == Some(backed_up + 1) },
    )
    .await;
    let sync = a.node.sync(&a.token).await;
    assert!(
        sync["fork"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("forked from the hub's at seq {}", backed_up + 1))),
        "{sync}"
    );
    assert!(
        sync["pending"].as_u64() >= Some(2),
        "nothing is acked unseen: {sync}"
    );
    let home = a.node.staff_page("/").await;
    assert!(home.contains("forked from the hub"), "{home}");
    // The node sent nothing of its forked log; the hub's copy is untouched.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cloud.events(&a.venue).await["max_seq"].as_u64(),
        Some(hub_head)
    );
    // A forked event that does reach the hub (sent by a node that did not
    // ask first) is reported as a fork at its seq, not counted a duplicate.
    let dup_before = duplicates(&cloud).await;
    let payloads = signed_by_the_node(
        &dir,
        backed_up,
        backed_up_hash,
        &[EventKind::TableOpened {
            table_id: uuid::Uuid::now_v7(),
        }],
    );
    publish_through_leaf(&dir, &a.leaf, payloads).await;
    until(
        Duration::from_secs(10),
        "the hub reports the fork",
        || async {
            cloud.problems(&a.venue).await.as_array().is_some_and(|p| {
                p.iter()
                    .any(|x| x["kind"] == "fork" && x["seq"].as_u64() == Some(backed_up + 1))
            })
        },
    )
    .await;
    assert_eq!(duplicates(&cloud).await, dup_before);
    assert_eq!(
        cloud.events(&a.venue).await["max_seq"].as_u64(),
        Some(hub_head),
        "nothing of the hub's copy was replaced"
    );

    // `pvm-node resync` (node stopped): the log under a new node id, sent in
    // full; the hub keeps the old node's events and follows the new one.
    let old_node = pvm_node::sync::HubLink::load(&dir)
        .expect("hub.json")
        .expect("registered")
        .node_id
        .to_string();
    a.node.proc.kill();
    let out = run_node(&dir, &["resync"]);
    assert!(
        out.status.success(),
        "resync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let new_node = pvm_node::sync::HubLink::load(&dir)
        .expect("hub.json")
        .expect("registered")
        .node_id
        .to_string();
    assert_ne!(new_node, old_node);
    let verify = run_node(&dir, &["verify-log"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // The node and its leaf restarted, as `resync` says (the leaf's
    // permissions at the hub now name the new node id).
    a.leaf.stop();
    a.leaf.restart();
    a.node = NodeProc::start(&dir, &a.leaf, &[]);
    a.token = a.node.token().await;
    let (head, _) = a.head().await;
    assert!(head >= backed_up + 2, "R1 and R2 are in the log: {head}");
    until(
        Duration::from_secs(15),
        "the whole log under the new id",
        || async {
            a.node.sync(&a.token).await["pending"] == 0
                && cloud.events(&a.venue).await["max_seq"].as_u64() == Some(head)
        },
    )
    .await;
    let events = cloud.events(&a.venue).await;
    assert_eq!(events["count"].as_u64(), Some(head), "{events}");
    assert_eq!(events["verified_seq"].as_u64(), Some(head), "{events}");
    let sync = a.node.sync(&a.token).await;
    assert!(sync["fork"].is_null(), "{sync}");
    let nodes: Value = cloud
        .client()
        .get(format!("{}/api/v1/nodes", cloud.url))
        .send()
        .await
        .expect("nodes")
        .json()
        .await
        .expect("json");
    let find = |id: &str| {
        nodes
            .as_array()
            .and_then(|n| n.iter().find(|x| x["node_id"] == id))
            .cloned()
            .unwrap_or_default()
    };
    assert!(find(&old_node)["retired_ms"].is_u64(), "{nodes}");
    assert_eq!(
        find(&old_node)["head_seq"].as_u64(),
        Some(hub_head),
        "the old log is kept"
    );
    assert!(find(&new_node)["retired_ms"].is_null(), "{nodes}");
    assert_eq!(find(&new_node)["head_seq"].as_u64(), Some(head), "{nodes}");
    // A table made now reaches the hub as before.
    a.table("After").await;
    until(
        Duration::from_secs(5),
        "a new event after the resync",
        || async { cloud.events(&a.venue).await["max_seq"].as_u64() == Some(head + 1) },
    )
    .await;
}

async fn duplicates(cloud: &Cloud) -> u64 {
    cloud
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("pvm_cloud_events_duplicate_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the duplicate count")
}

/// Peak resident memory of a process (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        / 1024
}

/// The count of a venue's problem of `kind` (0 when there is none).
async fn problem_count(cloud: &Cloud, venue: &str, kind: &str) -> u64 {
    cloud
        .problems(venue)
        .await
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["kind"] == kind)
        .filter_map(|p| p["count"].as_u64())
        .sum()
}

#[tokio::test]
async fn a_venue_flooding_the_hub_with_gaps_and_bad_hashes_does_not_stall_another() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = site(&a_dir, &cloud, "Riverside Card Room").await;
    let b = site(&b_dir, &cloud, "Harbour Poker Club").await;
    a.drained().await;
    b.drained().await;
    let (seq, hash) = a.head().await;
    a.node.proc.kill();

    // Through A's leaf, with A's key: 12,500 signed events past a gap,
    // 12,500 with bad hashes, and 500 of about 1 MB past the gap.
    const GAPS: u64 = 12_500;
    const BAD: u64 = 12_500;
    const BIG: u64 = 500;
    let link = pvm_node::sync::HubLink::load(&a_dir)
        .expect("hub.json")
        .expect("registered");
    let key = pvm_node::identity::NodeIdentity::load(&a_dir)
        .expect("node key")
        .key;
    let client = async_nats::ConnectOptions::new()
        .custom_inbox_prefix(link.inbox_prefix())
        .connect(format!("nats://127.0.0.1:{}", a.leaf.port))
        .await
        .expect("leaf client");
    let js = async_nats::jetstream::with_domain(client, &link.nats_domain);
    let seal = move |at: u64, event: EventKind, bad_hash: bool| -> Vec<u8> {
        let header = EnvelopeHeader {
            id: uuid::Uuid::now_v7(),
            venue_id: link.venue_id,
            node_id: link.node_id,
            seq: at,
            hlc: pvm_shared::Hlc {
                wall_ms: 1_900_000_000_000,
                counter: 0,
            },
            actor: Actor::System,
            schema: pvm_shared::SCHEMA_VERSION,
        };
        let mut env = Envelope::seal(header, &event, hash);
        env.sign(&key);
        if bad_hash {
            env.hash[0] ^= 1;
        }
        env.encode()
    };
    let subject = pvm_node::sync::HubLink::load(&a_dir)
        .expect("hub.json")
        .expect("registered")
        .subject();
    let flood = tokio::spawn(async move {
        let mut acks = Vec::new();
        for i in 0..(GAPS + BAD + BIG) {
            let payload = if i < GAPS {
                seal(
                    seq + 2 + i,
                    EventKind::TableOpened {
                        table_id: uuid::Uuid::now_v7(),
                    },
                    false,
                )
            } else if i < GAPS + BAD {
                seal(
                    seq + 2 + i,
                    EventKind::TableOpened {
                        table_id: uuid::Uuid::now_v7(),
                    },
                    true,
                )
            } else {
                let detail = "x".repeat(1_000_000);
                let event = EventKind::UpdateFinished {
                    container: "pvm-node".into(),
                    image: "pvm-node:1".into(),
                    outcome: "updated".into(),
                    detail,
                };
                seal(seq + 2 + i, event, false)
            };
            acks.push(
                js.publish(subject.clone(), payload.into())
                    .await
                    .expect("publish"),
            );
            if acks.len() >= 256 {
                for ack in acks.drain(..) {
                    ack.await.expect("stored in the hub's stream");
                }
            }
        }
        for ack in acks {
            ack.await.expect("stored in the hub's stream");
        }
    });

    // While A floods, and after: B's next event reaches the hub within a second.
    let b_events = || async {
        cloud.events(&b.venue).await["max_seq"]
            .as_u64()
            .unwrap_or(0)
    };
    until(
        Duration::from_secs(30),
        "the flood is under way",
        || async {
            problem_count(&cloud, &a.venue, "hash_mismatch").await > 0
                || problem_count(&cloud, &a.venue, "held_overflow").await > 0
        },
    )
    .await;
    let before = b_events().await;
    b.table("B-during").await;
    let took = until(
        Duration::from_secs(1),
        "B's event at the hub during the flood",
        || async { b_events().await > before },
    )
    .await;
    eprintln!("during A's flood, B's event reached the hub {took:?} after it was made");
    assert!(!flood.is_finished(), "the flood was still being published");
    tokio::time::timeout(Duration::from_secs(300), flood)
        .await
        .expect("the flood is published")
        .expect("flood task");
    // Every bad hash refused, every gap past A's bounds refused; reported
    // once per kind with a count.
    until(Duration::from_secs(60), "A's flood is judged", || async {
        problem_count(&cloud, &a.venue, "hash_mismatch").await == BAD
            && problem_count(&cloud, &a.venue, "held_overflow").await >= GAPS + BIG - 1_024
    })
    .await;
    let problems = cloud.problems(&a.venue).await;
    let kinds = kinds(&problems);
    let mut unique = kinds.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(kinds.len(), unique.len(), "once per kind: {problems}");
    assert!(kinds.len() <= 3, "{problems}");
    let before = b_events().await;
    b.table("B-after").await;
    let took = until(
        Duration::from_secs(1),
        "B's event at the hub after the flood",
        || async { b_events().await > before },
    )
    .await;
    eprintln!("after A's flood, B's event reached the hub {took:?} after it was made");
    let peak = peak_rss_mib(cloud.proc.child.id());
    eprintln!("pvm-cloud peak RSS: {peak} MiB");
    assert!(peak < 256, "pvm-cloud peaked at {peak} MiB");
    assert_eq!(
        cloud.events(&a.venue).await["max_seq"].as_u64(),
        Some(seq),
        "nothing of the flood was stored"
    );
}

/// The hub's database restored from an older backup: the stream acked the
/// node's later events long ago, so nothing redelivers them. The node sees
/// the hub's head stand still below what the stream acked and sends them
/// again; every event reaches the hub once.
#[tokio::test]
async fn events_the_hub_lost_after_the_stream_acked_them_are_sent_again_by_the_node() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud_dir = tmp.path().join("cloud");
    let cloud = Cloud::start(&cloud_dir, &hub);
    let key = cloud.admin_key.clone();
    let dir = tmp.path().join("a");
    let a = site(&dir, &cloud, "Riverside Card Room").await;
    for name in ["T1", "T2", "T3"] {
        a.table(name).await;
    }
    a.drained().await;
    until(Duration::from_secs(5), "the hub has them", || async {
        cloud.events(&a.venue).await["max_seq"].as_u64() == Some(a.head().await.0)
    })
    .await;
    let saved = cloud.events(&a.venue).await["max_seq"]
        .as_u64()
        .expect("max_seq");
    // The hub's database as a backup would have it (pvm-cloud stopped).
    drop(cloud);
    let backup = tmp.path().join("cloud-backup");
    copy_hub_database(&cloud_dir, &backup);
    let cloud = Cloud::start_with_key(&cloud_dir, &hub, Some(key.clone()));
    for name in ["T4", "T5", "T6"] {
        a.table(name).await;
    }
    a.drained().await;
    let head = a.head().await.0;
    until(
        Duration::from_secs(5),
        "the hub has the later ones",
        || async { cloud.events(&a.venue).await["max_seq"].as_u64() == Some(head) },
    )
    .await;
    // Restored: the hub's copy ends at `saved` again.
    drop(cloud);
    copy_hub_database(&backup, &cloud_dir);
    let cloud = Cloud::start_with_key(&cloud_dir, &hub, Some(key));
    assert_eq!(
        cloud.events(&a.venue).await["max_seq"].as_u64(),
        Some(saved)
    );
    // Heartbeats every second: three answers standing still, then sent again.
    for _ in 0..200 {
        if cloud.events(&a.venue).await["max_seq"].as_u64() == Some(head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        cloud.events(&a.venue).await["max_seq"].as_u64(),
        Some(head),
        "the node sends the lost events again within 20 s; node: {}\ncloud: {}",
        a.node.proc.logs(),
        cloud.proc.logs()
    );
    let events = cloud.events(&a.venue).await;
    assert_eq!(events["count"].as_u64(), Some(head), "each once: {events}");
    assert_eq!(events["verified_seq"].as_u64(), Some(head), "{events}");
    assert_eq!(cloud.problems(&a.venue).await, json!([]));
    assert_eq!(a.node.sync(&a.token).await["pending"], 0);
}

/// Registration is all or nothing: with the hub's nats-server down nothing
/// is spent, the node is told, and the same token works once it is back.
#[tokio::test]
async fn a_registration_while_the_hubs_nats_is_down_spends_nothing_and_works_later() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let dir = tmp.path().join("a");
    admin_create(&dir);
    let (_, token) = cloud.venue_token("Riverside Card Room").await;
    hub.stop();
    let out = register(&dir, &cloud.url, &token);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "registered with the hub's nats down");
    assert!(
        said.contains("503") && said.contains("try the same token again"),
        "{said}"
    );
    assert!(!dir.join("hub.json").exists());
    let users = std::fs::read_to_string(hub.dir.join("users.conf")).expect("users");
    assert!(
        !users.contains("venue-"),
        "no leaf user for an unregistered node: {users}"
    );
    hub.restart();
    // pvm-cloud reconnects on its own; the same token now registers.
    let mut registered = None;
    for _ in 0..50 {
        let out = register(&dir, &cloud.url, &token);
        if out.status.success() {
            registered = Some(out);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        registered.is_some(),
        "the same token registers once the hub is back"
    );
    let venue = venue_of(&dir);
    let leaf = Leaf::start(&dir);
    let node = NodeProc::start(&dir, &leaf, &[]);
    let token = node.token().await;
    until(
        Duration::from_secs(15),
        "the node's events at the hub",
        || async {
            node.sync(&token).await["pending"] == 0
                && cloud.events(&venue).await["count"].as_u64() > Some(0)
        },
    )
    .await;
}

/// The node's log, as its events API shows it (payloads included).
async fn node_log(site: &Site) -> String {
    reqwest::Client::new()
        .get(format!("{}/api/v1/events?limit=1000", site.node.url))
        .bearer_auth(&site.token)
        .send()
        .await
        .expect("events")
        .text()
        .await
        .expect("text")
}

/// Downstream without replays or losses: an old signed update re-published
/// is refused (and says so in an event that reaches the hub); with PVM_DOWN
/// deleted and pvm-cloud restarted, an announcement still shows.
#[tokio::test]
async fn downstream_replays_are_refused_and_a_recreated_stream_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud_dir = tmp.path().join("cloud");
    let cloud = Cloud::start(&cloud_dir, &hub);
    let dir = tmp.path().join("a");
    let a = site(&dir, &cloud, "Riverside Card Room").await;
    a.drained().await;
    let digest = format!("pvm-node@sha256:{}", "a".repeat(64));
    let sent = cloud
        .client()
        .post(format!("{}/api/v1/venues/{}/updates", cloud.url, a.venue))
        .json(&json!({"version": "0.0.1", "images": {"node": digest}}))
        .send()
        .await
        .expect("update");
    assert_eq!(sent.status().as_u16(), 201);
    until(
        Duration::from_secs(10),
        "the old update refused",
        || async { node_log(&a).await.contains("older than the running") },
    )
    .await;
    // Whoever holds the hub's nats credentials publishes the same signed
    // message again (no message id: the stream takes it).
    let nats = async_nats::ConnectOptions::with_user_and_password(
        CLOUD_NATS_USER.into(),
        CLOUD_NATS_PASSWORD.into(),
    )
    .connect(format!("nats://127.0.0.1:{}", hub.port))
    .await
    .expect("hub client");
    let js = async_nats::jetstream::new(nats);
    let subject = format!("pvm.down.{}.update", a.venue);
    let old = js
        .get_stream("PVM_DOWN")
        .await
        .expect("stream")
        .get_last_raw_message_by_subject(&subject)
        .await
        .expect("the signed update");
    js.publish(subject.clone(), old.payload.clone())
        .await
        .expect("publish")
        .await
        .expect("stored");
    until(Duration::from_secs(10), "the replay refused", || async {
        node_log(&a)
            .await
            .contains("applied here already (a replay)")
    })
    .await;
    until(
        Duration::from_secs(10),
        "both refusals at the hub",
        || async {
            let events = cloud.events(&a.venue).await;
            events["latest"]
                .as_array()
                .map(|l| l.iter().filter(|e| e["kind"] == "update_finished").count())
                == Some(2)
        },
    )
    .await;

    let announce = |text: &'static str| {
        let c = cloud.client();
        let url = format!("{}/api/v1/venues/{}/announcements", cloud.url, a.venue);
        async move {
            let r = c
                .post(url)
                .json(&json!({"text": text, "minutes": 30}))
                .send()
                .await
                .expect("announce");
            assert_eq!(
                r.status().as_u16(),
                201,
                "{}",
                r.text().await.unwrap_or_default()
            );
        }
    };
    announce("First announcement").await;
    until(
        Duration::from_secs(10),
        "the first announcement",
        || async { node_log(&a).await.contains("First announcement") },
    )
    .await;
    // PVM_DOWN deleted (its sequences start over when it is made again).
    js.delete_stream("PVM_DOWN").await.expect("deleted");
    let key = cloud.admin_key.clone();
    drop(cloud);
    let cloud = Cloud::start_with_key(&cloud_dir, &hub, Some(key));
    let c = cloud.client();
    let r = c
        .post(format!(
            "{}/api/v1/venues/{}/announcements",
            cloud.url, a.venue
        ))
        .json(&json!({"text": "Second announcement", "minutes": 30}))
        .send()
        .await
        .expect("announce");
    assert_eq!(r.status().as_u16(), 201);
    until(
        Duration::from_secs(20),
        "the second announcement",
        || async { node_log(&a).await.contains("Second announcement") },
    )
    .await;
}

/// One key, one purpose: `pvm-cloud sign` over a token's signing input does
/// not make a token a node accepts (it signs the manifest context and the
/// bytes), while a token the hub really signs still works.
#[tokio::test]
async fn a_file_signature_of_the_hub_is_never_a_token() {
    use base64::Engine;
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud_dir = tmp.path().join("cloud");
    let cloud = Cloud::start(&cloud_dir, &hub);
    let dir = tmp.path().join("a");
    let a = site(&dir, &cloud, "Riverside Card Room").await;
    let bytes: [u8; 32] = std::fs::read(cloud_dir.join("hub.key"))
        .expect("hub.key")
        .try_into()
        .expect("32 bytes");
    let hub_key = ed25519_dalek::SigningKey::from_bytes(&bytes);
    let real = hub_token(&a.venue.to_string(), &hub_key);
    let staff = |token: String| {
        let url = format!("{}/api/v1/staff", a.node.url);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("staff")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        staff(real.clone()).await,
        200,
        "a token the hub signs works"
    );
    // The same signing input, signed with `pvm-cloud sign FILE`.
    let input = real.rsplit_once('.').expect("three parts").0.to_owned();
    let file = tmp.path().join("input");
    std::fs::write(&file, &input).expect("write");
    let out = std::process::Command::new(CLOUD)
        .arg("--data-dir")
        .arg(&cloud_dir)
        .arg("sign")
        .arg(&file)
        .output()
        .expect("pvm-cloud sign");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = std::fs::read(tmp.path().join("input.sig")).expect("sig");
    let forged = format!(
        "{input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    );
    assert_eq!(staff(forged).await, 401, "a file signature is not a token");
}

/// A TCP proxy that records every byte going either way.
async fn recording_proxy(to: u16) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            for (mut from, mut into) in [
                (
                    Box::new(cr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                    Box::new(sw) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                ),
                (Box::new(sr), Box::new(cw)),
            ] {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = from.read(&mut buf).await {
                        if n == 0 || into.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        record.lock().expect("record").extend_from_slice(&buf[..n]);
                    }
                    let _ = into.shutdown().await;
                });
            }
        }
    });
    (port, seen)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Item 4: the hub serves HTTPS (a certificate from a CA this test makes),
/// its leafnode listener takes only TLS (pvm-cloud's own CA, handed over
/// at registration). A recording proxy sits between the venue and the hub
/// for the registration and for the leaf link: it sees neither the leaf
/// password nor any event. A leaf without TLS is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_venue_hub_link_is_tls_a_recording_proxy_sees_no_secret_and_a_plain_leaf_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    // The operator's HTTPS certificate, from a CA of the test's own.
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test operator CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("cert");
    let (ca_file, cert_file, key_file) = (
        tmp.path().join("https-ca.pem"),
        tmp.path().join("https.pem"),
        tmp.path().join("https.key"),
    );
    std::fs::write(&ca_file, ca_cert.pem()).expect("ca");
    std::fs::write(&cert_file, cert.pem()).expect("cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("key");

    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start_with(
        &tmp.path().join("cloud"),
        &hub,
        None,
        &[
            "--tls-cert",
            cert_file.to_str().expect("utf-8"),
            "--tls-key",
            key_file.to_str().expect("utf-8"),
        ],
    );
    assert!(cloud.url.starts_with("https://"), "{}", cloud.url);
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_cert.pem().as_bytes()).expect("ca"))
        .build()
        .expect("client");
    let admin = |r: reqwest::RequestBuilder| r.bearer_auth(&cloud.admin_key);
    let v: Value = admin(https.post(format!("{}/api/v1/venues", cloud.url)))
        .json(&json!({"name": "Proxy Room"}))
        .send()
        .await
        .expect("venue")
        .json()
        .await
        .expect("json");
    let id = v["id"].as_str().expect("id").to_owned();
    let t: Value = admin(https.post(format!("{}/api/v1/venues/{id}/tokens", cloud.url)))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let reg = t["token"].as_str().expect("token").to_owned();
    let hub_port: u16 = cloud
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");

    // The hub's pages: the node's headers, and a Secure cookie over TLS.
    let login = https
        .get(format!("{}/admin/login", cloud.url))
        .send()
        .await
        .expect("login page");
    assert_eq!(
        login.headers()["content-security-policy"],
        pvm_shared::web::CSP
    );
    assert_eq!(login.headers()["x-frame-options"], "DENY");
    // A browser sends the admin form's Origin (checked) only if referrers
    // are allowed to the same origin.
    assert_eq!(login.headers()["referrer-policy"], "same-origin");
    let signed_in = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_cert.pem().as_bytes()).expect("ca"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/admin/login", cloud.url))
        .header("origin", format!("https://127.0.0.1:{hub_port}"))
        .form(&[("key", cloud.admin_key.as_str())])
        .send()
        .await
        .expect("login");
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie:?}"
    );

    // Over HTTP/2, as browsers and curl speak to it (the host comes as the
    // :authority, not a Host header): the install script names the hub by
    // its https address.
    let curl = std::process::Command::new("curl")
        .args(["-fsS", "--http2", "--cacert"])
        .arg(&ca_file)
        .arg(format!("{}/install.sh", cloud.url))
        .output()
        .expect("curl runs");
    let script = String::from_utf8_lossy(&curl.stdout);
    assert!(
        curl.status.success()
            && script.contains(&format!("HUB_URL=\"https://127.0.0.1:{hub_port}\"")),
        "{}{script:.300}",
        String::from_utf8_lossy(&curl.stderr)
    );

    // Registration through the proxy: refused over http:// without the lab
    // flag, done over https:// with the operator's CA.
    let (http_proxy, http_seen) = recording_proxy(hub_port).await;
    let node_dir = tmp.path().join("node");
    admin_create(&node_dir);
    let plain = run_node(
        &node_dir,
        &[
            "register",
            "--hub",
            &format!("http://127.0.0.1:{http_proxy}"),
            "--token",
            &reg,
        ],
    );
    assert!(!plain.status.success());
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("--insecure-http"),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    assert!(
        http_seen.lock().expect("seen").is_empty(),
        "nothing is sent to an http:// hub"
    );
    let out = run_node(
        &node_dir,
        &[
            "register",
            "--hub",
            &format!("https://127.0.0.1:{http_proxy}"),
            "--token",
            &reg,
            "--hub-ca",
            ca_file.to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "register: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link: Value =
        serde_json::from_str(&std::fs::read_to_string(node_dir.join("hub.json")).expect("link"))
            .expect("json");
    let password = link["leaf_password"].as_str().expect("password").to_owned();
    assert!(link["leaf_ca"]
        .as_str()
        .is_some_and(|ca| ca.contains("BEGIN CERTIFICATE")));

    // A node registered before the leaf link had TLS has no leaf_ca in its
    // hub.json: leaf-config fetches it from the hub (over HTTPS) and keeps it.
    let mut old_link = link.clone();
    if let Some(o) = old_link.as_object_mut() {
        o.remove("leaf_ca");
    }
    std::fs::write(
        node_dir.join("hub.json"),
        serde_json::to_string_pretty(&old_link).expect("json"),
    )
    .expect("old hub.json");

    // The leaf goes to the hub through the other proxy, with TLS.
    let (leaf_proxy, leaf_seen) = recording_proxy(hub.leaf_port).await;
    let mut leaf = Leaf::configure(&node_dir);
    let conf = std::fs::read_to_string(&leaf.conf).expect("conf");
    assert!(conf.contains("ca_file"), "{conf}");
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(node_dir.join("hub.json")).expect("link"))
            .expect("json");
    assert_eq!(kept["leaf_ca"], link["leaf_ca"], "the fetched CA is kept");
    std::fs::write(
        &leaf.conf,
        conf.replace(
            &format!("127.0.0.1:{}", hub.leaf_port),
            &format!("127.0.0.1:{leaf_proxy}"),
        ),
    )
    .expect("conf");
    leaf.restart();
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    let token = node.token().await;
    let made = reqwest::Client::new()
        .post(format!("{}/api/v1/tables", node.url))
        .bearer_auth(&token)
        .json(&json!({"name": "Whispering Table", "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
        .send()
        .await
        .expect("table");
    assert!(made.status().is_success());
    let venue = link["venue_id"].as_str().expect("venue").to_owned();
    until(
        Duration::from_secs(20),
        "the node's events at the hub, through the proxy",
        || async {
            let s = node.sync(&token).await;
            let e: Value = admin(https.get(format!("{}/api/v1/venues/{venue}/events", cloud.url)))
                .send()
                .await
                .expect("events")
                .json()
                .await
                .expect("json");
            s["pending"] == 0
                && e["verified_seq"] == s["acked_seq"]
                && e["count"].as_u64() > Some(1)
        },
    )
    .await;
    let (http_bytes, leaf_bytes) = (
        http_seen.lock().expect("seen").clone(),
        leaf_seen.lock().expect("seen").clone(),
    );
    assert!(
        http_bytes.len() > 1000 && leaf_bytes.len() > 1000,
        "the proxies carried the traffic: {} and {} bytes",
        http_bytes.len(),
        leaf_bytes.len()
    );
    for (what, bytes) in [("registration", &http_bytes), ("leaf link", &leaf_bytes)] {
        for secret in [
            password.as_str(),
            "Whispering Table",
            "leaf_password",
            "\"kind\"",
            "pvm.up.",
            &reg,
        ] {
            assert!(
                !contains(bytes, secret),
                "the {what} carried {secret:?} in the clear"
            );
        }
    }

    // A leaf without TLS, with the right password, is refused.
    let bare = tmp.path().join("bare.conf");
    let (bare_port, bare_monitor) = (free_port(), free_port());
    let url = format!(
        "nats-leaf://{}:{password}@127.0.0.1:{}",
        link["leaf_user"].as_str().expect("user"),
        hub.leaf_port
    );
    std::fs::write(
        &bare,
        format!(
            "host: 127.0.0.1\nport: {bare_port}\nhttp: \"127.0.0.1:{bare_monitor}\"\n\
             leafnodes {{ reconnect: \"1s\", remotes: [ {{ url: \"{url}\" }} ] }}\n"
        ),
    )
    .expect("bare conf");
    let log = tmp.path().join("bare.log");
    let _bare = Proc {
        child: std::process::Command::new(nats_bin())
            .arg("-c")
            .arg(&bare)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("bare leaf"),
        log: log.clone(),
    };
    wait_port(bare_port, Duration::from_secs(10));
    // Long enough for several attempts (one a second).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let leafz: Value = reqwest::get(format!("http://127.0.0.1:{bare_monitor}/leafz"))
        .await
        .expect("leafz")
        .json()
        .await
        .expect("json");
    assert_eq!(
        leafz["leafs"].as_array().map_or(0, |l| l.len()),
        0,
        "a plain leaf linked: {leafz}"
    );
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        said.to_lowercase().contains("tls"),
        "the plain leaf's log names TLS as the reason:\n{said}"
    );
    // The TLS leaf is linked all along.
    let linked: Value = reqwest::get(format!("http://127.0.0.1:{}/leafz", leaf.monitor))
        .await
        .expect("leafz")
        .json()
        .await
        .expect("json");
    assert_eq!(
        linked["leafs"].as_array().map_or(0, |l| l.len()),
        1,
        "{linked}"
    );
}
