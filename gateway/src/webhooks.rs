//! `/webhooks/meta`: Meta's callback. `GET` answers the verification with
//! the raw challenge; `POST` checks `X-Hub-Signature-256` over the exact
//! bytes received, in constant time, and hands them to the dispatcher, which
//! answers only once they are durably stored. 200 goes back to Meta only
//! then; any failure is a 5xx, so Meta retries.

use aerostic_kit::config::MetaConfig;
use aerostic_kit::{ApiError, ErrorKind};
use aerostic_proto::v1 as pb;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::openapi::ServerErrors;
use crate::{AppState, GatewayError};

/// Most bytes a webhook may have (Meta's limit is 3 MB).
pub const MAX_WEBHOOK_BYTES: usize = 3 * 1024 * 1024;

/// What checks Meta's webhooks: the app secret and the verify token.
#[derive(Clone, Default)]
pub struct WebhookKeys {
    app_secret: Vec<u8>,
    verify_token: String,
}

impl WebhookKeys {
    /// The keys of the Meta app `meta` describes.
    pub fn of(meta: &MetaConfig) -> Self {
        Self {
            app_secret: meta.app_secret.as_bytes().to_vec(),
            verify_token: meta.webhook_verify_token.clone(),
        }
    }

    /// Whether `signature` (`sha256=<hex>`) is the HMAC of `body`, compared
    /// in constant time.
    fn signed(&self, body: &[u8], signature: &str) -> bool {
        let Some(digest) = signature
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h.trim()).ok())
        else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.app_secret).expect("HMAC takes any key length");
        mac.update(body);
        mac.verify_slice(&digest).is_ok()
    }
}

/// Meta's verification query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Verification {
    /// `subscribe`.
    #[serde(rename = "hub.mode", default)]
    #[param(rename = "hub.mode")]
    mode: String,
    /// Echoed back as the body when the token matches.
    #[serde(rename = "hub.challenge", default)]
    #[param(rename = "hub.challenge")]
    challenge: String,
    /// The platform's verify token.
    #[serde(rename = "hub.verify_token", default)]
    #[param(rename = "hub.verify_token")]
    verify_token: String,
}

fn rejected(kind: ErrorKind, code: &str, message: &str, reason: &'static str) -> GatewayError {
    metrics::counter!("aerostic_webhook_rejections_total", "reason" => reason).increment(1);
    tracing::warn!(reason, "a Meta webhook request was rejected");
    ApiError::new(kind, code, message).into()
}

/// Meta verifies the callback: the challenge back, as plain text.
#[utoipa::path(get, path = "/webhooks/meta", operation_id = "webhooks_verify", tag = "webhooks",
    params(Verification),
    responses(
        (status = 200, description = "The challenge, as sent (text/plain)", body = String, content_type = "text/plain"),
        (status = 403, description = "`verification_failed`: wrong mode or verify token", body = ErrorBody),
    ))]
pub async fn verify(
    State(s): State<AppState>,
    Query(q): Query<Verification>,
) -> Result<Response, GatewayError> {
    let token_matches = !s.webhooks.verify_token.is_empty()
        && constant_time_eq(
            q.verify_token.as_bytes(),
            s.webhooks.verify_token.as_bytes(),
        );
    if q.mode != "subscribe" || !token_matches {
        return Err(rejected(
            ErrorKind::PermissionDenied,
            "verification_failed",
            "hub.mode must be subscribe and hub.verify_token the platform's",
            "verification",
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain")], q.challenge).into_response())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the platform stored.
#[derive(Serialize, ToSchema)]
pub struct StoredView {
    /// The stored payload's id.
    pub webhook_id: String,
}

/// Meta posts updates: stored durably, then processed asynchronously.
#[utoipa::path(post, path = "/webhooks/meta", operation_id = "webhooks_receive", tag = "webhooks",
    request_body(content = String, description = "Meta's JSON payload, signed", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored; Meta need not retry", body = StoredView),
        (status = 400, description = "`body_too_large`: over 3 MB", body = ErrorBody),
        (status = 401, description = "`signature_missing`: no `X-Hub-Signature-256`", body = ErrorBody),
        (status = 403, description = "`signature_invalid`: not signed with the app secret", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn receive(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<StoredView>, GatewayError> {
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(rejected(
            ErrorKind::InvalidArgument,
            "body_too_large",
            "the body is over 3 MB",
            "too_large",
        ));
    }
    let Some(signature) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(rejected(
            ErrorKind::Unauthenticated,
            "signature_missing",
            "X-Hub-Signature-256 is required",
            "signature_missing",
        ));
    };
    if s.webhooks.app_secret.is_empty() || !s.webhooks.signed(&body, signature) {
        return Err(rejected(
            ErrorKind::PermissionDenied,
            "signature_invalid",
            "X-Hub-Signature-256 does not match the body",
            "signature_invalid",
        ));
    }
    let stored = s
        .dispatcher
        .clone()
        .ingest_webhook(pb::IngestWebhookRequest {
            body: body.to_vec(),
            received_at: Some(aerostic_proto::timestamp(chrono::Utc::now())),
        })
        .await
        .map_err(|status| {
            // Whatever went wrong, Meta must retry: never a 4xx here.
            let e = ApiError::from(status);
            if e.kind == ErrorKind::Internal {
                GatewayError::from(e)
            } else {
                ApiError::unavailable("webhook storage").into()
            }
        })?
        .into_inner();
    metrics::counter!("aerostic_webhooks_stored_total").increment(1);
    Ok(axum::Json(StoredView {
        webhook_id: stored.webhook_id,
    }))
}
