//! A review of a template we have no copy of means it was made outside
//! Aerostic (in Meta's own tools, or before the number was connected here):
//! its WABA is synced at once, so the workspace sees it, and can send it,
//! without waiting for the periodic sync (which only knows WABAs we hold
//! templates of). Fed by our own `template.status` events, raised for every
//! review Meta posts.

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::error::ErrorKind;
use aerostic_kit::ids::TenantId;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use crate::entity::template;
use crate::events::{self, TemplateStatus};
use crate::templates::Templates;

/// The queue of reviews to check against our copy.
pub fn queue() -> QueueSpec {
    QueueSpec::new("dispatcher.template_reviews", &[events::TEMPLATE_STATUS])
}

/// Syncs the WABA of a reviewed template we do not know.
pub struct TemplateReviews {
    db: DatabaseConnection,
    templates: Templates,
}

impl TemplateReviews {
    /// Checks `db`, syncs through `templates`.
    pub fn new(db: DatabaseConnection, templates: Templates) -> Self {
        Self { db, templates }
    }
}

#[async_trait::async_trait]
impl Handler for TemplateReviews {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let review: TemplateStatus = envelope.parse().map_err(HandlerError::permanent)?;
        let tenant: TenantId = review
            .tenant_id
            .parse()
            .map_err(|_| HandlerError::permanent("a review without its tenant"))?;
        let known = template::Entity::find()
            .filter(template::Column::TenantId.eq(&review.tenant_id))
            .filter(template::Column::WabaId.eq(&review.waba_id))
            .filter(template::Column::Name.eq(&review.name))
            .filter(template::Column::Language.eq(&review.language))
            .count(&self.db)
            .await
            .map_err(HandlerError::retry)?;
        if known > 0 {
            return Ok(()); // the webhook already moved our copy
        }
        match self.templates.sync_waba(tenant, &review.waba_id).await {
            Ok(_) => Ok(()),
            // Meta or tenancy unreachable: again, with the queue's backoff.
            Err(e) if e.kind == ErrorKind::Unavailable || e.kind == ErrorKind::Internal => {
                Err(HandlerError::retry(e.message))
            }
            // The WABA is no longer connected here, or Meta refused: nothing
            // a retry would change; the periodic sync covers what remains.
            Err(e) => {
                tracing::warn!(waba_id = %review.waba_id, code = %e.code, "template sync after a review refused");
                Ok(())
            }
        }
    }
}
