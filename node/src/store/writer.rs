//! The single writer: group commit of appends into the event log.
//!
//! Callers send commands over a channel. The writer takes each as it
//! arrives: checks it against the venue state and seals its events into the
//! hash chain (canonical JSON, SHA-256), while it waits for the rest of the
//! batch. Then it signs the batch's last event and appends the events with
//! their read-table updates in one transaction. Each caller hears back only
//! after the commit (synchronous=FULL), so an acknowledged event survives a
//! power cut.

use super::project::Statements;
use super::{Db, Reader, StoreError};
use crate::identity::NodeIdentity;
use crate::metrics::Metrics;
use pvm_shared::envelope::{Envelope, EnvelopeHeader, Hash, SCHEMA_VERSION};
use pvm_shared::staff::StaffDirectory;
use pvm_shared::venue::{Command, DomainError, VenueState};
use pvm_shared::{Actor, EventKind, Hlc, HlcClock};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

/// The read-table rows an event changes that are written from state (cash
/// games, tournaments), worked out before it is applied.
pub(crate) fn touched_by(state: &VenueState, event: &EventKind) -> pvm_shared::cash::TouchedRows {
    match event {
        EventKind::Cash(e) => pvm_shared::cash::touched(state, e),
        EventKind::TournamentCreated { tournament_id, .. } => {
            let mut t = pvm_shared::cash::TouchedRows::default();
            t.tournaments.insert(*tournament_id);
            t
        }
        EventKind::TournamentPlayed {
            tournament_id,
            event,
        } => {
            let mut t = pvm_shared::cash::TouchedRows::default();
            t.tournaments.insert(*tournament_id);
            let bullets = match event.bullets() {
                Some(some) => some,
                None => state
                    .tournaments
                    .get(tournament_id)
                    .map(|tour| tour.bullets.keys().copied().collect())
                    .unwrap_or_default(),
            };
            t.tournament_entries
                .extend(bullets.into_iter().map(|b| (*tournament_id, b)));
            t
        }
        EventKind::DisplayChanged { .. } => pvm_shared::cash::TouchedRows {
            displays: true,
            ..Default::default()
        },
        EventKind::Day2Created {
            tournament_id,
            day2,
            entrants,
            ..
        } => {
            let mut t = pvm_shared::cash::TouchedRows::default();
            t.tournaments.insert(*tournament_id);
            t.tournaments.extend(day2.flights.iter().copied());
            t.tournament_entries
                .extend(entrants.iter().map(|e| (*tournament_id, e.bullet_id)));
            t
        }
        _ => pvm_shared::cash::TouchedRows::default(),
    }
}

/// At most this many appends share one transaction.
pub const MAX_BATCH: usize = 1024;

/// The longest the writer waits for more appends before it commits a batch.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(200);

/// The writer copies the WAL back into the database file (a PASSIVE
/// checkpoint, between batches, after the callers have their answers)
/// once this many events, or this many commits, were appended since the last.
/// Done between batches, the checkpoint finishes (no other writer appends
/// meanwhile), so the next commit starts the WAL over and overwrites its
/// first pages: a WAL that only grows costs every commit's fsync new blocks
/// and their metadata (measured: a 32-event commit took 330 µs instead of 200).
/// Each checkpoint also costs an fsync of the database file, and the writer
/// appends nothing meanwhile: at 1,000 events they took ~7% of the writer's
/// time under 32 busy callers; at 4,000, in big batches, the WAL peaks at
/// ~4 MB. A venue's usual one-event commits reach 250 commits first, as
/// before.
const CHECKPOINT_EVENTS: usize = 4_000;
const CHECKPOINT_COMMITS: usize = 250;

/// Wall-clock time in milliseconds; a trait so tests can drive it.
pub trait TimeSource: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
}

pub struct SystemClock;

impl TimeSource for SystemClock {
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
type ReplyAll = oneshot::Sender<Result<Vec<Committed>, AppendError>>;

/// Who hears back about an append: one command's caller, or a group's.
enum Responder {
    One(Reply),
    All(ReplyAll),
}

enum Msg {
    Append {
        actor: Actor,
        command: Command,
        reply: Reply,
    },
    /// Commands that stand or fall together (a walk-in player and their entry).
    AppendAll {
        actor: Actor,
        commands: Vec<Command>,
        reply: ReplyAll,
    },
    /// Does a commit work now? (asked by `/ready` after a failed commit)
    Probe(oneshot::Sender<Result<(), String>>),
    Shutdown(oneshot::Sender<()>),
}

/// Whether the writer can still commit, for `/ready`: set by the writer
/// thread, read without queueing behind its batches.
#[derive(Default)]
struct WriterHealth {
    /// A failed commit could not be rolled back in memory: only a restart helps.
    poisoned: std::sync::atomic::AtomicBool,
    /// The last commit's failure, cleared by the next commit (or probe) that works.
    last_failure: std::sync::Mutex<Option<String>>,
}

impl WriterHealth {
    fn set_failure(&self, failure: Option<String>) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = failure;
    }

