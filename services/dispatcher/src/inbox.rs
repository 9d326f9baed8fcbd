//! Meta's webhooks in: the raw body is committed to `webhook_inbox` before
//! anything else (the gateway answers Meta only then; concurrent webhooks
//! share a commit), handed to a worker through the broker a batch at a
//! time, and marked processed once applied. A webhook whose
//! hand-off was lost (a crash between commit and publish, a worker that
//! died mid-way) stays unprocessed and is handed off again by the sweep, so
//! nothing stored is ever lost; applying twice changes nothing.

use std::sync::Arc;
use std::time::Duration;

use aerostic_kit::broker::{Broker, Envelope, Handler, HandlerError, QueueSpec};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::entity::webhook_inbox;
use crate::gate::ApplyGate;
use crate::ingest::{Ingest, IngestError};

/// The topic a stored webhook is handed off on.
pub const TOPIC: &str = "webhook.stored";
/// An unprocessed webhook handed off longer ago than this is handed off again.
pub const REQUEUE_AFTER: Duration = Duration::from_secs(30);

/// The workers' queue.
pub fn queue() -> QueueSpec {
    QueueSpec::new("dispatcher.webhooks", &[TOPIC])
}

/// The hand-off: which stored webhooks to apply.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    /// Their `webhook_inbox` ids.
    pub webhook_ids: Vec<String>,
}

/// Most webhooks committed in one statement.
pub const MAX_BATCH: usize = 256;
/// Commits in flight at once (PostgreSQL then groups their flushes).
const IN_FLIGHT: usize = 4;

struct Pending {
    body: Vec<u8>,
    received_at: chrono::DateTime<Utc>,
    reply: oneshot::Sender<Result<String, String>>,
}

/// Stores webhooks durably, many per commit: callers wait for their own
/// commit, and one hand-off per batch follows without holding them up (a
/// lost hand-off is swept up again).
#[derive(Clone)]
pub struct Intake {
    sender: mpsc::Sender<Pending>,
}

impl Intake {
    /// Starts the intake's batching task on `db`, handing off through
    /// `broker` and counting what it acknowledges on `gate`.
    pub fn start(db: DatabaseConnection, broker: Arc<dyn Broker>, gate: ApplyGate) -> Self {
        let (sender, mut receiver) = mpsc::channel::<Pending>(8 * MAX_BATCH);
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(IN_FLIGHT));
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let slot = slots.clone().acquire_owned().await.expect("never closed");
                let (db, broker, gate) = (db.clone(), broker.clone(), gate.clone());
                tokio::spawn(async move {
                    commit(&db, broker.as_ref(), &gate, batch).await;
                    drop(slot);
                });
            }
        });
        Self { sender }
    }

    /// Stores `body` durably; its id once committed.
    pub async fn store(
        &self,
        body: Vec<u8>,
        received_at: chrono::DateTime<Utc>,
    ) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending {
                body,
                received_at,
                reply,
            })
            .await
            .map_err(|_| "the intake stopped".to_string())?;
        answer.await.map_err(|_| "the intake stopped".to_string())?
    }
}

async fn commit(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    gate: &ApplyGate,
    batch: Vec<Pending>,
) {
    let now = Utc::now();
    let ids: Vec<String> = batch
        .iter()
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let rows = batch
        .iter()
        .zip(&ids)
        .map(|(p, id)| webhook_inbox::ActiveModel {
            id: Set(id.clone()),
            received_at: Set(p.received_at),
            body: Set(p.body.clone()),
            processed_at: Set(None),
            queued_at: Set(Some(now)),
            outcome: Set(String::new()),
        });
    match webhook_inbox::Entity::insert_many(rows).exec(db).await {
        Ok(_) => {
            gate.acknowledged(batch.len());
            for (p, id) in batch.into_iter().zip(&ids) {
                let _ = p.reply.send(Ok(id.clone()));
            }
            hand_off(broker, ids).await;
        }
        Err(e) => {
            tracing::error!(error = %e, webhooks = batch.len(), "storing webhooks failed; Meta will retry them");
            for p in batch {
                let _ = p.reply.send(Err(e.to_string()));
            }
        }
    }
}

async fn hand_off(broker: &dyn Broker, webhook_ids: Vec<String>) {
    let count = webhook_ids.len();
    // Transient: a hint, as the send hand-offs are; the inbox row is the
    // durable copy and the sweep hands it off again if this is lost.
    let envelope = Envelope::json(TOPIC, &Stored { webhook_ids }).transient();
    if let Err(e) = broker.publish(envelope).await {
        tracing::warn!(error = %e, webhooks = count, "handing stored webhooks off failed; the sweep will");
    }
}

