//! Tournament structures: the levels and breaks, stacks and entry rules a
//! director sets up, checked so nonsense never reaches a clock.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// How antes are paid at a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ante {
    None,
    /// Every player pays `amount`.
    Standard {
        amount: u64,
    },
    /// The big blind pays `amount` for the table.
    BigBlind {
        amount: u64,
    },
}

/// One step of a structure: a level of play or a break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    Level {
        small_blind: u64,
        big_blind: u64,
        ante: Ante,
        minutes: u32,
    },
    Break {
        minutes: u32,
        #[serde(default)]
        note: Option<String>,
    },
}

impl Step {
    pub fn minutes(&self) -> u32 {
        match self {
            Step::Level { minutes, .. } | Step::Break { minutes, .. } => *minutes,
        }
    }
    pub fn duration_ms(&self) -> u64 {
        self.minutes() as u64 * 60_000
    }
    pub fn is_break(&self) -> bool {
        matches!(self, Step::Break { .. })
    }
}

/// Re-entry, rebuy or add-on: allowed or not, how many, for how many chips, until which level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EntryRule {
    pub allowed: bool,
    /// Per player; None for unlimited.
    pub max: Option<u32>,
    pub chips: u64,
    /// Allowed up to and including this level number (1-based); None for while registration is open.
    pub until_level: Option<u32>,
    /// What it costs, for the prize pool (information only: no money is handled).
    #[serde(default)]
    pub price: u64,
}

impl EntryRule {
    pub const NONE: EntryRule = EntryRule {
        allowed: false,
        max: None,
        chips: 0,
        until_level: None,
        price: 0,
    };
}

/// What happens after the last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AtEnd {
    /// The last level goes on until the tournament finishes.
    RepeatLastLevel,
    /// The clock stops at zero.
    Stop,
}

/// A tournament structure. Money figures are information only: no money is handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Structure {
    pub name: String,
    pub steps: Vec<Step>,
    pub starting_stack: u64,
    /// Late registration closes at the end of this level number (1-based).
    pub late_reg_until_level: Option<u32>,
    pub reentry: EntryRule,
    pub rebuy: EntryRule,
    pub addon: EntryRule,
    pub buy_in: u64,
    pub fee: u64,
    pub guarantee: u64,
    pub at_end: AtEnd,
    /// Blinds may go down from one level to the next (set deliberately, e.g. for a final-table reset).
    #[serde(default)]
    pub allow_decreasing_blinds: bool,
    /// The payout table in tenths of a percent per place (500 = 50.0 % to
    /// the winner), summing to 1000; empty for the standard table by field size.
    #[serde(default)]
    pub payouts: Vec<u32>,
}

/// What is wrong with a structure, precisely enough to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StructureError {
    #[error("the structure has no levels")]
    Empty,
    #[error("step {step}: a duration must be at least one minute")]
    ZeroDuration { step: usize },
    #[error("step {step}: the small blind must be at least 1")]
    ZeroBlind { step: usize },
    #[error("step {step}: the big blind ({big}) is smaller than the small blind ({small})")]
    BigBelowSmall { step: usize, small: u64, big: u64 },
    #[error("step {step}: the blinds go down ({from} to {to}); set allow_decreasing_blinds if that is meant")]
    BlindsGoDown { step: usize, from: u64, to: u64 },
    #[error("the starting stack must be at least the first big blind")]
    StackTooSmall,
    #[error("{field}: level {level} is past the last level ({levels})")]
    NoSuchLevel {
        field: &'static str,
        level: u32,
        levels: u32,
    },
    #[error("the name must be 1 to 80 characters")]
    Name,
    #[error("step {step}: a break note is at most 200 characters")]
    Note { step: usize },
    #[error("payouts: {0}")]
    Payouts(String),
}

impl Structure {
    /// The number of playing levels (breaks not counted).
    pub fn level_count(&self) -> u32 {
        self.steps.iter().filter(|s| !s.is_break()).count() as u32
    }

    /// The level number (1-based) of step `index`, or of the last level before it for a break.
    pub fn level_number(&self, index: usize) -> u32 {
        self.steps
            .iter()
            .take(index + 1)
            .filter(|s| !s.is_break())
            .count() as u32
    }

