//! Leaf health. Leaf links have been seen to stop reconnecting for hours on
//! flaky lines (nats-server #7615), which would leave a venue unsynced with
//! nothing visibly wrong. The node watches its leaf through the local
//! server's monitoring endpoint (`/leafz`) and, when the hub's leaf port
//! answers but the leaf link has stayed down past a threshold, restarts the
//! leaf, records a `leaf_restarted` event and shows it on the staff home page.
//!
//! How to restart is configured: the node can run the leaf itself
//! (`--leaf-run "nats-server -c leaf.conf"`, supervised: also restarted when
//! it exits), restart its container through the Docker API
//! (`--leaf-container pvm-leaf`, what `compose/node.yml` does: the node's
//! image has no shell or docker CLI), run a command (`--leaf-restart-cmd`),
//! or only report (none given).

use crate::store::Log;
use crate::sync::SyncStatus;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

/// How the node restarts its leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// The node runs the leaf as its child (program and arguments).
    Supervised(Vec<String>),
    /// The leaf is this Docker container; restarted through the Docker API.
    Container(String),
    /// A shell command restarts it (`sh -c`).
    Command(String),
    /// Only watch and report.
    Off,
}

impl Restart {
    fn name(&self) -> &'static str {
        match self {
            Restart::Supervised(_) => "supervised",
            Restart::Container(_) => "container",
            Restart::Command(_) => "command",
            Restart::Off => "off",
        }
    }
}

/// What the watcher knows, for the API and the staff UI.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct LeafHealth {
    /// Whether the watch runs at all (only once registered).
    pub watched: bool,
    /// The leaf's link to the hub is up; null before the first check.
    pub connected: Option<bool>,
    /// The leaf's monitoring endpoint answered.
    pub running: Option<bool>,
    /// The hub's leaf port accepted a connection (checked while the link is down).
    pub hub_reachable: Option<bool>,
    /// Since when the link has been down (ms); null while up.
    pub down_since_ms: Option<u64>,
    /// `supervised`, `container`, `command` or `off`.
    pub restart_method: String,
    /// Restarts made by this run of the node.
    pub restarts: u32,
    pub last_restart_ms: Option<u64>,
    /// The last restart problem, if the restart itself failed.
    pub last_error: Option<String>,
}

/// Settings of the watch.
#[derive(Debug, Clone)]
pub struct LeafWatch {
    /// The leaf's monitoring base URL, e.g. `http://127.0.0.1:8222`.
    pub monitor_url: String,
    /// The hub's leaf address (`nats-leaf://host:port` from registration).
    /// Every hub server's leafnode URL (any answering is the hub up).
    pub hub_leaf_urls: Vec<String>,
    pub restart: Restart,
    /// How long the link may stay down while the hub answers before a restart.
    pub after: Duration,
}

/// `host:port` of a `scheme://user:pass@host:port/...` URL.
pub fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hp = rest.split(['/', '?']).next()?;
    (!hp.is_empty() && hp.contains(':')).then(|| hp.to_owned())
}

/// Counts the leaf's remote links from `/leafz`; `None` if it does not answer.
async fn leaf_links(client: &reqwest::Client, monitor_url: &str) -> Option<usize> {
    let url = format!("{}/leafz", monitor_url.trim_end_matches('/'));
    let body: serde_json::Value = client.get(url).send().await.ok()?.json().await.ok()?;
    Some(body["leafs"].as_array().map_or(0, |l| l.len()))
}

async fn reachable(addr: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

fn spawn_leaf(argv: &[String]) -> std::io::Result<tokio::process::Child> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("--leaf-run names no program"))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to send the
    // child SIGTERM when the node dies, so a killed node leaves no orphan leaf
    // holding the port.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn()
}

/// `docker restart NAME` through the Docker API (socket from DOCKER_HOST or
/// /var/run/docker.sock), waiting up to 10 s for the old leaf to stop.
async fn restart_container(name: &str) -> Result<(), String> {
    let restart = async {
        let docker = crate::update::connect().await.map_err(|e| e.to_string())?;
        docker
            .restart_container(
                name,
                Some(bollard::container::RestartContainerOptions { t: 10 }),
            )
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(60), restart).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("restarting container {name}: {e}")),
        Err(_) => Err(format!(
            "restarting container {name}: Docker did not answer within 60 s"
        )),
    }
}

