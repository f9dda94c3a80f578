//! The hot display state: one model per change, shared by every screen.
//!
//! The writer publishes the venue state after each commit; one task here
//! turns it into a display model through a moka cache keyed by the change,
//! so 2,000 screens cost one computation per change, not 2,000. Each screen's
//! connection watches the latest model (a watch channel keeps only the
//! latest, so a slow screen never queues old ones) and sends what changed.
//! Screens staff have not named yet live only in memory, capped, so an
//! unauthenticated page cannot grow the log or the memory without bound.

use crate::store::writer::TimeSource;
use crate::store::Log;
use pvm_display::Model;
use pvm_shared::venue::VenueState;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// Unnamed screens remembered at once; more are refused until some go.
pub const MAX_PENDING: usize = 500;
/// Live feeds (WebSocket or SSE) one display id may hold at once: a screen
/// reconnecting overlaps its old feed for a moment; more is abuse.
pub const MAX_FEEDS_PER_DEVICE: u32 = 4;
/// Live feeds one client address may hold at once (`--display-max-per-address`).
pub const MAX_FEEDS_PER_ADDRESS: u32 = 64;
/// Live feeds in all: twice the 2,000 screens the node is measured with.
pub const MAX_FEEDS: u32 = 4_000;

/// Why a feed was refused (429), as counted in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many unnamed screens waiting.
    Unnamed = 0,
    /// Too many feeds for one display id.
    Device = 1,
    /// Too many feeds from one client address.
    Address = 2,
    /// Too many feeds in all.
    Total = 3,
}

impl Refusal {
    pub const ALL: [Refusal; 4] = [
        Refusal::Unnamed,
        Refusal::Device,
        Refusal::Address,
        Refusal::Total,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::Unnamed => "unnamed",
            Refusal::Device => "device",
            Refusal::Address => "address",
            Refusal::Total => "total",
        }
    }
}

/// Live feeds by client address, and in all.
#[derive(Default)]
struct Feeds {
    by_address: HashMap<String, u32>,
    total: u32,
}

/// One admitted feed: released (counts given back) when dropped, also when
/// a WebSocket upgrade never completes.
pub struct Admitted {
    hub: Arc<DisplayFeeds>,
    device: String,
    address: String,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.hub.release(&self.device, &self.address);
    }
}

/// The latest model and the state it was built from.
#[derive(Clone)]
pub struct Published {
    pub version: u64,
    pub state: Arc<VenueState>,
    pub model: Arc<Model>,
}

/// A screen seen recently.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub connections: u32,
    pub last_seen_ms: u64,
    pub view: String,
}

pub struct DisplayFeeds {
    cache: moka::sync::Cache<(u64, u64), Arc<Model>>,
    published: watch::Receiver<Published>,
    seen: Mutex<HashMap<String, Seen>>,
    identify: broadcast::Sender<String>,
    clock: Arc<dyn TimeSource>,
    /// Models built (for metrics and tests: one per change, not per screen).
    pub builds: std::sync::atomic::AtomicU64,
    /// Cancelled when the node begins to stop: every live feed (WebSocket
    /// and SSE) ends, so the server's graceful shutdown does not wait on them.
    closing: CancellationToken,
    feeds: Mutex<Feeds>,
    max_per_address: std::sync::atomic::AtomicU32,
    refused: [std::sync::atomic::AtomicU64; 4],
}

impl DisplayFeeds {
    /// Starts the task that follows the venue state; it stops with `stop`.
    pub fn start(
        log: &Log,
        clock: Arc<dyn TimeSource>,
        stop: CancellationToken,
    ) -> Arc<DisplayFeeds> {
        let state = log.venue();
        let model = Arc::new(Model::build(&state, clock.now_ms(), None));
        let (tx, rx) = watch::channel(Published {
            version: 1,
            state,
            model,
        });
        let hub = Arc::new(DisplayFeeds {
            cache: moka::sync::Cache::new(16),
            published: rx,
            seen: Mutex::new(HashMap::new()),
            identify: broadcast::channel(64).0,
            clock,
            builds: std::sync::atomic::AtomicU64::new(1),
            closing: CancellationToken::new(),
            feeds: Mutex::new(Feeds::default()),
            max_per_address: std::sync::atomic::AtomicU32::new(MAX_FEEDS_PER_ADDRESS),
            refused: Default::default(),
        });
        tokio::spawn(follow(hub.clone(), log.watch_venue(), tx, stop));
        hub
    }

    /// Ends every live feed (the node is stopping); new ones end at once.
    pub fn close_feeds(&self) {
        self.closing.cancel();
    }

    /// Resolves when the feeds are to end.
    pub fn closing(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.closing.clone().cancelled_owned()
    }

    pub fn subscribe(&self) -> watch::Receiver<Published> {
        self.published.clone()
    }

