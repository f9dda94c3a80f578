//! Rotating a venue's leaf credentials without downtime, with real
//! processes: a registered node whose leaf it runs itself (`--leaf-run`) is
//! asked for new credentials; it takes them over HTTPS with its own key,
//! restarts its leaf with them, tells the hub, and the hub drops the old
//! user. Events made afterwards reach the hub; a leaf with the old
//! credentials cannot link any more; an unknown node is 404.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn leaf_user(dir: &std::path::Path) -> (String, String) {
    let link: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("hub.json")).expect("hub.json"))
            .expect("json");
    (
        link["leaf_user"].as_str().expect("user").to_owned(),
        link["leaf_password"].as_str().expect("password").to_owned(),
    )
}

/// How many links the leaf whose monitoring port is `monitor` has.
async fn links(monitor: u16) -> u64 {
    let v: Value = match reqwest::get(format!("http://127.0.0.1:{monitor}/leafz")).await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    v["leafnodes"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_venues_leaf_credentials_rotate_and_the_old_ones_stop_linking() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let admin = cloud.client();
    let dir = tmp.path().join("node");
    let venue = registered_node(&dir, &cloud, "Harbour").await;
    let leaf = Leaf::configure(&dir);
    let run = format!("{} -c {}", nats_bin().display(), leaf.conf.display());
    let monitor = format!("http://127.0.0.1:{}", leaf.monitor);
    let conf = leaf.conf.display().to_string();
    let node = NodeProc::start(
        &dir,
        &leaf,
        &[
            "--leaf-run",
            &run,
            "--leaf-monitor",
            &monitor,
            "--leaf-conf",
            &conf,
        ],
    );
    let token = node.token().await;
    until(Duration::from_secs(30), "the leaf linked", || async {
        node.sync(&token).await["leaf"]["connected"] == json!(true)
    })
    .await;
    let node_id = std::fs::read_to_string(dir.join("node.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["node_id"].as_str().map(str::to_owned))
        .expect("node id");
    let (old_user, old_password) = leaf_user(&dir);
    let users = hub.dir.join("users.conf");
    assert!(std::fs::read_to_string(&users)
        .expect("users")
        .contains(&old_user));

    // Unknown: 404.
    let (s, _) = call(
        &admin,
        "POST",
        format!(
            "{}/api/v1/nodes/{}/leaf-credentials",
            cloud.url,
            uuid::Uuid::now_v7()
        ),
        None,
    )
    .await;
    assert_eq!(s, 404);
    // Only the node itself takes them: a signature not its own is 401, a
    // clock far off 422, the same signed request twice 409 (a replay).
    let key_hex = std::fs::read_to_string(dir.join("node.key")).expect("node.key");
    let mut key = [0u8; 32];
    hex::decode_to_slice(key_hex.trim(), &mut key).expect("hex");
    let key = ed25519_dalek::SigningKey::from_bytes(&key);
    let signed = |key: &ed25519_dalek::SigningKey, at_ms: u64| {
        use base64::Engine;
        use ed25519_dalek::Signer;
        let statement = pvm_shared::signing::leaf_credentials_statement(
            node_id.parse().expect("node"),
            venue.parse().expect("venue"),
            at_ms,
            None,
        );
        json!({
            "node_id": node_id, "venue_id": venue, "at_ms": at_ms,
            "signature": base64::engine::general_purpose::STANDARD.encode(key.sign(&statement).to_bytes()),
        })
    };
    let take = format!("{}/api/v1/leaf-credentials", cloud.url);
    let now = pvm_cloud::now_ms() as u64;
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let (s, v) = call(
        &reqwest::Client::new(),
        "POST",
        take.clone(),
        Some(signed(&stranger, now)),
    )
    .await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = call(
        &reqwest::Client::new(),
        "POST",
        take.clone(),
        Some(signed(&key, now - 3_600_000)),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let request = signed(&key, now - 60_000);
    let (s, v) = call(
        &reqwest::Client::new(),
        "POST",
        take.clone(),
        Some(request.clone()),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(&reqwest::Client::new(), "POST", take.clone(), Some(request)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("replayed")),
        "{v}"
    );

    // Asked: the node takes new ones, links with them, the hub drops the old.
    let (s, asked) = call(
        &admin,
        "POST",
        format!("{}/api/v1/nodes/{node_id}/leaf-credentials", cloud.url),
        None,
    )
    .await;
    assert_eq!(s, 202, "{asked}");
    let took = until(
        Duration::from_secs(90),
        "the new credentials in use and the old user gone",
        || async {
            let (user, _) = leaf_user(&dir);
            let file = std::fs::read_to_string(&users).unwrap_or_default();
            user != old_user && file.contains(&user) && !file.contains(&old_user)
        },
    )
    .await;
    println!("rotated in {took:?}");
    let (new_user, new_password) = leaf_user(&dir);
    let text = std::fs::read_to_string(&leaf.conf).expect("leaf.conf");
    assert!(text.contains(&new_password) && !text.contains(&old_password));
    // The node says how it went.
    until(
        Duration::from_secs(30),
        "the node reporting it applied",
        || async {
            let (_, events) = call(
                &bearer(&token),
                "GET",
                format!("{}/api/v1/events?after=0&limit=1000", node.url),
                None,
            )
            .await;
            events.as_array().is_some_and(|e| {
                e.iter().any(|e| {
                    e["kind"] == "down_handled"
                        && e["payload"]["kind"] == "leaf_credentials"
                        && e["payload"]["outcome"] == "applied"
                })
            })
        },
    )
    .await;
    // Events made now reach the hub through the new link.
    make_tables(&node, &token, 0, 3).await;
    let head = node.sync(&token).await["head_seq"].as_u64().expect("head");
    until(
        Duration::from_secs(30),
        "the new events at the hub",
        || async { cloud.events(&venue).await["count"].as_u64() == Some(head) },
    )
    .await;
    assert_eq!(node.sync(&token).await["leaf"]["connected"], json!(true));

    // A leaf with the old credentials links no more (the hub reloaded its
    // users), while the same leaf with the new ones does.
    let with = |user: &str, password: &str| {
        let (port, mon) = (free_port(), free_port());
        let conf = text
            .replace(
                &format!("://{new_user}:{new_password}@"),
                &format!("://{user}:{password}@"),
            )
            .replace(
                &format!("port: {}\n", leaf.port),
                &format!("port: {port}\n"),
            )
            .replace(
                &format!("\"127.0.0.1:{}\"", leaf.monitor),
                &format!("\"127.0.0.1:{mon}\""),
            )
            .replace("server_name: \"", &format!("server_name: \"{user}-"));
        assert!(conf.contains(user) && conf.contains(&format!("port: {port}")));
        let path = tmp.path().join(format!("{user}.conf"));
        std::fs::write(&path, &conf).expect("conf");
        let child = std::process::Command::new(nats_bin())
            .arg("-c")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("leaf");
        wait_port(mon, Duration::from_secs(10));
        (child, mon)
    };
    let (mut control, control_mon) = with(&new_user, &new_password);
    until(
        Duration::from_secs(15),
        "a leaf with the new credentials linked",
        || async { links(control_mon).await > 0 },
    )
    .await;
    let _ = control.kill();
    let _ = control.wait();
    let (mut old_leaf, old_mon) = with(&old_user, &old_password);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let old_links = links(old_mon).await;
    let _ = old_leaf.kill();
    let _ = old_leaf.wait();
    assert_eq!(old_links, 0, "the old credentials still link");
    assert!(links(leaf.monitor).await > 0, "the node's leaf links");
}
