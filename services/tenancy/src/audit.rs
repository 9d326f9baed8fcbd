//! Audit events: staged through the outbox by whatever did the action,
//! carried by the broker, and appended to the chained `audit_events` by
//! tenancy's consumer.

use std::sync::Arc;

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::mask::mask;
use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use crate::chain::{Chain, Entry};

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

/// Who did it, as the log names it: the user, or the API key.
pub fn actor(caller: &aerostic_kit::identity::Identity) -> String {
    match (&caller.user_id, &caller.api_key_id) {
        (Some(user), _) => user.to_string(),
        (None, Some(key)) => format!("api_key:{key}"),
        (None, None) => "system".into(),
    }
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
