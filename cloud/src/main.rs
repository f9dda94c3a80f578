//! `pvm-cloud`: the hub. One command runs it: embedded libSQL, a connection
//! to the NATS hub (streams and the ingest consumer made idempotently at
//! start), and an HTTP API for admins and for node registration.

mod admin;
mod display;
mod dist;
mod ingest;
mod leaf_tls;
mod media;
mod store;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use clap::Parser;
use ed25519_dalek::SigningKey;
use ingest::Hub;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "pvm-cloud",
    version,
    about = "PVM cloud hub: venues, node registration, verified event ingest over NATS."
)]
struct Cli {
    /// Directory for the hub's database and keys. [default: ./pvm-cloud-data]
    #[arg(long, env = "PVM_CLOUD_DATA_DIR", default_value = "pvm-cloud-data")]
    data_dir: PathBuf,
    /// Address to serve the API on.
    #[arg(long, env = "PVM_CLOUD_LISTEN", default_value = "0.0.0.0:8090")]
    listen: SocketAddr,
    /// The NATS hub (with JetStream, domain "hub") this process uses.
    #[arg(long, env = "PVM_CLOUD_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The leafnode URL nodes' leaf servers connect to (given to nodes at registration).
    #[arg(
        long,
        env = "PVM_CLOUD_LEAF_URL",
        default_value = "nats-leaf://127.0.0.1:7422"
    )]
    leaf_url: String,
    /// Where pvm-cloud keeps its own leaf-link CA and the certificate the hub's
    /// nats-server serves leafnodes with (made at first start). [default: DATA_DIR/leaf-tls]
    #[arg(long, env = "PVM_CLOUD_LEAF_TLS_DIR")]
    leaf_tls_dir: Option<PathBuf>,
    /// More names (host names or IP addresses) for the leaf certificate, besides --leaf-url's host.
    #[arg(
        long = "leaf-tls-name",
        env = "PVM_CLOUD_LEAF_TLS_NAMES",
        value_delimiter = ','
    )]
    leaf_tls_names: Vec<String>,
    /// The operator's own CA (PEM) that signed the hub nats-server's leafnode
    /// certificate: handed to nodes at registration; pvm-cloud then makes no CA.
    /// (--leaf-tls-dir is then unused.)
    #[arg(long, env = "PVM_CLOUD_LEAF_CA")]
    leaf_ca: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); with --tls-key. Without
    /// it, put a TLS proxy in front: nodes refuse to register over http://.
    #[arg(long, env = "PVM_CLOUD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "PVM_CLOUD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The users file the hub's nats-server includes in its `authorization` block
    /// (rewritten on each registration: pvm-cloud's own user from --nats, then one per venue).
    #[arg(long, env = "PVM_CLOUD_LEAF_USERS")]
    leaf_users: Option<PathBuf>,
    /// The hub nats-server's pid file, to tell it to reload after a registration.
    #[arg(long, env = "PVM_CLOUD_NATS_PID")]
    nats_pid: Option<PathBuf>,
    /// The nodes' heartbeat interval: 3 missed make a node unhealthy, 5 offline.
    #[arg(long, env = "PVM_CLOUD_HEARTBEAT_SECS", default_value_t = 30)]
    heartbeat_secs: u64,
    /// Release artefacts served at /dist/ for /install.sh (made by scripts/dist, signed with sign-dist).
    #[arg(long, env = "PVM_CLOUD_DIST_DIR")]
    dist_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<CloudCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum CloudCommand {
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

#[derive(Clone)]
struct App {
    sessions: Arc<admin::Sessions>,
    hub: Arc<Hub>,
    js: async_nats::jetstream::Context,
    key: Arc<SigningKey>,
    admin_key_hash: [u8; 32],
    cli: Arc<Cli>,
    /// Display images uploaded by the nodes (content-addressed).
    media: Arc<pvm_display::media::MediaStore>,
    /// Held while the leaf users file is written and reloaded.
    leaf_users: Arc<tokio::sync::Mutex<()>>,
    /// The CA nodes trust for the leaf link (PEM), handed over at registration.
    leaf_ca: Arc<str>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "internal error");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the hub could not do that; see its log".into(),
        )
    }
}

impl From<libsql::Error> for ApiError {
    fn from(e: libsql::Error) -> Self {
        anyhow::Error::from(e).into()
    }
}

fn bad(code: &'static str, m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, code, m.into())
}

/// Admin calls carry `Authorization: Bearer pvm_admin_…` (printed once at first start).
fn admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
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

