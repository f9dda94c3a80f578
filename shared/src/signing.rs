//! One key, one purpose: everything the hub's key signs besides tokens
//! carries a fixed context prefix of its own, so a signature made for one
//! purpose is never valid for another. A token's signing input (standard
//! EdDSA JWT) begins `eyJ`, which no context here does: `pvm-cloud sign`
//! over a token's bytes signs `MANIFEST ‖ bytes`, never the token.

/// Update manifests signed with `pvm-cloud sign FILE` (checked by `pvm-node update`).
pub const MANIFEST: &[u8] = b"pvm-update-manifest-v1\n";
/// A release's `SHA256SUMS` signed with `pvm-cloud sign-dist` (checked by `install.sh`).
pub const RELEASE: &[u8] = b"pvm-release-v1\n";
/// Messages down to a venue's node (`pvm_shared::down`).
pub const DOWN: &[u8] = b"pvm-down-v1\n";

/// A node asking the hub for its new leaf credentials, or saying its leaf
/// links with them (signed by the node's key; `pvm-cloud`'s
/// `/api/v1/leaf-credentials`).
pub const LEAF_CREDENTIALS: &[u8] = b"pvm-leaf-credentials-v1\n";

/// A node's device cookies (a browser that logged in well before; `pvm-node`'s auth).
pub const DEVICE: &[u8] = b"pvm-device-v1\n";

/// `context ‖ bytes`: what is signed and verified.
pub fn with_context(context: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(context.len() + bytes.len());
    out.extend_from_slice(context);
    out.extend_from_slice(bytes);
    out
}

/// What a node signs to take (`confirm: None`) or confirm (`confirm:
/// Some(user)`) new leaf credentials at `at_ms`.
pub fn leaf_credentials_statement(
    node_id: uuid::Uuid,
    venue_id: uuid::Uuid,
    at_ms: u64,
    confirm: Option<&str>,
) -> Vec<u8> {
    let value = serde_json::json!({
        "node_id": node_id,
        "venue_id": venue_id,
        "at_ms": at_ms,
        "confirm": confirm,
    });
    with_context(LEAF_CREDENTIALS, &crate::canonical::to_vec(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_differ_and_none_can_start_a_token() {
        let all = [
            MANIFEST,
            RELEASE,
            DOWN,
            DEVICE,
            LEAF_CREDENTIALS,
            crate::resync::CONTEXT,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(!a.starts_with(b"eyJ"));
            for b in &all[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a));
            }
        }
        assert_eq!(with_context(DOWN, b"{}"), b"pvm-down-v1\n{}".to_vec());
    }
}
