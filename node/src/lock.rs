//! One process per data dir: an exclusive lock on `pvm-node.lock`.
//!
//! Two processes writing one SQLite file would corrupt the chain (and libsql
//! has a WAL-reset race between processes, libsql #2271). The lock is an
//! advisory flock, so it is released when the process dies, even by SIGKILL.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "pvm-node.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another pvm-node{pid} is already using data dir {dir}; stop it first, or give this one its own --data-dir")]
    Held { dir: PathBuf, pid: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as this process uses the data dir.
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(LockError::Held {
                    dir: dir.to_owned(),
                    pid: if pid.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {pid})")
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }

    /// True when some process holds the lock right now.
    pub fn is_held(dir: &Path) -> bool {
        matches!(DataDirLock::acquire(dir), Err(LockError::Held { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = DataDirLock::acquire(dir.path()).expect("first");
        let err = DataDirLock::acquire(dir.path())
            .err()
            .expect("second refused");
        let msg = err.to_string();
        assert!(msg.contains("already using data dir"), "{msg}");
        assert!(msg.contains(&std::process::id().to_string()), "{msg}");
    }
}
