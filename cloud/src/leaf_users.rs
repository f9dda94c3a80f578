//! The hub nats-server's leaf users: one per registered node, allowed only
//! its venue's subjects; written to the users file and reloaded (SIGHUP).

use crate::App;
use anyhow::Context;

pub const BCRYPT_COST: u32 = 10;

pub async fn bcrypt_hash(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST)).await??)
}

/// Leaf passwords kept in plain text by earlier versions are replaced by their hashes.
pub async fn hash_plain_leaf_passwords(app: &App) -> anyhow::Result<()> {
    let db = app.hub.store.lock().await?;
    for (node, password) in db.plain_leaf_passwords().await? {
        let hash = bcrypt_hash(password).await?;
        db.set_leaf_password(&node, &hash).await?;
    }
    Ok(())
}

/// The server URLs of `--nats` (comma-separated for a cluster) without
/// their credentials.
pub fn nats_addresses(urls: &str) -> Vec<String> {
    crate::config::url_list(urls)
        .iter()
        .map(|u| match u.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                format!("{scheme}://{host}")
            }
            None => u.rsplit_once('@').map_or(u.as_str(), |(_, h)| h).to_owned(),
        })
        .collect()
}

/// `user:password` from a `nats://user:password@host:port` URL (the first
/// of a comma-separated list).
pub fn nats_credentials(urls: &str) -> Option<(String, String)> {
    let first = crate::config::url_list(urls).into_iter().next()?;
    let rest = first.split_once("://")?.1;
    let (userinfo, _) = rest.rsplit_once('@')?;
    let (user, pass) = userinfo.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Rewrites the leaf users the hub's nats-server includes and asks it to reload.
/// Each venue's user may publish only that venue's subjects and pull only its
/// own downstream consumer, and receive replies only on its own inbox prefix.
pub async fn write_leaf_users(app: &App) -> anyhow::Result<()> {
    if app.cli.leaf_users.is_none() {
        return Ok(());
    }
    // Read and written under one hold: a list read earlier is never
    // installed after one read later.
    let _one_at_a_time = app.leaf_users.lock().await;
    let lines = leaf_user_lines(&app.hub.store.lock().await?).await?;
    install_held(app, lines).await
}

/// One user per registered (not retired) node: its venue's subjects only.
pub async fn leaf_user_lines(db: &crate::store::Locked<'_>) -> anyhow::Result<Vec<String>> {
    Ok(db
        .leaf_users()
        .await?
        .iter()
        .map(|(node, venue, user, pass)| leaf_user_line(node, venue, user, pass))
        .collect())
}

pub fn leaf_user_line(node: &str, venue: &str, user: &str, pass: &str) -> String {
    format!(
        "  {{ user: \"{user}\", password: \"{pass}\", permissions: {{ publish: {{ allow: [\"pvm.up.{venue}.{node}\", \"pvm.hb.{venue}.{node}\", \"pvm.head.{venue}.{node}\", \"$JS.hub.API.CONSUMER.INFO.PVM_DOWN.node-{node}\", \"$JS.hub.API.CONSUMER.MSG.NEXT.PVM_DOWN.node-{node}\", \"$JS.ACK.PVM_DOWN.node-{node}.>\", \"$JS.ACK.hub.*.PVM_DOWN.node-{node}.>\"] }}, subscribe: {{ allow: [\"_INBOX_{venue}.>\"] }} }} }}"
    )
}

/// Writes the hub nats-server's users file (pvm-cloud's own user, then
/// `users`) and tells the server to reload it. One at a time, through a
/// temp file of this process's own.
pub async fn install_leaf_users(app: &App, users: Vec<String>) -> anyhow::Result<()> {
    if app.cli.leaf_users.is_none() {
        return Ok(());
    }
    let _one_at_a_time = app.leaf_users.lock().await;
    install_held(app, users).await
}

/// `install_leaf_users`, with `app.leaf_users` held by the caller.
async fn install_held(app: &App, mut users: Vec<String>) -> anyhow::Result<()> {
    let Some(path) = &app.cli.leaf_users else {
        return Ok(());
    };
    // pvm-cloud's own user (from the credentials in --nats) may do everything.
    if let Some((user, pass)) = nats_credentials(&app.cli.nats) {
        let hash = bcrypt_hash(pass).await?;
        users.insert(0, format!("  {{ user: \"{user}\", password: \"{hash}\" }}"));
    }
    let text = format!("users = [\n{}\n]\n", users.join(",\n"));
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    // Every server of a cluster on this machine reloads; one that is down
    // reads the file when it starts again.
    let mut failed = Vec::new();
    for pid_file in &app.cli.nats_pid {
        if let Err(e) = signal_reload(pid_file) {
            tracing::warn!(error = %e, "a hub nats-server did not reload");
            failed.push(e);
        }
    }
    if let Some(e) = failed
        .pop()
        .filter(|_| failed.len() + 1 == app.cli.nats_pid.len())
    {
        return Err(e);
    }
    Ok(())
}

fn signal_reload(pid_file: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(pid_file)
        .with_context(|| format!("reading {}", pid_file.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .with_context(|| format!("{}: not a pid: {text:?}", pid_file.display()))?;
    // A server killed without cleaning up leaves its pid file; the pid may
    // now be another program's: only a nats-server is signalled.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if pid <= 0 || !comm.trim().starts_with("nats-server") {
        anyhow::bail!(
            "the hub nats-server of {} (pid {pid}) is not running",
            pid_file.display()
        );
    }
    // SAFETY: kill(2) with the pid of a running nats-server; no memory is touched.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        anyhow::bail!(
            "could not signal the hub nats-server (pid {pid}) to reload: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}
