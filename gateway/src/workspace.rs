//! The caller's workspace: its tenant and plan, its audit trail, password
//! changes and resets, and the branding of the host it is served on.

use aerostic_proto::v1 as pb;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::hosts::RequestHost;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::{AppState, GatewayError};

/// The branding of the host asked on (a reseller's, else the platform's).
pub async fn branding(
    State(s): State<AppState>,
    Extension(RequestHost(host)): Extension<RequestHost>,
) -> Result<Json<Value>, GatewayError> {
    let b = s
        .tenancy
        .clone()
        .get_branding(pb::GetBrandingRequest { host })
        .await?
        .into_inner();
    Ok(Json(json!({
        "reseller_id": (!b.reseller_id.is_empty()).then_some(b.reseller_id),
        "name": b.name,
        "logo_url": b.logo_url,
        "primary_color": b.primary_color,
        "accent_color": b.accent_color,
    })))
}

/// The caller's tenant with its plan and limits.
pub async fn tenant(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<Value>, GatewayError> {
    let t = s
        .tenancy
        .clone()
        .get_tenant(s.as_caller(&c, pb::GetTenantRequest {}))
        .await?
        .into_inner();
    Ok(Json(crate::admin::tenant_json(t)))
}

/// The workspace's latest audit events (workspace admins).
pub async fn audit_events(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_audit_events(s.as_caller(&c, pb::ListAuditEventsRequest { page: None }))
        .await?;
    let data: Vec<Value> = reply
        .into_inner()
        .events
        .into_iter()
        .map(crate::admin::audit_json)
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// `POST /v1/auth/password/change` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// The caller changes their password; every session ends (204).
pub async fn change_password(
    State(s): State<AppState>,
    Caller(c): Caller,
    ApiJson(b): ApiJson<ChangeBody>,
) -> Result<StatusCode, GatewayError> {
    let req = s.as_caller(
        &c,
        pb::ChangePasswordRequest {
            current_password: b.current_password,
            new_password: b.new_password,
        },
    );
    s.tenancy.clone().change_password(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/password/forgot` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    #[serde(default)]
    email: String,
}

/// Starts a reset; 202 whether or not the email has an account.
pub async fn forgot_password(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<ForgotBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    s.tenancy
        .clone()
        .request_password_reset(pb::RequestPasswordResetRequest { email: b.email })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "status": "accepted", "message": "if this email has an account, a reset link is on its way" }),
        ),
    ))
}

/// `POST /v1/auth/password/reset` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    #[serde(default)]
    reset_token: String,
    #[serde(default)]
    new_password: String,
}

/// Spends a reset token on a new password (204).
pub async fn reset_password(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<ResetBody>,
) -> Result<StatusCode, GatewayError> {
    s.tenancy
        .clone()
        .reset_password(pb::ResetPasswordRequest {
            reset_token: b.reset_token,
            new_password: b.new_password,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
