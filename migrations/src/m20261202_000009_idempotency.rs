//! Idempotency keys of sends: a client's retry with the same key and body
//! gets the first answer for 24 hours; the same key with another body is
//! refused.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    TenantId,
    Key,
    RequestHash,
    Response,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(string_len(IdempotencyKeys::TenantId, 36))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    // SHA-256 of the request, hex.
                    .col(string_len(IdempotencyKeys::RequestHash, 64))
                    // The first answer; empty while the first call runs.
                    .col(text(IdempotencyKeys::Response).default(""))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::TenantId)
                            .col(IdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(manager, vec![IdempotencyKeys::Table.into_iden()]).await
    }
}
