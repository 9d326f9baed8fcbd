//! `/v1/dead-letters`: messages whose every attempt met a passing error.
//! Each keeps its price held until it is replayed (queued afresh) or
//! discarded (failed for good, price released). Users who answer
//! conversations; API keys with `messages:read` to list and
//! `messages:send` to replay or discard.

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::inbox_views::MessageView;
use crate::openapi::{CallerErrors, ServerErrors};
use crate::views::{DataList, rfc3339};
use crate::{AppState, GatewayError};

/// A dead-lettered message and why.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterView {
    /// The message (`failed`, its reason saying it is dead-lettered).
    message: MessageView,
    /// The number it was to go from.
    phone_number_id: String,
    /// Attempts made.
    attempts: u32,
    /// Meta's code of the last error; absent when Meta could not be reached.
    last_error_code: Option<i64>,
    /// The last error, as Meta (or the network) gave it.
    last_error: String,
    /// When the last attempt failed (RFC 3339).
    dead_since: Option<String>,
}

impl DeadLetterView {
    fn of(d: pb::DeadLetter) -> Self {
        Self {
            message: MessageView::of(d.message.unwrap_or_default()),
            phone_number_id: d.phone_number_id,
            attempts: d.attempts,
            last_error_code: (d.last_error_code != 0).then_some(d.last_error_code),
            last_error: d.last_error,
            dead_since: rfc3339(d.dead_since),
        }
    }
}

const NOT_FOUND: &str = "`dead_letter_not_found`: no dead letter of this workspace has this id (it may have been replayed or discarded)";

/// The workspace's dead letters, oldest first (at most 500).
#[utoipa::path(get, path = "/v1/dead-letters", operation_id = "dead_letters_list", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Dead letters", body = DataList<DeadLetterView>),
        CallerErrors, ServerErrors,
    ))]
pub async fn list(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<DataList<DeadLetterView>>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .list_dead_letters(s.as_caller(&c, pb::ListDeadLettersRequest {}))
        .await?
        .into_inner();
    Ok(Json(DataList::of(reply.dead_letters, DeadLetterView::of)))
}

/// Queues a dead letter again, with a fresh set of attempts, at the price
/// already held.
#[utoipa::path(post, path = "/v1/dead-letters/{id}/replay", operation_id = "dead_letters_replay", tag = "messages",
    params(("id" = String, Path, description = "The message's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "Queued again", body = MessageView),
        (status = 404, description = NOT_FOUND, body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn replay(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<MessageView>), GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .replay_dead_letter(s.as_caller(&c, pb::DeadLetterRequest { message_id: id }))
        .await?
        .into_inner();
    Ok((StatusCode::ACCEPTED, Json(MessageView::of(reply))))
}

/// Fails a dead letter for good and releases its price.
#[utoipa::path(delete, path = "/v1/dead-letters/{id}", operation_id = "dead_letters_discard", tag = "messages",
    params(("id" = String, Path, description = "The message's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Failed for good", body = MessageView),
        (status = 404, description = NOT_FOUND, body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn discard(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .discard_dead_letter(s.as_caller(&c, pb::DeadLetterRequest { message_id: id }))
        .await?
        .into_inner();
    Ok(Json(MessageView::of(reply)))
}
