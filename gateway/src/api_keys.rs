//! `/v1/billing/api-keys`: developer keys of the caller's workspace
//! (workspace admins).

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::views::{ApiKeyView, CreatedApiKeyView, DataList};
use crate::{AppState, GatewayError};

/// `POST /v1/billing/api-keys` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// What the key is for (1–100 characters).
    #[serde(default)]
    #[schema(required = true)]
    name: String,
    /// At least one of `messages:send`, `messages:read`, `contacts:read`,
    /// `contacts:write`, `templates:read`, `templates:write`,
    /// `campaigns:write`, `billing:read`.
    #[serde(default)]
    #[schema(required = true, example = json!(["messages:send"]))]
    scopes: Vec<String>,
}

/// Creates a key; its secret is in this answer only.
#[utoipa::path(post, operation_id = "api_keys_create", path = "/v1/billing/api-keys", tag = "api-keys", request_body = CreateBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The key and its secret (shown this once)", body = CreatedApiKeyView),
        BodyErrors, CallerErrors, ServerErrors,
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<CreatedApiKeyView>), GatewayError> {
    let request = state.as_caller(
        &caller,
        pb::CreateApiKeyRequest {
            name: body.name,
            scopes: body.scopes,
        },
    );
    let reply = state
        .tenancy
        .clone()
        .create_api_key(request)
        .await?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKeyView {
            key: ApiKeyView::of(reply.key.unwrap_or_default()),
            secret: reply.secret,
        }),
    ))
}

/// The workspace's keys (never their secrets).
#[utoipa::path(get, operation_id = "api_keys_list", path = "/v1/billing/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys, revoked ones included", body = DataList<ApiKeyView>),
        CallerErrors, ServerErrors,
    ))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<DataList<ApiKeyView>>, GatewayError> {
    let request = state.as_caller(&caller, pb::ListApiKeysRequest { page: None });
    let reply = state
        .tenancy
        .clone()
        .list_api_keys(request)
        .await?
        .into_inner();
    Ok(Json(DataList::of(reply.keys, ApiKeyView::of)))
}

/// Revokes a key; it stops working at once on this gateway (other replicas
/// within 30 s).
#[utoipa::path(delete, operation_id = "api_keys_revoke", path = "/v1/billing/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "The key's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key, revoked", body = ApiKeyView),
        CallerErrors,
        (status = 404, description = "`api_key_not_found` (also for another workspace's key)", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, GatewayError> {
    let request = state.as_caller(&caller, pb::RevokeApiKeyRequest { key_id: id });
    let reply = state
        .tenancy
        .clone()
        .revoke_api_key(request)
        .await?
        .into_inner();
    state.api_keys.invalidate_all();
    Ok(Json(ApiKeyView::of(reply)))
}
