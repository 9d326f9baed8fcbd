//! The dispatcher's tables (see migrations 7 to 13).

macro_rules! entity {
    ($(#[$doc:meta])* $module:ident, $table:literal, { $($field:tt)* }) => {
        $(#[$doc])*
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[allow(missing_docs)]
            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model { $($field)* }

            #[allow(missing_docs)]
            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(
    /// Raw webhook bodies, kept before anything else.
    webhook_inbox, "webhook_inbox", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub received_at: DateTimeUtc,
    pub body: Vec<u8>,
    pub processed_at: Option<DateTimeUtc>,
    pub queued_at: Option<DateTimeUtc>,
    pub outcome: String,
});

entity!(
    /// Changes for numbers no tenant owns.
    unrouted_change, "unrouted_changes", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub webhook_id: String,
    pub phone_number_id: String,
    pub field: String,
    pub payload: String,
    pub created_at: DateTimeUtc,
});

entity!(
    /// A tenant's customers.
    contact, "contacts", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
    pub profile_name: String,
    pub opted_out: bool,
    pub opted_out_at: Option<DateTimeUtc>,
    pub opt_out_source: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
});

entity!(
    /// One thread per contact and number.
    conversation, "conversations", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub contact_id: String,
    pub phone_number_id: String,
    pub status: String,
    pub assignee_id: Option<String>,
    pub unread_count: i32,
    pub last_inbound_at: Option<DateTimeUtc>,
    pub last_message_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
});

entity!(
    /// Messages both ways.
    message, "messages", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub conversation_id: String,
    pub contact_id: String,
    pub direction: String,
    pub kind: String,
    pub content: String,
    pub wamid: Option<String>,
    pub context_wamid: Option<String>,
    pub status: String,
    pub error_code: Option<i32>,
    pub error_title: String,
    pub sent_at: DateTimeUtc,
    pub status_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
});

entity!(
    /// Every status Meta reported, once each.
    message_status, "message_statuses", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub wamid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: String,
    pub tenant_id: String,
    pub occurred_at: DateTimeUtc,
    pub detail: String,
    pub applied: bool,
    pub received_at: DateTimeUtc,
});

entity!(
    /// Template, quality and account updates of a tenant's WABAs.
    account_event, "account_events", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub waba_id: String,
    pub field: String,
    pub event: String,
    pub payload: String,
    pub digest: String,
    pub created_at: DateTimeUtc,
});

entity!(
    /// A tenant's inbox settings.
    inbox_setting, "inbox_settings", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub opt_out_keywords: String,
    pub updated_at: DateTimeUtc,
});

entity!(
    /// Customers' media, kept by us (Meta keeps it days, not years).
    media, "media", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub message_id: String,
    pub phone_number_id: String,
    pub meta_media_id: String,
    pub mime_type: String,
    pub sha256: String,
    pub filename: String,
    pub size: i64,
    pub storage_key: String,
    pub status: String,
    pub error: String,
    pub created_at: DateTimeUtc,
    pub stored_at: Option<DateTimeUtc>,
});

entity!(
    /// Media bytes, when the database is the object store.
    media_object, "media_objects", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub bytes: Vec<u8>,
    pub created_at: DateTimeUtc,
});

entity!(
    /// Idempotency keys of sends, per tenant.
    idempotency_key, "idempotency_keys", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub request_hash: String,
    pub response: String,
    pub created_at: DateTimeUtc,
});

entity!(
    /// The send queue's state per outbound message.
    send, "sends", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: String,
    pub tenant_id: String,
    pub phone_number_id: String,
    pub body: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub last_error_code: Option<i64>,
    pub last_error: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub media_id: Option<String>,
    /// Whether the send made its recipient's contact (first ever message).
    pub new_recipient: bool,
});

entity!(
    /// Our copy of a WABA's templates.
    template, "templates", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub waba_id: String,
    pub meta_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: String,
    pub rejected_reason: String,
    pub updated_at: DateTimeUtc,
});
