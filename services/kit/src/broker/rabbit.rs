//! The RabbitMQ broker on lapin: one durable topic exchange per namespace,
//! durable queues, persistent messages (transient for hints that say so),
//! publisher confirms, manual acks.
//!
//! Retries are republished by the consumer after the backoff rather than parked
//! in TTL queues: RabbitMQ expires per-message TTLs only at the head of a queue,
//! so a long wait would hold up a short one behind it. The original delivery
//! stays unacknowledged until its retry is confirmed, so a crash in between
//! means a redelivery, never a loss.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::task::JoinSet;

use super::{
    Broker, BrokerError, Envelope, Handler, QueueSpec, RetryPolicy, Subscription, process,
};

/// A [`Broker`] on a RabbitMQ server.
#[derive(Clone)]
pub struct RabbitBroker {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    publisher: Channel,
    namespace: String,
    idle_queue_expiry: Option<std::time::Duration>,
}

fn unavailable(e: lapin::Error) -> BrokerError {
    BrokerError::Unavailable(e.to_string())
}

impl RabbitBroker {
    /// Connects to `url` (e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`) and
    /// declares the namespace's exchange.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, BrokerError> {
        let connection = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            Connection::connect(url, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| BrokerError::Unavailable("no answer from RabbitMQ".into()))?
        .map_err(unavailable)?;
        let publisher = connection.create_channel().await.map_err(unavailable)?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(unavailable)?;
        let broker = Self {
            inner: Arc::new(Inner {
                connection,
                publisher,
                namespace: namespace.to_string(),
                idle_queue_expiry: None,
            }),
        };
        broker
            .inner
            .publisher
            .exchange_declare(
                broker.exchange().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        Ok(broker)
    }

    /// Declares queues so RabbitMQ deletes them once unused for `expiry`
    /// (tests, preview environments). Call before the broker is shared.
    pub fn with_idle_queue_expiry(self, expiry: Option<std::time::Duration>) -> Self {
        let Ok(mut inner) = Arc::try_unwrap(self.inner) else {
            panic!("with_idle_queue_expiry must be called before the broker is shared");
        };
        inner.idle_queue_expiry = expiry;
        Self {
            inner: Arc::new(inner),
        }
    }

    fn queue_arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if let Some(expiry) = self.inner.idle_queue_expiry {
            args.insert(
                "x-expires".into(),
                AMQPValue::LongLongInt(expiry.as_millis() as i64),
            );
        }
        args
    }

    fn exchange(&self) -> String {
        format!("{}.events", self.inner.namespace)
    }

    fn queue_name(&self, queue: &str) -> String {
        format!("{}.{queue}", self.inner.namespace)
    }

    async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        env: &Envelope,
    ) -> Result<(), BrokerError> {
        let mut headers = FieldTable::default();
        for (k, v) in &env.headers {
            headers.insert(
                ShortString::from(k.as_str()),
                AMQPValue::LongString(LongString::from(v.as_bytes())),
            );
        }
        headers.insert(
            "x-topic".into(),
            AMQPValue::LongString(LongString::from(env.topic.as_bytes())),
        );
        let properties = BasicProperties::default()
            .with_message_id(env.id.as_str().into())
            // 2: persistent, 1: transient (RabbitMQ's values).
            .with_delivery_mode(if env.persistent { 2 } else { 1 })
            .with_content_type("application/octet-stream".into())
            .with_headers(headers);
        let confirm = self
            .inner
            .publisher
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &env.payload,
                properties,
            )
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        if confirm.is_nack() {
            return Err(BrokerError::Nacked(env.topic.clone()));
        }
        if confirm.take_message().is_some() {
            return Err(BrokerError::Unroutable(routing_key.to_string()));
        }
        Ok(())
    }
}

fn envelope_of(properties: &BasicProperties, data: Vec<u8>) -> Envelope {
    let mut headers = BTreeMap::new();
    let mut topic = String::new();
    if let Some(table) = properties.headers() {
        for (k, v) in table {
            let value = match v {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.as_str().to_string(),
                other => format!("{other:?}"),
            };
            if k.as_str() == "x-topic" {
                topic = value;
            } else {
                headers.insert(k.as_str().to_string(), value);
            }
        }
    }
    let id = properties
        .message_id()
        .as_ref()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    Envelope {
        id,
        topic,
        headers,
        payload: data,
        persistent: *properties.delivery_mode() != Some(1),
    }
}

