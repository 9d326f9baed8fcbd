//! A tenant's team: invitations (single-use tokens, 7 days), accepting them,
//! listing users, changing roles and deactivating. Only workspace admins
//! manage the team, never their own role or account (so a workspace cannot
//! lose its last admin by accident), and another tenant's ids are 404.

use std::time::Duration;

use aerostic_kit::identity::{Identity, Permission, Role};
use aerostic_kit::mask::mask_email;
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::audit::{AuditRecord, actor};
use crate::entity::{invitation, refresh_token, user};
use crate::sessions::token_hash;
use crate::validate::{Email, Password, Problems, name};

/// How long an invitation can be accepted.
pub const INVITATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A fresh invitation, with its token shown once.
pub struct Invited {
    /// The invitation's id.
    pub id: String,
    /// The token the invitee presents.
    pub token: String,
    /// When it stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Team management.
#[derive(Clone)]
pub struct Team {
    db: DatabaseConnection,
    outbox: Outbox,
}

fn db_error(e: sea_orm::DbErr) -> ApiError {
    ApiError::internal(e)
}

fn user_not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "user_not_found", "no such user")
}

/// Roles an admin may hand out.
fn assignable(raw: &str) -> Result<Role, &'static str> {
    match Role::parse(raw) {
        Some(r @ (Role::WorkspaceAdmin | Role::Agent)) => Ok(r),
        _ => Err("must be workspace_admin or agent"),
    }
}