fn load_or_create(
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PVM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pvm-cloud: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The leaf link's CA: the operator's own (`--leaf-ca`) or pvm-cloud's,
/// with the hub's leafnode certificate made or renewed for its names.
fn leaf_tls(cli: &Cli) -> anyhow::Result<Option<leaf_tls::LeafTls>> {
    if cli.leaf_ca.is_some() {
        return Ok(None);
    }
    let dir = cli
        .leaf_tls_dir
        .clone()
        .unwrap_or_else(|| cli.data_dir.join("leaf-tls"));
    let mut names: Vec<String> = leaf_tls::host_of(&cli.leaf_url).into_iter().collect();
    for n in &cli.leaf_tls_names {
        let n = n.trim();
        if !n.is_empty() && !names.iter().any(|m| m == n) {
            names.push(n.to_owned());
        }
    }
    leaf_tls::ensure(&dir, &names).map(Some)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(CloudCommand::LeafTls) = &cli.command {
        let Some(tls) = leaf_tls(&cli)? else {
            anyhow::bail!(
                "--leaf-ca is given: the operator's own CA is used and pvm-cloud makes none"
            );
        };
        let port = cli
            .leaf_url
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
    std::fs::create_dir_all(&cli.data_dir)
        .with_context(|| format!("creating {}", cli.data_dir.display()))?;
    let (key_bytes, _) = load_or_create(&cli.data_dir.join("hub.key"), || {
        SigningKey::generate(&mut rand::rngs::OsRng)
            .to_bytes()
            .to_vec()
    })?;
    let key_arr: [u8; 32] = key_bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("hub.key is not an ed25519 key"))?;
    let key = SigningKey::from_bytes(&key_arr);
    if let Some(CloudCommand::Sign { file }) = &cli.command {
        let out = dist::sign_file(&key, file)?;
        println!(
            "Signed {} with the hub key: {}",
            file.display(),
            out.display()
        );
        return Ok(());
    }
    if let Some(CloudCommand::SignDist { dir }) = &cli.command {
        let n = dist::sign(&key, dir)?;
        println!(
            "Signed {} ({n} files) with the hub key: {}/SHA256SUMS.sig",
            dir.join(dist::MANIFEST).display(),
            dir.display()
        );
        return Ok(());
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
    let store = Arc::new(store::Store::open(&cli.data_dir.join("cloud.db")).await?);
    let hub = Arc::new(Hub::load(store).await?);
    let options = match nats_credentials(&cli.nats) {
        Some((user, pass)) => async_nats::ConnectOptions::with_user_and_password(user, pass),
        None => async_nats::ConnectOptions::new(),
    };
    let address = match cli.nats.split_once('@') {
        Some((scheme_user, host)) => format!(
            "{}://{host}",
            scheme_user.split("://").next().unwrap_or("nats")
        ),
        None => cli.nats.clone(),
    };
    let client = options
        .connect(&address)
        .await
        .with_context(|| format!("connecting to the NATS hub at {address}"))?;
    let js = async_nats::jetstream::new(client.clone());
    let legacy_start = ingest::ensure_streams(&js)
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
    let app = App {
        sessions: Arc::new(admin::Sessions::default()),
        js: js.clone(),
        hub: hub.clone(),
        key: Arc::new(key),
        admin_key_hash: Sha256::digest(admin_key.trim().as_bytes()).into(),
        media: Arc::new(pvm_display::media::MediaStore::new(&cli.data_dir)),
        leaf_users: Arc::new(tokio::sync::Mutex::new(())),
        leaf_ca,
        cli: Arc::new(cli),
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
        .filter(|n| !n.retired)
        .map(|n| (n.node_id, n.venue_id))
        .collect();
    for (node, venue) in registered {
        if let Err(e) = ensure_down_consumer(&app, node, venue, false).await {
            tracing::warn!(error = %e, %node, "downstream consumer not made");
        }
    }
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/api/openapi.json",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    include_str!("../api/openapi.json"),
                )
            }),
        )
        .route("/api/v1/hub", get(hub_info))
        .route("/api/v1/venues", post(create_venue).get(list_venues))
        .route("/api/v1/venues/{id}/tokens", post(create_token))
        .route("/api/v1/venues/{id}/events", get(venue_events))
        .route("/api/v1/venues/{id}/problems", get(venue_problems))
        .route("/api/v1/register", post(register))
        .route("/api/v1/resync", post(resync))
        .route("/api/v1/nodes", get(list_nodes))
        .merge(admin::routes())
        .merge(display::routes())
        .merge(media::routes())
        .merge(dist::routes())
        .route("/api/v1/venues/{id}/templates", post(send_template))
        .route("/api/v1/venues/{id}/announcements", post(send_announcement))
        .route("/api/v1/venues/{id}/updates", post(send_update))
        .with_state(app.clone())
        .layer(headers(
            header::CONTENT_SECURITY_POLICY,
            pvm_shared::web::CSP,
        ))
        // Not `no-referrer` as on the node: the admin forms are checked by
        // their Origin, which browsers send as "null" under `no-referrer`.
        .layer(headers(header::REFERRER_POLICY, "same-origin"))
        .layer(headers(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(headers(header::X_FRAME_OPTIONS, "DENY"))
        .layer(axum::middleware::map_request(host_from_authority));
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
                .serve(router.into_make_service())
                .await?;
        }
        None => {
            axum::serve(tokio::net::TcpListener::from_std(listener)?, router)
                .with_graceful_shutdown(async move { serve_stop.cancelled().await })
                .await?;
        }
    }
    let _ = ingest_task.await;
    Ok(())
}

/// HTTP/2 (what browsers and curl speak to the hub over TLS) carries the
/// host as the `:authority` of the URI, not a `Host` header: give it one, so
/// the admin forms' origin check and `/install.sh`'s address see it.
async fn host_from_authority(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.headers().contains_key(header::HOST) {
        let authority = req
            .uri()
            .authority()
            .and_then(|a| header::HeaderValue::from_str(a.as_str()).ok());
        if let Some(host) = authority {
            req.headers_mut().insert(header::HOST, host);
        }
    }
    req
}

/// A response header every answer gets (unless the handler set it), as on the node.
fn headers(
    name: header::HeaderName,
    value: &'static str,
) -> tower_http::set_header::SetResponseHeaderLayer<header::HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::if_not_present(
        name,
        header::HeaderValue::from_static(value),
    )
}

/// Public facts about the hub: its key, JetStream domain and the leaf
/// link's CA (nodes registered before the leaf link had TLS fetch it here).
async fn hub_info(State(app): State<App>) -> Json<serde_json::Value> {
    Json(json!({
        "public_key": b64().encode(app.key.verifying_key().as_bytes()),
        "nats_domain": "hub",
        "leaf_ca": &*app.leaf_ca,
    }))
}

