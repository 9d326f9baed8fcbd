//! `/v1/admin/*` on the admin host: platform settings, tenants and plans,
//! resellers, the Meta system-user token and the audit chain. Anyone but a
//! super admin gets 404, as if the API were not there.

use aerostic_kit::identity::{Identity, Role};
use aerostic_kit::{ApiError, ErrorKind};
use aerostic_proto::v1 as pb;
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::identity::Caller;
use crate::json::ApiJson;
use crate::openapi::{AdminErrors, BodyErrors, ServerErrors};
use crate::views::{
    AuditEventView, AuditVerifyView, ConfigView, DataList, PlanView, ResellerView, TenantView,
    TokenStatusView,
};
use crate::{AppState, GatewayError};

/// A super admin on the admin host.
pub struct PlatformAdmin(pub Identity);

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, GatewayError> {
        let hidden = || {
            GatewayError(ApiError::new(
                ErrorKind::NotFound,
                "route_not_found",
                "no such endpoint",
            ))
        };
        let Ok(Caller(caller)) = Caller::from_request_parts(parts, state).await else {
            return Err(hidden());
        };
        if caller.role != Role::SuperAdmin || caller.api_key_id.is_some() {
            return Err(hidden());
        }
        Ok(PlatformAdmin(caller))
    }
}

/// The platform settings.
#[utoipa::path(get, operation_id = "admin_get_config", path = "/v1/admin/config", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every setting with its value", body = ConfigView),
        AdminErrors, ServerErrors,
    ))]
pub async fn get_config(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<ConfigView>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .get_platform_config(s.as_caller(&c, pb::GetPlatformConfigRequest {}))
        .await?;
    Ok(Json(ConfigView::of(reply.into_inner())))
}

/// `POST /v1/admin/config` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    /// Setting key to new value, e.g. `{"signup.enabled": "false"}`; `GET`
    /// lists every key (`signup.*`, `branding.*`, `meta.*`, `billing.*`).
    #[serde(default)]
    #[schema(required = true)]
    settings: std::collections::HashMap<String, String>,
}

/// Changes settings: each is validated by its type; all or nothing.
#[utoipa::path(post, operation_id = "admin_update_config", path = "/v1/admin/config", tag = "admin", request_body = ConfigBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every setting after the change", body = ConfigView),
        BodyErrors, AdminErrors, ServerErrors,
    ))]
pub async fn update_config(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    ApiJson(body): ApiJson<ConfigBody>,
) -> Result<Json<ConfigView>, GatewayError> {
    let req = s.as_caller(
        &c,
        pb::UpdatePlatformConfigRequest {
            settings: body.settings,
        },
    );
    let reply = s.tenancy.clone().update_platform_config(req).await?;
    Ok(Json(ConfigView::of(reply.into_inner())))
}

/// Every tenant.
#[utoipa::path(get, operation_id = "admin_list_tenants", path = "/v1/admin/tenants", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenants, newest first", body = DataList<TenantView>),
        AdminErrors, ServerErrors,
    ))]
pub async fn list_tenants(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<DataList<TenantView>>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_tenants(s.as_caller(&c, pb::ListTenantsRequest { page: None }))
        .await?;
    Ok(Json(DataList::of(
        reply.into_inner().tenants,
        TenantView::of,
    )))
}

/// The plans tenants can be on, with their limits.
#[utoipa::path(get, operation_id = "admin_list_plans", path = "/v1/admin/plans", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The plans", body = DataList<PlanView>),
        AdminErrors, ServerErrors,
    ))]
pub async fn list_plans(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<DataList<PlanView>>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_plans(s.as_caller(&c, pb::ListPlansRequest {}))
        .await?;
    Ok(Json(DataList::of(reply.into_inner().plans, PlanView::of)))
}

/// `PATCH /v1/admin/tenants/{id}/plan` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// A plan's code, e.g. `growth`.
    #[serde(default)]
    #[schema(required = true, example = "growth")]
    plan_code: String,
}

