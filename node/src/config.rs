//! One configuration, loaded once at start and passed down.
//!
//! Precedence: command-line flags, then `PVM_*` environment variables (clap
//! reads both), then the TOML file (`--config`, or `pvm-node.toml` in the
//! data dir when present), then defaults. Nothing reads the environment later.

use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_DATA_DIR: &str = "pvm-data";
pub const DATA_DIR_CONFIG: &str = "pvm-node.toml";

#[derive(Debug, Parser)]
#[command(
    name = "pvm-node",
    version,
    about = "PVM venue node: runs a poker room's tables, clocks and lists on the LAN, offline or online.",
    long_about = "PVM venue node: runs a poker room's tables, clocks and lists on the LAN, offline or online.\n\n\
        Settings come from flags, then PVM_* environment variables, then a TOML file (--config, or \
        pvm-node.toml inside the data dir), then defaults. With no command, `serve` runs."
)]
pub struct Cli {
    /// Directory holding the database, the node key and the lock file. Created (mode 0700) if missing. [default: ./pvm-data]
    #[arg(long, env = "PVM_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// A TOML file with settings (keys: data_dir, listen, log, log_format, mdns). Flags and PVM_* variables override it.
    #[arg(long, env = "PVM_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address and port to serve the staff UI, API and displays on (serve only). [default: 0.0.0.0:8080]
    #[arg(long, env = "PVM_LISTEN", global = true, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// Log filter, e.g. `info` or `pvm_node=debug,info` (serve only). [default: info]
    #[arg(long, env = "PVM_LOG", global = true, value_name = "FILTER")]
    pub log: Option<String>,

    /// Log format: `text` for people (the default when standard error is a terminal), `json` for machines (the default otherwise).
    #[arg(long, env = "PVM_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// mDNS for displays and kiosks: `auto` (every LAN interface), `off`, or interface names like `eth0,wlan0` (serve only). [default: auto]
    #[arg(long, env = "PVM_MDNS", global = true, value_name = "MODE")]
    pub mdns: Option<String>,

    /// The local leaf nats-server the sync pump publishes through (serve only, once registered). [default: nats://127.0.0.1:4222]
    #[arg(long, env = "PVM_NATS", global = true, value_name = "URL")]
    pub nats: Option<String>,

