//! Realism switches (checklist §3): the ways Meta's real behaviour is messy,
//! each off by default and set through `POST /_sandbox/switches`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Sandbox;
use crate::control::{ControlError, check};
use crate::error::MetaError;

/// How a free-form send outside the 24-hour window fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowMode {
    /// A 400 with 131047 on the send call.
    #[default]
    Sync,
    /// A 200 on the send call, then a `failed` status carrying 131047.
    Async,
}

/// One error code to inject into sends at a rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    /// Meta's code, e.g. 131000.
    pub code: u32,
    /// Probability per send, 0..=1.
    pub rate: f64,
}

/// The switches; every field optional in the request, keeping its value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Switches {
    /// Sync or async 131047.
    pub window_mode: WindowMode,
    /// Probability that a webhook is delivered twice.
    pub duplicate_rate: f64,
    /// Emit an outbound message's statuses newest first (read, delivered, sent).
    pub reorder: bool,
    /// Skip `delivered` (a `read` without it).
    pub skip_delivered: bool,
    /// Up to this many updates per POST (1: no batching).
    pub batch_max: u32,
    /// Deliver the `sent` status before the send call answers.
    pub status_first: bool,
    /// Milliseconds to wait before answering a send.
    pub latency_ms: u64,
    /// Errors injected into otherwise valid sends.
    pub inject: Vec<Injection>,
}

impl Switches {
    fn validate(&self) -> Result<(), &'static str> {
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        if !rate_ok(self.duplicate_rate) || !self.inject.iter().all(|i| rate_ok(i.rate)) {
            return Err("rates must be between 0 and 1");
        }
        if self.batch_max > 1000 {
            return Err("batch_max must be at most 1000");
        }
        if self.latency_ms > 60_000 {
            return Err("latency_ms must be at most 60000");
        }
        if self.inject.iter().any(|i| injected(i.code).is_none()) {
            return Err(
                "inject codes must be among 131000, 131016, 131026, 131048, 131049, 131057, 130429, 131042, 131031",
            );
        }
        Ok(())
    }
}

/// The error Meta answers for an injectable `code`.
pub fn injected(code: u32) -> Option<MetaError> {
    let (status, message, details) = match code {
        131000 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Message failed to send due to an unknown error.",
        ),
        131016 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
            "A service is temporarily unavailable.",
        ),
        131026 => (
            StatusCode::BAD_REQUEST,
            "Message undeliverable",
            "Unable to deliver message.",
        ),
        131048 => (
            StatusCode::BAD_REQUEST,
            "Spam rate limit hit",
            "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
        ),
        131057 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Account in maintenance mode",
            "Business account is in maintenance mode",
        ),
        130429 => return Some(MetaError::throughput()),
        131049 => (
            StatusCode::BAD_REQUEST,
            "Message not delivered to maintain healthy ecosystem engagement",
            "This message was not delivered to maintain healthy ecosystem engagement.",
        ),
        131042 => (
            StatusCode::BAD_REQUEST,
            "Business eligibility payment issue",
            "Message failed to send because there were one or more errors related to your payment method.",
        ),
        131031 => (
            StatusCode::FORBIDDEN,
            "Business Account locked",
            "Message failed to send because your account has been locked.",
        ),
        _ => return None,
    };
    Some(MetaError::coded(status, code, message).details(details))
}

/// Which switches a control call addresses: the sandbox's, or one number's.
#[derive(Deserialize)]
pub struct Scope {
    /// A number whose sends get their own switches (delivery switches —
    /// duplicates, batching — stay sandbox-wide, as they belong to the callback).
    phone_number_id: Option<String>,
}

impl crate::world::World {
    /// The switches that govern sends from `number`.
    pub fn switches_for(&self, number: &str) -> Switches {
        self.number_switches
            .get(number)
            .unwrap_or(&self.switches)
            .clone()
    }
}

/// `GET /_sandbox/switches[?phone_number_id=]`.
pub async fn get(
    State(sandbox): State<Sandbox>,
    Query(scope): Query<Scope>,
    headers: HeaderMap,
) -> Result<Json<Switches>, ControlError> {
    check(&sandbox, &headers)?;
    let world = sandbox.world();
    Ok(Json(match scope.phone_number_id {
        Some(number) => world.switches_for(&number).clone(),
        None => world.switches.clone(),
    }))
}

/// `POST /_sandbox/switches[?phone_number_id=]`: replaces the fields given,
/// keeps the others (a number starts from the sandbox's switches).
pub async fn set(
    State(sandbox): State<Sandbox>,
    Query(scope): Query<Scope>,
    headers: HeaderMap,
    Json(patch): Json<Value>,
) -> Result<Json<Switches>, ControlError> {
    check(&sandbox, &headers)?;
    let mut world = sandbox.world();
    let current = match &scope.phone_number_id {
        Some(number) if !world.numbers.contains_key(number) => {
            return Err(ControlError::not_found(format!(
                "no sandbox number {number}"
            )));
        }
        Some(number) => world.switches_for(number).clone(),
        None => world.switches.clone(),
    };
    let mut merged = serde_json::to_value(&current).expect("switches serialise");
    let Some(fields) = patch.as_object() else {
        return Err(ControlError::bad_request("send a JSON object of switches"));
    };
    for (k, v) in fields {
        merged[k] = v.clone();
    }
    let next: Switches =
        serde_json::from_value(merged).map_err(|e| ControlError::bad_request(&e.to_string()))?;
    next.validate().map_err(ControlError::bad_request)?;
    match scope.phone_number_id {
        Some(number) => {
            world.number_switches.insert(number, next.clone());
        }
        None => world.switches = next.clone(),
    }
    Ok(Json(next))
}
