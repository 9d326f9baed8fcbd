//! What a service needs at run time, connected once from its configuration.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::broker::{self, Broker};
use crate::cache::{self, Cache};
use crate::config::{Backends, MailConfig, MediaStore, MetaConfig, Secrets, Upstreams};
use crate::crypto::KeyRing;

/// A dependency could not be reached at start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database refused or did not answer.
    #[error("database: {0}")]
    Database(String),
    /// The broker refused or did not answer.
    #[error("broker: {0}")]
    Broker(String),
    /// The cache refused or did not answer.
    #[error("cache: {0}")]
    Cache(String),
    /// The key ring is unusable.
    #[error("encryption keys: {0}")]
    Keys(String),
}

/// The three backends, connected.
#[derive(Clone)]
pub struct Connections {
    /// The database.
    pub db: DatabaseConnection,
    /// The broker.
    pub broker: Arc<dyn Broker>,
    /// The cache.
    pub cache: Arc<dyn Cache>,
}

impl Connections {
    /// Connects everything `backends` names.
    pub async fn connect(backends: &Backends) -> Result<Self, StartError> {
        let db = crate::db::connect(&backends.database_url)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        let broker = broker::connect(
            &backends.broker_url,
            &backends.namespace,
            backends.idle_queue_expiry,
        )
        .await
        .map_err(|e| StartError::Broker(e.to_string()))?;
        let cache = cache::connect(&backends.cache_url, &backends.namespace)
            .await
            .map_err(|e| StartError::Cache(e.to_string()))?;
        Ok(Self { db, broker, cache })
    }

    /// Checks each backend; the names of those that failed, with why.
    pub async fn check(&self) -> Vec<(&'static str, String)> {
        let mut failed = Vec::new();
        if let Err(e) = crate::db::ping(&self.db).await {
            failed.push(("database", e.to_string()));
        }
        if let Err(e) = self.broker.ping().await {
            failed.push(("broker", e.to_string()));
        }
        if let Err(e) = self.cache.ping().await {
            failed.push(("cache", e.to_string()));
        }
        failed
    }
}

/// Connected backends and secrets, shared by a service's handlers.
#[derive(Clone)]
pub struct Context {
    /// The service's database.
    pub db: DatabaseConnection,
    /// The broker.
    pub broker: Arc<dyn Broker>,
    /// The cache.
    pub cache: Arc<dyn Cache>,
    /// Keys for secret columns.
    pub keys: KeyRing,
    /// Token secrets.
    pub secrets: Secrets,
    /// Other services' gRPC endpoints.
    pub upstreams: Upstreams,
    /// Meta's Graph API (unconfigured until [`Context::with_meta`]).
    pub meta: MetaConfig,
    /// Outgoing email (unconfigured until [`Context::with_mail`]).
    pub mail: MailConfig,
    /// Where customers' media is kept (the default until
    /// [`Context::with_media`]).
    pub media: MediaStore,
}

impl Context {
    /// A context over already connected backends.
    pub fn new(
        conns: Connections,
        secrets: Secrets,
        upstreams: Upstreams,
    ) -> Result<Self, StartError> {
        let keys = secrets
            .key_ring()
            .map_err(|e| StartError::Keys(e.to_string()))?;
        let Connections { db, broker, cache } = conns;
        Ok(Self {
            db,
            broker,
            cache,
            keys,
            secrets,
            upstreams,
            meta: MetaConfig::default(),
            mail: MailConfig::default(),
            media: MediaStore::default(),
        })
    }

    /// The same context reaching Meta through `meta`.
    pub fn with_meta(mut self, meta: MetaConfig) -> Self {
        self.meta = meta;
        self
    }

    /// The same context sending email through `mail`.
    pub fn with_mail(mut self, mail: MailConfig) -> Self {
        self.mail = mail;
        self
    }

    /// The same context keeping media in `media`.
    pub fn with_media(mut self, media: MediaStore) -> Self {
        self.media = media;
        self
    }
}
