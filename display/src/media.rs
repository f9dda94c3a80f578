//! Images staff upload for the displays (slides, the venue logo): kept in
//! `<data dir>/media` under the SHA-256 of their bytes, so a name is its
//! content and an event can refer to it. Only PNG, JPEG and WebP, checked by
//! their first bytes, up to 2 MiB.

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
}

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
        }
    }

    /// Stores `bytes` and returns their name; storing the same image twice is harmless.
    pub fn put(&self, bytes: &[u8]) -> Result<String, MediaError> {
        let name = name_of(bytes)?;
        let path = self.dir.join(&name);
        if !path.exists() {
            std::fs::create_dir_all(&self.dir)?;
            let tmp = self.dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)?;
        }
        Ok(name)
    }

    /// The image and its content type, if `name` is one we hold.
    pub fn get(&self, name: &str) -> Option<(Vec<u8>, &'static str)> {
        if !valid_name(name) {
            return None;
        }
        let bytes = std::fs::read(self.dir.join(name)).ok()?;
        let (_, content_type) = sniff(&bytes)?;
        Some((bytes, content_type))
    }

    pub fn has(&self, name: &str) -> bool {
        valid_name(name) && self.dir.join(name).exists()
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
}
