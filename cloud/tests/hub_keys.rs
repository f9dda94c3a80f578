//! Rotating and retiring the hub's signing key without downtime, with real
//! processes: a registered node keeps applying what the hub sends across a
//! rotation (it is told the new key, signed by the old one, before anything
//! is signed by the new one); an old key stays trusted until it is retired,
//! then a message it signs is ignored; a message signed by a key the hub
//! never had is ignored throughout; a restarted hub signs with the new key;
//! a node registered after the rotation trusts only the hub's keys.

mod common;

use base64::Engine;
use common::*;
use ed25519_dalek::SigningKey;
use serde_json::json;
use std::time::Duration;

/// An announcement through the hub, waited for until the node says it
/// applied it.
async fn applied(cloud: &Cloud, venue: &str, text: &str) {
    let c = cloud.client();
    let (s, sent) = call(
        &c,
        "POST",
        format!("{}/api/v1/actions", cloud.url),
        Some(json!({"venues": [venue], "announcement": {"text": text, "minutes": 5}})),
    )
    .await;
    assert_eq!(s, 201, "{sent}");
    let id = sent["id"].as_str().expect("id").to_owned();
    until(
        Duration::from_secs(30),
        &format!("{text:?} applied"),
        || {
            let c = c.clone();
            let url = format!("{}/api/v1/actions/{id}", cloud.url);
            async move {
                let (_, a) = call(&c, "GET", url, None).await;
                a["deliveries"][0]["state"] == "applied"
            }
        },
    )
    .await;
}

/// The hex keys in a node's `hub.pub`.
fn trusted_at(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("hub.pub"))
        .expect("hub.pub")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Publishes an announcement for `venue` signed by `key`, straight onto
/// PVM_DOWN (as someone holding the hub's message-server credentials could).
async fn forged(hub: &HubNats, venue: &str, key: &SigningKey, text: &str) {
    let message = pvm_shared::down::DownMessage {
        id: uuid::Uuid::now_v7(),
        venue_id: venue.parse().expect("venue"),
        issued_ms: pvm_cloud::now_ms() as u64,
        body: pvm_shared::down::DownBody::Announcement {
            id: uuid::Uuid::now_v7(),
            text: text.into(),
            group: None,
            until_ms: pvm_cloud::now_ms() as u64 + 600_000,
        },
        sig: String::new(),
    }
    .sign(key);
    let nats = async_nats::ConnectOptions::with_user_and_password(
        CLOUD_NATS_USER.into(),
        CLOUD_NATS_PASSWORD.into(),
    )
    .connect(format!("nats://127.0.0.1:{}", hub.port))
    .await
    .expect("hub client");
    async_nats::jetstream::new(nats)
        .publish(
            format!("pvm.down.{venue}.announcement"),
            serde_json::to_vec(&message).expect("json").into(),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
}

/// Whether the node's log holds an announcement with `text`.
async fn shown(node: &NodeProc, text: &str) -> bool {
    let token = node.token().await;
    let (_, events) = call(
        &bearer(&token),
        "GET",
        format!("{}/api/v1/events?after=0&limit=1000", node.url),
        None,
    )
    .await;
    events.to_string().contains(text)
}

/// A token for the node's venue signed by `key` (as the hub signs them):
/// the status of `GET /api/v1/staff` with it.
async fn token_status(node: &NodeProc, venue: &str, key: &SigningKey) -> u16 {
    let token = hub_token(venue, key);
    call(
        &bearer(&token),
        "GET",
        format!("{}/api/v1/staff", node.url),
        None,
    )
    .await
    .0
}

fn hex_of(public_b64: &str) -> String {
    hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(public_b64)
            .expect("base64"),
    )
}

