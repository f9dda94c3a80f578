//! Images staff upload for the displays (slides, the venue logo): kept in
//! `<data dir>/media` under the SHA-256 of their bytes, so a name is its
//! content and an event can refer to it. Only PNG, JPEG and WebP, checked by
//! their first bytes, up to 2 MiB.
//!
//! Written durably (the file and the directory are synced before the upload
//! is answered) and checked against its name when read (hashed again whenever
//! its size or time changed): an image a power
//! cut left short is set aside as `.<name>.damaged`, answers "not found", and
//! is written again the next time the same image is uploaded (when the hub's
//! copy is the damaged one, the node sends it again within the hour).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const MAX_MEDIA: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the image is larger than 2 MiB")]
    TooLarge,
    #[error("only PNG, JPEG and WebP images can be shown")]
    NotAnImage,
    #[error("storing the image: {0}")]
    Io(#[from] std::io::Error),
}

/// What a node signs to upload an image to the hub (`PUT
/// /api/v1/nodes/<node>/media/<name>` with `x-pvm-time` and
/// `x-pvm-signature`): the name is the content's hash, so the signature
/// binds the bytes too.
pub fn upload_message(node: uuid::Uuid, name: &str, at_ms: u64) -> Vec<u8> {
    format!("pvm-media-v1\n{node}\n{name}\n{at_ms}").into_bytes()
}

pub struct MediaStore {
    dir: PathBuf,
    /// Held while a file is written into place or set aside as damaged, so
    /// a reader that saw damage never moves aside a copy a writer just put.
    moving: std::sync::Mutex<()>,
    /// Files found whole, with the size and time they had then: read again
    /// without hashing while both are unchanged.
    verified: std::sync::Mutex<std::collections::HashMap<String, (u64, std::time::SystemTime)>>,
}

/// Whole files remembered at once (memory bound; past it the list starts over).
const MAX_VERIFIED: usize = 10_000;

/// The kind of image by its first bytes: (extension, content type).
fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(("png", "image/png"))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("jpg", "image/jpeg"))
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("webp", "image/webp"))
    } else {
        None
    }
}

/// A media name as events carry it: 32 hex digits and an extension.
pub fn valid_name(name: &str) -> bool {
    pvm_shared::displays::valid_media_name(name)
}

/// The name `bytes` are kept under, if they are an image we take.
pub fn name_of(bytes: &[u8]) -> Result<String, MediaError> {
    if bytes.len() > MAX_MEDIA {
        return Err(MediaError::TooLarge);
    }
    let (ext, _) = sniff(bytes).ok_or(MediaError::NotAnImage)?;
    Ok(format!(
        "{}.{ext}",
        &hex::encode(Sha256::digest(bytes))[..32]
    ))
}

impl MediaStore {
    pub fn new(data_dir: &Path) -> MediaStore {
        MediaStore {
            dir: data_dir.join("media"),
            moving: std::sync::Mutex::default(),
            verified: std::sync::Mutex::default(),
        }
    }

    /// Stores `bytes` and returns their name; storing the same image twice is
    /// harmless, and a damaged copy is replaced.
    pub fn put(&self, bytes: &[u8]) -> Result<String, MediaError> {
        use std::io::Write;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = name_of(bytes)?;
        if self.read_checked(&name).is_some() {
            return Ok(name);
        }
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(
            ".{name}.{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            let _moving = self.moving.lock().unwrap_or_else(|p| p.into_inner());
            std::fs::rename(&tmp, self.dir.join(&name))?;
            // The rename is only durable once the directory is.
            std::fs::File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        Ok(name)
    }

    /// The bytes kept under `name`, if they are whole: a file whose content
    /// does not match its name is set aside (and logged) and reads as absent.
    /// A file is hashed when first read and again whenever its size or time
    /// changed since.
    fn read_checked(&self, name: &str) -> Option<Vec<u8>> {
        if !valid_name(name) {
            return None;
        }
        let path = self.dir.join(name);
        let stamp = |meta: &std::fs::Metadata| Some((meta.len(), meta.modified().ok()?));
        let file = std::fs::File::open(&path).ok()?;
        let before = stamp(&file.metadata().ok()?)?;
        let mut bytes = Vec::with_capacity(before.0.min(MAX_MEDIA as u64 + 1) as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&file, MAX_MEDIA as u64 + 1),
            &mut bytes,
        )
        .ok()?;
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            == Some(&before);
        if known && bytes.len() as u64 == before.0 {
            return Some(bytes);
        }
        if name_of(&bytes).ok().as_deref() == Some(name) {
            let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
            verified.insert(name.to_owned(), before);
            return Some(bytes);
        }
        let _moving = self.moving.lock().unwrap_or_else(|p| p.into_inner());
        // A writer may have put a whole copy in place since we read.
        if let Some(whole) = std::fs::read(&path)
            .ok()
            .filter(|b| name_of(b).ok().as_deref() == Some(name))
        {
            return Some(whole);
        }
        tracing::warn!(
            name,
            bytes = bytes.len(),
            "a display image is damaged on disk (its bytes do not match its name): set aside until it is uploaded again"
        );
        let _ = std::fs::rename(&path, self.dir.join(format!(".{name}.damaged")));
        None
    }

    /// The image and its content type, if `name` is one we hold whole.
    pub fn get(&self, name: &str) -> Option<(Vec<u8>, &'static str)> {
        let bytes = self.read_checked(name)?;
        let (_, content_type) = sniff(&bytes)?;
        Some((bytes, content_type))
    }

    /// Whether `name` is held whole.
    pub fn has(&self, name: &str) -> bool {
        self.read_checked(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];

    #[test]
    fn images_are_kept_by_content_and_nothing_else_is_taken() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = MediaStore::new(dir.path());
        let name = store.put(PNG).expect("png");
        assert!(name.ends_with(".png") && name.len() == 36);
        assert_eq!(store.put(PNG).expect("again"), name);
        assert_eq!(store.get(&name).map(|(_, t)| t), Some("image/png"));
        assert!(matches!(
            store.put(b"<svg onload=alert(1)>"),
            Err(MediaError::NotAnImage)
        ));
        assert!(matches!(
            store.put(&vec![0xFF; MAX_MEDIA + 1]),
            Err(MediaError::TooLarge)
        ));
        assert!(store.get("../../etc/passwd").is_none());
        assert!(!store.has("0123.png"));
    }

    #[test]
    fn an_image_cut_short_reads_as_absent_and_is_written_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = MediaStore::new(dir.path());
        let name = store.put(PNG).expect("png");
        let path = dir.path().join("media").join(&name);
        std::fs::write(&path, &PNG[..5]).expect("cut short");
        assert!(store.get(&name).is_none(), "a damaged image is not served");
        assert!(!store.has(&name));
        assert!(
            dir.path()
                .join("media")
                .join(format!(".{name}.damaged"))
                .exists(),
            "set aside for a look"
        );
        assert_eq!(store.put(PNG).expect("again"), name);
        assert_eq!(store.get(&name).map(|(b, _)| b), Some(PNG.to_vec()));
        // Flipped bytes of the same length are caught too (once the file's
        // time has moved on: the kernel's file clock is coarse).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut flipped = PNG.to_vec();
        flipped[11] ^= 1;
        std::fs::write(&path, &flipped).expect("flip");
        assert!(store.get(&name).is_none());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("media"))
            .expect("dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
