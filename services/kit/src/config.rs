//! Typed configuration from `AEROSTIC_…` environment variables and an optional
//! file of `KEY=VALUE` lines (`AEROSTIC_CONFIG_FILE`); the environment wins.
//!
//! A missing or invalid setting is one [`ConfigError`] that names the key, so a
//! process can print one clear line and exit non-zero.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;

/// What is wrong with the configuration, naming the setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required setting is absent.
    #[error("missing setting {key}: {hint}")]
    Missing {
        /// The variable name.
        key: String,
        /// What it should hold.
        hint: String,
    },
    /// A setting is present but unusable.
    #[error("invalid setting {key}: {problem}")]
    Invalid {
        /// The variable name.
        key: String,
        /// Why it is unusable (never echoes a secret's value).
        problem: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path}: {problem}")]
    File {
        /// The file's path.
        path: String,
        /// The I/O or parse problem.
        problem: String,
    },
}

/// Raw settings: the optional file overlaid by the environment.
#[derive(Debug, Clone, Default)]
pub struct Source {
    values: HashMap<String, String>,
}

impl Source {
    /// Reads the optional file named by `AEROSTIC_CONFIG_FILE`, then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut values = HashMap::new();
        if let Ok(path) = std::env::var("AEROSTIC_CONFIG_FILE") {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
                path: path.clone(),
                problem: e.to_string(),
            })?;
            values
                .extend(parse_file(&text).map_err(|problem| ConfigError::File { path, problem })?);
        }
        values.extend(std::env::vars().filter(|(k, _)| k.starts_with("AEROSTIC_")));
        Ok(Self { values })
    }

    /// A source from explicit pairs (tests, `aerostic dev`).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Sets a value unless one is already present.
    pub fn set_default(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .entry(key.to_string())
            .or_insert_with(|| value.into());
    }

    /// The value of `key`, if set and not empty.
    pub fn optional(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .filter(|v| !v.trim().is_empty())
            .cloned()
    }

    /// The value of `key`, or a [`ConfigError::Missing`] with `hint`.
    pub fn required(&self, key: &str, hint: &str) -> Result<String, ConfigError> {
        self.optional(key).ok_or_else(|| ConfigError::Missing {
            key: key.into(),
            hint: hint.into(),
        })
    }

    /// `key` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.optional(key) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid {
                    key: key.into(),
                    problem: format!("{e} (got {raw:?})"),
                }),
        }
    }
}

fn parse_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected KEY=VALUE", n + 1))?;
        out.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
    }
    Ok(out)
}

/// The five internal services, in port order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceName {
    /// Tenants, users, keys, WhatsApp accounts, audit.
    Tenancy,
    /// Messages, conversations, templates, the send path.
    Dispatcher,
    /// Flows, AI agents, outbound webhooks.
    Automation,
    /// Wallets and the ledger.
    Billing,
    /// The isolation forest.
    Anomaly,
}

impl ServiceName {
    /// All services in port order.
    pub const ALL: [ServiceName; 5] = [
        ServiceName::Tenancy,
        ServiceName::Dispatcher,
        ServiceName::Automation,
        ServiceName::Billing,
        ServiceName::Anomaly,
    ];

    /// Lower-case name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Tenancy => "tenancy",
            ServiceName::Dispatcher => "dispatcher",
            ServiceName::Automation => "automation",
            ServiceName::Billing => "billing",
            ServiceName::Anomaly => "anomaly",
        }
    }

    fn index(self) -> u16 {
        ServiceName::ALL
            .iter()
            .position(|s| *s == self)
            .expect("listed") as u16
    }

    /// Default gRPC port: 50051..=50055.
    pub fn default_grpc_port(self) -> u16 {
        50051 + self.index()
    }

    /// Default metrics port of the service process: 9101..=9105.
    pub fn default_metrics_port(self) -> u16 {
        9101 + self.index()
    }

    fn env(self, suffix: &str) -> String {
        format!("AEROSTIC_{}_{suffix}", self.as_str().to_uppercase())
    }
}