async fn metrics(State(app): State<App>) -> String {
    let c = &app.hub.counts;
    format!(
        "pvm_cloud_events_accepted_total {}\npvm_cloud_events_duplicate_total {}\npvm_cloud_events_rejected_total {}\npvm_cloud_events_waiting_total {}\npvm_cloud_ingest_batches_total {}\npvm_cloud_heartbeats_dropped_total {}\n",
        c.accepted.load(Ordering::Relaxed),
        c.duplicate.load(Ordering::Relaxed),
        c.rejected.load(Ordering::Relaxed),
        c.waiting.load(Ordering::Relaxed),
        c.batches.load(Ordering::Relaxed),
        c.heartbeats_dropped.load(Ordering::Relaxed),
    )
}

#[derive(Deserialize)]
struct Registration {
    token: String,
    node_id: Uuid,
    /// The venue id this node's events already carry.
    venue_id: Uuid,
    /// base64 ed25519 public key.
    public_key: String,
}

#[derive(Serialize)]
struct Registered {
    node_id: Uuid,
    venue_id: Uuid,
    leaf_url: String,
    leaf_user: String,
    leaf_password: String,
    hub_public_key: String,
    nats_domain: String,
    /// The CA (PEM) that signed the hub's leafnode certificate: the node's
    /// leaf verifies the hub with it.
    leaf_ca: String,
}

/// A node registers with a one-time token: the hub keeps its key, makes its
/// leaf credentials (allowed only that venue's subjects) and answers with
/// them and the hub's key. The venue takes the id its first node's events
/// already carry, so events made before registration verify too.
async fn register(
    State(app): State<App>,
    Json(r): Json<Registration>,
) -> Result<Json<Registered>, ApiError> {
    if !r.token.starts_with("pvm_reg_") {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "that is not a registration token (pvm_reg_…)".into(),
        ));
    }
    let key: [u8; 32] = b64()
        .decode(&r.public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| bad("invalid", "public_key: a base64 ed25519 key"))?;
    if ed25519_dalek::VerifyingKey::from_bytes(&key).is_err() {
        return Err(bad("invalid", "public_key: not a valid ed25519 key"));
    }
    let hash = hex::encode(Sha256::digest(r.token.as_bytes()));
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT venue_id, expires_ms, used_ms FROM reg_tokens WHERE hash = ?1",
            [hash.clone()],
        )
        .await?;
    let Some(row) = rows.next().await? else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "this registration token is not known here".into(),
        ));
    };
    let venue: Uuid = row
        .get::<String>(0)?
        .parse()
        .map_err(|_| anyhow::anyhow!("bad venue id"))?;
    if row.get::<Option<i64>>(2)?.is_some() {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "token_used",
            "this registration token was already used: ask the admin for a new one".into(),
        ));
    }
    if row.get::<i64>(1)? < now_ms() {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "this registration token has expired (they last 24 h): ask the admin for a new one"
                .into(),
        ));
    }
    drop(rows);
    let mut existing = conn
        .query(
            "SELECT node_id FROM nodes WHERE venue_id = ?1 OR node_id = ?2",
            libsql::params![venue.to_string(), r.node_id.to_string()],
        )
        .await?;
    if existing.next().await?.is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "already_registered",
            "this venue or node already has a registered node".into(),
        ));
    }
    drop(existing);
    let password = hex::encode(rand::random::<[u8; 24]>());
    let user = format!("venue-{}", r.venue_id);
    // Only the bcrypt hash is kept (nats-server checks it); the node gets the password once.
    let password_hash = bcrypt_hash(password.clone()).await?;
    // All or nothing: the node's downstream consumer and its leaf user exist
    // before the token is spent; if either cannot be made (the hub's
    // nats-server down), nothing is spent and the same token works later.
    let unavailable = |e: anyhow::Error| {
        tracing::warn!(error = %e, "registration not completed");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "hub_unavailable",
            format!("the hub's message server cannot take the node now ({e}); nothing was used up: try the same token again in a minute"),
        )
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        ensure_down_consumer(&app, r.node_id, r.venue_id, false),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer within 5 s"))
    .and_then(|made| made)
    .map_err(unavailable)?;
    let mut lines = leaf_user_lines(&conn).await?;
    lines.push(leaf_user_line(
        &r.node_id.to_string(),
        &r.venue_id.to_string(),
        &user,
        &password_hash,
    ));
    let without = leaf_user_lines(&conn).await?;
    install_leaf_users(&app, lines).await.map_err(unavailable)?;
    let committed = commit_registration(&conn, &r, venue, &hash, &user, &password_hash).await;
    if let Err(e) = committed {
        // The new user goes again: it names a node that is not registered.
        if let Err(undo) = install_leaf_users(&app, without).await {
            tracing::error!(error = %undo, "the leaf users file still names an unregistered node");
        }
        return Err(e);
    }
    drop(conn);
    app.hub
        .nodes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            r.node_id,
            store::NodeRow {
                node_id: r.node_id,
                venue_id: r.venue_id,
                public_key: key,
                head_seq: 0,
                head_hash: [0; 32],
                verified_seq: 0,
                retired: false,
            },
        );
    app.hub.nodes_changed.notify_one();
    Ok(Json(Registered {
        node_id: r.node_id,
        venue_id: r.venue_id,
        leaf_url: app.cli.leaf_url.clone(),
        leaf_user: user,
        leaf_password: password,
        hub_public_key: b64().encode(app.key.verifying_key().as_bytes()),
        nats_domain: "hub".into(),
        leaf_ca: app.leaf_ca.to_string(),
    }))
}

