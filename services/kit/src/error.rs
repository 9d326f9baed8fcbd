//! One table of error kinds, mapped to both gRPC and HTTP, so every service and
//! the gateway agree on what a failure means.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use tonic::Code;

/// Metadata key that carries the structured error across gRPC.
pub const ERROR_METADATA_KEY: &str = "x-aerostic-error-bin";

/// The broad class of a failure; decides the gRPC code and the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or a field is invalid.
    InvalidArgument,
    /// No valid credentials.
    Unauthenticated,
    /// Authenticated, but not allowed.
    PermissionDenied,
    /// The thing does not exist (or belongs to another tenant).
    NotFound,
    /// The thing already exists.
    AlreadyExists,
    /// The state of the system forbids this now.
    FailedPrecondition,
    /// The wallet does not cover what was asked (HTTP 402; gRPC shares
    /// `FAILED_PRECONDITION`, and the carried error keeps the kind).
    PaymentRequired,
    /// Too many requests; retry later.
    RateLimited,
    /// Not built yet (owned by a later issue).
    Unimplemented,
    /// A dependency is down; retry later.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

/// Every kind with its gRPC code and HTTP status: the single source of truth.
const TABLE: &[(ErrorKind, Code, StatusCode)] = &[
    (
        ErrorKind::InvalidArgument,
        Code::InvalidArgument,
        StatusCode::BAD_REQUEST,
    ),
    (
        ErrorKind::Unauthenticated,
        Code::Unauthenticated,
        StatusCode::UNAUTHORIZED,
    ),
    (
        ErrorKind::PermissionDenied,
        Code::PermissionDenied,
        StatusCode::FORBIDDEN,
    ),
    (ErrorKind::NotFound, Code::NotFound, StatusCode::NOT_FOUND),
    (
        ErrorKind::AlreadyExists,
        Code::AlreadyExists,
        StatusCode::CONFLICT,
    ),
    (
        ErrorKind::FailedPrecondition,
        Code::FailedPrecondition,
        StatusCode::UNPROCESSABLE_ENTITY,
    ),
    (
        ErrorKind::PaymentRequired,
        Code::FailedPrecondition,
        StatusCode::PAYMENT_REQUIRED,
    ),
    (
        ErrorKind::RateLimited,
        Code::ResourceExhausted,
        StatusCode::TOO_MANY_REQUESTS,
    ),
    (
        ErrorKind::Unimplemented,
        Code::Unimplemented,
        StatusCode::NOT_IMPLEMENTED,
    ),
    (
        ErrorKind::Unavailable,
        Code::Unavailable,
        StatusCode::SERVICE_UNAVAILABLE,
    ),
    (
        ErrorKind::Internal,
        Code::Internal,
        StatusCode::INTERNAL_SERVER_ERROR,
    ),
];

impl ErrorKind {
    fn row(self) -> &'static (ErrorKind, Code, StatusCode) {
        TABLE
            .iter()
            .find(|row| row.0 == self)
            .expect("every kind is in TABLE")
    }

    /// The gRPC status code for this kind.
    pub fn grpc_code(self) -> Code {
        self.row().1
    }

    /// The HTTP status for this kind.
    pub fn http_status(self) -> StatusCode {
        self.row().2
    }

    /// The kind a gRPC code stands for (codes outside the table are internal).
    pub fn from_grpc_code(code: Code) -> Self {
        match code {
            Code::DeadlineExceeded | Code::Unavailable | Code::Cancelled => ErrorKind::Unavailable,
            Code::OutOfRange => ErrorKind::InvalidArgument,
            Code::Aborted => ErrorKind::FailedPrecondition,
            other => TABLE
                .iter()
                .find(|row| row.1 == other)
                .map(|row| row.0)
                .unwrap_or(ErrorKind::Internal),
        }
    }

    /// The generic reason code used when no more precise one is given.
    pub fn default_code(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::PaymentRequired => "payment_required",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unimplemented => "unimplemented",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A failure as every layer reports it: kind, a stable reason code, a message
/// for people, and per-field details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Decides the gRPC code and HTTP status.
    pub kind: ErrorKind,
    /// Stable snake_case reason, e.g. `email_taken`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Field name to what is wrong with it (empty when not about fields).
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

impl ApiError {
    /// An error of `kind` with a precise reason code.
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: code.into(),
            message: message.into(),
            details: BTreeMap::new(),
        }
    }

    /// Adds a field detail.
    pub fn with_detail(mut self, field: impl Into<String>, problem: impl Into<String>) -> Self {
        self.details.insert(field.into(), problem.into());
        self
    }

    /// `validation_failed` listing every bad field.
    pub fn validation(details: BTreeMap<String, String>) -> Self {
        let fields: Vec<&str> = details.keys().map(String::as_str).collect();
        Self {
            kind: ErrorKind::InvalidArgument,
            code: "validation_failed".into(),
            message: format!("invalid fields: {}", fields.join(", ")),
            details,
        }
    }

    /// `validation_failed` for one bad field.
    pub fn invalid_field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::validation(BTreeMap::from([(field.into(), problem.into())]))
    }

    /// An internal error; the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorKind::Internal,
            "internal",
            "an internal error occurred",
        )
    }

    /// An RPC a later issue owns.
    pub fn unimplemented(what: &str) -> Self {
        Self::new(
            ErrorKind::Unimplemented,
            "unimplemented",
            format!("{what} is not available yet"),
        )
    }

    /// A dependency is unreachable.
    pub fn unavailable(what: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "unavailable",
            format!("{what} is unavailable"),
        )
    }
}