async fn run_command(command: &str) -> Result<(), String> {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .map_err(|_| format!("`{command}` did not finish within 60 s"))?
    .map_err(|e| format!("`{command}`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{command}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Restarts the leaf as configured.
async fn restart(how: &Restart, child: &mut Option<tokio::process::Child>) -> Result<(), String> {
    match how {
        Restart::Supervised(argv) => {
            if let Some(mut c) = child.take() {
                let _ = c.kill().await;
            }
            match spawn_leaf(argv) {
                Ok(c) => {
                    *child = Some(c);
                    Ok(())
                }
                Err(e) => Err(format!("starting the leaf: {e}")),
            }
        }
        Restart::Container(name) => restart_container(name).await,
        Restart::Command(command) => run_command(command).await,
        Restart::Off => Ok(()),
    }
}

/// Watches (and, if configured, runs and restarts) the leaf until `stop`.
pub async fn watch(
    cfg: LeafWatch,
    status: Arc<SyncStatus>,
    log: Log,
    clock: Arc<dyn crate::store::writer::TimeSource>,
    stop: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "leaf watch cannot start");
            return;
        }
    };
    let hub_addrs: Vec<String> = cfg
        .hub_leaf_urls
        .iter()
        .filter_map(|u| host_port(u))
        .collect();
    status.update_leaf(|h| {
        h.watched = true;
        h.restart_method = cfg.restart.name().to_owned();
    });
    let mut child = match &cfg.restart {
        Restart::Supervised(argv) => match spawn_leaf(argv) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the leaf");
                status.update_leaf(|h| h.last_error = Some(format!("starting the leaf: {e}")));
                None
            }
        },
        _ => None,
    };
    let period = (cfg.after / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Down while the hub answers, since when; the wait before the next restart grows.
    let mut stuck_since: Option<Instant> = None;
    let mut down_since_ms: Option<u64> = None;
    let mut pause = cfg.after;
    loop {
        let asked = tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => false,
            _ = status.leaf_restart_now.notified() => true,
        };
        if asked {
            // New credentials in its configuration: restarted at once, and
            // seen down until a check after the restart finds it linked.
            let n = status
                .leaf_restart_asked
                .load(std::sync::atomic::Ordering::SeqCst);
            tracing::info!(
                method = cfg.restart.name(),
                "restarting the leaf (its configuration changed)"
            );
            status.update_leaf(|h| h.connected = Some(false));
            let result = restart(&cfg.restart, &mut child).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "the leaf restart failed");
                status.update_leaf(|h| h.last_error = Some(e.clone()));
            }
            status.leaf_restart_done(n, result);
            continue;
        }
        if let (Restart::Supervised(argv), Some(c)) = (&cfg.restart, child.as_mut()) {
            if let Ok(Some(exit)) = c.try_wait() {
                tracing::warn!(%exit, "the leaf exited; starting it again");
                child = spawn_leaf(argv).ok();
            }
        } else if let Restart::Supervised(argv) = &cfg.restart {
            child = spawn_leaf(argv).ok();
        }
        let links = leaf_links(&client, &cfg.monitor_url).await;
        let connected = links.is_some_and(|n| n > 0);
        let now_ms = clock.now_ms();
        if connected {
            if down_since_ms.is_some() {
                tracing::info!("the leaf link to the hub is up");
            }
            stuck_since = None;
            down_since_ms = None;
            pause = cfg.after;
            status.update_leaf(|h| {
                h.connected = Some(true);
                h.running = Some(true);
                h.hub_reachable = Some(true);
                h.down_since_ms = None;
            });
            continue;
        }
        let down_from = *down_since_ms.get_or_insert(now_ms);
        let mut hub_up = false;
        for a in &hub_addrs {
            if reachable(a).await {
                hub_up = true;
                break;
            }
        }
        status.update_leaf(|h| {
            h.connected = Some(false);
            h.running = Some(links.is_some());
            h.hub_reachable = Some(hub_up);
            h.down_since_ms = Some(down_from);
        });
        if !hub_up {
            // The line is down: nothing a restart can fix.
            stuck_since = None;
            continue;
        }
        let since = *stuck_since.get_or_insert_with(Instant::now);
        if since.elapsed() < pause || cfg.restart == Restart::Off {
            continue;
        }
        let down_for_ms = now_ms.saturating_sub(down_from);
        tracing::warn!(
            down_for_ms,
            method = cfg.restart.name(),
            "the hub answers but the leaf link stays down; restarting the leaf"
        );
        let result = restart(&cfg.restart, &mut child).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "the leaf restart failed");
        }
        let appended = log
            .append(
                pvm_shared::Actor::System,
                pvm_shared::venue::Command::RecordLeafRestart {
                    down_for_ms,
                    method: cfg.restart.name().to_owned(),
                },
            )
            .await;
        if let Err(e) = appended {
            tracing::warn!(error = %e, "the leaf restart could not be recorded");
        }
        status.update_leaf(|h| {
            h.restarts += 1;
            h.last_restart_ms = Some(now_ms);
            h.last_error = result.err();
        });
        stuck_since = None;
        // Give the new leaf time; if it stays stuck, wait longer each time (up to 30 min).
        pause = (pause * 2).min(Duration::from_secs(1800));
    }
    if let Some(mut c) = child {
        let _ = c.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_of_leaf_urls() {
        assert_eq!(
            host_port("nats-leaf://127.0.0.1:7422").as_deref(),
            Some("127.0.0.1:7422")
        );
        assert_eq!(
            host_port("nats-leaf://u:p@hub.example.com:7422/x").as_deref(),
            Some("hub.example.com:7422")
        );
        assert_eq!(host_port("hub:7422").as_deref(), Some("hub:7422"));
        assert_eq!(host_port("nats-leaf://hub"), None);
        assert_eq!(host_port(""), None);
    }
}
