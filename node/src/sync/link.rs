//! Registering with a hub, `resync` after a fork, and the leaf nats-server's
//! configuration (with the leaf link's CA).

use super::*;

/// `pvm-node register`: sends the node's key with a one-time token and keeps what the hub answers.
pub async fn register(
    dir: &Path,
    hub_url: &str,
    token: &str,
    reach: &Reach,
) -> Result<HubLink, String> {
    let hub_url = hub_url.trim_end_matches('/');
    check_hub_url(hub_url, reach.insecure_http)?;
    if let Some(link) = HubLink::load(dir)? {
        return Err(format!(
            "this node is already registered with {} (venue {}); remove {} to register again",
            link.hub_url,
            link.venue_id,
            dir.join(HUB_FILE).display()
        ));
    }
    crate::identity::prepare_data_dir(dir).map_err(|e| e.to_string())?;
    let (identity, _) = NodeIdentity::load_or_create(dir).map_err(|e| e.to_string())?;
    use base64::Engine;
    let key =
        base64::engine::general_purpose::STANDARD.encode(identity.key.verifying_key().as_bytes());
    let client = hub_client(reach.hub_ca.as_deref(), Duration::from_secs(20))?;
    let resp = client
        .post(format!("{hub_url}/api/v1/register"))
        .json(&serde_json::json!({
            "token": token.trim(),
            "node_id": identity.node_id,
            "venue_id": identity.venue_id,
            "public_key": key,
        }))
        .send()
        .await
        .map_err(|e| format!("cannot reach the hub at {hub_url}: {}", causes(&e)))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        return Err(format!(
            "the hub refused the registration ({status}): {message}"
        ));
    }
    let mut link: HubLink = serde_json::from_value(body.clone())
        .map_err(|e| format!("the hub's answer was not understood: {e}"))?;
    link.hub_url = hub_url.to_owned();
    link.hub_ca = reach.hub_ca.clone();
    match &link.leaf_ca {
        Some(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
        Some(_) => return Err("the hub's leaf CA is not a PEM certificate".into()),
        None if reach.insecure_http => {}
        None => return Err(
            "the hub offers no TLS on the leaf link (no leaf_ca in its answer): nothing was kept"
                .into(),
        ),
    }
    let hub_keys = hub_keys_of(&body, &link.hub_public_key)?;
    write_secret(
        &dir.join(HUB_FILE),
        &serde_json::to_string_pretty(&link).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("writing {}: {e}", dir.join(HUB_FILE).display()))?;
    write_secret(
        &dir.join(crate::identity::HUB_KEY_FILE),
        &crate::identity::hub_keys_text(&hub_keys),
    )
    .map_err(|e| format!("writing the hub key: {e}"))?;
    Ok(link)
}

/// Every key the hub's answer says to trust, its current one last (an
/// older hub names only its current one); at most `MAX_HUB_KEYS`.
fn hub_keys_of(
    body: &serde_json::Value,
    current: &str,
) -> Result<Vec<ed25519_dalek::VerifyingKey>, String> {
    use base64::Engine;
    let mut named: Vec<String> = body["hub_public_keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    named.retain(|k| k != current);
    named.push(current.to_owned());
    let mut hub_keys = Vec::new();
    for k in named
        .iter()
        .rev()
        .take(pvm_shared::down::MAX_HUB_KEYS)
        .rev()
    {
        let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(k)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| "the hub's key is not a base64 ed25519 key".to_string())?;
        hub_keys.push(
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| "the hub's key is not an ed25519 key".to_string())?,
        );
    }
    Ok(hub_keys)
}

/// A resync under way: the new node id and key, kept until it is done so a
/// resync cut short is finished by running it again.
pub(crate) const RESYNC_FILE: &str = "resync.json";

#[derive(Serialize, Deserialize)]
pub(crate) struct PendingResync {
    node_id: Uuid,
    key: String,
}

