//! The gRPC face of tenancy: translate, call the domain, translate back.

use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_server::Tenancy;
use tonic::{Request, Response, Status};

use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_kit::jwt::JwtKeys;
use aerostic_kit::{ApiError, ErrorKind};

use crate::api_keys::ApiKeys;
use crate::auth::{Auth, Registration};
use crate::entity::{api_key, tenant, user};
use crate::sessions::{Sessions, Tokens};
use crate::team::Team;

/// Serves [`Tenancy`] over the domain.
pub struct TenancyGrpc {
    /// Registration and login.
    pub auth: Auth,
    /// Refresh-token families.
    pub sessions: Sessions,
    /// Developer API keys.
    pub api_keys: ApiKeys,
    /// Invitations and team management.
    pub team: Team,
    /// Access-token keys, for `Authenticate`.
    pub keys: JwtKeys,
    /// Opens the caller identity the gateway sealed.
    pub seal: IdentitySeal,
}

impl TenancyGrpc {
    fn caller<T>(&self, request: &Request<T>) -> Result<Identity, Status> {
        Ok(self.seal.caller(request)?)
    }
}

fn login_response(tokens: Tokens, user: user::Model) -> pb::LoginResponse {
    pb::LoginResponse {
        access_token: tokens.access_token,
        token_type: "Bearer".into(),
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token,
        user: Some(user_pb(user)),
    }
}

/// `ROLE_AGENT` → `agent`; unspecified → empty (refused by validation).
fn role_name(role: pb::Role) -> String {
    if role == pb::Role::Unspecified {
        return String::new();
    }
    role.as_str_name()
        .trim_start_matches("ROLE_")
        .to_lowercase()
}

fn identity_pb(identity: Identity) -> pb::Identity {
    pb::Identity {
        tenant_id: identity.tenant_id.to_string(),
        user_id: identity.user_id.map(|u| u.to_string()).unwrap_or_default(),
        role: role(identity.role.as_str()) as i32,
        api_key_id: identity.api_key_id.unwrap_or_default(),
        scopes: identity.scopes,
    }
}

fn api_key_pb(k: api_key::Model) -> pb::ApiKey {
    pb::ApiKey {
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        scopes: k.scopes.split_whitespace().map(str::to_string).collect(),
        created_at: Some(timestamp(k.created_at)),
        last_used_at: k.last_used_at.map(timestamp),
        revoked_at: k.revoked_at.map(timestamp),
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
            Ok(Response::new(login_response(session.tokens, session.user)))
        }

        async fn refresh(&self, request: Request<pb::RefreshRequest>) -> Result<Response<pb::LoginResponse>, Status> {
            let (tokens, user) = self.sessions.refresh(&request.into_inner().refresh_token).await?;
            Ok(Response::new(login_response(tokens, user)))
        }

        async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
            self.sessions.logout(&request.into_inner().refresh_token).await?;
            Ok(Response::new(pb::LogoutResponse {}))
        }

        async fn authenticate(&self, request: Request<pb::AuthenticateRequest>) -> Result<Response<pb::Identity>, Status> {
            let identity = match request.into_inner().credential {
                Some(pb::authenticate_request::Credential::AccessToken(token)) => self.keys.identity(&token)?,
                Some(pb::authenticate_request::Credential::ApiKey(secret)) => self.api_keys.authenticate(&secret).await?,
                None => return Err(ApiError::new(ErrorKind::InvalidArgument, "credential_required", "an access token or an API key is required").into()),
            };
            Ok(Response::new(identity_pb(identity)))
        }

        async fn invite_user(&self, request: Request<pb::InviteUserRequest>) -> Result<Response<pb::InviteUserResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let invited = self.team.invite(&caller, &r.email, &role_name(r.role())).await?;
            Ok(Response::new(pb::InviteUserResponse {
                invitation_id: invited.id,
                invitation_token: invited.token,
                expires_at: Some(timestamp(invited.expires_at)),
            }))
        }

        async fn accept_invitation(&self, request: Request<pb::AcceptInvitationRequest>) -> Result<Response<pb::User>, Status> {
            let r = request.into_inner();
            let user = self.team.accept(&r.invitation_token, &r.full_name, &r.password).await?;
            Ok(Response::new(user_pb(user)))
        }

        async fn list_users(&self, request: Request<pb::ListUsersRequest>) -> Result<Response<pb::ListUsersResponse>, Status> {
            let caller = self.caller(&request)?;
            let users = self.team.list(&caller).await?;
            Ok(Response::new(pb::ListUsersResponse { users: users.into_iter().map(user_pb).collect(), page: None }))
        }

        async fn update_user_role(&self, request: Request<pb::UpdateUserRoleRequest>) -> Result<Response<pb::User>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let user = self.team.change_role(&caller, &r.user_id, &role_name(r.role())).await?;
            Ok(Response::new(user_pb(user)))
        }

        async fn deactivate_user(&self, request: Request<pb::DeactivateUserRequest>) -> Result<Response<pb::User>, Status> {
            let caller = self.caller(&request)?;
            let user = self.team.deactivate(&caller, &request.into_inner().user_id).await?;
            Ok(Response::new(user_pb(user)))
        }

        async fn create_api_key(&self, request: Request<pb::CreateApiKeyRequest>) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let (key, secret) = self.api_keys.create(&caller, &r.name, &r.scopes).await?;
            Ok(Response::new(pb::CreateApiKeyResponse { key: Some(api_key_pb(key)), secret }))
        }

        async fn list_api_keys(&self, request: Request<pb::ListApiKeysRequest>) -> Result<Response<pb::ListApiKeysResponse>, Status> {
            let caller = self.caller(&request)?;
            let keys = self.api_keys.list(&caller).await?;
            Ok(Response::new(pb::ListApiKeysResponse { keys: keys.into_iter().map(api_key_pb).collect(), page: None }))
        }

        async fn revoke_api_key(&self, request: Request<pb::RevokeApiKeyRequest>) -> Result<Response<pb::ApiKey>, Status> {
            let caller = self.caller(&request)?;
            let key = self.api_keys.revoke(&caller, &request.into_inner().key_id).await?;
            Ok(Response::new(api_key_pb(key)))
        }
    }
    unimplemented {
        get_tenant(pb::GetTenantRequest) -> pb::Tenant;
        list_tenants(pb::ListTenantsRequest) -> pb::ListTenantsResponse;
        update_tenant_plan(pb::UpdateTenantPlanRequest) -> pb::Tenant;
        set_tenant_status(pb::SetTenantStatusRequest) -> pb::Tenant;
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
