//! Hybrid logical clock: wall-clock milliseconds plus a counter.
//!
//! Orders events across nodes even when their wall clocks disagree a little,
//! and never goes backwards on one node even when its wall clock does.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One reading of a hybrid logical clock. Ordered by wall time, then counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
}

impl Hlc {
    pub const ZERO: Hlc = Hlc {
        wall_ms: 0,
        counter: 0,
    };
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.wall_ms, self.counter)
    }
}

/// The clock a node keeps. `now` is passed in, so tests drive it.
#[derive(Debug, Clone, Copy, Default)]
pub struct HlcClock {
    last: Option<Hlc>,
}

impl HlcClock {
    /// A clock that will never issue a reading at or below `last`.
    pub fn resume_after(last: Hlc) -> Self {
        Self { last: Some(last) }
    }

    /// The next reading for a local event at wall time `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let next = match self.last {
            Some(last) if last.wall_ms >= now_ms => Hlc {
                wall_ms: last.wall_ms,
                counter: last.counter.saturating_add(1),
            },
            _ => Hlc {
                wall_ms: now_ms,
                counter: 0,
            },
        };
        self.last = Some(next);
        next
    }

    /// Merge a reading received from elsewhere, so later local readings sort after it.
    pub fn observe(&mut self, remote: Hlc, now_ms: u64) -> Hlc {
        let last = self.last.unwrap_or(Hlc::ZERO);
        let wall = now_ms.max(last.wall_ms).max(remote.wall_ms);
        let counter = if wall == last.wall_ms && wall == remote.wall_ms {
            last.counter.max(remote.counter).saturating_add(1)
        } else if wall == last.wall_ms {
            last.counter.saturating_add(1)
        } else if wall == remote.wall_ms {
            remote.counter.saturating_add(1)
        } else {
            0
        };
        let next = Hlc {
            wall_ms: wall,
            counter,
        };
        self.last = Some(next);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_wall_clock_that_steps_back_does_not_move_the_hlc_back() {
        let mut clock = HlcClock::default();
        let a = clock.tick(1_000);
        let b = clock.tick(900);
        assert!(b > a);
        assert_eq!(b.wall_ms, 1_000);
    }

    #[test]
    fn observing_a_remote_reading_from_the_future_orders_later_events_after_it() {
        let mut clock = HlcClock::default();
        let remote = Hlc {
            wall_ms: 5_000,
            counter: 7,
        };
        clock.observe(remote, 1_000);
        assert!(clock.tick(1_001) > remote);
    }

    proptest! {
        #[test]
        fn readings_strictly_increase_whatever_the_wall_clock_does(walls in proptest::collection::vec(0u64..10_000, 1..200)) {
            let mut clock = HlcClock::default();
            let mut prev = None;
            for w in walls {
                let h = clock.tick(w);
                if let Some(p) = prev { prop_assert!(h > p); }
                prev = Some(h);
            }
        }
    }
}
