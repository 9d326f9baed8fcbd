//! `POST /{version}/{phone-number-id}/messages`: the send endpoint, with the
//! checks and limits of META_API.md §5–§8 in the order Meta applies them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::error::MetaError;
use crate::switches::WindowMode;
use crate::world::{SentMessage, World};

/// Text bodies longer than this are refused.
pub const MAX_TEXT: usize = 4096;
/// Media captions and interactive bodies longer than this are refused.
pub const MAX_CAPTION: usize = 1024;

/// Whether a path segment is a Graph version such as `v21.0`.
pub fn is_version(v: &str) -> bool {
    v.strip_prefix('v')
        .and_then(|rest| rest.strip_suffix(".0"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A Graph call's version segment and bearer token, checked; returns the
/// token's WABA. Every Graph endpoint starts here.
pub fn caller(world: &World, version: &str, headers: &HeaderMap) -> Result<String, MetaError> {
    if !is_version(version) {
        return Err(MetaError::unknown_path(version));
    }
    authorize(world, headers)
}

/// The bearer token of a request, checked against the world; returns its WABA.
pub fn authorize(world: &World, headers: &HeaderMap) -> Result<String, MetaError> {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(MetaError::missing_token());
    };
    let token = value.strip_prefix("Bearer ").unwrap_or_default().trim();
    let known = world
        .tokens
        .get(token)
        .ok_or_else(|| MetaError::invalid_token(false))?;
    if known.expires_at.is_some_and(|at| world.now() >= at) {
        return Err(MetaError::invalid_token(true));
    }
    Ok(known.waba_id.clone())
}

/// Normalises `to` (`+`, spaces, `-`, parentheses allowed) to a wa_id.
pub fn normalize_to(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')'))
        .collect();
    (8..=15)
        .contains(&digits.len())
        .then_some(digits)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn too_long(field: &str, max: usize) -> MetaError {
    MetaError::invalid_parameter(format!(
        "Param {field} must be at most {max} characters long."
    ))
}

fn check_len(v: &Value, key: &str, field: &str, max: usize) -> Result<(), MetaError> {
    match str_at(v, key) {
        Some(s) if s.chars().count() > max => Err(too_long(field, max)),
        _ => Ok(()),
    }
}

/// Validates the type-specific object of a free-form message.
fn validate_content(kind: &str, body: &Value) -> Result<(), MetaError> {
    let object = body.get(kind).ok_or_else(|| {
        MetaError::invalid_parameter(format!("The parameter {kind} is required."))
    })?;
    match kind {
        "text" => {
            let text = str_at(object, "body").ok_or_else(|| {
                MetaError::invalid_parameter("The parameter text['body'] is required.")
            })?;
            if text.chars().count() > MAX_TEXT {
                return Err(too_long("text['body']", MAX_TEXT));
            }
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            let (id, link) = (str_at(object, "id"), str_at(object, "link"));
            if id.is_some() == link.is_some() {
                return Err(MetaError::invalid_parameter(format!(
                    "Exactly one of {kind}['id'] or {kind}['link'] is required."
                )));
            }
            if matches!(kind, "audio" | "sticker") && object.get("caption").is_some() {
                return Err(MetaError::invalid_parameter(format!(
                    "Param {kind}['caption'] is not allowed."
                )));
            }
            check_len(
                object,
                "caption",
                &format!("{kind}['caption']"),
                MAX_CAPTION,
            )?;
        }
        "location" => {
            for key in ["latitude", "longitude"] {
                if object.get(key).is_none() {
                    return Err(MetaError::invalid_parameter(format!(
                        "The parameter location['{key}'] is required."
                    )));
                }
            }
        }
        "reaction" => {
            if str_at(object, "message_id").is_none_or(str::is_empty) {
                return Err(MetaError::invalid_parameter(
                    "The parameter reaction['message_id'] is required.",
                ));
            }
        }
        "interactive" => validate_interactive(object)?,
        "contacts" => {
            let cards = object.as_array().map(Vec::as_slice).unwrap_or_default();
            if cards.is_empty() {
                return Err(MetaError::invalid_parameter(
                    "The parameter contacts must be a non-empty array.",
                ));
            }
            if cards.iter().any(|c| {
                c["name"]["formatted_name"]
                    .as_str()
                    .is_none_or(str::is_empty)
            }) {
                return Err(MetaError::invalid_parameter(
                    "The parameter contacts[0]['name']['formatted_name'] is required.",
                ));
            }
        }
        other => return Err(MetaError::unsupported_type(other)),
    }
    Ok(())
}

fn validate_interactive(i: &Value) -> Result<(), MetaError> {
    let kind = str_at(i, "type").ok_or_else(|| {
        MetaError::invalid_parameter("The parameter interactive['type'] is required.")
    })?;
    let body = i.get("body").ok_or_else(|| {
        MetaError::invalid_parameter("The parameter interactive['body'] is required.")
    })?;
    check_len(body, "text", "interactive['body']['text']", MAX_CAPTION)?;
    if let Some(footer) = i.get("footer") {
        check_len(footer, "text", "interactive['footer']['text']", 60)?;
    }
    if let Some(header) = i.get("header") {
        check_len(header, "text", "interactive['header']['text']", 60)?;
    }
    let action = i.get("action").ok_or_else(|| {
        MetaError::invalid_parameter("The parameter interactive['action'] is required.")
    })?;
    match kind {
        "button" => {
            let buttons = action
                .get("buttons")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if buttons.is_empty() || buttons.len() > 3 {
                return Err(MetaError::invalid_parameter(
                    "interactive['action']['buttons'] must have 1 to 3 buttons.",
                ));
            }
            for b in buttons {
                let reply = b.get("reply").cloned().unwrap_or_default();
                check_len(&reply, "title", "buttons['reply']['title']", 20)?;
                check_len(&reply, "id", "buttons['reply']['id']", 256)?;
            }
        }
        "list" => {
            let sections = action
                .get("sections")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if sections.is_empty() || sections.len() > 10 {
                return Err(MetaError::invalid_parameter(
                    "interactive['action']['sections'] must have 1 to 10 sections.",
                ));
            }
            let rows: Vec<&Value> = sections
                .iter()
                .flat_map(|s| {
                    s.get("rows")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                })
                .collect();
            if rows.is_empty() || rows.len() > 10 {
                return Err(MetaError::invalid_parameter(
                    "A list must have 1 to 10 rows in total.",
                ));
            }
            for r in rows {
                check_len(r, "title", "rows['title']", 24)?;
                check_len(r, "id", "rows['id']", 200)?;
                check_len(r, "description", "rows['description']", 72)?;
            }
        }
        "cta_url" => {
            let params = action.get("parameters").cloned().unwrap_or_default();
            if str_at(&params, "url").is_none() || str_at(&params, "display_text").is_none() {
                return Err(MetaError::invalid_parameter(
                    "cta_url needs parameters['display_text'] and parameters['url'].",
                ));
            }
        }
        other => return Err(MetaError::unsupported_type(&format!("interactive.{other}"))),
    }
    Ok(())
}

/// The send endpoint.
pub async fn send(
    State(sandbox): State<Sandbox>,
    Path((version, object_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, MetaError> {
    let _counted = sandbox.send_started();
    // One lock for the whole send; the answer waits outside it.
    let (latency, outcome) = {
        let mut world = sandbox.world();
        let latency = world.switches_for(&object_id).latency_ms;
        (
            latency,
            send_now(&mut world, version, object_id, &headers, &body),
        )
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let (answer, early) = outcome?;
    if let Some((url, payload)) = early {
        // The `sent` status races ahead of the answer, as it can with Meta.
        crate::webhooks::deliver_now(&sandbox, &url, &payload).await;
    }
    Ok(Json(answer))
}

/// A webhook to deliver before the send call answers: callback and payload.
type Early = Option<(String, Value)>;

/// Everything a send does, under the world's lock (no awaits).
fn send_now(
    world: &mut World,
    version: String,
    object_id: String,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Value, Early), MetaError> {
    let trace = world.trace_id();
    let with_trace = |mut e: MetaError| {
        e.fbtrace_id = trace.clone();
        e
    };
    let waba = caller(world, &version, headers).map_err(&with_trace)?;
    let Some(registered) = world
        .numbers
        .get(&object_id)
        .filter(|n| n.waba_id == waba)
        .map(|n| n.registered)
    else {
        return Err(with_trace(MetaError::unknown_object(&object_id)));
    };
    if !registered {
        return Err(with_trace(MetaError::not_registered()));
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|_| with_trace(MetaError::invalid_parameter("Invalid JSON body.")))?;
    if str_at(&body, "messaging_product") != Some("whatsapp") {
        return Err(with_trace(MetaError::invalid_parameter(
            "The parameter messaging_product is required.",
        )));
    }
    if str_at(&body, "status") == Some("read") {
        if str_at(&body, "message_id").is_none_or(str::is_empty) {
            return Err(with_trace(MetaError::invalid_parameter(
                "The parameter message_id is required.",
            )));
        }
        return Ok((json!({"success": true}), None));
    }
    let raw_to = str_at(&body, "to")
        .ok_or_else(|| {
            with_trace(MetaError::invalid_parameter(
                "The parameter to is required.",
            ))
        })?
        .to_string();
    let to = normalize_to(&raw_to)
        .ok_or_else(|| with_trace(MetaError::parameter_value("Invalid 'to' parameter")))?;
    let kind = str_at(&body, "type").unwrap_or("text").to_string();
    // A template carries its own category; free-form messages are `service`.
    let category = if kind == "template" {
        Some(
            world
                .check_template_send(&waba, &body["template"])
                .map_err(&with_trace)?,
        )
    } else {
        validate_content(&kind, &body).map_err(&with_trace)?;
        None
    };
    if !world.take_throughput(&object_id) {
        return Err(with_trace(MetaError::throughput()));
    }
    if !world.take_pair(&object_id, &to) {
        return Err(with_trace(MetaError::pair_limit()));
    }
    let stopped = world
        .marketing_stopped
        .contains(&(object_id.clone(), to.clone()));
    if category.as_deref() == Some("marketing") && stopped {
        return Err(with_trace(MetaError::marketing_opt_out()));
    }
    let window_closed = category.is_none() && !world.window_open(&object_id, &to);
    let switches = world.switches_for(&object_id).clone();
    if window_closed && switches.window_mode == WindowMode::Sync {
        return Err(with_trace(MetaError::re_engagement()));
    }
    for injection in &switches.inject {
        if world.roll() < injection.rate
            && let Some(e) = crate::switches::injected(injection.code)
        {
            return Err(with_trace(e));
        }
    }
    // Templates outside a service window reach the user on the portfolio's
    // messaging limit; past it they are accepted, then fail (see portfolio.rs).
    let over_limit = if category.is_some() && !world.window_open(&object_id, &to) {
        world.reach(&waba, &to).err()
    } else {
        None
    };
    let id = world.wamid(&to);
    let timestamp = world.now();
    world.sent.push(SentMessage {
        id: id.clone(),
        phone_number_id: object_id.clone(),
        to: to.clone(),
        kind,
        body,
        timestamp,
    });
    let mut early: Early = None;
    if let Some(number) = world.numbers.get(&object_id).cloned() {
        let payloads = if window_closed {
            // Accepted, then failed: 131047 arrives as a status (async mode).
            vec![crate::webhooks::failed(
                &number,
                &id,
                &to,
                timestamp,
                &MetaError::re_engagement(),
            )]
        } else if let Some(error) = &over_limit {
            vec![crate::webhooks::failed(&number, &id, &to, timestamp, error)]
        } else {
            // The customer's phone takes it at once: sent, delivered, read.
            let mut steps = vec![("sent", true), ("delivered", true), ("read", false)];
            if switches.skip_delivered {
                steps.retain(|(s, _)| *s != "delivered");
            }
            if switches.reorder {
                steps.reverse();
            }
            steps
                .into_iter()
                .map(|(step, priced)| {
                    let pricing = priced.then_some(category.as_deref());
                    crate::webhooks::status(&number, &id, &to, step, timestamp, pricing)
                })
                .collect()
        };
        for payload in payloads {
            let is_sent =
                payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] == "sent";
            match world.callback_for(&number.waba_id, &payload) {
                Some(url) if switches.status_first && is_sent && early.is_none() => {
                    early = Some((url, payload));
                }
                _ => world.emit(&number.waba_id, &payload),
            }
        }
    }
    let answer = json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": raw_to, "wa_id": to}],
        "messages": [{"id": id}],
    });
    Ok((answer, early))
}
