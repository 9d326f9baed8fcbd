//! `/v1/auth/*`: translate to tenancy's gRPC and back.

use std::net::SocketAddr;

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::json::ApiJson;
use crate::{AppState, GatewayError};

/// `POST /v1/auth/register` body. Absent fields read as empty and are
/// reported by the service per field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[serde(default)]
    tenant_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    full_name: String,
}

/// `POST /v1/auth/login` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn user_json(user: Option<pb::User>) -> Value {
    let user = user.unwrap_or_default();
    json!({
        "id": user.id,
        "tenant_id": user.tenant_id,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role().as_str_name().trim_start_matches("ROLE_").to_lowercase(),
    })
}

/// Creates a tenant and its admin: 201 with both.
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let reply = state
        .tenancy
        .clone()
        .register(pb::RegisterRequest {
            tenant_name: body.tenant_name,
            email: body.email,
            password: body.password,
            full_name: body.full_name,
        })
        .await?
        .into_inner();
    let tenant = reply.tenant.unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "tenant": {
                "id": tenant.id,
                "name": tenant.name,
                "status": tenant.status().as_str_name().trim_start_matches("TENANT_STATUS_").to_lowercase(),
                "plan": tenant.plan.map(|p| p.code).unwrap_or_default(),
            },
            "user": user_json(reply.user),
        })),
    ))
}

/// Exchanges credentials for an access token.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<Value>, GatewayError> {
    let reply = state
        .tenancy
        .clone()
        .login(pb::LoginRequest {
            email: body.email,
            password: body.password,
            client_ip: peer.ip().to_string(),
        })
        .await?
        .into_inner();
    Ok(Json(json!({
        "access_token": reply.access_token,
        "token_type": reply.token_type,
        "expires_in": reply.expires_in,
        "user": user_json(reply.user),
    })))
}
