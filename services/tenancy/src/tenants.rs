//! Tenants as the platform sees them: plans and their limits, listing, plan
//! changes, suspension and reactivation (platform admins only), the caller's
//! own tenant, and the super admins who run it all from the platform tenant.

use aerostic_kit::identity::{Identity, Permission};
use aerostic_kit::ids::{TenantId, UserId};
use aerostic_kit::mask::mask_email;
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, Set,
};

use crate::audit::{AuditRecord, actor};
use crate::entity::{plan, refresh_token, tenant, user};
use crate::validate::{Email, Password, Problems};

/// Name of the tenant super admins belong to.
pub const PLATFORM_TENANT_NAME: &str = "Aerostic platform";
/// Its plan (sends nothing, holds no numbers).
pub const PLATFORM_PLAN: &str = "platform";

/// A tenant's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    /// Working normally.
    Active,
    /// Stopped by the platform: no logins, no API calls, no sends.
    Suspended,
}

impl TenantStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }
}

/// Tenant administration.
#[derive(Clone)]
pub struct Tenants {
    db: DatabaseConnection,
    outbox: Outbox,
}

fn tenant_not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "tenant_not_found", "no such tenant")
}

/// The plan `tenant` is on.
pub async fn plan_of(
    conn: &impl ConnectionTrait,
    tenant: &tenant::Model,
) -> Result<plan::Model, ApiError> {
    plan::Entity::find_by_id(&tenant.plan_code)
        .one(conn)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(format!("tenant on unknown plan {}", tenant.plan_code)))
}

/// The tenant `id`, or 404.
pub async fn find_tenant(conn: &impl ConnectionTrait, id: &str) -> Result<tenant::Model, ApiError> {
    tenant::Entity::find_by_id(id)
        .one(conn)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(tenant_not_found)
}

/// `plan_limit_reached` (422) naming the limit.
pub fn limit_reached(limit: &str, value: i32) -> ApiError {
    ApiError::new(
        ErrorKind::FailedPrecondition,
        "plan_limit_reached",
        "your plan does not allow more; upgrade it first",
    )
    .with_detail(limit, value.to_string())
}

impl Tenants {
    /// Tenants in `db`; audit events through `outbox`.
    pub fn new(db: DatabaseConnection, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// Tenant `id` with its plan: the caller's own (`id` empty or theirs),
    /// or any tenant for platform admins.
    pub async fn get(
        &self,
        caller: &Identity,
        id: &str,
    ) -> Result<(tenant::Model, plan::Model), ApiError> {
        let own = caller.tenant_id.to_string();
        if !id.is_empty() && id != own {
            caller.require(Permission::PlatformAdmin)?;
        }
        let tenant = find_tenant(&self.db, if id.is_empty() { &own } else { id }).await?;
        let plan = plan_of(&self.db, &tenant).await?;
        Ok((tenant, plan))
    }

    /// Every plan, smallest first.
    pub async fn plans(&self) -> Result<Vec<plan::Model>, ApiError> {
        plan::Entity::find()
            .filter(plan::Column::Code.ne(PLATFORM_PLAN))
            .order_by_asc(plan::Column::MessagesPerDay)
            .all(&self.db)
            .await
            .map_err(ApiError::internal)
    }

    /// Every tenant with its plan, newest first (platform admins).
    pub async fn list(
        &self,
        caller: &Identity,
    ) -> Result<Vec<(tenant::Model, Option<plan::Model>)>, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let plans: std::collections::HashMap<String, plan::Model> = plan::Entity::find()
            .all(&self.db)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|p| (p.code.clone(), p))
            .collect();
        let tenants = tenant::Entity::find()
            .order_by_desc(tenant::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(ApiError::internal)?;
        Ok(tenants
            .into_iter()
            .map(|t| {
                let plan = plans.get(&t.plan_code).cloned();
                (t, plan)
            })
            .collect())
    }

