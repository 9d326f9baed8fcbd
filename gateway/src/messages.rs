//! `/v1/messages`: sending, in Meta's own request shape, and reading one
//! message's status. Users who answer conversations; API keys with
//! `messages:send` (and `messages:read` to read).

use std::collections::BTreeMap;

use aerostic_kit::ApiError;
use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::inbox_views::MessageView;
use crate::json::ApiJson;
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::{AppState, GatewayError};

/// The message a reply quotes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextRef {
    /// The wamid of the message replied to.
    message_id: String,
}

/// `POST /v1/messages/send` body: Meta's own shape (`type` and the object
/// of that name), with the sending number or the conversation to answer.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"to": "+5511988887777", "from_phone_number_id": "106540352242922", "type": "text", "text": {"body": "Your order has shipped"}}))]
pub struct SendBody {
    /// Our connected number that sends (Meta's phone_number_id); may be
    /// left out when replying in a conversation.
    #[serde(default)]
    from_phone_number_id: String,
    /// The recipient in international form (`+5511988887777`); may be left
    /// out when `conversation_id` is given.
    #[serde(default)]
    to: String,
    /// Reply in this conversation: its number and contact.
    #[serde(default)]
    conversation_id: String,
    /// `text`, `image`, `video`, `audio`, `document`, `sticker`, `location`,
    /// `contacts`, `interactive`, `reaction` or `template`.
    #[serde(rename = "type", default)]
    #[schema(required = true)]
    kind: String,
    /// Quote a message of the conversation.
    #[serde(default)]
    context: Option<ContextRef>,
    /// The object named by `type`, as Meta's API takes it (media may name
    /// our `media_id`, Meta's `id` or a `link`). `messaging_product` and
    /// `recipient_type` are accepted and ignored.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    objects: BTreeMap<String, Value>,
}

/// What a send was answered.
#[derive(Serialize, ToSchema)]
pub struct SentView {
    /// The message, `queued` until Meta accepts it.
    message: MessageView,
    /// The price held in the wallet until Meta reports it sent (zero when free).
    reserved_minor: i64,
    /// The wallet's currency.
    currency: String,
    /// True when this repeats the answer to an earlier request with the
    /// same `Idempotency-Key`.
    replayed: bool,
}

impl SentView {
    /// The dispatcher's answer, as clients see it.
    pub(crate) fn of(reply: pb::SendMessageResponse) -> Self {
        let reserved = reply.reserved.unwrap_or_default();
        Self {
            message: MessageView::of(reply.message.unwrap_or_default()),
            reserved_minor: reserved.amount_minor,
            currency: reserved.currency,
            replayed: reply.replayed,
        }
    }
}

/// The `Idempotency-Key` header, if sent (the dispatcher checks its form).
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get("idempotency-key") {
        Some(v) => v.to_str().map(str::to_string).map_err(|_| {
            ApiError::invalid_field("Idempotency-Key", "1 to 255 visible ASCII characters")
        }),
        None => Ok(String::new()),
    }
}

/// The request, as the dispatcher takes it.
pub(crate) fn to_request(mut b: SendBody, key: String) -> Result<pb::SendMessageRequest, ApiError> {
    let object = b.objects.remove(&b.kind);
    b.objects.remove("messaging_product");
    b.objects.remove("recipient_type");
    let mut problems = BTreeMap::new();
    if b.kind.is_empty() {
        problems.insert("type".to_string(), "required".to_string());
    } else if object.is_none() {
        problems.insert(b.kind.clone(), format!("required: the `{}` object", b.kind));
    }
    for extra in b.objects.keys() {
        problems.insert(
            extra.clone(),
            "unknown field (only the object named by `type`)".into(),
        );
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    Ok(pb::SendMessageRequest {
        from_phone_number_id: b.from_phone_number_id,
        to: b.to,
        idempotency_key: key,
        conversation_id: b.conversation_id,
        r#type: b.kind,
        content_json: object.unwrap_or_default().to_string(),
        reply_to: b.context.map(|c| c.message_id).unwrap_or_default(),
    })
}

/// Sends a message: checked, priced and queued, or refused before
/// anything is queued or paid for. Retries with the same
/// `Idempotency-Key` (kept 24 hours) answer the first result.
#[utoipa::path(post, path = "/v1/messages/send", operation_id = "messages_send", tag = "messages",
    request_body = SendBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; the same key with the same body answers the first result for 24 hours")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "Queued; `Idempotent-Replayed: true` when it repeats an earlier answer", body = SentView),
        (status = 402, description = "`insufficient_funds`: the wallet does not cover the price (`details`: `available_minor`, `required_minor`, `currency`)", body = ErrorBody),
        (status = 404, description = "`conversation_not_found`, `number_not_found` (not a connected number of this workspace), `template_not_found` (create or sync it first)", body = ErrorBody),
        (status = 409, description = "`idempotency_key_in_flight`: the first request with this key is still running", body = ErrorBody),
        (status = 422, description = "`window_closed` (no message from the customer in 24 hours: send a template), `contact_opted_out`, `template_not_approved`, `plan_limit_reached`, `contact_without_phone`, `idempotency_key_reused` (the key was used with another body)", body = ErrorBody),
        BodyErrors, CallerErrors, ServerErrors,
    ))]
pub async fn send(
    State(s): State<AppState>,
    Caller(c): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendBody>,
) -> Result<Response, GatewayError> {
    let request = to_request(body, idempotency_key(&headers)?)?;
    let reply = s
        .dispatcher
        .clone()
        .send_message(s.as_caller(&c, request))
        .await?
        .into_inner();
    let replayed = reply.replayed;
    let mut response = (StatusCode::ACCEPTED, Json(SentView::of(reply))).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// One message, with where it stands (`queued`, `sent`, `delivered`,
/// `read`, `failed` with Meta's code and reason).
#[utoipa::path(get, path = "/v1/messages/{id}", operation_id = "messages_get", tag = "messages",
    params(("id" = String, Path, description = "The message's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The message", body = MessageView),
        (status = 404, description = "`message_not_found`", body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn get(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .get_message(s.as_caller(&c, pb::GetMessageRequest { message_id: id }))
        .await?
        .into_inner();
    Ok(Json(MessageView::of(reply)))
}

/// `POST /v1/messages/{id}/read` body (`{}` for no typing indicator).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    /// Show the customer "typing…" until the reply (or 25 s).
    #[serde(default)]
    pub typing_indicator: bool,
}

/// Marks a customer's message (and those before it) read at Meta: the blue
/// ticks on their phone, and "typing…" if asked while the answer is written.
#[utoipa::path(post, path = "/v1/messages/{id}/read", operation_id = "messages_read", tag = "messages",
    params(("id" = String, Path, description = "The id of a message the customer sent")),
    request_body = ReadBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Marked read at Meta", body = MessageView),
        (status = 404, description = "`message_not_found`", body = ErrorBody),
        (status = 422, description = "`not_a_received_message`: only a customer's message can be marked read; `meta_rejected` with Meta's code", body = ErrorBody),
        BodyErrors, CallerErrors, ServerErrors,
    ))]
pub async fn read(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReadBody>,
) -> Result<Json<MessageView>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .mark_read(s.as_caller(
            &c,
            pb::MarkReadRequest {
                message_id: id,
                typing_indicator: body.typing_indicator,
            },
        ))
        .await?
        .into_inner();
    Ok(Json(MessageView::of(reply)))
}
