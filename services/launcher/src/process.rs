//! One process per service, as in production.

use std::future::Future;

use aerostic_kit::config::{GatewayConfig, ServiceConfig, ServiceName, Source};
use aerostic_kit::context::{Connections, Context};
use anyhow::Context as _;
use tokio::net::TcpListener;

/// Runs `name`'s server and consumers on `listener` until `shutdown`.
pub async fn run_service(
    name: ServiceName,
    ctx: Context,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match name {
        ServiceName::Tenancy => aerostic_tenancy::run(ctx, listener, shutdown).await,
        ServiceName::Dispatcher => aerostic_dispatcher::run(ctx, listener, shutdown).await,
        ServiceName::Automation => aerostic_automation::run(ctx, listener, shutdown).await,
        ServiceName::Billing => aerostic_billing::run(ctx, listener, shutdown).await,
        ServiceName::Anomaly => aerostic_anomaly::run(ctx, listener, shutdown).await,
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends).
pub async fn termination() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Serves `/metrics` on `addr` in the background; answers where it listens
/// (port 0 picks a free one).
async fn serve_metrics(addr: std::net::SocketAddr) -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding metrics on {addr}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let listener = aerostic_kit::tcp_nodelay::accepting(listener);
        let _ = axum::serve(listener, aerostic_kit::telemetry::metrics_router()).await;
    });
    Ok(bound)
}

/// `aerostic <service>`: one service as its own process.
pub async fn service_process(name: ServiceName, src: &Source) -> anyhow::Result<()> {
    let cfg = ServiceConfig::from_source(name, src)?;
    let conns = Connections::connect(&cfg.backends).await?;
    let ctx = Context::new(conns, cfg.secrets, cfg.upstreams)?
        .with_meta(cfg.meta)
        .with_mail(cfg.mail)
        .with_media(cfg.media);
    let metrics = serve_metrics(cfg.metrics_addr).await?;
    let listener = TcpListener::bind(cfg.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC on {}", cfg.grpc_addr))?;
    // The bound addresses, not the configured ones: port 0 is allowed.
    let grpc = listener.local_addr()?;
    tracing::info!(service = name.as_str(), %grpc, %metrics, "serving");
    run_service(name, ctx, listener, termination()).await
}

/// `aerostic gateway`.
pub async fn gateway_process(src: &Source) -> anyhow::Result<()> {
    let cfg = GatewayConfig::from_source(src)?;
    let conns = Connections::connect(&cfg.backends).await?;
    let state =
        aerostic_gateway::AppState::new(cfg.upstreams, conns, &cfg.secrets, &cfg.base_domain)?
            .with_webhooks(aerostic_gateway::webhooks::WebhookKeys::of(&cfg.meta));
    let listener = TcpListener::bind(cfg.http_addr)
        .await
        .with_context(|| format!("binding {}", cfg.http_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "gateway serving");
    aerostic_gateway::run(state, listener, termination()).await?;
    Ok(())
}