    /// Moves `tenant_id` to `plan_code` (platform admins).
    pub async fn change_plan(
        &self,
        caller: &Identity,
        tenant_id: &str,
        plan_code: &str,
    ) -> Result<(tenant::Model, plan::Model), ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let plan = plan::Entity::find_by_id(plan_code)
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .filter(|p| p.code != PLATFORM_PLAN)
            .ok_or_else(|| ApiError::invalid_field("plan_code", "is not a plan"))?;
        let found = find_tenant(&self.db, tenant_id).await?;
        let before = found.plan_code.clone();
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let mut row = found.into_active_model();
        row.plan_code = Set(plan.code.clone());
        let tenant = row.update(&txn).await.map_err(ApiError::internal)?;
        AuditRecord::now(
            &tenant.id,
            &actor(caller),
            "tenant.plan_changed",
            &format!("plan {before} -> {}", plan.code),
        )
        .commit_with(&self.outbox, txn)
        .await?;
        Ok((tenant, plan))
    }

    /// Suspends or reactivates `tenant_id` (platform admins). Suspending ends
    /// every session of the tenant at once.
    pub async fn set_status(
        &self,
        caller: &Identity,
        tenant_id: &str,
        status: TenantStatus,
        reason: &str,
    ) -> Result<tenant::Model, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let found = find_tenant(&self.db, tenant_id).await?;
        if found.plan_code == PLATFORM_PLAN {
            return Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                "cannot_suspend_platform",
                "the platform's own tenant cannot be suspended",
            ));
        }
        let reason = reason.trim();
        if reason.chars().count() > 500 {
            return Err(ApiError::invalid_field("reason", "is too long"));
        }
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let mut row = found.into_active_model();
        row.status = Set(status.as_str().into());
        let tenant = row.update(&txn).await.map_err(ApiError::internal)?;
        if status == TenantStatus::Suspended {
            crate::sessions::revoke_tokens(&txn, refresh_token::Column::TenantId, &tenant.id)
                .await?;
        }
        AuditRecord::now(
            &tenant.id,
            &actor(caller),
            &format!("tenant.{}", status.as_str()),
            reason,
        )
        .commit_with(&self.outbox, txn)
        .await?;
        tracing::info!(tenant_id = %tenant.id, status = status.as_str(), "tenant status changed");
        Ok(tenant)
    }

    /// Creates a super admin (from the CLI, never over the API), and the
    /// platform tenant on first use.
    pub async fn create_super_admin(
        &self,
        email: &str,
        password: &str,
    ) -> Result<user::Model, ApiError> {
        let mut problems = Problems::default();
        let email = problems.check("email", Email::parse(email));
        let password = problems.check("password", Password::parse(password));
        problems.finish()?;
        let (email, password) = (email.expect("checked"), password.expect("checked"));
        let hash = crate::password::hash(password.expose().to_string())
            .await
            .map_err(ApiError::internal)?;
        let now = chrono::Utc::now();
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let platform = tenant::Entity::find()
            .filter(tenant::Column::PlanCode.eq(PLATFORM_PLAN))
            .one(&txn)
            .await
            .map_err(ApiError::internal)?;
        let platform = match platform {
            Some(t) => t,
            None => tenant::ActiveModel {
                id: Set(TenantId::new().to_string()),
                name: Set(PLATFORM_TENANT_NAME.into()),
                status: Set(TenantStatus::Active.as_str().into()),
                plan_code: Set(PLATFORM_PLAN.into()),
                created_at: Set(now),
                reseller_id: Set(None),
            }
            .insert(&txn)
            .await
            .map_err(ApiError::internal)?,
        };
        let created = user::ActiveModel {
            id: Set(UserId::new().to_string()),
            tenant_id: Set(platform.id.clone()),
            email: Set(email.as_str().to_string()),
            full_name: Set("Platform admin".into()),
            password_hash: Set(hash),
            role: Set("super_admin".into()),
            active: Set(true),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(crate::auth::user_insert_error)?;
        AuditRecord::now(
            &platform.id,
            "system",
            "super_admin.created",
            &format!("super admin {}", mask_email(email.as_str())),
        )
        .commit_with(&self.outbox, txn)
        .await?;
        Ok(created)
    }
}