    fn failure(&self) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Responder {
    fn fail(self, e: AppendError) {
        match self {
            Responder::One(r) => {
                let _ = r.send(Err(e));
            }
            Responder::All(r) => {
                let _ = r.send(Err(e));
            }
        }
    }

    fn succeed(self, mut committed: Vec<Committed>) {
        match self {
            Responder::One(r) => {
                let _ = match committed.pop() {
                    Some(c) => r.send(Ok(c)),
                    None => r.send(Err(AppendError::Stopped)),
                };
            }
            Responder::All(r) => {
                let _ = r.send(Ok(committed));
            }
        }
    }
}

/// A handle to the writer. Clone it freely.
#[derive(Clone)]
pub struct Log {
    tx: mpsc::Sender<Msg>,
    staff: watch::Receiver<Arc<StaffDirectory>>,
    venue: watch::Receiver<Arc<VenueState>>,
    health: Arc<WriterHealth>,
}

impl Log {
    /// Starts the writer on its own thread. Returns once it has loaded the state.
    pub async fn start(
        db: Db,
        identity: Arc<NodeIdentity>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn TimeSource>,
    ) -> Result<Log, StoreError> {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (staff_tx, staff) = watch::channel(Arc::new(StaffDirectory::default()));
        let (venue_tx, venue) = watch::channel(Arc::new(VenueState::default()));
        let health = Arc::new(WriterHealth::default());
        let writer_health = health.clone();
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
                    match Writer::load(db, identity, metrics, clock, staff_tx, venue_tx).await {
                        Ok(mut writer) => {
                            writer.health = writer_health;
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
        Ok(Log {
            tx,
            staff,
            venue,
            health,
        })
    }

    /// Whether a write would be committed now: `Err` says why not (the writer
    /// stopped, the database failed for good, or the last commit failed and a
    /// probe commit still fails, e.g. on a full disk).
    pub async fn ready(&self) -> Result<(), String> {
        if self.tx.is_closed() {
            return Err("the writer has stopped: restart the node".into());
        }
        if self
            .health
            .poisoned
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err("the database failed and could not be read back: restart the node".into());
        }
        let Some(failed) = self.health.failure() else {
            return Ok(());
        };
        // Space may be back: a real commit says whether writes work again.
        // The whole ask is bounded: a full queue must not hold up /ready.
        let ask = async {
            let (reply, rx) = oneshot::channel();
            self.tx.send(Msg::Probe(reply)).await.ok()?;
            rx.await.ok()
        };
        match tokio::time::timeout(std::time::Duration::from_secs(2), ask).await {
            Ok(Some(Ok(()))) => Ok(()),
            Ok(Some(Err(e))) if super::disk_full(&e) => Err("the node's disk is full".into()),
            Ok(Some(Err(e))) => Err(format!("writes fail: {e}")),
            Ok(None) => Err("the writer has stopped: restart the node".into()),
            Err(_) => Err(format!(
                "the writer did not answer within 2 s (last failure: {failed})"
            )),
        }
    }

    /// The venue state as of the last commit: what the read tables hold, in memory.
    pub fn venue(&self) -> Arc<VenueState> {
        self.venue.borrow().clone()
    }

    /// Follows the venue state: changes after every commit.
    pub fn watch_venue(&self) -> watch::Receiver<Arc<VenueState>> {
        self.venue.clone()
    }

    /// The staff directory as of the last commit.
    pub fn staff(&self) -> Arc<StaffDirectory> {
        self.staff.borrow().clone()
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

    /// Appends the events `commands` decide, in order, as one: each is decided
    /// against the state the ones before it leave, and they are committed in
    /// one transaction or not at all (the first refusal refuses them all).
    pub async fn append_all(
        &self,
        actor: Actor,
        commands: Vec<Command>,
    ) -> Result<Vec<Committed>, AppendError> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::AppendAll {
                actor,
                commands,
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

/// An event decided and applied to the state, with its header.
struct Decided {
    header: EnvelopeHeader,
    event: EventKind,
}

/// A thread that frees the states the writer replaced (after a commit that
/// changed a player, a big room's directory is thousands of allocations;
/// the parts a commit left alone are shared and cost a reference count).
/// If it is gone they are freed in place.
struct Retired(Option<std::sync::mpsc::SyncSender<RetiredStates>>);

/// Replaced states waiting to be freed: past this the writer waits (the
/// freeing thread keeps up easily; this only bounds memory if it cannot).
const RETIRED_QUEUE: usize = 16;

type RetiredStates = (Option<Arc<StaffDirectory>>, Option<Arc<VenueState>>);

impl Retired {
    fn start() -> Retired {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RetiredStates>(RETIRED_QUEUE);
        let spawned = std::thread::Builder::new()
            .name("pvm-retired-state".into())
            .spawn(move || for _ in rx {});
        Retired(spawned.ok().map(|_| tx))
    }

    fn free(&self, staff: Option<Arc<StaffDirectory>>, venue: Option<Arc<VenueState>>) {
        if let Some(tx) = &self.0 {
            // A send that fails hands the states back in its error, dropped here.
            let _ = tx.send((staff, venue));
        }
    }
}

struct Writer {
    db: Db,
    conn: libsql::Connection,
    stmts: Statements,
    /// Events and commits appended since the last checkpoint.
    since_checkpoint: (usize, usize),
    /// How many appends the last batch held: the writer waits briefly for as many again.
    last_batch: usize,
    /// Publishes the staff directory after each commit that changed it.
    staff_tx: watch::Sender<Arc<StaffDirectory>>,
    /// Publishes the whole venue state after each commit that changed more than staff.
    venue_tx: watch::Sender<Arc<VenueState>>,
    /// Where replaced states go to be freed, off the writer's path.
    retired: Retired,
    /// Set when a failed commit could not be rolled back in memory.
    poisoned: bool,
    health: Arc<WriterHealth>,
    identity: Arc<NodeIdentity>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn TimeSource>,
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
        clock: Arc<dyn TimeSource>,
        staff_tx: watch::Sender<Arc<StaffDirectory>>,
        venue_tx: watch::Sender<Arc<VenueState>>,
    ) -> Result<Writer, StoreError> {
        let conn = db.connect().await?;
        // The writer checkpoints between batches itself (`checkpoint_if_due`),
        // never inside a commit.
        super::query_text(&conn, "PRAGMA wal_autocheckpoint=0").await?;
        let stmts = Statements::prepare(&conn).await?;
        let mut writer = Writer {
            db,
            conn,
            stmts,
            since_checkpoint: (0, 0),
            last_batch: 1,
            staff_tx,
            venue_tx,
            retired: Retired::start(),
            poisoned: false,
            health: Arc::default(),
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
        self.staff_tx.send_replace(self.state.staff.clone());
        self.venue_tx.send_replace(Arc::new(self.state.clone()));
        Ok(())
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut shutdown = None;
        loop {
            // After a batch of several callers, their next appends are
            // usually on the way: wait for them here briefly (see `gather`)
            // rather than park, which would cost a thread wake-up each time.
            let first = match self.gather(&mut rx, 1) {
                Some(msg) => msg,
                None => match rx.recv().await {
                    Some(msg) => msg,
                    None => break,
                },
            };
            // Each append is decided and sealed as it arrives, while the
            // rest of the batch is still on its way.
            let mut batch = Batch::after(self.prev_hash);
            let mut appends = 0;
            let mut probes = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append {
                        actor,
                        command,
                        reply,
                    } => {
                        appends += 1;
                        let commands = std::slice::from_ref(&command);
                        self.take(&mut batch, actor, commands, Responder::One(reply));
                    }
                    Msg::AppendAll {
                        actor,
                        commands,
                        reply,
                    } => {
                        appends += 1;
                        self.take(&mut batch, actor, &commands, Responder::All(reply));
                    }
                    Msg::Probe(reply) => probes.push(reply),
                    Msg::Shutdown(done) => {
                        shutdown = Some(done);
                        break;
                    }
                }
                if appends < MAX_BATCH {
                    next = rx.try_recv().ok();
                    if next.is_none() && shutdown.is_none() {
                        next = self.gather(&mut rx, appends);
                    }
                }
            }
            self.last_batch = appends;
            self.commit_batch(batch).await;
            if !probes.is_empty() {
                let result = self.probe().await;
                for p in probes {
                    let _ = p.send(result.clone());
                }
            }
            if shutdown.is_some() {
                break;
            }
            self.checkpoint_if_due().await;
        }
        rx.close();
        // Appends that raced with shutdown are refused, never dropped silently.
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Append { reply, .. } => {
                    let _ = reply.send(Err(AppendError::Stopped));
                }
                Msg::AppendAll { reply, .. } => {
                    let _ = reply.send(Err(AppendError::Stopped));
                }
                Msg::Probe(reply) => {
                    let _ = reply.send(Err("the node is shutting down".into()));
                }
                Msg::Shutdown(_) => {}
            }
        }
        if let Err(e) = super::query_text(&self.conn, "PRAGMA wal_checkpoint(TRUNCATE)").await {
            tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
        }
        if let Some(done) = shutdown {
            let _ = done.send(());
        }
    }

