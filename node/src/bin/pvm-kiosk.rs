//! `pvm-kiosk`: runs on a Pi or x86 box behind a TV. It finds the venue's
//! node over mDNS, and because mDNS is unauthenticated it trusts an address
//! only after the node there signs a fresh challenge with the key this kiosk
//! was paired with (the first node found is paired with, unless a key is
//! given). It keeps Chromium in kiosk mode on the display page, looks again
//! when the node stops answering (moved or restarted), and falls back to the
//! hub's display URL when no node answers.

use anyhow::{bail, Context};
use base64::Engine;
use clap::Parser;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const SERVICE: &str = "_pvm-display._tcp.local.";

#[derive(Debug, Parser)]
#[command(
    name = "pvm-kiosk",
    version,
    about = "Keeps a TV on the venue's PVM display page: finds the node over mDNS, checks its key, runs Chromium in kiosk mode."
)]
struct Cli {
    /// Where the kiosk keeps its display id and the node key it is paired with.
    #[arg(
        long,
        env = "PVM_KIOSK_STATE",
        default_value = "/var/lib/pvm-kiosk/state.json"
    )]
    state: PathBuf,
    /// Only this venue's node (its id, from the TXT record).
    #[arg(long, env = "PVM_KIOSK_VENUE")]
    venue: Option<String>,
    /// The node's public key (base64) to pair with, instead of the first node found.
    #[arg(long, env = "PVM_KIOSK_KEY")]
    key: Option<String>,
    /// Where to go when no node answers, e.g. the hub's display URL for this venue.
    #[arg(long, env = "PVM_KIOSK_FALLBACK")]
    fallback: Option<String>,
    /// Interfaces to look on (comma-separated names); default: every LAN interface.
    #[arg(long, env = "PVM_KIOSK_INTERFACES")]
    interfaces: Option<String>,
    /// Seconds to look for the node before falling back.
    #[arg(long, default_value_t = 10)]
    search_secs: u64,
    /// The browser to run.
    #[arg(long, env = "PVM_KIOSK_BROWSER", default_value = "/usr/bin/chromium")]
    browser: PathBuf,
    /// Print the URL the kiosk would open and exit (0 if a node answered, 2 on the fallback, 1 if neither).
    #[arg(long)]
    print_url: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    device_id: String,
    /// base64 ed25519 key of the node this kiosk trusts.
    node_key: Option<String>,
}

fn load_state(path: &PathBuf) -> anyhow::Result<State> {
    let mut state: State = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a kiosk state file", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if state.device_id.is_empty() {
        state.device_id = format!("kiosk-{}", hex::encode(rand::random::<[u8; 6]>()));
        save_state(path, &state)?;
    }
    Ok(state)
}

fn save_state(path: &PathBuf, state: &State) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(state)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A node that answered and proved its key.
#[derive(Debug, Clone, PartialEq)]
struct Found {
    base: String,
    key: String,
}

#[derive(Deserialize)]
struct Challenge {
    public_key: String,
    signature: String,
}

