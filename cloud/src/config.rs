//! The command line (flags and `PVM_CLOUD_*` variables).

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "pvm-cloud",
    version,
    about = "PVM cloud hub: venues, node registration, verified event ingest over NATS."
)]
pub struct Cli {
    /// Directory for the hub's database and keys. [default: ./pvm-cloud-data]
    #[arg(long, env = "PVM_CLOUD_DATA_DIR", default_value = "pvm-cloud-data")]
    pub data_dir: PathBuf,
    /// Where the hub keeps venues, nodes and events: a libSQL file, or a
    /// PostgreSQL server (`postgres://user:password@host:port/db`) for several
    /// pvm-cloud processes sharing one database. [default: DATA_DIR/cloud.db]
    #[arg(long, env = "PVM_CLOUD_DATABASE")]
    pub database: Option<String>,
    /// Address to serve the API on.
    #[arg(long, env = "PVM_CLOUD_LISTEN", default_value = "0.0.0.0:8090")]
    pub listen: SocketAddr,
    /// The NATS hub (with JetStream, domain "hub") this process uses; for a
    /// hub cluster, each server's URL, comma-separated (credentials in the first).
    #[arg(long, env = "PVM_CLOUD_NATS", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// Copies the hub keeps of each stream (PVM_UP, PVM_DOWN) and consumer:
    /// 1 on one nats-server, 3 on a three-server hub cluster.
    #[arg(long, env = "PVM_CLOUD_STREAM_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub stream_replicas: u8,
    /// The leafnode URL nodes' leaf servers connect to (given to nodes at
    /// registration); for a hub cluster, each server's, comma-separated.
    #[arg(
        long,
        env = "PVM_CLOUD_LEAF_URL",
        default_value = "nats-leaf://127.0.0.1:7422"
    )]
    pub leaf_url: String,
    /// Where pvm-cloud keeps its own leaf-link CA and the certificate the hub's
    /// nats-server serves leafnodes with (made at first start). [default: DATA_DIR/leaf-tls]
    #[arg(long, env = "PVM_CLOUD_LEAF_TLS_DIR")]
    pub leaf_tls_dir: Option<PathBuf>,
    /// More names (host names or IP addresses) for the leaf certificate, besides --leaf-url's host.
    #[arg(
        long = "leaf-tls-name",
        env = "PVM_CLOUD_LEAF_TLS_NAMES",
        value_delimiter = ','
    )]
    pub leaf_tls_names: Vec<String>,
    /// The operator's own CA (PEM) that signed the hub nats-server's leafnode
    /// certificate: handed to nodes at registration; pvm-cloud then makes no CA.
    /// (--leaf-tls-dir is then unused.)
    #[arg(long, env = "PVM_CLOUD_LEAF_CA")]
    pub leaf_ca: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); with --tls-key. Without
    /// it, put a TLS proxy in front: nodes refuse to register over http://.
    #[arg(long, env = "PVM_CLOUD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "PVM_CLOUD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The users file the hub's nats-server includes in its `authorization` block
    /// (rewritten on each registration: pvm-cloud's own user from --nats, then one per venue).
    #[arg(long, env = "PVM_CLOUD_LEAF_USERS")]
    pub leaf_users: Option<PathBuf>,
    /// The hub nats-server's pid file, to tell it to reload after a
    /// registration (each server's of a cluster on this machine, comma-separated).
    #[arg(long, env = "PVM_CLOUD_NATS_PID", value_delimiter = ',')]
    pub nats_pid: Vec<PathBuf>,
    /// Let operators' own alert webhooks point at loopback, private or
    /// link-local addresses (a lab, or a hub whose operators are one
    /// company). Off: an owner cannot make the hub post into its own network.
    #[arg(long, env = "PVM_CLOUD_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Reverse proxies in front of the hub (addresses or networks such as
    /// 10.0.0.0/8, comma-separated): their `X-Forwarded-For` names the
    /// client that sign-in lockouts count against. From anyone else the
    /// header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "PVM_CLOUD_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = pvm_shared::proxies::parse_trusted_proxy
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The nodes' heartbeat interval: 3 missed make a node unhealthy, 5 offline.
    #[arg(long, env = "PVM_CLOUD_HEARTBEAT_SECS", default_value_t = 30)]
    pub heartbeat_secs: u64,
    /// Where alerts go: each alert that starts or ends (a node offline, a
    /// backlog over 1,000 events, low disk, a clock 2 s off, a fork, rejected
    /// events) is POSTed here as JSON. docs/OPERATIONS.md lists the fields.
    #[arg(long, env = "PVM_CLOUD_ALERT_WEBHOOK", value_parser = webhook_url)]
    pub alert_webhook: Option<String>,
    /// How long a node may stay silent before it is alerted as offline.
    #[arg(long, env = "PVM_CLOUD_ALERT_OFFLINE_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub alert_offline_secs: u64,
    /// Release artefacts served at /dist/ for /install.sh (made by scripts/dist, signed with sign-dist).
    #[arg(long, env = "PVM_CLOUD_DIST_DIR")]
    pub dist_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<CloudCommand>,
}

