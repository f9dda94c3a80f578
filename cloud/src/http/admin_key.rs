//! The admin key: API calls for admins carry `Authorization: Bearer pvm_admin_…`.

use super::error::ApiError;
use crate::App;
use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

/// Admin calls carry `Authorization: Bearer pvm_admin_…` (printed once at first start).
pub fn admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if token.is_empty() || hash != app.admin_key_hash {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an admin key is needed".into(),
        ));
    }
    Ok(())
}
