//! A JSON body extractor whose every failure is one of our documented errors.

use aerostic_kit::{ApiError, ErrorKind};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::GatewayError;

/// Most bytes a JSON body may have, unless its route says otherwise.
pub const MAX_BODY: usize = 64 * 1024;

/// A request body parsed as `T`, of at most `MAX` bytes.
pub struct ApiJson<T, const MAX: usize = MAX_BODY>(pub T);

impl<S: Send + Sync, T: DeserializeOwned, const MAX: usize> FromRequest<S> for ApiJson<T, MAX> {
    type Rejection = GatewayError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorKind::InvalidArgument,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            ApiError::new(
                ErrorKind::InvalidArgument,
                "body_unreadable",
                "the request body could not be read",
            )
        })?;
        if bytes.len() > MAX {
            return Err(ApiError::new(
                ErrorKind::InvalidArgument,
                "body_too_large",
                format!("the body is over {} KiB", MAX / 1024),
            )
            .into());
        }
        // Syntax first, so a truncated body is `malformed_json` whatever its shape.
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| {
            ApiError::new(
                ErrorKind::InvalidArgument,
                "malformed_json",
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(shape_error)?;
        Ok(ApiJson(value))
    }
}

/// A body (or a part of one) that is not the expected shape, as
/// `validation_failed` naming the field that is wrong (`body`: the whole).
pub fn shape_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let field = if path == "." {
        "body".to_string()
    } else {
        path
    };
    ApiError::invalid_field(field, e.into_inner().to_string())
}
