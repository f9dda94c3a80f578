//! Passwords and PINs as argon2id hashes, shared by the node and the hub.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id parameters, sized for a Raspberry Pi 5: 19 MiB, 2 passes, 1 lane
/// (the OWASP minimum for argon2id). About 60 ms per hash on a Pi 5 core and
/// 25 ms on the x86 CI machines; a login costs one hash.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password or PIN as an argon2id PHC string.
pub fn hash_secret(secret: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

/// Whether `secret` matches the PHC string `hash`.
pub fn verify_secret(hash: &str, secret: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| argon2().verify_password(secret.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A password: 8 to 128 characters.
pub fn check_password(pw: &str) -> Result<(), String> {
    let n = pw.chars().count();
    if (8..=128).contains(&n) {
        Ok(())
    } else {
        Err("a password needs 8 to 128 characters".into())
    }
}

/// A hash to check against when there is no account, so that the time a
/// login takes does not tell which usernames exist.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9bq1vU0mJ8pXnq0rQmVjwQh7b0WkqHDYkWZrOaU+Q0g";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let h = hash_secret("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_secret(&h, "correct horse"));
        assert!(!verify_secret(&h, "correct horsf"));
    }

    #[test]
    fn the_dummy_hash_parses_so_unknown_users_cost_a_real_check() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
