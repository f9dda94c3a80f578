//! `pvm-node`: parses the command line and runs one command.

use clap::Parser;
use pvm_node::config::{AdminCommand, Cli, Command, Config, LogFormat};
use pvm_node::identity::{self, NodeIdentity};
use pvm_node::lock::{DataDirLock, LockError};
use pvm_node::store::{self, Db, Reader};
use pvm_node::{control, http, ops, Node};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// mimalloc rather than the C library's allocator: the shipped binaries are
/// static musl builds, whose allocator made SQLite work about 30% slower
/// (PARTS.md), and on glibc it took the append benchmark from 0.22 to 0.25 of
/// raw libSQL (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // SAFETY: called first, before any other thread exists.
    unsafe { pvm_node::allocator::configure() };
    let cli = Cli::parse();
    let config = match Config::resolve(&cli) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command.clone().unwrap_or(Command::Serve) {
            Command::Serve => serve(&config).await,
            Command::Init => init(&config),
            Command::VerifyLog => verify_log(&config).await,
            Command::Backup { file } => backup(&config, &file).await,
            Command::Admin(AdminCommand::Create {
                username,
                display_name,
                role,
            }) => admin_create(&config, username, display_name, &role).await,
            Command::Register {
                hub,
                token,
                hub_ca,
                insecure_http,
            } => register(&config, &hub, &token, hub_ca.as_deref(), insecure_http).await,
            Command::Resync => resync(&config).await,
            Command::Update {
                container,
                image,
                manifest,
                role,
                healthy_secs,
                check_url,
                helper,
            } => {
                update(
                    &config,
                    UpdateJob {
                        container,
                        image,
                        manifest,
                        role,
                        healthy_secs,
                        check_url,
                        helper,
                    },
                )
                .await
            }
            Command::LeafConfig {
                out,
                port,
                monitor_port,
                ca_out,
                ca_path,
            } => leaf_config(&config, &out, port, monitor_port, ca_out, ca_path).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("pvm-node: {e}");
    ExitCode::FAILURE
}

