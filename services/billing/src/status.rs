//! Meta's delivery statuses settle billing: the dispatcher publishes each
//! status it records on [`TOPIC`]; billing earns a held price when Meta
//! bills the message, gives it back when Meta reports it free, and refunds
//! a failed one. Every step is idempotent per message, so `pricing` arriving
//! on two statuses, redeliveries and reordering count once (META_API.md §8).

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::ids::{MessageId, TenantId};
use serde::{Deserialize, Serialize};

use crate::service::Billing;
use crate::wallet::Op;

/// The topic message statuses are published on.
pub const TOPIC: &str = "message.status";

/// Billing's queue of statuses.
pub fn queue() -> QueueSpec {
    QueueSpec::new("billing.message_status", &[TOPIC])
}

/// Meta's `pricing` object of a status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pricing {
    /// Deprecated by Meta; `type` decides.
    #[serde(default)]
    pub billable: Option<bool>,
    /// `regular`, `free_customer_service` or `free_entry_point`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The pricing category Meta applied.
    #[serde(default)]
    pub category: Option<String>,
    /// `PMP` (or `CBP` before July 2025).
    #[serde(default)]
    pub pricing_model: Option<String>,
}

/// A status of one outbound message, as the dispatcher publishes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageStatus {
    /// The sending tenant.
    pub tenant_id: TenantId,
    /// Our message id (the reservation's key).
    pub message_id: MessageId,
    /// Meta's id of the message.
    #[serde(default)]
    pub wamid: String,
    /// `sent`, `delivered`, `read`, `played` or `failed`.
    pub status: String,
    /// Present on `sent` and on one of `delivered`/`read`.
    #[serde(default)]
    pub pricing: Option<Pricing>,
    /// Meta's error code, for `failed`.
    #[serde(default)]
    pub error_code: Option<i64>,
}

/// What a status means for the message's price.
pub fn billing_op(s: &MessageStatus) -> Option<Op> {
    if s.status == "failed" {
        let reason = s
            .error_code
            .map_or_else(|| "failed".to_string(), |c| format!("failed ({c})"));
        return Some(Op::Refund {
            message_id: s.message_id,
            reason,
        });
    }
    let pricing = s.pricing.as_ref()?;
    let free = match pricing.kind.as_deref() {
        Some("regular") => false,
        Some(_) => true,
        None => pricing.billable == Some(false),
    };
    Some(if free {
        Op::Release {
            message_id: s.message_id,
            reason: format!(
                "Meta: {}",
                pricing.kind.as_deref().unwrap_or("not billable")
            ),
        }
    } else {
        Op::Settle(s.message_id)
    })
}

/// Applies statuses to wallets.
pub struct StatusConsumer {
    billing: Billing,
}

impl StatusConsumer {
    /// A consumer settling through `billing`.
    pub fn new(billing: Billing) -> Self {
        Self { billing }
    }
}

#[async_trait::async_trait]
impl Handler for StatusConsumer {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let status: MessageStatus = envelope.parse().map_err(HandlerError::permanent)?;
        let Some(op) = billing_op(&status) else {
            return Ok(());
        };
        self.billing
            .finish_for(status.tenant_id, op)
            .await
            .map(|_| ())
            .map_err(HandlerError::retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: &str, kind: Option<&str>) -> MessageStatus {
        MessageStatus {
            tenant_id: TenantId::new(),
            message_id: MessageId::new(),
            wamid: "wamid.X".into(),
            status: status.into(),
            pricing: kind.map(|k| Pricing {
                billable: Some(k == "regular"),
                kind: Some(k.into()),
                category: Some("marketing".into()),
                pricing_model: Some("PMP".into()),
            }),
            error_code: None,
        }
    }

    #[test]
    fn statuses_map_to_settle_release_or_refund() {
        assert!(matches!(
            billing_op(&status("sent", Some("regular"))),
            Some(Op::Settle(_))
        ));
        assert!(matches!(
            billing_op(&status("delivered", Some("regular"))),
            Some(Op::Settle(_))
        ));
        assert!(matches!(
            billing_op(&status("sent", Some("free_customer_service"))),
            Some(Op::Release { .. })
        ));
        assert!(matches!(
            billing_op(&status("read", Some("free_entry_point"))),
            Some(Op::Release { .. })
        ));
        assert!(matches!(
            billing_op(&status("failed", None)),
            Some(Op::Refund { .. })
        ));
        assert_eq!(
            billing_op(&status("delivered", None)),
            None,
            "no pricing: nothing to do"
        );
    }
}
