//! The platform's Meta system-user token: what serves numbers connected with
//! `cloud/init`. It starts from configuration; an admin rotates it (Meta
//! checks the new one first), after which the stored one — encrypted, bound
//! to tenant `platform` and its column — wins. Rotation is due after
//! `meta.system_user_token_rotation_days`; a watcher logs and exports that.

use aerostic_kit::crypto::{Binding, KeyRing};
use aerostic_kit::identity::{Identity, Permission};
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

use crate::audit::{AuditRecord, actor};
use crate::entity::platform_secret;
use crate::meta::Graph;
use crate::settings::Settings;

/// The row name of the token.
pub const NAME: &str = "meta.system_user_token";
const BINDING: Binding<'static> = Binding {
    tenant: "platform",
    column: "platform_secrets.value",
};

/// Where the token stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    /// `stored` (rotated through the platform), `config`, or `none`.
    pub source: &'static str,
    /// When it was last rotated here.
    pub rotated_at: Option<DateTime<Utc>>,
    /// When it should be rotated.
    pub next_rotation_at: Option<DateTime<Utc>>,
    /// Past `next_rotation_at`.
    pub due: bool,
}

/// The system-user token.
#[derive(Clone)]
pub struct SystemToken {
    db: DatabaseConnection,
    outbox: Outbox,
    keys: KeyRing,
    graph: Graph,
    settings: Settings,
}

fn not_configured() -> ApiError {
    ApiError::new(
        ErrorKind::FailedPrecondition,
        "meta_not_configured",
        "the platform has no Meta system-user token; an admin must set one",
    )
}

impl SystemToken {
    /// The token in `db`, sealed with `keys`, checked through `graph`.
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        keys: KeyRing,
        graph: Graph,
        settings: Settings,
    ) -> Self {
        Self {
            db,
            outbox,
            keys,
            graph,
            settings,
        }
    }

    async fn stored(&self) -> Result<Option<platform_secret::Model>, ApiError> {
        platform_secret::Entity::find_by_id(NAME)
            .one(&self.db)
            .await
            .map_err(ApiError::internal)
    }

    /// The token to call Meta with.
    pub async fn current(&self) -> Result<String, ApiError> {
        if let Some(row) = self.stored().await? {
            let plain = self
                .keys
                .decrypt(&row.value, BINDING)
                .map_err(ApiError::internal)?;
            return String::from_utf8(plain).map_err(ApiError::internal);
        }
        self.graph
            .config()
            .system_user_token
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(not_configured)
    }

    /// Where the token stands (no caller check: the watcher uses it too).
    pub async fn status(&self) -> Result<TokenStatus, ApiError> {
        Ok(match self.stored().await? {
            Some(row) => TokenStatus {
                source: "stored",
                rotated_at: Some(row.rotated_at),
                next_rotation_at: Some(row.next_rotation_at),
                due: row.next_rotation_at <= Utc::now(),
            },
            None => TokenStatus {
                source: if self.graph.config().system_user_token.is_some() {
                    "config"
                } else {
                    "none"
                },
                rotated_at: None,
                next_rotation_at: None,
                due: false,
            },
        })
    }

    /// The status, for a platform admin.
    pub async fn status_for(&self, caller: &Identity) -> Result<TokenStatus, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        self.status().await
    }

    /// Stores `token` after Meta confirms it is valid (platform admins).
    pub async fn rotate(&self, caller: &Identity, token: &str) -> Result<TokenStatus, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let token = token.trim();
        if token.len() < 16 || token.chars().any(char::is_whitespace) {
            return Err(ApiError::invalid_field(
                "token",
                "must be a Meta access token",
            ));
        }
        if !self.graph.config().is_configured() {
            return Err(not_configured());
        }
        let values = self.settings.values().await?;
        self.graph
            .token_wabas(values.get("meta.graph_version"), token)
            .await?;
        let now = Utc::now();
        let next = now + chrono::Duration::days(values.int("meta.system_user_token_rotation_days"));
        let row = platform_secret::ActiveModel {
            name: Set(NAME.into()),
            value: Set(self.keys.encrypt(token.as_bytes(), BINDING)),
            rotated_at: Set(now),
            next_rotation_at: Set(next),
        };
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        platform_secret::Entity::insert(row)
            .on_conflict(
                OnConflict::column(platform_secret::Column::Name)
                    .update_columns([
                        platform_secret::Column::Value,
                        platform_secret::Column::RotatedAt,
                        platform_secret::Column::NextRotationAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(ApiError::internal)?;
        AuditRecord::now(
            &caller.tenant_id.to_string(),
            &actor(caller),
            "meta.system_user_token_rotated",
            &format!("next rotation due {}", next.format("%Y-%m-%d")),
        )
        .commit_with(&self.outbox, txn)
        .await?;
        self.status().await
    }

    /// Checks the schedule every `every`: logs and exports a due rotation.
    pub fn spawn_watcher(self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match self.status().await {
                    Ok(status) => {
                        metrics::gauge!("aerostic_meta_system_token_rotation_due")
                            .set(if status.due { 1.0 } else { 0.0 });
                        if status.due {
                            tracing::warn!("the Meta system-user token is due for rotation");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e.message, "could not check the system-user token")
                    }
                }
            }
        })
    }
}
