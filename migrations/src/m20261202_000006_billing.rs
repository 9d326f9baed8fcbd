//! Billing: an append-only double-entry ledger, the holds of messages in
//! flight, price lists, usage counters and billing's outbox.
//!
//! `ledger_transactions` is the tenant wallet's stream: each row has the
//! wallet's next `seq` and the balances after it (`available_after`,
//! `held_after`), so the balance is read from the newest row, never edited;
//! `(tenant_id, seq)` is unique, which makes two writers of one wallet
//! collide instead of overdrawing it. `ledger_postings` are the balanced lines
//! of each transaction over every account (tenant wallet and holds, platform
//! revenue and funding, reseller margin). `(tenant_id, kind, reference)` is
//! unique: every movement happens once, whatever is retried.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LedgerTransactions {
    Table,
    Id,
    TenantId,
    Seq,
    Kind,
    Reference,
    Currency,
    Amount,
    AvailableAfter,
    HeldAfter,
    Detail,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerPostings {
    Table,
    TransactionId,
    Account,
    Amount,
    Currency,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BillingHolds {
    Table,
    TenantId,
    MessageId,
    Amount,
    BaseAmount,
    MarkupAmount,
    ResellerId,
    Category,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Prices {
    Table,
    Id,
    Scope,
    Category,
    Country,
    Template,
    Currency,
    UnitMinor,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UsageCounters {
    Table,
    TenantId,
    Metric,
    Period,
    Quantity,
}

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    TenantId,
    EventId,
    Metric,
    Quantity,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WalletSettings {
    Table,
    TenantId,
    LowBalanceMinor,
    LowBalanceNotified,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BillingOutbox {
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
                    .table(LedgerTransactions::Table)
                    .if_not_exists()
                    .col(string_len(LedgerTransactions::Id, 36).primary_key())
                    .col(string_len(LedgerTransactions::TenantId, 36))
                    .col(big_integer(LedgerTransactions::Seq))
                    // top_up, adjustment, reserve, settle, release, refund.
                    .col(string_len(LedgerTransactions::Kind, 16))
                    // Idempotency key: a message id or a payment reference.
                    .col(string_len(LedgerTransactions::Reference, 200))
                    .col(string_len(LedgerTransactions::Currency, 3))
                    // The movement's size in minor units (always positive).
                    .col(big_integer(LedgerTransactions::Amount))
                    .col(big_integer(LedgerTransactions::AvailableAfter))
                    .col(big_integer(LedgerTransactions::HeldAfter))
                    .col(string_len(LedgerTransactions::Detail, 500))
                    .col(timestamp_with_time_zone(LedgerTransactions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_ledger_transactions_stream")
                    .table(LedgerTransactions::Table)
                    .col(LedgerTransactions::TenantId)
                    .col(LedgerTransactions::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_ledger_transactions_once")
                    .table(LedgerTransactions::Table)
                    .col(LedgerTransactions::TenantId)
                    .col(LedgerTransactions::Kind)
                    .col(LedgerTransactions::Reference)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerPostings::Table)
                    .if_not_exists()
                    .col(string_len(LedgerPostings::TransactionId, 36))
                    // `tenant:<id>:available`, `tenant:<id>:held`,
                    // `platform:revenue`, `platform:funding`, `reseller:<id>:margin`.
                    .col(string_len(LedgerPostings::Account, 80))
                    // Signed minor units; a transaction's postings sum to zero.
                    .col(big_integer(LedgerPostings::Amount))
                    .col(string_len(LedgerPostings::Currency, 3))
                    .col(timestamp_with_time_zone(LedgerPostings::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(LedgerPostings::TransactionId)
                            .col(LedgerPostings::Account),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ledger_postings_account")
                    .table(LedgerPostings::Table)
                    .col(LedgerPostings::Account)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingHolds::Table)
                    .if_not_exists()
                    .col(string_len(BillingHolds::TenantId, 36))
                    .col(string_len(BillingHolds::MessageId, 200))
                    .col(big_integer(BillingHolds::Amount))
                    .col(big_integer(BillingHolds::BaseAmount))
                    .col(big_integer(BillingHolds::MarkupAmount))
                    .col(string_len_null(BillingHolds::ResellerId, 36))
                    .col(string_len(BillingHolds::Category, 32))
                    .col(timestamp_with_time_zone(BillingHolds::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(BillingHolds::TenantId)
                            .col(BillingHolds::MessageId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Prices::Table)
                    .if_not_exists()
                    .col(string_len(Prices::Id, 36).primary_key())
                    // `default` or a tenant id.
                    .col(string_len(Prices::Scope, 36))
                    .col(string_len(Prices::Category, 32))
                    // ISO 3166-1 alpha-2, or `*` for any country.
                    .col(string_len(Prices::Country, 2))
                    // A template name, or empty for any template.
                    .col(string_len(Prices::Template, 512))
                    .col(string_len(Prices::Currency, 3))
                    .col(big_integer(Prices::UnitMinor))
                    .col(timestamp_with_time_zone(Prices::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_prices_key")
                    .table(Prices::Table)
                    .col(Prices::Scope)
                    .col(Prices::Category)
                    .col(Prices::Country)
                    .col(Prices::Template)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageCounters::Table)
                    .if_not_exists()
                    .col(string_len(UsageCounters::TenantId, 36))
                    .col(string_len(UsageCounters::Metric, 64))
                    // `2026-12-02` (daily metrics) or `2026-12` (monthly).
                    .col(string_len(UsageCounters::Period, 10))
                    .col(big_integer(UsageCounters::Quantity))
                    .primary_key(
                        Index::create()
                            .col(UsageCounters::TenantId)
                            .col(UsageCounters::Metric)
                            .col(UsageCounters::Period),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageEvents::Table)
                    .if_not_exists()
                    .col(string_len(UsageEvents::TenantId, 36))
                    .col(string_len(UsageEvents::EventId, 200))
                    .col(string_len(UsageEvents::Metric, 64))
                    .col(big_integer(UsageEvents::Quantity))
                    .col(timestamp_with_time_zone(UsageEvents::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(UsageEvents::TenantId)
                            .col(UsageEvents::EventId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WalletSettings::Table)
                    .if_not_exists()
                    .col(string_len(WalletSettings::TenantId, 36).primary_key())
                    .col(big_integer(WalletSettings::LowBalanceMinor))
                    .col(boolean(WalletSettings::LowBalanceNotified))
                    .col(timestamp_with_time_zone(WalletSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingOutbox::Table)
                    .if_not_exists()
                    .col(string_len(BillingOutbox::Id, 36).primary_key())
                    .col(string_len(BillingOutbox::Topic, 128))
                    .col(text(BillingOutbox::Headers))
                    .col(blob(BillingOutbox::Payload))
                    .col(timestamp_with_time_zone(BillingOutbox::CreatedAt))
                    .to_owned(),
            )
            .await?;
        seed_default_prices(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_tables(
            manager,
            vec![
                BillingOutbox::Table.into_iden(),
                WalletSettings::Table.into_iden(),
                UsageEvents::Table.into_iden(),
                UsageCounters::Table.into_iden(),
                Prices::Table.into_iden(),
                BillingHolds::Table.into_iden(),
                LedgerPostings::Table.into_iden(),
                LedgerTransactions::Table.into_iden(),
            ],
        )
        .await
    }
}

/// A starting price list in USD cents for any country, near Meta's
/// per-message rates rounded to whole cents; admins set per-country rates
/// through the API. `service` is free, as Meta does not charge it.
async fn seed_default_prices(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let now = chrono::Utc::now();
    let mut insert = Query::insert()
        .into_table(Prices::Table)
        .columns([
            Prices::Id,
            Prices::Scope,
            Prices::Category,
            Prices::Country,
            Prices::Template,
            Prices::Currency,
            Prices::UnitMinor,
            Prices::UpdatedAt,
        ])
        .to_owned();
    let seeds: [(&str, &str, i64); 5] = [
        ("00000000-0000-7000-8000-000000000101", "marketing", 3),
        ("00000000-0000-7000-8000-000000000102", "utility", 1),
        ("00000000-0000-7000-8000-000000000103", "authentication", 1),
        (
            "00000000-0000-7000-8000-000000000104",
            "authentication-international",
            4,
        ),
        ("00000000-0000-7000-8000-000000000105", "service", 0),
    ];
    for (id, category, cents) in seeds {
        insert.values_panic([
            id.into(),
            "default".into(),
            category.into(),
            "*".into(),
            "".into(),
            "USD".into(),
            cents.into(),
            now.into(),
        ]);
    }
    manager.exec_stmt(insert).await
}