/// `pvm-node resync` (the node stopped): gives a log that forked from the
/// hub's copy a fresh start at the hub. The log is rebuilt under a new node
/// id and key (every event kept, in order, chained anew and signed); the old
/// key vouches for the new one at the hub, which keeps the old node's events
/// as they were and takes this log in full under the new id. The old
/// database and identity stay in the data dir as `*.forked-<ms>`.
pub async fn resync(dir: &Path, now_ms: u64) -> Result<HubLink, String> {
    let link = HubLink::load(dir)?.ok_or_else(|| {
        "this node is not registered with a hub; there is nothing to resync".to_string()
    })?;
    let old = NodeIdentity::load(dir).map_err(|e| e.to_string())?;
    let pending_path = dir.join(RESYNC_FILE);
    let pending: PendingResync = match std::fs::read(&pending_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: {e}", pending_path.display()))?,
        Err(_) => {
            let p = PendingResync {
                node_id: Uuid::now_v7(),
                key: hex::encode(
                    ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng).to_bytes(),
                ),
            };
            let text = serde_json::to_string(&p).map_err(|e| e.to_string())?;
            write_secret(&pending_path, &text)
                .map_err(|e| format!("writing {}: {e}", pending_path.display()))?;
            p
        }
    };
    let mut key = [0u8; 32];
    hex::decode_to_slice(&pending.key, &mut key)
        .map_err(|e| format!("{}: the key is not hex: {e}", pending_path.display()))?;
    let new = NodeIdentity {
        node_id: pending.node_id,
        venue_id: link.venue_id,
        key: ed25519_dalek::SigningKey::from_bytes(&key),
    };
    if old.node_id == new.node_id && link.node_id == new.node_id {
        let _ = std::fs::remove_file(&pending_path);
        return Ok(link);
    }
    // 1. The log rebuilt under the new identity, beside the old one.
    let db_path = dir.join(crate::store::DB_FILE);
    let fresh = dir.join(format!("{}.resync", crate::store::DB_FILE));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    {
        let db = crate::store::Db::open(&db_path)
            .await
            .map_err(|e| e.to_string())?;
        let source = Reader::new(&db).await.map_err(|e| e.to_string())?;
        let rebuilt = crate::store::reseal_into(&source, &fresh, &new)
            .await
            .map_err(|e| format!("rebuilding the log: {e}"))?;
        let summary = rebuilt
            .verify_log(new.key.verifying_key(), new.node_id, new.venue_id)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|p| format!("the rebuilt log does not verify: {p}"))?;
        tracing::info!(events = summary.events, "log rebuilt under the new node id");
    }
    // 2. The hub moves the venue to the new node id (the old key vouches).
    use base64::Engine;
    use ed25519_dalek::Signer;
    let new_key = new.key.verifying_key().to_bytes();
    let statement =
        pvm_shared::resync::statement(old.node_id, new.node_id, link.venue_id, &new_key);
    let b64 = base64::engine::general_purpose::STANDARD;
    let client = hub_client(link.hub_ca.as_deref(), Duration::from_secs(20))?;
    let resp = client
        .post(format!("{}/api/v1/resync", link.hub_url))
        .json(&serde_json::json!({
            "node_id": old.node_id,
            "new_node_id": new.node_id,
            "venue_id": link.venue_id,
            "public_key": b64.encode(new_key),
            "leaf_password": link.leaf_password,
            "signature": b64.encode(old.key.sign(&statement).to_bytes()),
        }))
        .send()
        .await
        .map_err(|e| format!("cannot reach the hub at {}: {}", link.hub_url, causes(&e)))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        return Err(format!("the hub refused the resync ({status}): {message}"));
    }
    // The hub's keys as they are now (a rotation may have come while this
    // node's log forked: its new consumer starts at new messages only).
    if let Some(current) = body["hub_public_key"].as_str() {
        let keys = hub_keys_of(&body, current)?;
        write_secret(
            &dir.join(crate::identity::HUB_KEY_FILE),
            &crate::identity::hub_keys_text(&keys),
        )
        .map_err(|e| format!("writing the hub key: {e}"))?;
    }
    // 3. The files: the old log and identity kept aside, the new ones in place.
    let tag = now_ms.to_string();
    for suffix in ["", "-wal", "-shm"] {
        let from = format!("{}{suffix}", db_path.display());
        if Path::new(&from).exists() {
            std::fs::rename(&from, format!("{}.forked-{tag}{suffix}", db_path.display()))
                .map_err(|e| format!("moving {from} aside: {e}"))?;
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let from = format!("{}{suffix}", fresh.display());
        if Path::new(&from).exists() {
            std::fs::rename(&from, format!("{}{suffix}", db_path.display()))
                .map_err(|e| format!("putting the rebuilt log in place: {e}"))?;
        }
    }
    new.replace_in(dir, &tag).map_err(|e| e.to_string())?;
    let link = HubLink {
        node_id: new.node_id,
        ..link
    };
    write_secret(
        &dir.join(HUB_FILE),
        &serde_json::to_string_pretty(&link).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("writing {}: {e}", dir.join(HUB_FILE).display()))?;
    let _ = std::fs::remove_file(&pending_path);
    Ok(link)
}