/// Every screen's feed and every staff connection is an open file: raise the
/// soft limit to the hard one (at most 16,384), and say so if it stays below
/// what the connection limits allow.
fn raise_open_files() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    if !got {
        return;
    }
    let want = lim.rlim_max.min(16_384);
    if want > lim.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    let needed = (pvm_node::http::MAX_CONNECTIONS + 512) as libc::rlim_t;
    if lim.rlim_cur < needed {
        tracing::warn!(
            open_files = lim.rlim_cur,
            "the open-file limit is below the node's connection limit: raise LimitNOFILE (systemd) or ulimits (Docker)"
        );
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(config: &Config) -> anyhow::Result<ExitCode> {
    init_logging(config);
    raise_open_files();
    if pvm_node::wipe::pending(&config.data_dir) {
        // Ordered by the hub, and the power went before the erase.
        let gone = pvm_node::wipe::erase(&config.data_dir)?;
        tracing::warn!(
            entries = gone,
            "the hub ordered this node wiped: its data is erased; starting at first boot"
        );
    }
    let node = Node::open(&config.data_dir).await?;
    node.state
        .displays
        .set_max_per_address(config.display_max_per_address);
    node.state.proxies.set(config.trusted_proxies.clone());
    if node.created {
        tracing::info!(data_dir = %config.data_dir.display(), node_id = %node.state.identity.node_id, "new node initialised");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    stop_on_signal(shutdown.clone())?;
    let control = control::listen(
        &config.data_dir,
        node.state.log.clone(),
        node.state.reader.clone(),
        node.state.identity.clone(),
        shutdown.clone(),
    );
    if let Err(e) = &control {
        tracing::warn!(error = %e, "control socket unavailable; backup and verify-log need the node stopped");
    }
    let urls = urls(addr);
    // The setup line comes first, so whoever reads "serving on" has already seen it.
    if let Some(code) = node.state.auth.begin_setup() {
        let first = urls.last().cloned().unwrap_or_default();
        println!("No staff accounts yet: open {first}setup and enter the setup code {code} to create the first admin");
        println!(
            "(or run: pvm-node --data-dir {} admin create --username NAME)",
            config.data_dir.display()
        );
    }
    for url in &urls {
        println!("PVM node serving on {url}");
    }
    tracing::info!(%addr, "serving");
    let _mdns = match pvm_node::mdns::advertise(&config.mdns, &node.state.identity, addr.port()) {
        Ok(daemon) => daemon,
        Err(e) => {
            tracing::warn!(error = %e, "mDNS unavailable; screens need the address typed or the QR code");
            None
        }
    };
    tokio::spawn(call_timers(node.state.clone(), shutdown.clone()));
    match pvm_node::sync::HubLink::load(&config.data_dir) {
        Ok(Some(link)) => {
            tracing::info!(hub = %link.hub_url, venue = %link.venue_id, nats = %config.nats, "syncing with the hub");
            node.state
                .sync
                .set_hub_display(&link.hub_url, link.venue_id);
            let ctx = pvm_node::sync::SyncContext::of(
                &node,
                link.clone(),
                config.nats.clone(),
                shutdown.clone(),
            );
            tokio::spawn(pvm_node::sync::pump(ctx.clone()));
            match identity::load_hub_keys(&config.data_dir) {
                Ok(hub_keys) if !hub_keys.is_empty() => {
                    tokio::spawn(pvm_node::sync::downstream(
                        ctx.clone(),
                        hub_keys,
                        config.self_container.clone().map(|container| {
                            pvm_node::update::SelfUpdate {
                                container,
                                check_url: format!(
                                    "http://127.0.0.1:{}/ready?leaf=connected",
                                    addr.port()
                                ),
                                healthy_secs: config.self_update_healthy_secs,
                            }
                        }),
                        config.data_dir.clone(),
                    ));
                }
                _ => tracing::warn!("no hub key: nothing from the hub will be applied"),
            }
            tokio::spawn(pvm_node::sync::media_upload(
                ctx.clone(),
                config.data_dir.clone(),
                node.state.identity.clone(),
                std::time::Duration::from_secs(config.heartbeat_secs.clamp(1, 30)),
            ));
            node.state.sync.set_leaf_conf(config.leaf_conf.clone());
            tokio::spawn(pvm_node::leaf::watch(
                pvm_node::leaf::LeafWatch {
                    monitor_url: config.leaf_monitor.clone(),
                    hub_leaf_urls: link.leaf_urls(),
                    restart: config.leaf_restart.clone(),
                    after: config.leaf_restart_after,
                },
                node.state.sync.clone(),
                node.state.log.clone(),
                node.state.clock.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(pvm_node::sync::heartbeat(
                ctx,
                config.data_dir.clone(),
                std::time::Duration::from_secs(config.heartbeat_secs),
            ));
        }
        Ok(None) => tracing::info!("not registered with a hub: running on its own"),
        Err(e) => tracing::warn!(error = %e, "the hub link file cannot be read; not syncing"),
    }
    http::serve(listener, node.state.clone(), shutdown.clone()).await?;
    shutdown.cancel();
    tracing::info!("HTTP stopped; finishing writes and checkpointing");
    node.close().await;
    if pvm_node::wipe::pending(&config.data_dir) {
        let gone = pvm_node::wipe::erase(&config.data_dir)?;
        tracing::warn!(
            entries = gone,
            "the hub ordered this node wiped: its data is erased; the next start is a first boot"
        );
    }
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// The URLs people can type: the bound address, or every LAN address for 0.0.0.0.
fn urls(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    if !addr.ip().is_unspecified() {
        return vec![format!("http://{}/", SocketAddr::new(addr.ip(), port))];
    }
    let mut out = vec![format!("http://127.0.0.1:{port}/")];
    if let Ok(ifaces) = if_addrs::get_if_addrs() {
        for iface in ifaces {
            let bridge = ["docker", "br-", "veth", "virbr"]
                .iter()
                .any(|p| iface.name.starts_with(p));
            if let IpAddr::V4(ip) = iface.ip() {
                if !ip.is_loopback() && !bridge {
                    out.push(format!("http://{ip}:{port}/"));
                }
            }
        }
    }
    out
}

/// Applies run-out call timers and call-in deadlines once a second. They are
/// derived from state, so after a restart the first pass catches up.
async fn call_timers(state: http::AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                let applied = ops::cash::expire_due(&state.log, state.clock.now_ms()).await;
                if applied > 0 {
                    tracing::info!(applied, "call timers ran out");
                }
            }
        }
    }
}

/// Registers SIGTERM and SIGINT now (before anyone is told the URL, so an
/// early signal is never missed) and cancels `shutdown` on the first.
fn stop_on_signal(shutdown: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        shutdown.cancel();
    });
    Ok(())
}

