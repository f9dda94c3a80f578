//! Display images to the hub, signed by the node's key.

use super::*;

/// How often the media upload asks the hub again about images it already has.
pub(crate) const MEDIA_RECHECK: Duration = Duration::from_secs(3600);

/// Display images to the hub (its display fallback shows them too): every
/// 30 s, each image in `<data dir>/media` the hub does not have yet is sent
/// over HTTP, signed by the node's key (`pvm_display::media::upload_message`).
pub async fn media_upload(
    ctx: SyncContext,
    data_dir: std::path::PathBuf,
    identity: Arc<NodeIdentity>,
    every: Duration,
) {
    let SyncContext { link, stop, .. } = &ctx;
    use base64::Engine;
    use ed25519_dalek::Signer;
    let client = match hub_client(link.hub_ca.as_deref(), Duration::from_secs(30)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "media upload cannot start");
            return;
        }
    };
    let media = crate::media::MediaStore::new(&data_dir);
    let mut done = std::collections::HashSet::new();
    let mut tick = tokio::time::interval(every);
    let mut since_recheck = std::time::Instant::now();
    loop {
        tokio::select! { _ = stop.cancelled() => return, _ = tick.tick() => {} }
        // Once an hour every image is asked about again: the hub answers
        // "not found" for a copy it found damaged, and gets it again.
        if since_recheck.elapsed() >= MEDIA_RECHECK {
            done.clear();
            since_recheck = std::time::Instant::now();
        }
        let Ok(dir) = std::fs::read_dir(data_dir.join("media")) else {
            continue;
        };
        let names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| crate::media::valid_name(n) && !done.contains(n))
            .collect();
        for name in names {
            let url = format!("{}/display/media/{name}", link.hub_url);
            match client.head(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    done.insert(name);
                    continue;
                }
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {}
                Ok(_) | Err(_) => break, // the hub is not answering: next round
            }
            let Some((bytes, content_type)) = media.get(&name) else {
                continue;
            };
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let sig = identity.key.sign(&pvm_display::media::upload_message(
                identity.node_id,
                &name,
                at,
            ));
            let sent = client
                .put(format!(
                    "{}/api/v1/nodes/{}/media/{name}",
                    link.hub_url, identity.node_id
                ))
                .header("content-type", content_type)
                .header("x-pvm-time", at.to_string())
                .header(
                    "x-pvm-signature",
                    base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
                )
                .body(bytes)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(%name, "display image sent to the hub");
                    done.insert(name);
                }
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    tracing::warn!(%name, %status, %body, "the hub refused a display image");
                    if status.is_client_error() {
                        // It will not change its mind about these bytes.
                        done.insert(name);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "the hub is not answering; images later");
                    break;
                }
            }
        }
    }
}