/// Where the data, queues and cache live. The URL scheme picks the backend:
/// `postgres://` or `sqlite://`, `amqp://` or `memory://`, `redis://` or `memory://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backends {
    /// sea-orm connection URL.
    pub database_url: String,
    /// RabbitMQ URL or `memory://`.
    pub broker_url: String,
    /// Redis URL or `memory://`.
    pub cache_url: String,
    /// Prefix of queue names and cache keys, so deployments (and tests) can
    /// share one RabbitMQ and one Redis without seeing each other.
    pub namespace: String,
    /// Delete broker queues left unused this long (`AEROSTIC_BROKER_IDLE_QUEUE_EXPIRY_SECS`):
    /// for short-lived namespaces such as tests and preview deployments, never production.
    pub idle_queue_expiry: Option<std::time::Duration>,
}

impl Backends {
    /// Reads `AEROSTIC_DATABASE_URL`, `AEROSTIC_BROKER_URL`, `AEROSTIC_CACHE_URL`, `AEROSTIC_NAMESPACE`.
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let database_url = src.required(
            "AEROSTIC_DATABASE_URL",
            "a postgres:// or sqlite:// URL, e.g. postgres://postgres@127.0.0.1:5432/aerostic",
        )?;
        if !(database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
            || database_url.starts_with("sqlite:"))
        {
            return Err(ConfigError::Invalid {
                key: "AEROSTIC_DATABASE_URL".into(),
                problem: "must start with postgres:// or sqlite:".into(),
            });
        }
        let broker_url = src.required("AEROSTIC_BROKER_URL", "an amqp:// URL or memory://")?;
        check_scheme(
            "AEROSTIC_BROKER_URL",
            &broker_url,
            &["amqp://", "amqps://", "memory://"],
        )?;
        let cache_url = src.required("AEROSTIC_CACHE_URL", "a redis:// URL or memory://")?;
        check_scheme(
            "AEROSTIC_CACHE_URL",
            &cache_url,
            &["redis://", "rediss://", "memory://"],
        )?;
        let namespace = src
            .optional("AEROSTIC_NAMESPACE")
            .unwrap_or_else(|| "aerostic".into());
        if !namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::Invalid {
                key: "AEROSTIC_NAMESPACE".into(),
                problem: "only letters, digits, '-' and '_'".into(),
            });
        }
        let expiry_secs: u64 = src.parse_or("AEROSTIC_BROKER_IDLE_QUEUE_EXPIRY_SECS", 0)?;
        let idle_queue_expiry =
            (expiry_secs > 0).then(|| std::time::Duration::from_secs(expiry_secs));
        Ok(Self {
            database_url,
            broker_url,
            cache_url,
            namespace,
            idle_queue_expiry,
        })
    }
}

fn check_scheme(key: &str, url: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    if schemes.iter().any(|s| url.starts_with(s)) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key: key.into(),
            problem: format!("must start with one of {}", schemes.join(", ")),
        })
    }
}

