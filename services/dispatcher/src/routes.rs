//! Which tenant a number belongs to, asked of tenancy and cached: every
//! change Meta sends is routed by its `phone_number_id`.

use std::time::Duration;

use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::ids::TenantId;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_client::TenancyClient;

/// How long a number's owner is reused before asking again.
pub const ROUTE_TTL: Duration = Duration::from_secs(60);

/// Where a number (or WABA) belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The owning tenant.
    pub tenant: TenantId,
    /// Meta's id of the WABA.
    pub waba_id: String,
    /// Whether the tenant is active (not suspended).
    pub active: bool,
}

/// Numbers to tenants.
#[derive(Clone)]
pub struct Routes {
    tenancy: TenancyClient<TracedChannel>,
    cache: moka::sync::Cache<String, Route>,
}

impl Routes {
    /// Asks `tenancy`.
    pub fn new(tenancy: TenancyClient<TracedChannel>) -> Self {
        Self {
            tenancy,
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ROUTE_TTL)
                .build(),
        }
    }

    /// The tenant owning `phone_number_id`; `None` when nobody does.
    pub async fn tenant_of(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<TenantId>, tonic::Status> {
        Ok(self.number(phone_number_id).await?.map(|r| r.tenant))
    }

    /// The route of connected number `phone_number_id`; `None` when nobody
    /// has it connected.
    pub async fn number(&self, phone_number_id: &str) -> Result<Option<Route>, tonic::Status> {
        self.resolve(pb::ResolvePhoneNumberRequest {
            phone_number_id: phone_number_id.to_string(),
            waba_id: String::new(),
        })
        .await
    }

    /// The tenant owning WABA `waba_id`; `None` when nobody does.
    pub async fn tenant_of_waba(&self, waba_id: &str) -> Result<Option<TenantId>, tonic::Status> {
        Ok(self
            .resolve(pb::ResolvePhoneNumberRequest {
                phone_number_id: String::new(),
                waba_id: waba_id.to_string(),
            })
            .await?
            .map(|r| r.tenant))
    }

    async fn resolve(
        &self,
        request: pb::ResolvePhoneNumberRequest,
    ) -> Result<Option<Route>, tonic::Status> {
        let key = format!("{}|{}", request.phone_number_id, request.waba_id);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(Some(hit));
        }
        match self.tenancy.clone().resolve_phone_number(request).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                let route = Route {
                    tenant: answer
                        .tenant_id
                        .parse()
                        .map_err(|_| tonic::Status::internal("tenancy answered a bad tenant id"))?,
                    active: answer.tenant_status == pb::TenantStatus::Active as i32,
                    waba_id: answer.waba_id,
                };
                self.cache.insert(key, route.clone());
                Ok(Some(route))
            }
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }
}
