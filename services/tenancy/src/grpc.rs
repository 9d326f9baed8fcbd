//! The gRPC face of tenancy: translate, call the domain, translate back.

use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_server::Tenancy;
use tonic::{Request, Response, Status};

use crate::auth::{Auth, Registration};
use crate::entity::{tenant, user};

/// Serves [`Tenancy`] over the domain.
pub struct TenancyGrpc {
    auth: Auth,
}

impl TenancyGrpc {
    /// A server over `auth`.
    pub fn new(auth: Auth) -> Self {
        Self { auth }
    }
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

fn role(name: &str) -> pb::Role {
    match name {
        "super_admin" => pb::Role::SuperAdmin,
        "workspace_admin" => pb::Role::WorkspaceAdmin,
        "agent" => pb::Role::Agent,
        "ai_agent" => pb::Role::AiAgent,
        _ => pb::Role::Unspecified,
    }
}

fn tenant_pb(t: tenant::Model) -> pb::Tenant {
    pb::Tenant {
        id: t.id,
        name: t.name,
        status: if t.status == "active" {
            pb::TenantStatus::Active
        } else {
            pb::TenantStatus::Suspended
        } as i32,
        plan: Some(pb::Plan {
            code: t.plan_code,
            ..Default::default()
        }),
        reseller_id: String::new(),
        created_at: Some(timestamp(t.created_at)),
    }
}

fn user_pb(u: user::Model) -> pb::User {
    pb::User {
        id: u.id,
        tenant_id: u.tenant_id,
        email: u.email,
        full_name: u.full_name,
        role: role(&u.role) as i32,
        active: u.active,
        created_at: Some(timestamp(u.created_at)),
    }
}

aerostic_kit::service_impl! {
    impl Tenancy for TenancyGrpc {
        async fn register(&self, request: Request<pb::RegisterRequest>) -> Result<Response<pb::RegisterResponse>, Status> {
            let r = request.into_inner();
            let (tenant, user) = self
                .auth
                .register(Registration { tenant_name: r.tenant_name, email: r.email, password: r.password, full_name: r.full_name })
                .await?;
            Ok(Response::new(pb::RegisterResponse { tenant: Some(tenant_pb(tenant)), user: Some(user_pb(user)) }))
        }

        async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
            let r = request.into_inner();
            let session = self.auth.login(&r.email, &r.password, &r.client_ip).await?;
            Ok(Response::new(pb::LoginResponse {
                access_token: session.access_token,
                token_type: "Bearer".into(),
                expires_in: session.expires_in,
                // Rotating refresh tokens arrive with sessions proper (issue 5).
                refresh_token: String::new(),
                user: Some(user_pb(session.user)),
            }))
        }
    }
    unimplemented {
        refresh(pb::RefreshRequest) -> pb::LoginResponse;
        logout(pb::LogoutRequest) -> pb::LogoutResponse;
        authenticate(pb::AuthenticateRequest) -> pb::Identity;
        get_tenant(pb::GetTenantRequest) -> pb::Tenant;
        list_tenants(pb::ListTenantsRequest) -> pb::ListTenantsResponse;
        update_tenant_plan(pb::UpdateTenantPlanRequest) -> pb::Tenant;
        set_tenant_status(pb::SetTenantStatusRequest) -> pb::Tenant;
        invite_user(pb::InviteUserRequest) -> pb::InviteUserResponse;
        accept_invitation(pb::AcceptInvitationRequest) -> pb::User;
        list_users(pb::ListUsersRequest) -> pb::ListUsersResponse;
        update_user_role(pb::UpdateUserRoleRequest) -> pb::User;
        deactivate_user(pb::DeactivateUserRequest) -> pb::User;
        create_api_key(pb::CreateApiKeyRequest) -> pb::CreateApiKeyResponse;
        list_api_keys(pb::ListApiKeysRequest) -> pb::ListApiKeysResponse;
        revoke_api_key(pb::RevokeApiKeyRequest) -> pb::ApiKey;
        start_embedded_signup(pb::StartEmbeddedSignupRequest) -> pb::StartEmbeddedSignupResponse;
        finish_embedded_signup(pb::FinishEmbeddedSignupRequest) -> pb::WhatsAppAccount;
        init_cloud_number(pb::InitCloudNumberRequest) -> pb::WhatsAppAccount;
        list_whats_app_accounts(pb::ListWhatsAppAccountsRequest) -> pb::ListWhatsAppAccountsResponse;
        resolve_phone_number(pb::ResolvePhoneNumberRequest) -> pb::ResolvePhoneNumberResponse;
        rotate_system_user_token(pb::RotateSystemUserTokenRequest) -> pb::RotateSystemUserTokenResponse;
        get_platform_config(pb::GetPlatformConfigRequest) -> pb::PlatformConfig;
        update_platform_config(pb::UpdatePlatformConfigRequest) -> pb::PlatformConfig;
        get_branding(pb::GetBrandingRequest) -> pb::Branding;
        list_audit_events(pb::ListAuditEventsRequest) -> pb::ListAuditEventsResponse;
        verify_audit_chain(pb::VerifyAuditChainRequest) -> pb::VerifyAuditChainResponse;
    }
}
