//! Meta's webhook payloads (META_API.md §2), as far as routing and storing
//! need them; every message is also kept whole as JSON.

use serde::Deserialize;
use serde_json::Value;

/// A POST's body.
#[derive(Debug, Deserialize)]
pub struct Payload {
    /// `whatsapp_business_account`.
    #[serde(default)]
    pub object: String,
    /// One per WABA.
    #[serde(default)]
    pub entry: Vec<Entry>,
}

/// A WABA's changes.
#[derive(Debug, Deserialize)]
pub struct Entry {
    /// The WABA id.
    #[serde(default)]
    pub id: String,
    /// Its changes.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// One change of one field.
#[derive(Debug, Deserialize)]
pub struct Change {
    /// `messages`, `message_template_status_update`, `user_preferences`, …
    #[serde(default)]
    pub field: String,
    /// The field's value.
    #[serde(default)]
    pub value: Value,
}

/// The value of a `messages` change.
#[derive(Debug, Default, Deserialize)]
pub struct MessagesValue {
    /// The tenant's number.
    #[serde(default)]
    pub metadata: Metadata,
    /// The senders' profiles.
    #[serde(default)]
    pub contacts: Vec<WaContact>,
    /// Inbound messages.
    #[serde(default)]
    pub messages: Vec<Value>,
    /// Receipts of outbound messages.
    #[serde(default)]
    pub statuses: Vec<Status>,
}

/// Which number a change is for.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Metadata {
    /// E.164 without `+`.
    #[serde(default)]
    pub display_phone_number: String,
    /// The route: the tenant's number id.
    #[serde(default)]
    pub phone_number_id: String,
}

/// A sender as `contacts[]` describes them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct WaContact {
    /// Profile.
    #[serde(default)]
    pub profile: Profile,
    /// Phone digits (absent for username-only users).
    pub wa_id: Option<String>,
    /// Business-scoped user id.
    pub user_id: Option<String>,
}

/// A profile.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Profile {
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// One receipt.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// The outbound message's wamid.
    pub id: String,
    /// `sent`, `delivered`, `read`, `played` or `failed`.
    pub status: String,
    /// Unix seconds (a string, or a number).
    #[serde(default)]
    pub timestamp: Value,
    /// The recipient.
    #[serde(default)]
    pub recipient_id: String,
    /// On `failed`.
    #[serde(default)]
    pub errors: Vec<Value>,
    /// Meta's pricing (on `sent` and one of `delivered`/`read`).
    pub pricing: Option<Value>,
}

/// Unix seconds as Meta writes them (a string, sometimes a number).
pub fn seconds(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let secs = match value {
        Value::String(s) => s.parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    chrono::DateTime::from_timestamp(secs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_with_messages_and_statuses_parses() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"310","changes":[
          {"field":"messages","value":{"messaging_product":"whatsapp",
            "metadata":{"display_phone_number":"15550001111","phone_number_id":"420"},
            "contacts":[{"profile":{"name":"Ana"},"wa_id":"5511988887777","user_id":"BR.88"}],
            "messages":[{"from":"5511988887777","id":"wamid.A","timestamp":"1760000000","type":"text","text":{"body":"Oi \ud83d\ude2e"}}],
            "statuses":[{"id":"wamid.B","status":"sent","timestamp":1760000100,"recipient_id":"55"}]}}]}]}"#;
        let payload: Payload = serde_json::from_str(body).unwrap();
        let value: MessagesValue =
            serde_json::from_value(payload.entry[0].changes[0].value.clone()).unwrap();
        assert_eq!(value.metadata.phone_number_id, "420");
        assert_eq!(value.contacts[0].user_id.as_deref(), Some("BR.88"));
        assert_eq!(value.messages[0]["text"]["body"], "Oi 😮");
        assert_eq!(value.statuses[0].status, "sent");
        assert!(seconds(&serde_json::json!(1760000100)).is_some());
        assert!(seconds(&serde_json::json!("1760000000")).is_some());
    }
}