    pub fn latest(&self) -> Published {
        self.published.borrow().clone()
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The model for `(version, clock boundary)`, built once whoever asks.
    fn model(&self, version: u64, bucket: u64, state: &VenueState, previous: &Model) -> Arc<Model> {
        self.cache.get_with((version, bucket), || {
            self.builds
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Arc::new(Model::build(state, self.clock.now_ms(), Some(previous)))
        })
    }

    pub fn set_max_per_address(&self, n: u32) {
        self.max_per_address
            .store(n.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Feeds refused so far, by reason.
    pub fn refused(&self, why: Refusal) -> u64 {
        self.refused[why as usize].load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A screen's feed from `address` asks to start: admitted within every
    /// limit (per display id, per client address, in all, unnamed screens
    /// waiting), else the reason it is refused (counted).
    pub fn admit(
        self: &Arc<Self>,
        device: &str,
        known: bool,
        address: &str,
    ) -> Result<Admitted, Refusal> {
        let refused = |why: Refusal| {
            self.refused[why as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            why
        };
        {
            let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
            if feeds.total >= MAX_FEEDS {
                return Err(refused(Refusal::Total));
            }
            let from = feeds.by_address.get(address).copied().unwrap_or(0);
            if from
                >= self
                    .max_per_address
                    .load(std::sync::atomic::Ordering::Relaxed)
            {
                return Err(refused(Refusal::Address));
            }
            let busy = self
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(device)
                .is_some_and(|s| s.connections >= MAX_FEEDS_PER_DEVICE);
            if busy {
                return Err(refused(Refusal::Device));
            }
            if !self.connect(device, known) {
                return Err(refused(Refusal::Unnamed));
            }
            feeds.total += 1;
            *feeds.by_address.entry(address.to_owned()).or_default() += 1;
        }
        Ok(Admitted {
            hub: self.clone(),
            device: device.to_owned(),
            address: address.to_owned(),
        })
    }

    fn release(&self, device: &str, address: &str) {
        {
            let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
            feeds.total = feeds.total.saturating_sub(1);
            if let Some(n) = feeds.by_address.get_mut(address) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    feeds.by_address.remove(address);
                }
            }
        }
        self.disconnect(device);
    }

    /// A screen connects: false when it is unknown and too many unknown ones are already waiting.
    fn connect(&self, device: &str, known: bool) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if !known && !seen.contains_key(device) {
            let unnamed = seen.values().filter(|s| s.connections > 0).count();
            if seen.len() >= MAX_PENDING * 4 {
                // Forget the longest-gone screens first.
                let mut gone: Vec<(String, u64)> = seen
                    .iter()
                    .filter(|(_, s)| s.connections == 0)
                    .map(|(k, s)| (k.clone(), s.last_seen_ms))
                    .collect();
                gone.sort_by_key(|g| g.1);
                for (k, _) in gone.into_iter().take(MAX_PENDING) {
                    seen.remove(&k);
                }
            }
            if unnamed >= MAX_PENDING {
                return false;
            }
        }
        let s = seen.entry(device.to_owned()).or_default();
        s.connections += 1;
        s.last_seen_ms = self.clock.now_ms();
        true
    }

    pub fn touch(&self, device: &str, view: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = seen.get_mut(device) {
            s.last_seen_ms = self.clock.now_ms();
            if !view.is_empty() {
                s.view = view.to_owned();
            }
        }
    }

    fn disconnect(&self, device: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = seen.get_mut(device) {
            s.connections = s.connections.saturating_sub(1);
            s.last_seen_ms = self.clock.now_ms();
        }
    }

    /// Every screen seen since the node started, by id.
    pub fn seen(&self) -> HashMap<String, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Flash a screen's code so staff can find it on the wall.
    pub fn identify(&self, device: &str) {
        let _ = self.identify.send(device.to_owned());
    }

    pub fn identify_events(&self) -> broadcast::Receiver<String> {
        self.identify.subscribe()
    }
}

/// Rebuilds the model when the venue state changes, when a running clock
/// reaches the end of its level, and every 30 s (break countdowns, expiries).
async fn follow(
    hub: Arc<DisplayFeeds>,
    mut venue: watch::Receiver<Arc<VenueState>>,
    tx: watch::Sender<Published>,
    stop: CancellationToken,
) {
    let mut version = 1u64;
    let mut bucket = 0u64;
    loop {
        let (next_boundary, previous) = {
            let p = tx.borrow();
            (p.model.next_boundary_ms, p.model.clone())
        };
        let now = hub.clock.now_ms();
        let wait = next_boundary
            .map(|b| b.saturating_sub(now) + 20)
            .unwrap_or(30_000)
            .min(30_000);
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = venue.changed() => {
                if changed.is_err() {
                    return;
                }
                version += 1;
            }
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {
                bucket += 1;
            }
        }
        let state = venue.borrow_and_update().clone();
        let model = hub.model(version, bucket, &state, &previous);
        tx.send_replace(Published {
            version: version * 1_000_000 + bucket,
            state,
            model,
        });
    }
}