/// A node registered before the leaf link had TLS has no `leaf_ca`: fetch
/// it from the hub (over HTTPS, trusted as at registration) and keep it.
pub async fn fetch_leaf_ca(dir: &Path, link: &mut HubLink) -> Result<(), String> {
    if link.hub_url.starts_with("http://") {
        return Err(format!(
            "{} is plain http: its leaf CA cannot be fetched safely; register again with the hub's https:// address",
            link.hub_url
        ));
    }
    let client = hub_client(link.hub_ca.as_deref(), Duration::from_secs(20))?;
    let resp = client
        .get(format!("{}/api/v1/hub", link.hub_url))
        .send()
        .await
        .map_err(|e| format!("cannot reach the hub at {}: {}", link.hub_url, causes(&e)))?;
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("the hub's answer was not understood: {e}"))?;
    let Some(pem) = body["leaf_ca"]
        .as_str()
        .filter(|p| p.contains("-----BEGIN CERTIFICATE-----"))
    else {
        return Err("the hub offers no TLS on the leaf link (no leaf_ca)".into());
    };
    link.leaf_ca = Some(pem.to_owned());
    write_secret(
        &dir.join(HUB_FILE),
        &serde_json::to_string_pretty(&link).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("writing {}: {e}", dir.join(HUB_FILE).display()))
}

/// The nats-server configuration of this node's leaf. With the hub's CA
/// (`ca_file`: where the leaf's nats-server reads it) the link is TLS and
/// the hub's certificate must name the leaf URL's host.
pub fn leaf_config(link: &HubLink, port: u16, monitor_port: u16, ca_file: Option<&str>) -> String {
    // A hub cluster hands out each of its servers' leaf URLs: the leaf
    // lists them all and relinks to another when one goes.
    let remotes: Vec<String> = link
        .leaf_urls()
        .iter()
        .map(|u| {
            let with_user = u.replacen(
                "://",
                &format!("://{}:{}@", link.leaf_user, link.leaf_password),
                1,
            );
            format!("\"{with_user}\"")
        })
        .collect();
    let tls = match ca_file {
        Some(ca) => format!(", tls: {{ ca_file: \"{ca}\", timeout: 5 }}"),
        None => String::new(),
    };
    format!(
        "# The leaf nats-server beside pvm-node {node} (venue {venue}). Written by `pvm-node leaf-config`.\n\
         server_name: \"leaf-{node}\"\n\
         host: 127.0.0.1\nport: {port}\nhttp: \"127.0.0.1:{monitor_port}\"\n\
         leafnodes {{\n  reconnect: \"2s\"\n  remotes: [ {{ urls: [ {urls} ]{tls} }} ]\n}}\n",
        node = link.node_id,
        venue = link.venue_id,
        urls = remotes.join(", "),
    )
}

pub(crate) fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Each file its own temp name (`hub.json` and `hub.pub` share a stem).
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
