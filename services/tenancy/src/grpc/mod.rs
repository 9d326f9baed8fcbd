//! The gRPC face of tenancy: translate, call the domain, translate back.

use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_server::Tenancy;
use tonic::{Request, Response, Status};

use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_kit::jwt::JwtKeys;
use aerostic_kit::{ApiError, ErrorKind};

use crate::api_keys::ApiKeys;
use crate::auth::{Auth, Registration};
use crate::chain::Chain;
use crate::credentials::Credentials;
use crate::resellers::{NewReseller, Resellers};
use crate::sessions::Sessions;
use crate::settings::Settings;
use crate::team::Team;
use crate::tenants::{TenantStatus, Tenants};
use crate::whatsapp::{Finish, WhatsApp};

mod convert;
use convert::*;

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
    /// Password changes and resets.
    pub credentials: Credentials,
    /// Tenants and plans.
    pub tenants: Tenants,
    /// Platform settings.
    pub settings: Settings,
    /// Resellers and branding.
    pub resellers: Resellers,
    /// WhatsApp onboarding and routing.
    pub whatsapp: WhatsApp,
    /// The audit chain.
    pub chain: Chain,
    /// The database the audit chain is read from.
    pub db: sea_orm::DatabaseConnection,
}

impl TenancyGrpc {
    fn caller<T>(&self, request: &Request<T>) -> Result<Identity, Status> {
        Ok(self.seal.caller(request)?)
    }
}

