//! The waiting-list rules page (managers): how long a called player has,
//! what a no-show costs, whether a seat takes a player off every list, and
//! how many waiting players make a new table worth starting. Saved through
//! `ops::cash`, as the API's policy is; a refused form comes back as typed
//! with the field named.

use super::auth::{CashManage, CsrfToken, Require};
use super::error::ApiError;
use super::page::{csrf_field, layout, redirect_saying, refusal, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops::{self, cash::Action};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::html;
use pvm_shared::cash::{CashPolicy, NoShowPolicy};
use pvm_shared::venue::DomainError;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/cash/rules", get(rules_page).post(save))
}

/// The form as typed.
#[derive(Debug, Clone, Deserialize)]
struct RulesForm {
    #[serde(default)]
    call_minutes: String,
    #[serde(default)]
    call_seconds: String,
    /// "drop" or "move-down".
    #[serde(default)]
    no_show: String,
    #[serde(default)]
    places: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    seat_removes_other_lists: Option<String>,
    #[serde(default)]
    new_table_at: String,
}

impl RulesForm {
    fn of(p: &CashPolicy) -> RulesForm {
        let (no_show, places) = match p.no_show {
            NoShowPolicy::Drop => ("drop", 2),
            NoShowPolicy::MoveDown { places } => ("move-down", places),
        };
        RulesForm {
            call_minutes: (p.call_timeout_secs / 60).to_string(),
            call_seconds: (p.call_timeout_secs % 60).to_string(),
            no_show: no_show.into(),
            places: places.to_string(),
            seat_removes_other_lists: p.seat_removes_other_lists.then(|| "on".into()),
            new_table_at: p.new_table_at.to_string(),
        }
    }

    /// The rules, or what is wrong, naming the field as the page does.
    fn policy(&self) -> Result<CashPolicy, String> {
        let whole = |raw: &str, empty: u32| match raw.trim() {
            "" => Some(empty),
            t => t.parse::<u32>().ok(),
        };
        let call = match (whole(&self.call_minutes, 0), whole(&self.call_seconds, 0)) {
            (Some(m), Some(s)) if s < 60 => m.checked_mul(60).and_then(|m| m.checked_add(s)),
            _ => None,
        }
        .ok_or("Call timer: whole minutes, and seconds under 60")?;
        let no_show = match self.no_show.as_str() {
            "drop" => NoShowPolicy::Drop,
            "move-down" => NoShowPolicy::MoveDown {
                places: self
                    .places
                    .trim()
                    .parse()
                    .map_err(|_| "No-show, places down: a whole number from 1 to 255")?,
            },
            _ => return Err("No-show: take them off the list, or move them down".into()),
        };
        let new_table_at = self
            .new_table_at
            .trim()
            .parse()
            .map_err(|_| "New table at: a whole number of waiting players")?;
        let policy = CashPolicy {
            call_timeout_secs: call,
            no_show,
            seat_removes_other_lists: self.seat_removes_other_lists.is_some(),
            new_table_at,
        };
        // The ranges are the domain's (`CashPolicy::checked`), named as the
        // page names the fields.
        policy.checked().map_err(|e| match e {
            DomainError::Invalid { field, reason } => {
                let label = match field {
                    "call_timeout_secs" => "Call timer",
                    "no_show" => "No-show, places down",
                    "new_table_at" => "New table at",
                    other => other,
                };
                format!("{label}: {reason}")
            }
            other => other.to_string(),
        })
    }
}

/// The rules in a sentence, for the message after saving.
fn said(p: &CashPolicy) -> String {
    let call = match (p.call_timeout_secs / 60, p.call_timeout_secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    };
    let no_show = match p.no_show {
        NoShowPolicy::Drop => "a no-show leaves the list".to_owned(),
        NoShowPolicy::MoveDown { places: 1 } => "a no-show moves down 1 place".to_owned(),
        NoShowPolicy::MoveDown { places } => format!("a no-show moves down {places} places"),
    };
    format!(
        "List rules saved: {call} to reach the table, {no_show}, a seat {} other lists, a new table at {} waiting.",
        if p.seat_removes_other_lists { "clears" } else { "keeps" },
        p.new_table_at
    )
}

