//! The caller's workspace: its tenant and plan, its audit trail, password
//! changes and resets, and the branding of the host it is served on.

use aerostic_proto::v1 as pb;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::hosts::RequestHost;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::views::{AcceptedView, AuditEventView, BrandingView, DataList, TenantView};
use crate::{AppState, GatewayError};

/// The brand of the host asked on: a reseller's on its custom domains, the
/// platform's elsewhere. Public: the sign-in page needs it.
#[utoipa::path(get, operation_id = "workspace_branding", path = "/v1/branding", tag = "workspace",
    responses(
        (status = 200, description = "The brand", body = BrandingView),
        ServerErrors,
    ))]
pub async fn branding(
    State(s): State<AppState>,
    Extension(RequestHost(host)): Extension<RequestHost>,
) -> Result<Json<BrandingView>, GatewayError> {
    let b = s
        .tenancy
        .clone()
        .get_branding(pb::GetBrandingRequest { host })
        .await?
        .into_inner();
    Ok(Json(BrandingView::of(b)))
}

/// The caller's workspace with its plan and limits.
#[utoipa::path(get, operation_id = "workspace_tenant", path = "/v1/tenant", tag = "workspace",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The workspace", body = TenantView),
        CallerErrors, ServerErrors,
    ))]
pub async fn tenant(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<TenantView>, GatewayError> {
    let t = s
        .tenancy
        .clone()
        .get_tenant(s.as_caller(&c, pb::GetTenantRequest::default()))
        .await?
        .into_inner();
    Ok(Json(TenantView::of(t)))
}

/// The workspace's latest audit events (workspace admins).
#[utoipa::path(get, operation_id = "workspace_audit_events", path = "/v1/audit/events", tag = "workspace",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first, PII masked", body = DataList<AuditEventView>),
        CallerErrors, ServerErrors,
    ))]
pub async fn audit_events(
    State(s): State<AppState>,
    Caller(c): Caller,
) -> Result<Json<DataList<AuditEventView>>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_audit_events(s.as_caller(&c, pb::ListAuditEventsRequest { page: None }))
        .await?;
    Ok(Json(DataList::of(
        reply.into_inner().events,
        AuditEventView::of,
    )))
}

/// `POST /v1/auth/password/change` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// The password in use.
    #[serde(default)]
    #[schema(required = true)]
    current_password: String,
    /// At least 12 characters.
    #[serde(default)]
    #[schema(required = true)]
    new_password: String,
}

/// The signed-in user changes their password; every session ends.
#[utoipa::path(post, operation_id = "workspace_change_password", path = "/v1/auth/password/change", tag = "auth", request_body = ChangeBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; sign in again"),
        BodyErrors,
        CallerErrors,
        ServerErrors,
    ))]
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    /// The account's email.
    #[serde(default)]
    #[schema(required = true)]
    email: String,
}

/// Starts a reset: a single-use token is sent to the email if it has an
/// account. The answer is the same either way, so it reveals nothing.
#[utoipa::path(post, operation_id = "workspace_forgot_password", path = "/v1/auth/password/forgot", tag = "auth", request_body = ForgotBody,
    responses(
        (status = 202, description = "Taken", body = AcceptedView),
        BodyErrors, ServerErrors,
    ))]
pub async fn forgot_password(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<ForgotBody>,
) -> Result<(StatusCode, Json<AcceptedView>), GatewayError> {
    s.tenancy
        .clone()
        .request_password_reset(pb::RequestPasswordResetRequest { email: b.email })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedView {
            status: "accepted".into(),
            message: "if this email has an account, a reset link is on its way".into(),
        }),
    ))
}

/// `POST /v1/auth/password/reset` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// The token from the reset email.
    #[serde(default)]
    #[schema(required = true)]
    reset_token: String,
    /// At least 12 characters.
    #[serde(default)]
    #[schema(required = true)]
    new_password: String,
}

/// Spends a reset token on a new password; every session ends.
#[utoipa::path(post, operation_id = "workspace_reset_password", path = "/v1/auth/password/reset", tag = "auth", request_body = ResetBody,
    responses(
        (status = 204, description = "Reset; sign in with the new password"),
        BodyErrors,
        (status = 404, description = "`reset_token_not_found`: unknown, expired or already used", body = ErrorBody),
        ServerErrors,
    ))]
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
