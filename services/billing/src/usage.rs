//! Usage counters: AI credits per month and messages per day, counted once
//! per usage event (its id is the idempotency key), against the plan's limits.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, InsertStatement, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entity::usage_counter;

/// A metric billing counts, with its period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// Its name, e.g. `ai_credits` or `messages.outbound.marketing`.
    pub name: String,
    /// Counted per calendar month (else per UTC day).
    pub monthly: bool,
}

impl Metric {
    /// `ai_credits`, `messages.inbound`, or `messages.outbound.<category>`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim().to_ascii_lowercase();
        let known = name == "ai_credits"
            || name == "messages.inbound"
            || name
                .strip_prefix(OUTBOUND_PREFIX)
                .is_some_and(|c| crate::prices::CATEGORIES.contains(&c));
        if !known {
            return Err("must be ai_credits, messages.inbound or messages.outbound.<category>");
        }
        Ok(Self {
            monthly: name == "ai_credits",
            name,
        })
    }

    /// Outbound messages of `category` (counted per day).
    pub fn outbound(category: &str) -> Self {
        Self {
            name: format!("{OUTBOUND_PREFIX}{category}"),
            monthly: false,
        }
    }

    /// The period `at` falls in, and when it started.
    pub fn period(&self, at: DateTime<Utc>) -> (String, DateTime<Utc>) {
        if self.monthly {
            let start = Utc
                .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
                .single()
                .expect("the first of a month exists");
            (at.format("%Y-%m").to_string(), start)
        } else {
            (day_key(at), day_start(at))
        }
    }

    /// When the period `at` falls in ends (the next one starts).
    pub fn period_end(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let (_, start) = self.period(at);
        if self.monthly {
            start
                .checked_add_months(chrono::Months::new(1))
                .expect("next month exists")
        } else {
            start + chrono::Duration::days(1)
        }
    }
}

/// The name prefix of the per-category outbound metrics.
pub const OUTBOUND_PREFIX: &str = "messages.outbound.";

/// A daily period's key.
pub fn day_key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

fn day_start(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), at.day(), 0, 0, 0)
        .single()
        .expect("midnight exists")
}

/// Outbound messages `tenant` sent today, every category together.
pub async fn outbound_today(db: &impl ConnectionTrait, tenant: &str) -> Result<i64, DbErr> {
    let counters = usage_counter::Entity::find()
        .filter(usage_counter::Column::TenantId.eq(tenant))
        .filter(usage_counter::Column::Period.eq(day_key(Utc::now())))
        .filter(usage_counter::Column::Metric.starts_with(OUTBOUND_PREFIX))
        .all(db)
        .await?;
    Ok(counters.iter().map(|c| c.quantity).sum())
}

/// Adds `counts` (metric, quantity) to `tenant`'s counters of `period`
/// inside the caller's transaction (the wallet writer counts reserved
/// messages in the batch that reserves them).
pub async fn add(
    db: &impl ConnectionTrait,
    tenant: &str,
    period: &str,
    counts: &[(String, i64)],
) -> Result<(), DbErr> {
    for (metric, quantity) in counts {
        db.execute(&upsert(tenant, metric, period, *quantity))
            .await?;
    }
    Ok(())
}

fn upsert(tenant: &str, metric: &str, period: &str, quantity: i64) -> InsertStatement {
    Query::insert()
        .into_table(Alias::new("usage_counters"))
        .columns(["tenant_id", "metric", "period", "quantity"].map(Alias::new))
        .values_panic([tenant.into(), metric.into(), period.into(), quantity.into()])
        .on_conflict(
            OnConflict::columns(["tenant_id", "metric", "period"].map(Alias::new))
                .value(
                    Alias::new("quantity"),
                    Expr::col((Alias::new("usage_counters"), Alias::new("quantity")))
                        .add(Expr::col((Alias::new("excluded"), Alias::new("quantity")))),
                )
                .to_owned(),
        )
        .to_owned()
}

/// Counts `quantity` of `metric` for `tenant` once per `event_id`; the
/// period's total after it (a repeated event adds nothing).
pub async fn record(
    db: &DatabaseConnection,
    tenant: &str,
    metric: &Metric,
    quantity: i64,
    event_id: &str,
) -> Result<i64, DbErr> {
    let (period, _) = metric.period(Utc::now());
    let txn = aerostic_kit::db::begin_write(db).await?;
    let first = Query::insert()
        .into_table(Alias::new("usage_events"))
        .columns(["tenant_id", "event_id", "metric", "quantity", "created_at"].map(Alias::new))
        .values_panic([
            tenant.into(),
            event_id.into(),
            metric.name.clone().into(),
            quantity.into(),
            Utc::now().into(),
        ])
        .on_conflict(
            OnConflict::columns([Alias::new("tenant_id"), Alias::new("event_id")])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    let inserted = txn.execute(&first).await?.rows_affected() == 1;
    if inserted {
        txn.execute(&upsert(tenant, &metric.name, &period, quantity))
            .await?;
    }
    txn.commit().await?;
    used(db, tenant, metric).await
}

/// How much of `metric` `tenant` used this period.
pub async fn used(db: &DatabaseConnection, tenant: &str, metric: &Metric) -> Result<i64, DbErr> {
    let (period, _) = metric.period(Utc::now());
    Ok(
        usage_counter::Entity::find_by_id((tenant.to_string(), metric.name.clone(), period))
            .one(db)
            .await?
            .map_or(0, |c| c.quantity),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_and_their_periods() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 13, 5, 0).unwrap();
        let ai = Metric::parse("ai_credits").unwrap();
        assert_eq!(ai.period(at).0, "2026-12");
        let out = Metric::parse("messages.outbound.marketing").unwrap();
        assert_eq!(out.period(at).0, "2026-12-02");
        assert_eq!(
            out.period(at).1,
            Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap()
        );
        assert_eq!(
            out.period_end(at),
            Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap()
        );
        assert_eq!(
            ai.period_end(at),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        for bad in ["", "credits", "messages.outbound.promo", "messages"] {
            assert!(Metric::parse(bad).is_err(), "{bad}");
        }
    }
}