#[async_trait]
impl Broker for RabbitBroker {
    async fn declare(&self, spec: &QueueSpec) -> Result<(), BrokerError> {
        let channel = &self.inner.publisher;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let name = self.queue_name(&spec.name);
        channel
            .queue_declare(name.as_str().into(), durable, self.queue_arguments())
            .await
            .map_err(unavailable)?;
        let dlq = self.queue_name(&super::dead_letter_queue(&spec.name));
        channel
            .queue_declare(dlq.as_str().into(), durable, self.queue_arguments())
            .await
            .map_err(unavailable)?;
        for topic in &spec.topics {
            channel
                .queue_bind(
                    name.as_str().into(),
                    self.exchange().into(),
                    topic.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn publish(&self, envelope: Envelope) -> Result<(), BrokerError> {
        self.publish_raw(&self.exchange(), &envelope.topic.clone(), &envelope)
            .await
    }

    async fn send_to_queue(&self, queue: &str, envelope: Envelope) -> Result<(), BrokerError> {
        // The default exchange routes by queue name.
        self.publish_raw("", &self.queue_name(queue), &envelope)
            .await
    }

    async fn consume(
        &self,
        queue: &str,
        handler: Arc<dyn Handler>,
        policy: RetryPolicy,
    ) -> Result<Subscription, BrokerError> {
        let channel = self
            .inner
            .connection
            .create_channel()
            .await
            .map_err(unavailable)?;
        // Prefetch bounds how many messages are in hand, backoffs included.
        channel
            .basic_qos(policy.concurrency.max(1), BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
        let tag = format!("{}-{}", queue, uuid::Uuid::new_v4());
        let mut consumer = channel
            .basic_consume(
                self.queue_name(queue).as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let broker = self.clone();
        let name = queue.to_string();
        let task = tokio::spawn(async move {
            let mut in_hand = JoinSet::new();
            loop {
                let delivery = tokio::select! {
                    _ = stop_rx.changed() => break,
                    next = consumer.next() => next,
                };
                let delivery = match delivery {
                    Some(Ok(d)) => d,
                    Some(Err(e)) => {
                        tracing::error!(queue = %name, error = %e, "consumer failed");
                        break;
                    }
                    None => break,
                };
                let (broker, handler, name) = (broker.clone(), handler.clone(), name.clone());
                in_hand.spawn(async move {
                    let envelope = envelope_of(&delivery.properties, delivery.data.clone());
                    match process(&broker, &name, envelope, handler.as_ref(), policy).await {
                        Ok(_) => {
                            if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                                tracing::warn!(queue = %name, error = %e, "ack failed; message will be redelivered");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(queue = %name, error = %e, "could not settle; requeueing");
                            let _ = delivery.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
                        }
                    }
                });
                while in_hand.try_join_next().is_some() {}
            }
            while in_hand.join_next().await.is_some() {}
            let _ = channel.close(200, "consumer stopped".into()).await;
        });
        Ok(Subscription::new(stop_tx, task))
    }

    async fn queue_len(&self, queue: &str) -> Result<u64, BrokerError> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        // A passive declare of a missing queue closes the channel, so use a fresh one.
        let channel = self
            .inner
            .connection
            .create_channel()
            .await
            .map_err(unavailable)?;
        let declared = channel
            .queue_declare(
                self.queue_name(queue).as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await
            .map_err(|_| BrokerError::UnknownQueue(queue.to_string()));
        let _ = channel.close(200, "done".into()).await;
        Ok(u64::from(declared?.message_count()))
    }

    async fn replay_dead_letters(&self, queue: &str) -> Result<u64, BrokerError> {
        let channel = self
            .inner
            .connection
            .create_channel()
            .await
            .map_err(unavailable)?;
        let dlq = self.queue_name(&super::dead_letter_queue(queue));
        let mut moved = 0;
        loop {
            let got = channel
                .basic_get(dlq.as_str().into(), BasicGetOptions::default())
                .await
                .map_err(unavailable)?;
            let Some(message) = got else { break };
            let delivery = message.delivery;
            let envelope = envelope_of(&delivery.properties, delivery.data.clone()).replayed();
            // Acked only after the copy is confirmed in the live queue.
            self.send_to_queue(queue, envelope).await?;
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(unavailable)?;
            moved += 1;
        }
        let _ = channel.close(200, "done".into()).await;
        Ok(moved)
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        if self.inner.connection.status().connected() {
            Ok(())
        } else {
            Err(BrokerError::Unavailable(
                "connection to RabbitMQ lost".into(),
            ))
        }
    }
}