    /// Live display feeds one client address may hold at once (serve only); past it 429. [default: 64]
    #[arg(
        long,
        env = "PVM_DISPLAY_MAX_PER_ADDRESS",
        global = true,
        value_name = "N"
    )]
    pub display_max_per_address: Option<u32>,

    /// A reverse proxy in front of the node, whose X-Forwarded-For names the client: an address or a network such as 10.0.0.0/8 (repeat the flag, or comma-separate in the variable). From anyone else the header is ignored (serve only).
    #[arg(
        long = "trusted-proxy",
        env = "PVM_TRUSTED_PROXIES",
        global = true,
        value_name = "ADDR|CIDR",
        value_delimiter = ',',
        value_parser = crate::http::auth::parse_trusted_proxy
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Seconds between heartbeats to the hub (serve only). [default: 30]
    #[arg(long, env = "PVM_HEARTBEAT_SECS", global = true, value_name = "SECS")]
    pub heartbeat_secs: Option<u64>,

    /// The local leaf's monitoring address, watched at /leafz (serve only, once registered). [default: http://127.0.0.1:8222]
    #[arg(long, env = "PVM_LEAF_MONITOR", global = true, value_name = "URL")]
    pub leaf_monitor: Option<String>,

    /// The leaf nats-server's configuration file (it holds the leaf's credentials: the node rewrites them when the hub rotates them). [default: <data dir>/leaf.conf]
    #[arg(long, env = "PVM_LEAF_CONF", global = true, value_name = "PATH")]
    pub leaf_conf: Option<PathBuf>,

    /// Run the leaf nats-server as the node's own child, e.g. "nats-server -c /var/lib/pvm/leaf.conf" (split on spaces); it is restarted when it exits or its link sticks.
    #[arg(long, env = "PVM_LEAF_RUN", global = true, value_name = "COMMAND")]
    pub leaf_run: Option<String>,

    /// The leaf's Docker container, restarted through the Docker API when its link sticks (compose/node.yml: pvm-leaf).
    #[arg(
        long,
        env = "PVM_LEAF_CONTAINER",
        global = true,
        value_name = "NAME",
        conflicts_with = "leaf_run"
    )]
    pub leaf_container: Option<String>,

    /// A shell command that restarts the leaf when its link sticks, e.g. "systemctl restart nats-leaf".
    #[arg(
        long,
        env = "PVM_LEAF_RESTART_CMD",
        global = true,
        value_name = "COMMAND",
        conflicts_with_all = ["leaf_run", "leaf_container"]
    )]
    pub leaf_restart_cmd: Option<String>,

    /// Seconds the leaf link may stay down while the hub answers before the leaf is restarted. [default: 120]
    #[arg(
        long,
        env = "PVM_LEAF_RESTART_AFTER",
        global = true,
        value_name = "SECS"
    )]
    pub leaf_restart_after: Option<u64>,

    /// This node's own container (under Docker), so the hub can update it through a helper container.
    #[arg(long, env = "PVM_SELF_CONTAINER", global = true, value_name = "NAME")]
    pub self_container: Option<String>,

    /// Seconds a new node must run cleanly before a hub-sent update keeps it. [default: 30]
    #[arg(
        long,
        env = "PVM_SELF_UPDATE_HEALTHY_SECS",
        global = true,
        value_name = "SECS"
    )]
    pub self_update_healthy_secs: Option<u64>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the node: staff UI, REST API and displays (the default).
    Serve,
    /// Create the data dir and the node key (mode 0600) without serving.
    Init,
    /// Walk the whole event log; exit 0 if it is intact, 1 naming the first problem.
    VerifyLog,
    /// Write a consistent snapshot of the database to FILE (asks the running node if there is one).
    Backup {
        /// Where to write the snapshot; must not exist yet.
        file: PathBuf,
    },
    /// Staff accounts from the command line: the first admin, or a way back in.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// After this node's log forked from the hub's copy (e.g. it was restored
    /// from an older backup): rebuild the log under a new node id and move the
    /// venue at the hub to it. Stop the node first.
    Resync,
    /// Register this node with the cloud hub using a one-time token from its admin.
    Register {
        /// The hub's address, e.g. https://hub.example.com
        #[arg(long)]
        hub: String,
        /// The registration token (pvm_reg_…).
        #[arg(long, env = "PVM_REG_TOKEN")]
        token: String,
        /// A private CA (PEM file) the hub's HTTPS certificate chains to, trusted beside the public roots.
        #[arg(long)]
        hub_ca: Option<PathBuf>,
        /// Allow an http:// hub and a leaf link without TLS: for a lab, never a venue
        /// (the answer carries the leaf password).
        #[arg(long)]
        insecure_http: bool,
    },
    /// Update a container to a new image; it is kept only if it runs cleanly, else the old one comes back.
    Update {
        /// The running container to replace.
        #[arg(long, default_value = "pvm-node")]
        container: String,
        /// The new image, e.g. registry.example/pvm-node@sha256:...
        #[arg(
            long,
            required_unless_present = "manifest",
            conflicts_with = "manifest"
        )]
        image: Option<String>,
        /// A manifest from the hub naming the images by digest, signed with the hub's key (FILE.sig beside it).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Which of the manifest's images this container runs.
        #[arg(long, default_value = "node")]
        role: String,
        /// Seconds the new container must run with no restart and a passing health check.
        #[arg(long, default_value_t = 30)]
        healthy_secs: u64,
        /// A URL that must also answer 2xx before the new container is kept (e.g. http://127.0.0.1:8080/ready).
        #[arg(long)]
        check_url: Option<String>,
        /// Set by the node when it starts a helper container to run this:
        /// the helper's name (it stops restarting itself when the update is over).
        #[arg(long)]
        helper: Option<String>,
    },
    /// Write the nats-server configuration of this node's leaf (after register).
    LeafConfig {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// The port pvm-node connects to.
        #[arg(long, default_value_t = 4222)]
        port: u16,
        /// The leaf's monitoring port (pvm-node watches /leafz there).
        #[arg(long, default_value_t = 8222)]
        monitor_port: u16,
        /// Where to write the hub's leaf CA. [default: beside --out, e.g. leaf.ca.pem]
        #[arg(long)]
        ca_out: Option<PathBuf>,
        /// The CA file's path as the leaf's nats-server sees it (e.g. inside its
        /// container). [default: --ca-out]
        #[arg(long)]
        ca_path: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Create a staff account (an admin unless --role says otherwise). Reads the password from standard input.
    Create {
        /// Login name: letters, digits, dots, dashes, underscores.
        #[arg(long)]
        username: String,
        /// The name shown on screens [default: the username].
        #[arg(long)]
        display_name: Option<String>,
        /// admin, manager, floor or dealer.
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

/// The settings a file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    mdns: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub log: String,
    pub log_format: LogFormat,
    pub mdns: crate::mdns::MdnsMode,
    pub nats: String,
    pub heartbeat_secs: u64,
    pub display_max_per_address: u32,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub leaf_monitor: String,
    pub leaf_restart: crate::leaf::Restart,
    pub leaf_restart_after: std::time::Duration,
    pub leaf_conf: PathBuf,
    pub self_container: Option<String>,
    pub self_update_healthy_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

impl Config {
    pub fn resolve(cli: &Cli) -> Result<Config, ConfigError> {
        let mut file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = cli
            .data_dir
            .clone()
            .or(file.data_dir.take())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if cli.config.is_none() {
            let in_dir = data_dir.join(DATA_DIR_CONFIG);
            if in_dir.exists() {
                file = read_file(&in_dir)?;
            }
        }
        let listen = match (cli.listen, &file.listen) {
            (Some(addr), _) => addr,
            (None, Some(text)) => text.parse().map_err(|e| ConfigError::File {
                path: cli
                    .config
                    .clone()
                    .unwrap_or_else(|| data_dir.join(DATA_DIR_CONFIG)),
                reason: format!("listen = {text:?}: {e} (expected ADDR:PORT such as 0.0.0.0:8080)"),
            })?,
            (None, None) => DEFAULT_LISTEN.parse().unwrap_or_else(|_| unreachable!()),
        };
        let mdns_text = cli
            .mdns
            .clone()
            .or(file.mdns.take())
            .unwrap_or_else(|| "auto".into());
        let mdns = mdns_text
            .parse()
            .map_err(|reason: String| ConfigError::File {
                path: cli
                    .config
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("--mdns")),
                reason: format!("mdns: {reason}"),
            })?;
        Ok(Config {
            nats: cli
                .nats
                .clone()
                .unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            heartbeat_secs: cli.heartbeat_secs.unwrap_or(30).max(1),
            display_max_per_address: cli
                .display_max_per_address
                .unwrap_or(crate::displays::MAX_FEEDS_PER_ADDRESS)
                .max(1),
            trusted_proxies: cli.trusted_proxies.clone(),
            self_container: cli.self_container.clone(),
            self_update_healthy_secs: cli.self_update_healthy_secs.unwrap_or(30).max(1),
            leaf_monitor: cli
                .leaf_monitor
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:8222".into()),
            leaf_restart: match (&cli.leaf_run, &cli.leaf_container, &cli.leaf_restart_cmd) {
                (Some(run), _, _) => crate::leaf::Restart::Supervised(
                    run.split_whitespace().map(String::from).collect(),
                ),
                (None, Some(name), _) => crate::leaf::Restart::Container(name.clone()),
                (None, None, Some(cmd)) => crate::leaf::Restart::Command(cmd.clone()),
                (None, None, None) => crate::leaf::Restart::Off,
            },
            leaf_conf: cli
                .leaf_conf
                .clone()
                .unwrap_or_else(|| data_dir.join("leaf.conf")),
            leaf_restart_after: std::time::Duration::from_secs(
                cli.leaf_restart_after.unwrap_or(120).max(1),
            ),
            mdns,
            data_dir,
            listen,
            log: cli
                .log
                .clone()
                .or(file.log)
                .unwrap_or_else(|| "info".into()),
            // Readable text for a person at a terminal; JSON for a log collector.
            log_format: cli.log_format.or(file.log_format).unwrap_or_else(|| {
                use std::io::IsTerminal;
                if std::io::stderr().is_terminal() {
                    LogFormat::Text
                } else {
                    LogFormat::Json
                }
            }),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let fail = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    toml::from_str(&text).map_err(|e| fail(e.message().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("pvm-node").chain(args.iter().copied()))
            .expect("parses")
    }

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("node.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nlog = \"debug\"\n").expect("write");
        let from_file = Config::resolve(&cli(&["--config", file.to_str().unwrap_or_default()]))
            .expect("resolve");
        assert_eq!(from_file.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(from_file.log, "debug");
        let from_flag = Config::resolve(&cli(&[
            "--config",
            file.to_str().unwrap_or_default(),
            "--listen",
            "127.0.0.1:9001",
        ]))
        .expect("resolve");
        assert_eq!(from_flag.listen.to_string(), "127.0.0.1:9001");
        let defaults = Config::resolve(&cli(&[
            "--data-dir",
            dir.path().to_str().unwrap_or_default(),
        ]))
        .expect("resolve");
        assert_eq!(defaults.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("node.toml");
        std::fs::write(&file, "lisen = \"x\"\n").expect("write");
        let err = Config::resolve(&cli(&["--config", file.to_str().unwrap_or_default()]))
            .expect_err("refused");
        assert!(err.to_string().contains("lisen"), "{err}");
        assert!(err.to_string().contains("node.toml"), "{err}");
    }

    #[test]
    fn a_bad_listen_address_in_the_file_is_explained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("node.toml");
        std::fs::write(&file, "listen = \"8080\"\n").expect("write");
        let err = Config::resolve(&cli(&["--config", file.to_str().unwrap_or_default()]))
            .expect_err("refused");
        assert!(err.to_string().contains("ADDR:PORT"), "{err}");
    }
}
