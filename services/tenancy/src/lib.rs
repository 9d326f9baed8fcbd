//! Tenancy: tenants, users, sessions, API keys and the audit log.
//!
//! [`auth`] is the domain; [`grpc`] translates; [`run`] wires them to the
//! backends and serves until shut down.

#![warn(missing_docs)]

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod chain;
pub mod credentials;
pub mod entity;
pub mod grpc;
pub mod mail;
pub mod meta;
pub mod password;
pub mod resellers;
pub mod reset_mail;
pub mod restrictions;
pub mod sessions;
pub mod settings;
pub mod team;
pub mod tenants;
pub mod validate;
pub mod whatsapp;

use std::future::Future;
use std::time::Duration;

use aerostic_kit::broker::{RetryPolicy, Subscription};
use aerostic_kit::context::Context;
use aerostic_kit::outbox::Outbox;
use aerostic_proto::v1::tenancy_server::TenancyServer;
use tokio::net::TcpListener;

/// The table tenancy stages its events in.
pub const OUTBOX_TABLE: &str = "tenancy_outbox";

/// Every queue tenancy consumes.
pub fn queues() -> Vec<aerostic_kit::broker::QueueSpec> {
    vec![audit::queue(), reset_mail::queue(), restrictions::queue()]
}

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
            audit::AuditWriter::new(
                ctx.db.clone(),
                chain::Chain::new(ctx.secrets.audit_secret.as_bytes()),
            ),
            RetryPolicy::default(),
        )
        .await?;
    let reset_mail = start_reset_mail(&ctx).await?;
    let outbox = Outbox::new(OUTBOX_TABLE);
    ctx.broker.declare(&restrictions::queue()).await?;
    let restricted = ctx
        .broker
        .consume(
            &restrictions::queue().name,
            std::sync::Arc::new(restrictions::Restrictions::new(
                ctx.db.clone(),
                outbox.clone(),
            )),
            RetryPolicy::default(),
        )
        .await?;
    let relay =
        outbox
            .clone()
            .spawn_relay(ctx.db.clone(), ctx.broker.clone(), Duration::from_secs(1));
    let keys = ctx.secrets.jwt_keys();
    let db = ctx.db.clone();
    let sessions = sessions::Sessions::new(db.clone(), keys.clone(), outbox.clone());
    let settings = settings::Settings::new(db.clone(), outbox.clone());
    let auth = auth::Auth::new(
        db.clone(),
        ctx.cache.clone(),
        outbox.clone(),
        sessions.clone(),
        settings.clone(),
    );
    let whatsapp = whatsapp::WhatsApp::new(whatsapp::Parts {
        db: db.clone(),
        outbox: outbox.clone(),
        keys: ctx.keys.clone(),
        cache: ctx.cache.clone(),
        graph: meta::Graph::new(ctx.meta.clone()),
        settings: settings.clone(),
        state_secret: ctx.secrets.jwt_secret.as_bytes().to_vec(),
    });
    let watcher = whatsapp
        .system_token
        .clone()
        .spawn_watcher(Duration::from_secs(3600));
    let server = grpc::TenancyGrpc {
        auth,
        sessions,
        api_keys: api_keys::ApiKeys::new(db.clone(), outbox.clone()),
        team: team::Team::new(db.clone(), outbox.clone()),
        keys,
        seal: ctx.secrets.identity_seal(),
        credentials: credentials::Credentials::new(db.clone(), outbox.clone(), ctx.keys.clone()),
        tenants: tenants::Tenants::new(db.clone(), outbox.clone()),
        resellers: resellers::Resellers::new(db.clone(), outbox.clone(), settings.clone()),
        settings,
        whatsapp,
        chain: chain::Chain::new(ctx.secrets.audit_secret.as_bytes()),
        db,
    };
    let served = aerostic_kit::grpc::serve(TenancyServer::new(server), listener, shutdown).await;
    watcher.abort();
    relay.abort();
    consumer.shutdown().await;
    restricted.shutdown().await;
    if let Some(reset_mail) = reset_mail {
        reset_mail.shutdown().await;
    }
    served?;
    Ok(())
}

/// Declares the reset-mail queue and, when mail is configured, consumes it;
/// otherwise notices wait there until a tenancy with mail runs.
async fn start_reset_mail(ctx: &Context) -> anyhow::Result<Option<Subscription>> {
    ctx.broker.declare(&reset_mail::queue()).await?;
    if !ctx.mail.is_configured() {
        tracing::warn!("AEROSTIC_MAIL_URL is not set: password reset emails wait in their queue");
        return Ok(None);
    }
    let sender = reset_mail::ResetMailer::new(ctx.mail.clone(), ctx.keys.clone())?;
    let subscription = ctx
        .broker
        .consume(
            &reset_mail::queue().name,
            std::sync::Arc::new(sender),
            RetryPolicy::default(),
        )
        .await?;
    Ok(Some(subscription))
}