async fn render(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
    typed: &RulesForm,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let move_down = typed.no_show == "move-down";
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        h1 { "List rules" }
        p.meta { "How every waiting list runs. A change applies to calls made from now on." }
        section.new {
            form.rules method="post" action="/cash/rules" {
                (csrf_field(csrf))
                fieldset {
                    legend { "Call timer: how long a called player has to reach the table" }
                    label { "Minutes" input name="call_minutes" type="number" min="0" max="60" value=(typed.call_minutes) inputmode="numeric"; }
                    label { "Seconds" input name="call_seconds" type="number" min="0" max="59" value=(typed.call_seconds) inputmode="numeric"; }
                }
                fieldset {
                    legend { "A called player who does not come" }
                    label.check { input type="radio" name="no_show" value="drop" checked[!move_down]; " is taken off the list" }
                    label.check { input type="radio" name="no_show" value="move-down" checked[move_down]; " moves down the list, to be called again" }
                    label { "Places down" input name="places" type="number" min="1" max="255" value=(typed.places) inputmode="numeric"; }
                }
                label.check { input type="checkbox" name="seat_removes_other_lists" checked[typed.seat_removes_other_lists.is_some()]; " Seating a player takes them off every other list too" }
                label { "Start a new table when this many are waiting (2 to 10)" input name="new_table_at" type="number" min="2" max="10" value=(typed.new_table_at) inputmode="numeric"; }
                button type="submit" { "Save rules" }
                " " a href="/cash" { "Back to the lists" }
            }
        }
    };
    Ok((
        status,
        layout(&settings, who, csrf, "List rules", error, body),
    )
        .into_response())
}

async fn rules_page(
    State(s): State<AppState>,
    who: Require<CashManage>,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    // Saving goes back to the board, which says what was saved.
    let typed = RulesForm::of(&s.log.venue().cash.policy);
    render(
        &s,
        who.principal(),
        &csrf,
        StatusCode::OK,
        None,
        None,
        &typed,
    )
    .await
}

async fn save(
    State(s): State<AppState>,
    who: Require<CashManage>,
    csrf: CsrfToken,
    form: FormResult<RulesForm>,
) -> Result<Response, ApiError> {
    let Form(typed) = form?;
    let who = who.principal();
    let (status, message) = match typed.policy() {
        Ok(policy) => {
            let action = Action::SetPolicy(policy);
            match ops::cash::act(&s.log, who.actor(), s.clock.now_ms(), action).await {
                Ok(_) => {
                    return Ok(redirect_saying("/cash", "/cash", &said(&policy)));
                }
                Err(e) => refusal(e),
            }
        }
        Err(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
    };
    render(&s, who, &csrf, status, None, Some(&message), &typed).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_back_the_rules_it_shows() {
        for p in [
            CashPolicy::default(),
            CashPolicy {
                call_timeout_secs: 95,
                no_show: NoShowPolicy::MoveDown { places: 3 },
                seat_removes_other_lists: false,
                new_table_at: 10,
            },
        ] {
            assert_eq!(RulesForm::of(&p).policy(), Ok(p));
        }
    }

    #[test]
    fn a_bad_field_is_named() {
        let good = RulesForm::of(&CashPolicy::default());
        let with = |f: fn(&mut RulesForm)| {
            let mut t = good.clone();
            f(&mut t);
            t.policy().expect_err("refused")
        };
        assert!(with(|t| t.call_minutes = "61".into()).starts_with("Call timer"));
        assert!(with(|t| {
            t.call_minutes = "0".into();
            t.call_seconds = "10".into()
        })
        .starts_with("Call timer"));
        assert!(with(|t| t.call_seconds = "75".into()).starts_with("Call timer"));
        assert!(with(|t| {
            t.no_show = "move-down".into();
            t.places = "0".into()
        })
        .starts_with("No-show"));
        assert!(with(|t| t.no_show = "explode".into()).starts_with("No-show"));
        assert!(with(|t| t.new_table_at = "11".into()).starts_with("New table"));
    }
}
