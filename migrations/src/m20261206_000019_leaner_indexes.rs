//! Index entries that every send paid for and nothing read:
//!
//! - `messages.wamid` is unique only where it is set. An outbound message has
//!   no wamid until Meta accepts it, and a NULL entry in the unique index was
//!   written for every send and never looked up (a lookup by wamid always
//!   names one, which implies `IS NOT NULL`).
//! - The same for a contact's `bsuid` (Meta's business-scoped user id): a
//!   contact we write to first has none, and its NULL entry was never read.
//! - Postings were indexed by account for every account, but only a
//!   reseller's margin is read as a sum of postings: a tenant's balance is the
//!   latest transaction's `available_after`/`held_after`, and a reservation's
//!   two postings (tenant available → tenant held) were two index entries
//!   nobody read.
//!
//! Measured with the outbound bench: about four WAL records fewer per message
//! (BENCHMARKS.md, 2026-12-06).
//!
//! On PostgreSQL each index is rebuilt in the migration's transaction, so
//! uniqueness never lapses, but the three tables take no writes while their
//! index builds: on a large installation run it in a quiet hour.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The postings an index by account serves: a reseller's margin (billing's
/// `store::reseller_margin` repeats this predicate so that it can use the index).
const READ_BY_ACCOUNT: &str = "account LIKE 'reseller:%'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let wamid =
            "CREATE UNIQUE INDEX uq_messages_wamid ON messages (wamid) WHERE wamid IS NOT NULL";
        let account = format!(
            "CREATE INDEX idx_ledger_postings_account ON ledger_postings (account) \
             WHERE {READ_BY_ACCOUNT}"
        );
        let bsuid = "CREATE UNIQUE INDEX uq_contacts_bsuid ON contacts (tenant_id, bsuid) \
                     WHERE bsuid IS NOT NULL";
        replace(manager, "uq_messages_wamid", wamid).await?;
        replace(manager, "uq_contacts_bsuid", bsuid).await?;
        replace(manager, "idx_ledger_postings_account", &account).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let wamid = "CREATE UNIQUE INDEX uq_messages_wamid ON messages (wamid)";
        let account = "CREATE INDEX idx_ledger_postings_account ON ledger_postings (account)";
        let bsuid = "CREATE UNIQUE INDEX uq_contacts_bsuid ON contacts (tenant_id, bsuid)";
        replace(manager, "uq_messages_wamid", wamid).await?;
        replace(manager, "uq_contacts_bsuid", bsuid).await?;
        replace(manager, "idx_ledger_postings_account", account).await
    }
}

/// Drops index `name` and creates it anew with `create`, in one call: on
/// SQLite a second call may take another pooled connection whose schema is
/// older than the drop, and it then finds the index still there.
async fn replace(manager: &SchemaManager<'_>, name: &str, create: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}; {create}"))
        .await
        .map(|_| ())
}
