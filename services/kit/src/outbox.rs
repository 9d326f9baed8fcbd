//! The transactional outbox: an event that follows a database write is staged
//! in the same transaction, and a relay publishes it afterwards, so a commit
//! without its event (or an event without its commit) cannot happen.
//!
//! Each service owns its outbox table (columns `id`, `topic`, `headers`,
//! `payload`, `created_at`; see the migrations). Delivery is at least once: a
//! crash between publish and delete publishes again, and consumers dedupe by
//! envelope id.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Value};
use tokio::sync::Notify;

use crate::broker::{Broker, BrokerError, Envelope};

/// One service's outbox table and the signal that wakes its relay.
#[derive(Clone)]
pub struct Outbox {
    table: &'static str,
    wake: Arc<Notify>,
}

impl Outbox {
    /// The outbox stored in `table`.
    pub fn new(table: &'static str) -> Self {
        Self {
            table,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Stages `envelope` inside the caller's transaction (or connection).
    pub async fn stage<C: ConnectionTrait>(
        &self,
        conn: &C,
        envelope: &Envelope,
    ) -> Result<(), DbErr> {
        let headers = serde_json::to_string(&envelope.headers).expect("string map serialises");
        let stmt = Query::insert()
            .into_table(Alias::new(self.table))
            .columns(["id", "topic", "headers", "payload", "created_at"].map(Alias::new))
            .values_panic([
                envelope.id.clone().into(),
                envelope.topic.clone().into(),
                headers.into(),
                envelope.payload.clone().into(),
                chrono::Utc::now().into(),
            ])
            .to_owned();
        conn.execute(&stmt).await.map(|_| ())
    }

    /// Asks the relay to run now (call after the staging transaction commits).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Publishes up to `batch` staged events, oldest first, deleting each once
    /// the broker confirmed it. Returns how many were published.
    pub async fn relay_once(
        &self,
        db: &DatabaseConnection,
        broker: &dyn Broker,
        batch: u64,
    ) -> Result<usize, DbErr> {
        let select = Query::select()
            .columns(["id", "topic", "headers", "payload"].map(Alias::new))
            .from(Alias::new(self.table))
            .order_by(Alias::new("created_at"), Order::Asc)
            .order_by(Alias::new("id"), Order::Asc)
            .limit(batch)
            .to_owned();
        let rows = db.query_all(&select).await?;
        let mut envelopes = Vec::with_capacity(rows.len());
        for row in rows {
            let headers: String = row.try_get("", "headers")?;
            envelopes.push(Envelope {
                id: row.try_get("", "id")?,
                topic: row.try_get("", "topic")?,
                headers: serde_json::from_str(&headers).unwrap_or_default(),
                payload: row.try_get("", "payload")?,
                persistent: true,
            });
        }
        // The round's publishes go out together and are confirmed together:
        // one at a time, each waiting for its confirm, caps a relay at a
        // few hundred events a second under load.
        let outcomes =
            futures::future::join_all(envelopes.iter().map(|e| broker.publish(e.clone()))).await;
        let mut published: Vec<String> = Vec::new();
        for (envelope, outcome) in envelopes.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {}
                // Nobody subscribes to this topic: an event, like any
                // pub/sub message, then has no one to reach. Every queue the
                // platform consumes is declared before its events flow
                // (`aerostic migrate`, and each service at start), so this
                // is a topic no service reads yet; it must not hold up the
                // events behind it.
                Err(BrokerError::Unroutable(_)) => {
                    tracing::debug!(table = self.table, topic = %envelope.topic, "no subscriber; event dropped");
                    metrics::counter!("aerostic_outbox_unrouted_total", "topic" => envelope.topic.clone())
                        .increment(1);
                }
                Err(e) => {
                    // Kept in the table; the next round tries again (the
                    // ones after it that went out are kept too, and
                    // published again: consumers dedupe by envelope id).
                    tracing::warn!(table = self.table, error = %e, "outbox publish failed; will retry");
                    metrics::counter!("aerostic_outbox_publish_failures_total", "table" => self.table)
                        .increment(1);
                    break;
                }
            }
            published.push(envelope.id.clone());
        }
        // One delete for the round: a crash before it publishes these again,
        // which consumers dedupe by envelope id.
        if !published.is_empty() {
            let delete = Query::delete()
                .from_table(Alias::new(self.table))
                .and_where(
                    Expr::col(Alias::new("id"))
                        .is_in(published.iter().map(|id| Value::from(id.clone()))),
                )
                .to_owned();
            db.execute(&delete).await?;
        }
        Ok(published.len())
    }

    /// Events staged and not yet published.
    pub async fn pending(&self, db: &DatabaseConnection) -> Result<u64, DbErr> {
        let count = Query::select()
            .expr_as(Expr::col(Alias::new("id")).count(), Alias::new("n"))
            .from(Alias::new(self.table))
            .to_owned();
        let row = db.query_one(&count).await?;
        Ok(row
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0) as u64)
    }

    /// Runs the relay until the task is aborted: on every wake-up, and at least
    /// every `interval` to pick up what an earlier crash or outage left behind.
    pub fn spawn_relay(
        self,
        db: DatabaseConnection,
        broker: Arc<dyn Broker>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                loop {
                    match self.relay_once(&db, broker.as_ref(), 100).await {
                        Ok(100) => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(table = self.table, error = %e, "outbox relay failed");
                            break;
                        }
                    }
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
            }
        })
    }
}
