//! A message as it travels: id, topic, string headers and opaque bytes.

use std::collections::BTreeMap;

const ATTEMPT: &str = "x-attempt";
const LAST_ERROR: &str = "x-last-error";
const TRACE_ID: &str = "trace-id";

/// A message on the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id; consumers use it to stay idempotent.
    pub id: String,
    /// What it is about, e.g. `audit.event`.
    pub topic: String,
    /// Trace id, attempt count, last error and any caller's headers.
    pub headers: BTreeMap<String, String>,
    /// The body, usually JSON.
    pub payload: Vec<u8>,
    /// Whether the broker keeps it on disk until it is consumed (the
    /// default). A hint whose truth is stored elsewhere may travel
    /// transient ([`Envelope::transient`]): the broker then spends no disk
    /// write on it, and loses it only if the broker itself restarts.
    pub persistent: bool,
}

impl Envelope {
    /// A new message with a fresh id, carrying the current trace id.
    pub fn new(topic: impl Into<String>, payload: Vec<u8>) -> Self {
        let mut headers = BTreeMap::new();
        if let Some(trace) = crate::telemetry::current_trace_id() {
            headers.insert(TRACE_ID.to_string(), trace);
        }
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            topic: topic.into(),
            headers,
            payload,
            persistent: true,
        }
    }

    /// The same message, not kept on the broker's disk: for a hint that
    /// something durable will send again if it is lost.
    pub fn transient(mut self) -> Self {
        self.persistent = false;
        self
    }

    /// A new message whose payload is `value` as JSON.
    pub fn json<T: serde::Serialize>(topic: impl Into<String>, value: &T) -> Self {
        Self::new(
            topic,
            serde_json::to_vec(value).expect("a serialisable value"),
        )
    }

    /// The payload parsed as JSON.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }

    /// Which delivery attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.headers
            .get(ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1)
    }

    /// The trace id it carries, if any.
    pub fn trace_id(&self) -> Option<&str> {
        self.headers.get(TRACE_ID).map(String::as_str)
    }

    /// The error of the last failed attempt, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.headers.get(LAST_ERROR).map(String::as_str)
    }

    pub(crate) fn retried(mut self, error: &str) -> Self {
        let next = self.attempt() + 1;
        self.headers.insert(ATTEMPT.into(), next.to_string());
        self.headers.insert(LAST_ERROR.into(), error.to_string());
        self
    }

    pub(crate) fn dead(mut self, error: &str) -> Self {
        self.headers.insert(LAST_ERROR.into(), error.to_string());
        // A dead letter waits for someone to look at it: kept on disk.
        self.persistent = true;
        self
    }

    pub(crate) fn replayed(mut self) -> Self {
        self.headers.remove(ATTEMPT);
        self
    }
}
