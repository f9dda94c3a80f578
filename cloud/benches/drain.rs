//! Drain a 200,000-event backlog from a node to the hub on loopback: the
//! node's pump publishing through its leaf nats-server into the hub's
//! JetStream, pvm-cloud verifying and storing every event. The reference in
//! the same run: raw async-nats JetStream publishes with acks of the same
//! payload size, pipelined the same way, to a stream on the same hub.
//! Run twice: with TLS on the leaf link (the default) and without, to print
//! what TLS costs. Goal: drain <= 20 s (>= 10,000 events/s end to end) and
//! ratio >= 0.6 with TLS.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use pvm_node::Node;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const EVENTS: usize = 200_000;

#[path = "drain/postgres.rs"]
mod postgres;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::args().any(|a| a == "--postgres") {
        runtime.block_on(postgres::run());
    } else {
        runtime.block_on(run());
    }
}

/// What one drain measured.
struct Run {
    head: u64,
    payload_size: usize,
    drain: Duration,
    pumped: Duration,
    raw: Duration,
    raw_framed: Duration,
    cpu: Vec<(&'static str, f64)>,
}

async fn run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tls = one(&tmp.path().join("tls"), true).await;
    let plain = one(&tmp.path().join("plain"), false).await;
    let rate = |r: &Run| r.head as f64 / r.drain.as_secs_f64();
    let raw_rate = |r: &Run| r.head as f64 / r.raw.as_secs_f64();
    let per = pvm_shared::frame::MAX_EVENTS;
    println!(
        "drain of a {}-event backlog ({}-byte envelopes) from a node through its leaf to the hub, verified and stored by pvm-cloud",
        tls.head, tls.payload_size
    );
    for (name, r) in [
        ("TLS leaf link (the default)", &tls),
        ("plain leaf link (comparison)", &plain),
    ] {
        println!("  {name}:");
        println!(
            "    raw JetStream publish with acks (reference)    {:7.2} s   {:9.0} msgs/s",
            r.raw.as_secs_f64(),
            raw_rate(r)
        );
        println!(
            "    raw JetStream, the same events {per} to a message {:7.2} s   {:9.0} events/s",
            r.raw_framed.as_secs_f64(),
            r.head as f64 / r.raw_framed.as_secs_f64()
        );
        println!(
            "    node -> leaf -> hub -> pvm-cloud              {:7.2} s   {:9.0} events/s   ratio {:.2}",
            r.drain.as_secs_f64(),
            rate(r),
            rate(r) / raw_rate(r)
        );
        println!(
            "    (the node's pump had every event acknowledged by the hub's JetStream after {:.2} s: {:.0} events/s)",
            r.pumped.as_secs_f64(),
            r.head as f64 / r.pumped.as_secs_f64()
        );
        let cpu: Vec<String> = r
            .cpu
            .iter()
            .map(|(name, secs)| format!("{name} {secs:.1} s"))
            .collect();
        println!(
            "    CPU time during the drain (2 cores): {}",
            cpu.join(", ")
        );
    }
    let ratio = rate(&tls) / raw_rate(&tls);
    println!(
        "  TLS on the leaf link: {:.0} events/s against {:.0} plain (TLS/plain {:.2})",
        rate(&tls),
        rate(&plain),
        rate(&tls) / rate(&plain)
    );
    println!(
        "  target (TLS): drain <= 20 s [{}], ratio >= 0.6 [{}]",
        if tls.drain.as_secs_f64() <= 20.0 {
            "met"
        } else {
            "NOT MET"
        },
        if ratio >= 0.6 { "met" } else { "NOT MET" }
    );
}

