//! The player directory page (floor and up): find a player by name,
//! nickname or phone, add one, correct one. Every change goes through
//! `ops::players`, as the API's does; a refused form comes back as typed
//! with the field named, and a saved one says what happened.

use super::auth::{CsrfToken, Players, Require};
use super::error::ApiError;
use super::page::{csrf_field, layout, redirect_saying, Flash, FormResult};
use super::AppState;
use crate::auth::Principal;
use crate::ops;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use pvm_shared::players::{Player, PlayerDetails};
use pvm_shared::words::count;
use serde::Deserialize;
use uuid::Uuid;

/// Players shown at once; a search narrows the rest.
const SHOWN: usize = 100;
/// The longest search kept (a name, a phone number or an address fits).
const MAX_QUERY: usize = 120;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/players", get(directory).post(add))
        .route("/players/{id}", post(save))
}

#[derive(Debug, Default, Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

/// A player's fields as typed (kept when the form comes back refused).
#[derive(Debug, Default, Clone, Deserialize)]
struct DetailsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    notes: String,
}

impl DetailsForm {
    fn of(p: &Player) -> DetailsForm {
        DetailsForm {
            name: p.name.clone(),
            nickname: p.nickname.clone().unwrap_or_default(),
            phone: p.phone.clone().unwrap_or_default(),
            email: p.email.clone().unwrap_or_default(),
            notes: p.notes.clone(),
        }
    }

    /// An empty optional field is "none"; `ops` checks the rest.
    fn details(&self) -> PlayerDetails {
        let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        PlayerDetails {
            name: self.name.clone(),
            nickname: optional(&self.nickname),
            phone: optional(&self.phone),
            email: optional(&self.email),
            notes: self.notes.clone(),
        }
    }
}

/// The fields of a player's form, filled with `typed`.
fn fields(typed: &DetailsForm) -> Markup {
    html! {
        label { "Name" input name="name" value=(typed.name) required maxlength="80" autocomplete="off" placeholder="Dana Ellis"; }
        label { "Nickname (what screens show, if set)" input name="nickname" value=(typed.nickname) maxlength="30" autocomplete="off"; }
        label { "Phone" input name="phone" type="tel" value=(typed.phone) maxlength="30" autocomplete="off"; }
        label { "Email" input name="email" type="email" value=(typed.email) maxlength="120" autocomplete="off"; }
        label { "Notes (staff only)" textarea name="notes" maxlength="1000" rows="2" { (typed.notes) } }
    }
}

/// What the page shows besides the list: a refused form comes back open,
/// as typed.
#[derive(Debug, Default)]
struct Typed {
    new: DetailsForm,
    /// A player whose edit was refused, and what was typed for them.
    edit: Option<(Uuid, DetailsForm)>,
}

