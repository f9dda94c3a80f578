//! Self-update of a container with rollback, modelled on Home Assistant
//! Supervisor: pull first (a failed pull, including an error inside
//! Docker's pull stream, leaves the running version alone); keep the old
//! container, renamed and stopped; start the new one with the same
//! configuration; promote it only after it has run `healthy_for` with zero
//! restarts, a healthy health check (when the image has one) and, if given,
//! a check URL answering 2xx; otherwise remove it and start the old one
//! again under its name.
//!
//! A power cut can come at any step. Each step is journaled first
//! (`journal`), and at every moment at most one of the two containers has a
//! restart policy that starts it at boot: the old one keeps its own until it
//! is stopped, the new one runs with none until it is promoted. The helper
//! container that runs the update is restarted by Docker after a reboot and,
//! finding the journal, finishes a promotion or undoes everything else, so
//! exactly one node container runs afterwards, on a schema it can read (the
//! old one only ever meets backward-compatible migrations, see
//! `store::migrate`).
//!
//! An update named by the hub comes as a manifest signed with the hub's key
//! (`pvm-cloud sign FILE`), with images by digest; anything unsigned, signed
//! by another key or not by digest is refused before anything is pulled.

pub mod journal;

use bollard::container::{
    Config, CreateContainerOptions, RemoveContainerOptions, RenameContainerOptions,
    StartContainerOptions, StopContainerOptions, UpdateContainerOptions,
};
use bollard::image::CreateImageOptions;
use bollard::models::{
    ContainerStateStatusEnum, HealthStatusEnum, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::Docker;
use futures_util::StreamExt;
use journal::{Journal, Phase};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to update and how to judge the new container.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The running container to replace, by name.
    pub container: String,
    /// The new image (by digest for updates from the hub).
    pub image: String,
    /// How long the new container must run cleanly before it is kept.
    pub healthy_for: Duration,
    /// Extra check: this URL must answer 2xx at the end (e.g. the node's /ready).
    pub check_url: Option<String>,
    /// Where the journal is kept (the node's data dir, shared by every container).
    pub data_dir: PathBuf,
    /// The helper container running this update, if one does: when the
    /// update is over it is set not to restart.
    pub helper: Option<String>,
}

/// How an update ended. Every one is recorded as an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The new container runs; the old one is removed.
    Updated { from: String, to: String },
    /// The container already runs that image; nothing changed.
    Current { image: String },
    /// The image could not be pulled; the running version was not touched.
    PullFailed { reason: String },
    /// The new container failed; the old one runs again.
    RolledBack { reason: String },
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Updated { .. } => "updated",
            Outcome::Current { .. } => "current",
            Outcome::PullFailed { .. } => "pull_failed",
            Outcome::RolledBack { .. } => "rolled_back",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            Outcome::Updated { from, to } => format!("{from} -> {to}"),
            Outcome::Current { image } => format!("already on {image}"),
            Outcome::PullFailed { reason } | Outcome::RolledBack { reason } => reason.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("{0}")]
    Refused(String),
}

/// Connects to the local dockerd and agrees on an API version (dockerd 20.10 speaks 1.41).
pub async fn connect() -> Result<Docker, UpdateError> {
    Ok(Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?)
}

