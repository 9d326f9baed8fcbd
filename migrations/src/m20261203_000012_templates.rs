//! Our copy of each WABA's message templates, as Meta last told us (its
//! create answer, a `message_template_status_update` webhook or a sync):
//! sends are checked against it before anything is queued.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Templates {
    Table,
    Id,
    TenantId,
    WabaId,
    MetaId,
    Name,
    Language,
    Category,
    Status,
    Components,
    RejectedReason,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Templates::Table)
                    .if_not_exists()
                    .col(string_len(Templates::Id, 36).primary_key())
                    .col(string_len(Templates::TenantId, 36))
                    .col(string_len(Templates::WabaId, 64))
                    // Meta's template id.
                    .col(string_len(Templates::MetaId, 64))
                    .col(string_len(Templates::Name, 512))
                    .col(string_len(Templates::Language, 16))
                    // MARKETING, UTILITY or AUTHENTICATION.
                    .col(string_len(Templates::Category, 32))
                    // PENDING, APPROVED, REJECTED, PAUSED, DISABLED.
                    .col(string_len(Templates::Status, 32))
                    // Meta's `components`, JSON.
                    .col(text(Templates::Components))
                    .col(string_len(Templates::RejectedReason, 200).default(""))
                    .col(timestamp_with_time_zone(Templates::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_templates_name_language")
                    .table(Templates::Table)
                    .col(Templates::TenantId)
                    .col(Templates::WabaId)
                    .col(Templates::Name)
                    .col(Templates::Language)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(manager, vec![Templates::Table.into_iden()]).await
    }
}