    /// One real commit (the probe row rewritten): clears the last failure if
    /// it works.
    async fn probe(&mut self) -> Result<(), String> {
        if self.poisoned {
            return Err("the database failed and could not be read back: restart the node".into());
        }
        let now = self.clock.now_ms() as i64;
        let result = self
            .conn
            .execute(
                "INSERT INTO write_probe (id, at_ms) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms",
                [now],
            )
            .await;
        match result {
            Ok(_) => {
                self.health.set_failure(None);
                Ok(())
            }
            Err(e) => {
                let e = super::StoreError::from(e).to_string();
                self.health.set_failure(Some(e.clone()));
                Err(e)
            }
        }
    }

    /// Decides `commands` and seals their events into `batch`; a refusal
    /// (or a writer that cannot write any more) is answered at once.
    fn take(
        &mut self,
        batch: &mut Batch,
        actor: Actor,
        commands: &[Command],
        responder: Responder,
    ) {
        if self.poisoned {
            return responder.fail(AppendError::Storage(
                "the database failed earlier and the node must be restarted".into(),
            ));
        }
        match self.stage(actor, commands, &mut batch.touched) {
            Ok(mine) => {
                batch.callers.push((responder, mine.len()));
                for d in &mine {
                    batch.seal(d);
                }
                batch.decided.extend(mine);
            }
            Err(e) => responder.fail(AppendError::Rejected(e)),
        }
    }

