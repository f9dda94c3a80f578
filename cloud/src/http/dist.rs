//! Release artefacts for venue installs: `/install.sh` (provisioning/install.sh
//! with this hub's address and public key filled in) and `/dist/<file>`
//! from `--dist-dir`, whose `SHA256SUMS` the operator signs once with
//! `pvm-cloud sign-dist DIR`. The installer trusts the signature, not the
//! download: a changed file no longer matches the signed manifest.

use super::error::ApiError;
use super::error::PathOf;
use crate::App;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};

const INSTALL_SH: &str = include_str!("../../../provisioning/install.sh");
pub const MANIFEST: &str = "SHA256SUMS";

pub fn routes() -> Router<App> {
    Router::new()
        .route("/install.sh", get(install_sh))
        .route("/dist/{file}", get(artefact))
}

/// The address venues reach this hub at, from the request: https when the
/// hub serves TLS itself (`tls`) or a TLS proxy says `X-Forwarded-Proto: https`.
fn public_url(headers: &HeaderMap, tls: bool) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if !valid {
        return None;
    }
    let proto = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        _ if tls => "https",
        Some("https") => "https",
        _ => "http",
    };
    Some(format!("{proto}://{host}"))
}

async fn install_sh(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let url = public_url(&headers, app.cli.tls_cert.is_some()).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_host",
            "the Host header is missing or not a host name".into(),
        )
    })?;
    let key = base64::engine::general_purpose::STANDARD
        .encode(app.key.current().verifying_key().as_bytes());
    let script = INSTALL_SH
        .replacen("HUB_URL=\"@HUB_URL@\"", &format!("HUB_URL=\"{url}\""), 1)
        .replacen("HUB_KEY=\"@HUB_KEY@\"", &format!("HUB_KEY=\"{key}\""), 1);
    Ok((
        [
            (header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        script,
    )
        .into_response())
}

fn valid_file(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

async fn artefact(
    State(app): State<App>,
    PathOf(file): PathOf<String>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no artefact {file}"),
        )
    };
    let dir = app.cli.dist_dir.as_ref().ok_or_else(not_found)?;
    if !valid_file(&file) {
        return Err(not_found());
    }
    let path = dir.join(&file);
    let f = tokio::fs::File::open(&path)
        .await
        .map_err(|_| not_found())?;
    let len = f
        .metadata()
        .await
        .map(|m| m.len())
        .map_err(|_| not_found())?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(f));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}

/// `pvm-cloud sign-dist DIR`: signs DIR/SHA256SUMS with the hub key (DIR/SHA256SUMS.sig, raw ed25519).
pub fn sign(key: &SigningKey, dir: &std::path::Path) -> anyhow::Result<usize> {
    use anyhow::Context;
    let manifest = dir.join(MANIFEST);
    let text = std::fs::read(&manifest)
        .with_context(|| format!("reading {} (run scripts/dist first)", manifest.display()))?;
    let lines = String::from_utf8_lossy(&text).lines().count();
    if lines == 0 {
        anyhow::bail!("{} lists no files", manifest.display());
    }
    let sig = key.sign(&pvm_shared::signing::with_context(
        pvm_shared::signing::RELEASE,
        &text,
    ));
    let out = dir.join(format!("{MANIFEST}.sig"));
    std::fs::write(&out, sig.to_bytes()).with_context(|| format!("writing {}", out.display()))?;
    Ok(lines)
}

/// Signs an update manifest with the hub key (FILE.sig beside it, raw
/// ed25519 over `signing::MANIFEST` and the file's bytes).
pub fn sign_file(key: &SigningKey, file: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let out = std::path::PathBuf::from(format!("{}.sig", file.display()));
    let signed = pvm_shared::signing::with_context(pvm_shared::signing::MANIFEST, &bytes);
    std::fs::write(&out, key.sign(&signed).to_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_artefact_names_are_served() {
        assert!(valid_file("pvm-node-image-0.1.0-amd64.tar.gz"));
        assert!(valid_file("SHA256SUMS.sig"));
        for bad in ["", "..", ".env", "../hub.key", "a/b", "a%2fb", "x y"] {
            assert!(!valid_file(bad), "{bad}");
        }
    }

    #[test]
    fn the_public_url_comes_from_the_host_and_the_proxy() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "hub.example.com".parse().expect("host"));
        assert_eq!(
            public_url(&h, false).as_deref(),
            Some("http://hub.example.com")
        );
        h.insert("x-forwarded-proto", "https".parse().expect("proto"));
        assert_eq!(
            public_url(&h, false).as_deref(),
            Some("https://hub.example.com")
        );
        h.insert(header::HOST, "evil\"; rm -rf /".parse().expect("host"));
        assert_eq!(public_url(&h, false), None);
    }

    #[test]
    fn the_script_has_the_placeholders_it_is_filled_in_at() {
        assert!(INSTALL_SH.contains("HUB_URL=\"@HUB_URL@\""));
        assert!(INSTALL_SH.contains("HUB_KEY=\"@HUB_KEY@\""));
        assert!(INSTALL_SH.trim_end().ends_with("main \"$@\""));
    }
}