/// Moves a tenant to another plan.
#[utoipa::path(patch, operation_id = "admin_change_plan", path = "/v1/admin/tenants/{id}/plan", tag = "admin", request_body = PlanBody,
    params(("id" = String, Path, description = "The tenant's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant on its new plan", body = TenantView),
        BodyErrors, AdminErrors, ServerErrors,
    ))]
pub async fn change_plan(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Json<TenantView>, GatewayError> {
    let req = s.as_caller(
        &c,
        pb::UpdateTenantPlanRequest {
            tenant_id: id,
            plan_code: body.plan_code,
        },
    );
    let reply = s.tenancy.clone().update_tenant_plan(req).await?;
    Ok(Json(TenantView::of(reply.into_inner())))
}

/// `POST /v1/admin/tenants/{id}/suspend` body.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why (kept in the audit trail).
    #[serde(default)]
    reason: String,
}

async fn set_status(
    s: AppState,
    c: Identity,
    id: String,
    status: pb::TenantStatus,
    reason: String,
) -> Result<Json<TenantView>, GatewayError> {
    let req = s.as_caller(
        &c,
        pb::SetTenantStatusRequest {
            tenant_id: id.clone(),
            status: status as i32,
            reason,
        },
    );
    let reply = s.tenancy.clone().set_tenant_status(req).await?;
    s.forget_tenant(&id);
    Ok(Json(TenantView::of(reply.into_inner())))
}

/// Suspends a tenant: its sessions end, its keys and tokens stop working.
#[utoipa::path(post, operation_id = "admin_suspend", path = "/v1/admin/tenants/{id}/suspend", tag = "admin", request_body = ReasonBody,
    params(("id" = String, Path, description = "The tenant's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant, suspended", body = TenantView),
        BodyErrors, AdminErrors,
        (status = 422, description = "`cannot_suspend_platform`: the platform's own tenant stays active", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn suspend(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<TenantView>, GatewayError> {
    set_status(s, c, id, pb::TenantStatus::Suspended, body.reason).await
}

/// Reactivates a suspended tenant.
#[utoipa::path(post, operation_id = "admin_reactivate", path = "/v1/admin/tenants/{id}/reactivate", tag = "admin",
    params(("id" = String, Path, description = "The tenant's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant, active", body = TenantView),
        AdminErrors, ServerErrors,
    ))]
pub async fn reactivate(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
) -> Result<Json<TenantView>, GatewayError> {
    set_status(s, c, id, pb::TenantStatus::Active, String::new()).await
}

/// `POST /v1/admin/resellers` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResellerBody {
    /// Brand name.
    #[serde(default)]
    #[schema(required = true)]
    name: String,
    /// HTTPS URL of the logo.
    #[serde(default)]
    logo_url: String,
    /// `#rrggbb`.
    #[serde(default)]
    primary_color: String,
    /// `#rrggbb`.
    #[serde(default)]
    accent_color: String,
    /// Markup on message prices in basis points (0–10000).
    #[serde(default)]
    markup_bps: u32,
}

/// Creates a reseller.
#[utoipa::path(post, operation_id = "admin_create_reseller", path = "/v1/admin/resellers", tag = "admin", request_body = ResellerBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The reseller", body = ResellerView),
        BodyErrors, AdminErrors, ServerErrors,
    ))]
pub async fn create_reseller(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    ApiJson(b): ApiJson<ResellerBody>,
) -> Result<(StatusCode, Json<ResellerView>), GatewayError> {
    let req = s.as_caller(
        &c,
        pb::CreateResellerRequest {
            name: b.name,
            logo_url: b.logo_url,
            primary_color: b.primary_color,
            accent_color: b.accent_color,
            markup_bps: b.markup_bps,
        },
    );
    let reply = s.tenancy.clone().create_reseller(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(ResellerView::of(reply.into_inner())),
    ))
}

/// Every reseller.
#[utoipa::path(get, operation_id = "admin_list_resellers", path = "/v1/admin/resellers", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The resellers", body = DataList<ResellerView>),
        AdminErrors, ServerErrors,
    ))]