/// Secrets every service may need.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// `id:base64key,id:base64key` (AES-256 keys); see [`crate::crypto::KeyRing`].
    pub encryption_keys: String,
    /// Key id new ciphertexts use; defaults to the last key listed.
    pub encryption_primary: Option<String>,
    /// HMAC secret for access tokens, at least 32 bytes.
    pub jwt_secret: String,
    /// Earlier JWT secrets still accepted while their tokens live (rotation).
    pub jwt_previous_secrets: Vec<String>,
    /// Key of the audit log's hash chain. It must outlive every JWT rotation,
    /// so production sets `AEROSTIC_AUDIT_SECRET`; unset, it is derived from
    /// the JWT secret (fine for `aerostic dev` and tests).
    pub audit_secret: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// Reads `AEROSTIC_ENCRYPTION_KEYS`, `AEROSTIC_ENCRYPTION_PRIMARY_KEY`,
    /// `AEROSTIC_JWT_SECRET`, `AEROSTIC_JWT_PREVIOUS_SECRETS` (comma-separated)
    /// and `AEROSTIC_AUDIT_SECRET`.
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let encryption_keys = src.required(
            "AEROSTIC_ENCRYPTION_KEYS",
            "comma-separated id:base64 AES-256 keys (generate one with `aerostic keygen`)",
        )?;
        crate::crypto::KeyRing::parse(&encryption_keys, None).map_err(|e| {
            ConfigError::Invalid {
                key: "AEROSTIC_ENCRYPTION_KEYS".into(),
                problem: e.to_string(),
            }
        })?;
        let jwt_secret = src.required("AEROSTIC_JWT_SECRET", "at least 32 random bytes")?;
        if jwt_secret.len() < 32 {
            return Err(ConfigError::Invalid {
                key: "AEROSTIC_JWT_SECRET".into(),
                problem: "must be at least 32 bytes".into(),
            });
        }
        let audit_secret = match src.optional("AEROSTIC_AUDIT_SECRET") {
            Some(secret) if secret.len() < 32 => {
                return Err(ConfigError::Invalid {
                    key: "AEROSTIC_AUDIT_SECRET".into(),
                    problem: "must be at least 32 bytes".into(),
                });
            }
            Some(secret) => secret,
            None => {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(
                    format!("aerostic audit chain|{jwt_secret}").as_bytes(),
                ))
            }
        };
        Ok(Self {
            audit_secret,
            encryption_keys,
            encryption_primary: src.optional("AEROSTIC_ENCRYPTION_PRIMARY_KEY"),
            jwt_secret,
            jwt_previous_secrets: src
                .optional("AEROSTIC_JWT_PREVIOUS_SECRETS")
                .map(|list| {
                    list.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The access-token keys these secrets describe.
    pub fn jwt_keys(&self) -> crate::jwt::JwtKeys {
        crate::jwt::JwtKeys::new(&self.jwt_secret, &self.jwt_previous_secrets)
    }

    /// The identity seal of the mesh.
    pub fn identity_seal(&self) -> crate::identity::IdentitySeal {
        crate::identity::IdentitySeal::new(self.jwt_secret.as_bytes())
    }

    /// The keys that hash accounts and recipients in signals.
    pub fn signal_keys(&self) -> crate::signals::SignalKeys {
        crate::signals::SignalKeys::new(
            format!("aerostic signals|{}", self.audit_secret).as_bytes(),
        )
    }

    /// The key ring these secrets describe.
    pub fn key_ring(&self) -> Result<crate::crypto::KeyRing, crate::crypto::CryptoError> {
        crate::crypto::KeyRing::parse(&self.encryption_keys, self.encryption_primary.as_deref())
    }
}

/// How the platform reaches Meta's Graph API (or the sandbox).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetaConfig {
    /// Graph base URL without version (`AEROSTIC_META_GRAPH_URL`, default
    /// `https://graph.facebook.com`).
    pub graph_url: String,
    /// The Meta app's id (`AEROSTIC_META_APP_ID`); empty: onboarding is off.
    pub app_id: String,
    /// The app secret (`AEROSTIC_META_APP_SECRET`): code exchange, webhook signatures.
    pub app_secret: String,
    /// The Embedded Signup configuration id (`AEROSTIC_META_CONFIG_ID`).
    pub config_id: String,
    /// The first system-user token (`AEROSTIC_META_SYSTEM_USER_TOKEN`); once an
    /// admin rotates it, the stored (encrypted) one wins.
    pub system_user_token: Option<String>,
    /// The token Meta echoes when the webhook callback is saved
    /// (`AEROSTIC_META_WEBHOOK_VERIFY_TOKEN`); empty: every verification fails.
    pub webhook_verify_token: String,
}

impl std::fmt::Debug for MetaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaConfig")
            .field("graph_url", &self.graph_url)
            .field("app_id", &self.app_id)
            .field("config_id", &self.config_id)
            .finish_non_exhaustive()
    }
}