/// The registration's rows in one transaction: the token spent, the venue
/// taking the id its node's events carry, the node.
async fn commit_registration(
    conn: &libsql::Connection,
    r: &Registration,
    venue: Uuid,
    hash: &str,
    user: &str,
    password_hash: &str,
) -> Result<(), ApiError> {
    let tx = conn.transaction().await?;
    tx.execute(
        "UPDATE reg_tokens SET used_ms = ?2 WHERE hash = ?1",
        libsql::params![hash, now_ms()],
    )
    .await?;
    // The venue takes the id the node's events carry.
    tx.execute(
        "UPDATE venues SET id = ?2 WHERE id = ?1",
        libsql::params![venue.to_string(), r.venue_id.to_string()],
    )
    .await?;
    tx.execute(
        "UPDATE reg_tokens SET venue_id = ?2 WHERE venue_id = ?1",
        libsql::params![venue.to_string(), r.venue_id.to_string()],
    )
    .await?;
    tx.execute(
        "INSERT INTO nodes (node_id, venue_id, public_key, leaf_user, leaf_password, registered_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        libsql::params![r.node_id.to_string(), r.venue_id.to_string(), r.public_key.clone(), user, password_hash, now_ms()],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Deserialize)]
struct Resync {
    /// The registered node.
    node_id: Uuid,
    new_node_id: Uuid,
    venue_id: Uuid,
    /// The new base64 ed25519 public key.
    public_key: String,
    /// The node's leaf password (it has it from registration).
    leaf_password: String,
    /// base64 signature by the old key over `pvm_shared::resync::statement`.
    signature: String,
}

/// A registered node whose log forked from the hub's copy moves its venue to
/// a new node id (`pvm-node resync`). The old key signs the new one and the
/// node proves its leaf password; the old node's events stay stored as they
/// are (no longer folded), the venue's state is folded again from the new
/// node's log, which it sends in full, and the leaf user (same name and
/// password) is now allowed the new node's subjects. Asking again with the
/// same new node and key answers the same (a resync cut short is finished).
async fn resync(
    State(app): State<App>,
    Json(r): Json<Resync>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let new_key: [u8; 32] = b64()
        .decode(&r.public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .filter(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_ok())
        .ok_or_else(|| bad("invalid", "public_key: a base64 ed25519 key"))?;
    let signature = b64()
        .decode(&r.signature)
        .ok()
        .and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok())
        .ok_or_else(|| bad("invalid", "signature: a base64 ed25519 signature"))?;
    if r.leaf_password.len() > 256 || r.node_id == r.new_node_id {
        return Err(bad(
            "invalid",
            "leaf_password or new_node_id is not acceptable",
        ));
    }
    let unknown = || {
        ApiError(
            StatusCode::NOT_FOUND,
            "unknown_node",
            "no such node of that venue is registered here".into(),
        )
    };
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT venue_id, public_key, leaf_user, leaf_password, retired_ms FROM nodes WHERE node_id = ?1",
            [r.node_id.to_string()],
        )
        .await?;
    let Some(row) = rows.next().await? else {
        return Err(unknown());
    };
    let (venue, old_key, leaf_user, leaf_hash, retired): (
        String,
        String,
        String,
        String,
        Option<i64>,
    ) = (
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    );
    drop(rows);
    if venue != r.venue_id.to_string() {
        return Err(unknown());
    }
    let old_key = b64()
        .decode(&old_key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| anyhow::anyhow!("the stored key of node {} is unusable", r.node_id))?;
    let statement = pvm_shared::resync::statement(r.node_id, r.new_node_id, r.venue_id, &new_key);
    let denied = || {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "not_this_node",
            "the signature or the leaf password is not this node's".into(),
        )
    };
    if old_key.verify_strict(&statement, &signature).is_err() {
        return Err(denied());
    }
    let (password, hash) = (r.leaf_password.clone(), leaf_hash.clone());
    let password_ok =
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
    if !password_ok {
        return Err(denied());
    }
    if retired.is_some() {
        // Done before: the same new node and key is this resync again.
        let mut again = conn
            .query(
                "SELECT public_key FROM nodes WHERE node_id = ?1 AND venue_id = ?2 AND retired_ms IS NULL",
                libsql::params![r.new_node_id.to_string(), r.venue_id.to_string()],
            )
            .await?;
        let same = match again.next().await? {
            Some(row) => row.get::<String>(0)? == r.public_key,
            None => false,
        };
        if !same {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "already_resynced",
                "this node was already replaced by another one".into(),
            ));
        }
    } else {
        let mut taken = conn
            .query(
                "SELECT 1 FROM nodes WHERE node_id = ?1",
                [r.new_node_id.to_string()],
            )
            .await?;
        if taken.next().await?.is_some() {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "already_registered",
                "new_node_id is already registered".into(),
            ));
        }
        drop(taken);
        let now = now_ms();
        let tx = conn.transaction().await?;
        tx.execute(
            "UPDATE nodes SET retired_ms = ?2 WHERE node_id = ?1",
            libsql::params![r.node_id.to_string(), now],
        )
        .await?;
        tx.execute(
            "INSERT INTO nodes (node_id, venue_id, public_key, leaf_user, leaf_password, registered_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            libsql::params![r.new_node_id.to_string(), r.venue_id.to_string(), r.public_key.clone(), leaf_user.clone(), leaf_hash, now],
        )
        .await?;
        tx.commit().await?;
        {
            let mut nodes = app.hub.nodes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = nodes.get_mut(&r.node_id) {
                old.retired = true;
            }
            nodes.insert(
                r.new_node_id,
                store::NodeRow {
                    node_id: r.new_node_id,
                    venue_id: r.venue_id,
                    public_key: new_key,
                    head_seq: 0,
                    head_hash: [0; 32],
                    verified_seq: 0,
                    retired: false,
                },
            );
        }
        // The venue's state is folded again from the new node's log as it arrives.
        app.hub
            .venues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&r.venue_id);
        *app.hub
            .versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(r.venue_id)
            .or_default() += 1;
        tracing::warn!(old = %r.node_id, new = %r.new_node_id, venue = %r.venue_id, "node resynced under a new id");
    }
    drop(conn);
    app.hub.nodes_changed.notify_one();
    write_leaf_users(&app).await?;
    ensure_down_consumer(&app, r.new_node_id, r.venue_id, true).await?;
    Ok(Json(json!({
        "node_id": r.new_node_id,
        "venue_id": r.venue_id,
        "leaf_url": app.cli.leaf_url,
        "leaf_user": leaf_user,
        "hub_public_key": b64().encode(app.key.verifying_key().as_bytes()),
        "nats_domain": "hub",
    })))
}

