//! Listening to the platform's events as another service would: a queue of
//! the test's own bound to a topic, each event parsed as it arrives.

use std::sync::Arc;

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec, RetryPolicy, Subscription};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::TestApp;

struct Forward<T>(mpsc::UnboundedSender<T>);

#[async_trait::async_trait]
impl<T: DeserializeOwned + Send + Sync + 'static> Handler for Forward<T> {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let event: T = envelope.parse().map_err(HandlerError::permanent)?;
        let _ = self.0.send(event);
        Ok(())
    }
}

/// Every event published on `topic` from now on, parsed as `T` (keep the
/// subscription alive while listening).
pub async fn listen<T: DeserializeOwned + Send + Sync + 'static>(
    app: &TestApp,
    topic: &str,
) -> (mpsc::UnboundedReceiver<T>, Subscription) {
    let broker = app.platform.broker.clone();
    let spec = QueueSpec::new(format!("test.listen.{topic}"), &[topic]);
    broker.declare(&spec).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let subscription = broker
        .consume(&spec.name, Arc::new(Forward(tx)), RetryPolicy::default())
        .await
        .unwrap();
    (rx, subscription)
}
