//! Fleet actions on real processes: a hub (nats-server, pvm-cloud) and a
//! registered pvm-node with its leaf. Revoking the node: what it sends
//! afterwards is refused, its leaf cannot link again (the venue's leaf user
//! left the hub's nats-server), and what it sent before stays. A remote
//! wipe: reported, then the node's data erased.

#[path = "../../node/tests/common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The leaf's live links to the hub, from its monitoring port.
async fn leaf_links(leaf: &Leaf) -> u64 {
    let v: Value = match reqwest::get(format!("http://127.0.0.1:{}/leafz", leaf.monitor)).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    };
    v["leafnodes"].as_u64().unwrap_or(0)
}

/// A hub and a registered node with its leaf, whose first `tables` tables
/// (and the rest of its log) the hub holds.
struct Linked {
    cloud: Cloud,
    node_dir: std::path::PathBuf,
    venue: String,
    node_id: String,
    leaf: Leaf,
    node: NodeProc,
    token: String,
    head: i64,
    _hub: HubNats,
    _tmp: tempfile::TempDir,
}

async fn linked(name: &str, tables: usize) -> Linked {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud = Cloud::start(&tmp.path().join("cloud"), &hub);
    let node_dir = tmp.path().join("node");
    let venue = registered_node(&node_dir, &cloud, name).await;
    let leaf = Leaf::start(&node_dir);
    let node = NodeProc::start(&node_dir, &leaf, &[]);
    let token = node.token().await;
    make_tables(&node, &token, 0, tables).await;
    let head = node.sync(&token).await["head_seq"]
        .as_i64()
        .expect("head_seq");
    until(
        Duration::from_secs(30),
        "the node's events at the hub",
        || async { cloud.events(&venue).await["max_seq"].as_i64() == Some(head) },
    )
    .await;
    let nodes: Value = cloud
        .client()
        .get(format!("{}/api/v1/nodes", cloud.url))
        .send()
        .await
        .expect("nodes")
        .json()
        .await
        .expect("json");
    let node_id = nodes[0]["node_id"].as_str().expect("node id").to_owned();
    Linked {
        cloud,
        node_dir,
        venue,
        node_id,
        leaf,
        node,
        token,
        head,
        _hub: hub,
        _tmp: tmp,
    }
}

