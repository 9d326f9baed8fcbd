//! `/v1/auth/*`: translate to tenancy's gRPC and back.

use std::net::SocketAddr;

use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::hosts::Surface;
use crate::identity::Caller;
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

pub(crate) fn user_json(user: Option<pb::User>) -> Value {
    let user = user.unwrap_or_default();
    json!({
        "id": user.id,
        "tenant_id": user.tenant_id,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role().wire_name(),
    })
}

/// Creates a tenant and its admin: 201 with both.
pub async fn register(
    State(state): State<AppState>,
    axum::Extension(crate::hosts::RequestHost(host)): axum::Extension<crate::hosts::RequestHost>,
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
            host,
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
                "status": tenant.status().wire_name(),
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
    axum::Extension(surface): axum::Extension<Surface>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<Value>, GatewayError> {
    let reply = state
        .tenancy
        .clone()
        .login(pb::LoginRequest {
            email: body.email,
            password: body.password,
            client_ip: peer.ip().to_string(),
            admin_host: surface == Surface::Admin,
        })
        .await?
        .into_inner();
    Ok(Json(session_json(reply)))
}

fn session_json(reply: pb::LoginResponse) -> Value {
    json!({
        "access_token": reply.access_token,
        "token_type": reply.token_type,
        "expires_in": reply.expires_in,
        "refresh_token": reply.refresh_token,
        "user": user_json(reply.user),
    })
}

/// `POST /v1/auth/refresh` and `/v1/auth/logout` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    #[serde(default)]
    refresh_token: String,
}

fn required_refresh_token(body: &RefreshBody) -> Result<(), GatewayError> {
    if body.refresh_token.is_empty() {
        return Err(GatewayError(
            aerostic_kit::ApiError::new(
                aerostic_kit::ErrorKind::InvalidArgument,
                "validation_failed",
                "the request has invalid fields",
            )
            .with_detail("refresh_token", "is required"),
        ));
    }
    Ok(())
}

/// Spends a refresh token for a new access token and refresh token.
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<Value>, GatewayError> {
    required_refresh_token(&body)?;
    let reply = state
        .tenancy
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: body.refresh_token,
        })
        .await?
        .into_inner();
    Ok(Json(session_json(reply)))
}

/// Ends the session of a refresh token: 204.
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<StatusCode, GatewayError> {
    required_refresh_token(&body)?;
    state
        .tenancy
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: body.refresh_token,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`: who the credential stands for.
pub async fn me(Caller(caller): Caller) -> Json<Value> {
    Json(json!({
        "tenant_id": caller.tenant_id.to_string(),
        "user_id": caller.user_id.map(|u| u.to_string()),
        "role": caller.role.as_str(),
        "api_key_id": caller.api_key_id,
        "scopes": caller.scopes,
    }))
}
