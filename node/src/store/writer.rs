//! The single writer: group commit of appends into the event log.
//!
//! Callers send commands over a channel. The writer drains whatever is
//! waiting, checks each command against the venue state, seals each event
//! into the hash chain, signs the last one of the batch, and appends them all
//! with their read-table updates in one transaction. Each caller hears back
//! only after that commit (synchronous=FULL), so an acknowledged event
//! survives a power cut.

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

/// How often the checkpointer copies the WAL back into the database file.
/// Every checkpoint fsyncs the database file and competes with commits for
/// the disk; 2 s keeps the WAL small at venue rates and costs little at bench rates.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

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
                    let pipe = Arc::new(Pipe {
                        generation: Default::default(),
                        health: writer_health,
                        staff_tx,
                        venue_tx,
                    });
                    match start_halves(db, identity, metrics, clock, pipe).await {
                        Ok(sealer) => {
                            let _ = ready_tx.send(Ok(()));
                            sealer.run(rx).await;
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

/// Loads the state, then starts the committer on its own thread; returns
/// the sealer, which runs on the calling thread.
async fn start_halves(
    db: Db,
    identity: Arc<NodeIdentity>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn TimeSource>,
    pipe: Arc<Pipe>,
) -> Result<Sealer, StoreError> {
    let conn = db.connect().await?;
    // Checkpoints run on their own thread, never inside a commit.
    super::query_text(&conn, "PRAGMA wal_autocheckpoint=0").await?;
    let stmts = Statements::prepare(&conn).await?;
    let checkpointer = Checkpointer::start(db.clone())?;
    // One sealed batch may wait while another commits.
    let (jobs_tx, jobs_rx) = std::sync::mpsc::sync_channel(1);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let mut sealer = Sealer {
        db,
        pipe: pipe.clone(),
        jobs: jobs_tx,
        done: done_rx,
        in_flight: 0,
        generation: 0,
        poisoned: false,
        last_batch: 1,
        identity,
        clock: clock.clone(),
        state: VenueState::default(),
        next_seq: 1,
        prev_hash: [0; 32],
        hlc: HlcClock::default(),
        pending: Pending::default(),
    };
    sealer.reload().await?;
    let committer = Committer {
        conn,
        stmts,
        checkpointer,
        pipe,
        metrics,
        clock,
        done: done_tx,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Log(format!("committer runtime: {e}")))?;
    std::thread::Builder::new()
        .name("pvm-commit".into())
        .spawn(move || committer.run(rt, jobs_rx))
        .map_err(|e| StoreError::Log(format!("cannot start committer thread: {e}")))?;
    Ok(sealer)
}

struct Staged {
    env: Envelope,
    event: EventKind,
}

/// A sealed batch on its way to the committer: the events, the read-table
/// rows they touch, who is waiting, and the state to publish once it commits.
struct Sealed {
    /// The failure generation it was sealed in: a batch sealed on top of a
    /// batch that then failed is refused, never committed.
    generation: u64,
    staged: Vec<Staged>,
    touched: pvm_shared::cash::TouchedRows,
    callers: Vec<(Responder, usize)>,
    /// The venue state after this batch (when it changed more than staff).
    venue: Option<Arc<VenueState>>,
    /// The staff directory after this batch (when it changed staff).
    staff: Option<Arc<StaffDirectory>>,
}

enum Job {
    Commit(Sealed),
    Probe(oneshot::Sender<Result<(), String>>),
    Shutdown(oneshot::Sender<()>),
}

/// What the sealer and the committer share.
struct Pipe {
    /// Bumped by the committer after a failed commit is rolled back.
    generation: std::sync::atomic::AtomicU64,
    health: Arc<WriterHealth>,
    staff_tx: watch::Sender<Arc<StaffDirectory>>,
    venue_tx: watch::Sender<Arc<VenueState>>,
}

impl Pipe {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The first half of the writer: decides, seals and signs batches, and
/// hands each to the committer as soon as the previous one is committed, so
/// the next batch is sealed while the disk flushes the last.
struct Sealer {
    db: Db,
    pipe: Arc<Pipe>,
    jobs: std::sync::mpsc::SyncSender<Job>,
    /// One message per finished commit job.
    done: mpsc::UnboundedReceiver<()>,
    /// Commit jobs handed over and not yet finished.
    in_flight: usize,
    /// The failure generation the state belongs to.
    generation: u64,
    /// Set when a failed commit could not be rolled back in memory.
    poisoned: bool,
    /// How many callers the last batch handed over held.
    last_batch: usize,
    identity: Arc<NodeIdentity>,
    clock: Arc<dyn TimeSource>,
    state: VenueState,
    next_seq: u64,
    prev_hash: Hash,
    hlc: HlcClock,
    pending: Pending,
}

/// The batch being sealed.
#[derive(Default)]
struct Pending {
    staged: Vec<Staged>,
    touched: pvm_shared::cash::TouchedRows,
    callers: Vec<(Responder, usize)>,
}

impl Pending {
    fn fail_all(&mut self, e: impl Fn() -> AppendError) {
        for (responder, _) in self.callers.drain(..) {
            responder.fail(e());
        }
        self.staged.clear();
        self.touched = Default::default();
    }
}

impl Sealer {
    /// Reads state and the chain head back from the database (at start, and after a failed commit).
    async fn reload(&mut self) -> Result<(), StoreError> {
        let reader = Reader::new(&self.db).await?;
        let head = reader.chain_head().await?;
        self.state = reader.state().await?;
        self.next_seq = head.start.seq;
        self.prev_hash = head.start.prev_hash;
        self.hlc = HlcClock::resume_after(head.hlc);
        self.pipe
            .staff_tx
            .send_replace(Arc::new(self.state.staff.clone()));
        self.pipe
            .venue_tx
            .send_replace(Arc::new(self.state.clone()));
        Ok(())
    }

    /// After a failed commit: everything sealed since was chained on it and
    /// is refused; the state is read back from what was really committed.
    async fn catch_up(&mut self) {
        let now = self.pipe.generation();
        if now == self.generation {
            return;
        }
        self.pending.fail_all(|| {
            AppendError::Storage("an earlier change could not be saved, so this one was not either".into())
        });
        self.generation = now;
        if self.poisoned {
            return;
        }
        if let Err(e) = self.reload().await {
            // Memory now holds events the database does not: chaining on
            // them would break the log. Refuse everything until a restart.
            tracing::error!(error = %e, "reloading state after a failed commit failed; refusing all writes until restart");
            self.poisoned = true;
            self.pipe
                .health
                .poisoned
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut shutdown = None;
        loop {
            let open = shutdown.is_none();
            let msg = tokio::select! {
                biased;
                done = self.done.recv(), if self.in_flight > 0 => match done {
                    Some(()) => {
                        self.in_flight -= 1;
                        None
                    }
                    // The committer is gone: nothing more can be saved.
                    None => break,
                },
                msg = rx.recv(), if open && self.pending.callers.len() < MAX_BATCH => match msg {
                    Some(msg) => Some(msg),
                    None => break,
                },
                else => {
                    if shutdown.is_some() && self.in_flight == 0 {
                        break;
                    }
                    None
                }
            };
            self.catch_up().await;
            if let Some(msg) = msg {
                self.take(msg, &mut shutdown);
                // Whatever else is already waiting joins this batch.
                while shutdown.is_none() && self.pending.callers.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(msg) => self.take(msg, &mut shutdown),
                        Err(_) => break,
                    }
                }
            }
            if self.in_flight == 0 && !self.pending.callers.is_empty() {
                if shutdown.is_none() {
                    self.gather(&mut rx, &mut shutdown);
                }
                if !self.hand_over() {
                    break;
                }
            }
            if shutdown.is_some() && self.in_flight == 0 && self.pending.callers.is_empty() {
                break;
            }
        }
        rx.close();
        // Appends that raced with shutdown are refused, never dropped silently.
        self.pending.fail_all(|| AppendError::Stopped);
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
        match shutdown {
            Some(done) => {
                // The committer checkpoints and then answers `done`.
                if let Err(std::sync::mpsc::SendError(Job::Shutdown(done))) =
                    self.jobs.send(Job::Shutdown(done))
                {
                    let _ = done.send(());
                }
            }
            None => drop(self.jobs),
        }
    }

    /// Takes one message: an append is decided and sealed at once (while the
    /// committer may still be flushing the batch before).
    fn take(&mut self, msg: Msg, shutdown: &mut Option<oneshot::Sender<()>>) {
        let (actor, commands, responder) = match msg {
            Msg::Append {
                actor,
                command,
                reply,
            } => (actor, vec![command], Responder::One(reply)),
            Msg::AppendAll {
                actor,
                commands,
                reply,
            } => (actor, commands, Responder::All(reply)),
            Msg::Probe(reply) => {
                if let Err(std::sync::mpsc::SendError(Job::Probe(reply))) =
                    self.jobs.send(Job::Probe(reply))
                {
                    let _ = reply.send(Err("the writer has stopped: restart the node".into()));
                }
                return;
            }
            Msg::Shutdown(done) => {
                *shutdown = Some(done);
                return;
            }
        };
        if self.poisoned {
            responder.fail(AppendError::Storage(
                "the database failed earlier and the node must be restarted".into(),
            ));
            return;
        }
        match self.stage(actor, &commands) {
            Ok(mine) => {
                self.pending.callers.push((responder, mine.len()));
                self.pending.staged.extend(mine);
            }
            Err(e) => responder.fail(AppendError::Rejected(e)),
        }
    }

    /// Signs the pending batch and hands it to the committer. False when the
    /// committer is gone.
    fn hand_over(&mut self) -> bool {
        let mut pending = std::mem::take(&mut self.pending);
        let Some(last) = pending.staged.last_mut() else {
            // Only refusals: everyone has heard back already.
            return true;
        };
        last.env.sign(&self.identity.key);
        let staff = pending
            .staged
            .iter()
            .any(|s| s.event.touches_staff())
            .then(|| Arc::new(self.state.staff.clone()));
        let venue = (!pending.touched.is_empty()
            || pending.staged.iter().any(|s| !s.event.touches_staff()))
        .then(|| Arc::new(self.state.clone()));
        self.last_batch = pending.callers.len();
        let job = Job::Commit(Sealed {
            generation: self.generation,
            staged: pending.staged,
            touched: pending.touched,
            callers: pending.callers,
            venue,
            staff,
        });
        match self.jobs.send(job) {
            Ok(()) => {
                self.in_flight += 1;
                true
            }
            Err(std::sync::mpsc::SendError(job)) => {
                if let Job::Commit(sealed) = job {
                    for (responder, _) in sealed.callers {
                        responder.fail(AppendError::Stopped);
                    }
                }
                false
            }
        }
    }

    /// Decides one caller's commands in order against the state, sealing and
    /// applying each. If one is refused, the state is put back as it was
    /// before the first (a group stands or falls together).
    fn stage(&mut self, actor: Actor, commands: &[Command]) -> Result<Vec<Staged>, DomainError> {
        // Only a group needs the way back; a single command is decided before
        // anything changes.
        let saved = (commands.len() > 1).then(|| {
            (
                self.state.clone(),
                self.next_seq,
                self.prev_hash,
                self.pending.touched.clone(),
            )
        });
        let mut out = Vec::with_capacity(commands.len());
        for command in commands {
            let event = match self.state.decide(command) {
                Ok(event) => event,
                Err(e) => {
                    if let Some((state, seq, hash, t)) = saved {
                        self.state = state;
                        self.next_seq = seq;
                        self.prev_hash = hash;
                        self.pending.touched = t;
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
            let env = Envelope::seal(header, &event, self.prev_hash);
            self.pending
                .touched
                .extend(touched_by(&self.state, &event));
            self.state.apply(&event);
            self.next_seq += 1;
            self.prev_hash = env.hash;
            out.push(Staged { env, event });
        }
        Ok(out)
    }

    /// When more callers were in the last batch than are waiting now, waits
    /// a moment (at most GATHER_WAIT) for them, sealing each as it comes:
    /// one fsync then covers them all. A lone caller never waits.
    fn gather(&mut self, rx: &mut mpsc::Receiver<Msg>, shutdown: &mut Option<oneshot::Sender<()>>) {
        let start = std::time::Instant::now();
        while self.pending.callers.len() < self.last_batch.min(MAX_BATCH)
            && shutdown.is_none()
            && start.elapsed() < GATHER_WAIT
        {
            match rx.try_recv() {
                Ok(msg) => self.take(msg, shutdown),
                // Yield rather than sleep: the callers need this core to send.
                Err(_) => std::thread::yield_now(),
            }
        }
    }
}

/// The second half of the writer: commits sealed batches in order, one
/// transaction each (synchronous=FULL), publishes the state and answers the
/// callers after the commit.
struct Committer {
    conn: libsql::Connection,
    stmts: Statements,
    checkpointer: Checkpointer,
    pipe: Arc<Pipe>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn TimeSource>,
    done: mpsc::UnboundedSender<()>,
}

impl Committer {
    /// Runs jobs until the sealer stops sending or asks for shutdown.
    fn run(mut self, rt: tokio::runtime::Runtime, jobs: std::sync::mpsc::Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            match job {
                Job::Commit(sealed) => {
                    rt.block_on(self.commit(sealed));
                    let _ = self.done.send(());
                }
                Job::Probe(reply) => {
                    let _ = reply.send(rt.block_on(self.probe()));
                }
                Job::Shutdown(done) => {
                    self.checkpointer.stop();
                    if let Err(e) =
                        rt.block_on(super::query_text(&self.conn, "PRAGMA wal_checkpoint(TRUNCATE)"))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
                    }
                    let _ = done.send(());
                    return;
                }
            }
        }
        self.checkpointer.stop();
    }

    /// One real commit (the probe row rewritten): clears the last failure if
    /// it works.
    async fn probe(&mut self) -> Result<(), String> {
        if self
            .pipe
            .health
            .poisoned
            .load(std::sync::atomic::Ordering::Relaxed)
        {
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
                self.pipe.health.set_failure(None);
                Ok(())
            }
            Err(e) => {
                let e = super::StoreError::from(e).to_string();
                self.pipe.health.set_failure(Some(e.clone()));
                Err(e)
            }
        }
    }

    async fn commit(&mut self, sealed: Sealed) {
        if sealed.generation != self.pipe.generation() {
            for (responder, _) in sealed.callers {
                responder.fail(AppendError::Storage(
                    "an earlier change could not be saved, so this one was not either".into(),
                ));
            }
            return;
        }
        match self.write(&sealed).await {
            Ok(()) => {
                self.pipe.health.set_failure(None);
                self.metrics.events_appended(sealed.staged.len() as u64);
                if let Some(staff) = sealed.staff {
                    self.pipe.staff_tx.send_replace(staff);
                }
                // Published before the callers hear back, so what they read next includes their change.
                if let Some(venue) = sealed.venue {
                    self.pipe.venue_tx.send_replace(venue);
                }
                let mut events = sealed.staged.into_iter().map(|s| Committed {
                    seq: s.env.header.seq,
                    hlc: s.env.header.hlc,
                    event: s.event,
                });
                for (responder, n) in sealed.callers {
                    let mine: Vec<Committed> = events.by_ref().take(n).collect();
                    responder.succeed(mine);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = sealed.staged.len(), "commit failed; nothing of this batch was stored");
                self.pipe.health.set_failure(Some(e.to_string()));
                // Rolled back: the sealer now reads the state back and refuses
                // what it sealed on top of this batch.
                self.pipe
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                for (responder, _) in sealed.callers {
                    responder.fail(AppendError::Storage(e.to_string()));
                }
            }
        }
    }

    async fn write(&self, sealed: &Sealed) -> Result<(), libsql::Error> {
        self.conn.execute("BEGIN IMMEDIATE", ()).await?;
        let mut result = Ok(());
        for s in &sealed.staged {
            result = self.stmts.append(&s.env, &s.event).await;
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() && !sealed.touched.is_empty() {
            if let Some(state) = &sealed.venue {
                result = super::project::sync_cash(&self.conn, &sealed.touched, state).await;
            }
        }
        if result.is_ok() {
            result = self.conn.execute("COMMIT", ()).await.map(|_| ());
        }
        if result.is_err() && !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute("ROLLBACK", ()).await {
                tracing::error!(error = %e, "rollback failed");
            }
        }
        result
    }
}

/// Checkpoints the WAL on its own thread and connection (same process, so
/// libsql #2271 does not apply), keeping that I/O out of the commit path.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(db: Db) -> Result<Checkpointer, StoreError> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("pvm-checkpoint".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    tracing::error!(
                        "checkpointer runtime failed; the WAL is checkpointed at shutdown only"
                    );
                    return;
                };
                rt.block_on(async move {
                    let conn = match db.connect().await {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::error!(error = %e, "checkpointer cannot connect");
                            return;
                        }
                    };
                    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                        stopped.recv_timeout(CHECKPOINT_EVERY)
                    {
                        if let Err(e) =
                            super::query_text(&conn, "PRAGMA wal_checkpoint(PASSIVE)").await
                        {
                            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                        }
                    }
                });
            })
            .map_err(|e| StoreError::Log(format!("cannot start checkpointer: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}