aerostic_kit::service_impl! {
    impl Tenancy for TenancyGrpc {
        async fn register(&self, request: Request<pb::RegisterRequest>) -> Result<Response<pb::RegisterResponse>, Status> {
            let r = request.into_inner();
            let (tenant, user) = self
                .auth
                .register(Registration { tenant_name: r.tenant_name, email: r.email, password: r.password, full_name: r.full_name, host: r.host })
                .await?;
            Ok(Response::new(pb::RegisterResponse { tenant: Some(tenant_pb(tenant, None)), user: Some(user_pb(user)) }))
        }

        async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
            let r = request.into_inner();
            let session = self.auth.login(&r.email, &r.password, &r.client_ip, r.admin_host).await?;
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
            let invited = self.team.invite(&caller, &r.email, &r.role().wire_name()).await?;
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
            let user = self.team.change_role(&caller, &r.user_id, &r.role().wire_name()).await?;
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

        async fn change_password(&self, request: Request<pb::ChangePasswordRequest>) -> Result<Response<pb::ChangePasswordResponse>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            self.credentials.change(&caller, &r.current_password, &r.new_password).await?;
            Ok(Response::new(pb::ChangePasswordResponse {}))
        }

        async fn request_password_reset(&self, request: Request<pb::RequestPasswordResetRequest>) -> Result<Response<pb::RequestPasswordResetResponse>, Status> {
            self.credentials.request_reset(&request.into_inner().email).await?;
            Ok(Response::new(pb::RequestPasswordResetResponse {}))
        }

        async fn reset_password(&self, request: Request<pb::ResetPasswordRequest>) -> Result<Response<pb::ResetPasswordResponse>, Status> {
            let r = request.into_inner();
            self.credentials.reset(&r.reset_token, &r.new_password).await?;
            Ok(Response::new(pb::ResetPasswordResponse {}))
        }

        async fn get_tenant(&self, request: Request<pb::GetTenantRequest>) -> Result<Response<pb::Tenant>, Status> {
            let caller = self.caller(&request)?;
            let (tenant, plan) = self.tenants.get(&caller, &request.get_ref().tenant_id).await?;
            let markup = self.resellers.markup_of(tenant.reseller_id.as_deref()).await?;
            let numbers = self.whatsapp.numbers_in_use(&tenant.id, "").await?;
            let agents = self.team.seats_taken(&tenant.id).await?;
            Ok(Response::new(pb::Tenant {
                reseller_markup_bps: markup,
                numbers_in_use: u32::try_from(numbers).unwrap_or(u32::MAX),
                agents_in_use: u32::try_from(agents).unwrap_or(u32::MAX),
                ..tenant_pb(tenant, Some(plan))
            }))
        }

        async fn list_tenants(&self, request: Request<pb::ListTenantsRequest>) -> Result<Response<pb::ListTenantsResponse>, Status> {
            let caller = self.caller(&request)?;
            let tenants = self.tenants.list(&caller).await?;
            Ok(Response::new(pb::ListTenantsResponse { tenants: tenants.into_iter().map(|(t, p)| tenant_pb(t, p)).collect(), page: None }))
        }

        async fn update_tenant_plan(&self, request: Request<pb::UpdateTenantPlanRequest>) -> Result<Response<pb::Tenant>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let (tenant, plan) = self.tenants.change_plan(&caller, &r.tenant_id, &r.plan_code).await?;
            Ok(Response::new(tenant_pb(tenant, Some(plan))))
        }

        async fn set_tenant_status(&self, request: Request<pb::SetTenantStatusRequest>) -> Result<Response<pb::Tenant>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let status = match r.status() {
                pb::TenantStatus::Active => TenantStatus::Active,
                pb::TenantStatus::Suspended => TenantStatus::Suspended,
                pb::TenantStatus::Unspecified => return Err(ApiError::invalid_field("status", "must be active or suspended").into()),
            };
            let tenant = self.tenants.set_status(&caller, &r.tenant_id, status, &r.reason).await?;
            Ok(Response::new(tenant_pb(tenant, None)))
        }

        async fn list_plans(&self, request: Request<pb::ListPlansRequest>) -> Result<Response<pb::ListPlansResponse>, Status> {
            self.caller(&request)?;
            let plans = self.tenants.plans().await?;
            Ok(Response::new(pb::ListPlansResponse { plans: plans.into_iter().map(plan_pb).collect() }))
        }

        async fn create_reseller(&self, request: Request<pb::CreateResellerRequest>) -> Result<Response<pb::Reseller>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let created = self.resellers.create(&caller, NewReseller { name: r.name, logo_url: r.logo_url, primary_color: r.primary_color, accent_color: r.accent_color, markup_bps: r.markup_bps }).await?;
            Ok(Response::new(reseller_pb(created, Vec::new())))
        }

        async fn list_resellers(&self, request: Request<pb::ListResellersRequest>) -> Result<Response<pb::ListResellersResponse>, Status> {
            let caller = self.caller(&request)?;
            let all = self.resellers.list(&caller).await?;
            Ok(Response::new(pb::ListResellersResponse { resellers: all.into_iter().map(|(r, d)| reseller_pb(r, d)).collect() }))
        }

        async fn add_reseller_domain(&self, request: Request<pb::AddResellerDomainRequest>) -> Result<Response<pb::Reseller>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let (reseller, domains) = self.resellers.add_domain(&caller, &r.reseller_id, &r.domain).await?;
            Ok(Response::new(reseller_pb(reseller, domains)))
        }

        async fn start_embedded_signup(&self, request: Request<pb::StartEmbeddedSignupRequest>) -> Result<Response<pb::StartEmbeddedSignupResponse>, Status> {
            let caller = self.caller(&request)?;
            let start = self.whatsapp.start(&caller).await?;
            Ok(Response::new(pb::StartEmbeddedSignupResponse { app_id: start.app_id, config_id: start.config_id, state: start.state, graph_version: start.graph_version }))
        }

        async fn finish_embedded_signup(&self, request: Request<pb::FinishEmbeddedSignupRequest>) -> Result<Response<pb::WhatsAppAccount>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let account = self.whatsapp.finish(&caller, Finish { code: r.code, state: r.state, waba_id: r.waba_id, phone_number_id: r.phone_number_id, pin: r.pin }).await?;
            Ok(Response::new(account_pb(account)))
        }

        async fn complete_signup_redirect(&self, request: Request<pb::CompleteSignupRedirectRequest>) -> Result<Response<pb::ListWhatsAppAccountsResponse>, Status> {
            let r = request.into_inner();
            let accounts = self.whatsapp.callback(&r.code, &r.state).await?;
            Ok(Response::new(pb::ListWhatsAppAccountsResponse { accounts: accounts.into_iter().map(account_pb).collect() }))
        }

        async fn init_cloud_number(&self, request: Request<pb::InitCloudNumberRequest>) -> Result<Response<pb::WhatsAppAccount>, Status> {
            let caller = self.caller(&request)?;
            let r = request.into_inner();
            let account = self.whatsapp.init_cloud(&caller, &r.waba_id, &r.phone_number_id, &r.pin).await?;
            Ok(Response::new(account_pb(account)))
        }

        async fn list_whats_app_accounts(&self, request: Request<pb::ListWhatsAppAccountsRequest>) -> Result<Response<pb::ListWhatsAppAccountsResponse>, Status> {
            let caller = self.caller(&request)?;
            let accounts = self.whatsapp.list(&caller).await?;
            Ok(Response::new(pb::ListWhatsAppAccountsResponse { accounts: accounts.into_iter().map(account_pb).collect() }))
        }

        async fn resolve_phone_number(&self, request: Request<pb::ResolvePhoneNumberRequest>) -> Result<Response<pb::ResolvePhoneNumberResponse>, Status> {
            let r = request.into_inner();
            let route = if r.phone_number_id.is_empty() && !r.waba_id.is_empty() {
                self.whatsapp.resolve_waba(&r.waba_id).await?
            } else {
                self.whatsapp.resolve(&r.phone_number_id).await?
            };
            let tenant_status = if route.tenant_status == "active" { pb::TenantStatus::Active } else { pb::TenantStatus::Suspended };
            Ok(Response::new(pb::ResolvePhoneNumberResponse { tenant_id: route.tenant_id, whatsapp_account_id: route.account_id, tenant_status: tenant_status as i32, waba_id: route.waba_id }))
        }

        async fn get_send_credentials(&self, request: Request<pb::GetSendCredentialsRequest>) -> Result<Response<pb::SendCredentials>, Status> {
            let r = request.into_inner();
            let (access_token, graph_version, waba_id) = self.whatsapp.credentials(&r.phone_number_id, &r.waba_id).await?;
            Ok(Response::new(pb::SendCredentials { access_token, graph_version, waba_id }))
        }

        async fn rotate_system_user_token(&self, request: Request<pb::RotateSystemUserTokenRequest>) -> Result<Response<pb::RotateSystemUserTokenResponse>, Status> {
            let caller = self.caller(&request)?;
            let status = self.whatsapp.system_token.rotate(&caller, &request.into_inner().token).await?;
            Ok(Response::new(token_status_pb(status)))
        }

        async fn get_system_user_token_status(&self, request: Request<pb::GetSystemUserTokenStatusRequest>) -> Result<Response<pb::RotateSystemUserTokenResponse>, Status> {
            let caller = self.caller(&request)?;
            let status = self.whatsapp.system_token.status_for(&caller).await?;
            Ok(Response::new(token_status_pb(status)))
        }

        async fn get_platform_config(&self, request: Request<pb::GetPlatformConfigRequest>) -> Result<Response<pb::PlatformConfig>, Status> {
            let caller = self.caller(&request)?;
            let values = self.settings.get(&caller).await?;
            Ok(Response::new(pb::PlatformConfig { settings: values.map.into_iter().collect(), updated_at: values.updated_at.map(timestamp) }))
        }

        async fn update_platform_config(&self, request: Request<pb::UpdatePlatformConfigRequest>) -> Result<Response<pb::PlatformConfig>, Status> {
            let caller = self.caller(&request)?;
            let changes = request.into_inner().settings.into_iter().collect();
            let values = self.settings.update(&caller, changes).await?;
            Ok(Response::new(pb::PlatformConfig { settings: values.map.into_iter().collect(), updated_at: values.updated_at.map(timestamp) }))
        }

        async fn get_branding(&self, request: Request<pb::GetBrandingRequest>) -> Result<Response<pb::Branding>, Status> {
            let branding = self.resellers.branding(&request.into_inner().host).await?;
            Ok(Response::new(branding_pb(branding)))
        }

        async fn list_audit_events(&self, request: Request<pb::ListAuditEventsRequest>) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
            let caller = self.caller(&request)?;
            let events = crate::audit::list(&self.db, &caller).await?;
            Ok(Response::new(pb::ListAuditEventsResponse {
                events: events.into_iter().map(|e| pb::AuditEvent { id: e.id, tenant_id: e.tenant_id, actor: e.actor, action: e.action, detail: e.detail, occurred_at: Some(timestamp(e.occurred_at)) }).collect(),
                page: None,
            }))
        }

        async fn verify_audit_chain(&self, request: Request<pb::VerifyAuditChainRequest>) -> Result<Response<pb::VerifyAuditChainResponse>, Status> {
            let caller = self.caller(&request)?;
            caller.require(aerostic_kit::identity::Permission::PlatformAdmin)?;
            let verdict = self.chain.verify(&self.db).await.map_err(ApiError::internal)?;
            Ok(Response::new(pb::VerifyAuditChainResponse { intact: verdict.first_broken.is_none(), checked: verdict.checked, first_broken_event_id: verdict.first_broken.unwrap_or_default() }))
        }
    }
    unimplemented {}
}
