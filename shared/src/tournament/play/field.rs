//! Reading the field: open seats, the seat draw, places, stats, the prize
//! pool and payouts, and Day 2.

use super::*;

impl Tournament {
    pub fn new(id: Uuid, structure: Structure, tables: u16, seats: u8) -> Tournament {
        Tournament {
            id,
            name: structure.name.clone(),
            structure,
            status: Status::Registering,
            clock: ClockState::default(),
            tables: (1..=tables)
                .map(|number| PlayTable {
                    number,
                    seats,
                    broken: false,
                    button: None,
                })
                .collect(),
            bullets: BTreeMap::new(),
            bust_order: Vec::new(),
            late_reg_closed: false,
            day2: None,
            fed_day2: None,
            bagged_at_step: None,
        }
    }

    /// A Day 2 from the flights' bagged survivors (seats are drawn at its start).
    pub fn new_day2(
        id: Uuid,
        structure: Structure,
        tables: u16,
        seats: u8,
        day2: Day2,
        entrants: &[Day2Entrant],
    ) -> Tournament {
        let mut t = Tournament::new(id, structure, tables, seats);
        for e in entrants {
            t.bullets.insert(
                e.bullet_id,
                Bullet {
                    id: e.bullet_id,
                    player_id: e.player_id,
                    reentry: false,
                    seat: None,
                    busted: false,
                    rebuys: 0,
                    addons: 0,
                    left_seat: None,
                    chips: Some(e.chips),
                },
            );
        }
        t.late_reg_closed = true;
        t.day2 = Some(day2);
        t
    }

    pub fn alive(&self) -> impl Iterator<Item = &Bullet> {
        self.bullets.values().filter(|b| !b.busted)
    }

    pub(crate) fn taken(&self) -> BTreeSet<SeatRef> {
        self.alive().filter_map(|b| b.seat).collect()
    }

    /// Every open seat at tables still in play, in table and seat order.
    pub fn open_seats(&self) -> Vec<SeatRef> {
        let taken = self.taken();
        self.tables
            .iter()
            .filter(|t| !t.broken)
            .flat_map(|t| (1..=t.seats).map(move |s| (t.number, s)))
            .filter(|s| !taken.contains(s))
            .collect()
    }

    /// Draws a seat for a new entry: a random open seat at one of the tables
    /// with the fewest players, so late entries keep the room balanced.
    pub fn draw_seat(&self, seed: u64) -> Option<SeatRef> {
        let open = self.open_seats();
        let counts = self.counts();
        let count = |t: u16| counts.get(&t).copied().unwrap_or(0);
        let fewest = open.iter().map(|s| count(s.0)).min()?;
        let candidates: Vec<SeatRef> = open.into_iter().filter(|s| count(s.0) == fewest).collect();
        let mut rng = Draw::new(seed);
        Some(candidates[rng.below(candidates.len())])
    }

    /// Can a new bullet come in now? Late registration runs through its level
    /// and the break after it, until the director closes it early.
    pub fn registration_open(&self, now_ms: i64) -> bool {
        if self.day2.is_some() {
            return false;
        }
        match self.status {
            Status::Registering => true,
            Status::Finished | Status::Bagged => false,
            Status::Running => {
                !self.late_reg_closed
                    && self
                        .structure
                        .late_reg_until_level
                        .is_some_and(|last| self.clock.view(&self.structure, now_ms).level <= last)
            }
        }
    }

