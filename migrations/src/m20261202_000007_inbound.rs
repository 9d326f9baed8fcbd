//! Inbound: Meta's webhooks kept raw before anything else, then contacts,
//! conversations, messages and their statuses, and the dispatcher's outbox.
//!
//! `webhook_inbox` is the durable copy of every POST: the gateway answers
//! Meta only once its row is committed; `processed_at` stays empty until a
//! worker has applied it, so nothing received is lost to a crash.
//! `messages.wamid` is unique: Meta's retries and duplicates cannot store a
//! message twice. `message_statuses` is keyed by `(wamid, status)` for the
//! same reason, and keeps statuses whose message is not known yet.
//! `account_events` keeps template, quality and account updates, once each.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookInbox {
    Table,
    Id,
    ReceivedAt,
    Body,
    ProcessedAt,
    QueuedAt,
    Outcome,
}

#[derive(DeriveIden)]
enum UnroutedChanges {
    Table,
    Id,
    WebhookId,
    PhoneNumberId,
    Field,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    TenantId,
    WaId,
    Bsuid,
    ProfileName,
    OptedOut,
    OptedOutAt,
    OptOutSource,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    TenantId,
    ContactId,
    PhoneNumberId,
    Status,
    AssigneeId,
    UnreadCount,
    LastInboundAt,
    LastMessageAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    TenantId,
    ConversationId,
    ContactId,
    Direction,
    Kind,
    Content,
    Wamid,
    ContextWamid,
    Status,
    ErrorCode,
    ErrorTitle,
    SentAt,
    StatusAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MessageStatuses {
    Table,
    Wamid,
    Status,
    TenantId,
    OccurredAt,
    Detail,
    Applied,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum AccountEvents {
    Table,
    Id,
    TenantId,
    WabaId,
    Field,
    Event,
    Payload,
    Digest,
    CreatedAt,
}

#[derive(DeriveIden)]
enum InboxSettings {
    Table,
    TenantId,
    OptOutKeywords,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Media {
    Table,
    Id,
    TenantId,
    MessageId,
    PhoneNumberId,
    MetaMediaId,
    MimeType,
    Sha256,
    Filename,
    Size,
    StorageKey,
    Status,
    Error,
    CreatedAt,
    StoredAt,
}

#[derive(DeriveIden)]
enum DispatcherOutbox {
    Table,
    Id,
    Topic,
    Headers,
    Payload,
    CreatedAt,
}

fn index(name: &str, table: impl IntoIden, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(Alias::new(*c));
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookInbox::Table)
                    .if_not_exists()
                    .col(string_len(WebhookInbox::Id, 36).primary_key())
                    .col(timestamp_with_time_zone(WebhookInbox::ReceivedAt))
                    // The exact bytes Meta signed.
                    .col(blob(WebhookInbox::Body))
                    .col(timestamp_with_time_zone_null(WebhookInbox::ProcessedAt))
                    // When it was last handed to a worker (re-queued if it
                    // stays unprocessed).
                    .col(timestamp_with_time_zone_null(WebhookInbox::QueuedAt))
                    // What processing found (counts, or why it could not).
                    .col(string_len(WebhookInbox::Outcome, 500).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_webhook_inbox_pending",
                WebhookInbox::Table,
                &["processed_at", "received_at"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UnroutedChanges::Table)
                    .if_not_exists()
                    .col(string_len(UnroutedChanges::Id, 36).primary_key())
                    .col(string_len(UnroutedChanges::WebhookId, 36))
                    .col(string_len(UnroutedChanges::PhoneNumberId, 64))
                    .col(string_len(UnroutedChanges::Field, 64))
                    .col(text(UnroutedChanges::Payload))
                    .col(timestamp_with_time_zone(UnroutedChanges::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .if_not_exists()
                    .col(string_len(Contacts::Id, 36).primary_key())
                    .col(string_len(Contacts::TenantId, 36))
                    // Digits of the phone number; absent for username-only users.
                    .col(string_len_null(Contacts::WaId, 32))
                    // Business-scoped user id (since 31 Mar 2026).
                    .col(string_len_null(Contacts::Bsuid, 128))
                    .col(string_len(Contacts::ProfileName, 200).default(""))
                    .col(boolean(Contacts::OptedOut).default(false))
                    .col(timestamp_with_time_zone_null(Contacts::OptedOutAt))
                    // keyword, user_preferences, api.
                    .col(string_len(Contacts::OptOutSource, 32).default(""))
                    .col(timestamp_with_time_zone(Contacts::CreatedAt))
                    .col(timestamp_with_time_zone(Contacts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "uq_contacts_wa_id",
                Contacts::Table,
                &["tenant_id", "wa_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "uq_contacts_bsuid",
                Contacts::Table,
                &["tenant_id", "bsuid"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .if_not_exists()
                    .col(string_len(Conversations::Id, 36).primary_key())
                    .col(string_len(Conversations::TenantId, 36))
                    .col(string_len(Conversations::ContactId, 36))
                    // The tenant's number the conversation is on.
                    .col(string_len(Conversations::PhoneNumberId, 64))
                    // open, pending, resolved.
                    .col(string_len(Conversations::Status, 16))
                    .col(string_len_null(Conversations::AssigneeId, 36))
                    .col(integer(Conversations::UnreadCount).default(0))
                    // Opens the 24-hour customer-service window.
                    .col(timestamp_with_time_zone_null(Conversations::LastInboundAt))
                    .col(timestamp_with_time_zone(Conversations::LastMessageAt))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "uq_conversations_thread",
                Conversations::Table,
                &["tenant_id", "contact_id", "phone_number_id"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_conversations_inbox",
                Conversations::Table,
                &["tenant_id", "last_message_at"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(string_len(Messages::Id, 36).primary_key())
                    .col(string_len(Messages::TenantId, 36))
                    .col(string_len(Messages::ConversationId, 36))
                    .col(string_len(Messages::ContactId, 36))
                    // inbound, outbound.
                    .col(string_len(Messages::Direction, 8))
                    // text, image, …, reaction, system, unsupported.
                    .col(string_len(Messages::Kind, 32))
                    // The type's object as JSON (media metadata, location, …).
                    .col(text(Messages::Content))
                    .col(string_len_null(Messages::Wamid, 128))
                    .col(string_len_null(Messages::ContextWamid, 128))
                    // queued, sent, delivered, read, failed, received.
                    .col(string_len(Messages::Status, 16))
                    .col(integer_null(Messages::ErrorCode))
                    .col(string_len(Messages::ErrorTitle, 300).default(""))
                    // Meta's timestamp of the message.
                    .col(timestamp_with_time_zone(Messages::SentAt))
                    .col(timestamp_with_time_zone(Messages::StatusAt))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "uq_messages_wamid",
                Messages::Table,
                &["wamid"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_messages_conversation",
                Messages::Table,
                &["tenant_id", "conversation_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MessageStatuses::Table)
                    .if_not_exists()
                    .col(string_len(MessageStatuses::Wamid, 128))
                    .col(string_len(MessageStatuses::Status, 16))
                    .col(string_len(MessageStatuses::TenantId, 36))
                    .col(timestamp_with_time_zone(MessageStatuses::OccurredAt))
                    // pricing and errors, as Meta sent them.
                    .col(text(MessageStatuses::Detail))
                    // False while its message is not known yet.
                    .col(boolean(MessageStatuses::Applied))
                    .col(timestamp_with_time_zone(MessageStatuses::ReceivedAt))
                    .primary_key(
                        Index::create()
                            .col(MessageStatuses::Wamid)
                            .col(MessageStatuses::Status),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccountEvents::Table)
                    .if_not_exists()
                    .col(string_len(AccountEvents::Id, 36).primary_key())
                    .col(string_len(AccountEvents::TenantId, 36))
                    .col(string_len(AccountEvents::WabaId, 64))
                    // message_template_status_update, phone_number_quality_update, account_update, …
                    .col(string_len(AccountEvents::Field, 64))
                    // APPROVED, REJECTED, THROUGHPUT_UPGRADE, PARTNER_ADDED, …
                    .col(string_len(AccountEvents::Event, 64))
                    .col(text(AccountEvents::Payload))
                    // SHA-256 of field and value: Meta's retries store nothing twice.
                    .col(string_len(AccountEvents::Digest, 64).unique_key())
                    .col(timestamp_with_time_zone(AccountEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_account_events_tenant",
                AccountEvents::Table,
                &["tenant_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InboxSettings::Table)
                    .if_not_exists()
                    .col(string_len(InboxSettings::TenantId, 36).primary_key())
                    // {"en": ["stop", …], "pt": ["parar", …]}; absent: the defaults.
                    .col(text(InboxSettings::OptOutKeywords))
                    .col(timestamp_with_time_zone(InboxSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Media::Table)
                    .if_not_exists()
                    .col(string_len(Media::Id, 36).primary_key())
                    .col(string_len(Media::TenantId, 36))
                    .col(string_len(Media::MessageId, 36))
                    .col(string_len(Media::PhoneNumberId, 64))
                    // Meta's id: fetchable for a limited time only.
                    .col(string_len(Media::MetaMediaId, 64))
                    .col(string_len(Media::MimeType, 128))
                    // Base64 SHA-256 as Meta gave it.
                    .col(string_len(Media::Sha256, 64))
                    .col(string_len(Media::Filename, 255).default(""))
                    .col(big_integer(Media::Size).default(0))
                    // Where our copy is (the store of record).
                    .col(string_len(Media::StorageKey, 255).default(""))
                    // pending, stored, failed.
                    .col(string_len(Media::Status, 16))
                    .col(string_len(Media::Error, 300).default(""))
                    .col(timestamp_with_time_zone(Media::CreatedAt))
                    .col(timestamp_with_time_zone_null(Media::StoredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "uq_media_message",
                Media::Table,
                &["message_id"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DispatcherOutbox::Table)
                    .if_not_exists()
                    .col(string_len(DispatcherOutbox::Id, 36).primary_key())
                    .col(string_len(DispatcherOutbox::Topic, 128))
                    .col(text(DispatcherOutbox::Headers))
                    .col(blob(DispatcherOutbox::Payload))
                    .col(timestamp_with_time_zone(DispatcherOutbox::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(
            manager,
            vec![
                DispatcherOutbox::Table.into_iden(),
                Media::Table.into_iden(),
                InboxSettings::Table.into_iden(),
                AccountEvents::Table.into_iden(),
                MessageStatuses::Table.into_iden(),
                Messages::Table.into_iden(),
                Conversations::Table.into_iden(),
                Contacts::Table.into_iden(),
                UnroutedChanges::Table.into_iden(),
                WebhookInbox::Table.into_iden(),
            ],
        )
        .await
    }
}
