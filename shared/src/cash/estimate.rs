//! The must-move order and the wait estimate.

use super::*;

/// Players at must-move tables of `game` and `stakes`, in the order they go to
/// the main game: longest seated at the must-move table first.
pub fn must_move_order(state: &VenueState, game: Game, stakes: Stakes) -> Vec<&Seat> {
    let mut seats: Vec<&Seat> = state
        .cash
        .seats
        .values()
        .filter(|s| {
            state
                .tables
                .get(&s.table_id)
                .is_some_and(|t| t.must_move && t.game == game && t.stakes == stakes)
        })
        .collect();
    seats.sort_by_key(|s| (s.since_ms, s.table_id, s.seat));
    seats
}

/// How long someone at a place in a list may wait, from recent seatings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "estimate", rename_all = "snake_case")]
pub enum WaitEstimate {
    /// Too few recent seatings to say.
    Unknown,
    /// Likely between these many minutes.
    Range { min_minutes: u32, max_minutes: u32 },
}

/// Seatings older than this do not count towards the estimate.
pub const TURNOVER_HORIZON_MS: u64 = 2 * 60 * 60 * 1000;

/// The estimate for the player `ahead` places from the front (0 = next).
///
/// The average gap between the last seatings from this list (at least 3 in
/// the last two hours, else Unknown), times the places to wait, shown as half
/// to one and a half times that: seat turnover is bursty, and a single
/// number would promise more than we know.
pub fn estimate_wait(cash: &CashState, list_id: Uuid, ahead: usize, now_ms: u64) -> WaitEstimate {
    let recent: Vec<u64> = cash
        .seatings
        .get(&list_id)
        .map(|v| {
            v.iter()
                .copied()
                .filter(|t| now_ms.saturating_sub(*t) <= TURNOVER_HORIZON_MS)
                .collect()
        })
        .unwrap_or_default();
    if recent.len() < 3 {
        return WaitEstimate::Unknown;
    }
    let (first, last) = (recent[0], recent[recent.len() - 1]);
    let gap = (last.saturating_sub(first)) as f64 / (recent.len() - 1) as f64;
    let expected_min = gap * (ahead as f64 + 1.0) / 60_000.0;
    WaitEstimate::Range {
        min_minutes: (expected_min * 0.5).floor() as u32,
        max_minutes: (expected_min * 1.5).ceil().max(1.0) as u32,
    }
}
