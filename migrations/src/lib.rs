//! Database migrations, one module per step, applied in order by
//! `aerostic migrate` (and by every process at start in `aerostic dev`).
//! Each runs on PostgreSQL and SQLite: ids are 36-character UUID strings,
//! timestamps are timestamptz, and nothing relies on one backend's extensions.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_tenancy;
mod m20261124_000002_sessions;
mod m20261124_000003_invitations;
mod m20261124_000004_platform;
mod m20261124_000005_whatsapp;
mod m20261202_000006_billing;
mod m20261202_000007_inbound;
mod m20261202_000008_media_objects;
mod m20261202_000009_idempotency;
mod m20261202_000010_sends;
mod m20261202_000011_pending_statuses;
mod m20261203_000012_templates;
mod m20261203_000013_send_media;
mod m20261203_000014_outbox_order;
mod m20261203_000015_sends_pending_index;
mod m20261203_000016_number_restrictions;
mod m20261203_000017_anomaly;
mod m20261204_000018_send_new_recipient;
mod m20261206_000019_leaner_indexes;

/// Drops `tables`, in order, where they exist (a migration's `down`).
pub(crate) async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: Vec<DynIden>,
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(table).if_exists().to_owned())
            .await?;
    }
    Ok(())
}

/// Every migration of the platform.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_tenancy::Migration),
            Box::new(m20261124_000002_sessions::Migration),
            Box::new(m20261124_000003_invitations::Migration),
            Box::new(m20261124_000004_platform::Migration),
            Box::new(m20261124_000005_whatsapp::Migration),
            Box::new(m20261202_000006_billing::Migration),
            Box::new(m20261202_000007_inbound::Migration),
            Box::new(m20261202_000008_media_objects::Migration),
            Box::new(m20261202_000009_idempotency::Migration),
            Box::new(m20261202_000010_sends::Migration),
            Box::new(m20261202_000011_pending_statuses::Migration),
            Box::new(m20261203_000012_templates::Migration),
            Box::new(m20261203_000013_send_media::Migration),
            Box::new(m20261203_000014_outbox_order::Migration),
            Box::new(m20261203_000015_sends_pending_index::Migration),
            Box::new(m20261203_000016_number_restrictions::Migration),
            Box::new(m20261203_000017_anomaly::Migration),
            Box::new(m20261204_000018_send_new_recipient::Migration),
            Box::new(m20261206_000019_leaner_indexes::Migration),
        ]
    }
}
