//! The tournament clock as pure maths. No tick events: the clock is state
//! (which step, when it notionally began, whether paused) and every screen
//! computes the same view from it and the time now.

use super::structure::{Ante, AtEnd, Step, Structure};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// What the clock holds between changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    pub started: bool,
    /// The step the anchor refers to (later steps follow on by themselves).
    pub step: usize,
    /// When the anchored step notionally began; can lie in the future after added time.
    pub step_started_ms: i64,
    pub paused_at_ms: Option<i64>,
    /// Time already played in steps the director jumped away from, restored on jumping back.
    /// Stored as pairs: JSON object keys are strings, which a tagged enum cannot read back as numbers.
    #[serde(with = "pairs")]
    pub remembered: BTreeMap<usize, i64>,
}

mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(map: &BTreeMap<usize, i64>, s: S) -> Result<S::Ok, S::Error> {
        map.iter()
            .map(|(k, v)| (*k, *v))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<usize, i64>, D::Error> {
        Ok(Vec::<(usize, i64)>::deserialize(d)?.into_iter().collect())
    }
}

/// Blinds and ante of a level, for screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Blinds {
    pub level: u32,
    pub small_blind: u64,
    pub big_blind: u64,
    pub ante: Ante,
}

/// What every screen shows at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ClockView {
    pub started: bool,
    pub paused: bool,
    /// The step running (0-based, breaks included).
    pub step: usize,
    /// The level number (1-based); during a break, the level before it.
    pub level: u32,
    pub on_break: bool,
    pub time_left_ms: u64,
    /// The blinds in play (None on a break).
    pub blinds: Option<Blinds>,
    /// The next level's blinds, if there is one.
    pub next: Option<Blinds>,
    /// Until the next break starts; None when no break is left (Some(0) on a break).
    pub to_next_break_ms: Option<u64>,
    /// The structure has run out and stops there.
    pub finished: bool,
}

fn blinds(structure: &Structure, index: usize) -> Option<Blinds> {
    match structure.steps.get(index)? {
        Step::Level {
            small_blind,
            big_blind,
            ante,
            ..
        } => Some(Blinds {
            level: structure.level_number(index),
            small_blind: *small_blind,
            big_blind: *big_blind,
            ante: *ante,
        }),
        Step::Break { .. } => None,
    }
}

fn duration(structure: &Structure, index: usize) -> i64 {
    structure
        .steps
        .get(index)
        .map(|s| s.duration_ms() as i64)
        .unwrap_or(0)
}

impl ClockState {
    fn effective_now(&self, now_ms: i64) -> i64 {
        self.paused_at_ms.unwrap_or(now_ms)
    }

    /// Where the clock really is at `now`: (step, time played in it), following
    /// on through steps. Past the last step, a repeating last level starts over
    /// and a stopping one stays at its end.
    fn position(&self, structure: &Structure, now_ms: i64) -> (usize, i64) {
        let last = structure.steps.len().saturating_sub(1);
        let mut index = self.step.min(last);
        let mut played = self.effective_now(now_ms) - self.step_started_ms;
        while index < last && played >= duration(structure, index) {
            played -= duration(structure, index);
            index += 1;
        }
        let length = duration(structure, index);
        if index == last && length > 0 && played >= length {
            played = match structure.at_end {
                AtEnd::RepeatLastLevel => played % length,
                AtEnd::Stop => length,
            };
        }
        (index, played)
    }

    /// Moves the anchor to where the clock is now, so a change applies from here.
    fn settle(&mut self, structure: &Structure, now_ms: i64) {
        if !self.started {
            return;
        }
        let (index, played) = self.position(structure, now_ms);
        self.step = index;
        self.step_started_ms = self.effective_now(now_ms) - played;
    }

    pub fn start(&mut self, now_ms: i64) {
        *self = ClockState {
            started: true,
            step: 0,
            step_started_ms: now_ms,
            paused_at_ms: None,
            remembered: BTreeMap::new(),
        };
    }

    pub fn pause(&mut self, structure: &Structure, now_ms: i64) {
        if self.started && self.paused_at_ms.is_none() {
            self.settle(structure, now_ms);
            self.paused_at_ms = Some(now_ms);
        }
    }

    pub fn resume(&mut self, now_ms: i64) {
        if let Some(at) = self.paused_at_ms.take() {
            self.step_started_ms += now_ms - at;
        }
    }

