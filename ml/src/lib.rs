//! The anomaly service of Aerostic: a Rust-native isolation forest over telemetry windows, alerts and mitigations.
//!
//! Its contract (`proto/aerostic/v1/anomaly.proto`) is served in full; every RPC
//! answers `UNIMPLEMENTED` until the anomaly-detection issue builds it.

#![warn(missing_docs)]

pub mod baseline;
pub mod detect;
pub mod subject;
pub mod window;

use std::future::Future;

use aerostic_kit::context::Context;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::anomaly_server::{Anomaly, AnomalyServer};
use tokio::net::TcpListener;

/// The gRPC server of anomaly.
pub struct AnomalyGrpc {
    _ctx: Context,
}

aerostic_kit::service_impl! {
    impl Anomaly for AnomalyGrpc {}
    unimplemented {
        score(pb::ScoreRequest) -> pb::ScoreResponse;
        score_batch(pb::ScoreBatchRequest) -> pb::ScoreBatchResponse;
        train(pb::TrainRequest) -> pb::TrainResponse;
        model_info(pb::ModelInfoRequest) -> pb::ModelInfoResponse;
        list_alerts(pb::ListAlertsRequest) -> pb::ListAlertsResponse;
    }
}

/// Serves anomaly on `listener` until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    aerostic_kit::grpc::serve(
        AnomalyServer::new(AnomalyGrpc { _ctx: ctx }),
        listener,
        shutdown,
    )
    .await?;
    Ok(())
}