impl MetaConfig {
    /// Reads the `AEROSTIC_META_*` settings.
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let graph_url = src
            .optional("AEROSTIC_META_GRAPH_URL")
            .unwrap_or_else(|| "https://graph.facebook.com".into());
        check_scheme(
            "AEROSTIC_META_GRAPH_URL",
            &graph_url,
            &["http://", "https://"],
        )?;
        let meta = Self {
            graph_url: graph_url.trim_end_matches('/').to_string(),
            app_id: src.optional("AEROSTIC_META_APP_ID").unwrap_or_default(),
            app_secret: src.optional("AEROSTIC_META_APP_SECRET").unwrap_or_default(),
            config_id: src.optional("AEROSTIC_META_CONFIG_ID").unwrap_or_default(),
            system_user_token: src.optional("AEROSTIC_META_SYSTEM_USER_TOKEN"),
            webhook_verify_token: src
                .optional("AEROSTIC_META_WEBHOOK_VERIFY_TOKEN")
                .unwrap_or_default(),
        };
        if !meta.app_id.is_empty() && meta.app_secret.is_empty() {
            return Err(ConfigError::Invalid {
                key: "AEROSTIC_META_APP_SECRET".into(),
                problem: "is required when AEROSTIC_META_APP_ID is set".into(),
            });
        }
        Ok(meta)
    }

    /// Whether a Meta app is configured.
    pub fn is_configured(&self) -> bool {
        !self.app_id.is_empty() && !self.graph_url.is_empty()
    }
}

/// The base domain (`AEROSTIC_BASE_DOMAIN`, default `localhost`), normalised.
pub fn base_domain(src: &Source) -> String {
    src.optional("AEROSTIC_BASE_DOMAIN")
        .unwrap_or_else(|| "localhost".into())
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// How the platform sends email (password resets, invitations).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MailConfig {
    /// `AEROSTIC_MAIL_URL`: `smtps://user:pass@host:465`,
    /// `smtp://user:pass@host:587?tls=required`, or `file:///dir` (each
    /// email a `.eml` file there). Empty: mail waits in its queue until set.
    pub url: String,
    /// `AEROSTIC_MAIL_FROM` (default `Aerostic <no-reply@<base domain>>`).
    pub from: String,
    /// `AEROSTIC_APP_URL`: where links in emails point (default
    /// `https://app.<base domain>`).
    pub app_url: String,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry SMTP credentials.
        let scheme = self.url.split("://").next().unwrap_or_default();
        f.debug_struct("MailConfig")
            .field("scheme", &scheme)
            .field("app_url", &self.app_url)
            .finish_non_exhaustive()
    }
}

impl MailConfig {
    /// Reads the `AEROSTIC_MAIL_*` settings and `AEROSTIC_APP_URL`.
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let base = base_domain(src);
        let url = src.optional("AEROSTIC_MAIL_URL").unwrap_or_default();
        if !url.is_empty() {
            check_scheme(
                "AEROSTIC_MAIL_URL",
                &url,
                &["smtp://", "smtps://", "file://"],
            )?;
        }
        let app_url = src
            .optional("AEROSTIC_APP_URL")
            .unwrap_or_else(|| format!("https://app.{base}"));
        check_scheme("AEROSTIC_APP_URL", &app_url, &["http://", "https://"])?;
        Ok(Self {
            url,
            from: src
                .optional("AEROSTIC_MAIL_FROM")
                .unwrap_or_else(|| format!("Aerostic <no-reply@{base}>")),
            app_url: app_url.trim_end_matches('/').to_string(),
        })
    }

    /// Whether email can be sent.
    pub fn is_configured(&self) -> bool {
        !self.url.is_empty()
    }
}

