//! The send queue's state per outbound message: what goes to Meta, how many
//! attempts, when the next may run, and how it ended (accepted, failed with
//! Meta's reason, held for a reconnect, or dead-lettered for replay).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sends {
    Table,
    MessageId,
    TenantId,
    PhoneNumberId,
    Body,
    State,
    Attempts,
    NextAttemptAt,
    LastErrorCode,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sends::Table)
                    .if_not_exists()
                    .col(string_len(Sends::MessageId, 36).primary_key())
                    .col(string_len(Sends::TenantId, 36))
                    .col(string_len(Sends::PhoneNumberId, 64))
                    // Meta's request body, as it goes.
                    .col(text(Sends::Body))
                    // queued, sending, accepted, failed, held, dead.
                    .col(string_len(Sends::State, 16))
                    .col(integer(Sends::Attempts).default(0))
                    .col(timestamp_with_time_zone(Sends::NextAttemptAt))
                    .col(big_integer_null(Sends::LastErrorCode))
                    .col(string_len(Sends::LastError, 500).default(""))
                    .col(timestamp_with_time_zone(Sends::CreatedAt))
                    .col(timestamp_with_time_zone(Sends::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sends_due")
                    .table(Sends::Table)
                    .col(Sends::State)
                    .col(Sends::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(manager, vec![Sends::Table.into_iden()]).await
    }
}
