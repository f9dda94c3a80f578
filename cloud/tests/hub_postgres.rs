//! pvm-cloud on PostgreSQL under faults: the server restarted without a
//! clean shutdown (`pg_ctl restart -m immediate`) mid-drain; ingest resumes
//! by itself and every event is stored exactly once.

mod common;

use common::postgres::PgServer;
use common::*;
use std::time::Duration;

const EVENTS: usize = 40_000;

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_mid_drain_and_ingest_resumes_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let pg = PgServer::start();
    let url = pg.new_database("hub");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start_with(&tmp.path().join("cloud"), &hub, None, &["--database", &url]);
    let node_dir = tmp.path().join("node");
    let (venue, leaf, node, head) =
        backlogged_node(&node_dir, &cloud, "Restart Room", EVENTS).await;

    let stop = pump_in_process(&node, &node_dir, leaf.port);
    until(Duration::from_secs(60), "the drain starts", || async {
        cloud.events(&venue).await["count"].as_u64() >= Some(2_000)
    })
    .await;
    let at_restart = cloud.events(&venue).await["count"].as_u64().unwrap_or(0);
    pg.restart_immediate();
    assert!(
        at_restart < head,
        "the drain ended before the restart ({at_restart} of {head}): make the backlog longer"
    );

    let took = until(
        Duration::from_secs(120),
        "every event reaches PostgreSQL",
        || async {
            let e = cloud
                .client()
                .get(format!("{}/api/v1/venues/{venue}/events", cloud.url))
                .send()
                .await;
            match e {
                Ok(r) if r.status().is_success() => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|e| e["count"].as_u64() == Some(head)),
                _ => false,
            }
        },
    )
    .await;
    let e = cloud.events(&venue).await;
    assert_eq!(e["max_seq"].as_u64(), Some(head), "{e}");
    assert_eq!(e["verified_seq"].as_u64(), Some(head), "{e}");
    assert_eq!(
        pg.psql_on("hub", "SELECT count(*) FROM events"),
        head.to_string()
    );
    let log = cloud.proc.logs();
    assert!(
        log.contains("ingest batch failed") || log.contains("heads not reloaded"),
        "the restart never met a batch: nothing of the recovery was tested"
    );
    let problems = cloud.problems(&venue).await;
    assert_eq!(problems.as_array().map(Vec::len), Some(0), "{problems}");
    println!("PostgreSQL restarted at {at_restart} of {head} events stored; all stored once {took:?} later");
    stop.cancel();
    node.close().await;
}
