//! `pvm-cloud`: the hub. One command runs it: embedded libSQL, a connection
//! to the NATS hub (streams and the ingest consumer made idempotently at
//! start), and an HTTP API for admins and for node registration.
//!
//! `main.rs` parses the command line and calls [`run`]; [`http::app`] is the
//! whole HTTP surface (tests call it in-process); `store` holds every SQL
//! statement; `ingest`, `heartbeat`, `downstream` and `leaf_users` are the
//! hub's work on NATS.

pub mod alerts;
pub mod config;
pub mod console;
pub mod downstream;
pub mod heartbeat;
pub mod http;
pub mod hub_keys;
pub mod ingest;
pub mod leaf_tls;
pub mod leaf_users;
pub mod migrate;
pub mod partitions;
pub mod reports;
pub mod roaming;
mod serve;
pub mod store;

pub use config::{Cli, CloudCommand};
pub use serve::{hub_key, run, start, Started};

use ingest::Registry;
use std::sync::Arc;

#[derive(Clone)]
pub struct App {
    pub hub: Arc<Registry>,
    pub js: async_nats::jetstream::Context,
    /// The hub's signing keys (the current one signs; nodes trust the list).
    pub key: Arc<hub_keys::HubKeys>,
    pub admin_key_hash: [u8; 32],
    pub cli: Arc<Cli>,
    /// Display images uploaded by the nodes (content-addressed).
    pub media: Arc<pvm_display::media::MediaStore>,
    /// Held while the leaf users file is written and reloaded.
    pub leaf_users: Arc<tokio::sync::Mutex<()>>,
    /// The CA nodes trust for the leaf link (PEM), handed over at registration.
    pub leaf_ca: Arc<str>,
    /// Failed hub sign-ins, for lockouts.
    pub logins: Arc<http::auth::Logins>,
    /// `--trusted-proxy`: whose `X-Forwarded-For` names the client.
    pub proxies: Arc<pvm_shared::proxies::TrustedProxies>,
    /// Cancelled when the hub stops: live feeds (the console's) end then.
    pub stop: tokio_util::sync::CancellationToken,
    /// Operators whose venues' hub accounts are still to be sent.
    pub roaming: Arc<roaming::Pending>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}
