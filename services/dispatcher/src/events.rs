//! The events the dispatcher publishes (through its outbox, after commit).
//! Their JSON is the contract consumers rely on: billing reads
//! `message.status` with exactly these field names.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A customer's message was stored.
pub const MESSAGE_RECEIVED: &str = "message.received";
/// An outbound message's status moved.
pub const MESSAGE_STATUS: &str = "message.status";
/// A contact asked to stop receiving messages.
pub const CONTACT_OPTED_OUT: &str = "contact.opted_out";
/// Meta reviewed, paused or disabled a template.
pub const TEMPLATE_STATUS: &str = "template.status";
/// Meta restricted a number's sending (token, spam limit, locked account):
/// campaigns pause, the tenant is alerted.
pub const NUMBER_RESTRICTED: &str = "number.restricted";

/// A number whose messages were held (its token refused) works again.
/// Carries [`NumberRestricted`] with the action `restored`.
pub const NUMBER_RESTORED: &str = "number.restored";

/// `number.restricted` (and `number.restored`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NumberRestricted {
    /// The tenant.
    pub tenant_id: String,
    /// The number (Meta's phone_number_id).
    pub phone_number_id: String,
    /// Meta's error code: 190 (token), 131048 (spam rate limit), 131031
    /// (account locked).
    pub code: i64,
    /// `reconnect` (its messages are held until the token works again),
    /// `pause_campaigns` or `stop_sending`.
    pub action: String,
    /// For people.
    pub reason: String,
}

/// `message.received`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageReceived {
    /// The tenant.
    pub tenant_id: String,
    /// Our message id.
    pub message_id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// The sender.
    pub contact_id: String,
    /// The tenant's number it came to.
    pub phone_number_id: String,
    /// Meta's id.
    pub wamid: String,
    /// `text`, `image`, …
    pub kind: String,
    /// The text, for text messages (and captions, button and list titles).
    pub text: Option<String>,
    /// Meta's whole message object.
    pub message: Value,
}

/// `message.status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageStatusChanged {
    /// The sending tenant.
    pub tenant_id: String,
    /// Our message id.
    pub message_id: String,
    /// Meta's id.
    pub wamid: String,
    /// `sent`, `delivered`, `read`, `played` or `failed`.
    pub status: String,
    /// Meta's pricing object, when the status carried one.
    pub pricing: Option<Value>,
    /// Meta's error code, for `failed`.
    pub error_code: Option<i64>,
}

/// `contact.opted_out`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContactOptedOut {
    /// The tenant.
    pub tenant_id: String,
    /// The contact.
    pub contact_id: String,
    /// `keyword` or `user_preferences`.
    pub source: String,
}

/// `template.status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TemplateStatus {
    /// The tenant.
    pub tenant_id: String,
    /// The WABA the template belongs to.
    pub waba_id: String,
    /// Meta's template id.
    pub template_id: String,
    /// The template's name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// APPROVED, REJECTED, PAUSED, DISABLED, …
    pub event: String,
    /// Meta's reason (NONE, INVALID_FORMAT, …).
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON keys of `event`, sorted.
    fn keys(event: impl Serialize) -> Vec<String> {
        let value = serde_json::to_value(event).unwrap();
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn declared(message: &str) -> Vec<String> {
        let mut names = aerostic_proto::field_names(message);
        assert!(!names.is_empty(), "{message} is declared in events.proto");
        names.sort();
        names
    }

    #[test]
    fn every_event_has_exactly_the_fields_its_proto_declares() {
        let s = String::new;
        assert_eq!(
            keys(MessageReceived {
                tenant_id: s(),
                message_id: s(),
                conversation_id: s(),
                contact_id: s(),
                phone_number_id: s(),
                wamid: s(),
                kind: s(),
                text: None,
                message: Value::Null,
            }),
            declared("MessageReceivedEvent")
        );
        assert_eq!(
            keys(MessageStatusChanged {
                tenant_id: s(),
                message_id: s(),
                wamid: s(),
                status: s(),
                pricing: None,
                error_code: None,
            }),
            declared("MessageStatusEvent")
        );
        assert_eq!(
            keys(ContactOptedOut {
                tenant_id: s(),
                contact_id: s(),
                source: s(),
            }),
            declared("ContactOptedOutEvent")
        );
        assert_eq!(
            keys(TemplateStatus {
                tenant_id: s(),
                waba_id: s(),
                template_id: s(),
                name: s(),
                language: s(),
                event: s(),
                reason: s(),
            }),
            declared("TemplateStatusEvent")
        );
    }
}
