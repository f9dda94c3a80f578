//! The structure editor: every template (built-in and saved), and a form to
//! clone one and edit it: stacks, late registration, re-entry, rebuy and
//! add-on rules, money figures (information only), payouts, and the levels
//! as one line each (`100/200 bba 200 20m`, `break 10m colour up`).

use super::auth::{CsrfToken, Require, StaffUi, TournamentsManage};
use super::error::ApiError;
use super::page::{csrf_field, layout, run_parsed, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use pvm_shared::tournament::structure::{parse_steps, templates, AtEnd, EntryRule, Step};
use pvm_shared::tournament::Structure;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/structures", get(list).post(save))
        .route("/structures/edit", get(edit))
        .route("/structures/delete", post(delete))
}

fn is_builtin(name: &str) -> bool {
    templates()
        .iter()
        .any(|t| t.name.eq_ignore_ascii_case(name))
}

async fn list(
    State(s): State<AppState>,
    who: Require<StaffUi>,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let state = s.log.venue();
    let manage = pvm_shared::auth::Permission::TournamentsManage.allows(who.principal().role);
    let body = html! {
        h1 { "Structures" }
        p { "Tournaments start from these. Clone one to make your own; saved structures can be edited." }
        div.scroll {
            table.api {
                thead { tr { th { "Name" } th { "Levels" } th { "Minutes" } th { "Stack" } th { "Late reg" } th {} } }
                tbody {
                    @for t in state.all_templates() {
                        @let minutes = t.steps.iter().filter(|s| !s.is_break()).map(Step::minutes).next().unwrap_or(0);
                        tr {
                            td { (t.name) @if is_builtin(&t.name) { " " small { "built-in" } } }
                            td { (t.level_count()) }
                            td { (minutes) }
                            td { (t.starting_stack) }
                            td { @match t.late_reg_until_level { Some(l) => { "level " (l) }, None => { "—" } } }
                            td {
                                @if manage {
                                    a href=(format!("/structures/edit?from={}", urlencode(&t.name))) {
                                        @if is_builtin(&t.name) { "Clone" } @else { "Edit" }
                                    }
                                    @if !is_builtin(&t.name) {
                                        form.inline method="post" action="/structures/delete" {
                                            (csrf_field(&csrf))
                                            input type="hidden" name="name" value=(t.name);
                                            button.link type="submit" { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(&settings, who.principal(), &csrf, "Structures", None, body).into_response())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct EditQuery {
    #[serde(default)]
    from: String,
}

async fn edit(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    csrf: CsrfToken,
    Query(q): Query<EditQuery>,
) -> Result<Response, ApiError> {
    let state = s.log.venue();
    let mut structure = state
        .all_templates()
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(&q.from))
        .ok_or_else(|| ApiError::not_found(format!("no structure called {:?}", q.from)))?;
    if is_builtin(&structure.name) {
        structure.name = format!("{} (copy)", structure.name);
    }
    editor(
        &s,
        who.principal(),
        &csrf,
        StatusCode::OK,
        None,
        &StructureForm::from(&structure),
    )
    .await
}

async fn editor(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    error: Option<&str>,
    f: &StructureForm,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let rule = |prefix: &str, title: &str, r: &RuleForm| -> Markup {
        html! {
            fieldset {
                legend { (title) }
                label { input type="checkbox" name=(format!("{prefix}_allowed")) value="1" checked[r.allowed]; " allowed" }
                label { "Per entry (blank: no limit)" input name=(format!("{prefix}_max")) inputmode="numeric" value=(r.max); }
                label { "Chips" input name=(format!("{prefix}_chips")) inputmode="numeric" value=(r.chips); }
                label { "Until level (blank: while registration is open)" input name=(format!("{prefix}_until")) inputmode="numeric" value=(r.until); }
                label { "Price" input name=(format!("{prefix}_price")) inputmode="numeric" value=(r.price); }
            }
        }
    };
    let body = html! {
        h1 { "Edit structure" }
        form.structure method="post" action="/structures" {
            (csrf_field(csrf))
            label { "Name" input name="name" required maxlength="80" value=(f.name); }
            label { "Levels and breaks, one per line"
                textarea name="steps" rows="18" spellcheck="false" { (f.steps) } }
            p.meta { "100/200 20m · 100/200 ante 25 20m · 100/200 bba 200 20m · break 10m colour up the 100s" }
            label { "Starting stack" input name="starting_stack" inputmode="numeric" required value=(f.starting_stack); }
            label { "Late registration until level (blank: closes at the start)" input name="late_reg_until_level" inputmode="numeric" value=(f.late_reg_until_level); }
            (rule("reentry", "Re-entry", &f.reentry))
            (rule("rebuy", "Rebuy", &f.rebuy))
            (rule("addon", "Add-on", &f.addon))
            fieldset {
                legend { "Money (information only)" }
                label { "Buy-in" input name="buy_in" inputmode="numeric" value=(f.buy_in); }
                label { "Fee" input name="fee" inputmode="numeric" value=(f.fee); }
                label { "Guarantee" input name="guarantee" inputmode="numeric" value=(f.guarantee); }
                label { "Payouts in % per place (blank: the standard table)" input name="payouts" value=(f.payouts) placeholder="50 30 20"; }
            }
            label { "After the last level"
                select name="at_end" {
                    option value="repeat" selected[f.at_end != "stop"] { "the last level goes on" }
                    option value="stop" selected[f.at_end == "stop"] { "the clock stops" }
                }
            }
            label { input type="checkbox" name="allow_decreasing_blinds" value="1" checked[!f.allow_decreasing_blinds.is_empty()]; " blinds may go down (e.g. a final-table reset)" }
            div.buttons { button.big type="submit" { "Save structure" } a href="/structures" { "Cancel" } }
        }
    };
    Ok((
        status,
        layout(&settings, who, csrf, "Edit structure", error, body),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
struct RuleForm {
    allowed: bool,
    max: String,
    chips: String,
    until: String,
    price: String,
}

/// The editor's fields, as typed (so a refused save shows them again).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StructureForm {
    name: String,
    steps: String,
    starting_stack: String,
    late_reg_until_level: String,
    reentry_allowed: String,
    reentry_max: String,
    reentry_chips: String,
    reentry_until: String,
    reentry_price: String,
    rebuy_allowed: String,
    rebuy_max: String,
    rebuy_chips: String,
    rebuy_until: String,
    rebuy_price: String,
    addon_allowed: String,
    addon_max: String,
    addon_chips: String,
    addon_until: String,
    addon_price: String,
    buy_in: String,
    fee: String,
    guarantee: String,
    payouts: String,
    at_end: String,
    allow_decreasing_blinds: String,
    #[serde(skip)]
    reentry: RuleForm,
    #[serde(skip)]
    rebuy: RuleForm,
    #[serde(skip)]
    addon: RuleForm,
}

fn opt(v: Option<impl ToString>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl From<&EntryRule> for RuleForm {
    fn from(r: &EntryRule) -> RuleForm {
        RuleForm {
            allowed: r.allowed,
            max: opt(r.max),
            chips: r.chips.to_string(),
            until: opt(r.until_level),
            price: r.price.to_string(),
        }
    }
}

impl From<&Structure> for StructureForm {
    fn from(s: &Structure) -> StructureForm {
        StructureForm {
            name: s.name.clone(),
            steps: s.steps_text(),
            starting_stack: s.starting_stack.to_string(),
            late_reg_until_level: opt(s.late_reg_until_level),
            buy_in: s.buy_in.to_string(),
            fee: s.fee.to_string(),
            guarantee: s.guarantee.to_string(),
            payouts: s
                .payouts
                .iter()
                .map(|p| {
                    format!("{}.{}", p / 10, p % 10)
                        .trim_end_matches(".0")
                        .to_owned()
                })
                .collect::<Vec<_>>()
                .join(" "),
            at_end: match s.at_end {
                AtEnd::Stop => "stop".into(),
                AtEnd::RepeatLastLevel => "repeat".into(),
            },
            allow_decreasing_blinds: if s.allow_decreasing_blinds {
                "1".into()
            } else {
                String::new()
            },
            reentry: (&s.reentry).into(),
            rebuy: (&s.rebuy).into(),
            addon: (&s.addon).into(),
            ..StructureForm::default()
        }
    }
}

fn number(field: &str, v: &str) -> Result<u64, String> {
    v.trim()
        .replace([',', '_', ' '], "")
        .parse()
        .map_err(|_| format!("{field}: {v:?} is not a whole number"))
}

fn maybe(field: &str, v: &str) -> Result<Option<u32>, String> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    let n = number(field, v)?;
    u32::try_from(n)
        .map(Some)
        .map_err(|_| format!("{field}: {n} is too large"))
}

/// "50 30 20" or "50, 30, 20" or "45.5 ..." → tenths of a percent.
fn payouts(v: &str) -> Result<Vec<u32>, String> {
    v.split([' ', ',', ';'])
        .filter(|w| !w.trim().is_empty())
        .map(|w| {
            let w = w.trim().trim_end_matches('%');
            let tenths = w
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0 && *x <= 100.0)
                .map(|x| (x * 10.0).round());
            match tenths {
                Some(t) if ((t / 10.0) - w.parse::<f64>().unwrap_or(-1.0)).abs() < 1e-9 => {
                    Ok(t as u32)
                }
                _ => Err(format!(
                    "payouts: {w:?} is not a percentage with at most one decimal"
                )),
            }
        })
        .collect()
}

impl StructureForm {
    fn rules(&mut self) {
        let take = |allowed: &str, max: &str, chips: &str, until: &str, price: &str| RuleForm {
            allowed: !allowed.is_empty(),
            max: max.into(),
            chips: chips.into(),
            until: until.into(),
            price: price.into(),
        };
        self.reentry = take(
            &self.reentry_allowed,
            &self.reentry_max,
            &self.reentry_chips,
            &self.reentry_until,
            &self.reentry_price,
        );
        self.rebuy = take(
            &self.rebuy_allowed,
            &self.rebuy_max,
            &self.rebuy_chips,
            &self.rebuy_until,
            &self.rebuy_price,
        );
        self.addon = take(
            &self.addon_allowed,
            &self.addon_max,
            &self.addon_chips,
            &self.addon_until,
            &self.addon_price,
        );
    }

    fn rule(title: &str, r: &RuleForm) -> Result<EntryRule, String> {
        let blank_zero = |v: &str| {
            if v.trim().is_empty() {
                "0".to_string()
            } else {
                v.to_string()
            }
        };
        Ok(EntryRule {
            allowed: r.allowed,
            max: maybe(&format!("{title} per entry"), &r.max)?,
            chips: number(&format!("{title} chips"), &blank_zero(&r.chips))?,
            until_level: maybe(&format!("{title} until level"), &r.until)?,
            price: number(&format!("{title} price"), &blank_zero(&r.price))?,
        })
    }

    fn structure(&self) -> Result<Structure, String> {
        let steps = parse_steps(&self.steps)?;
        Ok(Structure {
            name: self.name.trim().to_owned(),
            steps,
            starting_stack: number("Starting stack", &self.starting_stack)?,
            late_reg_until_level: maybe("Late registration", &self.late_reg_until_level)?,
            reentry: Self::rule("Re-entry", &self.reentry)?,
            rebuy: Self::rule("Rebuy", &self.rebuy)?,
            addon: Self::rule("Add-on", &self.addon)?,
            buy_in: number(
                "Buy-in",
                if self.buy_in.trim().is_empty() {
                    "0"
                } else {
                    &self.buy_in
                },
            )?,
            fee: number(
                "Fee",
                if self.fee.trim().is_empty() {
                    "0"
                } else {
                    &self.fee
                },
            )?,
            guarantee: number(
                "Guarantee",
                if self.guarantee.trim().is_empty() {
                    "0"
                } else {
                    &self.guarantee
                },
            )?,
            at_end: if self.at_end == "stop" {
                AtEnd::Stop
            } else {
                AtEnd::RepeatLastLevel
            },
            allow_decreasing_blinds: !self.allow_decreasing_blinds.is_empty(),
            payouts: payouts(&self.payouts)?,
        })
    }
}

async fn save(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    csrf: CsrfToken,
    form: FormResult<StructureForm>,
) -> Result<Response, ApiError> {
    let Form(mut f) = form?;
    f.rules();
    let who = who.principal();
    let structure = match f.structure() {
        Ok(st) => st,
        Err(m) => {
            return editor(
                &s,
                who,
                &csrf,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&m),
                &f,
            )
            .await
        }
    };
    let saved = run_parsed(Ok(structure), |structure| {
        ops::tournaments::save_template(&s.log, who.actor(), structure)
    })
    .await;
    match saved {
        Ok(()) => Ok(Redirect::to("/structures").into_response()),
        Err((status, m)) => editor(&s, who, &csrf, status, Some(&m), &f).await,
    }
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    #[serde(default)]
    name: String,
}

async fn delete(
    State(s): State<AppState>,
    who: Require<TournamentsManage>,
    form: FormResult<DeleteForm>,
) -> Result<Response, ApiError> {
    let Form(f) = form?;
    ops::tournaments::delete_template(&s.log, who.principal().actor(), f.name).await?;
    Ok(Redirect::to("/structures").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_structure_goes_through_the_form_and_back_unchanged() {
        for t in templates() {
            let mut f = StructureForm::from(&t);
            f.reentry_allowed = if t.reentry.allowed {
                "1".into()
            } else {
                String::new()
            };
            let r = &f.reentry;
            (
                f.reentry_max,
                f.reentry_chips,
                f.reentry_until,
                f.reentry_price,
            ) = (
                r.max.clone(),
                r.chips.clone(),
                r.until.clone(),
                r.price.clone(),
            );
            for (allowed, rule, prefix) in [
                (t.rebuy.allowed, &t.rebuy, "rebuy"),
                (t.addon.allowed, &t.addon, "addon"),
            ] {
                let rf = RuleForm::from(rule);
                let flag = if allowed {
                    "1".to_string()
                } else {
                    String::new()
                };
                if prefix == "rebuy" {
                    (
                        f.rebuy_allowed,
                        f.rebuy_max,
                        f.rebuy_chips,
                        f.rebuy_until,
                        f.rebuy_price,
                    ) = (flag, rf.max, rf.chips, rf.until, rf.price);
                } else {
                    (
                        f.addon_allowed,
                        f.addon_max,
                        f.addon_chips,
                        f.addon_until,
                        f.addon_price,
                    ) = (flag, rf.max, rf.chips, rf.until, rf.price);
                }
            }
            f.rules();
            assert_eq!(f.structure().as_ref(), Ok(&t), "{}", t.name);
        }
    }

    #[test]
    fn payouts_are_read_as_percentages() {
        assert_eq!(payouts("50 30 20"), Ok(vec![500, 300, 200]));
        assert_eq!(payouts("45.5%, 30, 24.5"), Ok(vec![455, 300, 245]));
        assert_eq!(payouts(""), Ok(vec![]));
        assert!(payouts("33.33 33.33").is_err());
        assert!(payouts("fifty").is_err());
    }
}
