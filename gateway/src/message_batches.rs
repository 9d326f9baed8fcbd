//! `POST /v1/messages/batch`: up to 100 sends in one request, each checked,
//! priced and queued exactly as `POST /v1/messages/send` would, and each
//! answered on its own, in the request's order. A campaign's thousands of
//! messages a second are a few dozen requests, not thousands.

use aerostic_kit::ApiError;
use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ErrorBody, ErrorDetail};
use crate::identity::Caller;
use crate::json::{ApiJson, shape_error};
use crate::messages::{SendBody, SentView, idempotency_key, to_request};
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::{AppState, GatewayError};

/// Most bytes a batch's body may have: a hundred messages of 10 KiB.
const MAX_BATCH_BODY: usize = 1024 * 1024;

/// `POST /v1/messages/batch` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"messages": [
    {"to": "+5511988887777", "from_phone_number_id": "106540352242922", "type": "template", "template": {"name": "order_shipped", "language": {"code": "pt_BR"}}},
    {"to": "+5511977776666", "from_phone_number_id": "106540352242922", "type": "template", "template": {"name": "order_shipped", "language": {"code": "pt_BR"}}}
]}))]
pub struct BatchBody {
    /// 1 to 100 messages, each shaped as the body of `POST /v1/messages/send`.
    #[schema(value_type = Vec<SendBody>)]
    messages: Vec<Value>,
}

/// What one message of a batch was answered.
#[derive(Serialize, ToSchema)]
pub struct BatchResult {
    /// The status `POST /v1/messages/send` would have answered: 202 when
    /// queued, else the error's.
    status: u16,
    /// The send, when queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    sent: Option<SentView>,
    /// Why it was refused, as `POST /v1/messages/send` would say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

/// A batch's answer.
#[derive(Serialize, ToSchema)]
pub struct BatchView {
    /// One result per message, in the request's order.
    results: Vec<BatchResult>,
    /// How many were queued (or replayed).
    queued: usize,
    /// How many were refused.
    refused: usize,
}

impl BatchResult {
    fn refused(e: ApiError) -> Self {
        Self {
            status: e.kind.http_status().as_u16(),
            sent: None,
            error: Some(ErrorBody::from(&e).error),
        }
    }
}

/// One message of the body as the dispatcher takes it, or what is wrong
/// with its shape.
fn item(raw: Value) -> Result<pb::SendMessageRequest, ApiError> {
    let body: SendBody = serde_path_to_error::deserialize(raw).map_err(shape_error)?;
    to_request(body, String::new())
}

/// Every message as the dispatcher takes it, or every shape problem of
/// every message (`messages[3].type`). Shapes are checked whole-batch, so
/// a message's position, which keys it, is the one its sender gave it.
fn items(raw: Vec<Value>) -> Result<Vec<pb::SendMessageRequest>, ApiError> {
    let mut messages = Vec::with_capacity(raw.len());
    let mut problems = std::collections::BTreeMap::new();
    for (index, m) in raw.into_iter().enumerate() {
        match item(m) {
            Ok(m) => messages.push(m),
            Err(e) => problems.extend(
                e.details
                    .into_iter()
                    .map(|(field, problem)| (format!("messages[{index}].{field}"), problem)),
            ),
        }
    }
    if problems.is_empty() {
        Ok(messages)
    } else {
        Err(ApiError::validation(problems))
    }
}

/// Sends up to 100 messages at once. Each is checked against Meta's limits
/// and our rules, priced and queued, or refused, on its own: the answer is
/// 200 with a result per message, in order. Only a body that is not this
/// shape (a message without `type`, an unknown field) is refused whole. With
/// an `Idempotency-Key`, each message is keyed by it and its position for
/// 24 hours, so a repeated batch replays every message's first answer and
/// refuses only a message whose body changed (`idempotency_key_reused`).
/// The messages of a batch are queued together, in no set order.
#[utoipa::path(post, path = "/v1/messages/batch", operation_id = "messages_batch", tag = "messages",
    request_body = BatchBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 250 visible ASCII characters; keys each message of the batch by its position for 24 hours")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A result per message: `status` 202 with `sent`, or the status and `error` that `POST /v1/messages/send` would have answered", body = BatchView),
        (status = 429, description = "`throttled`: the key or workspace is under a throttle for unusual activity, which lets no batch through", body = ErrorBody),
        BodyErrors, CallerErrors, ServerErrors,
    ))]
pub async fn send_batch(
    State(s): State<AppState>,
    Caller(c): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BatchBody, MAX_BATCH_BODY>,
) -> Result<Json<BatchView>, GatewayError> {
    s.shield.check_batch(&c)?;
    let request = pb::SendMessagesRequest {
        messages: items(body.messages)?,
        idempotency_key: idempotency_key(&headers)?,
    };
    let reply = s
        .dispatcher
        .clone()
        .send_messages(s.as_caller(&c, request))
        .await?
        .into_inner();
    let results: Vec<BatchResult> = reply
        .results
        .into_iter()
        .map(|r| match r.outcome {
            Some(pb::send_result::Outcome::Sent(sent)) => BatchResult {
                status: 202,
                sent: Some(SentView::of(sent)),
                error: None,
            },
            Some(pb::send_result::Outcome::Refused(r)) => BatchResult::refused(r.into()),
            None => BatchResult::refused(ApiError::internal("a batch answer is missing")),
        })
        .collect();
    let queued = results.iter().filter(|r| r.sent.is_some()).count();
    Ok(Json(BatchView {
        refused: results.len() - queued,
        queued,
        results,
    }))
}
