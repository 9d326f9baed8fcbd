//! WhatsApp accounts connected by tenants (their access tokens encrypted, bound
//! to tenant and column) and the platform's own secrets, such as the Meta
//! system-user token with its rotation schedule.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WhatsappAccounts {
    Table,
    Id,
    TenantId,
    WabaId,
    PhoneNumberId,
    DisplayPhoneNumber,
    VerifiedName,
    Status,
    AccessToken,
    ConnectedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PlatformSecrets {
    Table,
    Name,
    Value,
    RotatedAt,
    NextRotationAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WhatsappAccounts::Table)
                    .if_not_exists()
                    .col(string_len(WhatsappAccounts::Id, 36).primary_key())
                    .col(string_len(WhatsappAccounts::TenantId, 36))
                    .col(string_len(WhatsappAccounts::WabaId, 32))
                    // A number routes to exactly one tenant.
                    .col(string_len_uniq(WhatsappAccounts::PhoneNumberId, 32))
                    .col(string_len(WhatsappAccounts::DisplayPhoneNumber, 32))
                    .col(string_len(WhatsappAccounts::VerifiedName, 200))
                    .col(string_len(WhatsappAccounts::Status, 16))
                    // kit::crypto envelope; null when the platform's system-user token serves it.
                    .col(text_null(WhatsappAccounts::AccessToken))
                    .col(timestamp_with_time_zone_null(WhatsappAccounts::ConnectedAt))
                    .col(timestamp_with_time_zone(WhatsappAccounts::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_whatsapp_accounts_tenant")
                    .table(WhatsappAccounts::Table)
                    .col(WhatsappAccounts::TenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlatformSecrets::Table)
                    .if_not_exists()
                    .col(string_len(PlatformSecrets::Name, 64).primary_key())
                    // kit::crypto envelope bound to tenant `platform`.
                    .col(text(PlatformSecrets::Value))
                    .col(timestamp_with_time_zone(PlatformSecrets::RotatedAt))
                    .col(timestamp_with_time_zone(PlatformSecrets::NextRotationAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PlatformSecrets::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WhatsappAccounts::Table).to_owned())
            .await
    }
}
