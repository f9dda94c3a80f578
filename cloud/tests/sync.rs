//! Sync with real processes: hub nats-server (JetStream), a leaf nats-server
//! for the node, pvm-cloud and pvm-node, on free loopback ports.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Venue {
    _tmp: tempfile::TempDir,
    hub: HubNats,
    cloud: Cloud,
    leaf: Leaf,
    node: NodeProc,
    venue: String,
    token: String,
}

async fn venue() -> Venue {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Riverside Card Room").await;
    let leaf = Leaf::start(&node_dir);
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    let token = node.token().await;
    Venue {
        _tmp: tmp,
        hub,
        cloud,
        leaf,
        node,
        venue,
        token,
    }
}

impl Venue {
    async fn make_tables(&self, n: usize) {
        let c = reqwest::Client::new();
        for i in 0..n {
            let resp = c
                .post(format!("{}/api/v1/tables", self.node.url))
                .bearer_auth(&self.token)
                .json(&json!({"name": format!("T{i}"), "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
                .send()
                .await
                .expect("table");
            assert!(
                resp.status().is_success(),
                "{}",
                resp.text().await.unwrap_or_default()
            );
        }
    }

    async fn sync(&self) -> Value {
        self.node.sync(&self.token).await
    }
}

#[tokio::test]
async fn online_an_event_made_on_the_node_is_stored_at_the_hub_within_a_second() {
    let mut v = venue().await;
    // Everything made before registration (the admin account) arrives first.
    until(Duration::from_secs(10), "the backlog drains", || async {
        v.sync().await["pending"] == 0 && v.sync().await["acked_seq"].as_u64() > Some(0)
    })
    .await;
    // Acked by the hub's stream is not yet stored by pvm-cloud: wait for that too.
    let acked = v.sync().await["acked_seq"].as_u64();
    until(Duration::from_secs(10), "the backlog is stored", || async {
        let e = v.cloud.events(&v.venue).await;
        e["count"].as_u64() == acked && e["verified_seq"].as_u64() == acked
    })
    .await;
    let before = v.cloud.events(&v.venue).await["count"]
        .as_u64()
        .unwrap_or(0);
    let t0 = Instant::now();
    v.make_tables(1).await;
    let took = until(Duration::from_secs(1), "the event at the hub", || async {
        v.cloud.events(&v.venue).await["count"]
            .as_u64()
            .unwrap_or(0)
            > before
    })
    .await;
    eprintln!(
        "stored at the hub {took:?} after the request ({:?} in all)",
        t0.elapsed()
    );
    let events = v.cloud.events(&v.venue).await;
    assert_eq!(events["min_seq"], 1);
    assert_eq!(events["max_seq"], events["count"], "contiguous from 1");
    assert_eq!(
        events["verified_seq"], events["max_seq"],
        "every event verified (signed batch ends)"
    );
    assert_eq!(events["latest"][0]["kind"], "table_created");
    assert_eq!(v.cloud.problems(&v.venue).await, json!([]));
    // Heartbeats: the node is online with its figures; cut off, it turns unhealthy, then offline.
    let nodes = || async {
        v.cloud
            .client()
            .get(format!("{}/api/v1/nodes", v.cloud.url))
            .send()
            .await
            .expect("nodes")
            .json::<Value>()
            .await
            .expect("json")
    };
    until(Duration::from_secs(5), "a heartbeat", || async {
        nodes().await[0]["heartbeat"]["backlog"] == 0
    })
    .await;
    let n = nodes().await;
    assert_eq!(n[0]["status"], "online");
    assert_eq!(n[0]["heartbeat"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(n[0]["heartbeat"]["uptime_s"].is_u64());
    assert!(
        n[0]["heartbeat"]["disk_free_mb"].as_u64() > Some(0),
        "{}",
        n[0]
    );
    assert!(
        n[0]["heartbeat"]["mem_available_kb"].as_u64() > Some(0),
        "{}",
        n[0]
    );
    v.leaf.stop();
    until(
        Duration::from_secs(8),
        "unhealthy after 3 missed",
        || async { nodes().await[0]["status"] == "unhealthy" },
    )
    .await;
    until(Duration::from_secs(8), "offline after 5 missed", || async {
        nodes().await[0]["status"] == "offline"
    })
    .await;
    let _ = &v.hub;
}

/// An event sealed for `node` of `venue` after `prev_hash`, signed by a key that is not the node's.
fn forged(venue: &str, node: &str, seq: u64, prev_hash: [u8; 32]) -> Vec<u8> {
    use pvm_shared::envelope::{Actor, Envelope, EnvelopeHeader};
    let header = EnvelopeHeader {
        id: uuid::Uuid::now_v7(),
        venue_id: venue.parse().expect("venue"),
        node_id: node.parse().expect("node"),
        seq,
        hlc: pvm_shared::Hlc {
            wall_ms: 1_900_000_000_000,
            counter: 0,
        },
        actor: Actor::System,
        schema: pvm_shared::SCHEMA_VERSION,
    };
    let event = pvm_shared::EventKind::TableOpened {
        table_id: uuid::Uuid::now_v7(),
    };
    let mut env = Envelope::seal(header, &event, prev_hash);
    env.sign(&ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng));
    env.encode()
}

async fn last_hash(v: &Venue) -> (u64, [u8; 32]) {
    let events: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/events?limit=1000", v.node.url))
        .bearer_auth(&v.token)
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

#[tokio::test]
async fn forged_and_foreign_events_are_rejected_and_reported_and_the_venue_goes_on() {
    let v = venue().await;
    until(Duration::from_secs(10), "the backlog drains", || async {
        v.sync().await["pending"] == 0
    })
    .await;
    let node_id: String = serde_json::from_str::<Value>(
        &std::fs::read_to_string(v.node.dir.join("hub.json")).expect("hub.json"),
    )
    .expect("json")["node_id"]
        .as_str()
        .expect("node")
        .to_owned();
    let (seq, hash) = last_hash(&v).await;
    // Straight onto the hub (as someone holding the hub's own credentials could).
    let nats = async_nats::ConnectOptions::with_user_and_password(
        CLOUD_NATS_USER.into(),
        CLOUD_NATS_PASSWORD.into(),
    )
    .connect(format!("nats://127.0.0.1:{}", v.hub.port))
    .await
    .expect("hub client");
    let js = async_nats::jetstream::new(nats);
    let subject = format!("pvm.up.{}.{node_id}", v.venue);
    // 1. The next seq, chained right, but signed by another key.
    js.publish(
        subject.clone(),
        forged(&v.venue, &node_id, seq + 1, hash).into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stored in the stream");
    // 2. An event of another node, replayed onto this node's subject.
    let other = uuid::Uuid::now_v7().to_string();
    js.publish(
        subject.clone(),
        forged(&v.venue, &other, seq + 1, hash).into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stored in the stream");
    until(Duration::from_secs(5), "both are reported", || async {
        let p = v.cloud.problems(&v.venue).await;
        let kinds: Vec<String> = p
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["kind"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        kinds.contains(&"bad_signature".to_string()) && kinds.contains(&"foreign_node".to_string())
    })
    .await;
    assert!(
        v.cloud
            .metrics()
            .await
            .contains("pvm_cloud_events_rejected_total 2"),
        "{}",
        v.cloud.metrics().await
    );
    // The venue's real next event still goes in: the stream is not stopped.
    v.make_tables(1).await;
    until(
        Duration::from_secs(3),
        "the real event after the forgeries",
        || async { v.cloud.events(&v.venue).await["max_seq"].as_u64() == Some(seq + 1) },
    )
    .await;
    let events = v.cloud.events(&v.venue).await;
    assert_eq!(
        events["count"].as_u64(),
        Some(seq + 1),
        "nothing forged was stored"
    );
    assert_eq!(events["verified_seq"].as_u64(), Some(seq + 1));
}

#[tokio::test]
async fn a_venues_leaf_credentials_cannot_publish_to_another_venues_subjects() {
    let a = venue().await;
    // A second venue on the same hub.
    let b_dir = a._tmp.path().join("node-b");
    admin_create(&b_dir);
    let (_, reg) = a.cloud.venue_token("Harbour Poker Club").await;
    let out = register(&b_dir, &a.cloud.url, &reg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b_link: Value =
        serde_json::from_str(&std::fs::read_to_string(b_dir.join("hub.json")).expect("hub.json"))
            .expect("json");
    let (b_venue, b_node) = (
        b_link["venue_id"].as_str().expect("v").to_owned(),
        b_link["node_id"].as_str().expect("n").to_owned(),
    );
    // The same token cannot be used twice.
    let again = register(&a._tmp.path().join("node-c"), &a.cloud.url, &reg);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already used"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let forged_token = register(&a._tmp.path().join("node-d"), &a.cloud.url, "pvm_reg_0000");
    assert!(String::from_utf8_lossy(&forged_token.stderr).contains("not known here"));

    // Someone on venue A's LAN publishes through A's leaf onto B's subject.
    let link_a: Value = serde_json::from_str(
        &std::fs::read_to_string(a.node.dir.join("hub.json")).expect("hub.json"),
    )
    .expect("json");
    let nats = async_nats::ConnectOptions::new()
        .custom_inbox_prefix(format!("_INBOX_{}", a.venue))
        .connect(format!("nats://127.0.0.1:{}", a.leaf.port))
        .await
        .expect("leaf client");
    let js = async_nats::jetstream::with_domain(nats.clone(), "hub");
    let into_b = js
        .publish(
            format!("pvm.up.{b_venue}.{b_node}"),
            forged(&b_venue, &b_node, 1, [0; 32]).into(),
        )
        .await;
    let refused = match into_b {
        Err(_) => true,
        Ok(ack) => tokio::time::timeout(Duration::from_secs(3), ack)
            .await
            .map(|r| r.is_err())
            .unwrap_or(true),
    };
    assert!(
        refused,
        "venue A's leaf got a publish onto venue B's subject acknowledged"
    );
    // The same client may publish onto A's own subject (so the refusal is the permission).
    let a_node = link_a["node_id"].as_str().expect("node").to_owned();
    let own = js
        .publish(
            format!("pvm.up.{}.{a_node}", a.venue),
            forged(&a.venue, &a_node, 1_000_000, [0; 32]).into(),
        )
        .await
        .expect("publish");
    tokio::time::timeout(Duration::from_secs(3), own)
        .await
        .expect("an answer")
        .expect("A's own subject is accepted into the stream");
    // The hub's nats-server holds only bcrypt hashes of the passwords.
    let users = std::fs::read_to_string(a.hub.dir.join("users.conf")).expect("users.conf");
    for secret in [
        link_a["leaf_password"].as_str().expect("password"),
        b_link["leaf_password"].as_str().expect("password"),
        CLOUD_NATS_PASSWORD,
    ] {
        assert!(!users.contains(secret), "a plain password in users.conf");
    }
    assert_eq!(users.matches("password: \"$2b$").count(), 3, "{users}");
    // The hub saw nothing for B: the one event it refused is A's own
    // (signed by another key: refused at once, not held as a gap).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.cloud.events(&b_venue).await["count"], 0);
    assert!(
        a.cloud
            .metrics()
            .await
            .contains("pvm_cloud_events_rejected_total 1"),
        "the hub never even saw B's"
    );
    let problems = a.cloud.problems(&a.venue).await;
    assert_eq!(problems[0]["kind"], "bad_signature", "{problems}");
    assert_eq!(problems[0]["seq"], 1_000_000, "{problems}");
}

#[tokio::test]
async fn a_template_and_an_announcement_sent_while_the_node_is_cut_off_arrive_exactly_once() {
    let mut v = venue().await;
    until(
        Duration::from_secs(10),
        "registered and draining",
        || async { v.sync().await["pending"] == 0 },
    )
    .await;
    // Cut the venue off: its leaf is gone.
    v.leaf.stop();
    let c = v.cloud.client();
    let templates: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/tournament-templates", v.node.url))
        .bearer_auth(&v.token)
        .send()
        .await
        .expect("templates")
        .json()
        .await
        .expect("json");
    let mut structure = templates[0].clone();
    structure["name"] = json!("Hub Weekly Turbo");
    let resp = c
        .post(format!(
            "{}/api/v1/venues/{}/templates",
            v.cloud.url, v.venue
        ))
        .json(&structure)
        .send()
        .await
        .expect("send template");
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let resp = c
        .post(format!(
            "{}/api/v1/venues/{}/announcements",
            v.cloud.url, v.venue
        ))
        .json(&json!({"text": "Series final on Sunday", "minutes": 60}))
        .send()
        .await
        .expect("send announcement");
    assert_eq!(resp.status().as_u16(), 201);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let names = |t: &Value| -> Vec<String> {
        t.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let get_templates = || async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/tournament-templates", v.node.url))
            .bearer_auth(&v.token)
            .send()
            .await
            .expect("templates")
            .json::<Value>()
            .await
            .expect("json")
    };
    assert!(
        !names(&get_templates().await).contains(&"Hub Weekly Turbo".to_string()),
        "nothing arrives while cut off"
    );
    // The line is back.
    v.leaf.restart();
    until(Duration::from_secs(15), "the template arrives", || async {
        names(&get_templates().await).contains(&"Hub Weekly Turbo".to_string())
    })
    .await;
    let events: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/events?limit=1000", v.node.url))
        .bearer_auth(&v.token)
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let kinds: Vec<(String, String)> = events
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let saved = kinds.iter().filter(|(k, _)| k == "template_saved").count();
    assert_eq!(saved, 1, "the template was applied exactly once: {kinds:?}");
    until(
        Duration::from_secs(5),
        "the announcement applied",
        || async {
            let e: Value = reqwest::Client::new()
                .get(format!("{}/api/v1/events?limit=1000", v.node.url))
                .bearer_auth(&v.token)
                .send()
                .await
                .expect("events")
                .json()
                .await
                .expect("json");
            e.to_string().contains("Series final on Sunday")
        },
    )
    .await;
    assert!(
        kinds
            .iter()
            .any(|(k, a)| k == "template_saved" && a.contains("cloud")),
        "the hub is the actor: {kinds:?}"
    );
    // A restart of the node applies nothing twice.
    v.node.proc.kill();
    let dir = v.node.dir.clone();
    v.node = NodeProc::start(&dir, &v.leaf, &[]);
    v.token = v.node.token().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/events?limit=1000", v.node.url))
        .bearer_auth(&v.token)
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let saved = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "template_saved")
        .count();
    assert_eq!(saved, 1, "nothing applied twice after a restart");
}

#[tokio::test]
async fn the_admin_pages_show_venues_with_their_node_and_send_to_a_venue() {
    let v = venue().await;
    until(Duration::from_secs(10), "synced", || async {
        v.sync().await["pending"] == 0
    })
    .await;
    let web = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let origin = v.cloud.url.clone();
    let resp = web
        .get(format!("{}/admin", v.cloud.url))
        .send()
        .await
        .expect("admin");
    assert_eq!(
        resp.status().as_u16(),
        303,
        "signed out: to the sign-in page"
    );
    let resp = web
        .post(format!("{}/admin/login", v.cloud.url))
        .header("Origin", &origin)
        .form(&[("key", "pvm_admin_wrong")])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status().as_u16(), 401);
    let resp = web
        .post(format!("{}/admin/login", v.cloud.url))
        .form(&[("key", v.cloud.admin_key.as_str())])
        .send()
        .await
        .expect("login without origin");
    assert_eq!(
        resp.status().as_u16(),
        403,
        "a form from nowhere is refused"
    );
    let resp = web
        .post(format!("{}/admin/login", v.cloud.url))
        .header("Origin", &origin)
        .form(&[("key", v.cloud.admin_key.as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status().as_u16(), 303);
    let html = web
        .get(format!("{}/admin", v.cloud.url))
        .send()
        .await
        .expect("venues")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("Riverside Card Room") && html.contains("online"),
        "{html}"
    );
    let page = format!("{}/admin/venues/{}", v.cloud.url, v.venue);
    let html = web
        .get(&page)
        .send()
        .await
        .expect("venue")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("None: every event arrived in order and verified."),
        "{html}"
    );
    assert!(
        html.contains("staff_user_created"),
        "the venue's events are listed: {html}"
    );
    let html = web
        .post(format!("{page}/announce"))
        .header("Origin", &origin)
        .form(&[("text", "Hub says hello"), ("minutes", "10")])
        .send()
        .await
        .expect("announce")
        .text()
        .await
        .expect("text");
    assert!(html.contains("Sent: it shows on the venue"), "{html}");
    let html = web
        .post(format!("{page}/token"))
        .header("Origin", &origin)
        .send()
        .await
        .expect("token")
        .text()
        .await
        .expect("text");
    assert!(html.contains("pvm_reg_"), "{html}");
    until(
        Duration::from_secs(10),
        "the announcement reaches the venue",
        || async {
            let e: Value = reqwest::Client::new()
                .get(format!("{}/api/v1/events?limit=1000", v.node.url))
                .bearer_auth(&v.token)
                .send()
                .await
                .expect("events")
                .json()
                .await
                .expect("json");
            e.to_string().contains("Hub says hello")
        },
    )
    .await;
}

#[tokio::test]
async fn the_hub_serves_the_venues_displays_from_its_copy_marked_possibly_delayed() {
    use futures_util::StreamExt;
    let v = venue().await;
    v.make_tables(2).await;
    until(Duration::from_secs(10), "synced", || async {
        v.sync().await["pending"] == 0
    })
    .await;
    // Acked by the stream is not yet stored and folded by the hub (on
    // PostgreSQL the fold can trail the ack by a moment): the page answers
    // 404 until the hub has a copy of the venue.
    let url = format!("{}/venues/{}/display/lobby-tv", v.cloud.url, v.venue);
    until(
        Duration::from_secs(10),
        "the hub's copy of the venue",
        || async { reqwest::get(&url).await.map(|r| r.status().as_u16()).ok() == Some(200) },
    )
    .await;
    let page = reqwest::get(&url).await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains(&format!("data-base=\"/venues/{}\"", v.venue))
            && html.contains("data-delayed=\"yes\""),
        "{html}"
    );
    let unknown = reqwest::get(format!(
        "{}/venues/{}/display/lobby-tv",
        v.cloud.url,
        uuid::Uuid::now_v7()
    ))
    .await
    .expect("page");
    assert_eq!(unknown.status().as_u16(), 404);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/venues/{}/display/ws/lobby-tv",
        v.cloud.url.replace("http://", "ws://"),
        v.venue
    ))
    .await
    .expect("ws");
    let frame = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .expect("a frame")
        .expect("open")
        .expect("frame");
    let snap: Value = serde_json::from_str(frame.to_text().expect("text")).expect("json");
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["device"]["id"], "lobby-tv");
    assert!(snap["parts"]["venue"]["name"].is_string());
    assert_eq!(
        snap["parts"]["tables"],
        json!([]),
        "both tables are still closed"
    );
    // A change at the venue reaches the hub's screens too.
    let c = reqwest::Client::new();
    let tables: Value = c
        .get(format!("{}/api/v1/tables", v.node.url))
        .send()
        .await
        .expect("tables")
        .json()
        .await
        .expect("json");
    let id = tables[0]["id"].as_str().expect("id").to_owned();
    c.post(format!("{}/api/v1/tables/{id}/open", v.node.url))
        .bearer_auth(&v.token)
        .send()
        .await
        .expect("open");
    let opened = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            let f: Value = serde_json::from_str(m.to_text().unwrap_or("{}")).unwrap_or_default();
            if f["type"] == "snapshot"
                && f["parts"]["tables"]
                    .as_array()
                    .is_some_and(|t| !t.is_empty())
            {
                return f;
            }
        }
        Value::Null
    })
    .await
    .expect("the opened table shows on the hub's screens");
    assert_eq!(opened["parts"]["tables"][0]["name"], "T0");
}

