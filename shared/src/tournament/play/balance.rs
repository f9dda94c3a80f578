//! Balancing and breaking tables (the TDA rules): which player moves where,
//! and which table breaks next.

use super::*;

impl Tournament {
    /// Players per table in play.
    pub fn counts(&self) -> BTreeMap<u16, usize> {
        let mut counts: BTreeMap<u16, usize> = self
            .tables
            .iter()
            .filter(|t| !t.broken)
            .map(|t| (t.number, 0))
            .collect();
        for b in self.alive() {
            if let Some((t, _)) = b.seat {
                *counts.entry(t).or_default() += 1;
            }
        }
        counts
    }

    /// Occupied seats of a table, clockwise from just after the button (seat order without one).
    pub(crate) fn clockwise_from_button(&self, table: u16) -> Vec<(u8, Uuid)> {
        let button = self
            .tables
            .iter()
            .find(|t| t.number == table)
            .and_then(|t| t.button)
            .unwrap_or(0);
        let mut seats: Vec<(u8, Uuid)> = self
            .alive()
            .filter_map(|b| b.seat.filter(|s| s.0 == table).map(|s| (s.1, b.id)))
            .collect();
        seats.sort_by_key(|(seat, _)| (*seat <= button, *seat));
        seats
    }

    /// The TDA rule: when tables differ by more than one player, the player due
    /// the big blind next at the longest table moves to the worst position (the
    /// open seat that posts the big blind soonest) at the shortest.
    pub fn balance_suggestion(&self) -> Option<BalanceMove> {
        let counts = self.counts();
        let (&long, &most) = counts
            .iter()
            .max_by_key(|(t, c)| (**c, std::cmp::Reverse(**t)))?;
        let (&short, &fewest) = counts.iter().min_by_key(|(t, c)| (**c, **t))?;
        if most <= fewest + 1 {
            return None;
        }
        // After the button come the small and the big blind; the next seat is due the big blind next hand.
        let order = self.clockwise_from_button(long);
        let (from_seat, bullet_id) = *order.get(2 % order.len().max(1))?;
        let open: Vec<u8> = self
            .open_seats()
            .into_iter()
            .filter(|s| s.0 == short)
            .map(|s| s.1)
            .collect();
        let short_order = self.clockwise_from_button(short);
        let big_blind = short_order
            .get(1 % short_order.len().max(1))
            .map(|(s, _)| *s);
        let to_seat = match big_blind {
            Some(bb) => open
                .iter()
                .copied()
                .find(|s| *s > bb)
                .or_else(|| open.first().copied()),
            None => open.first().copied(),
        }?;
        Some(BalanceMove {
            bullet_id,
            from: (long, from_seat),
            to: (short, to_seat),
        })
    }

    /// The table to break next, in a fixed order (the highest number first),
    /// once everyone left fits on one table fewer.
    pub fn table_to_break(&self) -> Option<u16> {
        let in_play: Vec<&PlayTable> = self.tables.iter().filter(|t| !t.broken).collect();
        if in_play.len() < 2 {
            return None;
        }
        let players = self.alive().filter(|b| b.seat.is_some()).count();
        let highest = in_play.iter().max_by_key(|t| t.number)?;
        let room_without: usize = in_play
            .iter()
            .filter(|t| t.number != highest.number)
            .map(|t| t.seats as usize)
            .sum();
        (players <= room_without).then_some(highest.number)
    }
}
