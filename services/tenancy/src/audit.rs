//! Audit events: staged through the outbox by whatever did the action,
//! carried by the broker, and written to `audit_events` by tenancy's consumer.

use std::sync::Arc;

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::mask::mask;
use async_trait::async_trait;
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::entity::audit_event;

/// The topic audit events are published on.
pub const TOPIC: &str = "audit.event";

/// Tenancy's queue of audit events.
pub fn queue() -> QueueSpec {
    QueueSpec::new("tenancy.audit", &[TOPIC])
}

/// What happened, by whom, to which tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The tenant it concerns.
    pub tenant_id: String,
    /// Who did it: a user id, `system`, or `anonymous`.
    pub actor: String,
    /// What, e.g. `login.failed`.
    pub action: String,
    /// Free text; masked before it is stored.
    pub detail: String,
    /// When it happened.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

impl AuditRecord {
    /// A record of `action` happening now.
    pub fn now(tenant_id: &str, actor: &str, action: &str, detail: &str) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            actor: actor.into(),
            action: action.into(),
            detail: mask(detail).into_owned(),
            occurred_at: chrono::Utc::now(),
        }
    }

    /// The envelope that carries it.
    pub fn envelope(&self) -> Envelope {
        Envelope::json(TOPIC, self)
    }
}

impl AuditRecord {
    /// Stages this record in `txn` and commits: the action and its audit
    /// entry land together or not at all. Then wakes the relay.
    pub async fn commit_with(
        self,
        outbox: &aerostic_kit::outbox::Outbox,
        txn: sea_orm::DatabaseTransaction,
    ) -> Result<(), aerostic_kit::ApiError> {
        let internal = aerostic_kit::ApiError::internal;
        outbox
            .stage(&txn, &self.envelope())
            .await
            .map_err(internal)?;
        txn.commit().await.map_err(internal)?;
        outbox.wake();
        Ok(())
    }
}

/// Writes audit events; a redelivered event (same envelope id) inserts nothing.
pub struct AuditWriter {
    db: DatabaseConnection,
}

impl AuditWriter {
    /// A writer into `db`.
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self { db })
    }
}

#[async_trait]
impl Handler for AuditWriter {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let record: AuditRecord = envelope.parse().map_err(HandlerError::permanent)?;
        let row = audit_event::ActiveModel {
            id: Set(envelope.id.clone()),
            tenant_id: Set(record.tenant_id),
            actor: Set(record.actor),
            action: Set(record.action),
            // Masked again: the producer may be another service.
            detail: Set(mask(&record.detail).into_owned()),
            trace_id: Set(envelope.trace_id().unwrap_or_default().to_string()),
            occurred_at: Set(record.occurred_at),
        };
        audit_event::Entity::insert(row)
            .on_conflict_do_nothing_on([audit_event::Column::Id])
            .exec_without_returning(&self.db)
            .await
            .map(|_| ())
            .map_err(HandlerError::retry)
    }
}