/// One drain: a hub with (or without) TLS on its leafnode listener.
async fn one(dir: &std::path::Path, tls: bool) -> Run {
    let hub = HubNats::start_with_tls(&dir.join("hub"), tls);
    let cloud = Cloud::start(&dir.join("cloud"), &hub);
    let node_dir = dir.join("node");
    let (link, leaf_port, _leaf) = venue_node(&node_dir, &cloud, tls, "Bench").await;
    let node = Node::open(&node_dir).await.expect("node");
    make_events(&node, EVENTS, 'B').await;
    let head = node.state.reader.head_seq().await.expect("head");
    let sample = node
        .state
        .reader
        .events_after(head - 1, 1)
        .await
        .expect("sample");
    let payload_size = sample.first().map(|(_, b)| b.len()).unwrap_or(300);

    // The drain.
    let pids = [
        (
            "hub nats-server",
            hub.proc.as_ref().map_or(0, |p| p.child.id()),
        ),
        ("leaf nats-server", _leaf.child.id()),
        ("pvm-cloud", cloud.proc.child.id()),
        ("node (this process)", std::process::id()),
    ];
    let cpu_before: Vec<f64> = pids.iter().map(|(_, p)| cpu_secs(*p)).collect();
    let stop = CancellationToken::new();
    let t0 = Instant::now();
    spawn_pump(&node, link.clone(), leaf_port, &stop);
    let mut pumped = None;
    loop {
        if pumped.is_none()
            && node
                .state
                .sync
                .acked_seq
                .load(std::sync::atomic::Ordering::Relaxed)
                == head
        {
            pumped = Some(t0.elapsed());
        }
        // Poll the hub's counter (cheap); the stored events are checked once at the end.
        let accepted = cloud.accepted().await;
        if accepted >= Some(head) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "the drain did not finish: {accepted:?} of {head} accepted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain = t0.elapsed();
    let e = cloud.events(&link.venue_id.to_string()).await;
    assert_eq!(e["count"].as_u64(), Some(head), "{e}");
    assert_eq!(e["max_seq"].as_u64(), Some(head), "{e}");
    assert_eq!(e["verified_seq"].as_u64(), Some(head), "{e}");
    let cpu: Vec<(&str, f64)> = pids
        .iter()
        .zip(&cpu_before)
        .map(|((name, p), before)| (*name, cpu_secs(*p) - before))
        .collect();
    stop.cancel();
    let pumped = pumped.unwrap_or(drain);

    // The reference: raw JetStream publishes with acks, same size, same window, same hub.
    let js = hub_jetstream(&hub).await;
    let raw = raw_publishes(&js, head, payload_size).await;
    // A second reference for the framing the pump uses: the same events packed
    // 64 to a message, raw (no leaf, no verification, no storage).
    let per = pvm_shared::frame::MAX_EVENTS;
    let frame_body = bytes::Bytes::from(vec![7u8; per * (payload_size + 4) + 8]);
    let frames = head.div_ceil(per as u64);
    let t2 = Instant::now();
    let mut in_flight = VecDeque::new();
    for i in 0..frames {
        if in_flight.len() >= 64 {
            let f: async_nats::jetstream::context::PublishAckFuture =
                in_flight.pop_front().expect("one");
            f.await.expect("raw ack");
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("rawframe:{i}").as_str());
        in_flight.push_back(
            js.publish_with_headers("raw.frames", headers, frame_body.clone())
                .await
                .expect("raw publish"),
        );
    }
    for f in in_flight {
        f.await.expect("raw ack");
    }
    let raw_framed = t2.elapsed();
    node.close().await;
    Run {
        head,
        payload_size,
        drain,
        pumped,
        raw,
        raw_framed,
        cpu,
    }
}

/// A venue registered at the hub for a node in `node_dir`, and its leaf
/// nats-server (TLS to the hub when `tls`): the link, the leaf's client port.
async fn venue_node(
    node_dir: &std::path::Path,
    cloud: &Cloud,
    tls: bool,
    name: &str,
) -> (pvm_node::sync::HubLink, u16, Proc) {
    let (_, reg) = cloud.venue_token(name).await;
    let reach = pvm_node::sync::Reach {
        insecure_http: true,
        hub_ca: None,
    };
    let link = pvm_node::sync::register(node_dir, &cloud.url, &reg, &reach)
        .await
        .expect("register");
    let leaf_port = free_port();
    let conf = node_dir.with_extension("leaf.conf");
    let ca = node_dir.with_extension("leaf.ca.pem");
    if let (true, Some(pem)) = (tls, &link.leaf_ca) {
        std::fs::write(&ca, pem).expect("leaf ca");
    }
    let ca_file = tls.then(|| ca.display().to_string());
    std::fs::write(
        &conf,
        pvm_node::sync::leaf_config(&link, leaf_port, free_port(), ca_file.as_deref()),
    )
    .expect("leaf conf");
    let leaf = Proc {
        child: std::process::Command::new(nats_bin())
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("leaf"),
        log: conf.clone(),
    };
    (link, leaf_port, leaf)
}

/// pvm-cloud's own client of the hub's JetStream.
async fn hub_jetstream(hub: &HubNats) -> async_nats::jetstream::Context {
    let client = async_nats::ConnectOptions::with_user_and_password(
        CLOUD_NATS_USER.into(),
        CLOUD_NATS_PASSWORD.into(),
    )
    .connect(format!("nats://127.0.0.1:{}", hub.port))
    .await
    .expect("hub client");
    async_nats::jetstream::new(client)
}

/// `n` raw JetStream publishes with acks of `size` bytes, 512 in flight, to
/// a stream of their own on the same hub: the reference for a drain.
async fn raw_publishes(js: &async_nats::jetstream::Context, n: u64, size: usize) -> Duration {
    js.create_or_update_stream(async_nats::jetstream::stream::Config {
        name: "RAW".into(),
        subjects: vec!["raw.>".into()],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .expect("raw stream");
    let body = bytes::Bytes::from(vec![7u8; size]);
    let t1 = Instant::now();
    let mut in_flight = VecDeque::new();
    for i in 0..n {
        if in_flight.len() >= 512 {
            let f: async_nats::jetstream::context::PublishAckFuture =
                in_flight.pop_front().expect("one");
            f.await.expect("raw ack");
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("raw:{i}").as_str());
        in_flight.push_back(
            js.publish_with_headers("raw.x", headers, body.clone())
                .await
                .expect("raw publish"),
        );
    }
    for f in in_flight {
        f.await.expect("raw ack");
    }
    t1.elapsed()
}
