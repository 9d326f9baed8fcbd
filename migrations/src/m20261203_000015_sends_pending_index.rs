//! The send queue's index covers only sends still in play (queued, being
//! sent, held for a reconnect, dead-lettered): accepted and failed ones, the
//! bulk of the table, are never looked up by state. Being partial, it also
//! cannot serve a generic plan whose state is a parameter, so the worker's
//! claim (by message id, "and still queued") always takes the primary key:
//! with the full index a prepared claim planned while the table was small
//! kept scanning every queued row (1.4 ms a claim under a backlog).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const PENDING: &str = "state IN ('queued', 'sending', 'held', 'dead')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_sends_due")
            .await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX ix_sends_pending ON sends (state, next_attempt_at) WHERE {PENDING}"
        ))
        .await
        .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_sends_pending")
            .await?;
        db.execute_unprepared("CREATE INDEX ix_sends_due ON sends (state, next_attempt_at)")
            .await
            .map(|_| ())
    }
}
