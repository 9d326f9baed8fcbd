//! Developer API keys: `ak_live_<8 hex>_<43 base64url>`. The secret is shown
//! once at creation; the database keeps its SHA-256 (a 256-bit random value
//! needs no slow hash) and the visible prefix `ak_live_<8 hex>` for lists.

use aerostic_kit::identity::{Identity, Permission, Role, SCOPES};
use aerostic_kit::mask::mask;
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::audit::AuditRecord;
use crate::entity::{api_key, tenant};
use crate::sessions::token_hash;
use crate::validate::{Problems, name};

/// How stale `last_used_at` may get before a use writes it again.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// API keys of every tenant.
#[derive(Clone)]
pub struct ApiKeys {
    db: DatabaseConnection,
    outbox: Outbox,
}

fn db_error(e: sea_orm::DbErr) -> ApiError {
    ApiError::internal(e)
}

fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "api_key_not_found", "no such API key")
}

/// The scopes of a request: known, deduplicated, at least one.
fn parse_scopes(scopes: &[String]) -> Result<Vec<String>, &'static str> {
    if scopes.is_empty() {
        return Err("at least one scope is required");
    }
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        if !SCOPES.contains(&s.as_str()) {
            return Err("contains an unknown scope");
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

impl ApiKeys {
    /// Keys in `db`; audit events through `outbox`.
    pub fn new(db: DatabaseConnection, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// Creates a key for the caller's tenant; returns it and its secret.
    pub async fn create(
        &self,
        caller: &Identity,
        key_name: &str,
        scopes: &[String],
    ) -> Result<(api_key::Model, String), ApiError> {
        caller.require(Permission::ManageSettings)?;
        let mut problems = Problems::default();
        let key_name = problems.check("name", name(key_name, 100));
        let scopes = problems.check("scopes", parse_scopes(scopes));
        problems.finish()?;
        let random = aerostic_kit::crypto::KeyRing::random_secret();
        let prefix = format!("ak_live_{}", &token_hash(&random)[..8]);
        let secret = format!("{prefix}_{random}");
        let actor = caller.user_id.map(|u| u.to_string()).unwrap_or_default();
        let model = api_key::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(caller.tenant_id.to_string()),
            name: Set(key_name.expect("checked")),
            prefix: Set(prefix.clone()),
            secret_hash: Set(token_hash(&secret)),
            scopes: Set(scopes.expect("checked").join(" ")),
            created_by: Set(actor.clone()),
            created_at: Set(chrono::Utc::now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
        };
        let audit = AuditRecord::now(
            &caller.tenant_id.to_string(),
            &actor,
            "api_key.created",
            &format!("API key {prefix}… created"),
        );
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        let model = model.insert(&txn).await.map_err(db_error)?;
        audit.commit_with(&self.outbox, txn).await?;
        Ok((model, secret))
    }

    /// The caller's tenant's keys, newest first (revoked ones included).
    pub async fn list(&self, caller: &Identity) -> Result<Vec<api_key::Model>, ApiError> {
        caller.require(Permission::ManageSettings)?;
        api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(caller.tenant_id.to_string()))
            .order_by_desc(api_key::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(db_error)
    }

    /// Revokes one of the caller's tenant's keys; another tenant's id is 404.
    pub async fn revoke(
        &self,
        caller: &Identity,
        key_id: &str,
    ) -> Result<api_key::Model, ApiError> {
        caller.require(Permission::ManageSettings)?;
        let found = api_key::Entity::find_by_id(key_id)
            .filter(api_key::Column::TenantId.eq(caller.tenant_id.to_string()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .ok_or_else(not_found)?;
        if found.revoked_at.is_some() {
            return Ok(found);
        }
        let actor = caller.user_id.map(|u| u.to_string()).unwrap_or_default();
        let audit = AuditRecord::now(
            &found.tenant_id,
            &actor,
            "api_key.revoked",
            &format!("API key {}… revoked", found.prefix),
        );
        let mut active: api_key::ActiveModel = found.into();
        active.revoked_at = Set(Some(chrono::Utc::now()));
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        let revoked = active.update(&txn).await.map_err(db_error)?;
        audit.commit_with(&self.outbox, txn).await?;
        Ok(revoked)
    }

    /// The identity behind a presented key secret.
    pub async fn authenticate(&self, secret: &str) -> Result<Identity, ApiError> {
        let invalid = || {
            ApiError::new(
                ErrorKind::Unauthenticated,
                "invalid_api_key",
                "the API key is not valid or was revoked",
            )
        };
        if !secret.starts_with("ak_") {
            return Err(invalid());
        }
        let key = api_key::Entity::find()
            .filter(api_key::Column::SecretHash.eq(token_hash(secret)))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(invalid)?;
        let active = tenant::Entity::find_by_id(&key.tenant_id)
            .one(&self.db)
            .await
            .map_err(db_error)?
            .is_some_and(|t| t.status == "active");
        if !active {
            return Err(aerostic_kit::identity::tenant_suspended());
        }
        let now = chrono::Utc::now();
        if key
            .last_used_at
            .is_none_or(|at| (now - at).num_seconds() >= LAST_USED_RESOLUTION_SECS)
        {
            // Best effort: a failed stamp must not fail the request.
            let stamped = api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
                .filter(api_key::Column::Id.eq(&key.id))
                .exec(&self.db)
                .await;
            if let Err(e) = stamped {
                tracing::warn!(error = %mask(&e.to_string()), "could not stamp an API key's last use");
            }
        }
        Ok(Identity {
            tenant_id: key
                .tenant_id
                .parse()
                .map_err(|_| ApiError::internal("stored tenant id is not a UUID"))?,
            user_id: None,
            role: Role::Agent,
            api_key_id: Some(key.id),
            scopes: key.scopes.split_whitespace().map(str::to_string).collect(),
        })
    }
}
