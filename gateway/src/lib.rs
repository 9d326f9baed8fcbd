//! Aerostic's gateway: authenticates, verifies, translates REST to gRPC and
//! answers. It owns no data and holds no business rules.
//!
//! Errors are always `{"error":{"code","message","details"}}` with the status
//! that [`aerostic_kit::error`]'s table gives the error's kind.

#![warn(missing_docs)]

mod admin;
mod admin_billing;
mod anomaly;
mod api_keys;
mod auth;
mod billing;
pub mod billing_views;
mod dead_letters;
mod error;
mod health;
pub mod hosts;
pub mod identity;
mod inbox;
pub mod inbox_views;
mod json;
mod message_batches;
mod messages;
pub mod openapi;
pub mod paging;
pub mod shield;
mod team;
mod templates;
mod trace;
mod uploads;
pub mod views;
pub mod webhooks;
mod whatsapp;
mod workspace;

use std::future::Future;
use std::net::SocketAddr;

use aerostic_kit::config::{Secrets, ServiceName, Upstreams};
use aerostic_kit::context::Connections;
use aerostic_kit::grpc::{TracedChannel, channel};
use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_kit::jwt::JwtKeys;
use aerostic_proto::v1::anomaly_client::AnomalyClient;
use aerostic_proto::v1::billing_client::BillingClient;
use aerostic_proto::v1::dispatcher_client::DispatcherClient;
use aerostic_proto::v1::tenancy_client::TenancyClient;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_scalar::{Scalar, Servable};

pub use error::GatewayError;

/// What the handlers share. axum clones the state for every extractor of
/// every request, so it is one pointer: cloned field by field (four gRPC
/// clients, keys, caches) it cost about a quarter of the gateway's CPU per
/// send (BENCHMARKS.md).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state behind [`AppState`].
#[derive(Clone)]
pub struct Shared {
    upstreams: Upstreams,
    tenancy: TenancyClient<TracedChannel>,
    billing: BillingClient<TracedChannel>,
    dispatcher: DispatcherClient<TracedChannel>,
    anomaly: AnomalyClient<TracedChannel>,
    shield: shield::Shield,
    webhooks: webhooks::WebhookKeys,
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
        let billing = BillingClient::new(channel(upstreams.url(ServiceName::Billing))?);
        // Media comes back whole (Meta's largest is 100 MB).
        let dispatcher = DispatcherClient::new(channel(upstreams.url(ServiceName::Dispatcher))?)
            .max_decoding_message_size(101 * 1024 * 1024)
            .max_encoding_message_size(101 * 1024 * 1024);
        let anomaly = AnomalyClient::new(channel(upstreams.url(ServiceName::Anomaly))?);
        let shield = shield::Shield::new(
            connections.cache.clone(),
            aerostic_kit::signals::Signals::spawn(connections.broker.clone()),
            secrets.signal_keys(),
        );
        shield.spawn_poller(anomaly.clone());
        Ok(Self(Arc::new(Shared {
            billing,
            dispatcher,
            anomaly,
            shield,
            webhooks: webhooks::WebhookKeys::default(),
            upstreams,
            tenancy,
            connections,
            keys: secrets.jwt_keys(),
            seal: secrets.identity_seal(),
            api_keys: identity::api_key_cache(),
            tenants: identity::tenant_cache(),
            hosts: hosts::Hosts::new(base_domain),
        })))
    }

    /// Checks Meta's webhooks with `keys` (without them every webhook is refused).
    pub fn with_webhooks(mut self, keys: webhooks::WebhookKeys) -> Self {
        Arc::make_mut(&mut self.0).webhooks = keys;
        self
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

/// Every documented route, registered with the OpenAPI document as it is
/// registered with the router, so the two cannot disagree.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(billing::wallet))
        .routes(routes!(billing::set_alert))
        .routes(routes!(billing::ledger))
        .routes(routes!(billing::prices))
        .routes(routes!(billing::usage))
        .routes(routes!(inbox::conversations))
        .routes(routes!(inbox::conversation))
        .routes(routes!(inbox::messages))
        .routes(routes!(inbox::contacts))
        .routes(routes!(inbox::contact))
        .routes(routes!(inbox::media))
        .routes(routes!(inbox::keywords, inbox::set_keywords))
        .routes(routes!(messages::send))
        .routes(routes!(message_batches::send_batch))
        .routes(routes!(messages::get))
        .routes(routes!(messages::read))
        .routes(routes!(dead_letters::list))
        .routes(routes!(dead_letters::replay))
        .routes(routes!(dead_letters::discard))
        .routes(routes!(templates::list, templates::create))
        .routes(routes!(templates::delete))
        .routes(routes!(templates::sync))
        .routes(routes!(team::invite))
        .routes(routes!(team::accept))
        .routes(routes!(team::list))
        .routes(routes!(team::change_role))
        .routes(routes!(team::deactivate))
        .routes(routes!(workspace::change_password))
        .routes(routes!(workspace::forgot_password))
        .routes(routes!(workspace::reset_password))
        .routes(routes!(workspace::branding))
        .routes(routes!(workspace::tenant))
        .routes(routes!(workspace::audit_events))
        .routes(routes!(whatsapp::start))
        .routes(routes!(whatsapp::finish))
        .routes(routes!(whatsapp::callback))
        .routes(routes!(whatsapp::cloud_init))
        .routes(routes!(whatsapp::me))
        .routes(routes!(admin::get_config, admin::update_config))
        .routes(routes!(admin::list_tenants))
        .routes(routes!(admin::change_plan))
        .routes(routes!(admin::suspend))
        .routes(routes!(admin::reactivate))
        .routes(routes!(admin::list_plans))
        .routes(routes!(admin::list_resellers, admin::create_reseller))
        .routes(routes!(admin::add_domain))
        .routes(routes!(admin::token_status, admin::rotate_token))
        .routes(routes!(admin::verify_audit))
        .routes(routes!(admin::audit_events))
        .routes(routes!(anomaly::alerts))
        .routes(routes!(anomaly::admin_alerts))
        .routes(routes!(anomaly::mitigations))
        .routes(routes!(anomaly::lift))
        .routes(routes!(anomaly::model))
        .routes(routes!(anomaly::train))
        .routes(routes!(anomaly::window))
        .routes(routes!(admin_billing::top_up))
        .routes(routes!(admin_billing::tenant_wallet))
        .routes(routes!(admin_billing::reseller_wallet))
        .routes(routes!(
            admin_billing::prices,
            admin_billing::set_default_price
        ))
        .routes(routes!(admin_billing::set_tenant_price))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(uploads::upload))
                .layer(uploads::limit()),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(webhooks::verify, webhooks::receive))
                // Meta's payloads reach 3 MB; the handler refuses anything over.
                .layer(axum::extract::DefaultBodyLimit::max(
                    webhooks::MAX_WEBHOOK_BYTES + 1,
                )),
        )
}

/// The OpenAPI document of every REST endpoint.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_routes().into_openapi()
}

/// Every route of the gateway.
pub fn router(state: AppState) -> Router {
    let (routes, document) = api_routes().split_for_parts();
    let spec: Arc<str> = document
        .to_json()
        .expect("the OpenAPI document serialises")
        .into();
    routes
        .route(
            "/v1/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    spec.to_string(),
                )
            }),
        )
        .merge(Scalar::with_url("/docs", document))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shield::guard,
        ))
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
        aerostic_kit::tcp_nodelay::accepting(listener),
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
