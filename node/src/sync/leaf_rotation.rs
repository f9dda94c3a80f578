//! New leaf credentials, when the hub asks for them (a `leaf_credentials`
//! message; docs/OPERATIONS.md, "Rotating a venue's leaf credentials"): the
//! node takes them from the hub over HTTPS, asking with its own key, puts
//! them in its leaf's configuration and `hub.json`, restarts the leaf and,
//! once the leaf links with them, tells the hub, which then drops the old
//! user. A leaf that does not link within `LINK_WITHIN` gets the old
//! credentials back (the hub still takes them until the node confirms).

use super::*;
use ed25519_dalek::Signer;

/// How long the restarted leaf has to link with the new credentials.
const LINK_WITHIN: Duration = Duration::from_secs(60);

/// Takes new credentials and reports what became of message `message_id`.
pub(crate) async fn rotate(ctx: SyncContext, data_dir: std::path::PathBuf, message_id: Uuid) {
    let (outcome, detail) = match attempt(&ctx, &data_dir).await {
        Ok(user) => ("applied", format!("the leaf links to the hub as {user}")),
        Err(e) => ("refused", e),
    };
    tracing::info!(outcome, detail, "leaf credentials");
    if let Err(e) = crate::ops::updates::record_down_handled(
        &ctx.log,
        pvm_shared::Actor::Cloud,
        message_id,
        "leaf_credentials",
        outcome,
        &detail,
    )
    .await
    {
        tracing::warn!(error = %e, "what became of the leaf credentials was not recorded");
    }
}

/// A request signed by this node's key: take (`confirm: None`) or confirm.
fn signed(
    identity: &crate::identity::NodeIdentity,
    at_ms: u64,
    confirm: Option<&str>,
) -> serde_json::Value {
    use base64::Engine;
    let statement = pvm_shared::signing::leaf_credentials_statement(
        identity.node_id,
        identity.venue_id,
        at_ms,
        confirm,
    );
    let signature =
        base64::engine::general_purpose::STANDARD.encode(identity.key.sign(&statement).to_bytes());
    let mut body = serde_json::json!({
        "node_id": identity.node_id,
        "venue_id": identity.venue_id,
        "at_ms": at_ms,
        "signature": signature,
    });
    if let Some(user) = confirm {
        body["leaf_user"] = serde_json::json!(user);
    }
    body
}

async fn post(
    client: &reqwest::Client,
    url: String,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let resp = client
        .post(&url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach the hub: {}", causes(&e)))?;
    let status = resp.status();
    let answer: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        return Err(format!("the hub refused ({status}): {message}"));
    }
    Ok(answer)
}

/// Waits until the leaf watch has seen the link drop and come back (the
/// restart), at most `LINK_WITHIN`.
async fn linked_again(status: &SyncStatus) -> bool {
    let until = tokio::time::Instant::now() + LINK_WITHIN;
    let mut dropped = false;
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match status.leaf().connected {
            Some(false) => dropped = true,
            Some(true) if dropped => return true,
            _ => {}
        }
    }
    false
}

async fn attempt(ctx: &SyncContext, data_dir: &Path) -> Result<String, String> {
    let status = &ctx.status;
    if status.leaf().restart_method == "off" {
        return Err("this node cannot restart its leaf (no --leaf-run, --leaf-container or --leaf-restart-cmd): new credentials were not taken".into());
    }
    let conf_path = status
        .leaf_conf()
        .ok_or("the node does not know its leaf's configuration file (--leaf-conf)")?;
    let link = HubLink::load(data_dir)?.ok_or("this node is not registered")?;
    let identity = crate::identity::NodeIdentity::load(data_dir).map_err(|e| e.to_string())?;
    let conf = std::fs::read_to_string(&conf_path)
        .map_err(|e| format!("reading {}: {e}", conf_path.display()))?;
    let old_auth = format!("://{}:{}@", link.leaf_user, link.leaf_password);
    if !conf.contains(&old_auth) {
        return Err(format!(
            "{} does not hold this node's leaf credentials: write it again with pvm-node leaf-config",
            conf_path.display()
        ));
    }
    let client = hub_client(link.hub_ca.as_deref(), Duration::from_secs(20))?;
    let taken = post(
        &client,
        format!("{}/api/v1/leaf-credentials", link.hub_url),
        &signed(&identity, ctx.clock.now_ms(), None),
    )
    .await?;
    let (Some(user), Some(password)) = (
        taken["leaf_user"].as_str().map(str::to_owned),
        taken["leaf_password"].as_str().map(str::to_owned),
    ) else {
        return Err("the hub's answer named no leaf user and password".into());
    };
    let new_link = HubLink {
        leaf_user: user.clone(),
        leaf_password: password.clone(),
        ..link.clone()
    };
    let write = |conf_text: &str, l: &HubLink| -> Result<(), String> {
        write_secret(&conf_path, conf_text)
            .map_err(|e| format!("writing {}: {e}", conf_path.display()))?;
        write_secret(
            &data_dir.join(HUB_FILE),
            &serde_json::to_string_pretty(l).map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("writing {HUB_FILE}: {e}"))
    };
    write(
        &conf.replace(&old_auth, &format!("://{user}:{password}@")),
        &new_link,
    )?;
    status.leaf_restart_now.notify_one();
    if !linked_again(status).await {
        write(&conf, &link)?;
        status.leaf_restart_now.notify_one();
        return Err(format!(
            "the leaf did not link with the new credentials within {} s: it has the old ones back",
            LINK_WITHIN.as_secs()
        ));
    }
    // The hub drops the old user once told; until then both link.
    let mut last = String::new();
    for _ in 0..5 {
        match post(
            &client,
            format!("{}/api/v1/leaf-credentials/confirm", link.hub_url),
            &signed(&identity, ctx.clock.now_ms(), Some(&user)),
        )
        .await
        {
            Ok(_) => return Ok(user),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(format!(
        "the leaf links as {user}, but the hub was not told ({last}): the old user still links too"
    ))
}
