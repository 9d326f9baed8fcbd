//! `spawn_app()`: the whole mesh on random ports against the machine's real
//! PostgreSQL (a fresh database), Redis and RabbitMQ (a fresh namespace).

#![allow(dead_code)]

pub mod billing;
pub mod events;
pub mod meta;

use std::net::SocketAddr;

use aerostic_kit::config::{Backends, Secrets, Source};
use aerostic_kit::crypto::KeyRing;
use aerostic_launcher::{Platform, PlatformSpec};
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub platform: Platform,
    pub backends: Backends,
    pub http: reqwest::Client,
    /// The Meta sandbox's base URL and control token, when it runs.
    pub sandbox: Option<(String, String)>,
    /// The platform's secrets (to read what it encrypted).
    pub secrets: Secrets,
    /// Where the platform's emails land, one `.eml` file each.
    pub mail_dir: std::path::PathBuf,
}

/// The host the platform admin API answers on in tests.
pub const ADMIN_HOST: &str = "admin.localhost";
/// The host the tenant API answers on in tests.
pub const APP_HOST: &str = "app.localhost";

pub fn redis_url() -> String {
    std::env::var("AEROSTIC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn amqp_url() -> String {
    std::env::var("AEROSTIC_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub fn test_secrets() -> Secrets {
    Secrets::from_source(&Source::from_pairs([
        ("AEROSTIC_ENCRYPTION_KEYS", KeyRing::generate_spec("t1")),
        ("AEROSTIC_JWT_SECRET", "x".repeat(40)),
    ]))
    .expect("valid test secrets")
}

pub async fn real_backends() -> Backends {
    Backends {
        database_url: aerostic_kit::db::testing::fresh_postgres_database()
            .await
            .expect("PostgreSQL on 127.0.0.1:5432"),
        broker_url: amqp_url(),
        cache_url: redis_url(),
        namespace: format!("e2e{}", uuid::Uuid::new_v4().simple()),
        // Each test's queues go away a minute after it ends.
        idle_queue_expiry: Some(std::time::Duration::from_secs(60)),
    }
}

/// Logs go to `AEROSTIC_LOG_FILE` when the test command sets it (then scanned
/// for PII); otherwise tests stay quiet.
pub fn init_logs() {
    if std::env::var_os("AEROSTIC_LOG_FILE").is_some() {
        aerostic_kit::telemetry::init_logging(aerostic_kit::telemetry::LogFormat::Json);
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(None, Default::default()).await
}

/// The platform with the Meta sandbox in the same process as its Meta.
pub async fn spawn_app_with_sandbox() -> TestApp {
    let control = format!("ctl{}", uuid::Uuid::new_v4().simple());
    spawn_with(Some(control), Default::default()).await
}

/// The embedded platform, as `aerostic dev` runs it (SQLite, the in-process
/// broker and cache, the Meta sandbox), for the tests both backends share.
pub async fn spawn_embedded() -> TestApp {
    init_logs();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let data_dir = std::env::temp_dir().join(format!("aerostic-embedded-{}", uuid::Uuid::new_v4()));
    let mut spec = aerostic_launcher::prepare_dev(&aerostic_launcher::DevOptions {
        data_dir: data_dir.clone(),
        gateway_addr: any,
        grpc_base_port: 0,
        sandbox_addr: any,
    })
    .expect("the embedded spec");
    let mail_dir = data_dir.join("mail");
    spec.mail.url = format!("file://{}", mail_dir.display());
    let (backends, secrets, control) = (
        spec.backends.clone(),
        spec.secrets.clone(),
        spec.sandbox.clone().map(|(_, c)| c),
    );
    let platform = Platform::start(spec)
        .await
        .expect("the embedded platform starts");
    TestApp::of(platform, backends, secrets, control, mail_dir)
}

/// The platform reaching Meta as `meta` says (e.g. a sandbox of the test's own).
pub async fn spawn_with(
    sandbox_control: Option<String>,
    meta: aerostic_kit::config::MetaConfig,
) -> TestApp {
    spawn_keeping_media(sandbox_control, meta, Default::default()).await
}

/// The platform reaching Meta as `meta` says and keeping media in `media`.
pub async fn spawn_keeping_media(
    sandbox_control: Option<String>,
    meta: aerostic_kit::config::MetaConfig,
    media: aerostic_kit::config::MediaStore,
) -> TestApp {
    init_logs();
    let backends = real_backends().await;
    let secrets = test_secrets();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mail_dir = std::env::temp_dir().join(format!("aerostic-mail-{}", backends.namespace));
    let platform = Platform::start(PlatformSpec {
        backends: backends.clone(),
        secrets: secrets.clone(),
        gateway_addr: any,
        grpc_addrs: [any; 5],
        migrate: true,
        sandbox: sandbox_control.clone().map(|c| (any, c)),
        meta,
        base_domain: "localhost".into(),
        mail: aerostic_kit::config::MailConfig {
            url: format!("file://{}", mail_dir.display()),
            from: "Aerostic <no-reply@localhost>".into(),
            app_url: "https://app.localhost".into(),
        },
        media,
    })
    .await
    .expect("the platform starts");
    TestApp::of(platform, backends, secrets, sandbox_control, mail_dir)
}

impl TestApp {
    /// The handle of a started `platform`.
    fn of(
        platform: Platform,
        backends: Backends,
        secrets: Secrets,
        sandbox_control: Option<String>,
        mail_dir: std::path::PathBuf,
    ) -> Self {
        let sandbox = platform
            .sandbox
            .zip(sandbox_control)
            .map(|(addr, control)| (format!("http://{addr}"), control));
        Self {
            base: format!("http://{}", platform.gateway),
            platform,
            backends,
            http: reqwest::Client::new(),
            sandbox,
            secrets,
            mail_dir,
        }
    }
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &'static str,
    ) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn register(&self, email: &str) -> Value {
        let (status, body) = self
            .post_json(
                "/v1/auth/register",
                &serde_json::json!({"tenant_name": "Acme Ltd", "email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

pub fn unique_email() -> String {
    format!("owner+{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A response: status, `Retry-After` (if any) and JSON body.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl TestApp {
    /// Any request with an optional bearer credential and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        Answer {
            status,
            retry_after,
            body: resp.json().await.unwrap_or(Value::Null),
        }
    }

    /// Like [`TestApp::call`], on the virtual host `host`.
    pub async fn call_on(
        &self,
        host: &str,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::HOST, host);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        Answer {
            status,
            retry_after,
            body: resp.json().await.unwrap_or(Value::Null),
        }
    }

    /// A connection to the test's database.
    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        aerostic_kit::db::connect(&self.backends.database_url)
            .await
            .expect("the test database")
    }

    /// Creates a super admin the way `aerostic admin create-super-admin`
    /// does; their email (password `correct horse battery`).
    pub async fn create_super_admin(&self) -> String {
        let email = format!("root+{}@example.com", uuid::Uuid::new_v4().simple());
        aerostic_tenancy::tenants::Tenants::new(
            self.db().await,
            aerostic_kit::outbox::Outbox::new(aerostic_tenancy::OUTBOX_TABLE),
        )
        .create_super_admin(&email, "correct horse battery")
        .await
        .expect("a super admin");
        email
    }

    /// A new super admin signed in on the admin host; the access token.
    pub async fn super_admin(&self) -> String {
        let email = self.create_super_admin().await;
        let session = self
            .call_on(
                ADMIN_HOST,
                reqwest::Method::POST,
                "/v1/auth/login",
                None,
                Some(&serde_json::json!({"email": email, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(session.status, 200, "{}", session.body);
        session.body["access_token"].as_str().unwrap().to_string()
    }

    /// A new API key of `admin`'s workspace with `scopes`; its secret.
    pub async fn api_key(&self, admin: &str, scopes: &[&str]) -> String {
        let created = self
            .call(
                reqwest::Method::POST,
                "/v1/billing/api-keys",
                Some(admin),
                Some(&serde_json::json!({"name": "k", "scopes": scopes})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        created.body["secret"].as_str().unwrap().to_string()
    }

    /// Invites `role` into `admin`'s tenant, accepts (checking the invitation
    /// works only once), logs in: (user, session).
    pub async fn member(&self, admin: &str, role: &str) -> (Value, Value) {
        let email = unique_email();
        let invited = self
            .call(
                reqwest::Method::POST,
                "/v1/team/invitations",
                Some(admin),
                Some(&serde_json::json!({"email": email, "role": role})),
            )
            .await;
        assert_eq!(invited.status, 201, "{}", invited.body);
        let accept = serde_json::json!({
            "invitation_token": invited.body["invitation_token"],
            "full_name": "Bea Agent",
            "password": "correct horse battery",
        });
        let joined = self
            .call(
                reqwest::Method::POST,
                "/v1/team/invitations/accept",
                None,
                Some(&accept),
            )
            .await;
        assert_eq!(joined.status, 201, "{}", joined.body);
        let again = self
            .call(
                reqwest::Method::POST,
                "/v1/team/invitations/accept",
                None,
                Some(&accept),
            )
            .await;
        assert_eq!(
            (again.status, again.body["error"]["code"].as_str()),
            (404, Some("invitation_not_found")),
            "an invitation works once"
        );
        (joined.body, self.login(&email).await)
    }

    /// A call to the sandbox's control API.
    pub async fn sandbox_control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Value {
        let (base, control) = self.sandbox.as_ref().expect("the sandbox runs");
        let mut req = self
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(control);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("sandbox reachable");
        assert!(
            resp.status().is_success(),
            "sandbox {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    /// Logs in with the password `register` uses; the session JSON.
    pub async fn login(&self, email: &str) -> Value {
        let (status, body) = self
            .post_json(
                "/v1/auth/login",
                &serde_json::json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Registers a new tenant and logs its admin in; the access token.
    pub async fn new_admin(&self) -> String {
        let email = unique_email();
        self.register(&email).await;
        self.login(&email).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl TestApp {
    /// The emails sent so far, decoded to text (quoted-printable undone).
    pub fn sent_mail(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map(|raw| raw.replace("=\r\n", "").replace("=3D", "="))
            .collect()
    }

    /// Waits (up to 10 s) for an email to `to`; its text.
    pub async fn mail_to(&self, to: &str) -> String {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(mail) = self.sent_mail().into_iter().find(|m| m.contains(to)) {
                return mail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no email to {to} within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// A fresh PostgreSQL database with every migration applied.
pub async fn migrated_postgres() -> sea_orm::DatabaseConnection {
    let url = aerostic_kit::db::testing::fresh_postgres_database()
        .await
        .unwrap();
    migrated(&url).await
}

/// A fresh SQLite database file with every migration applied.
pub async fn migrated_sqlite() -> sea_orm::DatabaseConnection {
    let file = std::env::temp_dir().join(format!("aerostic-test-{}.db", uuid::Uuid::new_v4()));
    migrated(&format!("sqlite://{}?mode=rwc", file.display())).await
}

async fn migrated(url: &str) -> sea_orm::DatabaseConnection {
    aerostic_launcher::migrate(url).await.unwrap();
    aerostic_kit::db::connect(url).await.unwrap()
}

/// Runs each named `async fn(TestApp)` twice: on PostgreSQL, RabbitMQ and
/// Redis, and on the embedded backends `aerostic dev` runs (SQLite, the
/// in-process broker and cache), both with the Meta sandbox. One contract,
/// both backends.
#[macro_export]
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn on_postgres_rabbitmq_and_redis() {
                super::$test($crate::common::spawn_app_with_sandbox().await).await
            }

            #[tokio::test]
            async fn on_sqlite_and_the_in_process_broker() {
                super::$test($crate::common::spawn_embedded().await).await
            }
        }
    )*};
}
