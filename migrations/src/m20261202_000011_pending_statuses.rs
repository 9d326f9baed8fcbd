//! Finding statuses still waiting for their message, for the sweep that
//! applies those whose wamid got recorded meanwhile.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_message_statuses_pending")
                    .table(Alias::new("message_statuses"))
                    .col(Alias::new("applied"))
                    .col(Alias::new("received_at"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_message_statuses_pending")
                    .table(Alias::new("message_statuses"))
                    .to_owned(),
            )
            .await
    }
}
