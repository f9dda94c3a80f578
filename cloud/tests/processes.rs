//! Several pvm-cloud processes on one PostgreSQL database and one NATS hub.
//! 20 venues with 10,000-event backlogs drain at once through 2 processes,
//! each ingesting the nodes of its share of `PVM_UP`'s partitions; one is
//! SIGKILLed mid-drain and the other takes its partitions within 10 s.
//! Every venue's events are stored exactly once, contiguous and verified;
//! each process follows the venues the other ingests (their events folded
//! into the state it serves); stored subjects carry the partition
//! pvm-cloud computes for their venue. A frozen process (SIGSTOP) loses its
//! partitions too, and takes its share again when it wakes.

mod common;

use common::postgres::PgServer;
use common::*;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

const VENUES: usize = 20;
const PER_VENUE: usize = 10_000;

async fn metric(cloud: &Cloud, name: &str) -> u64 {
    cloud
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in /metrics"))
}

/// Waits until every venue has its head stored at the hub (asked of
/// `cloud`), then checks each is stored exactly once, contiguous and
/// verified, with no problem, and that the database holds no row twice.
async fn stored_once(
    cloud: &Cloud,
    pg: &PgServer,
    heads: &[(String, u64)],
    within: Duration,
) -> Duration {
    let took = until(within, "every event reaches the hub", || async {
        let mut all = true;
        for (venue, head) in heads {
            all &= cloud.events(venue).await["count"].as_u64() == Some(*head);
        }
        all
    })
    .await;
    for (venue, head) in heads {
        let e = cloud.events(venue).await;
        assert_eq!(e["count"].as_u64(), Some(*head), "{e}");
        assert_eq!(
            e["max_seq"].as_u64(),
            Some(*head),
            "exactly once, contiguous: {e}"
        );
        assert_eq!(e["verified_seq"].as_u64(), Some(*head), "{e}");
        let problems = cloud.problems(venue).await;
        assert_eq!(problems.as_array().map(Vec::len), Some(0), "{problems}");
    }
    let total: u64 = heads.iter().map(|(_, h)| h).sum();
    let rows = pg.psql_on(
        "hub",
        "SELECT count(*), count(DISTINCT (node_id, seq)) FROM events",
    );
    assert_eq!(
        rows.trim(),
        format!("{total}|{total}"),
        "every event stored once"
    );
    took
}

