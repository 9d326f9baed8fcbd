//! What a sender needs to know of a number, asked once and kept a while:
//! its credentials (from tenancy) and its throughput (Meta's `throughput`
//! field: STANDARD 80 msg/s, HIGH 1,000). Asking tenancy and Meta on every
//! message would double the send path's calls; a token that stops working
//! is forgotten at once ([`Numbers::forget`]) so a reconnect takes effect.

use std::sync::Arc;
use std::time::Duration;

use aerostic_kit::grpc::TracedChannel;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_client::TenancyClient;

use crate::graph::{Credentials, Graph, GraphError};

/// Messages per second a number sends unless Meta says more.
pub const DEFAULT_RATE: u32 = 80;
/// How long what we know of a number is reused.
pub const KEEP_FOR: Duration = Duration::from_secs(300);

/// A number as a sender sees it.
#[derive(Clone)]
pub struct Number {
    /// Its token and Graph version.
    pub credentials: Credentials,
    /// Messages per second Meta allows it.
    pub rate: u32,
}

/// Meta's throughput level in messages per second.
pub fn rate_of(level: &str) -> u32 {
    match level {
        "HIGH" => 1_000,
        // Numbers shared with the WhatsApp Business app (coexistence).
        "COEXISTENCE" => 20,
        _ => DEFAULT_RATE,
    }
}

/// Numbers, cached.
#[derive(Clone)]
pub struct Numbers {
    tenancy: TenancyClient<TracedChannel>,
    graph: Graph,
    cache: moka::future::Cache<String, Arc<Number>>,
}

impl Numbers {
    /// Credentials from `tenancy`, throughput from Meta through `graph`.
    pub fn new(tenancy: TenancyClient<TracedChannel>, graph: Graph) -> Self {
        Self {
            tenancy,
            graph,
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KEEP_FOR)
                .build(),
        }
    }

    /// Number `phone_number_id`; a number without a usable token is Meta's
    /// own 190, so that its messages wait for a reconnect.
    pub async fn get(&self, phone_number_id: &str) -> Result<Arc<Number>, GraphError> {
        if let Some(hit) = self.cache.get(phone_number_id).await {
            return Ok(hit);
        }
        let credentials = self.credentials(phone_number_id).await?;
        // Not knowing the throughput is no reason not to send: the default.
        let rate = self
            .graph
            .call(
                reqwest::Method::GET,
                &credentials,
                phone_number_id,
                &[("fields", "throughput")],
                None,
            )
            .await
            .map(|n| rate_of(n["throughput"]["level"].as_str().unwrap_or_default()))
            .unwrap_or(DEFAULT_RATE);
        let number = Arc::new(Number { credentials, rate });
        self.cache
            .insert(phone_number_id.to_string(), number.clone())
            .await;
        Ok(number)
    }

    /// Whether the number's token works now (asked afresh of tenancy and
    /// Meta): a reconnect shows here first.
    pub async fn check(&self, phone_number_id: &str) -> Result<(), GraphError> {
        self.forget(phone_number_id).await;
        let credentials = self.credentials(phone_number_id).await?;
        self.graph
            .call(
                reqwest::Method::GET,
                &credentials,
                phone_number_id,
                &[("fields", "id")],
                None,
            )
            .await
            .map(|_| ())
    }

    /// Forgets number `phone_number_id` (its token was refused).
    pub async fn forget(&self, phone_number_id: &str) {
        self.cache.invalidate(phone_number_id).await;
    }

    async fn credentials(&self, phone_number_id: &str) -> Result<Credentials, GraphError> {
        let answer = self
            .tenancy
            .clone()
            .get_send_credentials(pb::GetSendCredentialsRequest {
                phone_number_id: phone_number_id.to_string(),
                waba_id: String::new(),
            })
            .await;
        match answer {
            Ok(c) => {
                let c = c.into_inner();
                Ok(Credentials {
                    token: c.access_token,
                    version: c.graph_version,
                })
            }
            Err(s) if s.code() == tonic::Code::NotFound => Err(GraphError::Meta {
                status: 401,
                code: 190,
                message: "the number has no access token".into(),
                details: String::new(),
                trace: String::new(),
            }),
            Err(s) => Err(GraphError::Transport(format!("tenancy: {}", s.message()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_throughput_levels_become_rates() {
        assert_eq!(rate_of("STANDARD"), 80);
        assert_eq!(rate_of("HIGH"), 1_000);
        assert_eq!(rate_of("COEXISTENCE"), 20);
        assert_eq!(rate_of(""), DEFAULT_RATE);
    }
}