/// Where the dispatcher keeps customers' media (`AEROSTIC_MEDIA_STORE`):
/// our copy is the record, since Meta keeps media only days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaStore {
    /// `database`: the service's database, for any number of replicas.
    Database,
    /// `file:///an/absolute/dir`: a directory (shared by every replica).
    Directory(std::path::PathBuf),
}

impl Default for MediaStore {
    /// `aerostic-media` in the temporary directory.
    fn default() -> Self {
        Self::Directory(std::env::temp_dir().join("aerostic-media"))
    }
}

impl MediaStore {
    /// Reads `AEROSTIC_MEDIA_STORE` (default: [`MediaStore::default`]).
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let Some(value) = src.optional("AEROSTIC_MEDIA_STORE") else {
            return Ok(Self::default());
        };
        if value == "database" {
            return Ok(Self::Database);
        }
        match value.strip_prefix("file://") {
            Some(dir) if dir.starts_with('/') => Ok(Self::Directory(dir.into())),
            _ => Err(ConfigError::Invalid {
                key: "AEROSTIC_MEDIA_STORE".into(),
                problem: "must be `database` or `file:///an/absolute/dir`".into(),
            }),
        }
    }
}

/// One internal service process.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Which service.
    pub name: ServiceName,
    /// Where its gRPC server listens (`AEROSTIC_<NAME>_GRPC_ADDR`).
    pub grpc_addr: SocketAddr,
    /// Where `/metrics` is served (`AEROSTIC_<NAME>_METRICS_ADDR`).
    pub metrics_addr: SocketAddr,
    /// Database, broker, cache.
    pub backends: Backends,
    /// Keys and token secrets.
    pub secrets: Secrets,
    /// gRPC addresses of the other services.
    pub upstreams: Upstreams,
    /// Meta's Graph API.
    pub meta: MetaConfig,
    /// Outgoing email.
    pub mail: MailConfig,
    /// Where customers' media is kept.
    pub media: MediaStore,
}

impl ServiceConfig {
    /// Reads the configuration of `name`.
    pub fn from_source(name: ServiceName, src: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            name,
            grpc_addr: src.parse_or(&name.env("GRPC_ADDR"), loopback(name.default_grpc_port()))?,
            metrics_addr: src.parse_or(
                &name.env("METRICS_ADDR"),
                loopback(name.default_metrics_port()),
            )?,
            backends: Backends::from_source(src)?,
            secrets: Secrets::from_source(src)?,
            upstreams: Upstreams::from_source(src)?,
            meta: MetaConfig::from_source(src)?,
            mail: MailConfig::from_source(src)?,
            media: MediaStore::from_source(src)?,
        })
    }
}

/// gRPC endpoints of every service (`AEROSTIC_<NAME>_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstreams {
    urls: Vec<(ServiceName, String)>,
}

impl Upstreams {
    /// Reads each service's URL, defaulting to its loopback port.
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let mut urls = Vec::new();
        for name in ServiceName::ALL {
            let key = name.env("URL");
            let url = src
                .optional(&key)
                .unwrap_or_else(|| format!("http://127.0.0.1:{}", name.default_grpc_port()));
            check_scheme(&key, &url, &["http://", "https://"])?;
            urls.push((name, url));
        }
        Ok(Self { urls })
    }

    /// Upstreams at explicit addresses (tests, `aerostic dev`).
    pub fn at(addrs: impl IntoIterator<Item = (ServiceName, SocketAddr)>) -> Self {
        Self {
            urls: addrs
                .into_iter()
                .map(|(n, a)| (n, format!("http://{a}")))
                .collect(),
        }
    }

    /// The URL of `name`.
    pub fn url(&self, name: ServiceName) -> &str {
        self.urls
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, u)| u.as_str())
            .unwrap_or("http://127.0.0.1:1")
    }
}

