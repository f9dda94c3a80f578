//! `cargo bench -p pvm-cloud --bench drain -- --postgres`: 20 venues with
//! 10,000-event backlogs drain at once, each node's pump through its own
//! leaf (TLS) into the hub's JetStream, pvm-cloud verifying and storing into
//! PostgreSQL. References in the same run: raw binary COPY of the same rows
//! in 10,000-row batches into the same database (goal: ratio >= 0.5), and
//! raw JetStream publishes with acks of the same size (goal: >= 0.6).

use super::*;
use common::postgres::PgServer;

const VENUES: usize = 20;
const PER_VENUE: usize = 10_000;
const COPY_BATCH: usize = 10_000;

pub async fn run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let pg = PgServer::start();
    let url = pg.new_database("hub");
    let hub = HubNats::start_with_tls(&tmp.path().join("hub"), true);
    let cloud = Cloud::start_with(&tmp.path().join("cloud"), &hub, None, &["--database", &url]);
    println!(
        "drain of {VENUES} venues x {PER_VENUE}-event backlogs at once, each through its own TLS leaf, into PostgreSQL ({})",
        pg_version(&pg)
    );

    let mut venues = Vec::new();
    for i in 0..VENUES {
        let dir = tmp.path().join(format!("node{i}"));
        let (link, leaf_port, leaf) = venue_node(&dir, &cloud, true, &format!("Bench {i}")).await;
        let node = Node::open(&dir).await.expect("node");
        make_events(&node, PER_VENUE, 'P').await;
        let head = node.state.reader.head_seq().await.expect("head");
        venues.push((link, leaf_port, leaf, node, head));
    }
    let total: u64 = venues.iter().map(|v| v.4).sum();
    let sample = venues[0]
        .3
        .state
        .reader
        .events_after(venues[0].4 - 1, 1)
        .await
        .expect("sample");
    let payload_size = sample.first().map(|(_, b)| b.len()).unwrap_or(300);

    let postmaster = postmaster_pid(&pg);
    let leaves: Vec<u32> = venues.iter().map(|v| v.2.child.id()).collect();
    let hub_pid = hub.proc.as_ref().map_or(0, |p| p.child.id());
    let cpu_of = |pids: &[u32]| pids.iter().map(|p| cpu_secs(*p)).sum::<f64>();
    let pg_cpu = || cpu_of(&family(postmaster));
    let before = (
        cpu_secs(hub_pid),
        cpu_of(&leaves),
        cpu_secs(cloud.proc.child.id()),
        pg_cpu(),
        cpu_secs(std::process::id()),
    );
    let stop = CancellationToken::new();
    let t0 = Instant::now();
    for (link, leaf_port, _, node, _) in &venues {
        spawn_pump(node, link.clone(), *leaf_port, &stop);
    }
    let mut first = None;
    loop {
        let accepted = cloud.accepted().await;
        if first.is_none() && accepted > Some(0) {
            first = Some(t0.elapsed());
        }
        if accepted >= Some(total) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "the drain did not finish: {accepted:?} of {total} accepted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain = t0.elapsed();
    // The backend's process family is sampled before the readers below add to it.
    let cpu = [
        ("hub nats-server", cpu_secs(hub_pid) - before.0),
        ("20 leaf nats-servers", cpu_of(&leaves) - before.1),
        ("pvm-cloud", cpu_secs(cloud.proc.child.id()) - before.2),
        ("PostgreSQL", pg_cpu() - before.3),
        (
            "20 nodes (this process)",
            cpu_secs(std::process::id()) - before.4,
        ),
    ];
    let others: f64 = cpu
        .iter()
        .filter(|(name, _)| *name != "pvm-cloud")
        .map(|(_, secs)| secs)
        .sum();
    let batches = cloud
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("pvm_cloud_ingest_batches_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    stop.cancel();
    for (link, _, _, _, head) in &venues {
        let e = cloud.events(&link.venue_id.to_string()).await;
        assert_eq!(e["count"].as_u64(), Some(*head), "{e}");
        assert_eq!(e["max_seq"].as_u64(), Some(*head), "{e}");
        assert_eq!(e["verified_seq"].as_u64(), Some(*head), "{e}");
    }

    let (copy, least) = raw_copy(&url, total).await;
    let js = hub_jetstream(&hub).await;
    let raw = raw_publishes(&js, total, payload_size).await;
    for (_, _, _, node, _) in venues {
        node.close().await;
    }

    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!("  {total} events of {payload_size} bytes");
    println!(
        "    raw binary COPY, {COPY_BATCH}-row batches (reference)  {:7.2} s   {:9.0} rows/s",
        copy.as_secs_f64(),
        rate(copy)
    );
    println!(
        "    raw JetStream publish with acks (reference)      {:7.2} s   {:9.0} msgs/s",
        raw.as_secs_f64(),
        rate(raw)
    );
    println!(
        "    20 nodes -> leaves -> hub -> pvm-cloud -> PostgreSQL {:7.2} s   {:9.0} events/s",
        drain.as_secs_f64(),
        rate(drain)
    );
    let (vs_copy, vs_js) = (rate(drain) / rate(copy), rate(drain) / rate(raw));
    println!(
        "    ratio against raw COPY {vs_copy:.2} (goal >= 0.5 [{}]), against raw JetStream {vs_js:.2} (goal >= 0.6 [{}])",
        if vs_copy >= 0.5 { "met" } else { "NOT MET" },
        if vs_js >= 0.6 { "met" } else { "NOT MET" }
    );
    let cpu: Vec<String> = cpu
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.1} s"))
        .collect();
    println!(
        "    CPU time during the drain (2 cores): {}",
        cpu.join(", ")
    );
    let budget = 2.0 * 2.0 * copy.as_secs_f64();
    println!(
        "    at ratio 0.5 the drain ends within {:.2} s: {budget:.2} core-seconds on 2 cores, of which the other processes used {others:.2} here; pvm-cloud's least work (read, hash, event of each envelope, one core) takes {:.2} s",
        2.0 * copy.as_secs_f64(),
        least.as_secs_f64()
    );
    println!(
        "    the first event was stored {:.2} s after the pumps started",
        first.unwrap_or_default().as_secs_f64()
    );
    println!(
        "    pvm-cloud handled {batches} pulled batches ({:.0} events each on average), each stored in one transaction",
        total as f64 / batches.max(1) as f64
    );
}

