//! The one error every API handler answers with: an HTTP status and
//! `{"error":{"code","message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub struct ApiError(pub StatusCode, pub &'static str, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = %e, "internal error");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the hub could not do that; see its log".into(),
        )
    }
}

impl From<libsql::Error> for ApiError {
    fn from(e: libsql::Error) -> Self {
        anyhow::Error::from(e).into()
    }
}

pub fn bad(code: &'static str, m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, code, m.into())
}

/// A JSON request body whose rejection (not JSON, no JSON content type,
/// wrong fields, too large) answers in the API's error shape, not plain text.
pub struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => {
                let status = e.status();
                let code = match status {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                    StatusCode::UNPROCESSABLE_ENTITY => "invalid",
                    _ => "bad_request",
                };
                Err(ApiError(status, code, e.body_text()))
            }
        }
    }
}

/// Path parameters whose rejection (a path that does not parse, such as a
/// venue id that is no uuid) answers 404 in the API's error shape: such a
/// path names nothing.
pub struct PathOf<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for PathOf<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PathOf(v)),
            Err(e) => Err(ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("nothing at this path: {}", e.body_text()),
            )),
        }
    }
}