/// Leaf health: a leaf whose link sticks (simulated with a one-hour reconnect
/// interval, as nats-server #7615 behaves) is restarted by the node once the
/// hub answers again, never while the hub is down; the restart is an event
/// that reaches the hub, and sync resumes.
#[tokio::test]
async fn a_stuck_leaf_is_restarted_when_the_hub_answers_and_not_before() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, "Harbour Poker").await;
    let leaf = Leaf::configure_stuck(&node_dir);
    let run = format!("{} -c {}", nats_bin().display(), leaf.conf.display());
    let monitor = format!("http://127.0.0.1:{}", leaf.monitor);
    let node = NodeProc::start(
        &node_dir,
        &leaf,
        &[
            "--leaf-run",
            &run,
            "--leaf-monitor",
            &monitor,
            "--leaf-restart-after",
            "2",
        ],
    );
    let token = node.token().await;
    let sync = || node.sync(&token);
    until(
        Duration::from_secs(15),
        "the supervised leaf links and the backlog drains",
        || async {
            let s = sync().await;
            s["leaf"]["connected"] == true && s["pending"] == 0 && s["acked_seq"].as_u64() > Some(0)
        },
    )
    .await;
    let s = sync().await;
    assert_eq!(s["leaf"]["restart_method"], "supervised");
    assert_eq!(s["leaf"]["restarts"], 0);
    let ready_leaf = format!("{}/ready?leaf=connected", node.url);
    let status = |url: String| async move {
        reqwest::get(url)
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(
        status(ready_leaf.clone()).await,
        200,
        "ready with its leaf linked"
    );

    // The line goes down: the leaf cannot link, and restarting it would not help.
    hub.stop();
    until(
        Duration::from_secs(10),
        "the leaf link is seen down",
        || async { sync().await["leaf"]["connected"] == false },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let s = sync().await;
    assert_eq!(s["leaf"]["hub_reachable"], false, "{s}");
    assert_eq!(
        s["leaf"]["restarts"], 0,
        "no restart while the hub is down: {s}"
    );
    assert_eq!(
        status(ready_leaf.clone()).await,
        503,
        "not ready for the updater while unlinked"
    );
    assert_eq!(
        status(format!("{}/ready", node.url)).await,
        200,
        "plain readiness is the database only"
    );

    // The line is back, but this leaf will not try again for an hour.
    hub.restart();
    let c = reqwest::Client::new();
    let resp = c
        .post(format!("{}/api/v1/tables", node.url))
        .bearer_auth(&token)
        .json(&json!({"name": "After the outage", "game": "nlhe", "stakes": {"small_blind": 1, "big_blind": 2}, "seats": 9}))
        .send()
        .await
        .expect("table");
    assert!(resp.status().is_success());
    let took = until(
        Duration::from_secs(30),
        "the leaf restarted and the backlog drained",
        || async {
            let s = sync().await;
            s["leaf"]["restarts"] == 1 && s["leaf"]["connected"] == true && s["pending"] == 0
        },
    )
    .await;
    eprintln!("relinked and drained {took:?} after the hub came back");
    let s = sync().await;
    assert!(s["leaf"]["last_restart_ms"].as_u64().is_some(), "{s}");
    assert_eq!(s["leaf"]["last_error"], Value::Null, "{s}");
    // Acked by the hub's JetStream; stored by pvm-cloud a moment later.
    until(
        Duration::from_secs(5),
        "the restart and the table at the hub",
        || async {
            let events = cloud.events(&venue).await;
            let kinds: Vec<String> = events["latest"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["kind"].as_str().map(String::from))
                .collect();
            kinds.iter().any(|k| k == "leaf_restarted")
                && kinds.iter().any(|k| k == "table_created")
        },
    )
    .await;
    let events = cloud.events(&venue).await;
    assert_eq!(events["max_seq"], events["count"], "contiguous");
    assert_eq!(cloud.problems(&venue).await, json!([]));
    // The staff see it on the home page.
    let home = node.staff_page("/").await;
    assert!(home.contains("The leaf was restarted"), "{home}");
}

/// Display images go up to the hub, signed by the node, and the hub's display
/// fallback serves them where the node does; the hub's feed also has SSE.
#[tokio::test]
async fn display_images_reach_the_hub_signed_by_the_node_and_the_feed_has_sse() {
    let v = venue().await;
    let c = reqwest::Client::new();
    // An image as staff would upload it for the logo.
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend_from_slice(uuid::Uuid::now_v7().as_bytes());
    let up: Value = c
        .post(format!("{}/api/v1/media", v.node.url))
        .bearer_auth(&v.token)
        .body(png.clone())
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let name = up["name"].as_str().expect("name").to_owned();
    let logo = c
        .put(format!("{}/api/v1/display-logo", v.node.url))
        .bearer_auth(&v.token)
        .json(&json!({"image": name}))
        .send()
        .await
        .expect("logo");
    assert!(logo.status().is_success());
    let at_hub = format!("{}/display/media/{name}", v.cloud.url);
    let took = until(Duration::from_secs(10), "the image at the hub", || async {
        reqwest::get(&at_hub)
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    eprintln!("the image reached the hub in {took:?}");
    let bytes = reqwest::get(&at_hub)
        .await
        .expect("image")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.as_ref(), png.as_slice());

    // Uploads the hub refuses: unsigned, signed by someone else, the wrong bytes, an unknown node.
    let node: Value = serde_json::from_str(
        &std::fs::read_to_string(v.node.dir.join("hub.json")).expect("hub.json"),
    )
    .expect("json");
    let node_id = node["node_id"].as_str().expect("node");
    let mut other = png.clone();
    other.push(1);
    let other_name = pvm_display::media::name_of(&other).expect("name");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis()
        .to_string();
    let put = |node: String, name: String, body: Vec<u8>, sig: Option<String>| {
        let c = c.clone();
        let url = format!("{}/api/v1/nodes/{node}/media/{name}", v.cloud.url);
        let now = now.clone();
        async move {
            let mut r = c.put(url).header("x-pvm-time", now).body(body);
            if let Some(sig) = sig {
                r = r.header("x-pvm-signature", sig);
            }
            let resp = r.send().await.expect("put");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or_default();
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    assert_eq!(
        put(node_id.into(), other_name.clone(), other.clone(), None).await,
        (401, "unsigned".into())
    );
    use base64::Engine;
    use ed25519_dalek::Signer;
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let forged = base64::engine::general_purpose::STANDARD.encode(
        stranger
            .sign(&pvm_display::media::upload_message(
                node_id.parse().expect("uuid"),
                &other_name,
                now.parse().expect("ms"),
            ))
            .to_bytes(),
    );
    assert_eq!(
        put(
            node_id.into(),
            other_name.clone(),
            other.clone(),
            Some(forged.clone())
        )
        .await,
        (401, "bad_signature".into())
    );
    assert_eq!(
        put(
            uuid::Uuid::now_v7().to_string(),
            other_name.clone(),
            other.clone(),
            Some(forged)
        )
        .await,
        (404, "unknown_node".into())
    );
    assert_eq!(
        reqwest::get(format!("{}/display/media/{other_name}", v.cloud.url))
            .await
            .expect("get")
            .status()
            .as_u16(),
        404,
        "nothing refused was stored"
    );

    // The hub's feed over SSE: a snapshot first, with the logo at the same path.
    let mut sse = c
        .get(format!(
            "{}/venues/{}/display/events/lobby-tv",
            v.cloud.url, v.venue
        ))
        .send()
        .await
        .expect("sse");
    assert_eq!(sse.status().as_u16(), 200);
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(text.contains("\"snapshot\"") && text.contains(&format!("/display/media/{name}"))) {
        assert!(
            Instant::now() < deadline,
            "no snapshot with the logo: {text}"
        );
        if let Ok(Ok(Some(c))) = tokio::time::timeout(Duration::from_secs(2), sse.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&c));
        }
    }
    assert!(
        text.starts_with("id: ") || text.contains("\nid: "),
        "{text}"
    );
}

/// The hub's OpenAPI 3.1 document names every operation it serves: each
/// documented path and method reaches a handler (no 405, no bare 404).
#[tokio::test]
async fn the_hubs_openapi_document_matches_its_routes() {
    let v = venue().await;
    let spec: Value = reqwest::get(format!("{}/api/openapi.json", v.cloud.url))
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    assert_eq!(spec["openapi"], "3.1.0");
    let node = venue_node(&v);
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let c = v.cloud.client();
    for (path, ops) in paths {
        let url = path
            .replace("{id}", &v.venue)
            .replace("{venue}", &v.venue)
            .replace("{node}", &node)
            .replace("{device}", "lobby-tv")
            .replace("{name}", "00000000000000000000000000000000.png")
            .replace("{file}", "SHA256SUMS");
        for method in ops.as_object().expect("ops").keys() {
            let req = match method.as_str() {
                "get" => c.get(format!("{}{url}", v.cloud.url)),
                "post" => c.post(format!("{}{url}", v.cloud.url)).json(&json!({})),
                "put" => c.put(format!("{}{url}", v.cloud.url)).body(""),
                "patch" => c.patch(format!("{}{url}", v.cloud.url)).json(&json!({})),
                other => panic!("unexpected method {other} for {path}"),
            };
            let resp = tokio::time::timeout(Duration::from_secs(5), req.send())
                .await
                .expect("answers")
                .expect("request");
            let status = resp.status().as_u16();
            assert_ne!(status, 405, "{method} {path}: not routed");
            if status == 404 {
                let body = resp.text().await.unwrap_or_default();
                assert!(body.contains("\"error\""), "{method} {path}: no such route");
            }
        }
    }
}

fn venue_node(v: &Venue) -> String {
    let link: Value = serde_json::from_str(
        &std::fs::read_to_string(v.node.dir.join("hub.json")).expect("hub.json"),
    )
    .expect("json");
    link["node_id"].as_str().expect("node").to_owned()
}
