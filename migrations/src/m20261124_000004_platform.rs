//! The platform around tenants: plans and their limits, resellers with their
//! branding and custom domains, typed platform settings, password resets, and
//! the hash chain of the audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Plans {
    Table,
    Code,
    Name,
    MessagesPerDay,
    MaxNumbers,
    MaxAgents,
    AiCredits,
}

#[derive(DeriveIden)]
enum Resellers {
    Table,
    Id,
    Name,
    LogoUrl,
    PrimaryColor,
    AccentColor,
    MarkupBps,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ResellerDomains {
    Table,
    Domain,
    ResellerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    ResellerId,
}

#[derive(DeriveIden)]
enum PlatformSettings {
    Table,
    Key,
    Value,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    Id,
    TenantId,
    UserId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    PrevHash,
    Hash,
}

/// The plans a platform starts with: (code, name, messages/day, numbers, agents, AI credits).
const PLANS: &[(&str, &str, i32, i32, i32, i32)] = &[
    ("starter", "Starter", 1_000, 1, 3, 100),
    ("growth", "Growth", 10_000, 3, 10, 1_000),
    ("scale", "Scale", 100_000, 10, 50, 10_000),
    // Super admins live in the platform's own tenant, which sends nothing.
    ("platform", "Platform", 0, 0, 0, 0),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .if_not_exists()
                    .col(string_len(Plans::Code, 32).primary_key())
                    .col(string_len(Plans::Name, 64))
                    .col(integer(Plans::MessagesPerDay))
                    .col(integer(Plans::MaxNumbers))
                    .col(integer(Plans::MaxAgents))
                    .col(integer(Plans::AiCredits))
                    .to_owned(),
            )
            .await?;
        let mut seed = Query::insert()
            .into_table(Plans::Table)
            .columns([
                Plans::Code,
                Plans::Name,
                Plans::MessagesPerDay,
                Plans::MaxNumbers,
                Plans::MaxAgents,
                Plans::AiCredits,
            ])
            .to_owned();
        for (code, name, per_day, numbers, agents, credits) in PLANS {
            seed.values_panic([
                (*code).into(),
                (*name).into(),
                (*per_day).into(),
                (*numbers).into(),
                (*agents).into(),
                (*credits).into(),
            ]);
        }
        manager.exec_stmt(seed).await?;

        manager
            .create_table(
                Table::create()
                    .table(Resellers::Table)
                    .if_not_exists()
                    .col(string_len(Resellers::Id, 36).primary_key())
                    .col(string_len(Resellers::Name, 100))
                    .col(string_len(Resellers::LogoUrl, 500))
                    .col(string_len(Resellers::PrimaryColor, 7))
                    .col(string_len(Resellers::AccentColor, 7))
                    // Basis points added to the platform's prices for its tenants.
                    .col(integer(Resellers::MarkupBps))
                    .col(timestamp_with_time_zone(Resellers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ResellerDomains::Table)
                    .if_not_exists()
                    // Lower-cased host name; a domain belongs to one reseller.
                    .col(string_len(ResellerDomains::Domain, 253).primary_key())
                    .col(string_len(ResellerDomains::ResellerId, 36))
                    .col(timestamp_with_time_zone(ResellerDomains::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(string_len_null(Tenants::ResellerId, 36))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PlatformSettings::Table)
                    .if_not_exists()
                    .col(string_len(PlatformSettings::Key, 64).primary_key())
                    .col(text(PlatformSettings::Value))
                    .col(string_len(PlatformSettings::UpdatedBy, 36))
                    .col(timestamp_with_time_zone(PlatformSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PasswordResets::Table)
                    .if_not_exists()
                    .col(string_len(PasswordResets::Id, 36).primary_key())
                    .col(string_len(PasswordResets::TenantId, 36))
                    .col(string_len(PasswordResets::UserId, 36))
                    .col(string_len_uniq(PasswordResets::TokenHash, 64))
                    .col(timestamp_with_time_zone(PasswordResets::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasswordResets::UsedAt))
                    .col(timestamp_with_time_zone(PasswordResets::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        for column in [
            big_integer_null(AuditEvents::Seq),
            string_len_null(AuditEvents::PrevHash, 64),
            string_len_null(AuditEvents::Hash, 64),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // One position per link: two writers racing for the same slot, one loses.
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_seq")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Seq)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_audit_events_seq")
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        for column in [AuditEvents::Hash, AuditEvents::PrevHash, AuditEvents::Seq] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            PasswordResets::Table.into_iden(),
            PlatformSettings::Table.into_iden(),
            ResellerDomains::Table.into_iden(),
            Resellers::Table.into_iden(),
            Plans::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::ResellerId)
                    .to_owned(),
            )
            .await
    }
}