    /// Checks everything; steps are reported 1-based, as staff count them.
    pub fn validate(&self) -> Result<(), StructureError> {
        let n = self.name.trim().chars().count();
        if n == 0 || n > 80 {
            return Err(StructureError::Name);
        }
        if self.level_count() == 0 {
            return Err(StructureError::Empty);
        }
        let mut last_big: Option<u64> = None;
        for (i, step) in self.steps.iter().enumerate() {
            let step_no = i + 1;
            if step.minutes() == 0 {
                return Err(StructureError::ZeroDuration { step: step_no });
            }
            match step {
                Step::Level {
                    small_blind,
                    big_blind,
                    ..
                } => {
                    if *small_blind == 0 {
                        return Err(StructureError::ZeroBlind { step: step_no });
                    }
                    if big_blind < small_blind {
                        return Err(StructureError::BigBelowSmall {
                            step: step_no,
                            small: *small_blind,
                            big: *big_blind,
                        });
                    }
                    if let Some(prev) = last_big {
                        if *big_blind < prev && !self.allow_decreasing_blinds {
                            return Err(StructureError::BlindsGoDown {
                                step: step_no,
                                from: prev,
                                to: *big_blind,
                            });
                        }
                    }
                    last_big = Some(*big_blind);
                }
                Step::Break { note, .. } => {
                    if note.as_deref().is_some_and(|n| n.chars().count() > 200) {
                        return Err(StructureError::Note { step: step_no });
                    }
                }
            }
        }
        let first_big = self.steps.iter().find_map(|s| match s {
            Step::Level { big_blind, .. } => Some(*big_blind),
            Step::Break { .. } => None,
        });
        if first_big.is_some_and(|b| self.starting_stack < b) {
            return Err(StructureError::StackTooSmall);
        }
        let levels = self.level_count();
        let checks = [
            ("late_reg_until_level", self.late_reg_until_level),
            ("reentry.until_level", self.reentry.until_level),
            ("rebuy.until_level", self.rebuy.until_level),
            ("addon.until_level", self.addon.until_level),
        ];
        for (field, level) in checks {
            if let Some(level) = level {
                if level == 0 || level > levels {
                    return Err(StructureError::NoSuchLevel {
                        field,
                        level,
                        levels,
                    });
                }
            }
        }
        self.validate_payouts()
    }

    fn validate_payouts(&self) -> Result<(), StructureError> {
        let p = &self.payouts;
        if p.is_empty() {
            return Ok(());
        }
        let bad = |m: String| Err(StructureError::Payouts(m));
        if p.len() > 1000 {
            return bad("at most 1000 places".into());
        }
        if let Some(i) = p.iter().position(|x| *x == 0) {
            return bad(format!("place {} has 0 %", i + 1));
        }
        if let Some(i) = p.windows(2).position(|w| w[1] > w[0]) {
            return bad(format!("place {} pays more than place {}", i + 2, i + 1));
        }
        let sum: u64 = p.iter().map(|x| *x as u64).sum();
        if sum != 1000 {
            return bad(format!(
                "the places add up to {}.{} %, not 100 %",
                sum / 10,
                sum % 10
            ));
        }
        Ok(())
    }

    /// The payout table for a field of `entries`: the structure's own, or the
    /// standard one (about 15 % paid, shares falling as 1/place).
    pub fn payout_table(&self, entries: u64) -> Vec<u32> {
        if !self.payouts.is_empty() {
            return self.payouts.clone();
        }
        standard_payouts(entries)
    }

