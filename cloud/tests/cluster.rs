//! The hub on a three-server NATS cluster (JetStream domain `hub`, streams
//! with 3 replicas): a venue's leaf lists every server, and the server
//! holding both the leaf link and the stream's leader is SIGKILLed
//! mid-drain. The leaf relinks to another, the node keeps re-sending from
//! its outbox under the same message ids, and every event reaches the hub
//! exactly once.

mod common;

use common::cluster::HubCluster;
use common::*;
use std::time::{Duration, Instant};

const EVENTS: usize = 60_000;

async fn stream_leader(js: &async_nats::jetstream::Context) -> Option<String> {
    let mut stream = js.get_stream("PVM_UP").await.ok()?;
    let info = stream.info().await.ok()?;
    info.cluster.as_ref()?.leader.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_with_the_leaf_link_and_the_stream_leader_dies_mid_drain_and_nothing_is_lost_or_doubled(
) {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut cluster = HubCluster::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &cluster);
    let node_dir = tmp.path().join("node");
    // A backlog made while the pump is not running.
    let (venue, leaf, node, head) =
        backlogged_node(&node_dir, &cloud, "Cluster Card Room", EVENTS).await;
    let conf = std::fs::read_to_string(&leaf.conf).expect("leaf conf");
    for s in &cluster.servers {
        assert!(
            conf.contains(&format!("@127.0.0.1:{}\"", s.leaf_port)),
            "every hub server in the leaf's remotes: {conf}"
        );
    }

    // The server the leaf linked to also leads PVM_UP.
    let holder = {
        let start = Instant::now();
        loop {
            if let Some(i) = cluster.leaf_holder().await {
                break i;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the leaf never linked"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let name = format!("hub-{holder}");
    let urls: Vec<String> = cluster.servers.iter().map(HubNats::cloud_url).collect();
    let client = async_nats::ConnectOptions::with_user_and_password(
        CLOUD_NATS_USER.into(),
        CLOUD_NATS_PASSWORD.into(),
    )
    .connect(
        cluster
            .servers
            .iter()
            .map(|s| format!("nats://127.0.0.1:{}", s.port))
            .collect::<Vec<_>>(),
    )
    .await
    .expect("client");
    let js = async_nats::jetstream::new(client.clone());
    let mut moves = 0;
    while stream_leader(&js).await.as_deref() != Some(name.as_str()) {
        assert!(
            moves < 30,
            "PVM_UP's leader never moved to {name} (urls {urls:?})"
        );
        let ask = serde_json::json!({"placement": {"preferred": name}});
        let _ = client
            .request(
                "$JS.API.STREAM.LEADER.STEPDOWN.PVM_UP",
                ask.to_string().into(),
            )
            .await;
        moves += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let stop = pump_in_process(&node, &node_dir, leaf.port);
    until(Duration::from_secs(60), "the drain starts", || async {
        cloud.events(&venue).await["count"].as_u64() >= Some(2_000)
    })
    .await;
    let at_kill = cloud.events(&venue).await["count"].as_u64().unwrap_or(0);
    assert_eq!(
        cluster.leaf_holder().await,
        Some(holder),
        "the leaf moved before the kill"
    );
    cluster.servers[holder].stop();
    assert!(
        at_kill < head,
        "the drain ended before the kill ({at_kill} of {head}): make the backlog longer"
    );

    let took = until(
        Duration::from_secs(180),
        "every event reaches the hub",
        || async { cloud.events(&venue).await["count"].as_u64() == Some(head) },
    )
    .await;
    let e = cloud.events(&venue).await;
    assert_eq!(e["max_seq"].as_u64(), Some(head), "{e}");
    assert_eq!(e["verified_seq"].as_u64(), Some(head), "{e}");
    let problems = cloud.problems(&venue).await;
    assert_eq!(problems.as_array().map(Vec::len), Some(0), "{problems}");
    // `leaf_holder` looks at live servers only: the leaf linked again (its
    // events arrived through it; a look may fall between a link and the
    // monitoring page showing it, so it is looked at until it shows).
    until(
        Duration::from_secs(30),
        "the leaf relinked to a live server",
        || async { cluster.leaf_holder().await.is_some() },
    )
    .await;
    // A down server (its pid file left behind) does not fail a registration
    // for good: while PVM_DOWN may still be choosing a new leader the hub
    // answers 503 and spends nothing, so the same token works a moment later.
    let late = tmp.path().join("late");
    let (_, reg) = cloud.venue_token("After the kill").await;
    let start = Instant::now();
    loop {
        let out = register(&late, &cloud.url, &reg);
        if out.status.success() {
            break;
        }
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            said.contains("503") && start.elapsed() < Duration::from_secs(60),
            "register with a hub server down: {said}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    until(
        Duration::from_secs(30),
        "PVM_UP has a leader on a live server",
        || async { stream_leader(&js).await.is_some_and(|l| l != name) },
    )
    .await;
    let leader = stream_leader(&js).await;
    println!("killed {name} at {at_kill} of {head} events stored; all {head} stored once {took:?} later; the leader is now {leader:?}");
    stop.cancel();
    node.close().await;
}