    /// Finishing places: the winner 1, then busts from the last to the first.
    /// A bullet still in play has no place until the end.
    pub fn places(&self) -> BTreeMap<Uuid, u32> {
        let n = self.bullets.len() as u32;
        let mut out: BTreeMap<Uuid, u32> = self
            .bust_order
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, n - i as u32))
            .collect();
        if self.status == Status::Finished {
            for b in self.alive() {
                out.insert(b.id, 1);
            }
        }
        out
    }

    /// Entries, players left, re-entries, chips in play and the average stack.
    pub fn stats(&self) -> Stats {
        let s = &self.structure;
        let chips = self.bullets.values().fold(0u64, |acc, b| {
            if let Some(counted) = b.chips {
                return acc + counted;
            }
            let stack = if b.reentry {
                s.reentry.chips.max(s.starting_stack)
            } else {
                s.starting_stack
            };
            acc + stack + b.rebuys as u64 * s.rebuy.chips + b.addons as u64 * s.addon.chips
        });
        let left = self.alive().count() as u64;
        Stats {
            entries: self.bullets.len() as u64,
            players_left: left,
            reentries: self.bullets.values().filter(|b| b.reentry).count() as u64,
            total_chips: chips,
            average_stack: chips.checked_div(left).unwrap_or(0),
        }
    }

    /// The prize pool (information only): buy-ins, re-entries, rebuys and
    /// add-ons at their prices, at least the guarantee; a Day 2 carries its flights'.
    pub fn prize_pool(&self) -> u64 {
        self.collected().max(self.structure.guarantee)
    }

    /// The prize pool without the guarantee (what a flight hands to Day 2).
    pub(crate) fn collected(&self) -> u64 {
        let s = &self.structure;
        match &self.day2 {
            Some(d) => d.prize_pool,
            None => self.bullets.values().fold(0u64, |acc, b| {
                let entry = if b.reentry && s.reentry.price > 0 {
                    s.reentry.price
                } else {
                    s.buy_in
                };
                acc + entry + b.rebuys as u64 * s.rebuy.price + b.addons as u64 * s.addon.price
            }),
        }
    }

    /// The field the payouts are for: a Day 2 counts every flight's entries.
    pub fn field(&self) -> u64 {
        self.day2
            .as_ref()
            .map_or(self.bullets.len() as u64, |d| d.entries)
    }

    /// Each paid place with its share and amount; rounding leftovers go to the winner.
    pub fn payouts(&self) -> Vec<Payout> {
        let pool = self.prize_pool();
        let table = self.structure.payout_table(self.field());
        let mut out: Vec<Payout> = table
            .iter()
            .enumerate()
            .map(|(i, permille)| Payout {
                place: i as u32 + 1,
                permille: *permille,
                amount: pool * *permille as u64 / 1000,
            })
            .collect();
        let paid: u64 = out.iter().map(|p| p.amount).sum();
        if let Some(first) = out.first_mut() {
            first.amount += pool - paid;
        }
        out
    }

    /// Who gets into Day 2 from these flights: every bagged survivor with
    /// their stack; a player who bagged in two flights keeps the bigger stack.
    pub fn day2_entrants(flights: &[&Tournament]) -> Vec<Day2Entrant> {
        let mut best: BTreeMap<Uuid, Day2Entrant> = BTreeMap::new();
        for f in flights {
            for b in f.alive() {
                let e = Day2Entrant {
                    bullet_id: b.id,
                    player_id: b.player_id,
                    chips: b.chips.unwrap_or(0),
                    flight: f.id,
                };
                match best.get(&b.player_id) {
                    Some(kept) if kept.chips >= e.chips => {}
                    _ => {
                        best.insert(b.player_id, e);
                    }
                }
            }
        }
        let mut out: Vec<Day2Entrant> = best.into_values().collect();
        out.sort_by_key(|e| e.bullet_id);
        out
    }

    /// The Day 2 figures from its flights.
    pub fn day2_of(flights: &[&Tournament]) -> Day2 {
        Day2 {
            flights: flights.iter().map(|f| f.id).collect(),
            entries: flights.iter().map(|f| f.bullets.len() as u64).sum(),
            prize_pool: flights.iter().map(|f| f.collected()).sum(),
            start_step: flights
                .iter()
                .filter_map(|f| f.bagged_at_step)
                .max()
                .unwrap_or(0),
        }
    }

    /// The level a rebuy or add-on is still allowed in.
    pub(crate) fn entry_rule_open(
        &self,
        rule: &crate::tournament::structure::EntryRule,
        now_ms: i64,
    ) -> bool {
        if !rule.allowed {
            return false;
        }
        match rule.until_level {
            Some(last) => self.clock.view(&self.structure, now_ms).level <= last,
            None => self.registration_open(now_ms),
        }
    }
}
