//! Sessions and developer credentials: rotating refresh tokens (grouped in
//! families so a reused token revokes its whole line) and API keys. Both
//! store only SHA-256 hashes of their secrets: they are 256-bit random
//! values, so a fast hash is enough and lookups stay a single index probe.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    FamilyId,
    TenantId,
    UserId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    RevokedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Name,
    Prefix,
    SecretHash,
    Scopes,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(string_len(RefreshTokens::Id, 36).primary_key())
                    // Every token rotated from one login shares the family.
                    .col(string_len(RefreshTokens::FamilyId, 36))
                    .col(string_len(RefreshTokens::TenantId, 36))
                    .col(string_len(RefreshTokens::UserId, 36))
                    .col(string_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    // Set when rotated: presenting it again is reuse.
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(string_len(ApiKeys::Id, 36).primary_key())
                    .col(string_len(ApiKeys::TenantId, 36))
                    .col(string_len(ApiKeys::Name, 100))
                    // The visible part, e.g. `ak_live_3f9a1c2b`, for lists and logs.
                    .col(string_len(ApiKeys::Prefix, 32))
                    .col(string_len_uniq(ApiKeys::SecretHash, 64))
                    // Space-separated, e.g. `messages:send contacts:read`.
                    .col(text(ApiKeys::Scopes))
                    .col(string_len(ApiKeys::CreatedBy, 36))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_tenant")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::TenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RefreshTokens::Table).to_owned())
            .await
    }
}
