//! `/v1/billing/api-keys`: developer keys of the caller's workspace.

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::identity::Caller;
use crate::json::ApiJson;
use crate::{AppState, GatewayError};

/// `POST /v1/billing/api-keys` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
}

pub(crate) fn rfc3339(t: Option<prost_types::Timestamp>) -> Value {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .map_or(Value::Null, |t| json!(t.to_rfc3339()))
}

fn key_json(k: pb::ApiKey) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "scopes": k.scopes,
        "created_at": rfc3339(k.created_at),
        "last_used_at": rfc3339(k.last_used_at),
        "revoked_at": rfc3339(k.revoked_at),
    })
}

/// Creates a key: 201 with the key and its secret (shown this once).
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
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
    let mut key = key_json(reply.key.unwrap_or_default());
    key["secret"] = json!(reply.secret);
    Ok((StatusCode::CREATED, Json(key)))
}

/// Lists the workspace's keys (never their secrets).
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Value>, GatewayError> {
    let request = state.as_caller(&caller, pb::ListApiKeysRequest { page: None });
    let reply = state
        .tenancy
        .clone()
        .list_api_keys(request)
        .await?
        .into_inner();
    let keys: Vec<Value> = reply.keys.into_iter().map(key_json).collect();
    Ok(Json(json!({ "data": keys })))
}

/// Revokes a key; it stops working at once on this gateway.
pub async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let request = state.as_caller(&caller, pb::RevokeApiKeyRequest { key_id: id });
    let reply = state
        .tenancy
        .clone()
        .revoke_api_key(request)
        .await?
        .into_inner();
    state.api_keys.invalidate_all();
    Ok(Json(key_json(reply)))
}
