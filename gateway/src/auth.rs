//! `/v1/auth/*` and `/v1/me`: translate to tenancy's gRPC and back.

use std::net::SocketAddr;

use aerostic_kit::signals::{Signal, SignalKind};
use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::hosts::{RequestHost, Surface};
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{BodyErrors, CallerErrors, ServerErrors};
use crate::views::{MeView, RegisteredView, SessionView};
use crate::{AppState, GatewayError};

/// `POST /v1/auth/register` body. Absent fields read as empty and are
/// reported by the service per field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// The workspace's name.
    #[serde(default)]
    #[schema(required = true)]
    tenant_name: String,
    /// The first admin's email; it signs in with it.
    #[serde(default)]
    #[schema(required = true)]
    email: String,
    /// At least 12 characters.
    #[serde(default)]
    #[schema(required = true)]
    password: String,
    /// The admin's display name.
    #[serde(default)]
    full_name: String,
}

/// `POST /v1/auth/login` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The account's email.
    #[serde(default)]
    #[schema(required = true)]
    email: String,
    /// Its password.
    #[serde(default)]
    #[schema(required = true)]
    password: String,
}

/// Creates a workspace and its first admin. On a reseller's domain the
/// workspace belongs to that reseller.
#[utoipa::path(post, operation_id = "auth_register", path = "/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses(
        (status = 201, description = "The workspace and its admin", body = RegisteredView),
        BodyErrors,
        (status = 403, description = "`signup_disabled`: the platform does not take sign-ups now", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 429, description = "`register_rate_limited`; see `Retry-After`", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn register(
    State(state): State<AppState>,
    axum::Extension(RequestHost(host)): axum::Extension<RequestHost>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<RegisteredView>), GatewayError> {
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
    Ok((StatusCode::CREATED, Json(RegisteredView::of(reply))))
}

/// Exchanges credentials for an access token and a refresh token. Failures
/// are counted per account and per IP; too many answer 429.
#[utoipa::path(post, operation_id = "auth_login", path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "A new session", body = SessionView),
        BodyErrors,
        (status = 401, description = "`invalid_credentials` (the same for an unknown email and a wrong password)", body = ErrorBody),
        (status = 403, description = "`tenant_suspended`; `use_admin_host`: super admins sign in on the admin host, and only they may", body = ErrorBody),
        (status = 429, description = "`too_many_login_attempts`; see `Retry-After`", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Extension(surface): axum::Extension<Surface>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<SessionView>, GatewayError> {
    state.shield.check_login(&body.email)?;
    let account = state.shield.account(&body.email);
    let answer = state
        .tenancy
        .clone()
        .login(pb::LoginRequest {
            email: body.email,
            password: body.password,
            client_ip: peer.ip().to_string(),
            admin_host: surface == Surface::Admin,
        })
        .await;
    // A wrong password, or an attempt tenancy refused for too many of them,
    // is a failed login; other refusals (a suspended workspace, the admin
    // host) are not attempts the detector should count.
    let outcome = match &answer {
        Ok(reply) => Some((
            true,
            reply
                .get_ref()
                .user
                .as_ref()
                .map(|u| u.tenant_id.clone())
                .unwrap_or_default(),
        )),
        // A wrong password, or any attempt while tenancy's own lockout holds.
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::Unauthenticated | tonic::Code::ResourceExhausted
            ) =>
        {
            Some((false, String::new()))
        }
        Err(_) => None,
    };
    if let Some((ok, tenant)) = outcome {
        let mut signal =
            Signal::now(SignalKind::Login { account, ok }).ip(Some(peer.ip().to_string()));
        if !tenant.is_empty() {
            signal = signal.tenant(tenant);
        }
        state.shield.record(signal);
    }
    Ok(Json(SessionView::of(answer?.into_inner())))
}

/// `POST /v1/auth/refresh` and `/v1/auth/logout` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The session's current refresh token.
    #[serde(default)]
    #[schema(required = true)]
    refresh_token: String,
}

fn required_refresh_token(body: &RefreshBody) -> Result<(), GatewayError> {
    if body.refresh_token.is_empty() {
        return Err(aerostic_kit::ApiError::invalid_field("refresh_token", "is required").into());
    }
    Ok(())
}

/// Spends a refresh token for a new access token and refresh token. Spending
/// one twice revokes the whole session family.
#[utoipa::path(post, operation_id = "auth_refresh", path = "/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses(
        (status = 200, description = "The session, renewed", body = SessionView),
        BodyErrors,
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_expired`, `refresh_token_reused` (the family is now revoked)", body = ErrorBody),
        (status = 403, description = "`tenant_suspended`", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<SessionView>, GatewayError> {
    required_refresh_token(&body)?;
    let reply = state
        .tenancy
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: body.refresh_token,
        })
        .await?
        .into_inner();
    Ok(Json(SessionView::of(reply)))
}

/// Ends the session of a refresh token. Idempotent: an unknown or spent
/// token also answers 204.
#[utoipa::path(post, operation_id = "auth_logout", path = "/v1/auth/logout", tag = "auth", request_body = RefreshBody,
    responses(
        (status = 204, description = "The session is over"),
        BodyErrors,
        ServerErrors,
    ))]
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

/// Who the credential stands for.
#[utoipa::path(get, operation_id = "auth_me", path = "/v1/me", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller", body = MeView),
        CallerErrors,
        ServerErrors,
    ))]
pub async fn me(Caller(caller): Caller) -> Json<MeView> {
    Json(MeView {
        tenant_id: caller.tenant_id.to_string(),
        user_id: caller.user_id.map(|u| u.to_string()),
        role: caller.role.as_str().to_string(),
        api_key_id: caller.api_key_id,
        scopes: caller.scopes,
    })
}
