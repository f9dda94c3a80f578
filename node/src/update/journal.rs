//! The update's journal, `update.json` in the data dir: what is being
//! replaced by what and how far it got, written durably (temp file synced,
//! renamed, directory synced) before each step, so that whoever runs next
//! after a power cut (the helper, restarted by Docker, or `pvm-node update`
//! run again by hand) finishes the step or undoes the update.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE: &str = "update.json";

/// For drills and tests: a file `update.hold` in the data dir naming a phase
/// makes the updater stop and wait (for the power cut) once it has journaled
/// that phase.
pub const HOLD_FILE: &str = "update.hold";

/// How far an update got. The order is the order of the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Journaled; nothing changed yet.
    Begun,
    /// The old container is renamed `<name>-previous`, set not to restart, and stopped.
    OldStopped,
    /// The new container is created under the name, set not to restart (not started).
    NewCreated,
    /// The new container runs and is being watched.
    Proving,
    /// The new one proved itself: it is set to restart as the old one did; the old one goes.
    Promoting,
    /// The new one failed: it goes; the old one comes back under its name.
    RollingBack,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Begun,
        Phase::OldStopped,
        Phase::NewCreated,
        Phase::Proving,
        Phase::Promoting,
        Phase::RollingBack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Begun => "begun",
            Phase::OldStopped => "old_stopped",
            Phase::NewCreated => "new_created",
            Phase::Proving => "proving",
            Phase::Promoting => "promoting",
            Phase::RollingBack => "rolling_back",
        }
    }
}

/// One update in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub phase: Phase,
    /// The container's name (the old one's until it is renamed, then the new one's).
    pub container: String,
    /// The old container's id: whatever else carries the name is the new one.
    pub old_id: String,
    /// The old container's image, as it was named.
    pub from: String,
    /// The new image.
    pub to: String,
    /// The old container's restart policy (`always`, `unless-stopped`, …),
    /// given to whichever container is kept.
    pub restart: String,
    /// Its retry count (for `on-failure`).
    #[serde(default)]
    pub restart_retries: Option<i64>,
    /// The new container's id, once created.
    #[serde(default)]
    pub new_id: Option<String>,
    /// Why the new one is being rolled back (phase `rolling_back`).
    #[serde(default)]
    pub reason: Option<String>,
}

impl Journal {
    /// The restart policy the old container had (none if it is not one Docker knows).
    pub fn restart_policy(&self) -> bollard::models::RestartPolicy {
        bollard::models::RestartPolicy {
            name: Some(
                self.restart
                    .parse()
                    .unwrap_or(bollard::models::RestartPolicyNameEnum::NO),
            ),
            maximum_retry_count: self.restart_retries,
        }
    }
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The journal of an unfinished update, if any.
pub fn read(data_dir: &Path) -> Result<Option<Journal>, String> {
    let p = path(data_dir);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not an update journal: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", p.display())),
    }
}

/// Writes the journal durably: it names the phase only once it is on disk.
pub fn write(data_dir: &Path, journal: &Journal) -> Result<(), String> {
    let p = path(data_dir);
    let fresh = data_dir.join(format!("{FILE}.new"));
    let fail = |e: std::io::Error| format!("writing {}: {e}", p.display());
    let bytes = serde_json::to_vec_pretty(journal).map_err(|e| e.to_string())?;
    let mut f = std::fs::File::create(&fresh).map_err(fail)?;
    f.write_all(&bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&fresh, &p).map_err(fail)?;
    sync_dir(data_dir).map_err(fail)
}

/// Removes the journal (the update is over), durably.
pub fn clear(data_dir: &Path) -> Result<(), String> {
    let p = path(data_dir);
    match std::fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing {}: {e}", p.display())),
    }
    sync_dir(data_dir).map_err(|e| format!("syncing {}: {e}", data_dir.display()))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// One updater at a time per data dir (the helper, or a person running
/// `pvm-node update` by hand): an exclusive lock on `update.lock`, held for
/// the whole run and released when the process ends, however it ends.
pub struct UpdateLock {
    _file: std::fs::File,
}

pub const LOCK_FILE: &str = "update.lock";

pub fn lock(data_dir: &Path) -> Result<UpdateLock, String> {
    let p = data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .map_err(|e| format!("opening {}: {e}", p.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(UpdateLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another update is running on this data dir ({} is locked); wait for it to finish",
            p.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("locking {}: {e}", p.display())),
    }
}

/// The phase a drill asked the updater to stop at (see [`HOLD_FILE`]).
pub fn hold_at(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join(HOLD_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_survives_a_round_trip_and_clearing_twice_is_fine() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(read(dir.path()).expect("none"), None);
        let j = Journal {
            phase: Phase::NewCreated,
            container: "pvm-node".into(),
            old_id: "abc".into(),
            from: "pvm-node:1".into(),
            to: "pvm-node@sha256:00".into(),
            restart: "always".into(),
            restart_retries: None,
            new_id: Some("def".into()),
            reason: None,
        };
        write(dir.path(), &j).expect("write");
        assert_eq!(read(dir.path()).expect("read"), Some(j));
        assert!(!dir.path().join("update.json.new").exists());
        clear(dir.path()).expect("clear");
        clear(dir.path()).expect("clear again");
        assert_eq!(read(dir.path()).expect("none"), None);
        std::fs::write(path(dir.path()), "{").expect("torn");
        assert!(read(dir.path())
            .expect_err("torn")
            .contains("not an update journal"));
    }

    #[test]
    fn phase_names_match_their_serialized_form() {
        for p in Phase::ALL {
            assert_eq!(
                serde_json::to_value(p).expect("json"),
                serde_json::Value::String(p.name().into())
            );
        }
    }
}