/// The URLs of a comma-separated list, trimmed, empty ones dropped; a comma
/// not followed by a `scheme://` belongs to the URL before it (a password).
pub fn url_list(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in text.split(',') {
        match out.last_mut() {
            Some(last) if !piece.contains("://") && !piece.trim().is_empty() => {
                last.push(',');
                last.push_str(piece);
            }
            _ => out.push(piece.to_owned()),
        }
    }
    out.into_iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect()
}

impl Cli {
    /// Every server's leafnode URL (`--leaf-url`, one or a list).
    pub fn leaf_urls(&self) -> Vec<String> {
        url_list(&self.leaf_url)
    }

    /// The database `--database` names, or the libSQL file in the data dir.
    pub fn database(&self) -> crate::store::Database {
        match &self.database {
            Some(text) => crate::store::Database::parse(text),
            None => crate::store::Database::File(self.data_dir.join("cloud.db")),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum CloudCommand {
    /// Run the hub (the default).
    Serve,
    /// Sign DIR/SHA256SUMS (from scripts/dist) with the hub's key, for /install.sh.
    SignDist {
        /// The artefacts directory, e.g. dist/0.1.0
        dir: PathBuf,
    },
    /// Sign FILE (an update manifest for `pvm-node update --manifest`) with the hub's key: FILE.sig.
    Sign { file: PathBuf },
    /// Copy a hub's data into an empty database, every node's events
    /// verified on the way (e.g. from the libSQL file to PostgreSQL).
    /// Stop pvm-cloud first; start it again with --database TO.
    Migrate {
        /// The database to read: a libSQL file, or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// The empty database to fill: a postgres:// URL, or a libSQL file.
        #[arg(long)]
        to: String,
    },
    /// Make (if missing) the leaf-link CA and the hub's leafnode certificate
    /// in --leaf-tls-dir, and print the nats-server block that uses them.
    LeafTls,
}

/// An alert webhook: an http or https URL.
/// Whether a webhook URL names a loopback, private, link-local or
/// unspecified address (by literal or as `localhost`). A name that resolves
/// to one is not caught here: keep the hub's outgoing traffic out of its
/// own network at the firewall too.
pub fn private_webhook(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local())
        }
        None => false,
    }
}

/// An http:// or https:// URL with a host (alert webhooks).
pub fn webhook_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(text.to_owned()),
        _ => Err("an http:// or https:// URL with a host".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::url_list;
    use crate::leaf_users::{nats_addresses, nats_credentials};

    #[test]
    fn private_webhooks_are_named_by_literal_address_or_localhost() {
        use super::private_webhook;
        for private in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://a.localhost./x",
            "https://10.0.0.1/",
            "https://192.168.1.5/",
            "https://169.254.169.254/latest",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert!(private_webhook(private), "{private}");
        }
        for public in [
            "https://hooks.example.com/a",
            "https://8.8.8.8/",
            "http://[2001:db8::1]/",
        ] {
            assert!(!private_webhook(public), "{public}");
        }
    }

    #[test]
    fn url_lists_keep_commas_inside_a_url_and_drop_blanks() {
        assert_eq!(
            url_list(" nats-leaf://a:7422 , nats-leaf://b:7422,,"),
            ["nats-leaf://a:7422", "nats-leaf://b:7422"]
        );
        assert!(url_list(" , ").is_empty());
        let nats = "nats://u:p,w@d@a:4222,nats://b:4222";
        assert_eq!(url_list(nats), ["nats://u:p,w@d@a:4222", "nats://b:4222"]);
        assert_eq!(nats_credentials(nats), Some(("u".into(), "p,w@d".into())));
        assert_eq!(nats_addresses(nats), ["nats://a:4222", "nats://b:4222"]);
        assert_eq!(nats_credentials("nats://a:4222,nats://u:p@b:4222"), None);
    }
}
