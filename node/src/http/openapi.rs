//! The node's OpenAPI document: every feature module's operations merged,
//! and the `bearer` scheme whose scopes name the permissions. It uses the
//! feature modules; none of them uses it.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi))
}

/// Declares the `bearer` scheme. Operations name the permission they need as
/// its scope (`security: [{bearer: ["tables:operate"]}]`); public ones say `security: [{}]`.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (EdDSA) or pvm_key_… API key")
                    .description(Some("The scope names the permission an operation needs; see docs/AUTH.md for which role holds it."))
                    .build(),
            ),
        );
    }
}

/// The whole document: every feature module's operations, and the scheme.
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    use utoipa::Modify;
    let mut doc = super::api::ApiDoc::openapi();
    BearerAuth.modify(&mut doc);
    doc.merge(super::account::AccountDoc::openapi());
    doc.merge(super::cash::CashDoc::openapi());
    doc.merge(super::tournaments::TournamentDoc::openapi());
    doc.merge(super::tournament_field::FieldDoc::openapi());
    doc.merge(super::displays::DisplayDoc::openapi());
    doc.merge(super::display_feed::DisplayFeedDoc::openapi());
    doc
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_doc())
}
