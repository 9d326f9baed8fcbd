//! What Meta's refusals say about a number, as tenancy shows it: `reconnect`
//! (its token stopped working; its messages are held), `pause_campaigns`
//! (Meta's spam limit) or `stop_sending` (an account restriction), with the
//! reason and when. Empty when nothing is wrong.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WhatsappAccounts {
    Table,
    Restriction,
    RestrictionReason,
    RestrictedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in [
            string_len(WhatsappAccounts::Restriction, 32)
                .default("")
                .to_owned(),
            string_len(WhatsappAccounts::RestrictionReason, 300)
                .default("")
                .to_owned(),
            timestamp_with_time_zone_null(WhatsappAccounts::RestrictedAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WhatsappAccounts::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            WhatsappAccounts::Restriction,
            WhatsappAccounts::RestrictionReason,
            WhatsappAccounts::RestrictedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WhatsappAccounts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
