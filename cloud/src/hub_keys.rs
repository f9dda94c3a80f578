//! The hub's signing keys (docs/OPERATIONS.md, "Rotating the hub's key").
//!
//! The current key (`hub.key` in the data dir) signs what the hub sends its
//! nodes: downstream messages, update manifests, a release's SHA256SUMS.
//! Nodes trust every key on the hub's list (`hub-keys.json`, the current one
//! last), so what an older key signed stays verifiable. A rotation sends
//! every venue's node the list with a new key added, signed by the current
//! key, and only then signs with the new one; a retirement sends the list
//! without an old key. Keys a rotation replaced are kept in `hub-keys/`.
//! Every pvm-cloud process sharing the data dir takes a rotation made by
//! another within `RELOAD_EVERY` (nodes trust both keys meanwhile).

use anyhow::Context;
use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub const TRUSTED_FILE: &str = "hub-keys.json";
pub const RETIRED_DIR: &str = "hub-keys";
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

fn b64(k: &VerifyingKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(k.as_bytes())
}

fn read_trusted(dir: &Path) -> anyhow::Result<Vec<VerifyingKey>> {
    let path = dir.join(TRUSTED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let mut keys = Vec::new();
    for k in v["trusted"].as_array().into_iter().flatten() {
        let bytes: [u8; 32] = k
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{}: {k} is not a base64 key", path.display()))?;
        keys.push(
            VerifyingKey::from_bytes(&bytes)
                .with_context(|| format!("{}: {k} is not an ed25519 public key", path.display()))?,
        );
    }
    Ok(keys)
}

/// The current key as `hub.key` holds it (read only: a missing file is an error).
fn read_key(dir: &Path) -> anyhow::Result<SigningKey> {
    let path = dir.join("hub.key");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{} is not an ed25519 key", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Held while the key files change (`flock` on `hub-keys.lock`): one
/// rotation, retirement or reload at a time among the processes sharing
/// the data dir.
pub struct FilesLock {
    _file: std::fs::File,
}

impl FilesLock {
    fn try_take(dir: &Path) -> anyhow::Result<Option<FilesLock>> {
        use std::os::unix::io::AsRawFd;
        let path = dir.join("hub-keys.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock(2) on a descriptor this File owns; no memory is touched.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            Ok(Some(FilesLock { _file: f }))
        } else {
            Ok(None)
        }
    }

    /// Waits (at most 30 s) for the other processes' changes to finish.
    pub async fn take(dir: &Path) -> anyhow::Result<FilesLock> {
        for _ in 0..600 {
            if let Some(l) = FilesLock::try_take(dir)? {
                return Ok(l);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("another pvm-cloud process is changing the hub's keys: try again")
    }
}

/// Writes `text` to `path` whole or not at all (mode 0600), through a
/// temp file of this process's own.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// The current key and the keys nodes are to trust.
pub struct HubKeys {
    dir: PathBuf,
    current: RwLock<Arc<SigningKey>>,
    trusted: RwLock<Vec<VerifyingKey>>,
}

impl HubKeys {
    /// The data dir the key files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The keys in `dir`, `key` (its `hub.key`) the current one.
    pub fn load(dir: &Path, key: SigningKey) -> anyhow::Result<HubKeys> {
        let mut trusted = read_trusted(dir)?;
        let current = key.verifying_key();
        trusted.retain(|k| *k != current);
        trusted.push(current);
        Ok(HubKeys {
            dir: dir.to_owned(),
            current: RwLock::new(Arc::new(key)),
            trusted: RwLock::new(trusted),
        })
    }

    pub fn current(&self) -> Arc<SigningKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every key nodes trust, the current one last.
    pub fn trusted(&self) -> Vec<VerifyingKey> {
        self.trusted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn trusted_b64(&self) -> Vec<String> {
        self.trusted().iter().map(b64).collect()
    }

    /// Takes a rotation or retirement another process made (the files
    /// changed): whether anything changed here.
    pub fn reload(&self) -> anyhow::Result<bool> {
        // Not while another process writes them (the next round reads them).
        let Some(_held) = FilesLock::try_take(&self.dir)? else {
            return Ok(false);
        };
        self.reload_held()
    }

    /// `reload`, with the files' lock held by the caller.
    pub fn reload_held(&self) -> anyhow::Result<bool> {
        let key = read_key(&self.dir)?;
        let mut trusted = read_trusted(&self.dir)?;
        let current = key.verifying_key();
        trusted.retain(|k| *k != current);
        trusted.push(current);
        let changed = self.current().verifying_key() != current || self.trusted() != trusted;
        if changed {
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
            *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = trusted;
        }
        Ok(changed)
    }

    /// Keeps `trusted` as the list nodes trust.
    pub fn save_trusted(&self, trusted: Vec<VerifyingKey>) -> anyhow::Result<()> {
        let text = serde_json::json!({"trusted": trusted.iter().map(b64).collect::<Vec<_>>()});
        write_atomic(&self.dir.join(TRUSTED_FILE), text.to_string().as_bytes())?;
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = trusted;
        Ok(())
    }

    /// When a rotation replaced the key `kid` (its secret kept then).
    pub fn replaced_at(&self, kid: &str) -> Option<std::time::SystemTime> {
        if kid.contains(['/', '.']) {
            return None;
        }
        std::fs::metadata(self.dir.join(RETIRED_DIR).join(format!("{kid}.key")))
            .and_then(|m| m.modified())
            .ok()
    }

    /// Makes `new` the current key, with `trusted` (which lists it last):
    /// the old key is kept in `hub-keys/<kid>.key`, then the list and the
    /// new `hub.key` are written, each whole.
    pub fn install(&self, new: SigningKey, trusted: Vec<VerifyingKey>) -> anyhow::Result<()> {
        let old = self.current();
        let retired = self.dir.join(RETIRED_DIR);
        std::fs::create_dir_all(&retired)
            .with_context(|| format!("creating {}", retired.display()))?;
        let kid = pvm_shared::auth::key_id(&old.verifying_key());
        write_atomic(&retired.join(format!("{kid}.key")), &old.to_bytes())?;
        self.save_trusted(trusted)?;
        write_atomic(&self.dir.join("hub.key"), &new.to_bytes())?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        Ok(())
    }
}

/// Takes another process's rotations until the hub stops.
pub async fn follow(keys: Arc<HubKeys>, stop: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(RELOAD_EVERY) => {}
        }
        match keys.reload() {
            Ok(true) => {
                tracing::warn!("the hub's keys changed (another process rotated them): taken")
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "the hub's keys could not be read again"),
        }
    }
}
