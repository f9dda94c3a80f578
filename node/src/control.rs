//! The control socket: how `pvm-node backup` and `verify-log` reach a running node.
//!
//! A second process must not open the live database for writing or
//! checkpointing (libsql #2271), so while a node runs, these commands ask it
//! over `control.sock` in the data dir (mode 0600, owner only). One request
//! line in, one reply line out.

use crate::identity::NodeIdentity;
use crate::store::{Log, Reader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

pub const SOCKET: &str = "control.sock";

/// Listens on the data dir's control socket until `shutdown`.
pub fn listen(
    data_dir: &Path,
    log: Log,
    reader: Reader,
    identity: Arc<NodeIdentity>,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let path = data_dir.join(SOCKET);
    // We hold the data dir lock, so any socket file left here is from a dead process.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let reader = reader.clone();
                        let identity = identity.clone();
                        let log = log.clone();
                        tokio::spawn(async move {
                            if let Err(e) = handle(stream, log, reader, identity).await {
                                tracing::warn!(error = %e, "control request failed");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "control socket accept failed"),
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    }))
}

async fn handle(
    stream: UnixStream,
    log: Log,
    reader: Reader,
    identity: Arc<NodeIdentity>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let line = line.trim_end();
    let reply = if let Some(target) = line.strip_prefix("backup ") {
        match reader.backup(Path::new(target)).await {
            Ok(bytes) => format!("ok {bytes}"),
            Err(e) => format!("error {e}"),
        }
    } else if line == "verify-log" {
        match reader
            .verify_log(
                identity.key.verifying_key(),
                identity.node_id,
                identity.venue_id,
            )
            .await
        {
            Ok(Ok(summary)) => format!("ok {} {}", summary.events, summary.last_seq),
            Ok(Err(problem)) => format!("problem {problem}"),
            Err(e) => format!("error {e}"),
        }
    } else if let Some(json) = line.strip_prefix("admin-create ") {
        match serde_json::from_str::<crate::auth::NewAdmin>(json) {
            Ok(new) => match crate::auth::create_account(&log, &new).await {
                Ok(id) => format!("ok {id}"),
                Err(e) => format!("error {e}"),
            },
            Err(e) => format!("error bad request: {e}"),
        }
    } else if let Some(json) = line.strip_prefix("record-update ") {
        match serde_json::from_str::<UpdateRecord>(json) {
            Ok(r) => match crate::ops::updates::record(&log, pvm_shared::Actor::System, r).await {
                Ok(c) => format!("ok {}", c.seq),
                Err(e) => format!("error {e}"),
            },
            Err(e) => format!("error bad request: {e}"),
        }
    } else {
        "error unknown request".to_owned()
    };
    write.write_all(reply.as_bytes()).await?;
    write.write_all(b"\n").await?;
    write.shutdown().await
}

/// How a container update ended, as `pvm-node update` reports it to the running node.
pub use crate::ops::updates::Record as UpdateRecord;

/// Sends one request to the node running on `data_dir` and returns its reply line.
pub async fn request(data_dir: &Path, line: &str) -> Result<String, String> {
    let path: PathBuf = data_dir.join(SOCKET);
    let mut stream = UnixStream::connect(&path).await.map_err(|e| {
        format!(
            "a pvm-node is running on {} but its control socket {} does not answer: {e}",
            data_dir.display(),
            path.display()
        )
    })?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .await
        .map_err(|e| e.to_string())?;
    Ok(reply.trim_end().to_owned())
}
