//! Sessions: a login starts a family of refresh tokens; each refresh spends
//! one token and issues the next. Presenting a spent token again means it
//! was copied, so the whole family is revoked (RFC 9700's reuse detection)
//! and the thief and the victim both have to log in again.

use std::time::Duration;

use aerostic_kit::jwt::{ACCESS_TOKEN_TTL_SECS, JwtKeys};
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use sha2::{Digest, Sha256};

use crate::audit::AuditRecord;
use crate::entity::{refresh_token, tenant, user};

/// How long a refresh token can be spent.
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The tokens a login or a refresh hands out.
pub struct Tokens {
    /// The short-lived access token (JWT).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u32,
    /// The opaque refresh token, shown once.
    pub refresh_token: String,
}

/// Refresh-token families.
#[derive(Clone)]
pub struct Sessions {
    db: DatabaseConnection,
    keys: JwtKeys,
    outbox: Outbox,
}

/// Revokes every live refresh token whose `column` equals `value` (a family,
/// or all of a user's sessions).
pub(crate) async fn revoke_tokens(
    conn: &impl ConnectionTrait,
    column: refresh_token::Column,
    value: &str,
) -> Result<(), ApiError> {
    refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(column.eq(value))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// SHA-256 of a token, hex: what the database holds instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn rejected(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(ErrorKind::Unauthenticated, code, message)
}

fn db_error(e: sea_orm::DbErr) -> ApiError {
    ApiError::internal(e)
}

impl Sessions {
    /// Families in `db`, access tokens signed with `keys`, audit via `outbox`.
    pub fn new(db: DatabaseConnection, keys: JwtKeys, outbox: Outbox) -> Self {
        Self { db, keys, outbox }
    }

    /// Starts a family for a user who just logged in.
    pub async fn start(&self, user: &user::Model) -> Result<Tokens, ApiError> {
        let family = uuid::Uuid::now_v7().to_string();
        let refresh_token = self.insert_link(&self.db, user, &family).await?;
        self.tokens(user, refresh_token)
    }

    fn tokens(&self, user: &user::Model, refresh_token: String) -> Result<Tokens, ApiError> {
        Ok(Tokens {
            access_token: self.keys.issue(&user.id, &user.tenant_id, &user.role)?,
            expires_in: ACCESS_TOKEN_TTL_SECS,
            refresh_token,
        })
    }

    async fn insert_link(
        &self,
        conn: &impl ConnectionTrait,
        user: &user::Model,
        family: &str,
    ) -> Result<String, ApiError> {
        let token = format!("rt_{}", aerostic_kit::crypto::KeyRing::random_secret());
        let now = chrono::Utc::now();
        refresh_token::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            family_id: Set(family.to_string()),
            tenant_id: Set(user.tenant_id.clone()),
            user_id: Set(user.id.clone()),
            token_hash: Set(token_hash(&token)),
            expires_at: Set(now + REFRESH_TTL),
            used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(now),
        }
        .insert(conn)
        .await
        .map_err(db_error)?;
        Ok(token)
    }

    /// Spends `token` for a new pair. A spent token revokes its family.
    pub async fn refresh(&self, token: &str) -> Result<(Tokens, user::Model), ApiError> {
        let invalid = || rejected("invalid_refresh_token", "the refresh token is not valid");
        let link = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash(token)))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .ok_or_else(invalid)?;
        if link.revoked_at.is_some() {
            return Err(invalid());
        }
        let now = chrono::Utc::now();
        if link.expires_at <= now {
            return Err(rejected(
                "refresh_token_expired",
                "the refresh token has expired; log in again",
            ));
        }
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        // Only one caller can spend a link: the update is conditional.
        let spent = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(&link.id))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if spent.rows_affected == 0 {
            drop(txn);
            self.revoke_family(
                &link,
                "session.reuse_detected",
                "a spent refresh token was presented again",
            )
            .await?;
            return Err(rejected(
                "refresh_token_reused",
                "this refresh token was already used; every session of this login is revoked",
            ));
        }
        let user = user::Entity::find_by_id(&link.user_id)
            .one(&txn)
            .await
            .map_err(db_error)?
            .ok_or_else(invalid)?;
        let tenant_active = tenant::Entity::find_by_id(&link.tenant_id)
            .one(&txn)
            .await
            .map_err(db_error)?
            .is_some_and(|t| t.status == "active");
        if !user.active || !tenant_active {
            drop(txn);
            self.revoke_family(
                &link,
                "session.revoked",
                "the user or tenant is no longer active",
            )
            .await?;
            return Err(invalid());
        }
        let next = self.insert_link(&txn, &user, &link.family_id).await?;
        txn.commit().await.map_err(db_error)?;
        Ok((self.tokens(&user, next)?, user))
    }

    /// Ends the session `token` belongs to (its whole family). Unknown or
    /// already revoked tokens succeed too: logging out twice is not an error.
    pub async fn logout(&self, token: &str) -> Result<(), ApiError> {
        let link = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash(token)))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        match link {
            Some(link) if link.revoked_at.is_none() => {
                self.revoke_family(&link, "session.logged_out", "logout")
                    .await
            }
            _ => Ok(()),
        }
    }

    async fn revoke_family(
        &self,
        link: &refresh_token::Model,
        action: &str,
        detail: &str,
    ) -> Result<(), ApiError> {
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        revoke_tokens(&txn, refresh_token::Column::FamilyId, &link.family_id).await?;
        let audit = AuditRecord::now(&link.tenant_id, &link.user_id, action, detail);
        audit.commit_with(&self.outbox, txn).await?;
        Ok(())
    }
}