fn player_card(p: &Player, csrf: &CsrfToken, edit: Option<&DetailsForm>) -> Markup {
    let typed = edit.cloned().unwrap_or_else(|| DetailsForm::of(p));
    let contact: Vec<&str> = [p.phone.as_deref(), p.email.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    html! {
        li.table id=(format!("player-{}", p.id)) {
            div.summary {
                span.name { (p.name) }
                @if let Some(n) = &p.nickname { span.game { "“" (n) "”" } }
                @if !contact.is_empty() { span.seats { (contact.join(" · ")) } }
            }
            @if !p.notes.is_empty() { p.meta { (p.notes) } }
            details open[edit.is_some()] {
                summary { "Edit" }
                form method="post" action=(format!("/players/{}", p.id)) {
                    (csrf_field(csrf))
                    (fields(&typed))
                    button type="submit" { "Save" }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn render(
    s: &AppState,
    who: &Principal,
    csrf: &CsrfToken,
    status: StatusCode,
    q: &str,
    notice: Option<String>,
    error: Option<&str>,
    typed: &Typed,
) -> Result<Response, ApiError> {
    let settings = s.reader.settings().await?;
    let state = s.log.venue();
    let total = state.players.len();
    let q: String = q.trim().chars().take(MAX_QUERY).collect();
    let mut found = ops::players::find(&state, &q);
    // A player whose edit was refused comes first, whatever the search and
    // however long the directory, so what was typed is on the page.
    if let Some((id, _)) = &typed.edit {
        found.retain(|p| p.id != *id);
        if let Some(p) = state.players.get(id) {
            found.insert(0, p);
        }
    }
    let more = found.len().saturating_sub(SHOWN);
    let body = html! {
        @if let Some(n) = &notice { p.notice role="status" { (n) } }
        h1 { "Players " small { (count(total as u64, "player", "players")) } }
        form.inline method="get" action="/players" role="search" {
            label { "Find" input name="q" type="search" value=(q) maxlength=(MAX_QUERY) placeholder="name, nickname or phone"; }
            button.secondary type="submit" { "Find" }
            @if !q.is_empty() { a href="/players" { "Show all" } }
        }
        @if found.is_empty() {
            p.meta { @if q.is_empty() { "No players yet: add the first below, or add a walk-in from a waiting list." } @else { "No player answers to “" (q) "”." } }
        }
        ul.tables {
            @for p in found.iter().take(SHOWN) {
                (player_card(p, csrf, typed.edit.as_ref().filter(|(id, _)| *id == p.id).map(|(_, t)| t)))
            }
        }
        @if more > 0 { p.meta { (count(more as u64, "more player", "more players")) " not shown: search to narrow." } }
        section.new {
            h2 { "New player" }
            form method="post" action="/players" {
                (csrf_field(csrf))
                (fields(&typed.new))
                button type="submit" { "Add player" }
            }
        }
    };
    Ok((status, layout(&settings, who, csrf, "Players", error, body)).into_response())
}

async fn directory(
    State(s): State<AppState>,
    who: Require<Players>,
    csrf: CsrfToken,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Result<Response, ApiError> {
    let flash = Flash::take(&headers, "/players");
    let page = render(
        &s,
        who.principal(),
        &csrf,
        StatusCode::OK,
        &search.q,
        flash.text().map(String::from),
        None,
        &Typed::default(),
    )
    .await?;
    Ok(flash.spend(page))
}

async fn add(
    State(s): State<AppState>,
    who: Require<Players>,
    csrf: CsrfToken,
    form: FormResult<DetailsForm>,
) -> Result<Response, ApiError> {
    let Form(typed) = form?;
    let who = who.principal();
    match ops::players::create(&s.log, who.actor(), typed.details()).await {
        Ok(p) => Ok(redirect_saying(
            "/players",
            "/players",
            &format!("{} added to the directory.", p.name),
        )),
        Err(e) => {
            let e = ApiError::from(e);
            let typed = Typed {
                new: typed,
                edit: None,
            };
            render(&s, who, &csrf, e.status, "", None, Some(&e.message), &typed).await
        }
    }
}

async fn save(
    State(s): State<AppState>,
    who: Require<Players>,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    form: FormResult<DetailsForm>,
) -> Result<Response, ApiError> {
    let Form(typed) = form?;
    let who = who.principal();
    match ops::players::update(&s.log, who.actor(), id, typed.details()).await {
        Ok(p) => Ok(redirect_saying(
            "/players",
            "/players",
            &format!("{} saved.", p.name),
        )),
        Err(e) => {
            let e = ApiError::from(e);
            let named = s
                .log
                .venue()
                .players
                .get(&id)
                .map(|p| format!("{}: {}", p.name, e.message))
                .unwrap_or(e.message);
            let typed = Typed {
                new: DetailsForm::default(),
                edit: Some((id, typed)),
            };
            render(&s, who, &csrf, e.status, "", None, Some(&named), &typed).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_optional_fields_are_none_and_the_rest_is_kept_for_ops_to_check() {
        let typed = DetailsForm {
            name: "  Dana ".into(),
            nickname: " ".into(),
            phone: "555 0100".into(),
            email: String::new(),
            notes: "regular".into(),
        };
        let d = typed.details();
        assert_eq!(d.name, "  Dana ");
        assert_eq!(d.nickname, None);
        assert_eq!(d.phone.as_deref(), Some("555 0100"));
        assert_eq!(d.email, None);
    }
}
