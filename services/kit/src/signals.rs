//! Signals: the activity the anomaly service watches (API calls, logins,
//! sends, webhook signature rejects), published by every service on the
//! broker's `signals.batch` topic.
//!
//! Recording never waits: a signal goes into a bounded channel and a
//! background task publishes what gathered every [`FLUSH`] (or every
//! [`MAX_BATCH`] signals) as one message. Signals are watch data, not
//! customers' messages: if the channel is full or the broker refuses a batch,
//! the signals are dropped and counted (`aerostic_signals_dropped_total`)
//! rather than slowing the request that made them.
//!
//! Accounts and recipients travel as keyed hashes ([`SignalKeys`]), never as
//! addresses: the windows in Redis and the alerts name no email or phone.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::broker::{Broker, Envelope};

/// The topic signal batches are published on.
pub const TOPIC: &str = "signals.batch";
/// Most signals in one published batch.
pub const MAX_BATCH: usize = 1000;
/// Longest a recorded signal waits before its batch is published.
pub const FLUSH: Duration = Duration::from_millis(50);
/// Signals waiting to be published before new ones are dropped.
const CAPACITY: usize = 50_000;

/// One thing that happened, attributed to whatever it can be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The workspace it concerns, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The API key that made the call, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// The client's IP address, when it came from outside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// What happened.
    pub kind: SignalKind,
}

/// What a [`Signal`] records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SignalKind {
    /// A REST call answered by the gateway.
    ApiCall {
        /// `GET`, `POST`, …
        method: String,
        /// The route's template (`/v1/messages/{id}`), not the raw path.
        route: String,
        /// The HTTP status answered.
        status: u16,
    },
    /// A login attempt.
    Login {
        /// The account's keyed hash ([`SignalKeys::account`]).
        account: String,
        /// Whether the password was right.
        ok: bool,
    },
    /// A message handed to Meta, or refused by it.
    Send {
        /// The recipient's keyed hash ([`SignalKeys::recipient`]).
        recipient: String,
        /// A template (rather than a free-form message).
        template: bool,
        /// The first message to this recipient from the workspace.
        #[serde(default)]
        new_recipient: bool,
        /// Meta took it.
        ok: bool,
    },
    /// A webhook whose signature did not verify.
    SignatureRejected,
}

impl Signal {
    /// A signal of `kind` happening now, attributed to nothing yet.
    pub fn now(kind: SignalKind) -> Self {
        Self {
            at_ms: chrono::Utc::now().timestamp_millis(),
            tenant_id: None,
            api_key_id: None,
            ip: None,
            kind,
        }
    }

    /// Attributed to `tenant`.
    pub fn tenant(mut self, tenant: impl ToString) -> Self {
        self.tenant_id = Some(tenant.to_string());
        self
    }

    /// Attributed to `key`.
    pub fn api_key(mut self, key: Option<&str>) -> Self {
        self.api_key_id = key.map(str::to_string);
        self
    }

    /// Attributed to `ip`.
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
}

/// Keyed hashes of accounts and recipients, so signals and what the anomaly
/// service derives from them name no address. The key comes from the audit
/// secret, which outlives JWT rotations, so every replica agrees.
#[derive(Clone)]
pub struct SignalKeys {
    key: Arc<[u8]>,
}

impl SignalKeys {
    /// Keys derived from `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Arc::from(secret),
        }
    }

    fn hash(&self, domain: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(domain.as_bytes());
        mac.update(b"|");
        mac.update(value.trim().to_lowercase().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// A login account (its email, case-insensitively).
    pub fn account(&self, email: &str) -> String {
        self.hash("account", email)
    }

    /// A message recipient (its number or WhatsApp id).
    pub fn recipient(&self, recipient: &str) -> String {
        self.hash("recipient", recipient)
    }
}

/// Where a process records signals; cheap to clone.
#[derive(Clone)]
pub struct Signals {
    sender: Option<mpsc::Sender<Signal>>,
}

impl Signals {
    /// Records nothing (tools, and tests that do not watch signals).
    pub fn off() -> Self {
        Self { sender: None }
    }

    /// Publishes recorded signals on `broker` from a background task, which
    /// ends once every clone of the returned handle is dropped.
    pub fn spawn(broker: Arc<dyn Broker>) -> Self {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        tokio::spawn(publish(broker, receiver));
        Self {
            sender: Some(sender),
        }
    }

    /// Queues `signal` for publishing; never waits.
    pub fn record(&self, signal: Signal) {
        if let Some(sender) = &self.sender
            && sender.try_send(signal).is_err()
        {
            metrics::counter!("aerostic_signals_dropped_total", "why" => "full").increment(1);
        }
    }
}

async fn publish(broker: Arc<dyn Broker>, mut receiver: mpsc::Receiver<Signal>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + FLUSH;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(signal)) => batch.push(signal),
                Ok(None) | Err(_) => break,
            }
        }
        let count = batch.len() as u64;
        let envelope = Envelope::json(TOPIC, &batch);
        batch.clear();
        match broker.publish(envelope).await {
            Ok(()) => metrics::counter!("aerostic_signals_published_total").increment(count),
            Err(e) => {
                tracing::warn!(error = %e, count, "could not publish signals; dropped");
                metrics::counter!("aerostic_signals_dropped_total", "why" => "broker")
                    .increment(count);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_name_no_address_and_ignore_case_and_spaces() {
        let keys = SignalKeys::new(b"a secret of some length, 32 bytes+");
        let a = keys.account("Ana@Example.com ");
        assert_eq!(a, keys.account("ana@example.com"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("ana"));
        assert_ne!(a, keys.recipient("ana@example.com"));
        assert_ne!(
            a,
            SignalKeys::new(b"another secret").account("ana@example.com")
        );
    }

    #[test]
    fn signals_travel_as_tagged_json() {
        let signal = Signal::now(SignalKind::Login {
            account: "ab".into(),
            ok: false,
        })
        .tenant("t1")
        .ip(Some("203.0.113.9".into()));
        let json = serde_json::to_value(&signal).unwrap();
        assert_eq!(json["kind"]["type"], "login");
        assert_eq!(json["tenant_id"], "t1");
        assert!(json.get("api_key_id").is_none());
        assert_eq!(serde_json::from_value::<Signal>(json).unwrap(), signal);
    }
}
