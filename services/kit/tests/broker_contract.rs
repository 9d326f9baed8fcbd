//! One contract, run against RabbitMQ (the machine's, on 127.0.0.1:5672) and
//! the in-process broker. Each test uses its own namespace and queue names.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aerostic_kit::broker::{
    Broker, BrokerError, Envelope, Handler, HandlerError, MemoryBroker, QueueSpec, RabbitBroker,
    RetryPolicy, Subscription, dead_letter_queue,
};
use async_trait::async_trait;
use tokio::sync::Mutex;

fn amqp_url() -> String {
    std::env::var("AEROSTIC_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        concurrency: 4,
    }
}

/// Fails the first `failures` calls (retryably, or permanently), then succeeds.
struct Flaky {
    failures: u32,
    permanent: bool,
    calls: AtomicU32,
    seen: Mutex<Vec<Envelope>>,
}

impl Flaky {
    fn new(failures: u32) -> Arc<Self> {
        Arc::new(Self {
            failures,
            permanent: false,
            calls: AtomicU32::new(0),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn permanent() -> Arc<Self> {
        Arc::new(Self {
            failures: u32::MAX,
            permanent: true,
            calls: AtomicU32::new(0),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Handler for Flaky {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.seen.lock().await.push(envelope.clone());
        if self.permanent {
            return Err(HandlerError::permanent("cannot parse"));
        }
        if n <= self.failures {
            Err(HandlerError::retry(format!("failure {n}")))
        } else {
            Ok(())
        }
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A fresh queue bound to `topic`, consumed by `handler` with up to
/// `attempts` tries per message.
async fn consuming(
    broker: &Arc<dyn Broker>,
    topic: &str,
    handler: Arc<dyn Handler>,
    attempts: u32,
) -> (QueueSpec, Subscription) {
    let spec = QueueSpec::new(unique("q"), &[topic]);
    broker.declare(&spec).await.unwrap();
    let sub = broker
        .consume(&spec.name, handler, fast_policy(attempts))
        .await
        .unwrap();
    (spec, sub)
}

async fn a_confirmed_publish_reaches_the_bound_queue(broker: Arc<dyn Broker>) {
    let spec = QueueSpec::new(unique("q"), &["orders.created"]);
    broker.declare(&spec).await.unwrap();
    let env = Envelope::new("orders.created", b"{\"n\":1}".to_vec());
    broker.publish(env.clone()).await.unwrap();
    eventually("the message is queued", async || {
        broker.queue_len(&spec.name).await.unwrap() == 1
    })
    .await;
    let handler = Flaky::new(0);
    let sub = broker
        .consume(&spec.name, handler.clone(), fast_policy(3))
        .await
        .unwrap();
    eventually("the handler ran", async || handler.calls() == 1).await;
    let seen = handler.seen.lock().await[0].clone();
    assert_eq!(
        (seen.id, seen.topic, seen.payload),
        (env.id, env.topic, env.payload)
    );
    sub.shutdown().await;
    assert_eq!(broker.queue_len(&spec.name).await.unwrap(), 0);
}

async fn a_topic_nobody_listens_to_is_refused_not_dropped(broker: Arc<dyn Broker>) {
    let err = broker
        .publish(Envelope::new(unique("nobody."), vec![1]))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Unroutable(_)), "{err:?}");
}

async fn a_failed_handler_gets_the_message_again_until_it_succeeds(broker: Arc<dyn Broker>) {
    let handler = Flaky::new(2);
    let (spec, sub) = consuming(&broker, "retry.me", handler.clone(), 5).await;
    broker
        .publish(Envelope::new("retry.me", b"x".to_vec()))
        .await
        .unwrap();
    eventually("the third attempt succeeded", async || handler.calls() == 3).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        handler.calls(),
        3,
        "a success is acknowledged and not delivered again"
    );
    let attempts: Vec<u32> = handler
        .seen
        .lock()
        .await
        .iter()
        .map(Envelope::attempt)
        .collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    sub.shutdown().await;
    assert_eq!(
        broker
            .queue_len(&dead_letter_queue(&spec.name))
            .await
            .unwrap(),
        0
    );
}

async fn a_message_that_keeps_failing_is_dead_lettered_after_n_tries_and_replays(
    broker: Arc<dyn Broker>,
) {
    let handler = Flaky::new(u32::MAX);
    let (spec, sub) = consuming(&broker, "always.fails", handler.clone(), 3).await;
    let env = Envelope::new("always.fails", b"payload".to_vec());
    broker.publish(env.clone()).await.unwrap();
    let dlq = dead_lettered(&broker, &spec.name).await;
    assert_eq!(handler.calls(), 3);
    sub.shutdown().await;

    // Replay into a handler that now works: same message, fresh attempt count.
    let replayed = replayed_into_a_working_handler(&broker, &spec.name).await;
    assert_eq!(replayed.id, env.id);
    assert_eq!(replayed.payload, env.payload);
    assert_eq!(replayed.attempt(), 1);
    assert_eq!(replayed.last_error(), Some("failure 3"));
    assert_eq!(broker.queue_len(&dlq).await.unwrap(), 0);
}

/// Waits until `queue`'s one message is dead-lettered; the dead letters' queue.
async fn dead_lettered(broker: &Arc<dyn Broker>, queue: &str) -> String {
    let dlq = dead_letter_queue(queue);
    eventually("it is dead-lettered", async || {
        broker.queue_len(&dlq).await.unwrap() == 1
    })
    .await;
    dlq
}

/// Replays `queue`'s one dead letter into a handler that works; what it got.
async fn replayed_into_a_working_handler(broker: &Arc<dyn Broker>, queue: &str) -> Envelope {
    let fixed = Flaky::new(0);
    let sub = broker
        .consume(queue, fixed.clone(), fast_policy(3))
        .await
        .unwrap();
    assert_eq!(broker.replay_dead_letters(queue).await.unwrap(), 1);
    eventually("the replayed message is handled", async || {
        fixed.calls() == 1
    })
    .await;
    sub.shutdown().await;
    fixed.seen.lock().await[0].clone()
}

async fn a_permanent_failure_is_dead_lettered_at_once(broker: Arc<dyn Broker>) {
    let handler = Flaky::permanent();
    let (spec, sub) = consuming(&broker, "poison", handler.clone(), 5).await;
    broker
        .publish(Envelope::new("poison", b"?".to_vec()))
        .await
        .unwrap();
    dead_lettered(&broker, &spec.name).await;
    assert_eq!(handler.calls(), 1);
    sub.shutdown().await;
}

async fn one_topic_fans_out_to_every_bound_queue_with_headers_intact(broker: Arc<dyn Broker>) {
    let topic = unique("fan.");
    let a = QueueSpec::new(unique("a"), &[topic.as_str()]);
    let b = QueueSpec::new(unique("b"), &[topic.as_str()]);
    broker.declare(&a).await.unwrap();
    broker.declare(&b).await.unwrap();
    let mut env = Envelope::new(topic.clone(), "héllo @ 🌍".as_bytes().to_vec());
    env.headers.insert("trace-id".into(), "abc123".into());
    broker.publish(env.clone()).await.unwrap();
    for spec in [&a, &b] {
        let handler = Flaky::new(0);
        let sub = broker
            .consume(&spec.name, handler.clone(), fast_policy(1))
            .await
            .unwrap();
        eventually("both queues got it", async || handler.calls() == 1).await;
        let got = handler.seen.lock().await[0].clone();
        assert_eq!(got.payload, env.payload);
        assert_eq!(got.trace_id(), Some("abc123"));
        sub.shutdown().await;
    }
}

async fn hints_stay_transient_but_their_dead_letters_are_kept(broker: Arc<dyn Broker>) {
    let handler = Flaky::new(1);
    let (_, sub) = consuming(&broker, "hint.retried", handler.clone(), 3).await;
    let hint = Envelope::new("hint.retried", b"h".to_vec()).transient();
    assert!(!hint.persistent);
    broker.publish(hint).await.unwrap();
    eventually("the retry succeeded", async || handler.calls() == 2).await;
    let kept: Vec<bool> = handler
        .seen
        .lock()
        .await
        .iter()
        .map(|e| e.persistent)
        .collect();
    assert_eq!(kept, vec![false, false], "delivered and retried as sent");
    sub.shutdown().await;

    let (spec, sub) = consuming(&broker, "hint.poison", Flaky::permanent(), 3).await;
    broker
        .publish(Envelope::new("hint.poison", b"?".to_vec()).transient())
        .await
        .unwrap();
    dead_lettered(&broker, &spec.name).await;
    sub.shutdown().await;
    assert!(
        replayed_into_a_working_handler(&broker, &spec.name)
            .await
            .persistent,
        "a dead letter waits on disk for someone to look at it"
    );
}

macro_rules! broker_contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            async fn broker() -> Arc<dyn Broker> {
                $make.await
            }

            #[tokio::test]
            async fn a_confirmed_publish_reaches_the_bound_queue() {
                super::a_confirmed_publish_reaches_the_bound_queue(broker().await).await;
            }

            #[tokio::test]
            async fn a_topic_nobody_listens_to_is_refused_not_dropped() {
                super::a_topic_nobody_listens_to_is_refused_not_dropped(broker().await).await;
            }

            #[tokio::test]
            async fn a_failed_handler_gets_the_message_again_until_it_succeeds() {
                super::a_failed_handler_gets_the_message_again_until_it_succeeds(broker().await)
                    .await;
            }

            #[tokio::test]
            async fn a_message_that_keeps_failing_is_dead_lettered_after_n_tries_and_replays() {
                super::a_message_that_keeps_failing_is_dead_lettered_after_n_tries_and_replays(
                    broker().await,
                )
                .await;
            }

            #[tokio::test]
            async fn a_permanent_failure_is_dead_lettered_at_once() {
                super::a_permanent_failure_is_dead_lettered_at_once(broker().await).await;
            }

            #[tokio::test]
            async fn hints_stay_transient_but_their_dead_letters_are_kept() {
                super::hints_stay_transient_but_their_dead_letters_are_kept(broker().await).await;
            }

            #[tokio::test]
            async fn one_topic_fans_out_to_every_bound_queue_with_headers_intact() {
                super::one_topic_fans_out_to_every_bound_queue_with_headers_intact(broker().await)
                    .await;
            }
        }
    };
}

broker_contract!(in_process, async {
    Arc::new(MemoryBroker::new()) as Arc<dyn Broker>
});
broker_contract!(rabbitmq, async {
    Arc::new(
        RabbitBroker::connect(&amqp_url(), &unique("test"))
            .await
            .expect("RabbitMQ on 127.0.0.1:5672")
            // The test's queues go away a minute after it ends.
            .with_idle_queue_expiry(Some(Duration::from_secs(60))),
    ) as Arc<dyn Broker>
});
