//! Audit events: staged through the outbox by whatever did the action,
//! carried by the broker, and appended to the chained `audit_events` by
//! tenancy's consumer.

use std::sync::Arc;

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::mask::mask;
use async_trait::async_trait;
use sea_orm::DatabaseConnection;

use crate::chain::{Chain, Entry};

pub use aerostic_kit::audit::{AuditRecord, TOPIC, actor};

/// Tenancy's queue of audit events.
pub fn queue() -> QueueSpec {
    QueueSpec::new("tenancy.audit", &[TOPIC])
}

/// Appends audit events to the chain (see [`crate::chain`]); a redelivered
/// event (same envelope id) appends nothing.
pub struct AuditWriter {
    db: DatabaseConnection,
    chain: Chain,
}

impl AuditWriter {
    /// A writer into `db`, linking with `chain`'s key.
    pub fn new(db: DatabaseConnection, chain: Chain) -> Arc<Self> {
        Arc::new(Self { db, chain })
    }
}

#[async_trait]
impl Handler for AuditWriter {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let record: AuditRecord = envelope.parse().map_err(HandlerError::permanent)?;
        let entry = Entry {
            id: envelope.id.clone(),
            tenant_id: record.tenant_id,
            actor: record.actor,
            action: record.action,
            // Masked again: the producer may be another service.
            detail: mask(&record.detail).into_owned(),
            trace_id: envelope.trace_id().unwrap_or_default().to_string(),
            occurred_at: record.occurred_at,
        };
        self.chain
            .append(&self.db, entry)
            .await
            .map_err(HandlerError::retry)
    }
}

/// The latest 200 audit events the caller may read: a workspace admin their
/// tenant's, a platform admin everyone's.
pub async fn list(
    db: &DatabaseConnection,
    caller: &aerostic_kit::identity::Identity,
) -> Result<Vec<crate::entity::audit_event::Model>, aerostic_kit::ApiError> {
    use crate::entity::audit_event;
    use aerostic_kit::identity::Permission;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut query = audit_event::Entity::find();
    if !caller.allows(Permission::PlatformAdmin) {
        caller.require(Permission::ManageSettings)?;
        query = query.filter(audit_event::Column::TenantId.eq(caller.tenant_id.to_string()));
    }
    query
        .order_by_desc(audit_event::Column::Seq)
        .limit(200)
        .all(db)
        .await
        .map_err(aerostic_kit::ApiError::internal)
}