fn signal(cloud: &Cloud, which: &str) {
    let sent = std::process::Command::new("kill")
        .arg(format!("-{which}"))
        .arg(cloud.proc.child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIG{which} to pvm-cloud");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_the_drain_and_one_dying_hands_its_partitions_to_the_other() {
    let tmp = tempfile::tempdir().expect("tmp");
    let pg = PgServer::start();
    let url = pg.new_database("hub");
    let hub = HubNats::start(&tmp.path().join("hub"));
    // One data dir (keys, the leaf CA): as two hosts mounting the same secrets.
    let dir = tmp.path().join("cloud");
    let a = Cloud::start_with(&dir, &hub, None, &["--database", &url]);
    until(
        Duration::from_secs(20),
        "the first process owns every partition",
        || async { metric(&a, "pvm_cloud_partitions_owned").await == 16 },
    )
    .await;
    let mut b = Cloud::start_with(&dir, &hub, None, &["--database", &url]);
    let split = until(
        Duration::from_secs(20),
        "the partitions are shared 8 and 8",
        || async {
            metric(&a, "pvm_cloud_partitions_owned").await == 8
                && metric(&b, "pvm_cloud_partitions_owned").await == 8
        },
    )
    .await;
    println!("the second process got its 8 partitions {split:?} after it started");

    // Venues registered through either process.
    let mut venues = Vec::new();
    for i in 0..VENUES {
        let at = if i % 2 == 0 { &a } else { &b };
        let node_dir = tmp.path().join(format!("node{i}"));
        let (venue, leaf, node, head) =
            backlogged_node(&node_dir, at, &format!("Room {i}"), PER_VENUE).await;
        let link = pvm_node::sync::HubLink::load(&node_dir)
            .expect("link")
            .expect("registered");
        venues.push((venue, leaf, node, head, link));
    }
    let total: u64 = venues.iter().map(|v| v.3).sum();

    let stop = tokio_util::sync::CancellationToken::new();
    let t0 = Instant::now();
    for (_, leaf, node, _, link) in &venues {
        spawn_pump(node, link.clone(), leaf.port, &stop);
    }
    // Both ingest (20 venues over 16 partitions), and each follows the other's.
    until(
        Duration::from_secs(120),
        "both processes ingest",
        || async {
            metric(&a, "pvm_cloud_events_accepted_total").await > 0
                && metric(&b, "pvm_cloud_events_accepted_total").await > 0
                && metric(&a, "pvm_cloud_events_accepted_total").await
                    + metric(&b, "pvm_cloud_events_accepted_total").await
                    >= total / 4
        },
    )
    .await;
    // Each process follows the other's venues (folds what it did not
    // accept): seen on the one that lives on, below, as the drain must
    // still be under way at the kill.
    let by_b = metric(&b, "pvm_cloud_events_accepted_total").await;
    let by_a = metric(&a, "pvm_cloud_events_accepted_total").await;
    assert!(
        by_a + by_b < total,
        "the drain ended before the kill ({} of {total}): make the backlogs longer",
        by_a + by_b
    );
    b.proc.kill();
    let moved = until(
        Duration::from_secs(10),
        "the survivor owns every partition",
        || async { metric(&a, "pvm_cloud_partitions_owned").await == 16 },
    )
    .await;

    let heads: Vec<(String, u64)> = venues.iter().map(|v| (v.0.clone(), v.3)).collect();
    let took = stored_once(&a, &pg, &heads, Duration::from_secs(300)).await;
    // The survivor's copy of every venue holds every event, each folded once.
    until(
        Duration::from_secs(30),
        "the survivor folded every event",
        || async { metric(&a, "pvm_cloud_events_folded_total").await == total },
    )
    .await;
    // It folded what the other process had accepted: it followed it.
    assert!(
        metric(&a, "pvm_cloud_events_accepted_total").await < total,
        "the survivor accepted everything itself: nothing was followed"
    );

    // Stored subjects carry the partition pvm-cloud computes for the venue.
    let client = async_nats::ConnectOptions::with_user_and_password(
        CLOUD_NATS_USER.into(),
        CLOUD_NATS_PASSWORD.into(),
    )
    .connect(format!("nats://127.0.0.1:{}", hub.port))
    .await
    .expect("client");
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("PVM_UP").await.expect("stream");
    let mut subjects = stream
        .info_with_subjects("pvm.up.>")
        .await
        .expect("subjects");
    let mut seen = 0;
    while let Some(entry) = subjects.next().await {
        let (subject, _) = entry.expect("subject");
        let parts: Vec<&str> = subject.split('.').collect();
        assert_eq!(
            parts.len(),
            5,
            "{subject} is pvm.up.<partition>.<venue>.<node>"
        );
        let venue: uuid::Uuid = parts[3].parse().expect("venue id");
        assert_eq!(
            parts[2].parse::<u32>().ok(),
            Some(pvm_cloud::partitions::of(venue)),
            "{subject}: nats-server's partition and pvm-cloud's agree"
        );
        seen += 1;
    }
    assert_eq!(seen, VENUES, "one subject per node");
    // A frozen process (SIGSTOP: its connection stays open, it asks nothing)
    // does not keep its partitions; woken, it takes its share again; events
    // made meanwhile are stored once.
    let c = Cloud::start_with(&dir, &hub, None, &["--database", &url]);
    until(Duration::from_secs(20), "shared 8 and 8 again", || async {
        metric(&a, "pvm_cloud_partitions_owned").await == 8
            && metric(&c, "pvm_cloud_partitions_owned").await == 8
    })
    .await;
    signal(&c, "STOP");
    for (_, _, node, _, _) in &venues {
        make_events(node, 300, 'F').await;
    }
    let freed = until(
        Duration::from_secs(40),
        "the frozen process's partitions move",
        || async { metric(&a, "pvm_cloud_partitions_owned").await == 16 },
    )
    .await;
    signal(&c, "CONT");
    until(
        Duration::from_secs(40),
        "the woken process takes its share again",
        || async {
            metric(&a, "pvm_cloud_partitions_owned").await == 8
                && metric(&c, "pvm_cloud_partitions_owned").await == 8
        },
    )
    .await;
    let mut heads = Vec::new();
    for (_, _, node, _, _) in &venues {
        make_events(node, 300, 'G').await;
        heads.push(node.state.reader.head_seq().await.expect("head"));
    }
    let heads: Vec<(String, u64)> = venues
        .iter()
        .zip(&heads)
        .map(|(v, head)| (v.0.clone(), *head))
        .collect();
    stored_once(&c, &pg, &heads, Duration::from_secs(120)).await;
    println!("a frozen process's partitions moved {freed:?} after it stopped");

    println!(
        "{total} events from {VENUES} venues: {by_a} by one process and {by_b} by the other when it was killed; \
         its partitions moved {moved:?} after the kill; all stored once {took:?} after ({:?} in all)",
        t0.elapsed()
    );
    stop.cancel();
    for (_, _, node, _, _) in venues {
        node.close().await;
    }
}
