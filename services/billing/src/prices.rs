//! Price lists: a default list per category and recipient country, and each
//! tenant's overrides (down to one template). Meta's free cases cost
//! nothing: service messages, utility templates inside the customer-service
//! window, and anything inside a free-entry-point window (META_API.md §8).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entity::price;
use crate::money::Currency;

/// The scope of the platform's default list.
pub const DEFAULT_SCOPE: &str = "default";

/// Meta's pricing categories.
pub const CATEGORIES: &[&str] = &[
    "marketing",
    "utility",
    "authentication",
    "authentication-international",
    "service",
];

/// What decides a message's price, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// One of [`CATEGORIES`].
    pub category: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// The template's name (empty for free-form).
    pub template: String,
    /// The customer-service window is open.
    pub window_open: bool,
    /// A free-entry-point window is open.
    pub free_entry_point: bool,
}

/// A category, checked.
pub fn category(raw: &str) -> Result<String, &'static str> {
    let c = raw.trim().to_ascii_lowercase();
    if CATEGORIES.contains(&c.as_str()) {
        Ok(c)
    } else {
        Err("must be marketing, utility, authentication, authentication-international or service")
    }
}

/// A recipient country: two letters, or `*` where `any` is allowed.
pub fn country(raw: &str, any: bool) -> Result<String, &'static str> {
    let c = raw.trim().to_ascii_uppercase();
    if (any && c == "*") || (c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) {
        Ok(c)
    } else if any {
        Err("must be an ISO 3166-1 alpha-2 code or *")
    } else {
        Err("must be an ISO 3166-1 alpha-2 code")
    }
}

/// A template name as Meta allows it (lower case, digits, underscores).
pub fn template(raw: &str) -> Result<String, &'static str> {
    let t = raw.trim();
    if t.len() <= 512
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(t.to_string())
    } else {
        Err("must be a template name: lower-case letters, digits and underscores")
    }
}

/// Why a message is free, if it is.
pub fn free_because(m: &Priced) -> Option<&'static str> {
    if m.free_entry_point {
        Some("free_entry_point")
    } else if m.category == "service" {
        Some("service")
    } else if m.category == "utility" && m.window_open {
        Some("utility_in_window")
    } else {
        None
    }
}

/// The price lists, cached per scope for [`CACHE_TTL`] (and dropped at once
/// on this replica when changed).
#[derive(Clone)]
pub struct Prices {
    db: DatabaseConnection,
    cache: moka::sync::Cache<String, Arc<Vec<price::Model>>>,
}

/// How long another replica may serve a changed price list.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

impl Prices {
    /// Price lists in `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }

    /// Every price of `scope` (`default` or a tenant id).
    pub async fn list(&self, scope: &str) -> Result<Arc<Vec<price::Model>>, sea_orm::DbErr> {
        if let Some(hit) = self.cache.get(scope) {
            return Ok(hit);
        }
        let rows = price::Entity::find()
            .filter(price::Column::Scope.eq(scope))
            .order_by_asc(price::Column::Category)
            .order_by_asc(price::Column::Country)
            .order_by_asc(price::Column::Template)
            .all(&self.db)
            .await?;
        let rows = Arc::new(rows);
        self.cache.insert(scope.to_string(), rows.clone());
        Ok(rows)
    }

    /// The base unit price of `m` for `tenant` in minor units, most specific
    /// first: the tenant's price for the template (country, then any), its
    /// price for the category (country, then any), then the default list's.
    /// `None`: no price is set.
    pub async fn base(
        &self,
        tenant: &str,
        m: &Priced,
    ) -> Result<Option<(i64, Currency)>, sea_orm::DbErr> {
        let own = self.list(tenant).await?;
        let default = self.list(DEFAULT_SCOPE).await?;
        let wanted: [(&[price::Model], &str, &str); 6] = [
            (&own, &m.template, &m.country),
            (&own, &m.template, "*"),
            (&own, "", &m.country),
            (&own, "", "*"),
            (&default, "", &m.country),
            (&default, "", "*"),
        ];
        for (rows, template, country) in wanted {
            if let Some(p) = rows.iter().find(|p| {
                p.category == m.category && p.template == template && p.country == country
            }) {
                let Ok(currency) = Currency::parse(&p.currency) else {
                    continue;
                };
                return Ok(Some((p.unit_minor, currency)));
            }
        }
        Ok(None)
    }

    /// Sets one price of `scope`, replacing the one with the same key.
    pub async fn set(
        &self,
        scope: &str,
        category: &str,
        country: &str,
        template: &str,
        unit_minor: i64,
        currency: Currency,
    ) -> Result<(), sea_orm::DbErr> {
        let row = price::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            scope: Set(scope.into()),
            category: Set(category.into()),
            country: Set(country.into()),
            template: Set(template.into()),
            currency: Set(currency.to_string()),
            unit_minor: Set(unit_minor),
            updated_at: Set(chrono::Utc::now()),
        };
        price::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    price::Column::Scope,
                    price::Column::Category,
                    price::Column::Country,
                    price::Column::Template,
                ])
                .update_columns([
                    price::Column::UnitMinor,
                    price::Column::Currency,
                    price::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec(&self.db)
            .await?;
        self.cache.invalidate(scope);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(category: &str, window_open: bool, fep: bool) -> Priced {
        Priced {
            category: category.into(),
            country: "BR".into(),
            template: String::new(),
            window_open,
            free_entry_point: fep,
        }
    }

    #[test]
    fn meta_free_cases_cost_nothing() {
        assert_eq!(free_because(&msg("service", false, false)), Some("service"));
        assert_eq!(
            free_because(&msg("utility", true, false)),
            Some("utility_in_window")
        );
        assert_eq!(free_because(&msg("utility", false, false)), None);
        assert_eq!(free_because(&msg("marketing", true, false)), None);
        assert_eq!(
            free_because(&msg("marketing", false, true)),
            Some("free_entry_point")
        );
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(category("Marketing").unwrap(), "marketing");
        assert!(category("promo").is_err());
        assert_eq!(country("br", false).unwrap(), "BR");
        assert!(country("*", false).is_err());
        assert_eq!(country("*", true).unwrap(), "*");
        assert!(country("BRA", true).is_err());
        assert!(template("Order Update").is_err());
        assert_eq!(template("order_update_2").unwrap(), "order_update_2");
    }
}