const BCRYPT_COST: u32 = 10;

async fn bcrypt_hash(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST)).await??)
}

/// Leaf passwords kept in plain text by earlier versions are replaced by their hashes.
async fn hash_plain_leaf_passwords(app: &App) -> anyhow::Result<()> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT node_id, leaf_password FROM nodes WHERE leaf_password NOT LIKE '$2%'",
            (),
        )
        .await?;
    let mut plain = Vec::new();
    while let Some(r) = rows.next().await? {
        plain.push((r.get::<String>(0)?, r.get::<String>(1)?));
    }
    drop(rows);
    for (node, password) in plain {
        let hash = bcrypt_hash(password).await?;
        conn.execute(
            "UPDATE nodes SET leaf_password = ?2 WHERE node_id = ?1",
            libsql::params![node, hash],
        )
        .await?;
    }
    Ok(())
}

/// `user:password` from a `nats://user:password@host:port` URL.
fn nats_credentials(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://")?.1;
    let (userinfo, _) = rest.split_once('@')?;
    let (user, pass) = userinfo.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Rewrites the leaf users the hub's nats-server includes and asks it to reload.
/// Each venue's user may publish only that venue's subjects and pull only its
/// own downstream consumer, and receive replies only on its own inbox prefix.
async fn write_leaf_users(app: &App) -> anyhow::Result<()> {
    if app.cli.leaf_users.is_none() {
        return Ok(());
    }
    let lines = {
        let conn = app.hub.store.conn.lock().await;
        leaf_user_lines(&conn).await?
    };
    install_leaf_users(app, lines).await
}

/// One user per registered (not retired) node: its venue's subjects only.
async fn leaf_user_lines(conn: &libsql::Connection) -> anyhow::Result<Vec<String>> {
    let mut rows = conn
        .query(
            "SELECT node_id, venue_id, leaf_user, leaf_password FROM nodes WHERE retired_ms IS NULL ORDER BY leaf_user",
            (),
        )
        .await?;
    let mut users = Vec::new();
    while let Some(r) = rows.next().await? {
        let (node, venue, user, pass): (String, String, String, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        users.push(leaf_user_line(&node, &venue, &user, &pass));
    }
    Ok(users)
}

fn leaf_user_line(node: &str, venue: &str, user: &str, pass: &str) -> String {
    format!(
        "  {{ user: \"{user}\", password: \"{pass}\", permissions: {{ publish: {{ allow: [\"pvm.up.{venue}.{node}\", \"pvm.hb.{venue}.{node}\", \"pvm.head.{venue}.{node}\", \"$JS.hub.API.CONSUMER.INFO.PVM_DOWN.node-{node}\", \"$JS.hub.API.CONSUMER.MSG.NEXT.PVM_DOWN.node-{node}\", \"$JS.ACK.PVM_DOWN.node-{node}.>\", \"$JS.ACK.hub.*.PVM_DOWN.node-{node}.>\"] }}, subscribe: {{ allow: [\"_INBOX_{venue}.>\"] }} }} }}"
    )
}

/// Writes the hub nats-server's users file (pvm-cloud's own user, then
/// `users`) and tells the server to reload it. One at a time, through a
/// temp file of this process's own.
async fn install_leaf_users(app: &App, mut users: Vec<String>) -> anyhow::Result<()> {
    let Some(path) = &app.cli.leaf_users else {
        return Ok(());
    };
    let _one_at_a_time = app.leaf_users.lock().await;
    // pvm-cloud's own user (from the credentials in --nats) may do everything.
    if let Some((user, pass)) = nats_credentials(&app.cli.nats) {
        let hash = bcrypt_hash(pass).await?;
        users.insert(0, format!("  {{ user: \"{user}\", password: \"{hash}\" }}"));
    }
    let text = format!("users = [\n{}\n]\n", users.join(",\n"));
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    if let Some(pid_file) = &app.cli.nats_pid {
        let text = std::fs::read_to_string(pid_file)?;
        let pid: i32 = text
            .trim()
            .parse()
            .with_context(|| format!("{}: not a pid: {text:?}", pid_file.display()))?;
        // SAFETY: kill(2) with a pid read from nats-server's own pid file; no memory is touched.
        if pid <= 0 || unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
            anyhow::bail!(
                "could not signal the hub nats-server (pid {pid}) to reload: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// The node's durable downstream consumer, filtered to its venue (idempotent).
/// A resynced node (`from_now`) gets only messages sent from then on: it
/// applied the earlier ones under its old id.
async fn ensure_down_consumer(
    app: &App,
    node: Uuid,
    venue: Uuid,
    from_now: bool,
) -> anyhow::Result<()> {
    use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
    let name = format!("node-{node}");
    if app
        .js
        .get_consumer_from_stream::<pull::Config, _, _>(&name, ingest::DOWN_STREAM)
        .await
        .is_ok()
    {
        return Ok(());
    }
    app.js
        .create_consumer_on_stream(
            pull::Config {
                durable_name: Some(name),
                filter_subject: format!("pvm.down.{venue}.>"),
                ack_policy: AckPolicy::Explicit,
                ack_wait: std::time::Duration::from_secs(30),
                deliver_policy: if from_now {
                    DeliverPolicy::New
                } else {
                    DeliverPolicy::All
                },
                ..Default::default()
            },
            ingest::DOWN_STREAM,
        )
        .await
        .context("creating the node's downstream consumer")?;
    Ok(())
}

async fn venue_exists(app: &App, id: Uuid) -> Result<(), ApiError> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query("SELECT 1 FROM venues WHERE id = ?1", [id.to_string()])
        .await?;
    if rows.next().await?.is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no venue {id}"),
        ));
    }
    Ok(())
}

/// Signs a message for a venue's node and puts it on `PVM_DOWN` (kept until the node takes it).
async fn send_down(
    app: &App,
    venue: Uuid,
    kind: &str,
    body: pvm_shared::down::DownBody,
) -> Result<Uuid, ApiError> {
    let message = pvm_shared::down::DownMessage {
        id: Uuid::now_v7(),
        venue_id: venue,
        issued_ms: now_ms() as u64,
        body,
        sig: String::new(),
    }
    .sign(&app.key);
    let bytes = serde_json::to_vec(&message).map_err(anyhow::Error::from)?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", message.id.to_string().as_str());
    app.js
        .publish_with_headers(format!("pvm.down.{venue}.{kind}"), headers, bytes.into())
        .await
        .map_err(|e| anyhow::anyhow!("publishing downstream: {e}"))?
        .await
        .map_err(|e| anyhow::anyhow!("downstream not stored: {e}"))?;
    Ok(message.id)
}

/// A heartbeat larger than this is dropped and counted: a node's figures fit
/// in a few hundred bytes.
const MAX_HEARTBEAT_BYTES: usize = 4 * 1024;
/// At most one heartbeat per node is stored in this time; faster ones are
/// answered but dropped and counted, so no node can keep the database busy.
const HEARTBEAT_MIN_GAP_MS: i64 = 500;

/// Heartbeats (core NATS `pvm.hb.<venue>.<node>`) are stored, within their
/// bounds; they and head queries (`pvm.head.<venue>.<node>`, sent by the pump
/// when it connects) are answered with the hub's head of that node's log
/// (`seq`, `hash`), so a node learns when its log forked from the hub's.
async fn heartbeats(hub: Arc<Hub>, client: async_nats::Client, stop: CancellationToken) {
    use futures_util::StreamExt;
    let (Ok(beats), Ok(queries)) = (
        client.subscribe("pvm.hb.>").await,
        client.subscribe("pvm.head.>").await,
    ) else {
        tracing::error!("cannot subscribe to heartbeats");
        return;
    };
    let mut messages = futures_util::stream::select(beats, queries);
    let mut stored_at: std::collections::HashMap<Uuid, i64> = std::collections::HashMap::new();
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = messages.next() => match m { Some(m) => m, None => return },
        };
        let parts: Vec<&str> = msg.subject.as_str().split('.').collect();
        let (kind, venue, node) = match parts.as_slice() {
            ["pvm", kind, v, n] => match (v.parse::<Uuid>(), n.parse::<Uuid>()) {
                (Ok(v), Ok(n)) => (*kind, v, n),
                _ => continue,
            },
            _ => continue,
        };
        let head = hub
            .nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&node)
            .filter(|row| row.venue_id == venue)
            .map(|row| (row.head_seq, row.head_hash));
        let Some((seq, hash)) = head else { continue };
        if let Some(reply) = msg.reply.clone() {
            let mut answer = json!({"seq": seq, "hash": hex::encode(hash)});
            // A node finding where its log forked asks for the hash at a seq.
            let at = (kind == "head")
                .then(|| serde_json::from_slice::<serde_json::Value>(&msg.payload).ok())
                .flatten()
                .and_then(|q| q["at"].as_u64());
            if let Some(at) = at {
                answer["at"] = json!(at);
                answer["at_hash"] = json!(stored_hash(&hub, node, at).await.map(hex::encode));
            }
            if let Err(e) = client.publish(reply, answer.to_string().into()).await {
                tracing::debug!(error = %e, "head answer not sent");
            }
        }
        if kind != "hb" {
            continue;
        }
        let now = now_ms();
        let too_soon = stored_at
            .get(&node)
            .is_some_and(|at| now - at < HEARTBEAT_MIN_GAP_MS);
        let beat = (msg.payload.len() <= MAX_HEARTBEAT_BYTES && !too_soon)
            .then(|| serde_json::from_slice::<serde_json::Value>(&msg.payload).ok())
            .flatten()
            .filter(serde_json::Value::is_object);
        let Some(beat) = beat else {
            hub.counts
                .heartbeats_dropped
                .fetch_add(1, Ordering::Relaxed);
            continue;
        };
        stored_at.insert(node, now);
        let conn = hub.store.conn.lock().await;
        let _ = conn
            .execute(
                "UPDATE nodes SET heartbeat = ?2, last_contact_ms = ?3 WHERE node_id = ?1",
                libsql::params![node.to_string(), beat.to_string(), now],
            )
            .await;
    }
}

