//! The billing service of Aerostic: wallets on an append-only double-entry
//! ledger, price lists with reseller markup, and the send cycle (quote,
//! reserve, settle, release, refund) that the dispatcher drives.
//!
//! [`wallet`] is the pure state machine, [`writer`] serialises each wallet's
//! operations into batched commits through [`store`], [`service`] is the
//! domain callers see, [`grpc`] translates and [`status`] settles from
//! Meta's delivery statuses.

#![warn(missing_docs)]

pub mod alert;
pub mod directory;
pub mod entity;
pub mod expiry;
pub mod grpc;
pub mod ledger;
pub mod limits;
pub mod money;
pub mod prices;
pub mod service;
pub mod shared_commit;
pub mod status;
pub mod store;
pub mod today;
pub mod usage;
pub mod wallet;
pub mod writer;

use std::future::Future;

use aerostic_kit::broker::RetryPolicy;
use aerostic_kit::config::ServiceName;
use aerostic_kit::context::Context;
use aerostic_proto::v1::billing_server::BillingServer;
use aerostic_proto::v1::tenancy_client::TenancyClient;
use tokio::net::TcpListener;

/// The currency of every wallet and price list.
pub const CURRENCY: &str = "USD";

/// Every queue billing consumes.
pub fn queues() -> Vec<aerostic_kit::broker::QueueSpec> {
    vec![status::queue()]
}

/// Serves billing on `listener` until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let tenancy = TenancyClient::new(aerostic_kit::grpc::channel(
        ctx.upstreams.url(ServiceName::Tenancy),
    )?);
    let seal = ctx.secrets.identity_seal();
    let directory = directory::Directory::new(tenancy, seal.clone());
    let currency = money::Currency::parse(CURRENCY).expect("a valid currency");
    let billing = service::Billing::new(ctx.db.clone(), currency, directory);
    ctx.broker.declare(&status::queue()).await?;
    let statuses = ctx
        .broker
        .consume(
            &status::queue().name,
            std::sync::Arc::new(status::StatusConsumer::new(billing.clone())),
            RetryPolicy::default(),
        )
        .await?;
    let relay = billing.wallets().outbox().clone().spawn_relay(
        ctx.db.clone(),
        ctx.broker.clone(),
        std::time::Duration::from_secs(1),
    );
    let sweeper = expiry::spawn(ctx.db.clone(), billing.wallets().clone());
    let served = aerostic_kit::grpc::serve(
        BillingServer::new(grpc::BillingGrpc { billing, seal }),
        listener,
        shutdown,
    )
    .await;
    statuses.shutdown().await;
    relay.abort();
    sweeper.abort();
    served?;
    Ok(())
}
