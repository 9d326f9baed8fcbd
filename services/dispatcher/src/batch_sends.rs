//! Sends in batches (`SendMessages`, `POST /v1/messages/batch`): up to
//! [`MAX_BATCH`] messages in one call, each checked, priced and queued
//! exactly as a lone send, and each answered on its own. The messages of a
//! batch run at once, so the per-send lookups, billing's reservations, the
//! group commit and the hand-offs see them together: one call carries what
//! a hundred requests would.

use aerostic_kit::ApiError;
use aerostic_kit::identity::Identity;

use crate::submit::{SendOutcome, SendRequest, Submit};

/// The most messages one batch may carry.
pub const MAX_BATCH: usize = 100;

/// A batch's key: short enough that every message's key (the batch's, a
/// space, its position) fits where keys are kept.
const MAX_BATCH_KEY: usize = 250;

/// One message of a batch, with its own key (empty: the batch's decides).
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// The send.
    pub request: SendRequest,
    /// Its own `Idempotency-Key`, if the caller gave one.
    pub key: String,
}

/// The key of the message at `index` of a batch keyed `batch`. A client's
/// own keys hold no space, so no key of a lone send can be one of these.
pub fn item_key(batch: &str, index: usize) -> String {
    format!("{batch} {index}")
}

impl Submit {
    /// Sends every item of `items` for `caller`, at once: one outcome per
    /// item, in order (an item already refused keeps its error). The whole
    /// batch is refused only when it is empty, too long, keyed badly, or the
    /// caller may not send at all.
    pub async fn send_many(
        &self,
        caller: &Identity,
        items: Vec<Result<BatchItem, ApiError>>,
        batch_key: &str,
    ) -> Result<Vec<SendOutcome>, ApiError> {
        crate::reads::may_read(caller, "messages:send")?;
        if items.is_empty() || items.len() > MAX_BATCH {
            return Err(ApiError::invalid_field(
                "messages",
                format!("1 to {MAX_BATCH} messages"),
            ));
        }
        if !batch_key.is_empty() {
            crate::idempotency::parse_key(batch_key)
                .ok()
                .filter(|k| k.len() <= MAX_BATCH_KEY)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "idempotency_key",
                        format!("1 to {MAX_BATCH_KEY} visible ASCII characters"),
                    )
                })?;
        }
        let sends = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| async move {
                let item = item?;
                if !item.key.is_empty() {
                    return self.send(caller, &item.request, &item.key).await;
                }
                let key = if batch_key.is_empty() {
                    String::new()
                } else {
                    item_key(batch_key, index)
                };
                self.send_keyed(caller, &item.request, &key).await
            });
        Ok(futures::future::join_all(sends).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_items_key_is_never_a_key_a_client_could_send_alone() {
        let key = item_key(&"k".repeat(MAX_BATCH_KEY), MAX_BATCH - 1);
        assert!(key.len() <= 255, "fits the keys' column");
        assert!(crate::idempotency::parse_key(&key).is_err());
        assert_ne!(item_key("a", 1), item_key("a", 11));
    }
}
