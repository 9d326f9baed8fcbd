//! The signals consumer: each `signals.batch` message is folded into the
//! windows, scored and acted on.

use std::sync::Arc;

use aerostic_kit::broker::{Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::signals::{Signal, TOPIC};
use async_trait::async_trait;

use crate::service::Anomaly;

/// The anomaly service's queue of signal batches.
pub fn queue() -> QueueSpec {
    QueueSpec::new("anomaly.signals", &[TOPIC])
}

/// Folds signal batches into windows.
pub struct SignalConsumer {
    anomaly: Anomaly,
}

impl SignalConsumer {
    /// A consumer feeding `anomaly`.
    pub fn new(anomaly: Anomaly) -> Arc<Self> {
        Arc::new(Self { anomaly })
    }
}

#[async_trait]
impl Handler for SignalConsumer {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let signals: Vec<Signal> = envelope.parse().map_err(HandlerError::permanent)?;
        let started = std::time::Instant::now();
        // A redelivered batch counts its events twice; windows are rates, and
        // a retry happens only when the cache failed mid-way.
        self.anomaly
            .ingest(&signals)
            .await
            .map_err(HandlerError::retry)?;
        metrics::histogram!("aerostic_anomaly_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("aerostic_anomaly_signals_total").increment(signals.len() as u64);
        Ok(())
    }
}
