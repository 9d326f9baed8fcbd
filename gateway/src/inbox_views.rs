//! What the inbox endpoints answer.

use aerostic_proto::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::rfc3339;

/// A conversation: one contact on one of the workspace's numbers.
#[derive(Serialize, ToSchema)]
pub struct ConversationView {
    /// Conversation id.
    pub id: String,
    /// `open`, `pending` or `resolved`.
    pub status: String,
    /// The contact.
    pub contact_id: String,
    /// The contact's WhatsApp profile name.
    pub contact_name: String,
    /// The workspace's number.
    pub phone_number_id: String,
    /// The user it is assigned to.
    pub assigned_user_id: Option<String>,
    /// Messages not read yet.
    pub unread: u32,
    /// Last activity (RFC 3339).
    pub last_message_at: Option<String>,
    /// The contact's last message (RFC 3339).
    pub last_inbound_at: Option<String>,
    /// While free-form replies are allowed: 24 hours after the contact's
    /// last message; null when the window is closed (templates only).
    pub window_expires_at: Option<String>,
}

impl ConversationView {
    /// The view of `c`.
    pub fn of(c: pb::Conversation) -> Self {
        Self {
            id: c.id,
            status: c.status,
            contact_id: c.contact_id,
            contact_name: c.contact_name,
            phone_number_id: c.phone_number_id,
            assigned_user_id: (!c.assigned_user_id.is_empty()).then_some(c.assigned_user_id),
            unread: c.unread,
            last_message_at: rfc3339(c.last_message_at),
            last_inbound_at: rfc3339(c.last_inbound_at),
            window_expires_at: rfc3339(c.window_expires_at),
        }
    }
}

/// A message, either way.
#[derive(Serialize, ToSchema)]
pub struct MessageView {
    /// Message id.
    pub id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `text`, `image`, `document`, `audio`, `video`, `sticker`, `location`,
    /// `contacts`, `interactive`, `button`, `reaction`, `order`, `system`,
    /// `unsupported` or `template`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `received` (inbound), or `queued`, `sent`, `delivered`, `read`, `failed`.
    pub status: String,
    /// Meta's id.
    pub wamid: String,
    /// The message as Meta shaped it (the type's object, `context`, `referral`).
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// The message it replies to (a wamid).
    pub context_wamid: Option<String>,
    /// Our copy of its media: `GET /v1/media/{media_id}`.
    pub media_id: Option<String>,
    /// Meta's error code, when it failed.
    pub error_code: Option<String>,
    /// Meta's error title.
    pub error_message: Option<String>,
    /// When it was stored (RFC 3339).
    pub created_at: Option<String>,
    /// When its status last moved (RFC 3339).
    pub updated_at: Option<String>,
}

impl MessageView {
    /// The view of `m`.
    pub fn of(m: pb::Message) -> Self {
        let direction = match m.direction() {
            pb::MessageDirection::Inbound => "inbound",
            _ => "outbound",
        };
        let status = match m.status() {
            pb::MessageStatus::Queued => "queued",
            pb::MessageStatus::Sent => "sent",
            pb::MessageStatus::Delivered => "delivered",
            pb::MessageStatus::Read => "read",
            pb::MessageStatus::Failed => "failed",
            pb::MessageStatus::Received => "received",
            pb::MessageStatus::Unspecified => "unknown",
        };
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            direction: direction.into(),
            kind: m.r#type,
            status: status.into(),
            wamid: m.wamid,
            content: serde_json::from_str(&m.content_json).unwrap_or_default(),
            context_wamid: (!m.context_wamid.is_empty()).then_some(m.context_wamid),
            media_id: (!m.media_id.is_empty()).then_some(m.media_id),
            error_code: (!m.error_code.is_empty()).then_some(m.error_code),
            error_message: (!m.error_message.is_empty()).then_some(m.error_message),
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        }
    }
}

/// A customer of the workspace.
#[derive(Serialize, ToSchema)]
pub struct ContactView {
    /// Contact id.
    pub id: String,
    /// WhatsApp profile name.
    pub name: String,
    /// E.164; null for users known only by their business-scoped id.
    pub phone: Option<String>,
    /// Meta's business-scoped user id, when given.
    pub bsuid: Option<String>,
    /// The contact asked to stop messages.
    pub opted_out: bool,
    /// How: `keyword` (e.g. STOP) or `user_preferences` (WhatsApp's own).
    pub opt_out_source: Option<String>,
    /// First contact (RFC 3339).
    pub created_at: Option<String>,
}

impl ContactView {
    /// The view of `c`.
    pub fn of(c: pb::Contact) -> Self {
        Self {
            id: c.id,
            name: c.name,
            phone: (!c.phone.is_empty()).then_some(c.phone),
            bsuid: (!c.bsuid.is_empty()).then_some(c.bsuid),
            opted_out: c.marketing_opt_out,
            opt_out_source: (!c.opt_out_source.is_empty()).then_some(c.opt_out_source),
            created_at: rfc3339(c.created_at),
        }
    }
}