    async fn commit_batch(&mut self, batch: Batch) {
        if batch.decided.is_empty() {
            // Only a group of no commands can be here: nothing to store.
            for (responder, _) in batch.callers {
                responder.succeed(Vec::new());
            }
            return;
        }
        let Batch {
            decided,
            callers,
            touched,
            rows,
            last,
            ..
        } = batch;
        match self.write(&decided, &touched, rows, last).await {
            Ok(last_hash) => {
                self.prev_hash = last_hash;
                self.health.set_failure(None);
                self.metrics.events_appended(decided.len() as u64);
                self.since_checkpoint.0 += decided.len();
                self.since_checkpoint.1 += 1;
                // The states replaced are freed on a thread of their own, after
                // the callers have their answers: freeing a big room's old
                // state is neither theirs nor the next batch's to wait for.
                let mut replaced_staff = None;
                let mut replaced_venue = None;
                if decided.iter().any(|d| d.event.touches_staff()) {
                    replaced_staff = Some(self.staff_tx.send_replace(self.state.staff.clone()));
                }
                // Published before the callers hear back, so what they read next includes their change.
                if decided.iter().any(|d| !d.event.touches_staff()) {
                    replaced_venue = Some(self.venue_tx.send_replace(Arc::new(self.state.clone())));
                }
                let mut events = decided.into_iter().map(|d| Committed {
                    seq: d.header.seq,
                    hlc: d.header.hlc,
                    event: d.event,
                });
                for (responder, n) in callers {
                    let mine: Vec<Committed> = events.by_ref().take(n).collect();
                    responder.succeed(mine);
                }
                self.retired.free(replaced_staff, replaced_venue);
            }
            Err(e) => {
                tracing::error!(error = %e, events = decided.len(), "commit failed; nothing of this batch was stored");
                self.health.set_failure(Some(e.to_string()));
                for (responder, _) in callers {
                    responder.fail(AppendError::Storage(e.to_string()));
                }
                if let Err(e) = self.reload().await {
                    // Memory now holds events the database does not: chaining on
                    // them would break the log. Refuse everything until a restart.
                    tracing::error!(error = %e, "reloading state after a failed commit failed; refusing all writes until restart");
                    self.poisoned = true;
                    self.health
                        .poisoned
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }

    /// Decides one caller's commands in order against the state, applying
    /// each. If one is refused, the state is put back as it was before the
    /// first (a group stands or falls together).
    fn stage(
        &mut self,
        actor: Actor,
        commands: &[Command],
        touched: &mut pvm_shared::cash::TouchedRows,
    ) -> Result<Vec<Decided>, DomainError> {
        // Only a group needs the way back; a single command is decided before
        // anything changes.
        let saved =
            (commands.len() > 1).then(|| (self.state.clone(), self.next_seq, touched.clone()));
        let mut out = Vec::with_capacity(commands.len());
        for command in commands {
            let event = match self.state.decide(command) {
                Ok(event) => event,
                Err(e) => {
                    if let Some((state, seq, t)) = saved {
                        self.state = state;
                        self.next_seq = seq;
                        *touched = t;
                    }
                    return Err(e);
                }
            };
            let header = EnvelopeHeader {
                id: Uuid::now_v7(),
                venue_id: self.identity.venue_id,
                node_id: self.identity.node_id,
                seq: self.next_seq,
                hlc: self.hlc.tick(self.clock.now_ms()),
                actor: actor.clone(),
                schema: SCHEMA_VERSION,
            };
            touched.extend(touched_by(&self.state, &event));
            self.state.apply(&event);
            self.next_seq += 1;
            out.push(Decided { header, event });
        }
        Ok(out)
    }

    /// When more callers were active in the last batch than have sent so far,
    /// waits a moment (at most GATHER_WAIT) for them: one fsync then covers
    /// them all. A lone caller never waits.
    fn gather(&self, rx: &mut mpsc::Receiver<Msg>, have: usize) -> Option<Msg> {
        if have >= self.last_batch {
            return None;
        }
        let start = std::time::Instant::now();
        while start.elapsed() < GATHER_WAIT {
            // Yield rather than sleep: the callers need this core to send.
            std::thread::yield_now();
            if let Ok(msg) = rx.try_recv() {
                return Some(msg);
            }
        }
        None
    }

    /// Copies the WAL into the database file once enough was appended (see
    /// `CHECKPOINT_EVENTS`). A failure is logged and tried again later.
    async fn checkpoint_if_due(&mut self) {
        let (events, commits) = self.since_checkpoint;
        if events < CHECKPOINT_EVENTS && commits < CHECKPOINT_COMMITS {
            return;
        }
        // Counted afresh either way: a failed one (a full disk) is tried
        // again after as many appends, not after every pass of the loop.
        self.since_checkpoint = (0, 0);
        if let Err(e) = super::query_text(&self.conn, "PRAGMA wal_checkpoint(PASSIVE)").await {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }

    /// Signs the batch's last envelope and appends the batch with its
    /// read-table changes in one transaction; answers the hash of the last
    /// envelope.
    async fn write(
        &self,
        decided: &[Decided],
        touched: &pvm_shared::cash::TouchedRows,
        mut rows: Vec<libsql::Value>,
        last: Option<Envelope>,
    ) -> Result<Hash, libsql::Error> {
        let Some(mut last) = last else {
            return Ok(self.prev_hash);
        };
        last.sign(&self.identity.key);
        super::project::event_row(&last, &mut rows);
        let mut result = self.stmts.begin().await;
        for d in decided {
            if result.is_err() {
                break;
            }
            result = self.stmts.project(d.header.seq as i64, &d.event).await;
        }
        if result.is_ok() && !touched.is_empty() {
            result = super::project::sync_cash(&self.conn, touched, &self.state).await;
        }
        if result.is_ok() {
            result = self.stmts.insert_rows(rows).await;
        }
        if result.is_ok() {
            result = self.stmts.commit().await;
        }
        if result.is_err() && !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute("ROLLBACK", ()).await {
                tracing::error!(error = %e, "rollback failed");
            }
        }
        result?;
        Ok(last.hash)
    }
}

/// A batch being gathered: each append decided and its events sealed into
/// the chain as it arrives, their `events` rows made, all but the last
/// event's (it is signed once the batch is complete).
struct Batch {
    decided: Vec<Decided>,
    /// Each caller with how many of the decided events are theirs.
    callers: Vec<(Responder, usize)>,
    touched: pvm_shared::cash::TouchedRows,
    /// The rows of every sealed envelope but `last`.
    rows: Vec<libsql::Value>,
    /// The newest envelope, not yet signed or made a row.
    last: Option<Envelope>,
    /// The hash the next event chains after.
    head: Hash,
}

impl Batch {
    /// An empty batch; its vectors grow with it (most batches on a venue's
    /// node are one append).
    fn after(prev_hash: Hash) -> Batch {
        Batch {
            decided: Vec::new(),
            callers: Vec::new(),
            touched: pvm_shared::cash::TouchedRows::default(),
            rows: Vec::new(),
            last: None,
            head: prev_hash,
        }
    }

    fn seal(&mut self, d: &Decided) {
        let env = Envelope::seal(d.header.clone(), &d.event, self.head);
        self.head = env.hash;
        if let Some(before) = self.last.replace(env) {
            super::project::event_row(&before, &mut self.rows);
        }
    }
}