/// Copies the hub's stored rows into a table of the same shape, by binary
/// COPY in batches of COPY_BATCH rows, one transaction each: what
/// PostgreSQL itself does with these rows, timed.
///
/// Also times, on one core, the least the hub does with each of them: read
/// the envelope, check its hash, read its event (no chain, signature,
/// fold or database).
async fn raw_copy(url: &str, total: u64) -> (Duration, Duration) {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::Type;
    let (mut client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE raw_events (node_id UUID NOT NULL, seq BIGINT NOT NULL, venue_id UUID NOT NULL, \
             kind TEXT NOT NULL, envelope BYTEA NOT NULL, PRIMARY KEY (node_id, seq))",
        )
        .await
        .expect("raw table");
    let rows = client
        .query(
            "SELECT node_id, seq, venue_id, kind, envelope FROM events ORDER BY node_id, seq",
            &[],
        )
        .await
        .expect("rows");
    assert_eq!(rows.len() as u64, total);
    type Row = (uuid::Uuid, i64, uuid::Uuid, String, Vec<u8>);
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let t = Instant::now();
    let mut intact = 0;
    for (_, _, _, _, bytes) in &rows {
        let env = pvm_shared::envelope::Envelope::decode(bytes).expect("stored envelope");
        if env.compute_hash() == env.hash && env.event().is_ok() {
            intact += 1;
        }
    }
    let least = t.elapsed();
    assert_eq!(intact, rows.len());
    let t = Instant::now();
    for batch in rows.chunks(COPY_BATCH) {
        let tx = client.transaction().await.expect("tx");
        let sink = tx
            .copy_in("COPY raw_events (node_id, seq, venue_id, kind, envelope) FROM STDIN (FORMAT binary)")
            .await
            .expect("copy");
        let writer = BinaryCopyInWriter::new(
            sink,
            &[Type::UUID, Type::INT8, Type::UUID, Type::TEXT, Type::BYTEA],
        );
        let mut writer = std::pin::pin!(writer);
        for (node, seq, venue, kind, envelope) in batch {
            writer
                .as_mut()
                .write(&[node, seq, venue, kind, envelope])
                .await
                .expect("row");
        }
        writer.finish().await.expect("finish");
        tx.commit().await.expect("commit");
    }
    (t.elapsed(), least)
}

fn pg_version(pg: &PgServer) -> String {
    pg.psql("SHOW server_version")
}

/// The postmaster's pid (first line of postmaster.pid).
fn postmaster_pid(pg: &PgServer) -> u32 {
    std::fs::read_to_string(pg.data.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse().ok())
        .expect("postmaster.pid")
}

/// A process and its children (PostgreSQL's backends and workers).
fn family(parent: u32) -> Vec<u32> {
    let mut out = vec![parent];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}
