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
    let (outcome, detail) = if ctx.status.leaf_rotating.swap(true, Ordering::SeqCst) {
        (
            "refused",
            "a rotation of the leaf credentials is already under way".to_owned(),
        )
    } else {
        let r = attempt(&ctx, &data_dir).await;
        ctx.status.leaf_rotating.store(false, Ordering::SeqCst);
        match r {
            Ok(user) => ("applied", format!("the leaf links to the hub as {user}")),
            Err(e) => ("refused", e),
        }
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

/// Restarts the leaf and waits until a check after the restart finds it
/// linked, at most `LINK_WITHIN`: why not, else.
async fn linked_again(status: &SyncStatus) -> Result<(), String> {
    let asked = status.ask_leaf_restart();
    let until = tokio::time::Instant::now() + LINK_WITHIN;
    let mut restarted = false;
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !restarted {
            match status.leaf_restarted(asked) {
                Some(Ok(())) => restarted = true,
                Some(Err(e)) => return Err(format!("the leaf was not restarted: {e}")),
                None => {}
            }
            continue;
        }
        // The watch marked it down before restarting it: linked now is
        // linked with what the restarted leaf read.
        if status.leaf().connected == Some(true) {
            return Ok(());
        }
    }
    Err(format!(
        "the leaf did not link with the new credentials within {} s",
        LINK_WITHIN.as_secs()
    ))
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
    // hub.json first, then the leaf's file; either both or neither.
    let write = |conf_text: &str, l: &HubLink, back: &HubLink| -> Result<(), String> {
        let hub_file = data_dir.join(HUB_FILE);
        let json = |l: &HubLink| serde_json::to_string_pretty(l).map_err(|e| e.to_string());
        write_secret(&hub_file, &json(l)?).map_err(|e| format!("writing {HUB_FILE}: {e}"))?;
        if let Err(e) = write_secret(&conf_path, conf_text) {
            let _ = write_secret(&hub_file, &json(back)?);
            return Err(format!("writing {}: {e}", conf_path.display()));
        }
        Ok(())
    };
    write(
        &conf.replace(&old_auth, &format!("://{user}:{password}@")),
        &new_link,
        &link,
    )?;
    if let Err(why) = linked_again(status).await {
        write(&conf, &link, &new_link)?;
        let _ = linked_again(status).await;
        return Err(format!("{why}: it has the old ones back"));
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
