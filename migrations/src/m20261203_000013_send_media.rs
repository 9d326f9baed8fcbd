//! A send of our own media names it, so that the sender uploads it to Meta
//! (once per number, kept a day) just before sending.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sends {
    Table,
    MediaId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sends::Table)
                    .add_column(string_len_null(Sends::MediaId, 36))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sends::Table)
                    .drop_column(Sends::MediaId)
                    .to_owned(),
            )
            .await
    }
}
