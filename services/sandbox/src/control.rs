//! The control API under `/_sandbox/…`: what a test or a developer does in
//! place of a real customer and a real clock. It has a token of its own
//! (`Authorization: Bearer <control token>`), distinct from Graph tokens.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::send::normalize_to;

/// A control API failure, in Aerostic's own error shape.
pub struct ControlError(StatusCode, &'static str, String);

impl ControlError {
    /// 400 with `message`.
    pub fn bad_request(message: &str) -> Self {
        Self(StatusCode::BAD_REQUEST, "invalid_request", message.into())
    }

    /// 404 with `message`.
    pub fn not_found(message: String) -> Self {
        Self(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2, "details": {}}})),
        )
            .into_response()
    }
}

pub(crate) fn check(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), ControlError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented == Some(sandbox.control_token()) {
        Ok(())
    } else {
        Err(ControlError(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send the sandbox control token as a bearer token".into(),
        ))
    }
}

fn unknown_number(id: &str) -> ControlError {
    ControlError(
        StatusCode::NOT_FOUND,
        "unknown_phone_number",
        format!("no sandbox number {id}"),
    )
}

/// Inbound message types of META_API.md §2.
pub const INBOUND_TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "unsupported",
];

/// A customer's message to a business number: `text` for the common case, or
/// `type` plus the same-named object in Meta's shape for any other.
#[derive(Deserialize)]
pub struct Inbound {
    /// The customer's number (any common format); absent for username-only users.
    from: Option<String>,
    /// The business-scoped user id (BSUID), e.g. `US.13491208655302741918`.
    user_id: Option<String>,
    /// Shorthand for a text message.
    text: Option<String>,
    /// Any type of §2.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Their WhatsApp profile name.
    #[serde(default = "default_name")]
    name: String,
    /// Optional `context` (reply, forwarded, product inquiry).
    context: Option<Value>,
    /// Optional `referral` (Click-to-WhatsApp ads).
    referral: Option<Value>,
    /// The type's object, under its own name.
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

fn default_name() -> String {
    "Sandbox Customer".into()
}

/// `POST /_sandbox/numbers/{id}/inbound`: a customer writes; this opens (or
/// refreshes) the 24-hour window and sends the `messages` webhook.
pub async fn inbound(
    State(sandbox): State<Sandbox>,
    Path(number): Path<String>,
    headers: HeaderMap,
    Json(msg): Json<Inbound>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    check(&sandbox, &headers)?;
    let from = match &msg.from {
        Some(raw) => Some(normalize_to(raw).ok_or_else(|| {
            ControlError(
                StatusCode::BAD_REQUEST,
                "invalid_phone",
                "from must be 8 to 15 digits".into(),
            )
        })?),
        None => None,
    };
    let user_id = msg.user_id.clone().filter(|u| !u.is_empty());
    let Some(who) = from.clone().or_else(|| user_id.clone()) else {
        return Err(ControlError::bad_request(
            "give from (a phone number) or user_id (a BSUID)",
        ));
    };
    let (kind, object) = match (&msg.text, &msg.kind) {
        (Some(text), _) => ("text".to_string(), json!({"body": text})),
        (None, Some(kind)) if INBOUND_TYPES.contains(&kind.as_str()) => {
            let object = msg.rest.get(kind).cloned().ok_or_else(|| {
                ControlError::bad_request(
                    "the message object must sit under a key named like its type",
                )
            })?;
            (kind.clone(), object)
        }
        _ => {
            return Err(ControlError::bad_request(
                "give text, or type (one of META_API.md section 2) and its object",
            ));
        }
    };
    let mut world = sandbox.world();
    if !world.numbers.contains_key(&number) {
        return Err(unknown_number(&number));
    }
    let id = world.wamid(&who);
    let now = world.now();
    world
        .last_inbound
        .insert((number.clone(), who.clone()), now);
    let line = world.numbers[&number].clone();
    let inbound = crate::webhooks::InboundMessage {
        from: from.as_deref(),
        user_id: user_id.as_deref(),
        name: &msg.name,
        kind: &kind,
        object: &object,
        context: msg.context.as_ref(),
        referral: msg.referral.as_ref(),
    };
    let payload = crate::webhooks::inbound(&line, &id, &inbound, now);
    world.emit(&line.waba_id, &payload);
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": id, "from": from, "user_id": user_id, "type": kind, "timestamp": now.to_string()}),
        ),
    ))
}

/// Filter of `GET /_sandbox/numbers/{id}/sent`.
#[derive(Deserialize)]
pub struct SentFilter {
    /// Only messages to this wa_id.
    to: Option<String>,
}

/// `GET /_sandbox/numbers/{id}/sent`: what the business sent, oldest first.
pub async fn sent(
    State(sandbox): State<Sandbox>,
    Path(number): Path<String>,
    Query(filter): Query<SentFilter>,
    headers: HeaderMap,
) -> Result<Json<Value>, ControlError> {
    check(&sandbox, &headers)?;
    let world = sandbox.world();
    if !world.numbers.contains_key(&number) {
        return Err(unknown_number(&number));
    }
    let to = filter.to.as_deref().and_then(normalize_to);
    let messages: Vec<_> = world
        .sent
        .iter()
        .filter(|m| m.phone_number_id == number && to.as_ref().is_none_or(|t| &m.to == t))
        .collect();
    Ok(Json(json!({ "data": messages })))
}

