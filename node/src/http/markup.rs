//! The HTML every page starts with, and the page that only says something
//! (a refusal, a missing page). Uses nothing else in `http`, so `auth` and
//! the page kit can both build on it.

use maud::{html, Markup, DOCTYPE};

pub(super) fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href="/static/staff.css";
            link rel="stylesheet" href="/brand.css";
        }
    }
}

/// A page with just a message, for refusals outside the normal pages.
pub fn message_page(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { main.narrow { h1 { (title) } p { (message) } p { a href="/" { "Back to the tables" } } } }
        }
    }
}
