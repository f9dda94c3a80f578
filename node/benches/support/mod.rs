//! What the node's benchmarks share: the clock, percentiles, bulk set-up
//! through group commit, and the raw-engine baseline measured in the same run.

#![allow(dead_code)] // each bench uses some of these

use pvm_shared::venue::Command;
use pvm_shared::Actor;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Appends many commands concurrently (group commit) to build the room fast.
pub async fn bulk(log: &pvm_node::store::Log, commands: Vec<Command>) {
    for chunk in commands.chunks(256) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|c| {
                let log = log.clone();
                tokio::spawn(async move { log.append(Actor::System, c).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("join").expect("setup append");
        }
    }
}

/// The raw engine on the same disk with the same durability: one-row commits.
pub async fn raw_commit_latencies(path: &std::path::Path) -> Vec<f64> {
    let db = libsql::Builder::new_local(path)
        .build()
        .await
        .expect("raw db");
    let conn = db.connect().expect("connect");
    for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"] {
        drop(conn.query(pragma, ()).await.expect("pragma"));
    }
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)", ())
        .await
        .expect("schema");
    let mut out = Vec::new();
    for i in 0..500i64 {
        let t = Instant::now();
        conn.execute(
            "INSERT INTO t (id, v) VALUES (?1, ?2)",
            libsql::params![i, vec![7u8; 300]],
        )
        .await
        .expect("insert");
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    out
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