/// The gateway process.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Public HTTP address (`AEROSTIC_GATEWAY_ADDR`, default 127.0.0.1:8080); `/metrics` is served here too.
    pub http_addr: SocketAddr,
    /// The services it translates to.
    pub upstreams: Upstreams,
    /// Only to report readiness; the gateway owns no data.
    pub backends: Backends,
    /// To verify access tokens and seal identities for the services.
    pub secrets: Secrets,
    /// `AEROSTIC_BASE_DOMAIN` (default `localhost`): `app.`, `admin.` and
    /// `api.` hosts hang under it.
    pub base_domain: String,
    /// The app secret and verify token of Meta's webhooks.
    pub meta: MetaConfig,
}

impl GatewayConfig {
    /// Reads the gateway's configuration.
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            http_addr: src.parse_or("AEROSTIC_GATEWAY_ADDR", loopback(8080))?,
            upstreams: Upstreams::from_source(src)?,
            backends: Backends::from_source(src)?,
            secrets: Secrets::from_source(src)?,
            base_domain: base_domain(src),
            meta: MetaConfig::from_source(src)?,
        })
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AEROSTIC_DATABASE_URL", "sqlite::memory:"),
            ("AEROSTIC_BROKER_URL", "memory://"),
            ("AEROSTIC_CACHE_URL", "memory://"),
        ]
    }

    #[test]
    fn a_missing_database_url_names_the_setting() {
        let err = Backends::from_source(&Source::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("missing setting AEROSTIC_DATABASE_URL"),
            "{err}"
        );
    }

    #[test]
    fn an_unparsable_address_names_the_setting_and_the_value() {
        let mut pairs = base();
        pairs.push(("AEROSTIC_GATEWAY_ADDR", "localhost"));
        let err = GatewayConfig::from_source(&Source::from_pairs(pairs)).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "AEROSTIC_GATEWAY_ADDR"),
            "{err}"
        );
    }

    #[test]
    fn defaults_follow_the_documented_ports() {
        let mut pairs = base();
        let keys: &'static str =
            Box::leak(crate::crypto::KeyRing::generate_spec("k1").into_boxed_str());
        pairs.push(("AEROSTIC_ENCRYPTION_KEYS", keys));
        pairs.push(("AEROSTIC_JWT_SECRET", "0123456789abcdef0123456789abcdef"));
        let cfg = GatewayConfig::from_source(&Source::from_pairs(pairs)).unwrap();
        assert_eq!(cfg.http_addr.port(), 8080);
        assert_eq!(
            cfg.upstreams.url(ServiceName::Anomaly),
            "http://127.0.0.1:50055"
        );
    }

    #[test]
    fn the_media_store_is_the_database_or_an_absolute_directory() {
        let media = |v: &'static str| {
            MediaStore::from_source(&Source::from_pairs(vec![("AEROSTIC_MEDIA_STORE", v)]))
        };
        assert_eq!(media("database").unwrap(), MediaStore::Database);
        assert_eq!(
            media("file:///var/lib/aerostic/media").unwrap(),
            MediaStore::Directory("/var/lib/aerostic/media".into())
        );
        assert_eq!(
            MediaStore::from_source(&Source::default()).unwrap(),
            MediaStore::default()
        );
        for bad in ["s3://bucket", "file://relative/dir", "Database"] {
            assert!(
                matches!(media(bad), Err(ConfigError::Invalid { key, .. }) if key == "AEROSTIC_MEDIA_STORE"),
                "{bad} was taken"
            );
        }
    }

    #[test]
    fn a_wrong_broker_scheme_is_rejected() {
        let mut pairs = base();
        pairs.retain(|(k, _)| *k != "AEROSTIC_BROKER_URL");
        pairs.push(("AEROSTIC_BROKER_URL", "kafka://x"));
        let err = Backends::from_source(&Source::from_pairs(pairs)).unwrap_err();
        assert!(err.to_string().contains("AEROSTIC_BROKER_URL"));
    }

    #[test]
    fn the_file_format_rejects_lines_without_equals() {
        assert!(
            parse_file("A=1\n# c\n\nB = \"two\"")
                .unwrap()
                .contains(&("B".into(), "two".into()))
        );
        assert!(parse_file("oops").is_err());
    }
}
