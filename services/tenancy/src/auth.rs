//! Registration and login: plain Rust the gRPC layer calls.

use std::sync::Arc;
use std::time::Duration;

use aerostic_kit::cache::Cache;
use aerostic_kit::ids::{TenantId, UserId};
use aerostic_kit::mask::mask_email;
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, SqlErr,
};
use sha2::{Digest, Sha256};

use crate::audit::AuditRecord;
use crate::entity::{tenant, user};
use crate::password;
use crate::resellers::reseller_for_host;
use crate::sessions::{Sessions, Tokens};
use crate::settings::Settings;
use crate::validate::{Email, Password, Problems, name};

/// How long failed logins are remembered.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins for one account within the window before it is locked.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failed logins from one IP within the window before it is locked out.
pub const MAX_FAILURES_PER_IP: i64 = 20;
/// Role of the user who registers a tenant.
pub const WORKSPACE_ADMIN: &str = "workspace_admin";

/// A registration request, as received.
pub struct Registration {
    /// The business's name.
    pub tenant_name: String,
    /// The admin's email.
    pub email: String,
    /// The admin's password.
    pub password: String,
    /// The admin's name (defaults to the email's local part).
    pub full_name: String,
    /// The Host it came on: a reseller's domain makes the tenant theirs.
    pub host: String,
}

/// A successful login.
pub struct Session {
    /// Access and refresh tokens.
    pub tokens: Tokens,
    /// Who logged in.
    pub user: user::Model,
}

/// Accounts and sessions.
#[derive(Clone)]
pub struct Auth {
    db: DatabaseConnection,
    cache: Arc<dyn Cache>,
    outbox: Outbox,
    sessions: Sessions,
    settings: Settings,
}

fn db_error(e: DbErr) -> ApiError {
    ApiError::internal(e)
}

/// The cache key counting failed logins for `subject` (hashed: no email in Redis).
pub fn failure_key(kind: &str, subject: &str) -> String {
    format!(
        "login_failures:{kind}:{}",
        hex::encode(Sha256::digest(subject.as_bytes()))
    )
}

impl Auth {
    /// Accounts in `db`, counters in `cache`, events through `outbox`.
    pub fn new(
        db: DatabaseConnection,
        cache: Arc<dyn Cache>,
        outbox: Outbox,
        sessions: Sessions,
        settings: Settings,
    ) -> Self {
        Self {
            db,
            cache,
            outbox,
            sessions,
            settings,
        }
    }