#[tokio::test]
async fn the_hub_key_rotates_and_retires_without_a_message_lost() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hub = HubNats::start(&tmp.path().join("hub"));
    let cloud_dir = tmp.path().join("cloud");
    let cloud = Cloud::start(&cloud_dir, &hub);
    let admin = cloud.client();
    let url = |p: &str| format!("{}{p}", cloud.url);
    let dir = tmp.path().join("node");
    let venue = registered_node(&dir, &cloud, "Harbour").await;
    let leaf = Leaf::start(&dir);
    let node = NodeProc::start(&dir, &leaf, &[]);
    applied(&cloud, &venue, "Before the rotation").await;

    let (s, keys) = call(&admin, "GET", url("/api/v1/hub/keys"), None).await;
    assert_eq!(s, 200, "{keys}");
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(1));
    let old_kid = keys["current"].as_str().expect("kid").to_owned();
    let old_hex = hex_of(keys["keys"][0]["public_key"].as_str().expect("key"));
    assert_eq!(trusted_at(&dir), std::slice::from_ref(&old_hex));

    // Rotate: the node is told to trust the new key too, then the hub
    // signs with it; nothing sent meanwhile is lost.
    let (s, rotated) = call(&admin, "POST", url("/api/v1/hub/keys/rotate"), None).await;
    assert_eq!(s, 200, "{rotated}");
    assert_eq!(rotated["venues"], 1);
    let new_kid = rotated["current"].as_str().expect("kid").to_owned();
    assert_ne!(new_kid, old_kid);
    let new_hex = hex_of(
        rotated["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["current"] == true)
            .expect("current")["public_key"]
            .as_str()
            .expect("key"),
    );
    applied(&cloud, &venue, "After the rotation").await;
    assert_eq!(trusted_at(&dir), [old_hex.clone(), new_hex.clone()]);
    // A key the hub never had is ignored; the old key is still trusted.
    let stranger = SigningKey::from_bytes(&[77; 32]);
    forged(&hub, &venue, &stranger, "Forged by a stranger").await;
    let old_secret: [u8; 32] =
        std::fs::read(cloud_dir.join("hub-keys").join(format!("{old_kid}.key")))
            .expect("the replaced key is kept")
            .try_into()
            .expect("32 bytes");
    let old_key = SigningKey::from_bytes(&old_secret);
    forged(&hub, &venue, &old_key, "Signed by the old key").await;
    applied(&cloud, &venue, "After the forgeries").await;
    assert!(!shown(&node, "Forged by a stranger").await);
    // Tokens the new key signs count at the node at once, the old key's still.
    let new_secret: [u8; 32] = std::fs::read(cloud_dir.join("hub.key"))
        .expect("hub.key")
        .try_into()
        .expect("32 bytes");
    let new_key = SigningKey::from_bytes(&new_secret);
    assert_eq!(token_status(&node, &venue, &new_key).await, 200);
    assert_eq!(token_status(&node, &venue, &old_key).await, 200);
    assert_eq!(token_status(&node, &venue, &stranger).await, 401);
    assert!(
        shown(&node, "Signed by the old key").await,
        "still trusted: {}",
        node.proc.logs()
    );

    // Retire the old key: not the current one, not at once.
    let (s, v) = call(
        &admin,
        "POST",
        url("/api/v1/hub/keys/retire"),
        Some(json!({"kid": new_kid})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("current_key")),
        "{v}"
    );
    let (s, v) = call(
        &admin,
        "POST",
        url("/api/v1/hub/keys/retire"),
        Some(json!({"kid": "0123456789abcdef"})),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = call(
        &admin,
        "POST",
        url("/api/v1/hub/keys/retire"),
        Some(json!({"kid": old_kid})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("just_rotated")),
        "{v}"
    );
    until(Duration::from_secs(30), "the old key retired", || {
        let admin = admin.clone();
        let u = url("/api/v1/hub/keys/retire");
        let kid = old_kid.clone();
        async move {
            let (s, _) = call(&admin, "POST", u, Some(json!({"kid": kid}))).await;
            s == 200
        }
    })
    .await;
    until(
        Duration::from_secs(30),
        "the node dropping the old key",
        || async { trusted_at(&dir) == [new_hex.clone()] },
    )
    .await;
    forged(&hub, &venue, &old_key, "Signed by the retired key").await;
    applied(&cloud, &venue, "After the retirement").await;
    assert!(!shown(&node, "Signed by the retired key").await);
    assert_eq!(
        token_status(&node, &venue, &old_key).await,
        401,
        "a retired key's token is refused without a restart"
    );
    assert_eq!(token_status(&node, &venue, &new_key).await, 200);

    // A restarted hub signs with the new key; a node registered now trusts it only.
    drop(cloud);
    let cloud = Cloud::start(&cloud_dir, &hub);
    let (_, keys) = call(
        &cloud.client(),
        "GET",
        format!("{}/api/v1/hub/keys", cloud.url),
        None,
    )
    .await;
    assert_eq!(keys["current"], new_kid.as_str());
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(1));
    applied(&cloud, &venue, "After the hub restarted").await;
    let later = tmp.path().join("later");
    registered_node(&later, &cloud, "Riverside").await;
    assert_eq!(trusted_at(&later), [new_hex]);
}
