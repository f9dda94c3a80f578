//! A weekend offline: with the link cut (the hub's nats-server stopped) and
//! the node's clock driven 72 hours forward, 200,000 events are made; when
//! the link returns the hub holds exactly those events (count, contiguous
//! seq, chain verified, no duplicates) and the backlog is 0. And the same
//! exactly-once when pvm-cloud is SIGKILLed mid-drain, or the node's pump is
//! killed mid-drain and restarted. The hub and leaf nats-servers and
//! pvm-cloud are real processes; the node runs in-process so its clock can
//! be driven.

mod common;

use common::*;
use pvm_node::store::writer::TimeSource;
use pvm_node::Node;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Driven(AtomicU64);

impl TimeSource for Driven {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Setup {
    tmp: tempfile::TempDir,
    hub: HubNats,
    cloud: Cloud,
    leaf: Leaf,
    venue: String,
    node_dir: std::path::PathBuf,
}

async fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    let (_, reg) = cloud.venue_token("Weekend Series").await;
    let out = register(&node_dir, &cloud.url, &reg);
    assert!(
        out.status.success(),
        "register: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link: Value = serde_json::from_str(
        &std::fs::read_to_string(node_dir.join("hub.json")).expect("hub.json"),
    )
    .expect("json");
    let venue = link["venue_id"].as_str().expect("venue").to_owned();
    let leaf = Leaf::start(&node_dir);
    Setup {
        tmp,
        hub,
        cloud,
        leaf,
        venue,
        node_dir,
    }
}

fn start_pump(
    node: &Node,
    node_dir: &std::path::Path,
    leaf_port: u16,
    clock: Arc<Driven>,
) -> CancellationToken {
    let link = pvm_node::sync::HubLink::load(node_dir)
        .expect("link")
        .expect("registered");
    let stop = CancellationToken::new();
    let url = format!("nats://127.0.0.1:{leaf_port}");
    let mut ctx = pvm_node::sync::SyncContext::of(node, link, url, stop.clone());
    ctx.clock = clock;
    tokio::spawn(pvm_node::sync::pump(ctx));
    stop
}

async fn hub_has_exactly(cloud: &Cloud, venue: &str, head: u64) -> bool {
    let e = cloud.events(venue).await;
    e["count"].as_u64() == Some(head)
        && e["max_seq"].as_u64() == Some(head)
        && e["min_seq"].as_u64() == Some(1)
}

#[tokio::test]
async fn a_weekend_offline_then_every_event_exactly_once() {
    let mut s = setup().await;
    let clock = Arc::new(Driven(AtomicU64::new(wall_ms())));
    let node = Node::open_with_clock(&s.node_dir, clock.clone())
        .await
        .expect("node");
    let stop = start_pump(&node, &s.node_dir, s.leaf.port, clock.clone());
    make_events(&node, 1_000, 'A').await;
    let head = node.state.reader.head_seq().await.expect("head");
    until(
        Duration::from_secs(10),
        "online events reach the hub",
        || hub_has_exactly(&s.cloud, &s.venue, head),
    )
    .await;

    // The line dies on Friday evening.
    s.hub.stop();
    clock
        .0
        .fetch_add(72 * 3_600_000 + 10 * 60_000, Ordering::SeqCst);
    let t = Instant::now();
    make_events(&node, 200_000, 'B').await;
    let head = node.state.reader.head_seq().await.expect("head");
    eprintln!("made {} events offline in {:?}", head, t.elapsed());
    assert!(head >= 201_000);
    // Staff see it: everything pending, and after 72 hours a warning that all still works.
    let sync = pvm_node::http::api::sync_view(&node.state, head);
    assert!(sync.pending >= 200_000, "{sync:?}");
    assert!(
        sync.warning
            .as_deref()
            .is_some_and(|w| w.contains("keeps working")),
        "{sync:?}"
    );

    // Monday morning: the line is back.
    s.hub.restart();
    let t = Instant::now();
    let took = until(Duration::from_secs(120), "the weekend drains", || {
        hub_has_exactly(&s.cloud, &s.venue, head)
    })
    .await;
    eprintln!(
        "drained {head} events {took:?} after the link came back ({:?})",
        t.elapsed()
    );
    let e = s.cloud.events(&s.venue).await;
    assert_eq!(
        e["verified_seq"].as_u64(),
        Some(head),
        "the whole chain verified"
    );
    until(Duration::from_secs(5), "the backlog is 0", || async {
        node.state.sync.pending() == 0
    })
    .await;
    assert_eq!(s.cloud.problems(&s.venue).await, serde_json::json!([]));
    stop.cancel();
    node.close().await;
    let _ = &s.tmp;
}

#[tokio::test]
async fn killing_the_cloud_and_then_the_pump_mid_drain_still_gives_exactly_once() {
    let s = setup().await;
    let clock = Arc::new(Driven(AtomicU64::new(wall_ms())));
    let node = Node::open_with_clock(&s.node_dir, clock.clone())
        .await
        .expect("node");
    make_events(&node, 60_000, 'A').await;
    let head = node.state.reader.head_seq().await.expect("head");
    let stop = start_pump(&node, &s.node_dir, s.leaf.port, clock.clone());
    // pvm-cloud dies hard while it drains.
    until(Duration::from_secs(30), "the drain starts", || async {
        s.cloud.events(&s.venue).await["count"].as_u64() > Some(5_000)
    })
    .await;
    let Cloud {
        mut proc,
        admin_key,
        dir,
        pg,
        ..
    } = s.cloud;
    proc.kill();
    // On PostgreSQL the restarted hub starts its server again on the same data.
    drop(pg);
    let cloud = Cloud::start_with_key(&dir, &s.hub, Some(admin_key));
    // Then the node's pump dies mid-drain and starts again from its saved position.
    until(Duration::from_secs(30), "the drain goes on", || async {
        cloud.events(&s.venue).await["count"].as_u64() > Some(30_000)
    })
    .await;
    stop.cancel();
    let stop = start_pump(&node, &s.node_dir, s.leaf.port, clock.clone());
    until(Duration::from_secs(60), "everything, once", || {
        hub_has_exactly(&cloud, &s.venue, head)
    })
    .await;
    let e = cloud.events(&s.venue).await;
    assert_eq!(e["verified_seq"].as_u64(), Some(head));
    assert_eq!(cloud.problems(&s.venue).await, serde_json::json!([]));
    let metrics = cloud.metrics().await;
    eprintln!("{metrics}");
    stop.cancel();
    node.close().await;
    let _ = (&s.leaf, &s.tmp);
}