    /// Creates a tenant and its workspace admin.
    pub async fn register(
        &self,
        req: Registration,
    ) -> Result<(tenant::Model, user::Model), ApiError> {
        let mut problems = Problems::default();
        let tenant_name = problems.check("tenant_name", name(&req.tenant_name, 100));
        let email = problems.check("email", Email::parse(&req.email));
        let password = problems.check("password", Password::parse(&req.password));
        let full_name = if req.full_name.trim().is_empty() {
            None
        } else {
            problems.check("full_name", name(&req.full_name, 100))
        };
        problems.finish()?;
        let (tenant_name, email, password) = (
            tenant_name.expect("checked"),
            email.expect("checked"),
            password.expect("checked"),
        );
        let full_name = full_name.unwrap_or_else(|| {
            email
                .as_str()
                .split('@')
                .next()
                .unwrap_or_default()
                .to_string()
        });

        let settings = self.settings.values().await?;
        if settings.get("signup.enabled") != "true" {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                "signup_disabled",
                "sign-ups are closed on this platform",
            ));
        }
        let reseller = reseller_for_host(&self.db, &req.host).await?;
        if self.find_by_normalized(email.as_str()).await?.is_some() {
            return Err(email_taken());
        }
        let hash = password::hash(password.expose().to_string())
            .await
            .map_err(ApiError::internal)?;
        let now = chrono::Utc::now();
        let tenant_id = TenantId::new().to_string();
        let user_id = UserId::new().to_string();
        let audit = AuditRecord::now(
            &tenant_id,
            &user_id,
            "tenant.registered",
            &format!(
                "tenant {tenant_name:?} registered by {}",
                mask_email(email.as_str())
            ),
        );

        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        let tenant = tenant::ActiveModel {
            id: Set(tenant_id.clone()),
            name: Set(tenant_name),
            status: Set("active".into()),
            plan_code: Set(settings.get("signup.default_plan").to_string()),
            created_at: Set(now),
            reseller_id: Set(reseller.map(|r| r.id)),
        }
        .insert(&txn)
        .await
        .map_err(db_error)?;
        let user = user::ActiveModel {
            id: Set(user_id),
            tenant_id: Set(tenant_id),
            email: Set(email.as_str().to_string()),
            full_name: Set(full_name),
            password_hash: Set(hash),
            role: Set(WORKSPACE_ADMIN.into()),
            active: Set(true),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(user_insert_error)?;
        audit.commit_with(&self.outbox, txn).await?;
        tracing::info!(tenant_id = %tenant.id, "tenant registered");
        Ok((tenant, user))
    }

    /// Checks the credentials and issues an access token. Unknown account and
    /// wrong password answer alike, so the API does not reveal who is registered.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
        admin_host: bool,
    ) -> Result<Session, ApiError> {
        let mut problems = Problems::default();
        if email.trim().is_empty() {
            problems.check::<()>("email", Err("is required"));
        }
        if password.is_empty() {
            problems.check::<()>("password", Err("is required"));
        }
        problems.finish()?;
        let normalized = email.trim().to_lowercase();
        self.check_lockout(&normalized, client_ip).await?;

        let found = self.find_by_normalized(&normalized).await?;
        let (phc, user) = match found {
            Some(u) => (u.password_hash.clone(), Some(u)),
            None => (password::DECOY.clone(), None),
        };
        let matches = password::verify(password.to_string(), phc).await;
        match user {
            Some(user) if matches && user.active => {
                let tenant = crate::tenants::find_tenant(&self.db, &user.tenant_id).await?;
                if tenant.status != "active" {
                    self.record(AuditRecord::now(
                        &user.tenant_id,
                        &user.id,
                        "login.failed",
                        "tenant suspended",
                    ))
                    .await?;
                    return Err(aerostic_kit::identity::tenant_suspended());
                }
                check_host(&user, admin_host)?;
                let tokens = self.sessions.start(&user).await?;
                self.record(AuditRecord::now(
                    &user.tenant_id,
                    &user.id,
                    "login.succeeded",
                    "password login",
                ))
                .await?;
                Ok(Session { tokens, user })
            }
            other => {
                self.count_failure(&normalized, client_ip).await;
                if let Some(user) = other {
                    let reason = if user.active {
                        "wrong password"
                    } else {
                        "account deactivated"
                    };
                    self.record(AuditRecord::now(
                        &user.tenant_id,
                        "anonymous",
                        "login.failed",
                        reason,
                    ))
                    .await?;
                }
                Err(ApiError::new(
                    ErrorKind::Unauthenticated,
                    "invalid_credentials",
                    "email or password is wrong",
                ))
            }
        }
    }

    /// 429 while the account or the IP has too many recent failures. The
    /// check comes before the password is verified, so a locked account
    /// cannot be probed either; a cache outage fails open (the argon2 cost
    /// still slows guessing) rather than locking everyone out.
    async fn check_lockout(&self, email: &str, client_ip: &str) -> Result<(), ApiError> {
        let mut checks = vec![(failure_key("email", email), MAX_FAILURES_PER_ACCOUNT)];
        if !client_ip.is_empty() {
            checks.push((failure_key("ip", client_ip), MAX_FAILURES_PER_IP));
        }
        for (key, limit) in checks {
            match self.cache.incr(&key, 0, FAILURE_WINDOW).await {
                Ok(count) if count >= limit => {
                    metrics::counter!("aerostic_login_lockouts_total").increment(1);
                    return Err(ApiError::new(
                        ErrorKind::RateLimited,
                        "too_many_login_attempts",
                        "too many failed logins; try again later",
                    )
                    .with_detail("retry_after_secs", FAILURE_WINDOW.as_secs().to_string()));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not read failed-login counters"),
            }
        }
        Ok(())
    }

    async fn count_failure(&self, email: &str, client_ip: &str) {
        metrics::counter!("aerostic_login_failures_total").increment(1);
        let mut keys = vec![failure_key("email", email)];
        if !client_ip.is_empty() {
            keys.push(failure_key("ip", client_ip));
        }
        for key in keys {
            // Counting must not turn a wrong password into a 500.
            if let Err(e) = self.cache.incr(&key, 1, FAILURE_WINDOW).await {
                tracing::warn!(error = %e, "could not count a failed login");
            }
        }
    }

    async fn record(&self, audit: AuditRecord) -> Result<(), ApiError> {
        self.outbox
            .stage(&self.db, &audit.envelope())
            .await
            .map_err(db_error)?;
        self.outbox.wake();
        Ok(())
    }

    async fn find_by_normalized(&self, email: &str) -> Result<Option<user::Model>, ApiError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(&self.db)
            .await
            .map_err(db_error)
    }
}

/// Super admins sign in only on the admin host (`use_admin_host` elsewhere);
/// anyone else there is told the endpoint does not exist, as the admin host
/// answers for everything it does not serve. Checked before a session starts.
fn check_host(user: &user::Model, admin_host: bool) -> Result<(), ApiError> {
    match (user.role == "super_admin", admin_host) {
        (true, false) => Err(ApiError::new(
            ErrorKind::PermissionDenied,
            "use_admin_host",
            "platform admins sign in on the admin host",
        )),
        (false, true) => Err(ApiError::new(
            ErrorKind::NotFound,
            "route_not_found",
            "no such endpoint",
        )),
        _ => Ok(()),
    }
}

/// `email_taken` (409): one account per email across the platform.
pub(crate) fn email_taken() -> ApiError {
    ApiError::new(
        ErrorKind::AlreadyExists,
        "email_taken",
        "an account with this email already exists",
    )
    .with_detail("email", "is already registered")
}

/// A user insert's error: a unique violation means the email raced in.
pub(crate) fn user_insert_error(e: DbErr) -> ApiError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => email_taken(),
        _ => db_error(e),
    }
}
