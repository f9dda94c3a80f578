//! 1,000 simulated nodes heartbeating every 30 s (spread evenly, as real
//! nodes' clocks are) against one pvm-cloud on its libSQL file: the hub's
//! CPU while it keeps up (goal <= 5 % of a core) and how long a heartbeat
//! takes from its publish to being stored, where every page and API
//! answer reads it (goal p99 <= 1 s). Two rounds (60 s). The reference in
//! the same run: the hub's nats-server, which delivers the same messages.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use pvm_cloud::store::{Database, Store};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const NODES: usize = 1_000;
const PERIOD: Duration = Duration::from_secs(30);
const ROUNDS: u32 = 2;

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud_dir = tmp.path().join("cloud");
    std::fs::create_dir_all(&cloud_dir).expect("dir");
    let file = Database::File(cloud_dir.join("cloud.db"));

    // 1,000 registered venues, written straight into the hub's file.
    let mut nodes = Vec::with_capacity(NODES);
    {
        let store = Store::open(&file).await.expect("store");
        let db = store.lock().await.expect("lock");
        for i in 0..NODES {
            let (venue, node) = bench_venue(&db, None, &format!("Room {i:04}")).await;
            nodes.push((venue, node));
        }
    }
    let cloud = Cloud::start(&cloud_dir, &hub);
    let client = async_nats::ConnectOptions::with_user_and_password(
        CLOUD_NATS_USER.into(),
        CLOUD_NATS_PASSWORD.into(),
    )
    .connect(format!("nats://127.0.0.1:{}", hub.port))
    .await
    .expect("client");
    // Let the hub settle (a consumer per node made at start).
    tokio::time::sleep(Duration::from_secs(5)).await;

    let reader = Store::open(&file).await.expect("reader");
    let cloud_pid = cloud.proc.child.id();
    let nats_pid = hub.proc.as_ref().map_or(0, |p| p.child.id());
    let (cloud_cpu, nats_cpu) = (cpu_secs(cloud_pid), cpu_secs(nats_pid));
    let started = Instant::now();
    let gap = PERIOD / NODES as u32;
    // Per node: the number of its latest beat and when it was sent.
    let mut sent: HashMap<uuid::Uuid, (u64, Instant)> = HashMap::new();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut next_poll = Instant::now();
    let total = NODES as u64 * u64::from(ROUNDS);
    for k in 0..total {
        let (venue, node) = nodes[(k % NODES as u64) as usize];
        let due = started + gap * k as u32;
        while Instant::now() < due {
            if Instant::now() >= next_poll {
                poll(&reader, &mut sent, &mut latencies).await;
                next_poll = Instant::now() + Duration::from_millis(20);
            }
            tokio::time::sleep(
                Duration::from_millis(2).min(due.saturating_duration_since(Instant::now())),
            )
            .await;
        }
        let beat = serde_json::json!({"beat": k, "version": "0.1.0", "backlog": 0, "uptime_s": k});
        client
            .publish(format!("pvm.hb.{venue}.{node}"), beat.to_string().into())
            .await
            .expect("publish");
        sent.insert(node, (k, Instant::now()));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sent.is_empty() && Instant::now() < deadline {
        poll(&reader, &mut sent, &mut latencies).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let cloud_share = (cpu_secs(cloud_pid) - cloud_cpu) / wall * 100.0;
    let nats_share = (cpu_secs(nats_pid) - nats_cpu) / wall * 100.0;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    let (p50, p99, max) = (
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    println!(
        "{NODES} nodes heartbeating every {} s for {ROUNDS} rounds ({total} heartbeats, {:.0}/s) against one pvm-cloud on its libSQL file",
        PERIOD.as_secs(),
        total as f64 / wall
    );
    println!("  hub nats-server (reference): {nats_share:.2} % of a core");
    println!(
        "  pvm-cloud: {cloud_share:.2} % of a core (goal <= 5 % [{}])",
        if cloud_share <= 5.0 { "met" } else { "NOT MET" }
    );
    println!(
        "  heartbeat published -> stored (what every page reads), {} seen, {} never: p50 {:.0} ms, p99 {:.0} ms (goal <= 1 s [{}]), max {:.0} ms",
        latencies.len(),
        sent.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        if p99 <= Duration::from_secs(1) && sent.is_empty() { "met" } else { "NOT MET" },
        max.as_secs_f64() * 1e3
    );
}

/// Reads every node's stored heartbeat; a beat whose number is the latest
/// sent to that node is seen now.
async fn poll(
    reader: &Store,
    sent: &mut HashMap<uuid::Uuid, (u64, Instant)>,
    latencies: &mut Vec<Duration>,
) {
    let Ok(db) = reader.lock().await else { return };
    let Ok(listed) = db.node_listings().await else {
        return;
    };
    let now = Instant::now();
    for n in listed {
        let Some(beat) = n.heartbeat else { continue };
        let Ok(id) = n.node_id.parse::<uuid::Uuid>() else {
            continue;
        };
        let Some(&(k, at)) = sent.get(&id) else {
            continue;
        };
        let seen = serde_json::from_str::<serde_json::Value>(&beat)
            .ok()
            .and_then(|b| b["beat"].as_u64());
        if seen == Some(k) {
            latencies.push(now - at);
            sent.remove(&id);
        }
    }
}
