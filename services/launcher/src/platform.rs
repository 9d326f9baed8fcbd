//! Every service and the gateway in this process, each on its own listener.

use std::net::SocketAddr;

use aerostic_kit::config::{Backends, MailConfig, MetaConfig, Secrets, ServiceName, Upstreams};
use aerostic_kit::context::{Connections, Context};
use aerostic_migrations::{Migrator, MigratorTrait};
use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What to start.
#[derive(Debug, Clone)]
pub struct PlatformSpec {
    /// Database, broker and cache (shared by all services in one process).
    pub backends: Backends,
    /// Keys and token secrets.
    pub secrets: Secrets,
    /// The gateway's address (port 0 picks one).
    pub gateway_addr: SocketAddr,
    /// Each service's gRPC address, in [`ServiceName::ALL`] order (port 0 picks one).
    pub grpc_addrs: [SocketAddr; 5],
    /// Apply migrations before starting.
    pub migrate: bool,
    /// Also run the Meta sandbox here, with this control token.
    pub sandbox: Option<(SocketAddr, String)>,
    /// Meta's Graph API; left unconfigured with a sandbox, the sandbox serves.
    pub meta: MetaConfig,
    /// The base domain of the hosts (`localhost` in development).
    pub base_domain: String,
    /// Outgoing email.
    pub mail: MailConfig,
    /// Where customers' media is kept.
    pub media: aerostic_kit::config::MediaStore,
}

/// A running platform.
pub struct Platform {
    /// Where the gateway listens.
    pub gateway: SocketAddr,
    /// Where each service listens.
    pub grpc: Vec<(ServiceName, SocketAddr)>,
    /// Where the Meta sandbox listens, if it runs here.
    pub sandbox: Option<SocketAddr>,
    /// The broker its services share (the in-process one is reachable only
    /// through this handle).
    pub broker: std::sync::Arc<dyn aerostic_kit::broker::Broker>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<(String, anyhow::Result<()>)>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The verify token the platform gives the sandbox with its callback.
pub const SANDBOX_VERIFY_TOKEN: &str = "sandbox-verify-token";

/// The Meta app the sandbox at `addr` plays: its seeded app, secret and token.
pub fn sandbox_meta(addr: SocketAddr) -> MetaConfig {
    let seed = aerostic_sandbox::Seed::default();
    MetaConfig {
        graph_url: format!("http://{addr}"),
        app_id: seed.app_id,
        app_secret: seed.app_secret,
        config_id: "sandbox-embedded-signup".into(),
        system_user_token: Some(seed.access_token),
        webhook_verify_token: SANDBOX_VERIFY_TOKEN.into(),
    }
}

/// Points the sandbox app's webhook callback at the gateway, as an operator
/// does in Meta's App Dashboard (the sandbox verifies it first, §1).
async fn subscribe_sandbox(
    sandbox: SocketAddr,
    gateway: SocketAddr,
    meta: &MetaConfig,
) -> anyhow::Result<()> {
    let url = format!("http://{sandbox}/v23.0/{}/subscriptions", meta.app_id);
    let form = [
        ("object", "whatsapp_business_account".to_string()),
        ("callback_url", format!("http://{gateway}/webhooks/meta")),
        ("verify_token", meta.webhook_verify_token.clone()),
        (
            "fields",
            "messages,user_preferences,message_template_status_update,\
             phone_number_quality_update,account_update"
                .into(),
        ),
        (
            "access_token",
            format!("{}|{}", meta.app_id, meta.app_secret),
        ),
    ];
    let answer = reqwest::Client::new()
        .post(&url)
        .query(&form)
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "the sandbox refused the webhook callback: {}",
        answer.text().await.unwrap_or_default()
    );
    Ok(())
}

/// Every queue the platform consumes, declared before any service runs so
/// that no event is published to a topic whose consumer has not started
/// yet (an event nobody subscribes to is dropped).
pub async fn declare_queues(broker: &dyn aerostic_kit::broker::Broker) -> anyhow::Result<()> {
    let all = [
        aerostic_tenancy::queues(),
        aerostic_billing::queues(),
        aerostic_dispatcher::queues(),
        aerostic_anomaly::queues(),
    ];
    for spec in all.iter().flatten() {
        broker
            .declare(spec)
            .await
            .with_context(|| format!("declaring queue {}", spec.name))?;
    }
    Ok(())
}

