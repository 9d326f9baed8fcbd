//! The anomaly service's tables: alerts it raised, the mitigations the edge
//! enforces (each expires or is lifted), the baseline models it trained, and
//! its outbox (audit records).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AnomalyAlerts {
    Table,
    Id,
    Detector,
    SubjectKind,
    SubjectId,
    TenantId,
    Score,
    Features,
    Detail,
    MitigationId,
    RaisedAt,
}

#[derive(DeriveIden)]
enum AnomalyMitigations {
    Table,
    Id,
    AlertId,
    Kind,
    SubjectKind,
    SubjectId,
    TenantId,
    LimitPerMinute,
    StartsAt,
    ExpiresAt,
    LiftedAt,
    LiftedBy,
}

#[derive(DeriveIden)]
enum AnomalyModels {
    Table,
    Version,
    Model,
    FeatureNames,
    Trees,
    SampleSize,
    Threshold,
    TrainingRows,
    Source,
    TrainedAt,
}

#[derive(DeriveIden)]
enum AnomalyOutbox {
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
                    .table(AnomalyAlerts::Table)
                    .if_not_exists()
                    .col(string_len(AnomalyAlerts::Id, 36).primary_key())
                    // login_burst, key_scraping, coordinated_wave, …
                    .col(string_len(AnomalyAlerts::Detector, 64))
                    // tenant, api_key, ip, account, platform.
                    .col(string_len(AnomalyAlerts::SubjectKind, 16))
                    .col(string_len(AnomalyAlerts::SubjectId, 128))
                    // The workspace it concerns; none for an IP or the platform.
                    .col(string_len_null(AnomalyAlerts::TenantId, 36))
                    .col(double(AnomalyAlerts::Score))
                    // The window's named feature values, JSON.
                    .col(text(AnomalyAlerts::Features))
                    .col(text(AnomalyAlerts::Detail))
                    .col(string_len_null(AnomalyAlerts::MitigationId, 36))
                    .col(timestamp_with_time_zone(AnomalyAlerts::RaisedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_anomaly_alerts_tenant")
                    .table(AnomalyAlerts::Table)
                    .col(AnomalyAlerts::TenantId)
                    .col(AnomalyAlerts::RaisedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_anomaly_alerts_raised")
                    .table(AnomalyAlerts::Table)
                    .col(AnomalyAlerts::RaisedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AnomalyMitigations::Table)
                    .if_not_exists()
                    .col(string_len(AnomalyMitigations::Id, 36).primary_key())
                    .col(string_len(AnomalyMitigations::AlertId, 36))
                    // throttle, block_key, lock_login.
                    .col(string_len(AnomalyMitigations::Kind, 16))
                    .col(string_len(AnomalyMitigations::SubjectKind, 16))
                    .col(string_len(AnomalyMitigations::SubjectId, 128))
                    .col(string_len_null(AnomalyMitigations::TenantId, 36))
                    // Requests a minute a throttle lets through.
                    .col(integer(AnomalyMitigations::LimitPerMinute).default(0))
                    .col(timestamp_with_time_zone(AnomalyMitigations::StartsAt))
                    .col(timestamp_with_time_zone(AnomalyMitigations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AnomalyMitigations::LiftedAt))
                    .col(string_len_null(AnomalyMitigations::LiftedBy, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_anomaly_mitigations_expires")
                    .table(AnomalyMitigations::Table)
                    .col(AnomalyMitigations::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AnomalyModels::Table)
                    .if_not_exists()
                    .col(string_len(AnomalyModels::Version, 64).primary_key())
                    // The forest's versioned bytes (aerostic-forest's format).
                    .col(blob(AnomalyModels::Model))
                    .col(text(AnomalyModels::FeatureNames))
                    .col(integer(AnomalyModels::Trees))
                    .col(integer(AnomalyModels::SampleSize))
                    .col(double(AnomalyModels::Threshold))
                    .col(integer(AnomalyModels::TrainingRows))
                    // bootstrap, schedule or request.
                    .col(string_len(AnomalyModels::Source, 16))
                    .col(timestamp_with_time_zone(AnomalyModels::TrainedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AnomalyOutbox::Table)
                    .if_not_exists()
                    .col(string_len(AnomalyOutbox::Id, 36).primary_key())
                    .col(string_len(AnomalyOutbox::Topic, 128))
                    .col(text(AnomalyOutbox::Headers))
                    .col(blob(AnomalyOutbox::Payload))
                    .col(timestamp_with_time_zone(AnomalyOutbox::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(
            manager,
            vec![
                AnomalyAlerts::Table.into_iden(),
                AnomalyMitigations::Table.into_iden(),
                AnomalyModels::Table.into_iden(),
                AnomalyOutbox::Table.into_iden(),
            ],
        )
        .await
    }
}