/// Checks that the node at `base` holds the private half of `key`.
async fn prove(http: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let ch: Challenge = http
        .get(format!("{base}/display/challenge?nonce={nonce}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if ch.public_key != key {
        bail!("{base} answers with another key");
    }
    let key_bytes: [u8; 32] = b64
        .decode(key)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a key is 32 bytes"))?;
    let sig_bytes: [u8; 64] = b64
        .decode(&ch.signature)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a signature is 64 bytes"))?;
    VerifyingKey::from_bytes(&key_bytes)?
        .verify(
            format!("pvm-kiosk-challenge:{nonce}").as_bytes(),
            &Signature::from_bytes(&sig_bytes),
        )
        .map_err(|_| anyhow::anyhow!("{base} could not sign for its key"))
}

/// Looks for the venue's node over mDNS and returns the first that proves the trusted key.
async fn discover(
    cli: &Cli,
    trusted: Option<&str>,
    http: &reqwest::Client,
) -> anyhow::Result<Option<Found>> {
    let daemon = ServiceDaemon::new()?;
    if let Some(list) = &cli.interfaces {
        daemon.disable_interface(IfKind::All)?;
        for name in list.split(',').map(str::trim) {
            if name == "lo" {
                daemon.enable_interface(IfKind::LoopbackV4)?;
            }
            daemon.enable_interface(IfKind::Name(name.to_owned()))?;
        }
    }
    let events = daemon.browse(SERVICE)?;
    let deadline = Instant::now() + Duration::from_secs(cli.search_secs);
    let mut result = None;
    while Instant::now() < deadline && result.is_none() {
        let Ok(event) = events.recv_timeout(Duration::from_millis(300)) else {
            continue;
        };
        let ServiceEvent::ServiceResolved(info) = event else {
            continue;
        };
        if let Some(venue) = &cli.venue {
            if info.get_property_val_str("venue") != Some(venue.as_str()) {
                continue;
            }
        }
        let Some(key) = info.get_property_val_str("key").map(str::to_owned) else {
            continue;
        };
        if trusted.is_some_and(|t| t != key) {
            eprintln!(
                "pvm-kiosk: ignoring a node with another key ({})",
                info.get_fullname()
            );
            continue;
        }
        for addr in info.get_addresses_v4() {
            let base = format!("http://{addr}:{}", info.get_port());
            match prove(http, &base, &key).await {
                Ok(()) => {
                    result = Some(Found {
                        base,
                        key: key.clone(),
                    });
                    break;
                }
                Err(e) => eprintln!("pvm-kiosk: not trusting {base}: {e}"),
            }
        }
    }
    let _ = daemon.shutdown();
    Ok(result)
}

async fn healthy(http: &reqwest::Client, base: &str) -> bool {
    http.get(format!("{base}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn open_browser(cli: &Cli, url: &str) -> anyhow::Result<tokio::process::Child> {
    tokio::process::Command::new(&cli.browser)
        .args([
            "--kiosk",
            "--noerrdialogs",
            "--disable-infobars",
            "--no-first-run",
            "--disable-session-crashed-bubble",
            "--check-for-update-interval=31536000",
            url,
        ])
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", cli.browser.display()))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut state = load_state(&cli.state)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    let mut trusted = cli.key.clone().or(state.node_key.clone());
    let mut browser: Option<(tokio::process::Child, String)> = None;
    loop {
        let found = discover(&cli, trusted.as_deref(), &http).await?;
        let url = match &found {
            Some(f) => {
                if trusted.is_none() {
                    // First pairing: remember this node's key.
                    state.node_key = Some(f.key.clone());
                    save_state(&cli.state, &state)?;
                    trusted = Some(f.key.clone());
                }
                format!("{}/display/{}", f.base, state.device_id)
            }
            None => {
                match &cli.fallback {
                    Some(fb) => fb.clone(),
                    None if cli.print_url => {
                        eprintln!("pvm-kiosk: no node with the paired key answered, and no --fallback is set");
                        return Ok(ExitCode::from(1));
                    }
                    None => {
                        eprintln!("pvm-kiosk: no node found yet; looking again");
                        continue;
                    }
                }
            }
        };
        if cli.print_url {
            println!("{url}");
            return Ok(ExitCode::from(if found.is_some() { 0 } else { 2 }));
        }
        if browser.as_ref().map(|b| &b.1) != Some(&url) {
            eprintln!("pvm-kiosk: showing {url}");
            browser = Some((open_browser(&cli, &url)?, url.clone()));
        }
        // Watch the node; after three failed checks in a row, look for it again.
        let mut failures = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            if let Some((child, _)) = browser.as_mut() {
                if child.try_wait().ok().flatten().is_some() {
                    eprintln!("pvm-kiosk: the browser exited; starting it again");
                    browser = None;
                    break;
                }
            }
            let ok = match &found {
                Some(f) => healthy(&http, &f.base).await,
                None => false, // on the fallback: keep looking for the node
            };
            failures = if ok { 0 } else { failures + 1 };
            if failures >= 3 || found.is_none() {
                break;
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pvm-kiosk: {e:#}");
            ExitCode::from(1)
        }
    }
}
