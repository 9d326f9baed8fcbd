//! Meta's webhooks in: the raw body is committed to `webhook_inbox` before
//! anything else (the gateway answers Meta only then), handed to a worker
//! through the broker, and marked processed once applied. A webhook whose
//! hand-off was lost (a crash between commit and publish, a worker that
//! died mid-way) stays unprocessed and is handed off again by the sweep, so
//! nothing stored is ever lost; applying twice changes nothing.

use std::time::Duration;

use aerostic_kit::broker::{Broker, Envelope, Handler, HandlerError, QueueSpec};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::entity::webhook_inbox;
use crate::ingest::{Ingest, IngestError};

/// The topic a stored webhook is handed off on.
pub const TOPIC: &str = "webhook.stored";
/// An unprocessed webhook handed off longer ago than this is handed off again.
pub const REQUEUE_AFTER: Duration = Duration::from_secs(30);

/// The workers' queue.
pub fn queue() -> QueueSpec {
    QueueSpec::new("dispatcher.webhooks", &[TOPIC])
}

/// The hand-off: which stored webhook to apply.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    /// Its `webhook_inbox` id.
    pub webhook_id: String,
}

/// Commits `body` and hands it off; its id. The answer waits for the commit
/// (durability), not for the hand-off: a lost hand-off is swept up again.
pub async fn store(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    body: Vec<u8>,
    received_at: chrono::DateTime<Utc>,
) -> Result<String, DbErr> {
    let id = uuid::Uuid::now_v7().to_string();
    webhook_inbox::Entity::insert(webhook_inbox::ActiveModel {
        id: Set(id.clone()),
        received_at: Set(received_at),
        body: Set(body),
        processed_at: Set(None),
        queued_at: Set(Some(Utc::now())),
        outcome: Set(String::new()),
    })
    .exec(db)
    .await?;
    hand_off(broker, &id).await;
    Ok(id)
}

async fn hand_off(broker: &dyn Broker, id: &str) {
    let envelope = Envelope::json(
        TOPIC,
        &Stored {
            webhook_id: id.to_string(),
        },
    );
    if let Err(e) = broker.publish(envelope).await {
        tracing::warn!(error = %e, webhook_id = id, "handing a stored webhook off failed; the sweep will");
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
    for id in &ids {
        webhook_inbox::Entity::update_many()
            .col_expr(webhook_inbox::Column::QueuedAt, Expr::value(Utc::now()))
            .filter(webhook_inbox::Column::Id.eq(id.clone()))
            .exec(db)
            .await?;
        hand_off(broker, id).await;
    }
    Ok(ids.len())
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
}

impl Worker {
    /// A worker applying webhooks of `db` with `ingest`.
    pub fn new(db: DatabaseConnection, ingest: Ingest) -> Self {
        Self { db, ingest }
    }

    async fn finish(&self, id: &str, outcome: String) -> Result<(), DbErr> {
        webhook_inbox::Entity::update_many()
            .col_expr(webhook_inbox::Column::ProcessedAt, Expr::value(Utc::now()))
            .col_expr(
                webhook_inbox::Column::Outcome,
                Expr::value(outcome.chars().take(500).collect::<String>()),
            )
            .filter(webhook_inbox::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map(|_| ())
    }
}

#[async_trait::async_trait]
impl Handler for Worker {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let stored: Stored = envelope.parse().map_err(HandlerError::permanent)?;
        let Some(row) = webhook_inbox::Entity::find_by_id(stored.webhook_id.clone())
            .one(&self.db)
            .await
            .map_err(HandlerError::retry)?
        else {
            return Err(HandlerError::permanent("no such stored webhook"));
        };
        if row.processed_at.is_some() {
            return Ok(());
        }
        match self.ingest.apply(&row.id, &row.body).await {
            Ok(s) => {
                metrics::counter!("aerostic_webhooks_applied_total").increment(1);
                let outcome = format!(
                    "messages {}, statuses {}, duplicates {}, unrouted {}",
                    s.messages, s.statuses, s.duplicates, s.unrouted
                );
                self.finish(&row.id, outcome)
                    .await
                    .map_err(HandlerError::retry)
            }
            Err(IngestError::Malformed(why)) => {
                tracing::warn!(webhook_id = %row.id, "a stored webhook is not Meta's shape; kept as received");
                self.finish(&row.id, format!("malformed: {why}"))
                    .await
                    .map_err(HandlerError::retry)
            }
            Err(e) => Err(HandlerError::retry(e)),
        }
    }
}