#[tokio::test]
async fn a_revoked_node_is_refused_cannot_link_again_and_keeps_its_history() {
    let Linked {
        cloud,
        node_dir,
        venue,
        node_id,
        mut leaf,
        node,
        token,
        head,
        _hub,
        _tmp,
        ..
    } = linked("Riverside Card Room", 5).await;
    assert_eq!(leaf_links(&leaf).await, 1, "linked before the revoke");
    let c = cloud.client();
    let revoke = |id: String, key: Option<String>| {
        let mut req =
            reqwest::Client::new().post(format!("{}/api/v1/nodes/{id}/revoke", cloud.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        async move {
            let r = req.send().await.expect("revoke");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };

    // Only the admin may; an unknown node is named.
    let (status, body) = revoke(node_id.clone(), None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = revoke(
        uuid::Uuid::new_v4().to_string(),
        Some(cloud.admin_key.clone()),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "unknown_node");
    assert_eq!(
        leaf_links(&leaf).await,
        1,
        "a refused revoke changes nothing"
    );

    let (status, body) = revoke(node_id.clone(), Some(cloud.admin_key.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["venue_id"], venue.as_str());
    let at = body["revoked_ms"].as_i64().expect("revoked_ms");
    // Said again: the same answer (and the users file written again).
    let (status, again) = revoke(node_id.clone(), Some(cloud.admin_key.clone())).await;
    assert_eq!((status, &again["revoked_ms"]), (200, &json!(at)));

    // What the node makes now is refused (nats-server 2.15 does not drop a
    // live leaf link whose user went: the hub refuses what comes on it).
    make_tables(&node, &token, 5, 3).await;
    until(
        Duration::from_secs(15),
        "the node's new events refused",
        || async {
            cloud
                .problems(&venue)
                .await
                .to_string()
                .contains("node_revoked")
        },
    )
    .await;
    let events = cloud.events(&venue).await;
    assert_eq!(events["max_seq"].as_i64(), Some(head), "{events}");
    assert!(
        node.sync(&token).await["head_seq"].as_i64() > Some(head),
        "the node itself works on"
    );
    // Once its link drops, the leaf cannot link again.
    leaf.stop();
    leaf.restart();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(leaf_links(&leaf).await, 0, "the leaf cannot link again");
    let listed: Value = c
        .get(format!("{}/api/v1/nodes", cloud.url))
        .send()
        .await
        .expect("nodes")
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["status"], "revoked");
    assert_eq!(listed[0]["revoked_ms"], json!(at));
    let venues: Value = c
        .get(format!("{}/api/v1/venues", cloud.url))
        .send()
        .await
        .expect("venues")
        .json()
        .await
        .expect("json");
    assert_eq!(venues[0]["status"], "revoked");

    // A revoked box may not move its venue to a new node id, even with its
    // own key and leaf password (a thief has both): proven, then refused.
    let link = pvm_node::sync::HubLink::load(&node_dir)
        .expect("hub.json")
        .expect("registered");
    let identity = pvm_node::identity::NodeIdentity::load(&node_dir).expect("node key");
    let new_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let new_node = uuid::Uuid::now_v7();
    let statement =
        pvm_shared::resync::statement(link.node_id, new_node, link.venue_id, new_key.as_bytes());
    let signature = ed25519_dalek::Signer::sign(&identity.key, &statement);
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let resync = |password: String| {
        reqwest::Client::new()
            .post(format!("{}/api/v1/resync", cloud.url))
            .json(&json!({
                "node_id": link.node_id,
                "new_node_id": new_node,
                "venue_id": link.venue_id,
                "public_key": b64(new_key.as_bytes()),
                "leaf_password": password,
                "signature": b64(&signature.to_bytes()),
            }))
            .send()
    };
    // Without the password it learns nothing about the revoke.
    let stranger = resync("not-the-password".into()).await.expect("resync");
    assert_eq!(stranger.status().as_u16(), 401);
    let resync = resync(link.leaf_password.clone()).await.expect("resync");
    assert_eq!(resync.status().as_u16(), 403);
    let body: Value = resync.json().await.expect("json");
    assert_eq!(body["error"]["code"], "node_revoked");

    // Nor upload a display image, signed by its own key.
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend_from_slice(uuid::Uuid::now_v7().as_bytes());
    let name = pvm_display::media::name_of(&png).expect("name");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as u64;
    let sig = ed25519_dalek::Signer::sign(
        &identity.key,
        &pvm_display::media::upload_message(link.node_id, &name, now),
    );
    let upload = reqwest::Client::new()
        .put(format!(
            "{}/api/v1/nodes/{}/media/{name}",
            cloud.url, link.node_id
        ))
        .header("x-pvm-time", now.to_string())
        .header("x-pvm-signature", b64(&sig.to_bytes()))
        .body(png)
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status().as_u16(), 403);
}

#[tokio::test]
async fn a_wiped_node_reports_the_order_then_erases_itself_and_starts_at_first_boot() {
    let Linked {
        cloud,
        node_dir,
        venue,
        node_id,
        mut node,
        leaf,
        head,
        _hub,
        _tmp,
        ..
    } = linked("Harbour Poker Club", 3).await;
    let c = cloud.client();
    let wipe = |id: String| {
        let req = c.post(format!("{}/api/v1/nodes/{id}/wipe", cloud.url));
        async move {
            let r = req.send().await.expect("wipe");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or_default(),
            )
        }
    };
    let (status, body) = wipe(uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = wipe(node_id.clone()).await;
    assert_eq!(status, 202, "{body}");
    // The node reports, stops by itself (exit 0) and erases its data dir.
    let exited = until(
        Duration::from_secs(30),
        "the node stopping by itself",
        || {
            let done = matches!(node.proc.child.try_wait(), Ok(Some(_)));
            async move { done }
        },
    )
    .await;
    eprintln!("node stopped {exited:?} after the order");
    let status = node.proc.child.wait().expect("status");
    assert!(status.success(), "{status}: {}", node.proc.logs());
    // The hub got the record of the order before the node erased anything.
    let events = cloud.events(&venue).await;
    assert!(
        events["latest"]
            .as_array()
            .expect("latest")
            .iter()
            .any(|e| e["kind"] == "wipe_ordered"),
        "{events}"
    );
    assert_eq!(events["max_seq"].as_i64(), Some(head + 1), "{events}");
    let left: Vec<_> = std::fs::read_dir(&node_dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    // Only the lock file and the leaf's two mounted files (cut down to no
    // hub, `node/src/wipe.rs`) may stay.
    assert!(
        left.iter()
            .all(|n| ["pvm-node.lock", "leaf.conf", "leaf.ca.pem"]
                .contains(&n.to_str().unwrap_or_default())),
        "the data dir is erased: {left:?}"
    );

    // The next start is a first boot: a new identity, no hub, the setup page.
    let fresh = NodeProc::start(&node_dir, &leaf, &[]);
    let setup = reqwest::get(format!("{}/setup", fresh.url))
        .await
        .expect("setup");
    assert_eq!(setup.status().as_u16(), 200);
    assert!(!node_dir.join("hub.json").exists());
    let identity = std::fs::read_to_string(node_dir.join("node.json")).unwrap_or_default();
    assert!(!identity.contains(&node_id), "a new node id: {identity}");

    // A marker left behind (the power went between the order and the
    // erase) makes the next start erase first.
    drop(fresh);
    std::fs::write(node_dir.join("WIPE"), b"").expect("marker");
    let again = NodeProc::start(&node_dir, &leaf, &[]);
    let after = std::fs::read_to_string(node_dir.join("node.json")).unwrap_or_default();
    assert!(
        !after.is_empty() && after != identity,
        "erased at start, a new identity again: {after}"
    );
    assert!(!node_dir.join("WIPE").exists());
    drop(again);
}

/// With `PVM_SCREENSHOT_DIR` set, keeps a full-page screenshot there (to look at).
async fn shot(b: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("PVM_SCREENSHOT_DIR") {
        b.full_screenshot(&std::path::Path::new(&dir).join(name))
            .await;
    }
}

async fn admin_login(b: &Browser, cloud: &Cloud) {
    b.goto(&format!("{}/admin/login", cloud.url)).await;
    // The admin key's form is folded under the staff sign-in.
    b.click("details summary").await;
    b.type_into("details input[name=key]", &cloud.admin_key)
        .await;
    b.click_and_wait("details button[type=submit]").await;
}

/// The venue page as an operator uses it, in headless Chromium at phone
/// and desktop width: erase the node, then revoke it, through the forms.
#[tokio::test]
async fn the_venue_page_erases_then_revokes_a_node_through_its_forms() {
    let Linked {
        cloud,
        venue,
        mut node,
        leaf: _leaf,
        _hub,
        _tmp,
        ..
    } = linked("Riverside Card Room", 2).await;
    let page = format!("{}/admin/venues/{venue}", cloud.url);

    let desk = Browser::start(1280, 900).await;
    admin_login(&desk, &cloud).await;
    desk.goto(&page).await;
    shot(&desk, "hub-venue-1280.png").await;
    desk.quit().await;

    let phone = Browser::start(390, 844).await;
    admin_login(&phone, &cloud).await;
    phone.goto(&page).await;
    shot(&phone, "hub-venue-390.png").await;
    let fits = phone
        .eval("return document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, Value::Bool(true), "the venue page fits a phone");
    phone
        .click("form[action$='/wipe'] input[name=confirm]")
        .await;
    phone
        .click_and_wait("form[action$='/wipe'] button[type=submit]")
        .await;
    let text = phone.eval("return document.body.innerText").await;
    assert!(
        text.as_str()
            .unwrap_or_default()
            .contains("erases its data at its next contact"),
        "{text}"
    );
    until(Duration::from_secs(30), "the node erasing itself", || {
        let done = matches!(node.proc.child.try_wait(), Ok(Some(_)));
        async move { done }
    })
    .await;
    phone
        .click("form[action$='/revoke'] input[name=confirm]")
        .await;
    phone
        .click_and_wait("form[action$='/revoke'] button[type=submit]")
        .await;
    let text = phone.eval("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("Revoked: node"), "{text}");
    assert!(text.contains("revoked"), "the status says so: {text}");
    assert!(
        !text.contains("Revoke the node") && !text.contains("Erase the node"),
        "no forms for a revoked node: {text}"
    );
    shot(&phone, "hub-venue-revoked-390.png").await;
    phone.quit().await;
}