pub async fn list_resellers(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<DataList<ResellerView>>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_resellers(s.as_caller(&c, pb::ListResellersRequest {}))
        .await?;
    Ok(Json(DataList::of(
        reply.into_inner().resellers,
        ResellerView::of,
    )))
}

/// `POST /v1/admin/resellers/{id}/domains` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainBody {
    /// A host name outside the base domain, e.g. `chat.reseller.io`.
    #[serde(default)]
    #[schema(required = true, example = "chat.reseller.io")]
    domain: String,
}

/// Points a custom domain at a reseller.
#[utoipa::path(post, operation_id = "admin_add_domain", path = "/v1/admin/resellers/{id}/domains", tag = "admin", request_body = DomainBody,
    params(("id" = String, Path, description = "The reseller's id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The reseller with its domains", body = ResellerView),
        BodyErrors, AdminErrors,
        (status = 409, description = "`domain_taken`", body = ErrorBody),
        ServerErrors,
    ))]
pub async fn add_domain(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DomainBody>,
) -> Result<(StatusCode, Json<ResellerView>), GatewayError> {
    let req = s.as_caller(
        &c,
        pb::AddResellerDomainRequest {
            reseller_id: id,
            domain: b.domain,
        },
    );
    let reply = s.tenancy.clone().add_reseller_domain(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(ResellerView::of(reply.into_inner())),
    ))
}

/// Where the Meta system-user token stands (never the token).
#[utoipa::path(get, operation_id = "admin_token_status", path = "/v1/admin/meta/system-user-token", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Its source and rotation schedule", body = TokenStatusView),
        AdminErrors, ServerErrors,
    ))]
pub async fn token_status(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<TokenStatusView>, GatewayError> {
    let req = s.as_caller(&c, pb::GetSystemUserTokenStatusRequest {});
    let reply = s.tenancy.clone().get_system_user_token_status(req).await?;
    Ok(Json(TokenStatusView::of(reply.into_inner())))
}

/// `POST /v1/admin/meta/system-user-token` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The new system-user token from Meta Business Manager.
    #[serde(default)]
    #[schema(required = true)]
    token: String,
}

/// Rotates the Meta system-user token: Meta checks it first, then it is
/// stored encrypted and used from then on.
#[utoipa::path(post, operation_id = "admin_rotate_token", path = "/v1/admin/meta/system-user-token", tag = "admin", request_body = TokenBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new schedule", body = TokenStatusView),
        BodyErrors, AdminErrors,
        (status = 422, description = "`meta_token_invalid`: Meta refused the token; `meta_not_configured`", body = ErrorBody),
        (status = 503, description = "`meta_unavailable`, `meta_error`, `unavailable`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    ))]
pub async fn rotate_token(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    ApiJson(b): ApiJson<TokenBody>,
) -> Result<Json<TokenStatusView>, GatewayError> {
    let req = s.as_caller(&c, pb::RotateSystemUserTokenRequest { token: b.token });
    let reply = s.tenancy.clone().rotate_system_user_token(req).await?;
    Ok(Json(TokenStatusView::of(reply.into_inner())))
}

/// Walks the audit chain; names the first broken link.
#[utoipa::path(get, operation_id = "admin_verify_audit", path = "/v1/admin/audit/verify", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Whether the chain holds", body = AuditVerifyView),
        AdminErrors, ServerErrors,
    ))]
pub async fn verify_audit(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<AuditVerifyView>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .verify_audit_chain(s.as_caller(&c, pb::VerifyAuditChainRequest {}))
        .await?
        .into_inner();
    Ok(Json(AuditVerifyView {
        intact: reply.intact,
        checked: reply.checked,
        first_broken_event_id: (!reply.first_broken_event_id.is_empty())
            .then_some(reply.first_broken_event_id),
    }))
}

/// The latest audit events of the whole platform.
#[utoipa::path(get, operation_id = "admin_audit_events", path = "/v1/admin/audit/events", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first, PII masked", body = DataList<AuditEventView>),
        AdminErrors, ServerErrors,
    ))]
pub async fn audit_events(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
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