    /// Adds (or, negative, removes) time on the running step. Removing more than is
    /// left ends the step now.
    pub fn add_time(&mut self, structure: &Structure, delta_ms: i64, now_ms: i64) {
        self.settle(structure, now_ms);
        let played = self.effective_now(now_ms) - self.step_started_ms;
        let shifted = played - delta_ms;
        let shifted = shifted.min(duration(structure, self.step));
        self.step_started_ms = self.effective_now(now_ms) - shifted;
    }

    /// Jumps to step `to`. Time played in the step left is remembered, so
    /// jumping back there picks up where it was.
    pub fn jump(&mut self, structure: &Structure, to: usize, now_ms: i64) {
        let to = to.min(structure.steps.len().saturating_sub(1));
        self.settle(structure, now_ms);
        let played = self.effective_now(now_ms) - self.step_started_ms;
        self.remembered.insert(self.step, played);
        let resume_at = self.remembered.remove(&to).unwrap_or(0);
        self.step = to;
        self.step_started_ms = self.effective_now(now_ms) - resume_at;
    }

    /// The view at `now`.
    pub fn view(&self, structure: &Structure, now_ms: i64) -> ClockView {
        let (index, played) = if self.started {
            self.position(structure, now_ms)
        } else {
            (0, 0)
        };
        let last = structure.steps.len().saturating_sub(1);
        let length = duration(structure, index);
        let time_left = (length - played).max(0) as u64;
        let finished = index == last && structure.at_end == AtEnd::Stop && played >= length;
        let on_break = structure.steps.get(index).is_some_and(Step::is_break);
        let next = (index + 1..structure.steps.len()).find_map(|i| blinds(structure, i));
        let to_next_break_ms = if on_break {
            Some(0)
        } else {
            let mut sum = time_left;
            let mut found = None;
            for i in index + 1..structure.steps.len() {
                if structure.steps[i].is_break() {
                    found = Some(sum);
                    break;
                }
                sum += duration(structure, i) as u64;
            }
            found
        };
        ClockView {
            started: self.started,
            paused: self.paused_at_ms.is_some(),
            step: index,
            level: structure.level_number(index),
            on_break,
            time_left_ms: time_left,
            blinds: blinds(structure, index),
            next,
            to_next_break_ms,
            finished,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tournament::structure::templates;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;

    fn daily() -> Structure {
        templates()[1].clone()
    }

    #[test]
    fn a_started_clock_counts_down_and_moves_on_to_the_next_level() {
        let s = daily();
        let mut c = ClockState::default();
        c.start(0);
        let v = c.view(&s, 5 * MIN);
        assert_eq!((v.level, v.time_left_ms), (1, 15 * MIN as u64));
        assert_eq!(
            v.blinds.map(|b| (b.small_blind, b.big_blind)),
            Some((100, 100))
        );
        assert_eq!(v.next.map(|b| b.big_blind), Some(200));
        assert_eq!(v.to_next_break_ms, Some((15 + 3 * 20) as u64 * MIN as u64));
        let v = c.view(&s, 21 * MIN);
        assert_eq!((v.level, v.time_left_ms), (2, 19 * MIN as u64));
        // Four 20-minute levels, then a 10-minute break.
        let v = c.view(&s, 82 * MIN);
        assert!(v.on_break);
        assert_eq!(v.time_left_ms, 8 * MIN as u64);
        assert_eq!(v.blinds, None);
        assert_eq!(v.next.map(|b| b.level), Some(5));
    }

    #[test]
    fn a_clock_with_remembered_steps_survives_the_event_wire_form() {
        use crate::tournament::play::PlayEvent;
        use crate::EventKind;
        let s = daily();
        let mut c = ClockState::default();
        c.start(0);
        c.jump(&s, 3, 5 * MIN);
        let event = EventKind::TournamentPlayed {
            tournament_id: uuid::Uuid::nil(),
            event: PlayEvent::ClockSet {
                action: "jump".into(),
                clock: c.clone(),
                before: Some(c),
            },
        };
        let (kind, payload) = event.to_parts();
        assert_eq!(EventKind::from_parts(&kind, &payload).ok(), Some(event));
    }

    #[test]
    fn a_paused_clock_stands_still_and_resumes_where_it_was() {
        let s = daily();
        let mut c = ClockState::default();
        c.start(0);
        c.pause(&s, 7 * MIN);
        assert_eq!(c.view(&s, 7 * MIN), c.view(&s, 70 * MIN));
        c.resume(70 * MIN);
        assert_eq!(c.view(&s, 71 * MIN).time_left_ms, 12 * MIN as u64);
    }

    #[test]
    fn the_end_of_the_structure_repeats_or_stops_as_configured() {
        let mut s = daily();
        let total: i64 = s.steps.iter().map(|st| st.duration_ms() as i64).sum();
        let mut c = ClockState::default();
        c.start(0);
        let v = c.view(&s, total + 5 * MIN);
        assert!(!v.finished);
        assert_eq!(v.time_left_ms, 15 * MIN as u64);
        s.at_end = AtEnd::Stop;
        let v = c.view(&s, total + 5 * MIN);
        assert!(v.finished);
        assert_eq!(v.time_left_ms, 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Wait(i64),
        Pause,
        Resume,
        Add(i64),
        Jump(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..25 * MIN).prop_map(Op::Wait),
            1 => Just(Op::Pause),
            1 => Just(Op::Resume),
            1 => (-10 * MIN..10 * MIN).prop_map(Op::Add),
            1 => (0..40usize).prop_map(Op::Jump),
        ]
    }

    fn run(s: &Structure, ops: &[Op]) -> (ClockState, i64) {
        let mut c = ClockState::default();
        let mut now = 1_000_000;
        c.start(now);
        for op in ops {
            match op {
                Op::Wait(ms) => now += ms,
                Op::Pause => c.pause(s, now),
                Op::Resume => c.resume(now),
                Op::Add(ms) => c.add_time(s, *ms, now),
                Op::Jump(to) => c.jump(s, *to, now),
            }
        }
        (c, now)
    }

    proptest! {
        #[test]
        fn the_clock_never_runs_while_paused(ops in proptest::collection::vec(op(), 0..40), wait in 1..(600 * MIN)) {
            let s = daily();
            let (mut c, now) = run(&s, &ops);
            c.pause(&s, now);
            prop_assert_eq!(c.view(&s, now), c.view(&s, now + wait));
        }

        #[test]
        fn time_left_is_never_negative_nor_more_than_the_step_plus_what_was_added(ops in proptest::collection::vec(op(), 0..40), later in 0..(900 * MIN)) {
            let s = daily();
            let (c, now) = run(&s, &ops);
            let v = c.view(&s, now + later);
            // u64 cannot be negative; check it is sane: at most the step plus all time ever added.
            let added: i64 = ops.iter().map(|o| if let Op::Add(ms) = o { (*ms).max(0) } else { 0 }).sum();
            prop_assert!(v.time_left_ms as i64 <= s.steps[v.step].duration_ms() as i64 + added);
        }

        #[test]
        fn added_time_adds_exactly_that(ops in proptest::collection::vec(op(), 0..40), add in 1..(30 * MIN)) {
            let s = daily();
            let (mut c, now) = run(&s, &ops);
            let before = c.view(&s, now);
            prop_assume!(!before.finished);
            c.add_time(&s, add, now);
            let after = c.view(&s, now);
            prop_assert_eq!(after.step, before.step);
            prop_assert_eq!(after.time_left_ms, before.time_left_ms + add as u64);
        }

        #[test]
        fn jumping_forward_then_back_returns_the_same_view(ops in proptest::collection::vec(op(), 0..40), ahead in 1..5usize) {
            let s = daily();
            let (mut c, now) = run(&s, &ops);
            let before = c.view(&s, now);
            // Forward, or (near the end) round to an earlier step: away and back.
            let target = (before.step + ahead) % s.steps.len();
            prop_assume!(target != before.step);
            c.jump(&s, target, now);
            prop_assert_eq!(c.view(&s, now).step, target);
            c.jump(&s, before.step, now);
            prop_assert_eq!(c.view(&s, now), before);
        }

        #[test]
        fn a_running_clock_only_goes_forward(ops in proptest::collection::vec(op(), 0..30), a in 0..(300 * MIN), b in 0..(300 * MIN)) {
            let s = daily();
            let (mut c, now) = run(&s, &ops);
            c.resume(now);
            let (early, late) = (now + a.min(b), now + a.max(b));
            let (v1, v2) = (c.view(&s, early), c.view(&s, late));
            prop_assert!(v2.step > v1.step || (v2.step == v1.step && v2.time_left_ms <= v1.time_left_ms) || v2.step == s.steps.len() - 1);
        }
    }
}
