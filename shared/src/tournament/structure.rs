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
}

impl EntryRule {
    pub const NONE: EntryRule = EntryRule {
        allowed: false,
        max: None,
        chips: 0,
        until_level: None,
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
        Ok(())
    }
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
    for (i, (sb, bb, ante)) in rows.iter().enumerate() {
        out.push(level(*sb, *bb, *ante, minutes));
        if (i + 1) % break_every == 0 && i + 1 < rows.len() {
            let note = if *sb >= 100 && (i + 1) / break_every == 2 {
                Some("colour up the 25s")
            } else {
                None
            };
            out.push(brk(break_minutes, note));
        }
    }
    out
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
            },
            rebuy: EntryRule::NONE,
            addon: EntryRule::NONE,
            buy_in: 50,
            fee: 10,
            guarantee: 0,
            at_end: AtEnd::RepeatLastLevel,
            allow_decreasing_blinds: false,
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
            },
            rebuy: EntryRule::NONE,
            addon: EntryRule {
                allowed: true,
                max: Some(1),
                chips: 20_000,
                until_level: Some(8),
            },
            buy_in: 100,
            fee: 20,
            guarantee: 5_000,
            at_end: AtEnd::RepeatLastLevel,
            allow_decreasing_blinds: false,
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
            },
            rebuy: EntryRule::NONE,
            addon: EntryRule::NONE,
            buy_in: 300,
            fee: 40,
            guarantee: 25_000,
            at_end: AtEnd::RepeatLastLevel,
            allow_decreasing_blinds: false,
        },
    ]
}

#[cfg(test)]
mod tests {
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