impl From<ApiError> for tonic::Status {
    fn from(err: ApiError) -> Self {
        let mut status = tonic::Status::new(err.kind.grpc_code(), err.message.clone());
        // Binary metadata, so messages and details may hold any UTF-8.
        if let Ok(json) = serde_json::to_vec(&err) {
            status.metadata_mut().insert_bin(
                ERROR_METADATA_KEY,
                tonic::metadata::MetadataValue::from_bytes(&json),
            );
        }
        status
    }
}

/// One item's error inside a batch answer (billing's `ReserveMany`): the same
/// kind, code, message and details a whole call's error carries.
impl From<ApiError> for aerostic_proto::v1::Refusal {
    fn from(err: ApiError) -> Self {
        let kind = serde_json::to_value(err.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Self {
            kind,
            detail: Some(aerostic_proto::v1::ErrorDetail {
                code: err.code,
                message: err.message,
                fields: err.details.into_iter().collect(),
            }),
        }
    }
}

impl From<aerostic_proto::v1::Refusal> for ApiError {
    fn from(refusal: aerostic_proto::v1::Refusal) -> Self {
        // A kind this version does not know is reported as internal.
        let kind = serde_json::from_value(serde_json::Value::String(refusal.kind))
            .unwrap_or(ErrorKind::Internal);
        let detail = refusal.detail.unwrap_or_default();
        let code = if detail.code.is_empty() {
            kind.default_code().to_string()
        } else {
            detail.code
        };
        Self {
            kind,
            code,
            message: detail.message,
            details: detail.fields.into_iter().collect(),
        }
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let carried = status
            .metadata()
            .get_bin(ERROR_METADATA_KEY)
            .and_then(|v| v.to_bytes().ok())
            .and_then(|b| serde_json::from_slice::<ApiError>(&b).ok());
        if let Some(err) = carried {
            return err;
        }
        let kind = ErrorKind::from_grpc_code(status.code());
        let message = match kind {
            // Transport failures say which upstream without leaking internals.
            ErrorKind::Unavailable => "an upstream service is unavailable".to_string(),
            ErrorKind::Internal => "an internal error occurred".to_string(),
            _ => status.message().to_string(),
        };
        ApiError::new(kind, kind.default_code(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_a_code_and_back() {
        for (i, (kind, code, _)) in TABLE.iter().enumerate() {
            assert_eq!(kind.grpc_code(), *code);
            // A code shared by two kinds comes back as the first of them
            // when no error travels with it.
            let first = TABLE.iter().position(|row| row.1 == *code).unwrap();
            assert_eq!(ErrorKind::from_grpc_code(*code), TABLE[first].0);
            if first == i {
                assert_eq!(ErrorKind::from_grpc_code(*code), *kind);
            }
        }
    }

    #[test]
    fn a_batch_items_error_keeps_its_kind_code_and_details() {
        let err = ApiError::new(
            ErrorKind::PaymentRequired,
            "insufficient_funds",
            "the wallet holds 3 of the 5 this costs",
        )
        .with_detail("balance_minor", "3")
        .with_detail("price_minor", "5");
        let refusal = aerostic_proto::v1::Refusal::from(err.clone());
        assert_eq!(refusal.kind, "payment_required");
        let back = ApiError::from(refusal);
        assert_eq!(back, err);
        assert_eq!(back.kind.http_status(), StatusCode::PAYMENT_REQUIRED);
        let unknown = ApiError::from(aerostic_proto::v1::Refusal {
            kind: "from_a_newer_version".into(),
            detail: None,
        });
        assert_eq!(
            (unknown.kind, unknown.code.as_str()),
            (ErrorKind::Internal, "internal")
        );
    }

    #[test]
    fn a_precise_error_survives_the_trip_through_grpc() {
        let err = ApiError::new(
            ErrorKind::AlreadyExists,
            "email_taken",
            "that email is registered",
        )
        .with_detail("email", "taken");
        let back = ApiError::from(tonic::Status::from(err.clone()));
        assert_eq!(back, err);
        assert_eq!(back.kind.http_status(), StatusCode::CONFLICT);
    }

    #[test]
    fn a_bare_status_becomes_a_generic_error_of_its_kind() {
        let back = ApiError::from(tonic::Status::unavailable("connection refused"));
        assert_eq!(back.kind, ErrorKind::Unavailable);
        assert_eq!(back.code, "unavailable");
    }
}
