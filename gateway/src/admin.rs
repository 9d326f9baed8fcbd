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
use serde_json::{Value, json};

use crate::api_keys::rfc3339;
use crate::identity::Caller;
use crate::json::ApiJson;
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

pub(crate) fn plan_json(p: Option<pb::Plan>) -> Value {
    let p = p.unwrap_or_default();
    json!({
        "code": p.code,
        "name": p.name,
        "messages_per_day": p.messages_per_day,
        "max_numbers": p.max_numbers,
        "max_agents": p.max_agents,
        "ai_credits": p.ai_credits,
    })
}

pub(crate) fn tenant_json(t: pb::Tenant) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "status": t.status().wire_name(),
        "plan": plan_json(t.plan),
        "reseller_id": (!t.reseller_id.is_empty()).then_some(t.reseller_id),
        "created_at": rfc3339(t.created_at),
    })
}

fn config_json(c: pb::PlatformConfig) -> Value {
    let settings: std::collections::BTreeMap<_, _> = c.settings.into_iter().collect();
    json!({ "settings": settings, "updated_at": rfc3339(c.updated_at) })
}

fn reseller_json(r: pb::Reseller) -> Value {
    let b = r.branding.unwrap_or_default();
    json!({
        "id": r.id,
        "name": b.name,
        "logo_url": b.logo_url,
        "primary_color": b.primary_color,
        "accent_color": b.accent_color,
        "markup_bps": r.markup_bps,
        "domains": r.domains,
        "created_at": rfc3339(r.created_at),
    })
}

fn token_json(t: pb::RotateSystemUserTokenResponse) -> Value {
    json!({
        "source": t.source,
        "rotated_at": rfc3339(t.rotated_at),
        "next_rotation_at": rfc3339(t.next_rotation_at),
        "rotation_due": t.rotation_due,
    })
}

pub(crate) fn audit_json(e: pb::AuditEvent) -> Value {
    json!({
        "id": e.id,
        "tenant_id": e.tenant_id,
        "actor": e.actor,
        "action": e.action,
        "detail": e.detail,
        "occurred_at": rfc3339(e.occurred_at),
    })
}

/// The platform settings.
pub async fn get_config(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .get_platform_config(s.as_caller(&c, pb::GetPlatformConfigRequest {}))
        .await?;
    Ok(Json(config_json(reply.into_inner())))
}

/// `POST /v1/admin/config` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    #[serde(default)]
    settings: std::collections::HashMap<String, String>,
}

/// Changes settings (all validated, all or nothing).
pub async fn update_config(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    ApiJson(body): ApiJson<ConfigBody>,
) -> Result<Json<Value>, GatewayError> {
    let req = s.as_caller(
        &c,
        pb::UpdatePlatformConfigRequest {
            settings: body.settings,
        },
    );
    let reply = s.tenancy.clone().update_platform_config(req).await?;
    Ok(Json(config_json(reply.into_inner())))
}

/// Every tenant.
pub async fn list_tenants(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_tenants(s.as_caller(&c, pb::ListTenantsRequest { page: None }))
        .await?;
    let data: Vec<Value> = reply
        .into_inner()
        .tenants
        .into_iter()
        .map(tenant_json)
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// The plans tenants can be on.
pub async fn list_plans(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_plans(s.as_caller(&c, pb::ListPlansRequest {}))
        .await?;
    let data: Vec<Value> = reply
        .into_inner()
        .plans
        .into_iter()
        .map(|p| plan_json(Some(p)))
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// `PATCH /v1/admin/tenants/{id}/plan` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    #[serde(default)]
    plan_code: String,
}

/// Moves a tenant to another plan.
pub async fn change_plan(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Json<Value>, GatewayError> {
    let req = s.as_caller(
        &c,
        pb::UpdateTenantPlanRequest {
            tenant_id: id,
            plan_code: body.plan_code,
        },
    );
    let reply = s.tenancy.clone().update_tenant_plan(req).await?;
    Ok(Json(tenant_json(reply.into_inner())))
}

/// `POST /v1/admin/tenants/{id}/suspend` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    reason: String,
}

async fn set_status(
    s: AppState,
    c: Identity,
    id: String,
    status: pb::TenantStatus,
    reason: String,
) -> Result<Json<Value>, GatewayError> {
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
    Ok(Json(tenant_json(reply.into_inner())))
}

/// Suspends a tenant: its sessions end, its keys and tokens stop working.
pub async fn suspend(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Value>, GatewayError> {
    set_status(s, c, id, pb::TenantStatus::Suspended, body.reason).await
}

/// Reactivates a suspended tenant.
pub async fn reactivate(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    set_status(s, c, id, pb::TenantStatus::Active, String::new()).await
}

/// `POST /v1/admin/resellers` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResellerBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    primary_color: String,
    #[serde(default)]
    accent_color: String,
    #[serde(default)]
    markup_bps: u32,
}

/// Creates a reseller.
pub async fn create_reseller(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    ApiJson(b): ApiJson<ResellerBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
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
    Ok((StatusCode::CREATED, Json(reseller_json(reply.into_inner()))))
}

/// Every reseller.
pub async fn list_resellers(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .list_resellers(s.as_caller(&c, pb::ListResellersRequest {}))
        .await?;
    let data: Vec<Value> = reply
        .into_inner()
        .resellers
        .into_iter()
        .map(reseller_json)
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// `POST /v1/admin/resellers/{id}/domains` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainBody {
    #[serde(default)]
    domain: String,
}

/// Points a custom domain at a reseller.
pub async fn add_domain(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DomainBody>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let req = s.as_caller(
        &c,
        pb::AddResellerDomainRequest {
            reseller_id: id,
            domain: b.domain,
        },
    );
    let reply = s.tenancy.clone().add_reseller_domain(req).await?;
    Ok((StatusCode::CREATED, Json(reseller_json(reply.into_inner()))))
}

/// Where the Meta system-user token stands.
pub async fn token_status(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<Value>, GatewayError> {
    let req = s.as_caller(&c, pb::GetSystemUserTokenStatusRequest {});
    let reply = s.tenancy.clone().get_system_user_token_status(req).await?;
    Ok(Json(token_json(reply.into_inner())))
}

/// `POST /v1/admin/meta/system-user-token` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[serde(default)]
    token: String,
}

/// Rotates the Meta system-user token (Meta checks it first).
pub async fn rotate_token(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
    ApiJson(b): ApiJson<TokenBody>,
) -> Result<Json<Value>, GatewayError> {
    let req = s.as_caller(&c, pb::RotateSystemUserTokenRequest { token: b.token });
    let reply = s.tenancy.clone().rotate_system_user_token(req).await?;
    Ok(Json(token_json(reply.into_inner())))
}

/// Walks the audit chain; names the first broken link.
pub async fn verify_audit(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
) -> Result<Json<Value>, GatewayError> {
    let reply = s
        .tenancy
        .clone()
        .verify_audit_chain(s.as_caller(&c, pb::VerifyAuditChainRequest {}))
        .await?
        .into_inner();
    Ok(Json(json!({
        "intact": reply.intact,
        "checked": reply.checked,
        "first_broken_event_id": (!reply.first_broken_event_id.is_empty()).then_some(reply.first_broken_event_id),
    })))
}

/// The latest audit events of the whole platform.
pub async fn audit_events(
    State(s): State<AppState>,
    PlatformAdmin(c): PlatformAdmin,
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
        .map(audit_json)
        .collect();
    Ok(Json(json!({ "data": data })))
}
