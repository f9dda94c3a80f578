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
    /// Address to serve the API on.
    #[arg(long, env = "PVM_CLOUD_LISTEN", default_value = "0.0.0.0:8090")]
    pub listen: SocketAddr,
    /// The NATS hub (with JetStream, domain "hub") this process uses.
    #[arg(long, env = "PVM_CLOUD_NATS", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// The leafnode URL nodes' leaf servers connect to (given to nodes at registration).
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
    /// The hub nats-server's pid file, to tell it to reload after a registration.
    #[arg(long, env = "PVM_CLOUD_NATS_PID")]
    pub nats_pid: Option<PathBuf>,
    /// The nodes' heartbeat interval: 3 missed make a node unhealthy, 5 offline.
    #[arg(long, env = "PVM_CLOUD_HEARTBEAT_SECS", default_value_t = 30)]
    pub heartbeat_secs: u64,
    /// Release artefacts served at /dist/ for /install.sh (made by scripts/dist, signed with sign-dist).
    #[arg(long, env = "PVM_CLOUD_DIST_DIR")]
    pub dist_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<CloudCommand>,
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
    /// Make (if missing) the leaf-link CA and the hub's leafnode certificate
    /// in --leaf-tls-dir, and print the nats-server block that uses them.
    LeafTls,
}
