//! Passwords after sign-up: a user changes their own (knowing the current
//! one), or resets a forgotten one with a single-use token that lives an
//! hour. Either way every session of the user ends, so a stolen session does
//! not survive the change that was meant to lock its thief out.
//!
//! The reset token reaches the user by mail: tenancy stages a
//! `notify.password_reset` event with the token encrypted (bound to the
//! tenant and the `password_resets.token` column), so neither the broker nor
//! its logs ever hold it in clear. Asking for a reset answers the same for
//! unknown emails, so it reveals no account.

use std::time::Duration;

use aerostic_kit::broker::Envelope;
use aerostic_kit::crypto::{Binding, KeyRing};
use aerostic_kit::identity::Identity;
use aerostic_kit::mask::mask_email;
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;
use crate::entity::{password_reset, refresh_token, user};
use crate::sessions::{revoke_tokens, token_hash};
use crate::validate::{Password, Problems};

/// How long a reset token works.
pub const RESET_TTL: Duration = Duration::from_secs(3600);
/// The topic the mailer listens on.
pub const RESET_TOPIC: &str = "notify.password_reset";
/// The associated-data column of the encrypted token in [`ResetNotice`].
pub const RESET_TOKEN_COLUMN: &str = "password_resets.token";

/// What the mailer receives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResetNotice {
    /// The user's tenant (binds the encrypted token).
    pub tenant_id: String,
    /// The user.
    pub user_id: String,
    /// Where to send it.
    pub email: String,
    /// The token, encrypted with the platform's key ring.
    pub encrypted_token: String,
    /// When it stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Password changes and resets.
#[derive(Clone)]
pub struct Credentials {
    db: DatabaseConnection,
    outbox: Outbox,
    keys: KeyRing,
}

fn reset_gone() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        "reset_token_not_found",
        "this reset link does not exist, was used, or has expired",
    )
}

impl Credentials {
    /// Users in `db`; events through `outbox`; tokens sealed with `keys`.
    pub fn new(db: DatabaseConnection, outbox: Outbox, keys: KeyRing) -> Self {
        Self { db, outbox, keys }
    }

    /// The caller sets a new password, proving the current one.
    pub async fn change(
        &self,
        caller: &Identity,
        current: &str,
        new: &str,
    ) -> Result<(), ApiError> {
        let Some(user_id) = caller.user_id.filter(|_| caller.api_key_id.is_none()) else {
            return Err(ApiError::new(
                ErrorKind::PermissionDenied,
                "forbidden",
                "only a signed-in user can change their password",
            ));
        };
        let mut problems = Problems::default();
        if current.is_empty() {
            problems.check::<()>("current_password", Err("is required"));
        }
        let new = problems.check("new_password", Password::parse(new));
        problems.finish()?;
        let found = user::Entity::find_by_id(user_id.to_string())
            .filter(user::Column::TenantId.eq(caller.tenant_id.to_string()))
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .filter(|u| u.active)
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "user_not_found", "no such user"))?;
        if !crate::password::verify(current.to_string(), found.password_hash.clone()).await {
            return Err(ApiError::invalid_field(
                "current_password",
                "is not your current password",
            ));
        }
        self.set_password(found, new.expect("checked"), "password.changed", None)
            .await
    }

    /// Starts a reset for `email`; `Ok` whether or not it has an account.
    pub async fn request_reset(&self, email: &str) -> Result<(), ApiError> {
        let normalized = email.trim().to_lowercase();
        if normalized.is_empty() {
            return Err(ApiError::invalid_field("email", "is required"));
        }
        let Some(found) = user::Entity::find()
            .filter(user::Column::Email.eq(&normalized))
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .filter(|u| u.active)
        else {
            return Ok(());
        };
        let token = format!("pr_{}", KeyRing::random_secret());
        let now = chrono::Utc::now();
        let expires_at = now + RESET_TTL;
        let notice = ResetNotice {
            tenant_id: found.tenant_id.clone(),
            user_id: found.id.clone(),
            email: found.email.clone(),
            encrypted_token: self.keys.encrypt(
                token.as_bytes(),
                Binding {
                    tenant: &found.tenant_id,
                    column: RESET_TOKEN_COLUMN,
                },
            ),
            expires_at,
        };
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        password_reset::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(found.tenant_id.clone()),
            user_id: Set(found.id.clone()),
            token_hash: Set(token_hash(&token)),
            expires_at: Set(expires_at),
            used_at: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(ApiError::internal)?;
        self.outbox
            .stage(&txn, &Envelope::json(RESET_TOPIC, &notice))
            .await
            .map_err(ApiError::internal)?;
        AuditRecord::now(
            &found.tenant_id,
            "anonymous",
            "password.reset_requested",
            &format!("reset requested for {}", mask_email(&found.email)),
        )
        .commit_with(&self.outbox, txn)
        .await
    }

    /// Spends a reset token on a new password.
    pub async fn reset(&self, token: &str, new: &str) -> Result<(), ApiError> {
        let mut problems = Problems::default();
        if token.trim().is_empty() {
            problems.check::<()>("reset_token", Err("is required"));
        }
        let new = problems.check("new_password", Password::parse(new));
        problems.finish()?;
        let now = chrono::Utc::now();
        let found = password_reset::Entity::find()
            .filter(password_reset::Column::TokenHash.eq(token_hash(token.trim())))
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .filter(|r| r.used_at.is_none() && r.expires_at > now)
            .ok_or_else(reset_gone)?;
        let user = user::Entity::find_by_id(&found.user_id)
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .filter(|u| u.active)
            .ok_or_else(reset_gone)?;
        self.set_password(
            user,
            new.expect("checked"),
            "password.reset",
            Some(found.id),
        )
        .await
    }

    /// Stores the new hash, spends the reset (if any, exactly once), ends
    /// every session, and audits — all in one transaction.
    async fn set_password(
        &self,
        found: user::Model,
        new: Password,
        action: &str,
        reset_id: Option<String>,
    ) -> Result<(), ApiError> {
        let hash = crate::password::hash(new.expose().to_string())
            .await
            .map_err(ApiError::internal)?;
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        if let Some(id) = reset_id {
            let claimed = password_reset::Entity::update_many()
                .col_expr(
                    password_reset::Column::UsedAt,
                    Expr::value(chrono::Utc::now()),
                )
                .filter(password_reset::Column::Id.eq(id))
                .filter(password_reset::Column::UsedAt.is_null())
                .exec(&txn)
                .await
                .map_err(ApiError::internal)?;
            if claimed.rows_affected == 0 {
                return Err(reset_gone());
            }
        }
        let (tenant_id, user_id) = (found.tenant_id.clone(), found.id.clone());
        let mut row = found.into_active_model();
        row.password_hash = Set(hash);
        row.update(&txn).await.map_err(ApiError::internal)?;
        revoke_tokens(&txn, refresh_token::Column::UserId, &user_id).await?;
        AuditRecord::now(&tenant_id, &user_id, action, "all sessions ended")
            .commit_with(&self.outbox, txn)
            .await
    }
}
