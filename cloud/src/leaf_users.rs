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
    let db = app.hub.store.lock().await;
    for (node, password) in db.plain_leaf_passwords().await? {
        let hash = bcrypt_hash(password).await?;
        db.set_leaf_password(&node, &hash).await?;
    }
    Ok(())
}

/// `user:password` from a `nats://user:password@host:port` URL.
pub fn nats_credentials(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://")?.1;
    let (userinfo, _) = rest.split_once('@')?;
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
    let lines = leaf_user_lines(&app.hub.store.lock().await).await?;
    install_leaf_users(app, lines).await
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
pub async fn install_leaf_users(app: &App, mut users: Vec<String>) -> anyhow::Result<()> {
    let Some(path) = &app.cli.leaf_users else {
        return Ok(());
    };
    let _one_at_a_time = app.leaf_users.lock().await;
    // pvm-cloud's own user (from the credentials in --nats) may do everything.
    if let Some((user, pass)) = nats_credentials(&app.cli.nats) {
        let hash = bcrypt_hash(pass).await?;
        users.insert(0, format!("  {{ user: \"{user}\", password: \"{hash}\" }}"));
    }
    let text = format!("users = [\n{}\n]\n", users.join(",\n"));
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    if let Some(pid_file) = &app.cli.nats_pid {
        let text = std::fs::read_to_string(pid_file)?;
        let pid: i32 = text
            .trim()
            .parse()
            .with_context(|| format!("{}: not a pid: {text:?}", pid_file.display()))?;
        // SAFETY: kill(2) with a pid read from nats-server's own pid file; no memory is touched.
        if pid <= 0 || unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
            anyhow::bail!(
                "could not signal the hub nats-server (pid {pid}) to reload: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}
