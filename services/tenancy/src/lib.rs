//! Tenancy: tenants, users, sessions, API keys and the audit log.
//!
//! [`auth`] is the domain; [`grpc`] translates; [`run`] wires them to the
//! backends and serves until shut down.

#![warn(missing_docs)]

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod entity;
pub mod grpc;
pub mod password;
pub mod sessions;
pub mod team;
pub mod validate;

use std::future::Future;
use std::time::Duration;

use aerostic_kit::broker::RetryPolicy;
use aerostic_kit::context::Context;
use aerostic_kit::outbox::Outbox;
use aerostic_proto::v1::tenancy_server::TenancyServer;
use tokio::net::TcpListener;

/// The table tenancy stages its events in.
pub const OUTBOX_TABLE: &str = "tenancy_outbox";

/// Runs tenancy: its audit consumer, its outbox relay and its gRPC server on
/// `listener`, until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    ctx.broker.declare(&audit::queue()).await?;
    let consumer = ctx
        .broker
        .consume(
            &audit::queue().name,
            audit::AuditWriter::new(ctx.db.clone()),
            RetryPolicy::default(),
        )
        .await?;
    let outbox = Outbox::new(OUTBOX_TABLE);
    let relay =
        outbox
            .clone()
            .spawn_relay(ctx.db.clone(), ctx.broker.clone(), Duration::from_secs(1));
    let keys = ctx.secrets.jwt_keys();
    let sessions = sessions::Sessions::new(ctx.db.clone(), keys.clone(), outbox.clone());
    let auth = auth::Auth::new(
        ctx.db.clone(),
        ctx.cache.clone(),
        outbox.clone(),
        sessions.clone(),
    );
    let server = grpc::TenancyGrpc {
        auth,
        sessions,
        api_keys: api_keys::ApiKeys::new(ctx.db.clone(), outbox.clone()),
        team: team::Team::new(ctx.db.clone(), outbox),
        keys,
        seal: ctx.secrets.identity_seal(),
    };
    let served = aerostic_kit::grpc::serve(TenancyServer::new(server), listener, shutdown).await;
    relay.abort();
    consumer.shutdown().await;
    served?;
    Ok(())
}
