//! The dispatcher's relay reads its outbox oldest first, a hundred at a
//! time; under a burst the table holds thousands of rows, and without an
//! index every round sorted them all.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_dispatcher_outbox_order")
                    .table(Alias::new("dispatcher_outbox"))
                    .col(Alias::new("created_at"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_dispatcher_outbox_order")
                    .table(Alias::new("dispatcher_outbox"))
                    .to_owned(),
            )
            .await
    }
}
