//! Crash safety: a real `pvm-node` takes writes and is killed with SIGKILL at
//! random moments. Every write it acknowledged must be there after restart,
//! and the log must verify. `PVM_CRASH_ROUNDS` sets the rounds (20 in CI;
//! `scripts/soak` runs 100).

mod common;

use common::{client, run, table_json, TestNode};
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_sigkill() {
    let rounds: usize = std::env::var("PVM_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("PVM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!(
        "crash test: {rounds} rounds, seed {seed} (PVM_CRASH_SEED={seed} replays the kill timings)"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let c = client();

    for round in 0..rounds {
        let mut node =
            TestNode::start_in(dir.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let mut writers = Vec::new();
        let writer_client = node.client();
        for w in 0..WRITERS {
            let url = node.api("/api/v1/tables");
            let c = writer_client.clone();
            let acked = acked.clone();
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("r{round}w{w}n{i}");
                    match c.post(&url).json(&table_json(&name)).send().await {
                        Ok(resp) if resp.status().as_u16() == 201 => {
                            acked.lock().expect("lock").insert(name);
                        }
                        Ok(resp) => panic!("unexpected status {} for {name}", resp.status()),
                        Err(_) => break, // the node is gone
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..400))).await;
        node.kill();
        for w in writers {
            w.await.expect("writer task");
        }

        let out = run(dir.path(), &["verify-log"]);
        assert!(
            out.status.success(),
            "round {round} (seed {seed}): verify-log after SIGKILL failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let node = TestNode::start_in(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: restart: {e}"));
        let tables: Vec<serde_json::Value> = c
            .get(node.api("/api/v1/tables"))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let stored: BTreeSet<String> = tables
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        let acked_now = acked.lock().expect("lock").clone();
        let lost: Vec<&String> = acked_now.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "round {round} (seed {seed}): {} acknowledged writes lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        drop(node);
    }
    let total = acked.lock().expect("lock").len();
    eprintln!("crash test: {rounds} rounds, {total} acknowledged writes, none lost");
    assert!(
        total > rounds,
        "too few writes were acknowledged to prove anything ({total})"
    );
}
