//! The database as the media store of record: the bytes of each media
//! object, for installs with more than one dispatcher replica and no shared
//! filesystem (every replica reads what any other fetched).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MediaObjects {
    Table,
    Key,
    Bytes,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MediaObjects::Table)
                    .if_not_exists()
                    // `tenant/uuid`, the object store's key.
                    .col(string_len(MediaObjects::Key, 120).primary_key())
                    .col(blob(MediaObjects::Bytes))
                    .col(timestamp_with_time_zone(MediaObjects::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(manager, vec![MediaObjects::Table.into_iden()]).await
    }
}
