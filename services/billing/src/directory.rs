//! What billing needs to know of a tenant (its reseller, markup, plan limits
//! and the numbers and seats it uses), asked
//! of tenancy with the caller's own identity and cached briefly: billing
//! never reads tenancy's tables.

use std::time::Duration;

use aerostic_kit::ApiError;
use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_kit::ids::TenantId;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_client::TenancyClient;

/// How long a tenant's reseller and markup are reused before asking again.
pub const PROFILE_TTL: Duration = Duration::from_secs(60);

/// A tenant as billing sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// The reseller that owns it, if any.
    pub reseller_id: Option<String>,
    /// The reseller's markup in basis points.
    pub markup_bps: u32,
    /// The plan's messages per day.
    pub messages_per_day: u32,
    /// The plan's AI credits per month.
    pub ai_credits: u32,
    /// The plan's most connected numbers.
    pub max_numbers: u32,
    /// The plan's most seats (users and open invitations).
    pub max_agents: u32,
    /// Numbers connected now.
    pub numbers_in_use: u32,
    /// Seats taken now.
    pub agents_in_use: u32,
}

/// Tenancy, asked for tenants' billing profiles.
#[derive(Clone)]
pub struct Directory {
    tenancy: TenancyClient<TracedChannel>,
    seal: IdentitySeal,
    cache: moka::sync::Cache<TenantId, Profile>,
}

impl Directory {
    /// Asks `tenancy`, sealing callers' identities with `seal`.
    pub fn new(tenancy: TenancyClient<TracedChannel>, seal: IdentitySeal) -> Self {
        Self {
            tenancy,
            seal,
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PROFILE_TTL)
                .build(),
        }
    }

    /// The caller's tenant's profile.
    pub async fn profile(&self, caller: &Identity) -> Result<Profile, ApiError> {
        self.profile_of(caller, caller.tenant_id).await
    }

    /// `tenant`'s profile, asked with the caller's identity (so another
    /// tenant's only for platform admins); `tenant_not_found` if there is none.
    pub async fn profile_of(
        &self,
        caller: &Identity,
        tenant: TenantId,
    ) -> Result<Profile, ApiError> {
        // Checked here too: the cache must not answer what tenancy would refuse.
        if tenant != caller.tenant_id {
            caller.require(aerostic_kit::identity::Permission::PlatformAdmin)?;
        }
        if let Some(hit) = self.cache.get(&tenant) {
            return Ok(hit);
        }
        let mut request = tonic::Request::new(pb::GetTenantRequest {
            tenant_id: tenant.to_string(),
        });
        self.seal.attach(&mut request, caller);
        let found = self.tenancy.clone().get_tenant(request).await?.into_inner();
        let plan = found.plan.unwrap_or_default();
        let profile = Profile {
            reseller_id: (!found.reseller_id.is_empty()).then_some(found.reseller_id),
            markup_bps: found.reseller_markup_bps,
            messages_per_day: plan.messages_per_day,
            ai_credits: plan.ai_credits,
            max_numbers: plan.max_numbers,
            max_agents: plan.max_agents,
            numbers_in_use: found.numbers_in_use,
            agents_in_use: found.agents_in_use,
        };
        self.cache.insert(tenant, profile.clone());
        Ok(profile)
    }

    /// Reseller `id`, as a platform admin asks tenancy; `reseller_not_found`
    /// if there is none.
    pub async fn reseller(&self, caller: &Identity, id: &str) -> Result<(), ApiError> {
        let mut request = tonic::Request::new(pb::ListResellersRequest::default());
        self.seal.attach(&mut request, caller);
        let resellers = self
            .tenancy
            .clone()
            .list_resellers(request)
            .await?
            .into_inner();
        if resellers.resellers.iter().any(|r| r.id == id) {
            Ok(())
        } else {
            Err(ApiError::new(
                aerostic_kit::ErrorKind::NotFound,
                "reseller_not_found",
                "no reseller has this id",
            ))
        }
    }
}