impl Team {
    /// Users and invitations in `db`; audit events through `outbox`.
    pub fn new(db: DatabaseConnection, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// Seats a tenant's plan counts against its agents: active users plus
    /// open invitations.
    pub async fn seats_taken(&self, tenant_id: &str) -> Result<u64, ApiError> {
        let users = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant_id))
            .filter(user::Column::Active.eq(true))
            .count(&self.db)
            .await
            .map_err(db_error)?;
        let open = invitation::Entity::find()
            .filter(invitation::Column::TenantId.eq(tenant_id))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::ExpiresAt.gt(chrono::Utc::now()))
            .count(&self.db)
            .await
            .map_err(db_error)?;
        Ok(users + open)
    }

    /// Active users plus open invitations must stay within the plan's agents.
    async fn check_seats(&self, tenant_id: &str) -> Result<(), ApiError> {
        let tenant = crate::tenants::find_tenant(&self.db, tenant_id).await?;
        let plan = crate::tenants::plan_of(&self.db, &tenant).await?;
        if self.seats_taken(tenant_id).await? >= plan.max_agents as u64 {
            return Err(crate::tenants::limit_reached("max_agents", plan.max_agents));
        }
        Ok(())
    }

    /// Invites `email` into the caller's tenant with `role`.
    pub async fn invite(
        &self,
        caller: &Identity,
        email: &str,
        role: &str,
    ) -> Result<Invited, ApiError> {
        caller.require(Permission::ManageTeam)?;
        let mut problems = Problems::default();
        let email = problems.check("email", Email::parse(email));
        let role = problems.check("role", assignable(role));
        problems.finish()?;
        let (email, role) = (email.expect("checked"), role.expect("checked"));
        let taken = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        if taken.is_some() {
            return Err(crate::auth::email_taken());
        }
        self.check_seats(&caller.tenant_id.to_string()).await?;
        let token = format!("inv_{}", aerostic_kit::crypto::KeyRing::random_secret());
        let now = chrono::Utc::now();
        let invited = Invited {
            id: uuid::Uuid::now_v7().to_string(),
            token,
            expires_at: now + INVITATION_TTL,
        };
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        invitation::ActiveModel {
            id: Set(invited.id.clone()),
            tenant_id: Set(caller.tenant_id.to_string()),
            email: Set(email.as_str().to_string()),
            role: Set(role.as_str().into()),
            token_hash: Set(token_hash(&invited.token)),
            invited_by: Set(actor(caller)),
            expires_at: Set(invited.expires_at),
            accepted_at: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(db_error)?;
        let detail = format!(
            "{} invited as {}",
            mask_email(email.as_str()),
            role.as_str()
        );
        let audit = AuditRecord::now(
            &caller.tenant_id.to_string(),
            &actor(caller),
            "user.invited",
            &detail,
        );
        audit.commit_with(&self.outbox, txn).await?;
        Ok(invited)
    }

    /// The invitee sets a name and password and becomes a user.
    pub async fn accept(
        &self,
        token: &str,
        full_name: &str,
        password: &str,
    ) -> Result<user::Model, ApiError> {
        let mut problems = Problems::default();
        let full_name = problems.check("full_name", name(full_name, 100));
        let password = problems.check("password", Password::parse(password));
        problems.finish()?;
        let gone = || {
            ApiError::new(
                ErrorKind::NotFound,
                "invitation_not_found",
                "this invitation does not exist, was used, or has expired",
            )
        };
        let found = invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(token_hash(token)))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .filter(|i| i.accepted_at.is_none() && i.expires_at > chrono::Utc::now())
            .ok_or_else(gone)?;
        let hash = crate::password::hash(password.expect("checked").expose().to_string())
            .await
            .map_err(ApiError::internal)?;
        let now = chrono::Utc::now();
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        // Single use even under a race: only one accept flips accepted_at.
        let claimed = invitation::Entity::update_many()
            .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
            .filter(invitation::Column::Id.eq(&found.id))
            .filter(invitation::Column::AcceptedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if claimed.rows_affected == 0 {
            return Err(gone());
        }
        let created = user::ActiveModel {
            id: Set(aerostic_kit::ids::UserId::new().to_string()),
            tenant_id: Set(found.tenant_id.clone()),
            email: Set(found.email.clone()),
            full_name: Set(full_name.expect("checked")),
            password_hash: Set(hash),
            role: Set(found.role.clone()),
            active: Set(true),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(crate::auth::user_insert_error)?;
        let detail = format!("{} joined as {}", mask_email(&found.email), found.role);
        let audit = AuditRecord::now(&found.tenant_id, &created.id, "user.joined", &detail);
        audit.commit_with(&self.outbox, txn).await?;
        Ok(created)
    }

    /// The caller's tenant's users, oldest first.
    pub async fn list(&self, caller: &Identity) -> Result<Vec<user::Model>, ApiError> {
        caller.require(Permission::ManageTeam)?;
        user::Entity::find()
            .filter(user::Column::TenantId.eq(caller.tenant_id.to_string()))
            .order_by_asc(user::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(db_error)
    }

    /// A user of the caller's tenant other than the caller.
    async fn other_member(
        &self,
        caller: &Identity,
        user_id: &str,
    ) -> Result<user::Model, ApiError> {
        caller.require(Permission::ManageTeam)?;
        if caller.user_id.is_some_and(|me| me.to_string() == user_id) {
            return Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                "cannot_change_self",
                "ask another workspace admin to change your own role or account",
            ));
        }
        user::Entity::find_by_id(user_id)
            .filter(user::Column::TenantId.eq(caller.tenant_id.to_string()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .ok_or_else(user_not_found)
    }

    /// Gives a user another role (effective from their next access token).
    pub async fn change_role(
        &self,
        caller: &Identity,
        user_id: &str,
        role: &str,
    ) -> Result<user::Model, ApiError> {
        // Permission before validation: who may not act learns nothing more.
        caller.require(Permission::ManageTeam)?;
        let mut problems = Problems::default();
        let role = problems.check("role", assignable(role));
        problems.finish()?;
        let member = self.other_member(caller, user_id).await?;
        let role = role.expect("checked");
        let detail = format!(
            "{} from {} to {}",
            mask_email(&member.email),
            member.role,
            role.as_str()
        );
        let mut active: user::ActiveModel = member.into();
        active.role = Set(role.as_str().into());
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        let updated = active.update(&txn).await.map_err(db_error)?;
        let audit = AuditRecord::now(
            &caller.tenant_id.to_string(),
            &actor(caller),
            "user.role_changed",
            &detail,
        );
        audit.commit_with(&self.outbox, txn).await?;
        Ok(updated)
    }

    /// Deactivates a user: no more logins, and every session ends now.
    pub async fn deactivate(
        &self,
        caller: &Identity,
        user_id: &str,
    ) -> Result<user::Model, ApiError> {
        let member = self.other_member(caller, user_id).await?;
        let detail = format!("{} deactivated", mask_email(&member.email));
        let mut active: user::ActiveModel = member.into();
        active.active = Set(false);
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        let updated = active.update(&txn).await.map_err(db_error)?;
        crate::sessions::revoke_tokens(&txn, refresh_token::Column::UserId, &updated.id).await?;
        let audit = AuditRecord::now(
            &caller.tenant_id.to_string(),
            &actor(caller),
            "user.deactivated",
            &detail,
        );
        audit.commit_with(&self.outbox, txn).await?;
        Ok(updated)
    }
}
