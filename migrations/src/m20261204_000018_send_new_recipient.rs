//! A send remembers whether its recipient was new (the contact made by it),
//! so that the sender can tell the anomaly detector: a workspace sending
//! mostly to numbers it never wrote to before is how spam campaigns look.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sends {
    Table,
    NewRecipient,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sends::Table)
                    .add_column(boolean(Sends::NewRecipient).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sends::Table)
                    .drop_column(Sends::NewRecipient)
                    .to_owned(),
            )
            .await
    }
}