fn init(config: &Config) -> anyhow::Result<ExitCode> {
    identity::prepare_data_dir(&config.data_dir)?;
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let (id, created) = NodeIdentity::load_or_create(&config.data_dir)?;
    let verb = if created {
        "initialised"
    } else {
        "already initialised"
    };
    println!("data dir {} {verb}", config.data_dir.display());
    println!("node id     {}", id.node_id);
    println!("venue id    {}", id.venue_id);
    println!("public key  {}", id.public_key_hex());
    Ok(ExitCode::SUCCESS)
}

/// Either the running node's reply over its control socket, or this process holding the lock.
enum Access {
    Running,
    Stopped(DataDirLock),
}

fn access(data_dir: &Path) -> anyhow::Result<Access> {
    if !data_dir.join(store::DB_FILE).exists() {
        anyhow::bail!(
            "no database at {}; nothing to do",
            data_dir.join(store::DB_FILE).display()
        );
    }
    match DataDirLock::acquire(data_dir) {
        Ok(lock) => Ok(Access::Stopped(lock)),
        Err(LockError::Held { .. }) => Ok(Access::Running),
        Err(e) => Err(e.into()),
    }
}

async fn verify_log(config: &Config) -> anyhow::Result<ExitCode> {
    let dir = &config.data_dir;
    let reply = match access(dir)? {
        Access::Running => control::request(dir, "verify-log")
            .await
            .map_err(anyhow::Error::msg)?,
        Access::Stopped(_lock) => {
            let id = NodeIdentity::load(dir)?;
            let db = Db::open(&dir.join(store::DB_FILE)).await?;
            match Reader::new(&db)
                .await?
                .verify_log(id.key.verifying_key(), id.node_id, id.venue_id)
                .await?
            {
                Ok(s) => format!("ok {} {}", s.events, s.last_seq),
                Err(problem) => format!("problem {problem}"),
            }
        }
    };
    if let Some(rest) = reply.strip_prefix("ok ") {
        let mut parts = rest.split(' ');
        let events = parts.next().unwrap_or("0");
        let last = parts.next().unwrap_or("0");
        println!(
            "event log intact: {events} events, seq 1..={last}, chain and signatures verified"
        );
        Ok(ExitCode::SUCCESS)
    } else if let Some(problem) = reply.strip_prefix("problem ") {
        println!("event log damaged: {problem}");
        Ok(ExitCode::FAILURE)
    } else {
        anyhow::bail!("{}", reply.strip_prefix("error ").unwrap_or(&reply))
    }
}

