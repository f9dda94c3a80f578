//! What every page PVM serves (node and hub) says to the browser about itself.

/// The Content-Security-Policy of every response: scripts and styles only
/// from the server's own files, never framed.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
