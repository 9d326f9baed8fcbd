//! `Idempotency-Key` for sends: for 24 hours, a request that repeats a key
//! with the same body gets the first answer (a client retrying after a
//! timeout cannot send twice), and the same key with another body is
//! refused. The claim is a primary-key insert, so two concurrent requests
//! with one key cannot both run.

use aerostic_kit::ids::TenantId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TryInsertResult,
};
use sha2::{Digest, Sha256};

use crate::entity::idempotency_key;

/// How long a key is remembered.
pub const KEEP_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What a request with a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First of its key: run it, then [`Idempotency::complete`] or
    /// [`Idempotency::abandon`].
    Fresh,
    /// A repeat: answer this, the first request's answer.
    Replay(String),
    /// The key was used with another body.
    Conflict,
    /// The first request with this key is still running.
    InFlight,
}

/// A key as clients may send it: 1 to 255 visible ASCII characters.
pub fn parse_key(raw: &str) -> Result<&str, &'static str> {
    if !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(raw)
    } else {
        Err("1 to 255 visible ASCII characters")
    }
}

/// The keys of every tenant, in the dispatcher's database.
#[derive(Clone)]
pub struct Idempotency {
    db: DatabaseConnection,
}

impl Idempotency {
    /// Keys kept in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Claims `key` of `tenant` for `request` (its canonical bytes).
    pub async fn claim(&self, tenant: TenantId, key: &str, request: &[u8]) -> Result<Claim, DbErr> {
        let hash = hex::encode(Sha256::digest(request));
        let now = Utc::now();
        for _ in 0..3 {
            if self.insert(tenant, key, &hash, now).await? {
                return Ok(Claim::Fresh);
            }
            let Some(row) =
                idempotency_key::Entity::find_by_id((tenant.to_string(), key.to_string()))
                    .one(&self.db)
                    .await?
            else {
                continue; // expired and swept meanwhile: claim again
            };
            if row.created_at < now - KEEP_FOR {
                // Remembered too long ago: the key is free again (whoever
                // replaces the old row first gets it).
                if self
                    .take_over(tenant, key, &hash, row.created_at, now)
                    .await?
                {
                    return Ok(Claim::Fresh);
                }
                continue;
            }
            return Ok(if row.request_hash != hash {
                Claim::Conflict
            } else if row.response.is_empty() {
                Claim::InFlight
            } else {
                Claim::Replay(row.response)
            });
        }
        Err(DbErr::Custom(
            "the idempotency key kept changing hands".into(),
        ))
    }

    async fn insert(
        &self,
        tenant: TenantId,
        key: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let inserted = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
            tenant_id: Set(tenant.to_string()),
            key: Set(key.to_string()),
            request_hash: Set(hash.to_string()),
            response: Set(String::new()),
            created_at: Set(now),
        })
        .on_conflict_do_nothing_on([
            idempotency_key::Column::TenantId,
            idempotency_key::Column::Key,
        ])
        .exec(&self.db)
        .await?;
        Ok(matches!(inserted, TryInsertResult::Inserted(_)))
    }

    async fn take_over(
        &self,
        tenant: TenantId,
        key: &str,
        hash: &str,
        old: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let updated = idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::RequestHash, Expr::value(hash))
            .col_expr(idempotency_key::Column::Response, Expr::value(""))
            .col_expr(idempotency_key::Column::CreatedAt, Expr::value(now))
            .filter(idempotency_key::Column::TenantId.eq(tenant.to_string()))
            .filter(idempotency_key::Column::Key.eq(key))
            .filter(idempotency_key::Column::CreatedAt.eq(old))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Records the answer of the request that claimed `key`.
    pub async fn complete(&self, tenant: TenantId, key: &str, response: &str) -> Result<(), DbErr> {
        idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::Response, Expr::value(response))
            .filter(idempotency_key::Column::TenantId.eq(tenant.to_string()))
            .filter(idempotency_key::Column::Key.eq(key))
            .exec(&self.db)
            .await
            .map(|_| ())
    }

    /// Frees `key` after its request failed without effect, so that a retry
    /// runs again rather than waiting for an answer that never comes.
    pub async fn abandon(&self, tenant: TenantId, key: &str) -> Result<(), DbErr> {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::TenantId.eq(tenant.to_string()))
            .filter(idempotency_key::Column::Key.eq(key))
            .filter(idempotency_key::Column::Response.eq(""))
            .exec(&self.db)
            .await
            .map(|_| ())
    }

    /// Forgets keys older than [`KEEP_FOR`]; how many.
    pub async fn sweep(&self) -> Result<u64, DbErr> {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lt(Utc::now() - KEEP_FOR))
            .exec(&self.db)
            .await
            .map(|r| r.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_key;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(parse_key("order-981/retry").is_ok());
        for bad in ["", "has space", "ção", &"k".repeat(256)] {
            assert!(parse_key(bad).is_err(), "{bad:?}");
        }
    }
}
