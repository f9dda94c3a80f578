//! The single writer: group commit of appends into the event log.
//!
//! Callers send commands over a channel. The writer drains whatever is
//! waiting, checks each command against the venue state, seals each event
//! into the hash chain, signs the last one of the batch, and appends them all
//! with their read-table updates in one transaction. Each caller hears back
//! only after that commit (synchronous=FULL), so an acknowledged event
//! survives a power cut.

use super::{project, Db, Reader, StoreError};
use crate::identity::NodeIdentity;
use crate::metrics::Metrics;
use pvm_shared::envelope::{Envelope, EnvelopeHeader, Hash, SCHEMA_VERSION};
use pvm_shared::venue::{Command, DomainError, VenueState};
use pvm_shared::{Actor, EventKind, Hlc, HlcClock};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// At most this many appends share one transaction.
pub const MAX_BATCH: usize = 1024;

/// Wall-clock time in milliseconds; a trait so tests can drive it.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// An event that is committed to the log.
#[derive(Debug, Clone)]
pub struct Committed {
    pub seq: u64,
    pub hlc: Hlc,
    pub event: EventKind,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Rejected(#[from] DomainError),
    #[error("the change could not be saved: {0}")]
    Storage(String),
    #[error("the node is shutting down")]
    Stopped,
}

type Reply = oneshot::Sender<Result<Committed, AppendError>>;

enum Msg {
    Append {
        actor: Actor,
        command: Command,
        reply: Reply,
    },
    Shutdown(oneshot::Sender<()>),
}

/// A handle to the writer. Clone it freely.
#[derive(Clone)]
pub struct Log {
    tx: mpsc::Sender<Msg>,
}

impl Log {
    /// Starts the writer on its own thread. Returns once it has loaded the state.
    pub async fn start(
        db: Db,
        identity: Arc<NodeIdentity>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Result<Log, StoreError> {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("pvm-writer".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StoreError::Log(format!("writer runtime: {e}"))));
                        return;
                    }
                };
                rt.block_on(async move {
                    match Writer::load(db, identity, metrics, clock).await {
                        Ok(writer) => {
                            let _ = ready_tx.send(Ok(()));
                            writer.run(rx).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| StoreError::Log(format!("cannot start writer thread: {e}")))?;
        ready_rx
            .await
            .map_err(|_| StoreError::Log("writer thread stopped while starting".into()))??;
        Ok(Log { tx })
    }

    /// Appends the event that `command` decides, acknowledged after commit.
    pub async fn append(&self, actor: Actor, command: Command) -> Result<Committed, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Append {
                actor,
                command,
                reply,
            })
            .await
            .map_err(|_| AppendError::Stopped)?;
        rx.await.map_err(|_| AppendError::Stopped)?
    }

    /// Finishes every append sent before this call, checkpoints the WAL, and stops the writer.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(done)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

struct Staged {
    env: Envelope,
    event: EventKind,
    reply: Reply,
}

struct Writer {
    db: Db,
    conn: libsql::Connection,
    identity: Arc<NodeIdentity>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    state: VenueState,
    next_seq: u64,
    prev_hash: Hash,
    hlc: HlcClock,
}

impl Writer {
    async fn load(
        db: Db,
        identity: Arc<NodeIdentity>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Result<Writer, StoreError> {
        let conn = db.connect().await?;
        let mut writer = Writer {
            db,
            conn,
            identity,
            metrics,
            clock,
            state: VenueState::default(),
            next_seq: 1,
            prev_hash: [0; 32],
            hlc: HlcClock::default(),
        };
        writer.reload().await?;
        Ok(writer)
    }

    /// Reads state and the chain head back from the database (at start, and after a failed commit).
    async fn reload(&mut self) -> Result<(), StoreError> {
        let reader = Reader::new(&self.db).await?;
        let head = reader.chain_head().await?;
        self.state = reader.state().await?;
        self.next_seq = head.start.seq;
        self.prev_hash = head.start.prev_hash;
        self.hlc = HlcClock::resume_after(head.hlc);
        Ok(())
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut shutdown = None;
        while let Some(first) = rx.recv().await {
            let mut batch = Vec::with_capacity(64);
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append {
                        actor,
                        command,
                        reply,
                    } => batch.push((actor, command, reply)),
                    Msg::Shutdown(done) => {
                        shutdown = Some(done);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            self.commit_batch(batch).await;
            if shutdown.is_some() {
                break;
            }
        }
        rx.close();
        // Appends that raced with shutdown are refused, never dropped silently.
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Append { reply, .. } = msg {
                let _ = reply.send(Err(AppendError::Stopped));
            }
        }
        if let Err(e) = super::query_text(&self.conn, "PRAGMA wal_checkpoint(TRUNCATE)").await {
            tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
        }
        if let Some(done) = shutdown {
            let _ = done.send(());
        }
    }

    async fn commit_batch(&mut self, batch: Vec<(Actor, Command, Reply)>) {
        let mut staged: Vec<Staged> = Vec::with_capacity(batch.len());
        for (actor, command, reply) in batch {
            let event = match self.state.decide(&command) {
                Ok(event) => event,
                Err(e) => {
                    let _ = reply.send(Err(AppendError::Rejected(e)));
                    continue;
                }
            };
            let header = EnvelopeHeader {
                id: Uuid::now_v7(),
                venue_id: self.identity.venue_id,
                node_id: self.identity.node_id,
                seq: self.next_seq,
                hlc: self.hlc.tick(self.clock.now_ms()),
                actor,
                schema: SCHEMA_VERSION,
            };
            let env = Envelope::seal(header, &event, self.prev_hash);
            self.state.apply(&event);
            self.next_seq += 1;
            self.prev_hash = env.hash;
            staged.push(Staged { env, event, reply });
        }
        let Some(last) = staged.last_mut() else {
            return;
        };
        last.env.sign(&self.identity.key);
        match self.write(&staged).await {
            Ok(()) => {
                self.metrics.events_appended(staged.len() as u64);
                for s in staged {
                    let _ = s.reply.send(Ok(Committed {
                        seq: s.env.header.seq,
                        hlc: s.env.header.hlc,
                        event: s.event,
                    }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = staged.len(), "commit failed; nothing of this batch was stored");
                for s in staged {
                    let _ = s.reply.send(Err(AppendError::Storage(e.to_string())));
                }
                if let Err(e) = self.reload().await {
                    tracing::error!(error = %e, "reloading state after a failed commit failed");
                }
            }
        }
    }

    async fn write(&self, staged: &[Staged]) -> Result<(), libsql::Error> {
        let tx = self
            .conn
            .transaction_with_behavior(libsql::TransactionBehavior::Immediate)
            .await?;
        {
            let insert = tx
                .prepare("INSERT INTO events (seq, id, kind, hlc_ms, hlc_ctr, actor, envelope) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .await?;
            for s in staged {
                let h = &s.env.header;
                insert
                    .execute(libsql::params![
                        h.seq as i64,
                        h.id.to_string(),
                        s.env.kind.as_str(),
                        h.hlc.wall_ms as i64,
                        h.hlc.counter as i64,
                        h.actor.to_string(),
                        s.env.encode()
                    ])
                    .await?;
                insert.reset();
                project::apply(&tx, h.seq, &s.event).await?;
            }
        }
        tx.commit().await
    }
}
