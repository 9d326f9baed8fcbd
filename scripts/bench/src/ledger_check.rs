//! After a billing run: no balance ever went below zero, every transaction
//! balances, and how many transactions there are.

use sea_orm::DatabaseConnection;

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    aerostic_kit::db::testing::scalar(db, sql).await.unwrap()
}

/// (transactions, with a negative balance, unbalanced).
pub async fn check(db: &DatabaseConnection) -> (i64, i64, i64) {
    let negative = count(
        db,
        "SELECT COUNT(*) FROM ledger_transactions WHERE available_after < 0 OR held_after < 0",
    )
    .await;
    let unbalanced = count(
        db,
        "SELECT COUNT(*) FROM (SELECT transaction_id FROM ledger_postings GROUP BY transaction_id \
         HAVING SUM(amount) <> 0) u",
    )
    .await;
    let transactions = count(db, "SELECT COUNT(*) FROM ledger_transactions").await;
    (transactions, negative, unbalanced)
}
