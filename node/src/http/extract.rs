//! What every API handler takes and gives: extractors whose rejections are
//! in the API's error format, and `Done`, the answer of an action. Uses
//! `error` only; every feature module may use it.

use super::error::ApiError;
use crate::store::Committed;
use axum::extract::{FromRequest, FromRequestParts};
use serde::Serialize;
use utoipa::ToSchema;

/// JSON bodies, with rejections in the API's error format.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

/// Path parameters, with rejections in the API's error format.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

/// Query parameters, with rejections in the API's error format.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// What an action did: the seq of the event it appended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub seq: u64,
}

impl From<Committed> for Done {
    fn from(c: Committed) -> Self {
        Done { seq: c.seq }
    }
}