/// The hash of a node's stored event `seq`, if the hub has it.
async fn stored_hash(hub: &Hub, node: Uuid, seq: u64) -> Option<[u8; 32]> {
    let conn = hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT envelope FROM events WHERE node_id = ?1 AND seq = ?2",
            libsql::params![node.to_string(), seq as i64],
        )
        .await
        .ok()?;
    let row = rows.next().await.ok()??;
    let bytes: Vec<u8> = row.get(0).ok()?;
    pvm_shared::envelope::Envelope::decode(&bytes)
        .ok()
        .map(|e| e.hash)
}

/// Every node: online, unhealthy (3 heartbeats missed) or offline (5), its last figures and contact.
async fn list_nodes(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(&app, &headers)?;
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query("SELECT node_id, venue_id, head_seq, verified_seq, last_contact_ms, heartbeat, retired_ms FROM nodes ORDER BY venue_id, registered_ms", ())
        .await?;
    let every = app.cli.heartbeat_secs.max(1) as i64 * 1000;
    let now = now_ms();
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let last: Option<i64> = r.get(4)?;
        let status = match last.map(|l| now - l) {
            Some(age) if age <= 3 * every => "online",
            Some(age) if age <= 5 * every => "unhealthy",
            _ => "offline",
        };
        let beat: Option<String> = r.get(5)?;
        out.push(json!({
            "node_id": r.get::<String>(0)?,
            "venue_id": r.get::<String>(1)?,
            "head_seq": r.get::<i64>(2)?,
            "verified_seq": r.get::<i64>(3)?,
            "last_contact_ms": last,
            "status": status,
            "heartbeat": beat.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
            "retired_ms": r.get::<Option<i64>>(6)?,
        }));
    }
    Ok(Json(json!(out)))
}

