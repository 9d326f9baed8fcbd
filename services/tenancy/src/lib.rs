//! Tenancy: tenants, users, sessions and the audit log (this issue: register,
//! login, failed-login counting, audit events through the broker).
//!
//! [`auth`] is the domain; [`grpc`] translates; [`run`] wires them to the
//! backends and serves until shut down.

#![warn(missing_docs)]

pub mod audit;
pub mod auth;
pub mod entity;
pub mod grpc;
pub mod password;
pub mod token;
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
    let auth = auth::Auth::new(
        ctx.db.clone(),
        ctx.cache.clone(),
        outbox,
        token::TokenSigner::new(ctx.secrets.jwt_secret.as_bytes()),
    );
    let served = aerostic_kit::grpc::serve(
        TenancyServer::new(grpc::TenancyGrpc::new(auth)),
        listener,
        shutdown,
    )
    .await;
    relay.abort();
    consumer.shutdown().await;
    served?;
    Ok(())
}
