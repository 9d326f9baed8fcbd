//! Aerostic's gateway: authenticates, verifies, translates REST to gRPC and
//! answers. It owns no data and holds no business rules.
//!
//! Errors are always `{"error":{"code","message","details"}}` with the status
//! that [`aerostic_kit::error`]'s table gives the error's kind.

#![warn(missing_docs)]

mod admin;
mod api_keys;
mod auth;
mod error;
mod health;
pub mod hosts;
pub mod identity;
mod json;
mod team;
mod trace;
mod whatsapp;
mod workspace;

use std::future::Future;
use std::net::SocketAddr;

use aerostic_kit::config::{Secrets, ServiceName, Upstreams};
use aerostic_kit::context::Connections;
use aerostic_kit::grpc::{TracedChannel, channel};
use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_kit::jwt::JwtKeys;
use aerostic_proto::v1::tenancy_client::TenancyClient;
use axum::Router;
use axum::routing::{delete, get, patch, post};
use tokio::net::TcpListener;

pub use error::GatewayError;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    upstreams: Upstreams,
    tenancy: TenancyClient<TracedChannel>,
    connections: Connections,
    keys: JwtKeys,
    seal: IdentitySeal,
    api_keys: moka::sync::Cache<String, Identity>,
    tenants: moka::sync::Cache<String, bool>,
    hosts: hosts::Hosts,
}

impl AppState {
    /// Clients for `upstreams`; `connections` only for readiness; `secrets`
    /// to verify access tokens and seal identities; hosts under `base_domain`.
    pub fn new(
        upstreams: Upstreams,
        connections: Connections,
        secrets: &Secrets,
        base_domain: &str,
    ) -> anyhow::Result<Self> {
        let tenancy = TenancyClient::new(channel(upstreams.url(ServiceName::Tenancy))?);
        Ok(Self {
            upstreams,
            tenancy,
            connections,
            keys: secrets.jwt_keys(),
            seal: secrets.identity_seal(),
            api_keys: identity::api_key_cache(),
            tenants: identity::tenant_cache(),
            hosts: hosts::Hosts::new(base_domain),
        })
    }

    /// Drops what this gateway cached about `tenant_id` (its status changed).
    pub fn forget_tenant(&self, tenant_id: &str) {
        self.tenants.invalidate(tenant_id);
        self.api_keys.invalidate_all();
    }

    /// A gRPC request carrying `caller`'s sealed identity.
    pub fn as_caller<T>(&self, caller: &Identity, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.seal.attach(&mut request, caller);
        request
    }
}

/// Every route of the gateway.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/auth/register", post(auth::register))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/me", get(auth::me))
        .route(
            "/v1/billing/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route("/v1/billing/api-keys/{id}", delete(api_keys::revoke))
        .route("/v1/team/invitations", post(team::invite))
        .route("/v1/team/invitations/accept", post(team::accept))
        .route("/v1/team/users", get(team::list))
        .route("/v1/team/users/{id}", patch(team::change_role))
        .route("/v1/team/users/{id}/deactivate", post(team::deactivate))
        .route("/v1/auth/password/change", post(workspace::change_password))
        .route("/v1/auth/password/forgot", post(workspace::forgot_password))
        .route("/v1/auth/password/reset", post(workspace::reset_password))
        .route("/v1/branding", get(workspace::branding))
        .route("/v1/tenant", get(workspace::tenant))
        .route("/v1/audit/events", get(workspace::audit_events))
        .route("/v1/whatsapp/embedded/start", get(whatsapp::start))
        .route("/v1/whatsapp/embedded/finish", post(whatsapp::finish))
        .route("/v1/meta/callback", get(whatsapp::callback))
        .route("/v1/whatsapp/cloud/init", post(whatsapp::cloud_init))
        .route("/v1/whatsapp/me", get(whatsapp::me))
        .route(
            "/v1/admin/config",
            get(admin::get_config).post(admin::update_config),
        )
        .route("/v1/admin/tenants", get(admin::list_tenants))
        .route("/v1/admin/tenants/{id}/plan", patch(admin::change_plan))
        .route("/v1/admin/tenants/{id}/suspend", post(admin::suspend))
        .route("/v1/admin/tenants/{id}/reactivate", post(admin::reactivate))
        .route("/v1/admin/plans", get(admin::list_plans))
        .route(
            "/v1/admin/resellers",
            get(admin::list_resellers).post(admin::create_reseller),
        )
        .route("/v1/admin/resellers/{id}/domains", post(admin::add_domain))
        .route(
            "/v1/admin/meta/system-user-token",
            get(admin::token_status).post(admin::rotate_token),
        )
        .route("/v1/admin/audit/verify", get(admin::verify_audit))
        .route("/v1/admin/audit/events", get(admin::audit_events))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state.clone())
        .merge(aerostic_kit::telemetry::metrics_router())
        .layer(axum::middleware::from_fn_with_state(state, hosts::gate))
        .layer(axum::middleware::from_fn(trace::trace))
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