/// Hands off again what stayed unprocessed since before `stale`; how many.
pub async fn requeue(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    stale: chrono::DateTime<Utc>,
) -> Result<usize, DbErr> {
    let ids: Vec<String> = webhook_inbox::Entity::find()
        .select_only()
        .column(webhook_inbox::Column::Id)
        .filter(webhook_inbox::Column::ProcessedAt.is_null())
        .filter(webhook_inbox::Column::QueuedAt.lt(stale))
        .order_by_asc(webhook_inbox::Column::ReceivedAt)
        .limit(500)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    webhook_inbox::Entity::update_many()
        .col_expr(webhook_inbox::Column::QueuedAt, Expr::value(Utc::now()))
        .filter(webhook_inbox::Column::Id.is_in(ids.clone()))
        .exec(db)
        .await?;
    let count = ids.len();
    for chunk in ids.chunks(MAX_BATCH) {
        hand_off(broker, chunk.to_vec()).await;
    }
    Ok(count)
}

/// Marks webhook `id` processed with `outcome` (inside the caller's
/// transaction when it applied the webhook).
pub async fn mark_processed(
    db: &impl sea_orm::ConnectionTrait,
    id: &str,
    outcome: &str,
) -> Result<(), DbErr> {
    webhook_inbox::Entity::update_many()
        .col_expr(webhook_inbox::Column::ProcessedAt, Expr::value(Utc::now()))
        .col_expr(
            webhook_inbox::Column::Outcome,
            Expr::value(outcome.chars().take(500).collect::<String>()),
        )
        .filter(webhook_inbox::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Sweeps every few seconds until aborted.
pub fn spawn_sweep(
    db: DatabaseConnection,
    broker: std::sync::Arc<dyn Broker>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let after = chrono::Duration::from_std(REQUEUE_AFTER).expect("small");
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            match requeue(&db, broker.as_ref(), Utc::now() - after).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(webhooks = n, "unprocessed webhooks handed off again"),
                Err(e) => tracing::warn!(error = %e, "the webhook sweep failed"),
            }
        }
    })
}

/// Applies each handed-off webhook once.
pub struct Worker {
    db: DatabaseConnection,
    ingest: Ingest,
    gate: ApplyGate,
}

impl Worker {
    /// A worker applying webhooks of `db` with `ingest`, a hand-off at a
    /// time when `gate` gives it a turn.
    pub fn new(db: DatabaseConnection, ingest: Ingest, gate: ApplyGate) -> Self {
        Self { db, ingest, gate }
    }
}

#[async_trait::async_trait]
impl Handler for Worker {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let stored: Stored = envelope.parse().map_err(HandlerError::permanent)?;
        let _turn = self.gate.turn().await;
        let rows = webhook_inbox::Entity::find()
            .filter(webhook_inbox::Column::Id.is_in(stored.webhook_ids))
            .filter(webhook_inbox::Column::ProcessedAt.is_null())
            .order_by_asc(webhook_inbox::Column::Id)
            .all(&self.db)
            .await
            .map_err(HandlerError::retry)?;
        // All in one transaction; if that fails, each on its own, in order:
        // what was applied stays applied if a later one fails and the
        // hand-off comes again.
        let batch: Vec<(String, Vec<u8>)> = rows
            .iter()
            .map(|r| (r.id.clone(), r.body.clone()))
            .collect();
        match self.ingest.apply_batch(&batch).await {
            Ok(()) => {
                metrics::counter!("aerostic_webhooks_applied_total").increment(batch.len() as u64);
                return Ok(());
            }
            Err(e) => {
                tracing::debug!(error = %e, "a batch failed; applying its webhooks one by one")
            }
        }
        for row in rows {
            match self.ingest.apply(&row.id, &row.body).await {
                // Applied and marked processed in one transaction.
                Ok(_) => metrics::counter!("aerostic_webhooks_applied_total").increment(1),
                Err(IngestError::Malformed(why)) => {
                    tracing::warn!(webhook_id = %row.id, "a stored webhook is not Meta's shape; kept as received");
                    mark_processed(&self.db, &row.id, &format!("malformed: {why}"))
                        .await
                        .map_err(HandlerError::retry)?;
                }
                Err(e) => return Err(HandlerError::retry(e)),
            }
        }
        Ok(())
    }
}
