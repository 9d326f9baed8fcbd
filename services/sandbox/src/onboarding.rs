//! Embedded Signup and onboarding (§11): the popup's result (control API), the
//! server-to-server code exchange (codes live 30 s and work once), number
//! registration with a two-step PIN (133005, 133016), and `account_update`
//! PARTNER_ADDED once a number is registered.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::control::{ControlError, check};
use crate::error::MetaError;
use crate::world::{Number, Token};

/// How long an authorization code from the popup can be exchanged.
pub const CODE_TTL: Duration = Duration::from_secs(30);
/// Register calls allowed per number in [`REGISTER_WINDOW`].
pub const REGISTER_LIMIT: usize = 10;
/// The window of [`REGISTER_LIMIT`].
pub const REGISTER_WINDOW: Duration = Duration::from_secs(72 * 3600);

/// An authorization code waiting to be exchanged.
#[derive(Debug, Clone)]
pub struct Code {
    /// The WABA the business picked.
    pub waba_id: String,
    /// Sandbox seconds after which it is expired.
    pub expires_at: u64,
    /// Whether it was exchanged already.
    pub used: bool,
}

fn oauth(subcode: u32, message: &str) -> MetaError {
    MetaError::raw(StatusCode::BAD_REQUEST, 100, message).subcode(subcode)
}

/// `POST /_sandbox/signup`: a business finishes the Embedded Signup popup;
/// answers what the FINISH event carries, plus the code `FB.login` returns.
pub async fn signup(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    check(&sandbox, &headers)?;
    let mut world = sandbox.world();
    let n = world.numbers.len() as u64 + 1;
    let waba_id = format!("{}", 310_000_000_000_001u64 + n * 10);
    let phone_number_id = format!("{}", 420_000_000_000_002u64 + n * 10);
    let display = format!("1555000{:04}", 1111 + n);
    world.numbers.insert(
        phone_number_id.clone(),
        Number {
            id: phone_number_id.clone(),
            waba_id: waba_id.clone(),
            display_phone_number: display,
            throughput_per_sec: 80,
            registered: false,
            pin: None,
            register_calls: Vec::new(),
            announced: false,
        },
    );
    let code = format!("AQ{}", world.trace_id());
    let expires_at = world.now() + CODE_TTL.as_secs();
    world.codes.insert(
        code.clone(),
        Code {
            waba_id: waba_id.clone(),
            expires_at,
            used: false,
        },
    );
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"code": code, "type": "WA_EMBEDDED_SIGNUP", "event": "FINISH",
                    "data": {"phone_number_id": phone_number_id, "waba_id": waba_id,
                             "business_id": format!("{}", 900_000_000_000_003u64 + n)}}),
        ),
    ))
}

/// Query of the code exchange.
#[derive(Deserialize)]
pub struct Exchange {
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
}

/// `GET /{version}/oauth/access_token?client_id&client_secret&code`.
pub async fn exchange(
    State(sandbox): State<Sandbox>,
    Path(version): Path<String>,
    Query(q): Query<Exchange>,
) -> Result<Json<Value>, MetaError> {
    if !crate::send::is_version(&version) {
        return Err(MetaError::unknown_path(&version));
    }
    let seed = sandbox.seed().clone();
    if q.client_id.as_deref() != Some(seed.app_id.as_str())
        || q.client_secret.as_deref() != Some(seed.app_secret.as_str())
    {
        return Err(MetaError::raw(
            StatusCode::BAD_REQUEST,
            1,
            "Error validating client secret.",
        ));
    }
    let mut world = sandbox.world();
    let now = world.now();
    let code = q.code.unwrap_or_default();
    let Some(entry) = world.codes.get_mut(&code) else {
        return Err(oauth(36007, "Invalid verification code format."));
    };
    if entry.used {
        return Err(oauth(36009, "This authorization code has been used."));
    }
    if now >= entry.expires_at {
        return Err(oauth(36007, "This authorization code has expired."));
    }
    entry.used = true;
    let waba_id = entry.waba_id.clone();
    let token = format!("EAAG{}", world.trace_id());
    world.tokens.insert(
        token.clone(),
        Token {
            waba_id,
            expires_at: None,
        },
    );
    Ok(Json(json!({"access_token": token, "token_type": "bearer"})))
}

/// Body of `POST /{version}/{phone-number-id}/register`.
#[derive(Deserialize)]
pub struct Register {
    messaging_product: Option<String>,
    pin: Option<String>,
}

