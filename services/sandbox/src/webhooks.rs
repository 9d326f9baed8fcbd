//! Webhooks out: callback verification before anything is sent (§1), payloads
//! in Meta's shapes (§2), escaped-unicode bodies signed twice (§3), and
//! retries with exponential backoff over a horizon on the sandbox clock (§4).

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::error::MetaError;
use crate::wire::{escaped_json, signature_256, signature_sha1};
use crate::world::{Number, World};

/// One webhook waiting to be delivered (or retried).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Sequence number, for the attempt log.
    pub id: u64,
    /// The callback.
    pub url: String,
    /// The exact bytes to send and sign (frozen at the first try).
    pub body: Vec<u8>,
    /// While batching, the payload still taking updates.
    pub pending: Option<Value>,
    /// Updates in this delivery.
    pub items: u32,
    /// Attempts made so far.
    pub attempts: u32,
    /// Sandbox time of the first try.
    pub created_at: f64,
    /// Sandbox time of the next try.
    pub next_at: f64,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// The delivery it belongs to.
    pub delivery_id: u64,
    /// 1 for the first try.
    pub attempt: u32,
    /// The receiver's status, or 0 for a network failure.
    pub status: u16,
    /// Sandbox time (Unix seconds).
    pub at: u64,
    /// Whether the delivery is finished (delivered or given up).
    pub final_outcome: Option<&'static str>,
}

/// Seconds a batch stays open for more updates (with `batch_max` > 1).
const BATCH_WAIT: f64 = 0.05;

/// How patiently webhooks are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Wait after the first failure; doubles after each.
    pub base: Duration,
    /// Give up once a retry would fall beyond this since the first try.
    pub horizon: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            horizon: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

fn value_header(number: &Number) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": number.display_phone_number, "phone_number_id": number.id},
    })
}

fn envelope(waba_id: &str, value: Value) -> Value {
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}]})
}

/// A customer's message, as the control API describes it.
pub struct InboundMessage<'a> {
    /// Their number (wa_id), if they have one.
    pub from: Option<&'a str>,
    /// Their BSUID, if any.
    pub user_id: Option<&'a str>,
    /// Their profile name.
    pub name: &'a str,
    /// The message type.
    pub kind: &'a str,
    /// The type's object.
    pub object: &'a Value,
    /// Optional `context`.
    pub context: Option<&'a Value>,
    /// Optional `referral`.
    pub referral: Option<&'a Value>,
}

/// The `messages` webhook of a customer's message of any type.
pub fn inbound(number: &Number, wamid: &str, msg: &InboundMessage<'_>, at: u64) -> Value {
    let mut value = value_header(number);
    if msg.kind != "system" {
        let mut contact = json!({"profile": {"name": msg.name}});
        if let Some(from) = msg.from {
            contact["wa_id"] = json!(from);
        }
        if let Some(user_id) = msg.user_id {
            contact["user_id"] = json!(user_id);
        }
        value["contacts"] = json!([contact]);
    }
    let mut message = json!({"id": wamid, "timestamp": at.to_string(), "type": msg.kind});
    message[msg.kind] = msg.object.clone();
    if let Some(from) = msg.from {
        message["from"] = json!(from);
    }
    if let Some(user_id) = msg.user_id {
        message["from_user_id"] = json!(user_id);
    }
    if let Some(context) = msg.context {
        message["context"] = context.clone();
    }
    if let Some(referral) = msg.referral {
        message["referral"] = referral.clone();
    }
    value["messages"] = json!([message]);
    envelope(&number.waba_id, value)
}

/// The `messages` webhook of one status of an outbound message. `pricing` is
/// `None` for no pricing block, `Some(None)` for a free service message and
/// `Some(Some(category))` for a charged template.
pub fn status(
    number: &Number,
    wamid: &str,
    recipient: &str,
    status: &str,
    at: u64,
    pricing: Option<Option<&str>>,
) -> Value {
    let mut entry = json!({"id": wamid, "status": status, "timestamp": at.to_string(), "recipient_id": recipient});
    match pricing {
        None => {}
        Some(None) => {
            entry["pricing"] = json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service",
                                      "category": "service"});
        }
        Some(Some(category)) => {
            entry["pricing"] = json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": category});
        }
    }
    let mut value = value_header(number);
    value["statuses"] = json!([entry]);
    envelope(&number.waba_id, value)
}

impl World {
    /// Queues `payload` for the callback it routes to, if any (twice, at the
    /// duplicate rate).
    pub fn emit(&mut self, waba_id: &str, payload: &Value) {
        let Some(callback) = self.callback_for(waba_id, payload) else {
            return;
        };
        let copies = if self.roll() < self.switches.duplicate_rate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            self.queue(&callback, payload.clone());
        }
        self.wake.notify_one();
    }

    /// Adds `payload` to an open batch for `url`, or queues it on its own.
    fn queue(&mut self, url: &str, payload: Value) {
        let now = self.now_secs_f64();
        let batch_max = self.switches.batch_max.max(1);
        if batch_max > 1 {
            let open = self
                .deliveries
                .iter_mut()
                .find(|d| d.url == url && d.pending.is_some() && d.items < batch_max);
            if let Some(batch) = open {
                let entries = payload["entry"].as_array().cloned().unwrap_or_default();
                if let Some(list) = batch
                    .pending
                    .as_mut()
                    .and_then(|p| p["entry"].as_array_mut())
                {
                    list.extend(entries);
                }
                batch.items += 1;
                return;
            }
        }
        self.delivery_seq += 1;
        let batching = batch_max > 1;
        self.deliveries.push(Delivery {
            id: self.delivery_seq,
            url: url.to_string(),
            body: if batching {
                Vec::new()
            } else {
                escaped_json(&payload)
            },
            pending: batching.then_some(payload),
            items: 1,
            attempts: 0,
            created_at: now,
            // A batch stays open briefly to collect updates.
            next_at: if batching { now + BATCH_WAIT } else { now },
        });
    }
}

