//! A remote wipe (a stolen box, docs/OPERATIONS.md "Wiping a node
//! remotely"): the hub's signed order is recorded in the log and a marker
//! left in the data dir; once the hub has the record (or after
//! [`REPORT_WAIT`]) the node stops and erases everything in its data dir.
//! A node that finds the marker when it starts (the power went between the
//! two) erases first. Either way its next start is a first boot.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The marker's file name in the data dir.
pub const MARKER: &str = "WIPE";

/// How long the node waits for the hub to hold the record of the order
/// before it erases anyway (a box kept off the link still forgets).
pub const REPORT_WAIT: Duration = Duration::from_secs(60);

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Leaves the marker (written and synced to disk) and remembers the order in
/// this process, so the wipe happens even if the marker could not be written.
pub fn mark(data_dir: &Path) -> std::io::Result<()> {
    REQUESTED.store(true, Ordering::SeqCst);
    let path = data_dir.join(MARKER);
    let file = std::fs::File::create(&path)?;
    file.sync_all()?;
    std::fs::File::open(data_dir)?.sync_all()
}

/// Whether this data dir is to be erased (ordered in this process, or a
/// marker left by an earlier one).
pub fn pending(data_dir: &Path) -> bool {
    REQUESTED.load(Ordering::SeqCst) || data_dir.join(MARKER).exists()
}

/// Removes every entry of the data dir (not the dir itself: it may be a
/// mount), the marker last; answers how many entries went.
pub fn erase(data_dir: &Path) -> std::io::Result<usize> {
    let mut gone = 0;
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        if entry.file_name() == MARKER {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
        gone += 1;
    }
    match std::fs::remove_file(data_dir.join(MARKER)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::File::open(data_dir)?.sync_all()?;
    REQUESTED.store(false, Ordering::SeqCst);
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erase_empties_the_dir_and_keeps_it() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("node.db"), b"x").expect("file");
        std::fs::create_dir_all(dir.path().join("media/ab")).expect("dirs");
        std::fs::write(dir.path().join("media/ab/img.png"), b"x").expect("file");
        assert!(!pending(dir.path()));
        std::fs::write(dir.path().join(MARKER), b"").expect("marker");
        assert!(pending(dir.path()));
        assert_eq!(erase(dir.path()).expect("erase"), 2);
        assert!(dir.path().is_dir());
        assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 0);
        assert!(!pending(dir.path()));
    }
}
