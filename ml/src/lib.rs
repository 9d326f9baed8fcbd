//! The anomaly service of Aerostic: signals from every service folded into
//! sliding windows per workspace, API key, IP and login account (timelines in
//! the cache), scored by a platform-wide isolation forest
//! ([`aerostic_forest`]), judged by detectors, and acted on through
//! mitigations the gateway enforces.
//!
//! [`window`] turns signals into marks and counts into features, [`baseline`]
//! holds the model in service, [`detect`] holds the rules, [`service`] is the
//! domain, [`store`] its tables, [`consumer`] the signal queue and [`grpc`]
//! the contract (`proto/aerostic/v1/anomaly.proto`).

#![warn(missing_docs)]

pub mod baseline;
pub mod consumer;
pub mod detect;
pub mod entity;
pub mod grpc;
pub mod mitigations;
pub mod service;
pub mod store;
pub mod subject;
pub mod window;

use std::future::Future;
use std::time::Duration;

use aerostic_kit::broker::RetryPolicy;
use aerostic_kit::context::Context;
use aerostic_proto::v1::anomaly_server::AnomalyServer;
use tokio::net::TcpListener;

/// How often the baseline is retrained from the windows gathered (when
/// there are enough): `AEROSTIC_ANOMALY_RETRAIN_SECS`, default 10 minutes.
fn retrain_every() -> Duration {
    std::env::var("AEROSTIC_ANOMALY_RETRAIN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(600), Duration::from_secs)
}

/// Runs `job` every `period` (after one period first when `wait_first`),
/// logging a failure and carrying on.
fn every<F, Fut>(
    anomaly: service::Anomaly,
    period: Duration,
    wait_first: bool,
    job: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(service::Anomaly) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + if wait_first { period } else { Duration::ZERO };
        let mut tick = tokio::time::interval_at(start, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = job(anomaly.clone()).await {
                tracing::warn!(error = %e, "a periodic anomaly job failed");
            }
        }
    })
}

/// Every queue the anomaly service consumes.
pub fn queues() -> Vec<aerostic_kit::broker::QueueSpec> {
    vec![consumer::queue()]
}

/// Serves the anomaly service on `listener` until `shutdown` resolves.
pub async fn run(
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let anomaly = service::Anomaly::start(ctx.db.clone(), ctx.cache.clone()).await?;
    ctx.broker.declare(&consumer::queue()).await?;
    let signals = ctx
        .broker
        .consume(
            &consumer::queue().name,
            consumer::SignalConsumer::new(anomaly.clone()),
            RetryPolicy {
                concurrency: 4,
                ..RetryPolicy::default()
            },
        )
        .await?;
    let relay = anomaly.outbox().clone().spawn_relay(
        ctx.db.clone(),
        ctx.broker.clone(),
        Duration::from_secs(1),
    );
    let scorer = every(
        anomaly.clone(),
        service::SCORE_EVERY,
        false,
        |a| async move { a.score_pending().await.map(|_| ()) },
    );
    let reloader = every(
        anomaly.clone(),
        mitigations::RELOAD,
        false,
        |a| async move { a.reload().await },
    );
    let trainer = every(anomaly.clone(), retrain_every(), true, |a| async move {
        if a.retrain_if_ready().await? {
            tracing::info!("baseline retrained from recent windows");
        }
        Ok(())
    });
    let served = aerostic_kit::grpc::serve(
        AnomalyServer::new(grpc::AnomalyGrpc {
            anomaly,
            seal: ctx.secrets.identity_seal(),
        }),
        listener,
        shutdown,
    )
    .await;
    signals.shutdown().await;
    relay.abort();
    scorer.abort();
    reloader.abort();
    trainer.abort();
    served?;
    Ok(())
}