/// Pulls `image`, failing on any error, including those Docker reports inside the stream.
async fn pull(docker: &Docker, image: &str) -> Result<(), String> {
    let mut stream = docker.create_image(
        Some(CreateImageOptions {
            from_image: image,
            ..Default::default()
        }),
        None,
        None,
    );
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(e) = info.error {
                    return Err(e);
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

fn running_cleanly(
    state: &bollard::models::ContainerInspectResponse,
) -> Result<Option<HealthStatusEnum>, String> {
    let restarts = state.restart_count.unwrap_or(0);
    if restarts > 0 {
        return Err(format!("it restarted {restarts} times (crash loop)"));
    }
    let s = state.state.as_ref().ok_or("no state")?;
    if s.restarting == Some(true) {
        return Err("it is restarting (crash loop)".into());
    }
    match s.status {
        Some(ContainerStateStatusEnum::RUNNING) => {}
        other => {
            return Err(format!(
                "it stopped ({:?}, exit code {})",
                other,
                s.exit_code.unwrap_or(-1)
            ))
        }
    }
    let health = s.health.as_ref().and_then(|h| h.status);
    if health == Some(HealthStatusEnum::UNHEALTHY) {
        return Err("its health check failed".into());
    }
    Ok(health)
}

async fn check_url(url: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    else {
        return false;
    };
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Watches the new container until it has proved itself or failed.
async fn prove(docker: &Docker, plan: &Plan) -> Result<(), String> {
    let started = Instant::now();
    // A health check may take a while to report; give it the window plus a minute.
    let deadline = plan.healthy_for + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let inspect = docker
            .inspect_container(&plan.container, None)
            .await
            .map_err(|e| e.to_string())?;
        let health = running_cleanly(&inspect)?;
        let waited = started.elapsed();
        if waited < plan.healthy_for {
            continue;
        }
        let healthy = matches!(
            health,
            None | Some(HealthStatusEnum::HEALTHY) | Some(HealthStatusEnum::NONE)
        );
        let url_ok = match &plan.check_url {
            Some(url) => check_url(url).await,
            None => true,
        };
        if healthy && url_ok {
            return Ok(());
        }
        if waited > deadline {
            return Err(if !healthy {
                "its health check never passed".into()
            } else {
                format!("{} did not answer", plan.check_url.as_deref().unwrap_or(""))
            });
        }
    }
}

/// The container's own settings: what its old image gave it by default is
/// dropped, so the new image's defaults (command, health check, labels,
/// user, environment) apply and only what the operator set is carried over.
fn own_settings(
    mut c: bollard::models::ContainerConfig,
    image: Option<&bollard::models::ImageConfig>,
) -> bollard::models::ContainerConfig {
    let Some(i) = image else { return c };
    fn same<T: PartialEq>(field: &mut Option<T>, default: &Option<T>) {
        if field.is_some() && field == default {
            *field = None;
        }
    }
    same(&mut c.cmd, &i.cmd);
    same(&mut c.entrypoint, &i.entrypoint);
    same(&mut c.healthcheck, &i.healthcheck);
    same(&mut c.user, &i.user);
    same(&mut c.working_dir, &i.working_dir);
    same(&mut c.exposed_ports, &i.exposed_ports);
    same(&mut c.volumes, &i.volumes);
    same(&mut c.stop_signal, &i.stop_signal);
    if let (Some(env), Some(defaults)) = (c.env.as_mut(), i.env.as_ref()) {
        env.retain(|e| !defaults.contains(e));
    }
    if let (Some(labels), Some(defaults)) = (c.labels.as_mut(), i.labels.as_ref()) {
        labels.retain(|k, v| defaults.get(k) != Some(v));
    }
    // The hostname docker made up from the old container's id is not a setting.
    c.hostname = None;
    c
}

fn previous_name(name: &str) -> String {
    format!("{name}-previous")
}

/// Removes a container (forced), if it exists.
async fn remove(docker: &Docker, name: &str) -> Result<(), UpdateError> {
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Runs the update (call [`recover_interrupted`] first: an unfinished one
/// is refused). Errors are what went wrong before anything was changed (or
/// while putting the old container back); a failed new version is an
/// `Outcome::RolledBack`, not an error. The journal stays until
/// [`settle`], so a cut before the outcome is recorded replays the
/// (idempotent) recovery.
pub async fn update(docker: &Docker, plan: &Plan) -> Result<Outcome, UpdateError> {
    if journal::read(&plan.data_dir)
        .map_err(UpdateError::Refused)?
        .is_some()
    {
        return Err(UpdateError::Refused(format!(
            "an earlier update did not finish ({}): it is finished or undone first",
            journal::path(&plan.data_dir).display()
        )));
    }
    let current = docker.inspect_container(&plan.container, None).await?;
    let config = current
        .config
        .clone()
        .ok_or_else(|| UpdateError::Refused(format!("{} has no configuration", plan.container)))?;
    let old_id = current
        .id
        .clone()
        .ok_or_else(|| UpdateError::Refused(format!("{} has no id", plan.container)))?;
    let from = config.image.clone().unwrap_or_default();
    if let Err(reason) = pull(docker, &plan.image).await {
        return Ok(Outcome::PullFailed {
            reason: format!("pulling {}: {reason}", plan.image),
        });
    }
    let new_id = docker.inspect_image(&plan.image).await?.id;
    if new_id.is_some() && new_id == current.image {
        return Ok(Outcome::Current {
            image: plan.image.clone(),
        });
    }
    let host = current.host_config.clone().unwrap_or_default();
    let restart = host.restart_policy.clone().unwrap_or_default();
    let mut j = Journal {
        phase: Phase::Begun,
        container: plan.container.clone(),
        old_id,
        from: from.clone(),
        to: plan.image.clone(),
        restart: restart.name.map(|n| n.to_string()).unwrap_or_default(),
        restart_retries: restart.maximum_retry_count,
        new_id: None,
        reason: None,
    };
    step(plan, &mut j, Phase::Begun).await?;
    // Keep the old one, renamed, stopped and not started at boot (it may hold the ports).
    let previous = previous_name(&plan.container);
    remove(docker, &previous).await?;
    set_restart(docker, &plan.container, no_restart()).await?;
    docker
        .rename_container(
            &plan.container,
            RenameContainerOptions {
                name: previous.clone(),
            },
        )
        .await?;
    docker
        .stop_container(&previous, Some(StopContainerOptions { t: 10 }))
        .await?;
    step(plan, &mut j, Phase::OldStopped).await?;
    let old_image = match &current.image {
        Some(id) => docker.inspect_image(id).await.ok().and_then(|i| i.config),
        None => None,
    };
    let mut new_config: Config<String> = own_settings(config, old_image.as_ref()).into();
    new_config.image = Some(plan.image.clone());
    // Not started at boot until it has proved itself.
    new_config.host_config = Some(bollard::models::HostConfig {
        restart_policy: Some(no_restart()),
        ..host
    });
    let started = async {
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: plan.container.clone(),
                    platform: None,
                }),
                new_config,
            )
            .await?;
        j.new_id = Some(created.id);
        step(plan, &mut j, Phase::NewCreated).await?;
        docker
            .start_container(&plan.container, None::<StartContainerOptions<String>>)
            .await?;
        step(plan, &mut j, Phase::Proving).await?;
        Ok::<(), UpdateError>(())
    }
    .await;
    let verdict = match started {
        Ok(()) => prove(docker, plan).await,
        Err(e) => Err(format!("it could not start: {e}")),
    };
    match verdict {
        Ok(()) => {
            step(plan, &mut j, Phase::Promoting).await?;
            promote(docker, &j).await?;
            Ok(Outcome::Updated {
                from,
                to: plan.image.clone(),
            })
        }
        Err(reason) => {
            j.reason = Some(reason.clone());
            step(plan, &mut j, Phase::RollingBack).await?;
            roll_back(docker, &j).await?;
            Ok(Outcome::RolledBack {
                reason: format!(
                    "{} on {}: {reason}; {from} runs again",
                    plan.container, plan.image
                ),
            })
        }
    }
}

/// When the journal shows an unfinished update of this container (a power
/// cut, a killed helper), finishes or undoes it and says how it ended and
/// which image it was for. The journal stays until [`settle`].
pub async fn recover_interrupted(
    docker: &Docker,
    plan: &Plan,
) -> Result<Option<(String, Outcome)>, UpdateError> {
    let Some(j) = journal::read(&plan.data_dir).map_err(UpdateError::Refused)? else {
        return Ok(None);
    };
    if j.container != plan.container {
        return Err(UpdateError::Refused(format!(
            "an update of {} did not finish ({}): run `pvm-node update --container {}` first",
            j.container,
            journal::path(&plan.data_dir).display(),
            j.container
        )));
    }
    tracing::warn!(container = %j.container, phase = j.phase.name(), "an update was interrupted; finishing or undoing it");
    let outcome = recover(docker, &j).await?;
    Ok(Some((j.to, outcome)))
}

/// After the outcome is recorded: the helper (if any) stops restarting,
/// then the journal goes.
pub async fn settle(docker: &Docker, plan: &Plan) -> Result<(), UpdateError> {
    stand_down(docker, plan).await?;
    journal::clear(&plan.data_dir).map_err(UpdateError::Refused)
}

/// The helper (if any) stops restarting; the journal, if any, stays for a
/// person to look at (an unreadable one, or another container's).
pub async fn stand_down(docker: &Docker, plan: &Plan) -> Result<(), UpdateError> {
    if let Some(helper) = &plan.helper {
        set_restart(docker, helper, no_restart()).await?;
    }
    Ok(())
}

/// Journals `phase` durably; a drill's hold file can stop the updater here.
async fn step(plan: &Plan, j: &mut Journal, phase: Phase) -> Result<(), UpdateError> {
    j.phase = phase;
    journal::write(&plan.data_dir, j).map_err(UpdateError::Refused)?;
    if journal::hold_at(&plan.data_dir).as_deref() == Some(phase.name()) {
        tracing::warn!(
            phase = phase.name(),
            "holding the update here ({} names this phase)",
            journal::HOLD_FILE
        );
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    Ok(())
}

/// Finishes or undoes an interrupted update: a promotion is finished, any
/// earlier step is undone. Each action checks what is there first, so a cut
/// during recovery is recovered from the same way.
async fn recover(docker: &Docker, j: &Journal) -> Result<Outcome, UpdateError> {
    if j.phase == Phase::Promoting {
        promote(docker, j).await?;
        return Ok(Outcome::Updated {
            from: j.from.clone(),
            to: j.to.clone(),
        });
    }
    roll_back(docker, j).await?;
    Ok(Outcome::RolledBack {
        reason: match &j.reason {
            Some(reason) => format!(
                "{} on {}: {reason}; {} runs again (the rollback was interrupted and finished after a restart)",
                j.container, j.to, j.from
            ),
            None => format!(
                "the update of {} to {} was interrupted ({}) by a restart or power cut; {} runs again",
                j.container,
                j.to,
                j.phase.name(),
                j.from
            ),
        },
    })
}

/// The new container keeps the name and gets the old one's restart policy; the old one goes.
async fn promote(docker: &Docker, j: &Journal) -> Result<(), UpdateError> {
    set_restart(docker, &j.container, j.restart_policy()).await?;
    start_if_stopped(docker, &j.container).await?;
    let previous = previous_name(&j.container);
    if id_of(docker, &previous).await?.as_deref() == Some(j.old_id.as_str()) {
        remove(docker, &previous).await?;
    }
    Ok(())
}

/// Whatever carries the name and is not the old container is the new one:
/// it goes, and the old one comes back under its name with its restart policy.
async fn roll_back(docker: &Docker, j: &Journal) -> Result<(), UpdateError> {
    let named = id_of(docker, &j.container).await?;
    if named.is_some() && named.as_deref() != Some(j.old_id.as_str()) {
        remove(docker, &j.container).await?;
    }
    let previous = previous_name(&j.container);
    if id_of(docker, &previous).await?.as_deref() == Some(j.old_id.as_str()) {
        docker
            .rename_container(
                &previous,
                RenameContainerOptions {
                    name: j.container.clone(),
                },
            )
            .await?;
    }
    set_restart(docker, &j.container, j.restart_policy()).await?;
    start_if_stopped(docker, &j.container).await
}

/// The id of the container of that name, if there is one.
async fn id_of(docker: &Docker, name: &str) -> Result<Option<String>, UpdateError> {
    match docker.inspect_container(name, None).await {
        Ok(c) => Ok(c.id),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn start_if_stopped(docker: &Docker, name: &str) -> Result<(), UpdateError> {
    let c = docker.inspect_container(name, None).await?;
    if c.state.and_then(|s| s.running) != Some(true) {
        docker
            .start_container(name, None::<StartContainerOptions<String>>)
            .await?;
    }
    Ok(())
}

fn no_restart() -> RestartPolicy {
    RestartPolicy {
        name: Some(RestartPolicyNameEnum::NO),
        maximum_retry_count: None,
    }
}

async fn set_restart(
    docker: &Docker,
    name: &str,
    policy: RestartPolicy,
) -> Result<(), UpdateError> {
    docker
        .update_container(
            name,
            UpdateContainerOptions::<String> {
                restart_policy: Some(policy),
                ..Default::default()
            },
        )
        .await?;
    Ok(())
}

/// How this node updates its own container when the hub asks (see `spawn_helper`).
#[derive(Debug, Clone)]
pub struct SelfUpdate {
    /// This node's container (`--self-container`).
    pub container: String,
    /// What must answer before a new node is kept (its `/ready?leaf=connected`).
    pub check_url: String,
    pub healthy_secs: u64,
}

/// A container cannot safely replace itself: this starts a helper from this
/// node's own image, with its mounts (the data dir, the Docker socket) and
/// network, that runs `pvm-node update` on this container. Docker restarts
/// it after a power cut until the update is over; then it stops restarting
/// and stays, exited, until the next update removes it. Returns its name.
pub async fn spawn_helper(
    docker: &Docker,
    su: &SelfUpdate,
    image: &str,
) -> Result<String, UpdateError> {
    let me = docker.inspect_container(&su.container, None).await?;
    let own_image = me
        .config
        .as_ref()
        .and_then(|c| c.image.clone())
        .ok_or_else(|| UpdateError::Refused(format!("{} has no image", su.container)))?;
    let host = me.host_config.unwrap_or_default();
    let helper = format!("{}-updater", su.container);
    // One update at a time: a helper still running (or restarted after a
    // power cut to finish one) is left to it; a finished one is removed.
    if let Ok(running) = docker.inspect_container(&helper, None).await {
        if running.state.and_then(|s| s.running) == Some(true) {
            return Err(UpdateError::Refused(format!(
                "an update is already under way ({helper} is running)"
            )));
        }
    }
    remove(docker, &helper).await?;
    let config = Config {
        image: Some(own_image),
        // The image's entrypoint is pvm-node.
        cmd: Some(vec![
            "update".to_string(),
            "--container".into(),
            su.container.clone(),
            "--image".into(),
            image.to_owned(),
            "--healthy-secs".into(),
            su.healthy_secs.to_string(),
            "--check-url".into(),
            su.check_url.clone(),
            "--helper".into(),
            helper.clone(),
        ]),
        env: Some(
            [
                "PVM_DATA_DIR=/data".to_string(),
                "PVM_RECORD_WAIT_SECS=120".to_string(),
            ]
            .into_iter()
            // The node's way to Docker is the helper's too.
            .chain(
                ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}"))),
            )
            .collect(),
        ),
        // The Docker socket is root's.
        user: Some("0:0".into()),
        host_config: Some(bollard::models::HostConfig {
            binds: host.binds,
            mounts: host.mounts,
            network_mode: host.network_mode,
            // Restarted after a power cut to finish or undo the update (see
            // `journal`); it sets itself not to restart when done.
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: helper.clone(),
                platform: None,
            }),
            config,
        )
        .await?;
    docker
        .start_container(&helper, None::<StartContainerOptions<String>>)
        .await?;
    Ok(helper)
}

/// An update named by the hub: images by digest, signed with the hub's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: String,
    /// Role (`node`, `nats`, `cloud`) to image reference by digest.
    pub images: std::collections::BTreeMap<String, String>,
}

/// Reads a manifest and its detached signature (`FILE.sig`, raw ed25519
/// over `signing::MANIFEST` and the file's bytes),
/// refusing anything not signed by `hub_key` or not naming images by digest.
pub fn verify_manifest(
    bytes: &[u8],
    signature: Option<&[u8]>,
    hub_keys: &[ed25519_dalek::VerifyingKey],
) -> Result<Manifest, String> {
    if hub_keys.is_empty() {
        return Err(
            "this node has no hub key (not registered): a manifest cannot be checked".into(),
        );
    }
    let sig = signature.ok_or("the manifest is not signed (no .sig file)")?;
    let sig = ed25519_dalek::Signature::from_slice(sig)
        .map_err(|_| "the manifest's signature is not an ed25519 signature")?;
    let signed = pvm_shared::signing::with_context(pvm_shared::signing::MANIFEST, bytes);
    if !hub_keys
        .iter()
        .any(|k| k.verify_strict(&signed, &sig).is_ok())
    {
        return Err("the manifest is not signed by this node's hub".into());
    }
    let manifest: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("the manifest is not understood: {e}"))?;
    for (role, image) in &manifest.images {
        let digest = image.rsplit_once("@sha256:").map(|(_, d)| d);
        if !digest.is_some_and(|d| d.len() == 64 && d.chars().all(|c| c.is_ascii_hexdigit())) {
            return Err(format!(
                "the manifest names {role} as {image}, not by digest (repo@sha256:...)"
            ));
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer;

    fn signed(bytes: &[u8]) -> Vec<u8> {
        pvm_shared::signing::with_context(pvm_shared::signing::MANIFEST, bytes)
    }

    #[test]
    fn only_signed_manifests_with_digests_are_taken() {
        let hub = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        let digest = "a".repeat(64);
        let good = format!(
            r#"{{"version":"0.2.0","images":{{"node":"127.0.0.1:5000/pvm-node@sha256:{digest}"}}}}"#
        );
        let sig = hub.sign(&signed(good.as_bytes())).to_bytes();
        let key = hub.verifying_key();
        let m = verify_manifest(good.as_bytes(), Some(&sig), &[key]).expect("good");
        // The hub's signature over the bare bytes (no context) is another
        // purpose's signature: refused.
        let bare = hub.sign(good.as_bytes()).to_bytes();
        assert!(verify_manifest(good.as_bytes(), Some(&bare), &[key]).is_err());
        assert_eq!(m.version, "0.2.0");
        assert!(verify_manifest(good.as_bytes(), None, &[key])
            .expect_err("unsigned")
            .contains("not signed"));
        let forged = other.sign(&signed(good.as_bytes())).to_bytes();
        assert!(verify_manifest(good.as_bytes(), Some(&forged), &[key])
            .expect_err("other key")
            .contains("not signed by this node's hub"));
        assert!(verify_manifest(good.as_bytes(), Some(&sig), &[])
            .expect_err("no key")
            .contains("no hub key"));
        let tagged = r#"{"version":"0.2.0","images":{"node":"pvm-node:latest"}}"#;
        let sig = hub.sign(&signed(tagged.as_bytes())).to_bytes();
        assert!(verify_manifest(tagged.as_bytes(), Some(&sig), &[key])
            .expect_err("tag")
            .contains("not by digest"));
        let mut changed = good.clone().into_bytes();
        changed[12] ^= 1;
        let sig = hub.sign(&signed(good.as_bytes())).to_bytes();
        assert!(verify_manifest(&changed, Some(&sig), &[key]).is_err());
    }
}