/// Body of `POST /_sandbox/clock`.
#[derive(Deserialize)]
pub struct Advance {
    /// Seconds to move the sandbox clock forward.
    advance_secs: u64,
}

/// `POST /_sandbox/clock`: moves time forward (windows close, limits refill).
pub async fn clock(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Json(advance): Json<Advance>,
) -> Result<Json<Value>, ControlError> {
    check(&sandbox, &headers)?;
    let mut world = sandbox.world();
    world.advance(Duration::from_secs(advance.advance_secs));
    Ok(Json(json!({"now": world.now()})))
}

/// `POST /_sandbox/reset`: back to the seed state.
pub async fn reset(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
) -> Result<StatusCode, ControlError> {
    check(&sandbox, &headers)?;
    sandbox.reset();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /_sandbox/deliveries`: every webhook delivery attempt, oldest first.
pub async fn deliveries(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
) -> Result<Json<Value>, ControlError> {
    check(&sandbox, &headers)?;
    let world = sandbox.world();
    Ok(Json(
        json!({"data": world.attempts, "pending": world.deliveries.len()}),
    ))
}

/// `GET /_sandbox/stats`: `sends_in_flight_peak`, the most send calls
/// answered at once since the start or the last reset (what a sender's
/// concurrency looks like from Meta's side).
pub async fn stats(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
) -> Result<Json<Value>, ControlError> {
    check(&sandbox, &headers)?;
    Ok(Json(
        json!({"sends_in_flight_peak": sandbox.sends_in_flight_peak()}),
    ))
}

/// Body of `POST /_sandbox/numbers/{id}/preferences`.
#[derive(Deserialize)]
pub struct Preference {
    /// The customer.
    wa_id: String,
    /// `stop` or `resume` marketing messages.
    value: String,
}

/// `POST /_sandbox/numbers/{id}/preferences`: the customer stops (or resumes)
/// marketing messages in WhatsApp itself; emits a `user_preferences` webhook.
pub async fn preferences(
    State(sandbox): State<Sandbox>,
    Path(number): Path<String>,
    headers: HeaderMap,
    Json(pref): Json<Preference>,
) -> Result<Json<Value>, ControlError> {
    check(&sandbox, &headers)?;
    let wa_id = normalize_to(&pref.wa_id)
        .ok_or_else(|| ControlError::bad_request("wa_id must be 8 to 15 digits"))?;
    let mut world = sandbox.world();
    let Some(line) = world.numbers.get(&number).cloned() else {
        return Err(unknown_number(&number));
    };
    let key = (number, wa_id.clone());
    let detail = match pref.value.as_str() {
        "stop" => {
            world.marketing_stopped.insert(key);
            "User requested to stop marketing messages"
        }
        "resume" => {
            world.marketing_stopped.remove(&key);
            "User requested to resume marketing messages"
        }
        _ => return Err(ControlError::bad_request("value must be stop or resume")),
    };
    let now = world.now();
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": line.waba_id, "changes": [{
    "field": "user_preferences",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": line.display_phone_number, "phone_number_id": line.id},
        "user_preferences": [{"wa_id": wa_id, "category": "marketing_messages", "value": pref.value,
                              "detail": detail, "timestamp": now}],
    }}]}]});
    world.emit(&line.waba_id, &payload);
    Ok(Json(json!({"wa_id": wa_id, "marketing": pref.value})))
}

/// Body of `POST /_sandbox/numbers`.
#[derive(Deserialize)]
pub struct NewNumber {
    /// 80 (default), 1000 (upgraded) or 20 (coexistence with the Business app).
    #[serde(default = "default_throughput")]
    throughput_per_sec: u32,
}

fn default_throughput() -> u32 {
    80
}

/// `POST /_sandbox/numbers`: another registered number on the seeded WABA,
/// with a throughput tier.
pub async fn add_number(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Json(req): Json<NewNumber>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    check(&sandbox, &headers)?;
    if ![20, 80, 1000].contains(&req.throughput_per_sec) {
        return Err(ControlError::bad_request(
            "throughput_per_sec must be 20, 80 or 1000",
        ));
    }
    let mut world = sandbox.world();
    let n = world.numbers.len() as u64 + 1;
    let id = format!("{}", 430_000_000_000_000u64 + n);
    let number = crate::world::Number {
        id: id.clone(),
        waba_id: sandbox.seed().waba_id.clone(),
        display_phone_number: format!("1555100{n:04}"),
        throughput_per_sec: req.throughput_per_sec,
        registered: true,
        pin: None,
        register_calls: Vec::new(),
        announced: true,
    };
    world.numbers.insert(id.clone(), number.clone());
    Ok((StatusCode::CREATED, Json(json!(number))))
}

/// The Graph fields of a phone number (`GET /{version}/{phone-number-id}`).
pub fn number_fields(number: &crate::world::Number, world: &crate::world::World) -> Value {
    let level = match number.throughput_per_sec {
        1000 => "HIGH",
        20 => "COEXISTENCE",
        _ => "STANDARD",
    };
    json!({
        "id": number.id,
        "display_phone_number": number.display_phone_number,
        "verified_name": "Sandbox Business",
        "quality_rating": "GREEN",
        "code_verification_status": "VERIFIED",
        "platform_type": if number.registered { "CLOUD_API" } else { "NOT_APPLICABLE" },
        "throughput": {"level": level},
        "whatsapp_business_manager_messaging_limit": world.tier(&number.waba_id).name(),
        "webhook_configuration": world.callbacks.configuration(&number.waba_id, &number.id),
    })
}