/// `POST /{version}/{phone-number-id}/register`: sets the two-step PIN if
/// none is set, else it must match; 10 calls per 72 h.
pub async fn register(
    State(sandbox): State<Sandbox>,
    Path((version, number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, MetaError> {
    let mut world = sandbox.world();
    let waba = crate::send::caller(&world, &version, &headers)?;
    if world
        .numbers
        .get(&number_id)
        .is_none_or(|n| n.waba_id != waba)
    {
        return Err(MetaError::unknown_object(&number_id));
    }
    let req: Register = serde_json::from_slice(&body)
        .map_err(|_| MetaError::invalid_parameter("Invalid JSON body."))?;
    if req.messaging_product.as_deref() != Some("whatsapp") {
        return Err(MetaError::invalid_parameter(
            "The parameter messaging_product is required.",
        ));
    }
    let pin = req.pin.unwrap_or_default();
    if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MetaError::invalid_parameter("Param pin must be 6 digits."));
    }
    let now = world.now();
    let number = world.numbers.get_mut(&number_id).expect("checked");
    number
        .register_calls
        .retain(|at| now < at + REGISTER_WINDOW.as_secs());
    if number.register_calls.len() >= REGISTER_LIMIT {
        return Err(MetaError::coded(
            StatusCode::BAD_REQUEST,
            133016,
            "Account register deregister rate limit exceeded",
        ));
    }
    number.register_calls.push(now);
    match &number.pin {
        Some(existing) if *existing != pin => {
            return Err(MetaError::coded(
                StatusCode::BAD_REQUEST,
                133005,
                "Two step verification PIN Mismatch",
            ));
        }
        Some(_) => {}
        None => number.pin = Some(pin),
    }
    number.registered = true;
    let first_time = !number.announced;
    number.announced = true;
    let waba_id = number.waba_id.clone();
    if first_time {
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "time": now,
            "changes": [{"field": "account_update", "value": {"event": "PARTNER_ADDED",
                "waba_info": {"waba_id": waba_id, "owner_business_id": "900000000000003"}}}]}]});
        world.emit(&waba_id, &payload);
    }
    Ok(Json(json!({"success": true})))
}

/// Query of `debug_token`.
#[derive(Deserialize)]
pub struct DebugToken {
    input_token: Option<String>,
    access_token: Option<String>,
}

/// `GET /{version}/debug_token?input_token=…` with the app token: what a
/// token may reach. The redirect variant of Embedded Signup learns the WABA
/// from `granular_scopes`; an unknown or expired token answers 200 with
/// `is_valid: false`, as Meta does.
pub async fn debug_token(
    State(sandbox): State<Sandbox>,
    Path(version): Path<String>,
    Query(q): Query<DebugToken>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    if !crate::send::is_version(&version) {
        return Err(MetaError::unknown_path(&version));
    }
    crate::callbacks::app_token(&sandbox, &headers, q.access_token.as_deref())?;
    let app_id = sandbox.seed().app_id.clone();
    let world = sandbox.world();
    let input = q.input_token.unwrap_or_default();
    let Some(token) = world
        .tokens
        .get(&input)
        .filter(|t| t.expires_at.is_none_or(|at| world.now() < at))
    else {
        return Ok(Json(json!({"data": {
            "app_id": app_id, "is_valid": false,
            "error": {"code": 190, "message": "Invalid OAuth access token."}}})));
    };
    Ok(Json(json!({"data": {
        "app_id": app_id,
        "type": "SYSTEM_USER",
        "is_valid": true,
        "expires_at": token.expires_at.unwrap_or(0),
        "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
        "granular_scopes": [
            {"scope": "whatsapp_business_management", "target_ids": [token.waba_id]},
            {"scope": "whatsapp_business_messaging", "target_ids": [token.waba_id]}
        ]
    }})))
}

/// `GET /{version}/{waba-id}/phone_numbers`: the WABA's numbers.
pub async fn phone_numbers(
    State(sandbox): State<Sandbox>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    let world = sandbox.world();
    let waba = crate::send::caller(&world, &version, &headers)?;
    if waba != waba_id {
        return Err(MetaError::unknown_object(&waba_id));
    }
    let mut numbers: Vec<&Number> = world
        .numbers
        .values()
        .filter(|n| n.waba_id == waba_id)
        .collect();
    numbers.sort_by(|a, b| a.id.cmp(&b.id));
    let data: Vec<Value> = numbers
        .into_iter()
        .map(|n| crate::control::number_fields(n, &world))
        .collect();
    Ok(Json(json!({"data": data})))
}