async fn backup(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    let target: PathBuf = if file.is_absolute() {
        file.to_owned()
    } else {
        std::env::current_dir()?.join(file)
    };
    if target.exists() {
        anyhow::bail!("{} already exists; give a new file name", target.display());
    }
    match target.parent() {
        Some(parent) if parent.is_dir() => {}
        _ => anyhow::bail!("the folder for {} does not exist", target.display()),
    }
    let dir = &config.data_dir;
    let reply = match access(dir)? {
        Access::Running => control::request(dir, &format!("backup {}", target.display()))
            .await
            .map_err(anyhow::Error::msg)?,
        Access::Stopped(_lock) => {
            let db = Db::open(&dir.join(store::DB_FILE)).await?;
            format!("ok {}", Reader::new(&db).await?.backup(&target).await?)
        }
    };
    match reply.strip_prefix("ok ") {
        Some(bytes) => {
            println!("backup written to {} ({bytes} bytes)", target.display());
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!(
            "backup failed: {}",
            reply.strip_prefix("error ").unwrap_or(&reply)
        ),
    }
}

async fn admin_create(
    config: &Config,
    username: String,
    display_name: Option<String>,
    role: &str,
) -> anyhow::Result<ExitCode> {
    let role = pvm_shared::auth::Role::from_code(role)
        .ok_or_else(|| anyhow::anyhow!("--role {role:?}: use admin, manager, floor or dealer"))?;
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("Password for {username} (8 to 128 characters), then Enter:");
    }
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let new = pvm_node::auth::NewAdmin {
        display_name: display_name.unwrap_or_else(|| username.clone()),
        username,
        role,
        password,
    };
    let dir = &config.data_dir;
    let running = dir.join(store::DB_FILE).exists() && DataDirLock::is_held(dir);
    let reply = if running {
        control::request(
            dir,
            &format!("admin-create {}", serde_json::to_string(&new)?),
        )
        .await
        .map_err(anyhow::Error::msg)?
    } else {
        let node = Node::open(dir).await?;
        let result = pvm_node::auth::create_account(&node.state.log, &new).await;
        node.close().await;
        match result {
            Ok(id) => format!("ok {id}"),
            Err(e) => format!("error {e}"),
        }
    };
    match reply.strip_prefix("ok ") {
        Some(id) => {
            println!(
                "created {} {} ({id}); log in at the staff UI",
                new.role, new.username
            );
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!("{}", reply.strip_prefix("error ").unwrap_or(&reply)),
    }
}

async fn register(
    config: &Config,
    hub: &str,
    token: &str,
    hub_ca: Option<&Path>,
    insecure_http: bool,
) -> anyhow::Result<ExitCode> {
    let hub_ca = match hub_ca {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Some(pem),
            Ok(_) => {
                eprintln!(
                    "pvm-node: --hub-ca {}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)",
                    path.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => {
                eprintln!("pvm-node: --hub-ca {}: {e}", path.display());
                return Ok(ExitCode::FAILURE);
            }
        },
        None => None,
    };
    let reach = pvm_node::sync::Reach {
        insecure_http,
        hub_ca,
    };
    match pvm_node::sync::register(&config.data_dir, hub, token, &reach).await {
        Ok(link) => {
            println!(
                "Registered with {} as node {} of venue {}.",
                link.hub_url, link.node_id, link.venue_id
            );
            // The next steps, for someone at a terminal; the installer does them itself.
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                println!(
                    "Next: pvm-node leaf-config --out leaf.conf, then restart the node with --leaf-run \"nats-server -c leaf.conf\" (or run that nats-server beside it yourself)."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("pvm-node: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn resync(config: &Config) -> anyhow::Result<ExitCode> {
    let dir = &config.data_dir;
    let _lock = match access(dir)? {
        Access::Running => anyhow::bail!(
            "the node is running on {}; stop it first, then run resync",
            dir.display()
        ),
        Access::Stopped(lock) => lock,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    match pvm_node::sync::resync(dir, now).await {
        Ok(link) => {
            println!(
                "Resynced: this node is now node {} of venue {} at {}; its whole log goes to the hub when it starts. The old log is kept as {}.forked-{now}.\nStart the node again, and restart its leaf nats-server too (with --leaf-run it restarts with the node): the leaf's permissions at the hub now name the new node id.",
                link.node_id,
                link.venue_id,
                link.hub_url,
                dir.join(store::DB_FILE).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("pvm-node: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Records how an update ended in the running node's log (and so at the hub).
async fn record_update(config: &Config, record: &pvm_node::control::UpdateRecord) {
    let line = format!(
        "record-update {}",
        serde_json::to_string(record).unwrap_or_default()
    );
    // A helper that replaced the node's own container waits for the new (or
    // the restored) node to listen (PVM_RECORD_WAIT_SECS, set by the node).
    let wait = std::env::var("PVM_RECORD_WAIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        match control::request(&config.data_dir, &line).await {
            Ok(reply) if reply.starts_with("ok ") => return,
            Ok(reply) => {
                eprintln!("pvm-node: the result was not recorded in the node's log: {reply}");
                return;
            }
            Err(e) if std::time::Instant::now() > deadline => {
                eprintln!("pvm-node: the result was not recorded in the node's log: {e}");
                return;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
}

/// An update that ends in an error. A helper stops restarting itself when
/// nothing is left to finish (no journal), or when it cannot act on what is
/// there (an unreadable journal, or another container's: kept for a person
/// to look at); with its own container's journal it is restarted by Docker
/// to finish or undo the update.
async fn give_up(
    docker: &bollard::Docker,
    plan: &pvm_node::update::Plan,
    reason: anyhow::Error,
) -> anyhow::Result<ExitCode> {
    use pvm_node::update;
    let stopped = match update::journal::read(&plan.data_dir) {
        Ok(None) => update::settle(docker, plan).await,
        Ok(Some(j)) if j.container != plan.container => update::stand_down(docker, plan).await,
        Ok(Some(_)) => Ok(()),
        Err(_) => update::stand_down(docker, plan).await,
    };
    if let Err(e) = stopped {
        eprintln!("pvm-node: {e}");
    }
    Err(reason)
}

/// `pvm-node update`'s arguments.
struct UpdateJob {
    container: String,
    image: Option<String>,
    manifest: Option<std::path::PathBuf>,
    role: String,
    healthy_secs: u64,
    check_url: Option<String>,
    helper: Option<String>,
}

async fn update(config: &Config, job: UpdateJob) -> anyhow::Result<ExitCode> {
    use pvm_node::control::UpdateRecord;
    use pvm_node::update;
    let UpdateJob {
        container,
        image,
        manifest,
        role,
        healthy_secs,
        check_url,
        helper,
    } = job;
    let docker = update::connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach dockerd: {e}"))?;
    let plan = update::Plan {
        container: container.clone(),
        image: image.clone().unwrap_or_default(),
        healthy_for: std::time::Duration::from_secs(healthy_secs),
        check_url,
        data_dir: config.data_dir.clone(),
        helper,
    };
    let image = match (image, manifest) {
        (Some(image), _) => image,
        (None, Some(path)) => {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    return give_up(
                        &docker,
                        &plan,
                        anyhow::anyhow!("reading {}: {e}", path.display()),
                    )
                    .await
                }
            };
            let sig_path = std::path::PathBuf::from(format!("{}.sig", path.display()));
            let sig = std::fs::read(&sig_path).ok();
            let hub_keys = identity::load_hub_keys(&config.data_dir).unwrap_or_default();
            match update::verify_manifest(&bytes, sig.as_deref(), &hub_keys) {
                Ok(m) => match m.images.get(&role) {
                    Some(image) => image.clone(),
                    None => {
                        return give_up(
                            &docker,
                            &plan,
                            anyhow::anyhow!("the manifest names no image for {role:?}"),
                        )
                        .await
                    }
                },
                Err(reason) => {
                    record_update(
                        config,
                        &UpdateRecord {
                            container: container.clone(),
                            image: path.display().to_string(),
                            outcome: "refused".into(),
                            detail: reason.clone(),
                        },
                    )
                    .await;
                    return give_up(&docker, &plan, anyhow::anyhow!("update refused: {reason}"))
                        .await;
                }
            }
        }
        (None, None) => {
            return give_up(
                &docker,
                &plan,
                anyhow::anyhow!("give --image or --manifest"),
            )
            .await
        }
    };
    let plan = update::Plan {
        image: image.clone(),
        ..plan.clone()
    };
    let _one_at_a_time = match update::journal::lock(&plan.data_dir) {
        Ok(lock) => lock,
        Err(e) => return give_up(&docker, &plan, anyhow::anyhow!("{e}")).await,
    };
    // An update a power cut (or a killed helper) interrupted is finished or
    // undone first, and recorded under its own image.
    match update::recover_interrupted(&docker, &plan).await {
        Ok(Some((was, outcome))) => {
            println!(
                "An interrupted update to {was}: {}: {}",
                outcome.name(),
                outcome.detail()
            );
            record_update(
                config,
                &UpdateRecord {
                    container: container.clone(),
                    image: was.clone(),
                    outcome: outcome.name().into(),
                    detail: outcome.detail(),
                },
            )
            .await;
            if was == image {
                // The helper restarted after a cut: that was the whole job.
                update::settle(&docker, &plan)
                    .await
                    .map_err(|e| anyhow::anyhow!("after the update of {container}: {e}"))?;
                return Ok(match outcome {
                    update::Outcome::Updated { .. } => ExitCode::SUCCESS,
                    _ => ExitCode::from(1),
                });
            }
            // A journal left from an earlier update: done with, on to this one.
            if let Err(e) = update::journal::clear(&plan.data_dir) {
                return give_up(&docker, &plan, anyhow::anyhow!("{e}")).await;
            }
        }
        Ok(None) => {}
        Err(e) => {
            return give_up(
                &docker,
                &plan,
                anyhow::anyhow!("update of {container}: {e}"),
            )
            .await
        }
    }
    println!("Updating {container} to {image} (kept after {healthy_secs} s running cleanly)");
    let outcome = match update::update(&docker, &plan).await {
        Ok(outcome) => outcome,
        Err(e) => {
            return give_up(
                &docker,
                &plan,
                anyhow::anyhow!("update of {container} failed: {e}"),
            )
            .await
        }
    };
    record_update(
        config,
        &UpdateRecord {
            container: container.clone(),
            image: image.clone(),
            outcome: outcome.name().into(),
            detail: outcome.detail(),
        },
    )
    .await;
    println!("{}: {}", outcome.name(), outcome.detail());
    update::settle(&docker, &plan)
        .await
        .map_err(|e| anyhow::anyhow!("after the update of {container}: {e}"))?;
    Ok(match outcome {
        update::Outcome::Updated { .. } | update::Outcome::Current { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Writes `text` to `path` (created with `mode`, replaced whole).
fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

async fn leaf_config(
    config: &Config,
    out: &Path,
    port: u16,
    monitor_port: u16,
    ca_out: Option<PathBuf>,
    ca_path: Option<String>,
) -> anyhow::Result<ExitCode> {
    let Some(mut link) =
        pvm_node::sync::HubLink::load(&config.data_dir).map_err(|e| anyhow::anyhow!(e))?
    else {
        eprintln!(
            "pvm-node: not registered yet: run pvm-node register --hub URL --token pvm_reg_… first"
        );
        return Ok(ExitCode::FAILURE);
    };
    // Registered before the leaf link had TLS (and not a lab hub): fetch the CA.
    if link.leaf_ca.is_none() && !link.hub_url.starts_with("http://") {
        if let Err(e) = pvm_node::sync::fetch_leaf_ca(&config.data_dir, &mut link).await {
            eprintln!("pvm-node: {e}");
            return Ok(ExitCode::FAILURE);
        }
    }
    let ca_file = match &link.leaf_ca {
        Some(pem) => {
            let ca_out = ca_out.unwrap_or_else(|| out.with_extension("ca.pem"));
            write_file(&ca_out, pem, 0o644)?;
            println!("Wrote {} (the hub's leaf CA).", ca_out.display());
            Some(ca_path.unwrap_or_else(|| {
                std::path::absolute(&ca_out)
                    .unwrap_or(ca_out)
                    .display()
                    .to_string()
            }))
        }
        None => {
            eprintln!("pvm-node: warning: this registration has no leaf CA: the leaf link is plain text (a lab hub)");
            None
        }
    };
    let text = pvm_node::sync::leaf_config(&link, port, monitor_port, ca_file.as_deref());
    write_file(out, &text, 0o600)?;
    println!(
        "Wrote {} (mode 0600: it holds the leaf password).",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
