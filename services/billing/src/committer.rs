//! Wallet batches committed together: each wallet's writer hands its batch
//! in and waits; on PostgreSQL the batches of every wallet ready at the same
//! moment go as one statement ([`crate::store_pg`]). A statement that hits a
//! unique key stores nothing, so its batches are then committed one by one:
//! only the wallet that collided sees the conflict (and replays).

use std::sync::Arc;

use aerostic_kit::batch::Batcher;
use aerostic_kit::ids::TenantId;
use sea_orm::{DatabaseConnection, DbBackend, DbErr};

use crate::store::{self, Batch, StoreError};

/// Most wallet batches in one statement.
const WALLETS: usize = 64;
/// Statements in flight at once. One: each then carries every wallet that
/// became ready while the last committed, and none queues behind another's
/// WAL flush. Measured (BENCHMARKS.md, 2026-12-04): one in flight sends
/// 1,070-1,200 msg/s end to end at 1.6-1.8 CPU-s per 1,000 messages; two
/// fell to 705-844 msg/s, four to 582-621, and a statement per wallet gave
/// 915-945.
const LANES: usize = 1;

type Item = (TenantId, Arc<Batch>);

/// Commits wallet batches (see the module).
#[derive(Clone)]
pub struct Committer {
    db: DatabaseConnection,
    /// `None` on SQLite: one process, nothing to wait for on the wire.
    together: Option<Batcher<Item, (), StoreError>>,
}

impl Committer {
    /// Commits to `db`; starts the batching task on PostgreSQL.
    pub fn new(db: DatabaseConnection) -> Self {
        let together = (db.get_database_backend() == DbBackend::Postgres).then(|| {
            let db = db.clone();
            Batcher::spawn(WALLETS, LANES, move |items: Vec<Item>| {
                let db = db.clone();
                async move { commit_together(&db, items).await }
            })
        });
        Self { db, together }
    }

    /// Appends `batch` to `tenant`'s ledger atomically, once it is durable.
    pub async fn commit(&self, tenant: TenantId, batch: Arc<Batch>) -> Result<(), StoreError> {
        match &self.together {
            Some(together) => together
                .submit((tenant, batch))
                .await
                .map_err(|e| StoreError::Database(DbErr::Custom(e.to_string())))?,
            None => store::commit(&self.db, tenant, &batch).await,
        }
    }
}

/// One statement for all; if it fails, each batch alone.
async fn commit_together(db: &DatabaseConnection, items: Vec<Item>) -> Vec<Result<(), StoreError>> {
    let all: Vec<(TenantId, &Batch)> = items.iter().map(|(t, b)| (*t, b.as_ref())).collect();
    if items.len() > 1 && crate::store_pg::commit_many(db, &all).await.is_ok() {
        return items.iter().map(|_| Ok(())).collect();
    }
    let mut answers = Vec::with_capacity(items.len());
    for (tenant, batch) in &items {
        answers.push(store::commit(db, *tenant, batch).await);
    }
    answers
}
