//! Resellers sell Aerostic under their own brand: a name, logo and colours,
//! custom domains that serve that brand, and a markup billing adds to their
//! tenants' prices. A tenant that signs up on a reseller's domain is theirs.

use aerostic_kit::host::normalize_host;
use aerostic_kit::identity::{Identity, Permission};
use aerostic_kit::outbox::Outbox;
use aerostic_kit::{ApiError, ErrorKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, SqlErr,
};

use crate::audit::{AuditRecord, actor};
use crate::entity::{reseller, reseller_domain};
use crate::settings::{Settings, color, https_url};
use crate::validate::{Problems, name};

/// What a browser needs to dress the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// The reseller, or `None` for the platform's own brand.
    pub reseller_id: Option<String>,
    /// Product name.
    pub name: String,
    /// Logo URL.
    pub logo_url: String,
    /// `#rrggbb`.
    pub primary_color: String,
    /// `#rrggbb`.
    pub accent_color: String,
}

/// A new reseller, as received.
pub struct NewReseller {
    /// Brand name.
    pub name: String,
    /// https logo URL.
    pub logo_url: String,
    /// `#rrggbb`.
    pub primary_color: String,
    /// `#rrggbb`.
    pub accent_color: String,
    /// Basis points over platform prices, 0..=10000.
    pub markup_bps: u32,
}

/// Largest markup: the reseller's price at most doubles the platform's.
pub const MAX_MARKUP_BPS: u32 = 10_000;

/// A fully qualified domain a reseller can point at the platform.
pub fn domain(raw: &str) -> Result<String, &'static str> {
    let host = normalize_host(raw);
    let labels: Vec<&str> = host.split('.').collect();
    let ok = host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(host)
        .ok_or("must be a domain name like chat.example.com")
}

fn reseller_not_found() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        "reseller_not_found",
        "no such reseller",
    )
}

/// Resellers, their domains and branding.
#[derive(Clone)]
pub struct Resellers {
    db: DatabaseConnection,
    outbox: Outbox,
    settings: Settings,
}

/// The reseller whose domain `host` is, if any.
pub async fn reseller_for_host(
    conn: &impl ConnectionTrait,
    host: &str,
) -> Result<Option<reseller::Model>, ApiError> {
    let host = normalize_host(host);
    if host.is_empty() {
        return Ok(None);
    }
    let Some(mapping) = reseller_domain::Entity::find_by_id(host)
        .one(conn)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    reseller::Entity::find_by_id(mapping.reseller_id)
        .one(conn)
        .await
        .map_err(ApiError::internal)
}

impl Resellers {
    /// Resellers in `db`; the platform's own brand from `settings`.
    pub fn new(db: DatabaseConnection, outbox: Outbox, settings: Settings) -> Self {
        Self {
            db,
            outbox,
            settings,
        }
    }

    /// The branding for a request on `host`: its reseller's, else the platform's.
    pub async fn branding(&self, host: &str) -> Result<Branding, ApiError> {
        if let Some(r) = reseller_for_host(&self.db, host).await? {
            return Ok(Branding {
                reseller_id: Some(r.id),
                name: r.name,
                logo_url: r.logo_url,
                primary_color: r.primary_color,
                accent_color: r.accent_color,
            });
        }
        let values = self.settings.values().await?;
        Ok(Branding {
            reseller_id: None,
            name: values.get("branding.name").into(),
            logo_url: values.get("branding.logo_url").into(),
            primary_color: values.get("branding.primary_color").into(),
            accent_color: values.get("branding.accent_color").into(),
        })
    }

    /// Creates a reseller (platform admins).
    pub async fn create(
        &self,
        caller: &Identity,
        new: NewReseller,
    ) -> Result<reseller::Model, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let mut problems = Problems::default();
        let brand = problems.check("name", name(&new.name, 100));
        let logo = problems.check("logo_url", https_url(new.logo_url.trim()));
        let primary = problems.check("primary_color", color(new.primary_color.trim()));
        let accent = problems.check("accent_color", color(new.accent_color.trim()));
        if new.markup_bps > MAX_MARKUP_BPS {
            problems.check::<()>("markup_bps", Err("must be between 0 and 10000"));
        }
        problems.finish()?;
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let created = reseller::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            name: Set(brand.expect("checked")),
            logo_url: Set(logo.expect("checked")),
            primary_color: Set(primary.expect("checked")),
            accent_color: Set(accent.expect("checked")),
            markup_bps: Set(new.markup_bps as i32),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&txn)
        .await
        .map_err(ApiError::internal)?;
        AuditRecord::now(
            &caller.tenant_id.to_string(),
            &actor(caller),
            "reseller.created",
            &format!("reseller {} ({:?})", created.id, created.name),
        )
        .commit_with(&self.outbox, txn)
        .await?;
        Ok(created)
    }

    /// Every reseller with its domains (platform admins).
    pub async fn list(
        &self,
        caller: &Identity,
    ) -> Result<Vec<(reseller::Model, Vec<String>)>, ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let resellers = reseller::Entity::find()
            .order_by_asc(reseller::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let mut out = Vec::with_capacity(resellers.len());
        for r in resellers {
            let domains = self.domains(&r.id).await?;
            out.push((r, domains));
        }
        Ok(out)
    }

    /// The markup of the reseller owning a tenant (0 without one), in basis points.
    pub async fn markup_of(&self, reseller_id: Option<&str>) -> Result<u32, ApiError> {
        let Some(id) = reseller_id else {
            return Ok(0);
        };
        let found = reseller::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?;
        Ok(found.map_or(0, |r| u32::try_from(r.markup_bps).unwrap_or(0)))
    }

    async fn domains(&self, reseller_id: &str) -> Result<Vec<String>, ApiError> {
        Ok(reseller_domain::Entity::find()
            .filter(reseller_domain::Column::ResellerId.eq(reseller_id))
            .order_by_asc(reseller_domain::Column::Domain)
            .all(&self.db)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|d| d.domain)
            .collect())
    }

    /// Points `domain` at a reseller (platform admins); a domain serves one reseller.
    pub async fn add_domain(
        &self,
        caller: &Identity,
        reseller_id: &str,
        raw_domain: &str,
    ) -> Result<(reseller::Model, Vec<String>), ApiError> {
        caller.require(Permission::PlatformAdmin)?;
        let domain = domain(raw_domain).map_err(|p| ApiError::invalid_field("domain", p))?;
        let found = reseller::Entity::find_by_id(reseller_id)
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(reseller_not_found)?;
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        reseller_domain::ActiveModel {
            domain: Set(domain.clone()),
            reseller_id: Set(found.id.clone()),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::new(
                ErrorKind::AlreadyExists,
                "domain_taken",
                "this domain already serves a reseller",
            ),
            _ => ApiError::internal(e),
        })?;
        AuditRecord::now(
            &caller.tenant_id.to_string(),
            &actor(caller),
            "reseller.domain_added",
            &format!("{domain} -> reseller {}", found.id),
        )
        .commit_with(&self.outbox, txn)
        .await?;
        let domains = self.domains(&found.id).await?;
        Ok((found, domains))
    }
}
