//! Starting the hub: keys, the database, NATS, the background work, and the
//! HTTP server (plain or HTTPS) until SIGTERM.

use crate::downstream::ensure_down_consumer;
use crate::heartbeat::heartbeats;
use crate::leaf_users::{hash_plain_leaf_passwords, nats_credentials, write_leaf_users};
use crate::{ingest, leaf_tls, store, App, Cli, CloudCommand, Registry};
use anyhow::Context;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub fn load_or_create(
    path: &std::path::Path,
    make: impl FnOnce() -> Vec<u8>,
) -> anyhow::Result<(Vec<u8>, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(b) => Ok((b, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = make();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            std::io::Write::write_all(&mut f, &bytes)?;
            Ok((bytes, true))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The leaf link's CA: the operator's own (`--leaf-ca`) or pvm-cloud's,
/// with the hub's leafnode certificate made or renewed for its names.
pub fn leaf_tls(cli: &Cli) -> anyhow::Result<Option<leaf_tls::LeafTls>> {
    if cli.leaf_ca.is_some() {
        return Ok(None);
    }
    let dir = cli
        .leaf_tls_dir
        .clone()
        .unwrap_or_else(|| cli.data_dir.join("leaf-tls"));
    let mut names: Vec<String> = Vec::new();
    for host in cli.leaf_urls().iter().filter_map(|u| leaf_tls::host_of(u)) {
        if !names.contains(&host) {
            names.push(host);
        }
    }
    for n in &cli.leaf_tls_names {
        let n = n.trim();
        if !n.is_empty() && !names.iter().any(|m| m == n) {
            names.push(n.to_owned());
        }
    }
    leaf_tls::ensure(&dir, &names).map(Some)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(CloudCommand::Migrate { from, to }) = &cli.command {
        let (from, to) = (store::Database::parse(from), store::Database::parse(to));
        let started = std::time::Instant::now();
        let moved = crate::migrate::migrate(&from, &to).await?;
        println!(
            "Moved {} venues, {} nodes, {} events (each verified), {} registration tokens and {} problems from {} to {} in {:.1} s",
            moved.venues,
            moved.nodes,
            moved.events,
            moved.tokens,
            moved.problems,
            from.describe(),
            to.describe(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    if let Some(CloudCommand::LeafTls) = &cli.command {
        let Some(tls) = leaf_tls(&cli)? else {
            anyhow::bail!(
                "--leaf-ca is given: the operator's own CA is used and pvm-cloud makes none"
            );
        };
        let first = cli.leaf_urls().into_iter().next().unwrap_or_default();
        let port = first
            .rsplit_once(':')
            .and_then(|(_, p)| p.trim_end_matches('/').parse().ok())
            .unwrap_or(7422);
        println!(
            "Leaf link CA: {} (handed to nodes at registration); the hub's certificate: {}{}.\n\
             The hub's nats-server serves leafnodes with it:\n\n{}",
            tls.cert.with_file_name(leaf_tls::CA).display(),
            tls.cert.display(),
            if tls.reissued { " (new)" } else { "" },
            leaf_tls::nats_block(&tls, port)
        );
        return Ok(());
    }
    let key = hub_key(&cli.data_dir)?;
    if let Some(CloudCommand::Sign { file }) = &cli.command {
        let out = crate::http::dist::sign_file(&key, file)?;
        println!(
            "Signed {} with the hub key: {}",
            file.display(),
            out.display()
        );
        return Ok(());
    }
    if let Some(CloudCommand::SignDist { dir }) = &cli.command {
        let n = crate::http::dist::sign(&key, dir)?;
        println!(
            "Signed {} ({n} files) with the hub key: {}/SHA256SUMS.sig",
            dir.join(crate::http::dist::MANIFEST).display(),
            dir.display()
        );
        return Ok(());
    }
    let Started {
        app,
        stop,
        ingest: ingest_task,
    } = start(cli, key).await?;
    let router = crate::http::app(app.clone());
    let listener = std::net::TcpListener::bind(app.cli.listen)
        .with_context(|| format!("listening on {}", app.cli.listen))?;
    listener.set_nonblocking(true)?;
    let tls = match (&app.cli.tls_cert, &app.cli.tls_key) {
        (Some(cert), Some(key)) => {
            // One crypto provider for the process (ring, as reqwest's).
            let _ = rustls::crypto::ring::default_provider().install_default();
            Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .with_context(|| {
                        format!(
                            "loading the HTTPS certificate {} and key {}",
                            cert.display(),
                            key.display()
                        )
                    })?,
            )
        }
        _ => None,
    };
    println!(
        "PVM cloud serving on {}://{}/",
        if tls.is_some() { "https" } else { "http" },
        listener.local_addr()?
    );
    let shutdown = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        shutdown.cancel();
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let shutdown = stop.clone();
    tokio::spawn(async move {
        term.recv().await;
        shutdown.cancel();
    });
    let serve_stop = stop.clone();
    match tls {
        Some(config) => {
            let handle = axum_server::Handle::new();
            let on_stop = handle.clone();
            tokio::spawn(async move {
                serve_stop.cancelled().await;
                on_stop.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(listener, config)?
                .handle(handle)
                .serve(router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .await?;
        }
        None => {
            axum::serve(
                tokio::net::TcpListener::from_std(listener)?,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { serve_stop.cancelled().await })
            .await?;
        }
    }
    let _ = ingest_task.await;
    Ok(())
}

/// The hub, started: its state (what [`crate::http::app`] serves), the token
/// that stops its background work, and the ingest task to wait for.
pub struct Started {
    pub app: App,
    pub stop: CancellationToken,
    pub ingest: tokio::task::JoinHandle<()>,
}

/// Everything but the HTTP server: the admin key (printed once when made),
/// the leaf link's CA, the database, NATS (streams, ingest, heartbeats), the
/// leaf users and each node's downstream consumer. Tests serve
/// `http::app(started.app)` in-process.
pub async fn start(cli: Cli, key: SigningKey) -> anyhow::Result<Started> {
    let leaf_urls = cli.leaf_urls();
    if leaf_urls.is_empty() || leaf_urls.iter().any(|u| !u.contains("://")) {
        anyhow::bail!(
            "--leaf-url {:?}: give one or more nats-leaf://host:port URLs, comma-separated",
            cli.leaf_url
        );
    }
    let (admin_key, created) = load_or_create(&cli.data_dir.join("admin.key"), || {
        format!("pvm_admin_{}", hex::encode(rand::random::<[u8; 24]>())).into_bytes()
    })?;
    let admin_key = String::from_utf8(admin_key).context("admin.key is not text")?;
    if created {
        println!(
            "Admin key (shown once; also in {}): {}",
            cli.data_dir.join("admin.key").display(),
            admin_key.trim()
        );
    }
    let leaf_ca: Arc<str> = match (&cli.leaf_ca, leaf_tls(&cli)?) {
        (Some(path), _) => leaf_tls::read_ca(path)?.into(),
        (None, Some(tls)) => {
            if tls.reissued {
                // The hub's nats-server picks it up at the reload below
                // (--leaf-users and --nats-pid), or at its own restart.
                tracing::info!(cert = %tls.cert.display(), "leaf certificate made");
            }
            tls.ca_pem.into()
        }
        (None, None) => anyhow::bail!("no CA for the leaf link"),
    };
    let database = cli.database();
    let store = Arc::new(
        store::Store::open(&database)
            .await
            .with_context(|| format!("opening the hub's database ({})", database.describe()))?,
    );
    tracing::info!(database = %database.describe(), "database open");
    let hub = Arc::new(Registry::load(store).await?);
    let options = match nats_credentials(&cli.nats) {
        Some((user, pass)) => async_nats::ConnectOptions::with_user_and_password(user, pass),
        None => async_nats::ConnectOptions::new(),
    };
    let addresses = crate::leaf_users::nats_addresses(&cli.nats);
    let client = options
        .connect(addresses.clone())
        .await
        .with_context(|| format!("connecting to the NATS hub at {}", addresses.join(",")))?;
    let js = async_nats::jetstream::new(client.clone());
    let legacy_start = ingest::ensure_streams(&js, usize::from(cli.stream_replicas))
        .await
        .context("creating the JetStream streams")?;
    let stop = CancellationToken::new();
    let ingest_task = tokio::spawn(ingest::run_all(
        hub.clone(),
        js.clone(),
        legacy_start,
        stop.clone(),
    ));
    tokio::spawn(heartbeats(hub.clone(), client.clone(), stop.clone()));
    // Always watched: operators may set their own webhooks at any time.
    tokio::spawn(crate::alerts::watch(
        hub.clone(),
        cli.alert_webhook.clone(),
        alert_rules(&cli),
        std::time::Duration::from_secs(cli.heartbeat_secs.max(1)),
        stop.clone(),
    ));
    let proxies = pvm_shared::proxies::TrustedProxies::default();
    proxies.set(cli.trusted_proxies.clone());
    let app = App {
        js: js.clone(),
        hub: hub.clone(),
        key: Arc::new(crate::hub_keys::HubKeys::load(&cli.data_dir, key)?),
        admin_key_hash: Sha256::digest(admin_key.trim().as_bytes()).into(),
        media: Arc::new(pvm_display::media::MediaStore::new(&cli.data_dir)),
        leaf_users: Arc::new(tokio::sync::Mutex::new(())),
        leaf_ca,
        logins: Arc::default(),
        proxies: Arc::new(proxies),
        stop: stop.clone(),
        cli: Arc::new(cli),
        roaming: Arc::default(),
    };
    hash_plain_leaf_passwords(&app).await?;
    write_leaf_users(&app).await?;
    // Each node's downstream consumer, made again if it is gone (a PVM_DOWN
    // stream deleted and re-created): what is sent from now on reaches it.
    let registered: Vec<(Uuid, Uuid)> = app
        .hub
        .nodes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .filter(|n| !n.retired && !n.revoked)
        .map(|n| (n.node_id, n.venue_id))
        .collect();
    for (node, venue) in registered {
        if let Err(e) = ensure_down_consumer(&app, node, venue, false).await {
            tracing::warn!(error = %e, %node, "downstream consumer not made");
        }
    }
    tokio::spawn(crate::roaming::run(app.clone()));
    tokio::spawn(crate::hub_keys::follow(app.key.clone(), stop.clone()));
    Ok(Started {
        app,
        stop,
        ingest: ingest_task,
    })
}

/// The hub's signing key in `data_dir` (made, mode 0600, with the directory, if missing).
pub fn hub_key(data_dir: &std::path::Path) -> anyhow::Result<SigningKey> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let (key_bytes, _) = load_or_create(&data_dir.join("hub.key"), || {
        SigningKey::generate(&mut rand::rngs::OsRng)
            .to_bytes()
            .to_vec()
    })?;
    let key_arr: [u8; 32] = key_bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("hub.key is not an ed25519 key"))?;
    let key = SigningKey::from_bytes(&key_arr);
    Ok(key)
}

/// The alert thresholds, with the offline time this hub was given.
pub(crate) fn alert_rules(cli: &Cli) -> crate::alerts::Rules {
    crate::alerts::Rules {
        offline_after_ms: i64::try_from(cli.alert_offline_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX),
        ..crate::alerts::Rules::default()
    }
}
