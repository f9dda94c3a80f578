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

/// The leaf's config: under Docker (compose/node.yml) the leaf container
/// mounts it from the data dir, so it is rewritten without the hub link
/// and its credentials rather than removed (a missing bind-mount source
/// would come back as a root-owned directory).
const LEAF_CONF: &str = "leaf.conf";
/// The hub's public leaf CA, mounted the same way: kept.
const LEAF_CA: &str = "leaf.ca.pem";

/// Removes every entry of the data dir (not the dir itself: it may be a
/// mount), the marker last, holding the data-dir lock; `leaf.conf` is cut
/// down to a leaf with no hub and `leaf.ca.pem` stays. An entry that goes
/// by itself meanwhile (a file SQLite removes) is not an error; a second
/// pass takes what a task still running wrote meanwhile. Answers how many
/// entries went.
pub fn erase(data_dir: &Path) -> std::io::Result<usize> {
    let _lock = crate::lock::DataDirLock::acquire(data_dir)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut gone = 0;
    for _pass in 0..2 {
        gone += erase_once(data_dir)?;
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

fn erase_once(data_dir: &Path) -> std::io::Result<usize> {
    let keep = [MARKER, LEAF_CA, crate::lock::LOCK_FILE];
    let mut gone = 0;
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if keep.iter().any(|k| name == *k) {
            continue;
        }
        let path = entry.path();
        if name == LEAF_CONF {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.contains("leafnodes") {
                continue;
            }
            std::fs::write(&path, standalone_leaf(&text))?;
            gone += 1;
            continue;
        }
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => gone += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(gone)
}

/// The leaf's config without its link to the hub: its own listening
/// address and monitor only.
fn standalone_leaf(text: &str) -> String {
    let own: Vec<&str> = text
        .lines()
        .filter(|l| ["host:", "port:", "http:"].iter().any(|k| l.starts_with(k)))
        .collect();
    format!(
        "# This node was wiped by the hub's order: a leaf with no hub until it is registered again.\n{}\n",
        own.join("\n")
    )
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
        std::fs::write(
            dir.path().join(LEAF_CONF),
            "server_name: \"leaf-n\"\nhost: 127.0.0.1\nport: 4222\nhttp: \"127.0.0.1:8222\"\nleafnodes {\n  remotes: [ { urls: [ \"nats-leaf://u:secret@hub:7422\" ] } ]\n}\n",
        )
        .expect("leaf conf");
        std::fs::write(dir.path().join(LEAF_CA), "PEM").expect("ca");
        assert_eq!(erase(dir.path()).expect("erase"), 3);
        assert!(dir.path().is_dir());
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != crate::lock::LOCK_FILE)
            .collect();
        left.sort();
        assert_eq!(
            left,
            [LEAF_CA, LEAF_CONF],
            "the leaf's two mounted files stay"
        );
        let conf = std::fs::read_to_string(dir.path().join(LEAF_CONF)).expect("conf");
        assert!(conf.contains("port: 4222") && conf.contains("http: \"127.0.0.1:8222\""));
        assert!(
            !conf.contains("secret") && !conf.contains("leafnodes"),
            "{conf}"
        );
        assert!(!pending(dir.path()));
    }
}
