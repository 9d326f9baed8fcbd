//! The broker: durable topics and work queues behind one trait, with a
//! RabbitMQ implementation (lapin) and an in-process one.
//!
//! The contract both keep:
//! - [`Broker::publish`] returns only once the broker has the message
//!   (publisher confirms on RabbitMQ); a topic no queue is bound to is an error,
//!   never a silent drop;
//! - a consumer's message is acknowledged only after its handler succeeded;
//! - a failed handler sees the message again after a backoff, up to
//!   [`RetryPolicy::max_attempts`] times in all; then it is dead-lettered into
//!   `<queue>.dlq` with the last error, from where [`Broker::replay_dead_letters`]
//!   puts it back.

mod envelope;
mod memory;
mod rabbit;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use envelope::Envelope;
pub use memory::MemoryBroker;
pub use rabbit::RabbitBroker;

/// A broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker is unreachable or refused the operation.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// No queue is bound to the topic, so the message would be lost.
    #[error("no queue is bound to topic {0}")]
    Unroutable(String),
    /// The broker refused to take the message (publisher nack).
    #[error("broker refused the message on topic {0}")]
    Nacked(String),
    /// The queue was never declared.
    #[error("unknown queue {0}")]
    UnknownQueue(String),
}

/// A queue and the topics whose messages it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Queue name without the namespace, e.g. `tenancy.audit`.
    pub name: String,
    /// Exact topic names, e.g. `audit.event`.
    pub topics: Vec<String>,
}

impl QueueSpec {
    /// A queue bound to `topics`.
    pub fn new(name: impl Into<String>, topics: &[&str]) -> Self {
        Self {
            name: name.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
        }
    }
}

/// How often and how patiently a failed message is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Handler calls in all before the message is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub base_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Messages handled at once by one consumer.
    pub concurrency: u16,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            concurrency: 16,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`-th failure (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Why a handler could not process a message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    /// False when trying again cannot help (the message is dead-lettered at once).
    pub retryable: bool,
    /// What went wrong; stored with a dead letter.
    pub message: String,
}

impl HandlerError {
    /// A failure worth another attempt (a dependency was down, say).
    pub fn retry(message: impl std::fmt::Display) -> Self {
        Self {
            retryable: true,
            message: message.to_string(),
        }
    }

    /// A failure no retry can fix (a payload we cannot parse, say).
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        Self {
            retryable: false,
            message: message.to_string(),
        }
    }
}

/// Processes one message; must be idempotent (delivery is at least once).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles `envelope`; `Ok` acknowledges it.
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError>;
}

/// Durable publish and acknowledged consumption; see the module docs.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Creates the queue, its dead-letter queue and its topic bindings (idempotent).
    async fn declare(&self, spec: &QueueSpec) -> Result<(), BrokerError>;
    /// Publishes to `envelope.topic`; returns once the broker holds it.
    async fn publish(&self, envelope: Envelope) -> Result<(), BrokerError>;
    /// Puts a message straight into a declared queue (retries, replays).
    async fn send_to_queue(&self, queue: &str, envelope: Envelope) -> Result<(), BrokerError>;
    /// Starts consuming `queue` until the subscription is shut down.
    async fn consume(
        &self,
        queue: &str,
        handler: Arc<dyn Handler>,
        policy: RetryPolicy,
    ) -> Result<Subscription, BrokerError>;
    /// Messages waiting in `queue` (not counting those being handled).
    async fn queue_len(&self, queue: &str) -> Result<u64, BrokerError>;
    /// Moves every dead letter of `queue` back into it with a fresh attempt count.
    async fn replay_dead_letters(&self, queue: &str) -> Result<u64, BrokerError>;
    /// Whether the broker answers (for readiness).
    async fn ping(&self) -> Result<(), BrokerError>;
}

/// The dead-letter queue of `queue`.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// A running consumer; [`Subscription::shutdown`] stops taking messages and
/// waits for those in hand.
pub struct Subscription {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    fn new(stop: tokio::sync::watch::Sender<bool>, task: tokio::task::JoinHandle<()>) -> Self {
        Self { stop, task }
    }

    /// Stops the consumer gracefully.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// What became of a delivery whose handler ran; decides the ack.
#[derive(Debug, PartialEq, Eq)]
enum Settled {
    Done,
    Retried,
    DeadLettered,
}

/// Runs the handler on one delivery and, on failure, schedules the retry or the
/// dead letter. `Ok` means the original delivery may be acknowledged; `Err`
/// means it must not be (the broker keeps it and delivers it again).
async fn process(
    broker: &dyn Broker,
    queue: &str,
    envelope: Envelope,
    handler: &dyn Handler,
    policy: RetryPolicy,
) -> Result<Settled, BrokerError> {
    let attempt = envelope.attempt();
    let trace = envelope.trace_id().map(str::to_string);
    let outcome = crate::telemetry::with_trace_id(trace, handler.handle(&envelope)).await;
    let err = match outcome {
        Ok(()) => {
            metrics::counter!("aerostic_broker_handled_total", "queue" => queue.to_string(), "outcome" => "ok")
                .increment(1);
            return Ok(Settled::Done);
        }
        Err(err) => err,
    };
    if err.retryable && attempt < policy.max_attempts.max(1) {
        tracing::warn!(queue, attempt, error = %err.message, "handler failed; will retry");
        tokio::time::sleep(policy.backoff(attempt)).await;
        broker
            .send_to_queue(queue, envelope.retried(&err.message))
            .await?;
        metrics::counter!("aerostic_broker_handled_total", "queue" => queue.to_string(), "outcome" => "retry")
            .increment(1);
        Ok(Settled::Retried)
    } else {
        tracing::error!(queue, attempt, error = %err.message, "handler failed; dead-lettering");
        broker
            .send_to_queue(&dead_letter_queue(queue), envelope.dead(&err.message))
            .await?;
        metrics::counter!("aerostic_broker_handled_total", "queue" => queue.to_string(), "outcome" => "dead")
            .increment(1);
        Ok(Settled::DeadLettered)
    }
}

/// Connects the broker a URL names: `amqp://…` or `memory://`. With
/// `idle_queue_expiry`, RabbitMQ deletes queues left unused that long.
pub async fn connect(
    url: &str,
    namespace: &str,
    idle_queue_expiry: Option<Duration>,
) -> Result<Arc<dyn Broker>, BrokerError> {
    if url.starts_with("memory://") {
        Ok(Arc::new(MemoryBroker::new()))
    } else {
        let broker = RabbitBroker::connect(url, namespace).await?;
        Ok(Arc::new(broker.with_idle_queue_expiry(idle_queue_expiry)))
    }
}