    /// The steps as the editor shows them, one per line (see [`parse_steps`]).
    pub fn steps_text(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            let line = match step {
                Step::Level {
                    small_blind,
                    big_blind,
                    ante,
                    minutes,
                } => match ante {
                    Ante::None => format!("{small_blind}/{big_blind} {minutes}m"),
                    Ante::Standard { amount } => {
                        format!("{small_blind}/{big_blind} ante {amount} {minutes}m")
                    }
                    Ante::BigBlind { amount } => {
                        format!("{small_blind}/{big_blind} bba {amount} {minutes}m")
                    }
                },
                Step::Break { minutes, note } => match note {
                    Some(n) => format!("break {minutes}m {n}"),
                    None => format!("break {minutes}m"),
                },
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// The standard payout table: about 15 % of the field paid (2 of up to 7,
/// 3 of up to 15), shares falling as 1/place, in tenths of a percent; what
/// rounding leaves goes to the winner.
pub fn standard_payouts(entries: u64) -> Vec<u32> {
    let paid = match entries {
        0..=1 => 1,
        2..=7 => 2,
        8..=15 => 3,
        n => n.div_ceil(100 / 15 + 1).max(3),
    } as usize;
    let weights: Vec<f64> = (1..=paid).map(|i| 1.0 / i as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut table: Vec<u32> = weights
        .iter()
        .map(|w| (w / total * 1000.0).floor() as u32)
        .collect();
    let given: u32 = table.iter().sum();
    table[0] += 1000 - given;
    // Tiny shares at the bottom of a big field round to 0: pay fewer places.
    table.retain(|x| *x > 0);
    let given: u32 = table.iter().sum();
    table[0] += 1000 - given;
    table
}

/// Reads the editor's text, one step per line: `100/200 20m`, `100/200 ante 25 20m`,
/// `100/200 bba 200 20m`, `break 10m colour up the 25s`. Blank lines and lines
/// starting with `#` are skipped. Errors name the line.
pub fn parse_steps(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let minutes = |w: &str| -> Result<u32, String> {
            w.trim_end_matches(['m', 'M'])
                .parse::<u32>()
                .map_err(|_| format!("line {n}: {w:?} is not a number of minutes (like 20m)"))
        };
        let number = |w: &str, what: &str| -> Result<u64, String> {
            w.replace([',', '_'], "")
                .parse::<u64>()
                .map_err(|_| format!("line {n}: {w:?} is not a whole number for the {what}"))
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[0].eq_ignore_ascii_case("break") {
            let m = words
                .get(1)
                .ok_or_else(|| format!("line {n}: a break needs its minutes (break 10m)"))?;
            let note = words[2..].join(" ");
            steps.push(Step::Break {
                minutes: minutes(m)?,
                note: (!note.is_empty()).then_some(note),
            });
            continue;
        }
        let (sb, bb) = words[0].split_once('/').ok_or_else(|| {
            format!("line {n}: start with the blinds (100/200) or the word break")
        })?;
        let (ante, rest) = match words.get(1).map(|w| w.to_ascii_lowercase()) {
            Some(w) if w == "ante" || w == "bba" => {
                let amount = number(
                    words
                        .get(2)
                        .ok_or_else(|| format!("line {n}: {w} needs an amount"))?,
                    "ante",
                )?;
                let ante = if w == "ante" {
                    Ante::Standard { amount }
                } else {
                    Ante::BigBlind { amount }
                };
                (ante, &words[3..])
            }
            _ => (Ante::None, &words[1..]),
        };
        let [m] = rest else {
            return Err(format!(
                "line {n}: end the level with its minutes, like 100/200 ante 25 20m"
            ));
        };
        steps.push(Step::Level {
            small_blind: number(sb, "small blind")?,
            big_blind: number(bb, "big blind")?,
            ante,
            minutes: minutes(m)?,
        });
    }
    Ok(steps)
}

fn level(sb: u64, bb: u64, ante: u64, minutes: u32) -> Step {
    Step::Level {
        small_blind: sb,
        big_blind: bb,
        ante: if ante == 0 {
            Ante::None
        } else {
            Ante::BigBlind { amount: ante }
        },
        minutes,
    }
}

fn brk(minutes: u32, note: Option<&str>) -> Step {
    Step::Break {
        minutes,
        note: note.map(str::to_owned),
    }
}

/// Builds the steps from (small, big, big-blind ante) rows, a break after every `break_every` levels.
fn steps(
    rows: &[(u64, u64, u64)],
    minutes: u32,
    break_every: usize,
    break_minutes: u32,
) -> Vec<Step> {
    let mut out = Vec::new();
    // The levels played since the last colour-up: the chips still in play.
    let mut since = 0;
    for (i, (sb, bb, ante)) in rows.iter().enumerate() {
        out.push(level(*sb, *bb, *ante, minutes));
        if (i + 1) % break_every == 0 && i + 1 < rows.len() {
            let note = colour_up(&rows[since..=i], &rows[i + 1..]);
            if note.is_some() {
                since = i + 1;
            }
            out.push(brk(break_minutes, note.as_deref()));
        }
    }
    out
}

/// Tournament chip values, smallest first.
const CHIPS: [u64; 6] = [25, 100, 500, 1_000, 5_000, 25_000];

/// The chip a break can colour up: the smallest one the levels before it
/// needed and the levels after it no longer do ("colour up the 100s").
fn colour_up(before: &[(u64, u64, u64)], after: &[(u64, u64, u64)]) -> Option<String> {
    let smallest = |rows: &[(u64, u64, u64)]| {
        CHIPS
            .iter()
            .rev()
            .copied()
            .find(|c| {
                rows.iter()
                    .all(|&(sb, bb, ante)| sb % c == 0 && bb % c == 0 && ante % c == 0)
            })
            .unwrap_or(1)
    };
    let (was, now) = (smallest(before), smallest(after));
    (now > was).then(|| format!("colour up the {was}s"))
}

/// The templates every node starts with. Staff clone and edit them.
pub fn templates() -> Vec<Structure> {
    let turbo_rows = [
        (100, 200, 200),
        (100, 300, 300),
        (200, 400, 400),
        (300, 600, 600),
        (400, 800, 800),
        (500, 1_000, 1_000),
        (600, 1_200, 1_200),
        (800, 1_600, 1_600),
        (1_000, 2_000, 2_000),
        (1_500, 3_000, 3_000),
        (2_000, 4_000, 4_000),
        (3_000, 6_000, 6_000),
        (4_000, 8_000, 8_000),
        (5_000, 10_000, 10_000),
        (6_000, 12_000, 12_000),
        (8_000, 16_000, 16_000),
    ];
    let daily_rows = [
        (100, 100, 0),
        (100, 200, 200),
        (100, 300, 300),
        (200, 400, 400),
        (200, 500, 500),
        (300, 600, 600),
        (400, 800, 800),
        (500, 1_000, 1_000),
        (600, 1_200, 1_200),
        (800, 1_600, 1_600),
        (1_000, 2_000, 2_000),
        (1_200, 2_400, 2_400),
        (1_500, 3_000, 3_000),
        (2_000, 4_000, 4_000),
        (2_500, 5_000, 5_000),
        (3_000, 6_000, 6_000),
        (4_000, 8_000, 8_000),
        (5_000, 10_000, 10_000),
        (6_000, 12_000, 12_000),
        (8_000, 16_000, 16_000),
    ];
    let deep_rows = [
        (100, 100, 0),
        (100, 200, 0),
        (100, 200, 200),
        (100, 300, 300),
        (200, 400, 400),
        (200, 500, 500),
        (300, 600, 600),
        (400, 800, 800),
        (500, 1_000, 1_000),
        (600, 1_200, 1_200),
        (800, 1_600, 1_600),
        (1_000, 2_000, 2_000),
        (1_200, 2_400, 2_400),
        (1_500, 3_000, 3_000),
        (2_000, 4_000, 4_000),
        (2_500, 5_000, 5_000),
        (3_000, 6_000, 6_000),
        (4_000, 8_000, 8_000),
        (5_000, 10_000, 10_000),
        (6_000, 12_000, 12_000),
        (8_000, 16_000, 16_000),
        (10_000, 20_000, 20_000),
        (15_000, 30_000, 30_000),
        (20_000, 40_000, 40_000),
    ];
    vec![
        Structure {
            name: "Turbo".into(),
            steps: steps(&turbo_rows, 12, 6, 10),
            starting_stack: 20_000,
            late_reg_until_level: Some(6),
            reentry: EntryRule {
                allowed: true,
                max: Some(1),
                chips: 20_000,
                until_level: Some(6),
                price: 50,
            },
            rebuy: EntryRule::NONE,
            addon: EntryRule::NONE,
            buy_in: 50,
            fee: 10,
            guarantee: 0,
            at_end: AtEnd::RepeatLastLevel,
            allow_decreasing_blinds: false,
            payouts: Vec::new(),
        },
        Structure {
            name: "Daily".into(),
            steps: steps(&daily_rows, 20, 4, 10),
            starting_stack: 30_000,
            late_reg_until_level: Some(8),
            reentry: EntryRule {
                allowed: true,
                max: Some(2),
                chips: 30_000,
                until_level: Some(8),
                price: 100,
            },
            rebuy: EntryRule::NONE,
            addon: EntryRule {
                allowed: true,
                max: Some(1),
                chips: 20_000,
                until_level: Some(8),
                price: 50,
            },
            buy_in: 100,
            fee: 20,
            guarantee: 5_000,
            at_end: AtEnd::RepeatLastLevel,
            allow_decreasing_blinds: false,
            payouts: Vec::new(),
        },
        Structure {
            name: "Deepstack".into(),
            steps: steps(&deep_rows, 40, 3, 15),
            starting_stack: 50_000,
            late_reg_until_level: Some(9),
            reentry: EntryRule {
                allowed: true,
                max: None,
                chips: 50_000,
                until_level: Some(9),
                price: 300,
            },
            rebuy: EntryRule::NONE,
            addon: EntryRule::NONE,
            buy_in: 300,
            fee: 40,
            guarantee: 25_000,
            at_end: AtEnd::RepeatLastLevel,
            allow_decreasing_blinds: false,
            payouts: Vec::new(),
        },
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_template_colours_up_only_chips_it_used_and_no_longer_needs() {
        for t in templates() {
            let mut levels: Vec<(u64, u64, u64)> = Vec::new();
            let mut coloured_up = 0;
            for (i, step) in t.steps.iter().enumerate() {
                match step {
                    Step::Level {
                        small_blind,
                        big_blind,
                        ante,
                        ..
                    } => {
                        let ante = match ante {
                            Ante::BigBlind { amount } => *amount,
                            _ => 0,
                        };
                        levels.push((*small_blind, *big_blind, ante));
                    }
                    Step::Break {
                        note: Some(note), ..
                    } => {
                        let chip: u64 = note
                            .trim_start_matches("colour up the ")
                            .trim_end_matches('s')
                            .parse()
                            .unwrap_or_else(|_| panic!("{}: {note}", t.name));
                        assert!(
                            chip > coloured_up,
                            "{}: {note} after the {coloured_up}s went already",
                            t.name
                        );
                        coloured_up = chip;
                        let next = CHIPS
                            .iter()
                            .copied()
                            .find(|c| *c > chip)
                            .expect("a bigger chip");
                        let needs = |&(a, b, c): &(u64, u64, u64)| {
                            a % next != 0 || b % next != 0 || c % next != 0
                        };
                        assert!(
                            levels.iter().any(needs),
                            "{}: {note}, yet no level needed it",
                            t.name
                        );
                        let later: Vec<(u64, u64, u64)> = t.steps[i..]
                            .iter()
                            .filter_map(|s| match s {
                                Step::Level {
                                    small_blind,
                                    big_blind,
                                    ante,
                                    ..
                                } => Some((
                                    *small_blind,
                                    *big_blind,
                                    match ante {
                                        Ante::BigBlind { amount } => *amount,
                                        _ => 0,
                                    },
                                )),
                                _ => None,
                            })
                            .collect();
                        assert!(
                            !later.iter().any(needs),
                            "{}: {note}, yet a later level needs it",
                            t.name
                        );
                    }
                    Step::Break { .. } => {}
                }
            }
        }
        let notes = templates()
            .iter()
            .flat_map(|t| t.steps.clone())
            .filter(|s| matches!(s, Step::Break { note: Some(_), .. }))
            .count();
        assert!(notes > 0, "the templates colour up somewhere");
        assert_eq!(
            colour_up(&[(100, 200, 0), (100, 300, 300)], &[(500, 1_000, 1_000)]),
            Some("colour up the 100s".into())
        );
        assert_eq!(colour_up(&[(100, 200, 0)], &[(200, 400, 0)]), None);
    }

    use super::*;

    fn tiny() -> Structure {
        Structure {
            steps: vec![
                level(100, 200, 0, 20),
                brk(10, None),
                level(200, 400, 0, 20),
            ],
            late_reg_until_level: None,
            reentry: EntryRule::NONE,
            ..templates()[0].clone()
        }
    }

    #[test]
    fn the_shipped_templates_are_valid_and_realistic() {
        let t = templates();
        assert_eq!(
            t.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["Turbo", "Daily", "Deepstack"]
        );
        for s in &t {
            assert_eq!(s.validate(), Ok(()), "{}", s.name);
            assert!(s.level_count() >= 16);
            assert!(s.steps.iter().any(Step::is_break));
        }
    }

    #[test]
    fn nonsense_is_refused_with_the_step_named() {
        let mut s = tiny();
        s.steps[2] = level(200, 400, 0, 0);
        assert_eq!(s.validate(), Err(StructureError::ZeroDuration { step: 3 }));
        let mut s = tiny();
        s.steps[2] = level(400, 200, 0, 20);
        assert_eq!(
            s.validate(),
            Err(StructureError::BigBelowSmall {
                step: 3,
                small: 400,
                big: 200
            })
        );
        let mut s = tiny();
        s.steps[2] = level(50, 100, 0, 20);
        assert_eq!(
            s.validate(),
            Err(StructureError::BlindsGoDown {
                step: 3,
                from: 200,
                to: 100
            })
        );
        s.allow_decreasing_blinds = true;
        assert_eq!(s.validate(), Ok(()));
        let mut s = tiny();
        s.steps = vec![brk(10, None)];
        assert_eq!(s.validate(), Err(StructureError::Empty));
        let mut s = tiny();
        s.late_reg_until_level = Some(3);
        assert_eq!(
            s.validate(),
            Err(StructureError::NoSuchLevel {
                field: "late_reg_until_level",
                level: 3,
                levels: 2
            })
        );
        assert_eq!(
            StructureError::BlindsGoDown {
                step: 3,
                from: 200,
                to: 100
            }
            .to_string(),
            "step 3: the blinds go down (200 to 100); set allow_decreasing_blinds if that is meant"
        );
    }

    #[test]
    fn level_numbers_skip_breaks() {
        let s = tiny();
        assert_eq!(
            (s.level_number(0), s.level_number(1), s.level_number(2)),
            (1, 1, 2)
        );
    }

    #[test]
    fn a_negative_duration_cannot_even_be_read() {
        let json = r#"{"type":"level","small_blind":100,"big_blind":200,"ante":{"kind":"none"},"minutes":-5}"#;
        assert!(serde_json::from_str::<Step>(json).is_err());
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn the_editor_text_reads_back_into_the_same_steps() {
        for t in templates() {
            assert_eq!(
                parse_steps(&t.steps_text()),
                Ok(t.steps.clone()),
                "{}",
                t.name
            );
        }
        let steps = parse_steps(
            "# day 1\n25/50 30m\n\n50/100 ante 10 30m\nbreak 15m colour up\n100/200 bba 200 30M\n",
        )
        .expect("reads");
        assert_eq!(steps.len(), 4);
        assert_eq!(
            steps[2],
            Step::Break {
                minutes: 15,
                note: Some("colour up".into())
            }
        );
    }

    #[test]
    fn the_editor_names_the_line_that_is_wrong() {
        assert_eq!(
            parse_steps("25/50 30m\n50/1x0 30m"),
            Err("line 2: \"1x0\" is not a whole number for the big blind".into())
        );
        assert_eq!(
            parse_steps("25/50"),
            Err("line 1: end the level with its minutes, like 100/200 ante 25 20m".into())
        );
        assert_eq!(
            parse_steps("break"),
            Err("line 1: a break needs its minutes (break 10m)".into())
        );
        assert!(parse_steps("25/50 -5m").is_err());
    }

    #[test]
    fn payout_tables_add_up_and_fall() {
        for entries in [1u64, 2, 5, 9, 20, 60, 68, 200, 2_500] {
            let t = standard_payouts(entries);
            assert_eq!(t.iter().sum::<u32>(), 1000, "{entries}");
            assert!(t.windows(2).all(|w| w[0] >= w[1]), "{entries}: {t:?}");
            assert!(t.len() as u64 <= entries.max(1), "{entries}");
        }
        assert_eq!(standard_payouts(9), vec![547, 272, 181]);
        let mut s = templates()[0].clone();
        s.payouts = vec![500, 300, 150];
        assert_eq!(
            s.validate(),
            Err(StructureError::Payouts(
                "the places add up to 95.0 %, not 100 %".into()
            ))
        );
        s.payouts = vec![300, 500, 200];
        assert_eq!(
            s.validate(),
            Err(StructureError::Payouts(
                "place 2 pays more than place 1".into()
            ))
        );
        s.payouts = vec![500, 300, 200];
        assert_eq!(s.validate(), Ok(()));
    }
}
