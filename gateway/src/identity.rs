//! Who is calling: `Authorization: Bearer <jwt>` is verified here with the
//! platform's keys (no call); `Bearer ak_live_…` (or `X-Api-Key`) is checked
//! by tenancy once and then cached in-process by its hash, so a warm key costs
//! a hash and a map lookup. Revoking a key through this gateway clears the
//! cache at once; other replicas drop it within [`API_KEY_CACHE_TTL`].

use std::time::Duration;

use aerostic_kit::identity::{Identity, Role};
use aerostic_kit::{ApiError, ErrorKind};
use aerostic_proto::v1 as pb;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::{AppState, GatewayError};

/// How long a verified API key is trusted without asking tenancy again.
pub const API_KEY_CACHE_TTL: Duration = Duration::from_secs(30);

/// The authenticated caller of a request.
pub struct Caller(pub Identity);

fn unauthenticated(code: &'static str, message: &'static str) -> GatewayError {
    GatewayError(ApiError::new(ErrorKind::Unauthenticated, code, message))
}

/// Tenant id → active, for access tokens (verified locally, so a
/// suspension reaches them through this check; other replicas within
/// [`API_KEY_CACHE_TTL`]).
pub fn tenant_cache() -> moka::sync::Cache<String, bool> {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(API_KEY_CACHE_TTL)
        .build()
}

/// The cache of verified API keys, by the SHA-256 of their secret.
pub fn api_key_cache() -> moka::sync::Cache<String, Identity> {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(API_KEY_CACHE_TTL)
        .build()
}

fn identity_from_pb(p: pb::Identity) -> Result<Identity, ApiError> {
    let bad = || ApiError::internal("tenancy returned a malformed identity");
    Ok(Identity {
        tenant_id: p.tenant_id.parse().map_err(|_| bad())?,
        user_id: (!p.user_id.is_empty())
            .then(|| p.user_id.parse())
            .transpose()
            .map_err(|_| bad())?,
        role: Role::parse(&p.role().wire_name()).ok_or_else(bad)?,
        api_key_id: (!p.api_key_id.is_empty()).then_some(p.api_key_id),
        scopes: p.scopes,
    })
}

impl AppState {
    /// The identity behind a credential.
    pub async fn authenticate(&self, credential: &str) -> Result<Identity, GatewayError> {
        if !credential.starts_with("ak_") {
            return Ok(self.keys.identity(credential)?);
        }
        let hash = hex::encode(Sha256::digest(credential.as_bytes()));
        if let Some(identity) = self.api_keys.get(&hash) {
            return Ok(identity);
        }
        let reply = self
            .tenancy
            .clone()
            .authenticate(pb::AuthenticateRequest {
                credential: Some(pb::authenticate_request::Credential::ApiKey(
                    credential.to_string(),
                )),
            })
            .await?
            .into_inner();
        let identity = identity_from_pb(reply)?;
        self.api_keys.insert(hash, identity.clone());
        Ok(identity)
    }
}

impl AppState {
    /// Whether the caller's tenant is active (cached per tenant).
    pub async fn tenant_active(&self, identity: &Identity) -> Result<bool, GatewayError> {
        let key = identity.tenant_id.to_string();
        if let Some(active) = self.tenants.get(&key) {
            return Ok(active);
        }
        let request = self.as_caller(identity, pb::GetTenantRequest::default());
        let tenant = self.tenancy.clone().get_tenant(request).await?.into_inner();
        let active = tenant.status() == pb::TenantStatus::Active;
        self.tenants.insert(key, active);
        Ok(active)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = GatewayError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
                    .map(str::trim)
                    .ok_or_else(|| {
                        unauthenticated(
                            "invalid_authorization",
                            "Authorization must be `Bearer <token>`",
                        )
                    })
            })
            .transpose()?;
        let api_key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let credential = bearer
            .or(api_key)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                unauthenticated(
                    "authentication_required",
                    "send `Authorization: Bearer <access token or API key>`",
                )
            })?;
        let identity = state.authenticate(credential).await?;
        if let Some(seen) = parts.extensions.get::<crate::shield::Seen>() {
            seen.note(&identity);
        }
        if identity.api_key_id.is_none() && !state.tenant_active(&identity).await? {
            return Err(GatewayError(aerostic_kit::identity::tenant_suspended()));
        }
        state.shield.check_caller(&identity).await?;
        Ok(Caller(identity))
    }
}