/// Applies every pending migration to `url`.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let db = aerostic_kit::db::connect(url)
        .await
        .context("connecting to the database")?;
    Migrator::up(&db, None)
        .await
        .context("applying migrations")?;
    db.close().await.ok();
    Ok(())
}

impl Platform {
    /// Binds every listener, connects the backends once, and starts all.
    pub async fn start(spec: PlatformSpec) -> anyhow::Result<Self> {
        let mut listeners = Vec::new();
        for (name, addr) in ServiceName::ALL.into_iter().zip(spec.grpc_addrs) {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {} on {addr}", name.as_str()))?;
            listeners.push((name, listener));
        }
        let gateway_listener = TcpListener::bind(spec.gateway_addr)
            .await
            .with_context(|| format!("binding gateway on {}", spec.gateway_addr))?;
        let grpc: Vec<(ServiceName, SocketAddr)> = listeners
            .iter()
            .map(|(n, l)| (*n, l.local_addr().expect("bound")))
            .collect();
        let gateway = gateway_listener.local_addr()?;
        let sandbox_listener = match &spec.sandbox {
            Some((addr, _)) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the sandbox on {addr}"))?,
            ),
            None => None,
        };
        let sandbox = sandbox_listener
            .as_ref()
            .map(|l| l.local_addr().expect("bound"));
        let upstreams = Upstreams::at(grpc.iter().copied());

        if spec.migrate {
            migrate(&spec.backends.database_url).await?;
        }
        let conns = Connections::connect(&spec.backends).await?;
        declare_queues(conns.broker.as_ref()).await?;
        let meta = match sandbox {
            Some(addr) if !spec.meta.is_configured() => sandbox_meta(addr),
            _ => spec.meta.clone(),
        };
        let broker = conns.broker.clone();
        let ctx = Context::new(conns.clone(), spec.secrets.clone(), upstreams.clone())?
            .with_meta(meta.clone())
            .with_mail(spec.mail.clone())
            .with_media(spec.media.clone());
        let (stop, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for (name, listener) in listeners {
            let (ctx, shutdown) = (ctx.clone(), stopped(rx.clone()));
            tasks.spawn(async move {
                (
                    name.as_str().to_string(),
                    crate::process::run_service(name, ctx, listener, shutdown).await,
                )
            });
        }
        let state =
            aerostic_gateway::AppState::new(upstreams, conns, &spec.secrets, &spec.base_domain)?
                .with_webhooks(aerostic_gateway::webhooks::WebhookKeys::of(&meta));
        let shutdown = stopped(rx.clone());
        tasks.spawn(async move {
            (
                "gateway".to_string(),
                aerostic_gateway::run(state, gateway_listener, shutdown)
                    .await
                    .map_err(Into::into),
            )
        });
        if let (Some(listener), Some((_, control))) = (sandbox_listener, spec.sandbox) {
            let meta = aerostic_sandbox::Sandbox::new(aerostic_sandbox::Seed::default(), control);
            let shutdown = stopped(rx.clone());
            tasks.spawn(async move {
                (
                    "sandbox".to_string(),
                    aerostic_sandbox::run(meta, listener, shutdown)
                        .await
                        .map_err(Into::into),
                )
            });
        }
        if let Some(sandbox) = sandbox.filter(|_| !spec.meta.is_configured()) {
            subscribe_sandbox(sandbox, gateway, &meta).await?;
        }
        Ok(Self {
            gateway,
            grpc,
            sandbox,
            broker,
            stop,
            tasks,
        })
    }

    /// Waits until any part stops (an error, or Ctrl-C for the caller to
    /// handle), returning which and why.
    pub async fn wait(&mut self) -> Option<(String, anyhow::Result<()>)> {
        self.tasks
            .join_next()
            .await
            .map(|r| r.unwrap_or_else(|e| ("task".into(), Err(e.into()))))
    }

    /// Stops everything gracefully.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}
