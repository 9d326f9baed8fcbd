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

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2, "details": {}}})),
        )
            .into_response()
    }
}

fn check(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), ControlError> {
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

/// A customer's message to a business number.
#[derive(Deserialize)]
pub struct Inbound {
    /// The customer's number (any common format).
    from: String,
    /// The text they write.
    text: String,
}

/// `POST /_sandbox/numbers/{id}/inbound`: a customer writes; this opens (or
/// refreshes) the 24-hour window.
pub async fn inbound(
    State(sandbox): State<Sandbox>,
    Path(number): Path<String>,
    headers: HeaderMap,
    Json(msg): Json<Inbound>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    check(&sandbox, &headers)?;
    let from = normalize_to(&msg.from).ok_or_else(|| {
        ControlError(
            StatusCode::BAD_REQUEST,
            "invalid_phone",
            "from must be 8 to 15 digits".into(),
        )
    })?;
    let mut world = sandbox.world();
    if !world.numbers.contains_key(&number) {
        return Err(unknown_number(&number));
    }
    let id = world.wamid(&from);
    let now = world.now();
    world.last_inbound.insert((number, from.clone()), now);
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "from": from, "text": msg.text, "timestamp": now.to_string()})),
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
