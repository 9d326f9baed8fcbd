//! REST errors: one shape, statuses from the kit's table.

use aerostic_kit::{ApiError, ErrorKind};
use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Every REST error: `{"error":{"code","message","details"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case reason to branch on, e.g. `email_taken`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Field name to what is wrong with it (empty when not about fields).
    pub details: BTreeMap<String, String>,
}

impl From<&ApiError> for ErrorBody {
    fn from(e: &ApiError) -> Self {
        Self {
            error: ErrorDetail {
                code: e.code.clone(),
                message: e.message.clone(),
                details: e.details.clone(),
            },
        }
    }
}

/// An [`ApiError`] on its way out as JSON.
#[derive(Debug)]
pub struct GatewayError(pub ApiError);

impl From<ApiError> for GatewayError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<tonic::Status> for GatewayError {
    fn from(status: tonic::Status) -> Self {
        Self(ApiError::from(status))
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.0.kind.http_status();
        let mut response = (status, Json(ErrorBody::from(&self.0))).into_response();
        if self.0.kind == ErrorKind::RateLimited {
            let retry = self
                .0
                .details
                .get("retry_after_secs")
                .cloned()
                .unwrap_or_else(|| "1".into());
            if let Ok(value) = retry.parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Any path we do not serve.
pub async fn not_found() -> GatewayError {
    GatewayError(ApiError::new(
        ErrorKind::NotFound,
        "route_not_found",
        "no such endpoint",
    ))
}

/// A known path with the wrong method.
pub async fn method_not_allowed() -> Response {
    let err = ApiError::new(
        ErrorKind::InvalidArgument,
        "method_not_allowed",
        "this endpoint does not accept that method",
    );
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        Json(ErrorBody::from(&err)),
    )
        .into_response()
}
