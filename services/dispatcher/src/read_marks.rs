//! Read receipts: a customer's message marked read at Meta (the blue ticks
//! on their phone; Meta marks the earlier ones of the thread too), with a
//! typing indicator if asked, while an agent or the AI writes the answer.

use aerostic_kit::ApiError;
use aerostic_kit::error::ErrorKind;
use aerostic_kit::identity::Identity;
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::entity::{conversation, message};
use crate::graph::Graph;
use crate::numbers::Numbers;
use crate::reads::Reads;

/// Marks customers' messages read.
#[derive(Clone)]
pub struct ReadMarks {
    db: DatabaseConnection,
    reads: Reads,
    numbers: Numbers,
    graph: Graph,
}

impl ReadMarks {
    /// Through `graph`, with the numbers' credentials from `numbers`.
    pub fn new(db: DatabaseConnection, numbers: Numbers, graph: Graph) -> Self {
        Self {
            reads: Reads::new(db.clone()),
            db,
            numbers,
            graph,
        }
    }

    /// Marks the caller's message `id` read (404 for another workspace's;
    /// 422 `not_a_received_message` for one we sent); the message, and its
    /// media's id if it has some.
    pub async fn mark(
        &self,
        caller: &Identity,
        id: &str,
        typing: bool,
    ) -> Result<(message::Model, Option<String>), ApiError> {
        crate::reads::may_read(caller, "messages:send")?;
        let (found, media) = self.reads.message_of(caller.tenant_id, id).await?;
        let wamid = match (&found.direction[..], &found.wamid) {
            ("inbound", Some(wamid)) => wamid.clone(),
            _ => {
                return Err(ApiError::new(
                    ErrorKind::FailedPrecondition,
                    "not_a_received_message",
                    "only a message a customer sent can be marked read",
                ));
            }
        };
        let thread = conversation::Entity::find_by_id(found.conversation_id.clone())
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal("a message without its conversation"))?;
        let number = self
            .numbers
            .get(&thread.phone_number_id)
            .await
            .map_err(crate::templates::meta_refused)?;
        self.graph
            .mark_read(&number.credentials, &thread.phone_number_id, &wamid, typing)
            .await
            .map_err(crate::templates::meta_refused)?;
        Ok((found, media))
    }
}
