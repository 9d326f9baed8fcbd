//! The billing service of Aerostic: wallets, the append-only ledger, prices and usage.
//!
//! Its contract (`proto/aerostic/v1/billing.proto`) is served in full; every RPC
//! answers `UNIMPLEMENTED` until the billing issue builds it.

#![warn(missing_docs)]

pub mod entity;
pub mod ledger;
pub mod money;
pub mod store;
pub mod wallet;
pub mod writer;

use std::future::Future;

use aerostic_kit::context::Context;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::billing_server::{Billing, BillingServer};
use tokio::net::TcpListener;

/// The gRPC server of billing.
pub struct BillingGrpc {
    _ctx: Context,
}

aerostic_kit::service_impl! {
    impl Billing for BillingGrpc {}
    unimplemented {
        get_wallet(pb::GetWalletRequest) -> pb::Wallet;
        quote(pb::QuoteRequest) -> pb::QuoteResponse;
        reserve(pb::ReserveRequest) -> pb::Reservation;
        charge(pb::ChargeRequest) -> pb::LedgerEntry;
        release(pb::ReleaseRequest) -> pb::LedgerEntry;
        top_up(pb::TopUpRequest) -> pb::LedgerEntry;
        refund(pb::RefundRequest) -> pb::LedgerEntry;
        list_ledger_entries(pb::ListLedgerEntriesRequest) -> pb::ListLedgerEntriesResponse;
        get_price_list(pb::GetPriceListRequest) -> pb::PriceList;
        set_tenant_price(pb::SetTenantPriceRequest) -> pb::PriceList;
        record_usage(pb::RecordUsageRequest) -> pb::RecordUsageResponse;
        get_usage(pb::GetUsageRequest) -> pb::GetUsageResponse;
    }
}

/// Serves billing on `listener` until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    aerostic_kit::grpc::serve(
        BillingServer::new(BillingGrpc { _ctx: ctx }),
        listener,
        shutdown,
    )
    .await?;
    Ok(())
}
