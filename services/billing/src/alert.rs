//! Low-balance alerts. A tenant sets a threshold; the first batch that
//! leaves its available balance below it stages one `billing.low_balance`
//! event in the same statement that records the batch, and the alert
//! re-arms once the balance is back at or above the threshold. So a wallet
//! draining message by message alerts once per crossing, not per message.

use std::time::Duration;

use aerostic_kit::broker::Envelope;
use aerostic_kit::ids::TenantId;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use crate::money::Currency;

/// The topic low-balance events are published on.
pub const TOPIC: &str = "billing.low_balance";
/// How long a wallet writer trusts the threshold it read (another replica,
/// or the settings API, may have changed it).
pub const REFRESH: Duration = Duration::from_secs(10);
/// The outbox table billing stages its events in.
pub const OUTBOX_TABLE: &str = "billing_outbox";

/// A wallet's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// Alert below this available balance, in minor units (positive).
    pub threshold: i64,
    /// Whether this crossing was already announced.
    pub notified: bool,
}

/// What an alert does once a batch left the balance at some figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Announce: the balance fell below the threshold.
    Fire,
    /// Arm again: the balance is back at or above it.
    Rearm,
}

impl Alert {
    /// The change the balance `available` calls for, if any.
    pub fn after(&self, available: i64) -> Option<Change> {
        match (self.notified, available < self.threshold) {
            (false, true) => Some(Change::Fire),
            (true, false) => Some(Change::Rearm),
            _ => None,
        }
    }
}

/// The event of a balance below its threshold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LowBalance {
    /// The tenant.
    pub tenant_id: String,
    /// The available balance after the batch, in minor units.
    pub available_minor: i64,
    /// The threshold crossed.
    pub threshold_minor: i64,
    /// ISO 4217.
    pub currency: String,
}

/// The envelope announcing `tenant`'s balance below `alert`'s threshold.
pub fn event(tenant: TenantId, available: i64, alert: Alert, currency: Currency) -> Envelope {
    Envelope::json(
        TOPIC,
        &LowBalance {
            tenant_id: tenant.to_string(),
            available_minor: available,
            threshold_minor: alert.threshold,
            currency: currency.to_string(),
        },
    )
}

/// `tenant`'s alert, if it set one.
pub async fn load(db: &DatabaseConnection, tenant: TenantId) -> Result<Option<Alert>, DbErr> {
    let select = Query::select()
        .columns(["low_balance_minor", "low_balance_notified"].map(Alias::new))
        .from(Alias::new("wallet_settings"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.to_string()))
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(None);
    };
    let threshold: i64 = row.try_get("", "low_balance_minor")?;
    Ok((threshold > 0).then_some(Alert {
        threshold,
        notified: row.try_get("", "low_balance_notified")?,
    }))
}

/// Sets `tenant`'s threshold (0: no alert), armed.
pub async fn set(db: &DatabaseConnection, tenant: TenantId, threshold: i64) -> Result<(), DbErr> {
    let upsert = Query::insert()
        .into_table(Alias::new("wallet_settings"))
        .columns(
            [
                "tenant_id",
                "low_balance_minor",
                "low_balance_notified",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            tenant.to_string().into(),
            threshold.into(),
            false.into(),
            chrono::Utc::now().into(),
        ])
        .on_conflict(
            OnConflict::column(Alias::new("tenant_id"))
                .update_columns(
                    ["low_balance_minor", "low_balance_notified", "updated_at"].map(Alias::new),
                )
                .to_owned(),
        )
        .to_owned();
    db.execute(&upsert).await.map(|_| ())
}

/// Records whether the current crossing was announced, inside the batch's
/// transaction.
pub async fn mark(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    notified: bool,
) -> Result<(), DbErr> {
    let update = Query::update()
        .table(Alias::new("wallet_settings"))
        .value(Alias::new("low_balance_notified"), notified)
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.to_string()))
        .to_owned();
    db.execute(&update).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_fires_once_per_crossing_and_rearms_above_the_threshold() {
        let armed = Alert {
            threshold: 50,
            notified: false,
        };
        let fired = Alert {
            notified: true,
            ..armed
        };
        assert_eq!(armed.after(60), None);
        assert_eq!(armed.after(50), None, "at the threshold is not below it");
        assert_eq!(armed.after(49), Some(Change::Fire));
        assert_eq!(fired.after(10), None, "announced once");
        assert_eq!(fired.after(50), Some(Change::Rearm));
    }

    #[test]
    fn the_event_and_the_status_billing_reads_match_their_contracts() {
        let names = |v: serde_json::Value| {
            let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        let declared = |m: &str| {
            let mut f = aerostic_proto::field_names(m);
            f.sort();
            f
        };
        let low = LowBalance {
            tenant_id: String::new(),
            available_minor: 0,
            threshold_minor: 0,
            currency: String::new(),
        };
        assert_eq!(
            names(serde_json::to_value(low).unwrap()),
            declared("LowBalanceEvent")
        );
        let status = crate::status::MessageStatus {
            tenant_id: aerostic_kit::ids::TenantId::new(),
            message_id: aerostic_kit::ids::MessageId::new(),
            wamid: String::new(),
            status: String::new(),
            pricing: None,
            error_code: None,
        };
        assert_eq!(
            names(serde_json::to_value(status).unwrap()),
            declared("MessageStatusEvent")
        );
    }
}
