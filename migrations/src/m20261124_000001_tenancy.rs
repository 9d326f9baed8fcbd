//! Tenancy's first tables: tenants, users, the audit log and its outbox.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    Status,
    PlanCode,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Email,
    FullName,
    PasswordHash,
    Role,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    TenantId,
    Actor,
    Action,
    Detail,
    TraceId,
    OccurredAt,
}

#[derive(DeriveIden)]
enum TenancyOutbox {
    Table,
    Id,
    Topic,
    Headers,
    Payload,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .if_not_exists()
                    .col(string_len(Tenants::Id, 36).primary_key())
                    .col(string_len(Tenants::Name, 100))
                    .col(string_len(Tenants::Status, 16))
                    .col(string_len(Tenants::PlanCode, 32))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string_len(Users::Id, 36).primary_key())
                    .col(string_len(Users::TenantId, 36))
                    // Stored lower-cased; one account per email across the platform.
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len(Users::FullName, 100))
                    .col(string_len(Users::PasswordHash, 255))
                    .col(string_len(Users::Role, 32))
                    .col(boolean(Users::Active))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_tenant")
                            .from(Users::Table, Users::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_tenant")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    // The broker message id: a redelivered event inserts nothing.
                    .col(string_len(AuditEvents::Id, 36).primary_key())
                    .col(string_len(AuditEvents::TenantId, 36))
                    .col(string_len(AuditEvents::Actor, 64))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(text(AuditEvents::Detail))
                    // Ties the entry to the request's logs across services.
                    .col(string_len(AuditEvents::TraceId, 64))
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_tenant_time")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::TenantId)
                    .col(AuditEvents::OccurredAt)
                    .to_owned(),
            )
            .await?;
        // Events staged with the write that caused them (kit::outbox).
        manager
            .create_table(
                Table::create()
                    .table(TenancyOutbox::Table)
                    .if_not_exists()
                    .col(string_len(TenancyOutbox::Id, 36).primary_key())
                    .col(string_len(TenancyOutbox::Topic, 128))
                    .col(text(TenancyOutbox::Headers))
                    .col(blob(TenancyOutbox::Payload))
                    .col(timestamp_with_time_zone(TenancyOutbox::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TenancyOutbox::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Tenants::Table).to_owned())
            .await
    }
}
