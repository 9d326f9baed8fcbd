//! What Meta's refusals say about a number, kept on the number so that the
//! workspace sees it: the dispatcher raises `number.restricted` when Meta
//! refuses a send for the number's sake (190: reconnect it, its messages
//! are held; 131048: campaigns paused; 131031: sending stopped), and
//! `number.restored` when a held number's token works again. Connecting the
//! number anew clears it too. Each change is audited once: a redelivered
//! event that changes nothing writes nothing.

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::outbox::Outbox;
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Deserialize;

use crate::audit::AuditRecord;
use crate::entity::whatsapp_account;

/// Raised by the dispatcher when Meta refuses a send for the number's sake.
pub const RESTRICTED: &str = "number.restricted";
/// Raised by the dispatcher when a held number's token works again.
pub const RESTORED: &str = "number.restored";

/// Tenancy's queue of both.
pub fn queue() -> QueueSpec {
    QueueSpec::new("tenancy.number_restrictions", &[RESTRICTED, RESTORED])
}

/// The event, as the dispatcher writes it.
#[derive(Debug, Deserialize)]
struct Verdict {
    tenant_id: String,
    phone_number_id: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
}

/// Keeps restrictions on the numbers.
pub struct Restrictions {
    db: DatabaseConnection,
    outbox: Outbox,
}

impl Restrictions {
    /// Writes to `db`, audits through `outbox`.
    pub fn new(db: DatabaseConnection, outbox: Outbox) -> Self {
        Self { db, outbox }
    }
}

#[async_trait]
impl Handler for Restrictions {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let verdict: Verdict = envelope.parse().map_err(HandlerError::permanent)?;
        let restored = envelope.topic == RESTORED;
        if !restored && verdict.action.is_empty() {
            return Err(HandlerError::permanent("a restriction without its action"));
        }
        let (restriction, reason, at) = if restored {
            (String::new(), String::new(), None)
        } else {
            let reason: String = verdict.reason.chars().take(300).collect();
            (verdict.action.clone(), reason, Some(chrono::Utc::now()))
        };
        let txn = aerostic_kit::db::begin_write(&self.db)
            .await
            .map_err(HandlerError::retry)?;
        let mut change = whatsapp_account::Entity::update_many()
            .col_expr(
                whatsapp_account::Column::Restriction,
                Expr::value(restriction.clone()),
            )
            .col_expr(
                whatsapp_account::Column::RestrictionReason,
                Expr::value(reason.clone()),
            )
            .col_expr(whatsapp_account::Column::RestrictedAt, Expr::value(at))
            .filter(whatsapp_account::Column::TenantId.eq(&verdict.tenant_id))
            .filter(whatsapp_account::Column::PhoneNumberId.eq(&verdict.phone_number_id));
        change = if restored {
            // Only what a working token ends: Meta's spam limit stays shown.
            change.filter(whatsapp_account::Column::Restriction.eq("reconnect"))
        } else {
            change.filter(whatsapp_account::Column::Restriction.ne(restriction.as_str()))
        };
        let changed = change.exec(&txn).await.map_err(HandlerError::retry)?;
        if changed.rows_affected == 0 {
            return Ok(()); // unknown number, or already so
        }
        let number = &verdict.phone_number_id;
        let (action, detail) = if restored {
            (
                "whatsapp.number_restored",
                format!("number {number} works again; its held messages are queued"),
            )
        } else {
            (
                "whatsapp.number_restricted",
                format!(
                    "number {number}: {restriction} after Meta error {}: {reason}",
                    verdict.code
                ),
            )
        };
        AuditRecord::now(&verdict.tenant_id, "system", action, &detail)
            .commit_with(&self.outbox, txn)
            .await
            .map_err(|e| HandlerError::retry(e.message))
    }
}