/// The `failed` status of an accepted message, carrying Meta's error.
pub fn failed(number: &Number, wamid: &str, recipient: &str, at: u64, error: &MetaError) -> Value {
    let title = error
        .message
        .split_once(") ")
        .map_or(error.message.as_str(), |(_, t)| t);
    let entry = json!({"id": wamid, "status": "failed", "timestamp": at.to_string(), "recipient_id": recipient,
        "errors": [{"code": error.code, "title": title, "message": title,
                    "error_data": {"details": error.details.clone().unwrap_or_default()},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]});
    let mut value = value_header(number);
    value["statuses"] = json!([entry]);
    envelope(&number.waba_id, value)
}

/// `GET <callback>?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…` must
/// answer 200 with exactly the challenge, or nothing is ever sent there.
pub async fn verify_callback(
    http: &reqwest::Client,
    url: &str,
    verify_token: &str,
    challenge: &str,
) -> Result<(), String> {
    let reply = http
        .get(url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.challenge", challenge),
            ("hub.verify_token", verify_token),
        ])
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| format!("URL couldn't be validated: {e}"))?;
    let status = reply.status().as_u16();
    let body = reply.text().await.unwrap_or_default();
    if status != 200 {
        return Err(format!(
            "URL couldn't be validated. Response status {status}"
        ));
    }
    if body != challenge {
        return Err(format!(
            "Response does not match challenge, expected value=\"{challenge}\", received=\"{body}\""
        ));
    }
    Ok(())
}

/// Error 2200: the callback did not pass verification.
pub fn verification_failed(why: String) -> MetaError {
    MetaError::coded(
        axum::http::StatusCode::BAD_REQUEST,
        2200,
        &format!("Callback verification failed with the following errors: {why}"),
    )
}

/// Delivers one webhook right now (for `status_first`); on failure it joins
/// the retry queue like any other.
pub async fn deliver_now(sandbox: &Sandbox, url: &str, payload: &Value) {
    let body = escaped_json(payload);
    let secret = sandbox.seed().app_secret.clone().into_bytes();
    let status = sandbox
        .http()
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature_256(&secret, &body))
        .header("x-hub-signature", signature_sha1(&secret, &body))
        .body(body.clone())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let mut world = sandbox.world();
    let now = world.now_secs_f64();
    world.delivery_seq += 1;
    let id = world.delivery_seq;
    let delivered = status == 200;
    world.attempts.push(Attempt {
        delivery_id: id,
        attempt: 1,
        status,
        at: now as u64,
        final_outcome: delivered.then_some("delivered"),
    });
    if !delivered {
        let next_at = now + sandbox.retry_policy().base.as_secs_f64();
        world.deliveries.push(Delivery {
            id,
            url: url.to_string(),
            body,
            pending: None,
            items: 1,
            attempts: 1,
            created_at: now,
            next_at,
        });
    }
}

/// Delivers due webhooks until the sandbox is dropped.
pub async fn deliver_forever(sandbox: Sandbox) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let secret = sandbox.seed().app_secret.clone().into_bytes();
    loop {
        let (due, wake, policy) = {
            let mut world = sandbox.world();
            world.finish_reviews();
            let now = world.now_secs_f64();
            let (due, later): (Vec<Delivery>, Vec<Delivery>) =
                std::mem::take(&mut world.deliveries)
                    .into_iter()
                    .partition(|d| d.next_at <= now);
            world.deliveries = later;
            (due, world.wake.clone(), sandbox.retry_policy())
        };
        let mut tries = tokio::task::JoinSet::new();
        for mut d in due {
            if let Some(payload) = d.pending.take() {
                d.body = escaped_json(&payload);
            }
            let (http, secret) = (http.clone(), secret.clone());
            tries.spawn(async move {
                let status = http
                    .post(&d.url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", signature_256(&secret, &d.body))
                    .header("x-hub-signature", signature_sha1(&secret, &d.body))
                    .body(d.body.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (d, status)
            });
        }
        while let Some(Ok((mut d, status))) = tries.join_next().await {
            let mut world = sandbox.world();
            let now = world.now_secs_f64();
            d.attempts += 1;
            let backoff = policy.base.as_secs_f64() * 2f64.powi(d.attempts as i32 - 1);
            let outcome = if status == 200 {
                Some("delivered")
            } else if now + backoff > d.created_at + policy.horizon.as_secs_f64() {
                Some("gave_up")
            } else {
                None
            };
            world.attempts.push(Attempt {
                delivery_id: d.id,
                attempt: d.attempts,
                status,
                at: now as u64,
                final_outcome: outcome,
            });
            if outcome.is_none() {
                d.next_at = now + backoff;
                world.deliveries.push(d);
            }
        }
        // Sleep until woken by a new webhook, or poll for retries falling due.
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}
