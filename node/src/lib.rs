//! The PVM venue node: the event log on libSQL, the REST API and the staff UI.
//!
//! `main.rs` only parses the command line and calls into here; `Node::open`
//! and `serve` take their inputs as arguments so tests and benchmarks can run
//! the same path in-process.

pub mod allocator;
pub mod auth;
pub mod config;
pub mod control;
pub mod displays;
pub mod http;
pub mod identity;
pub mod leaf;
pub mod lock;
pub mod mdns;
pub mod media;
pub mod metrics;
pub mod ops;
pub mod store;
pub mod sync;
pub mod update;
pub mod wipe;

use identity::{IdentityError, NodeIdentity};
use lock::{DataDirLock, LockError};
use metrics::Metrics;
use std::path::Path;
use std::sync::Arc;
use store::writer::{SystemClock, TimeSource};
use store::{Db, Log, Reader, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An opened node: data dir locked, identity loaded, database migrated, writer running.
pub struct Node {
    pub state: http::AppState,
    pub db: Db,
    /// Whether `open` made a new identity (first start).
    pub created: bool,
    /// Stops the background tasks the node started (the display feeds).
    pub stop: tokio_util::sync::CancellationToken,
    _lock: DataDirLock,
}

impl Node {
    pub async fn open(data_dir: &Path) -> Result<Node, StartError> {
        Node::open_with_clock(data_dir, Arc::new(SystemClock)).await
    }

    pub async fn open_with_clock(
        data_dir: &Path,
        clock: Arc<dyn TimeSource>,
    ) -> Result<Node, StartError> {
        identity::prepare_data_dir(data_dir)?;
        let lock = DataDirLock::acquire(data_dir)?;
        let (identity, created) = NodeIdentity::load_or_create(data_dir)?;
        let identity = Arc::new(identity);
        let db = Db::open(&data_dir.join(store::DB_FILE)).await?;
        let metrics = Arc::new(Metrics::default());
        let log = Log::start(db.clone(), identity.clone(), metrics.clone(), clock.clone()).await?;
        let reader = Reader::new(&db).await?;
        let hub_keys = identity::load_hub_keys(data_dir)?;
        let auth = auth::AuthService::load(
            identity.clone(),
            hub_keys,
            clock.clone(),
            log.clone(),
            &reader,
        )
        .await?;
        let stop = tokio_util::sync::CancellationToken::new();
        let displays = displays::DisplayFeeds::start(&log, clock.clone(), stop.clone());
        Ok(Node {
            state: http::AppState {
                sync: Arc::new(sync::SyncStatus::default()),
                media: Arc::new(media::MediaStore::new(data_dir)),
                displays,
                auth: Arc::new(auth),
                clock: clock.clone(),
                log,
                reader,
                metrics,
                identity,
                proxies: Arc::default(),
            },
            db,
            created,
            stop,
            _lock: lock,
        })
    }

    /// Finishes queued writes and checkpoints the WAL.
    pub async fn close(self) {
        self.stop.cancel();
        self.state.log.shutdown().await;
    }
}
