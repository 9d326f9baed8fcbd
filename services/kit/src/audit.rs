//! Audit records: what a service stages (through its outbox, in the
//! transaction of the action) for tenancy's consumer to append to the chained
//! audit log. Any service may write one; the detail is masked on both sides.

use serde::{Deserialize, Serialize};

use crate::broker::Envelope;
use crate::mask::mask;

/// The topic audit events are published on.
pub const TOPIC: &str = "audit.event";

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
        outbox: &crate::outbox::Outbox,
        txn: sea_orm::DatabaseTransaction,
    ) -> Result<(), crate::ApiError> {
        let internal = crate::ApiError::internal;
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
pub fn actor(caller: &crate::identity::Identity) -> String {
    match (&caller.user_id, &caller.api_key_id) {
        (Some(user), _) => user.to_string(),
        (None, Some(key)) => format!("api_key:{key}"),
        (None, None) => "system".into(),
    }
}
