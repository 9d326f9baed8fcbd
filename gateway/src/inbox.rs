//! `/v1/conversations` and `/v1/contacts`: the team inbox's read side.
//! Users who answer conversations; API keys with `messages:read` (and
//! `contacts:read` for contacts). Another workspace's ids are 404s.

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::inbox_views::{ContactView, ConversationView, MessageView};
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::paging::{PageQuery, Paged, page};
use crate::{AppState, GatewayError};

/// Filters and paging of the conversation list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// `open`, `pending` or `resolved`.
    #[serde(default)]
    status: String,
    /// Only those assigned to this user id.
    #[serde(default)]
    assignee: String,
    /// `true`: only those with unread messages.
    #[serde(default)]
    unread: bool,
    /// Per page, 1–200 (default 50).
    #[serde(default)]
    limit: String,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    cursor: String,
}

const BAD_QUERY: &str = "`validation_failed`: a bad `status`, `limit` or `cursor`";

/// The workspace's conversations, most recent activity first.
#[utoipa::path(get, path = "/v1/conversations", operation_id = "inbox_conversations", tag = "inbox",
    params(ConversationQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A page of conversations", body = Paged<ConversationView>),
        (status = 400, description = BAD_QUERY, body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn conversations(
    State(s): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<ConversationQuery>,
) -> Result<Json<Paged<ConversationView>>, GatewayError> {
    let request = pb::ListConversationsRequest {
        page: page(&q.limit, q.cursor)?,
        assigned_user_id: q.assignee,
        status: q.status,
        unread_only: q.unread,
    };
    let reply = s
        .dispatcher
        .clone()
        .list_conversations(s.as_caller(&c, request))
        .await?
        .into_inner();
    Ok(Json(Paged::of(
        reply.conversations,
        reply.page,
        ConversationView::of,
    )))
}

/// One conversation.
#[utoipa::path(get, path = "/v1/conversations/{id}", operation_id = "inbox_conversation", tag = "inbox",
    params(("id" = String, Path, description = "The conversation's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The conversation", body = ConversationView),
        (status = 404, description = "`conversation_not_found`", body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn conversation(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Json<ConversationView>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .get_conversation(s.as_caller(
            &c,
            pb::GetConversationRequest {
                conversation_id: id,
            },
        ))
        .await?
        .into_inner();
    Ok(Json(ConversationView::of(reply)))
}

/// A conversation's messages, newest first.
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", operation_id = "inbox_messages", tag = "inbox",
    params(("id" = String, Path, description = "The conversation's id"), PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A page of messages", body = Paged<MessageView>),
        (status = 400, description = "`validation_failed`: a bad `limit` or `cursor`", body = ErrorBody),
        (status = 404, description = "`conversation_not_found`", body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn messages(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<MessageView>>, GatewayError> {
    let request = pb::ListMessagesRequest {
        conversation_id: id,
        page: q.page()?,
    };
    let reply = s
        .dispatcher
        .clone()
        .list_messages(s.as_caller(&c, request))
        .await?
        .into_inner();
    Ok(Json(Paged::of(reply.messages, reply.page, MessageView::of)))
}

/// Search and paging of contacts.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// The start of a name or phone number (case-insensitive).
    #[serde(default)]
    q: String,
    /// Per page, 1–200 (default 50).
    #[serde(default)]
    limit: String,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    cursor: String,
}

/// The workspace's contacts, newest first.
#[utoipa::path(get, path = "/v1/contacts", operation_id = "inbox_contacts", tag = "inbox",
    params(ContactQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A page of contacts", body = Paged<ContactView>),
        (status = 400, description = "`validation_failed`: a bad `q`, `limit` or `cursor`", body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn contacts(
    State(s): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<ContactQuery>,
) -> Result<Json<Paged<ContactView>>, GatewayError> {
    let request = pb::ListContactsRequest {
        page: page(&q.limit, q.cursor)?,
        query: q.q,
    };
    let reply = s
        .dispatcher
        .clone()
        .list_contacts(s.as_caller(&c, request))
        .await?
        .into_inner();
    Ok(Json(Paged::of(reply.contacts, reply.page, ContactView::of)))
}

/// One contact.
#[utoipa::path(get, path = "/v1/contacts/{id}", operation_id = "inbox_contact", tag = "inbox",
    params(("id" = String, Path, description = "The contact's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The contact", body = ContactView),
        (status = 404, description = "`contact_not_found`", body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn contact(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Json<ContactView>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .get_contact(s.as_caller(&c, pb::GetContactRequest { contact_id: id }))
        .await?
        .into_inner();
    Ok(Json(ContactView::of(reply)))
}

/// A workspace's stop words.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct KeywordsView {
    /// Language code -> lowercase words. A message that is nothing but one
    /// of them (any case) opts its sender out.
    pub keywords: std::collections::BTreeMap<String, Vec<String>>,
    /// True while the platform's defaults apply.
    pub defaults: bool,
}

impl KeywordsView {
    fn of(k: pb::OptOutKeywords) -> Self {
        Self {
            keywords: k
                .by_language
                .into_iter()
                .map(|(l, list)| (l, list.keywords))
                .collect(),
            defaults: k.defaults,
        }
    }
}

/// The words that opt a contact out.
#[utoipa::path(get, path = "/v1/inbox/opt-out-keywords", operation_id = "inbox_keywords", tag = "inbox",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The words per language", body = KeywordsView),
        CallerErrors, ServerErrors,
    ))]
pub async fn keywords(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<KeywordsView>, GatewayError> {
    let reply = s
        .dispatcher
        .clone()
        .get_opt_out_keywords(s.as_caller(&c, pb::GetOptOutKeywordsRequest {}))
        .await?
        .into_inner();
    Ok(Json(KeywordsView::of(reply)))
}

/// `PUT /v1/inbox/opt-out-keywords` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeywordsBody {
    /// Language code (`en`, `pt_BR`, …) -> 1 to 50 words of 1 to 40
    /// characters; at most 20 languages. Empty restores the defaults.
    #[serde(default)]
    #[schema(required = true)]
    keywords: std::collections::BTreeMap<String, Vec<String>>,
}

/// Replaces the workspace's stop words (workspace admins).
#[utoipa::path(put, path = "/v1/inbox/opt-out-keywords", operation_id = "inbox_set_keywords", tag = "inbox",
    request_body = KeywordsBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The words now in force", body = KeywordsView),
        BodyErrors, CallerErrors, ServerErrors,
    ))]
pub async fn set_keywords(
    State(s): State<AppState>,
    Caller(c): Caller,
    crate::json::ApiJson(b): crate::json::ApiJson<KeywordsBody>,
) -> Result<Json<KeywordsView>, GatewayError> {
    let request = pb::OptOutKeywords {
        by_language: b
            .keywords
            .into_iter()
            .map(|(l, keywords)| (l, pb::KeywordList { keywords }))
            .collect(),
        defaults: false,
    };
    let reply = s
        .dispatcher
        .clone()
        .set_opt_out_keywords(s.as_caller(&c, request))
        .await?
        .into_inner();
    Ok(Json(KeywordsView::of(reply)))
}

/// A customer's media, as the platform keeps it (Meta keeps it days only).
#[utoipa::path(get, path = "/v1/media/{id}", operation_id = "inbox_media", tag = "inbox",
    params(("id" = String, Path, description = "The media's id (a message's `media_id`)")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The file, with its type (and name, for documents)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "`media_not_found`", body = ErrorBody),
        (status = 422, description = "`media_not_ready` (still being fetched from Meta; retry), `media_unavailable` (Meta's copy could not be fetched)", body = ErrorBody),
        CallerErrors, ServerErrors,
    ))]
pub async fn media(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<axum::response::Response, GatewayError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let file = s
        .dispatcher
        .clone()
        .get_media(s.as_caller(&c, pb::GetMediaRequest { media_id: id }))
        .await?
        .into_inner();
    let mut headers = vec![(header::CONTENT_TYPE, file.mime_type)];
    if !file.filename.is_empty() {
        // Only safe characters reach the header.
        let name: String = file
            .filename
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._- ".contains(*c))
            .collect();
        headers.push((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ));
    }
    let mut response = file.data.into_response();
    for (name, value) in headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}