#[derive(Deserialize)]
struct NewVenue {
    name: String,
}

pub(crate) async fn insert_venue(app: &App, name: &str) -> Result<Uuid, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(bad("invalid", "name: 1 to 80 characters"));
    }
    let id = Uuid::now_v7();
    let conn = app.hub.store.conn.lock().await;
    conn.execute(
        "INSERT INTO venues (id, name, created_ms) VALUES (?1, ?2, ?3)",
        libsql::params![id.to_string(), name, now_ms()],
    )
    .await?;
    Ok(id)
}

async fn create_venue(
    State(app): State<App>,
    headers: HeaderMap,
    Json(v): Json<NewVenue>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    admin(&app, &headers)?;
    let id = insert_venue(&app, &v.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "name": v.name.trim()})),
    ))
}

/// A venue with its node's state, as the admin pages and API list them.
#[derive(Debug, Serialize)]
pub(crate) struct VenueRow {
    id: String,
    name: String,
    node_id: Option<String>,
    head_seq: Option<i64>,
    verified_seq: i64,
    last_contact_ms: Option<i64>,
    events: i64,
    /// online, unhealthy (3 heartbeats missed), offline (5), or unregistered.
    status: String,
    backlog: Option<u64>,
    heartbeat: Option<String>,
}

pub(crate) async fn venue_rows(app: &App) -> Result<Vec<VenueRow>, ApiError> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT v.id, v.name, n.node_id, n.head_seq, n.verified_seq, n.last_contact_ms, n.heartbeat, \
             (SELECT COUNT(*) FROM events e WHERE e.node_id = n.node_id) FROM venues v LEFT JOIN nodes n ON n.venue_id = v.id AND n.retired_ms IS NULL ORDER BY v.name",
            (),
        )
        .await?;
    let every = app.cli.heartbeat_secs.max(1) as i64 * 1000;
    let now = now_ms();
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        let node_id: Option<String> = r.get(2)?;
        let last: Option<i64> = r.get(5)?;
        let heartbeat: Option<String> = r.get(6)?;
        let status = match (&node_id, last.map(|l| now - l)) {
            (None, _) => "unregistered",
            (Some(_), Some(age)) if age <= 3 * every => "online",
            (Some(_), Some(age)) if age <= 5 * every => "unhealthy",
            _ => "offline",
        };
        let backlog = heartbeat
            .as_deref()
            .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
            .and_then(|h| h["backlog"].as_u64());
        out.push(VenueRow {
            id: r.get(0)?,
            name: r.get(1)?,
            node_id,
            head_seq: r.get(3)?,
            verified_seq: r.get::<Option<i64>>(4)?.unwrap_or(0),
            last_contact_ms: last,
            events: r.get(7)?,
            status: status.into(),
            backlog,
            heartbeat,
        });
    }
    Ok(out)
}

async fn list_venues(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<Vec<VenueRow>>, ApiError> {
    admin(&app, &headers)?;
    Ok(Json(venue_rows(&app).await?))
}

pub(crate) async fn new_token(app: &App, id: Uuid) -> Result<(String, i64), ApiError> {
    venue_exists(app, id).await?;
    let conn = app.hub.store.conn.lock().await;
    let token = format!("pvm_reg_{}", hex::encode(rand::random::<[u8; 24]>()));
    let expires = now_ms() + 24 * 3_600_000;
    conn.execute(
        "INSERT INTO reg_tokens (hash, venue_id, expires_ms) VALUES (?1, ?2, ?3)",
        libsql::params![
            hex::encode(Sha256::digest(token.as_bytes())),
            id.to_string(),
            expires
        ],
    )
    .await?;
    Ok((token, expires))
}

async fn create_token(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    admin(&app, &headers)?;
    let (token, expires) = new_token(&app, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_ms": expires})),
    ))
}

/// (count, first seq, last seq, verified seq, latest 50 as (seq, kind, verified)).
pub(crate) type EventsSummary = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Vec<(i64, String, bool)>,
);

