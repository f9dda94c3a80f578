//! The node's identity: its id, its venue, and its ed25519 key.
//!
//! Made once by `pvm-node init` (or the first `serve`) and kept in the data
//! dir; the key file is mode 0600. Registration with a hub (a later issue)
//! keeps this node id and key and tells the hub about them.

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub const KEY_FILE: &str = "node.key";
pub const ID_FILE: &str = "node.json";
/// The hub's ed25519 public key (hex), written at registration. Tokens the hub
/// signs verify against it, offline.
pub const HUB_KEY_FILE: &str = "hub.pub";

/// The hub's current public key (the last one it trusts), when this node has one.
pub fn load_hub_key(dir: &Path) -> Result<Option<ed25519_dalek::VerifyingKey>, IdentityError> {
    Ok(load_hub_keys(dir)?.pop())
}

/// Every hub key this node trusts, the hub's current one last (one hex key
/// a line; empty when the node has none).
pub fn load_hub_keys(dir: &Path) -> Result<Vec<ed25519_dalek::VerifyingKey>, IdentityError> {
    let path = dir.join(HUB_KEY_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(IdentityError::File {
                path,
                reason: e.to_string(),
            })
        }
    };
    let fail = |reason: String| IdentityError::File {
        path: path.clone(),
        reason,
    };
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(line, &mut bytes)
            .map_err(|e| fail(format!("not a 32-byte hex key: {e}")))?;
        keys.push(
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|e| fail(format!("not an ed25519 public key: {e}")))?,
        );
    }
    Ok(keys)
}

/// The text of `hub.pub` for these keys (the current one last).
pub fn hub_keys_text(keys: &[ed25519_dalek::VerifyingKey]) -> String {
    keys.iter()
        .map(|k| format!("{}\n", hex::encode(k.as_bytes())))
        .collect()
}

pub struct NodeIdentity {
    pub node_id: Uuid,
    pub venue_id: Uuid,
    pub key: SigningKey,
}

#[derive(Serialize, Deserialize)]
struct IdFile {
    node_id: Uuid,
    venue_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("data dir {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("data dir {0} is not initialised (no {KEY_FILE}); run `pvm-node init` or `pvm-node serve` first")]
    NotInitialised(PathBuf),
}

/// Creates the data dir (mode 0700) if needed and checks this process can write to it.
pub fn prepare_data_dir(dir: &Path) -> Result<(), IdentityError> {
    let fail = |reason: String| IdentityError::DataDir {
        path: dir.to_owned(),
        reason,
    };
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(fail("exists but is not a directory".into())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create it: {e}")))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| fail(format!("cannot set its mode to 0700: {e}")))?;
        }
        Err(e) => return Err(fail(format!("cannot read it: {e}"))),
    }
    let probe = dir.join(".write-test");
    fs::write(&probe, b"ok").map_err(|e| fail(format!("cannot write to it: {e}")))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

impl NodeIdentity {
    /// Loads the identity, or creates it when the data dir has none. Returns whether it was created.
    pub fn load_or_create(dir: &Path) -> Result<(NodeIdentity, bool), IdentityError> {
        if dir.join(KEY_FILE).exists() {
            return Ok((NodeIdentity::load(dir)?, false));
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let ids = IdFile {
            node_id: Uuid::now_v7(),
            venue_id: Uuid::now_v7(),
        };
        let id_json = serde_json::to_vec_pretty(&ids).unwrap_or_default();
        write_private(&dir.join(ID_FILE), &id_json)?;
        // The key goes last: its presence means the identity is complete.
        write_private(
            &dir.join(KEY_FILE),
            format!("{}\n", hex::encode(key.to_bytes())).as_bytes(),
        )?;
        Ok((
            NodeIdentity {
                node_id: ids.node_id,
                venue_id: ids.venue_id,
                key,
            },
            true,
        ))
    }

    pub fn load(dir: &Path) -> Result<NodeIdentity, IdentityError> {
        let key_path = dir.join(KEY_FILE);
        if !key_path.exists() {
            return Err(IdentityError::NotInitialised(dir.to_owned()));
        }
        let file_err = |path: &Path, reason: String| IdentityError::File {
            path: path.to_owned(),
            reason,
        };
        let text = fs::read_to_string(&key_path).map_err(|e| file_err(&key_path, e.to_string()))?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|e| file_err(&key_path, format!("not a 32-byte hex key: {e}")))?;
        let id_path = dir.join(ID_FILE);
        let ids: IdFile = fs::read(&id_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|e| file_err(&id_path, e))?;
        Ok(NodeIdentity {
            node_id: ids.node_id,
            venue_id: ids.venue_id,
            key: SigningKey::from_bytes(&bytes),
        })
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// Writes this identity into `dir` in place of the one there (for
    /// `pvm-node resync`), keeping the old files as `<name>.forked-<tag>`.
    /// Each file is replaced by a rename; the key goes last.
    pub fn replace_in(&self, dir: &Path, tag: &str) -> Result<(), IdentityError> {
        let ids = IdFile {
            node_id: self.node_id,
            venue_id: self.venue_id,
        };
        let id_json = serde_json::to_vec_pretty(&ids).map_err(|e| IdentityError::File {
            path: dir.join(ID_FILE),
            reason: e.to_string(),
        })?;
        let key = format!("{}\n", hex::encode(self.key.to_bytes()));
        for (name, bytes) in [(ID_FILE, id_json), (KEY_FILE, key.into_bytes())] {
            let path = dir.join(name);
            let fail = |e: std::io::Error| IdentityError::File {
                path: path.clone(),
                reason: e.to_string(),
            };
            let kept = dir.join(format!("{name}.forked-{tag}"));
            if path.exists() && !kept.exists() {
                fs::copy(&path, &kept).map_err(fail)?;
            }
            let fresh = dir.join(format!("{name}.new"));
            let _ = fs::remove_file(&fresh);
            write_private(&fresh, &bytes)?;
            fs::rename(&fresh, &path).map_err(fail)?;
        }
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| IdentityError::DataDir {
                path: dir.to_owned(),
                reason: e.to_string(),
            })
    }
}

/// Writes a file readable only by its owner, durably, replacing nothing.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let fail = |e: std::io::Error| IdentityError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_private_and_the_identity_survives_a_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (made, created) = NodeIdentity::load_or_create(dir.path()).expect("create");
        assert!(created);
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, created) = NodeIdentity::load_or_create(dir.path()).expect("load");
        assert!(!created);
        assert_eq!(again.node_id, made.node_id);
        assert_eq!(again.key.to_bytes(), made.key.to_bytes());
    }

    #[test]
    fn a_data_dir_that_is_a_file_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").expect("file");
        let err = prepare_data_dir(&file).expect_err("refused");
        assert!(err.to_string().contains("not-a-dir"));
        assert!(err.to_string().contains("not a directory"));
    }
}
