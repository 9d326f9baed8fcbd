//! Which tenant a number belongs to, asked of tenancy and cached: every
//! change Meta sends is routed by its `phone_number_id`.

use std::time::Duration;

use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::ids::TenantId;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_client::TenancyClient;

/// How long a number's owner is reused before asking again.
pub const ROUTE_TTL: Duration = Duration::from_secs(60);

/// Numbers to tenants.
#[derive(Clone)]
pub struct Routes {
    tenancy: TenancyClient<TracedChannel>,
    cache: moka::sync::Cache<String, TenantId>,
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
        self.resolve(pb::ResolvePhoneNumberRequest {
            phone_number_id: phone_number_id.to_string(),
            waba_id: String::new(),
        })
        .await
    }

    /// The tenant owning WABA `waba_id`; `None` when nobody does.
    pub async fn tenant_of_waba(&self, waba_id: &str) -> Result<Option<TenantId>, tonic::Status> {
        self.resolve(pb::ResolvePhoneNumberRequest {
            phone_number_id: String::new(),
            waba_id: waba_id.to_string(),
        })
        .await
    }

    async fn resolve(
        &self,
        request: pb::ResolvePhoneNumberRequest,
    ) -> Result<Option<TenantId>, tonic::Status> {
        let key = format!("{}|{}", request.phone_number_id, request.waba_id);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(Some(hit));
        }
        match self.tenancy.clone().resolve_phone_number(request).await {
            Ok(route) => {
                let tenant: TenantId = route
                    .into_inner()
                    .tenant_id
                    .parse()
                    .map_err(|_| tonic::Status::internal("tenancy answered a bad tenant id"))?;
                self.cache.insert(key, tenant);
                Ok(Some(tenant))
            }
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }
}