pub(crate) async fn events_summary(app: &App, id: Uuid) -> Result<EventsSummary, ApiError> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT COUNT(*), MIN(seq), MAX(seq), (SELECT MAX(verified_seq) FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL) FROM events \
             WHERE venue_id = ?1 AND node_id IN (SELECT node_id FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL)",
            [id.to_string()],
        )
        .await?;
    let r = rows
        .next()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    let (count, min, max, verified): (i64, Option<i64>, Option<i64>, Option<i64>) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    let mut kinds = conn
        .query(
            "SELECT seq, kind FROM events WHERE venue_id = ?1 AND node_id IN \
             (SELECT node_id FROM nodes WHERE venue_id = ?1 AND retired_ms IS NULL) ORDER BY seq DESC LIMIT 50",
            [id.to_string()],
        )
        .await?;
    let mut latest = Vec::new();
    while let Some(k) = kinds.next().await? {
        let seq: i64 = k.get(0)?;
        latest.push((seq, k.get::<String>(1)?, verified.is_some_and(|v| seq <= v)));
    }
    Ok((count, min, max, verified, latest))
}

async fn venue_events(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(&app, &headers)?;
    let (count, min, max, verified, latest) = events_summary(&app, id).await?;
    let latest: Vec<serde_json::Value> = latest
        .into_iter()
        .map(|(seq, kind, ok)| json!({"seq": seq, "kind": kind, "verified": ok}))
        .collect();
    Ok(Json(
        json!({"count": count, "min_seq": min, "max_seq": max, "verified_seq": verified, "latest": latest}),
    ))
}

/// (seq, kind, detail, at_ms), oldest first.
pub(crate) async fn problem_rows(app: &App, id: Uuid) -> Result<Vec<ProblemRow>, ApiError> {
    let conn = app.hub.store.conn.lock().await;
    let mut rows = conn
        .query(
            "SELECT p.seq, p.kind, p.detail, p.at_ms, p.count, COALESCE(p.last_ms, p.at_ms) FROM problems p LEFT JOIN nodes n ON n.node_id = p.node_id \
             WHERE n.venue_id = ?1 OR p.node_id IS NULL OR n.node_id IS NULL ORDER BY p.id",
            [id.to_string()],
        )
        .await?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await? {
        out.push(ProblemRow {
            seq: r.get(0)?,
            kind: r.get(1)?,
            detail: r.get(2)?,
            at_ms: r.get(3)?,
            count: r.get(4)?,
            last_ms: r.get(5)?,
        });
    }
    Ok(out)
}

/// A kind of problem a node had: the first one's seq and detail, how many
/// there were, and when it was last seen.
#[derive(Debug, Serialize)]
pub(crate) struct ProblemRow {
    pub seq: Option<i64>,
    pub kind: String,
    pub detail: String,
    pub at_ms: i64,
    pub count: i64,
    pub last_ms: i64,
}

async fn venue_problems(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(&app, &headers)?;
    Ok(Json(json!(problem_rows(&app, id).await?)))
}

pub(crate) async fn template_down(
    app: &App,
    id: Uuid,
    structure: pvm_shared::tournament::Structure,
) -> Result<Uuid, ApiError> {
    venue_exists(app, id).await?;
    structure
        .validate()
        .map_err(|e| bad("invalid", format!("structure: {e}")))?;
    if pvm_shared::tournament::structure::templates()
        .iter()
        .any(|t| t.name.eq_ignore_ascii_case(structure.name.trim()))
    {
        return Err(bad(
            "invalid",
            "give the template a name of its own (the built-in names are taken at every venue)",
        ));
    }
    send_down(
        app,
        id,
        "template",
        pvm_shared::down::DownBody::Template { structure },
    )
    .await
}

/// A tournament template for a venue's node.
async fn send_template(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(structure): Json<pvm_shared::tournament::Structure>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    admin(&app, &headers)?;
    let sent = template_down(&app, id, structure).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": sent}))))
}

#[derive(Deserialize)]
struct NewUpdate {
    version: String,
    images: std::collections::BTreeMap<String, String>,
}

/// Tell a venue's node to update itself (downstream, hub-signed): images by digest.
async fn send_update(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(u): Json<NewUpdate>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    admin(&app, &headers)?;
    venue_exists(&app, id).await?;
    if u.images.is_empty() || u.version.trim().is_empty() {
        return Err(bad("invalid", "give a version and at least one image"));
    }
    if let Some((role, image)) = u
        .images
        .iter()
        .find(|(_, i)| !pvm_shared::down::by_digest(i))
    {
        return Err(bad(
            "not_by_digest",
            format!("{role}: {image} is not named by digest (repo@sha256:...)"),
        ));
    }
    let body = pvm_shared::down::DownBody::Update {
        version: u.version.trim().to_owned(),
        images: u.images,
    };
    let sent = send_down(&app, id, "update", body).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": sent}))))
}

#[derive(Deserialize)]
struct NewAnnouncement {
    text: String,
    #[serde(default)]
    group: Option<String>,
    minutes: u64,
}

pub(crate) async fn announce_down(
    app: &App,
    id: Uuid,
    text: String,
    group: Option<String>,
    minutes: u64,
) -> Result<Uuid, ApiError> {
    venue_exists(app, id).await?;
    let text = text.trim().to_owned();
    if text.is_empty() || text.chars().count() > 280 || !(1..=1440).contains(&minutes) {
        return Err(bad(
            "invalid",
            "text: 1 to 280 characters; minutes: 1 to 1440",
        ));
    }
    let body = pvm_shared::down::DownBody::Announcement {
        id: Uuid::now_v7(),
        text,
        group,
        until_ms: now_ms() as u64 + minutes * 60_000,
    };
    send_down(app, id, "announcement", body).await
}

/// An announcement for a venue's screens.
async fn send_announcement(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(a): Json<NewAnnouncement>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    admin(&app, &headers)?;
    let sent = announce_down(&app, id, a.text, a.group, a.minutes).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": sent}))))
}
