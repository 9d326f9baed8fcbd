//! Where webhooks go (§1, §11). The app has one callback (set in the App
//! Dashboard, or with `POST /{app-id}/subscriptions` and an app token); a WABA
//! the app is subscribed to may override it, and so may a single number. A
//! webhook for a number goes to the number's override, else the WABA's, else
//! the app's, but only for the fields Meta lets overrides carry: template and
//! account-level fields always go to the app's callback. Every callback is
//! verified (§1) before it is saved; nothing is sent to an unsubscribed WABA.
//!
//! An absent `override_callback_uri` leaves an override as it was; an empty
//! one removes it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::error::MetaError;
use crate::world::World;

/// Fields an override may carry; the rest always go to the app's callback.
const OVERRIDABLE: [&str; 13] = [
    "messages",
    "message_echoes",
    "calls",
    "consumer_profile",
    "messaging_handovers",
    "group_lifecycle_update",
    "group_participants_update",
    "group_settings_update",
    "group_status_update",
    "smb_message_echoes",
    "smb_app_state_sync",
    "history",
    "account_settings_update",
];

/// The app's callback, its subscriptions and their overrides.
#[derive(Debug, Clone, Default)]
pub struct Callbacks {
    /// The app's own callback.
    pub app: Option<String>,
    /// Fields the app subscribed to; empty means every field (a sandbox
    /// convenience: tests that only set an override still hear everything).
    pub fields: Vec<String>,
    /// WABAs the app is subscribed to, with their override callback.
    pub wabas: HashMap<String, Option<String>>,
    /// Override callbacks of single numbers.
    pub numbers: HashMap<String, String>,
}

impl Callbacks {
    /// Where a webhook of `field` for `waba_id` (and the number in its
    /// metadata, if any) goes; `None` drops it, as Meta would.
    pub fn route(&self, waba_id: &str, number: Option<&str>, field: &str) -> Option<String> {
        let waba_override = self.wabas.get(waba_id)?;
        if !self.fields.is_empty() && !self.fields.iter().any(|f| f == field) {
            return None;
        }
        if OVERRIDABLE.contains(&field) {
            let by_number = number.and_then(|n| self.numbers.get(n));
            if let Some(url) = by_number.or(waba_override.as_ref()) {
                return Some(url.clone());
            }
        }
        self.app.clone()
    }

    /// The three levels as `GET /{phone-id}?fields=webhook_configuration` answers.
    pub fn configuration(&self, waba_id: &str, number: &str) -> Value {
        let mut config = serde_json::Map::new();
        if let Some(url) = self.numbers.get(number) {
            config.insert("phone_number".into(), json!(url));
        }
        if let Some(Some(url)) = self.wabas.get(waba_id) {
            config.insert("whatsapp_business_account".into(), json!(url));
        }
        if let Some(url) = &self.app {
            config.insert("application".into(), json!(url));
        }
        Value::Object(config)
    }
}

impl World {
    /// Where `payload` goes: by its WABA, its number and its field.
    pub fn callback_for(&self, waba_id: &str, payload: &Value) -> Option<String> {
        let change = &payload["entry"][0]["changes"][0];
        let number = change["value"]["metadata"]["phone_number_id"].as_str();
        let field = change["field"].as_str().unwrap_or_default();
        self.callbacks.route(waba_id, number, field)
    }
}

/// A callback to verify and save, as Graph bodies name it.
#[derive(Deserialize, Default)]
pub struct Override {
    override_callback_uri: Option<String>,
    verify_token: Option<String>,
}

/// Verifies `url` (§1) unless it is a removal; Meta's 2200 when it fails.
async fn verified(
    sandbox: &Sandbox,
    url: &str,
    verify_token: &str,
    trace: String,
) -> Result<(), MetaError> {
    if url.is_empty() {
        return Ok(());
    }
    if url.len() > 200 {
        let mut e =
            MetaError::invalid_parameter("override_callback_uri is limited to 200 characters.");
        e.fbtrace_id = trace;
        return Err(e);
    }
    let challenge = sandbox.world().now().to_string();
    crate::webhooks::verify_callback(sandbox.http(), url, verify_token, &challenge)
        .await
        .map_err(|why| {
            let mut e = crate::webhooks::verification_failed(why);
            e.fbtrace_id = trace;
            e
        })
}

fn traced(trace: &str) -> impl Fn(MetaError) -> MetaError + '_ {
    move |mut e| {
        e.fbtrace_id = trace.to_string();
        e
    }
}

/// `POST /{version}/{waba-id}/subscribed_apps`: subscribes the app to the WABA,
/// with an optional override callback that must pass verification first.
pub async fn subscribe(
    State(sandbox): State<Sandbox>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, MetaError> {
    let trace = {
        let mut world = sandbox.world();
        let trace = world.trace_id();
        let waba = crate::send::caller(&world, &version, &headers).map_err(traced(&trace))?;
        if waba != waba_id {
            return Err(traced(&trace)(MetaError::unknown_object(&waba_id)));
        }
        trace
    };
    let req: Override = if body.is_empty() {
        Override::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| traced(&trace)(MetaError::invalid_parameter("Invalid JSON body.")))?
    };
    if let Some(url) = &req.override_callback_uri {
        let token = req.verify_token.as_deref().unwrap_or_default();
        verified(&sandbox, url, token, trace).await?;
    }
    let mut world = sandbox.world();
    let current = world.callbacks.wabas.entry(waba_id).or_default();
    match req.override_callback_uri {
        Some(url) if url.is_empty() => *current = None,
        Some(url) => *current = Some(url),
        None => {}
    }
    Ok(Json(json!({"success": true})))
}

/// `GET /{version}/{waba-id}/subscribed_apps`: the app, if subscribed, with
/// its override callback.
pub async fn subscribed(
    State(sandbox): State<Sandbox>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    let world = sandbox.world();
    if crate::send::caller(&world, &version, &headers)? != waba_id {
        return Err(MetaError::unknown_object(&waba_id));
    }
    let seed = sandbox.seed();
    let data: Vec<Value> = world
        .callbacks
        .wabas
        .get(&waba_id)
        .map(|over| {
            let mut app = json!({"whatsapp_business_api_data": {"id": seed.app_id, "name": "Aerostic Sandbox App"}});
            if let Some(url) = over {
                app["override_callback_uri"] = json!(url);
            }
            app
        })
        .into_iter()
        .collect();
    Ok(Json(json!({"data": data})))
}

/// `DELETE /{version}/{waba-id}/subscribed_apps`: unsubscribes the app; no
/// more webhooks for this WABA go anywhere.
pub async fn unsubscribe(
    State(sandbox): State<Sandbox>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    let mut world = sandbox.world();
    if crate::send::caller(&world, &version, &headers)? != waba_id {
        return Err(MetaError::unknown_object(&waba_id));
    }
    world.callbacks.wabas.remove(&waba_id);
    Ok(Json(json!({"success": true})))
}

/// Body (or query) of `POST /{version}/{app-id}/subscriptions`.
#[derive(Deserialize, Default)]
pub struct AppSubscription {
    object: Option<String>,
    callback_url: Option<String>,
    verify_token: Option<String>,
    fields: Option<String>,
    access_token: Option<String>,
}

/// Checks the app access token (`{app-id}|{app-secret}`), as a bearer or as
/// the `access_token` parameter.
pub(crate) fn app_token(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    param: Option<&str>,
) -> Result<(), MetaError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(given) = bearer.or(param) else {
        return Err(MetaError::missing_token());
    };
    let seed = sandbox.seed();
    if given.trim() != format!("{}|{}", seed.app_id, seed.app_secret) {
        return Err(MetaError::invalid_token(false));
    }
    Ok(())
}

/// `POST /{version}/{app-id}/subscriptions`: sets the app's callback and
/// fields for `whatsapp_business_account`, after verifying the callback.
pub async fn subscribe_app(
    State(sandbox): State<Sandbox>,
    Path((version, app_id)): Path<(String, String)>,
    Query(query): Query<AppSubscription>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, MetaError> {
    if !crate::send::is_version(&version) {
        return Err(MetaError::unknown_path(&version));
    }
    let req: AppSubscription = if body.is_empty() {
        query
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| MetaError::invalid_parameter("Invalid JSON body."))?
    };
    app_token(&sandbox, &headers, req.access_token.as_deref())?;
    if app_id != sandbox.seed().app_id {
        return Err(MetaError::unknown_object(&app_id));
    }
    if req.object.as_deref() != Some("whatsapp_business_account") {
        return Err(MetaError::invalid_parameter(
            "The parameter object must be whatsapp_business_account.",
        ));
    }
    let Some(url) = req.callback_url.filter(|u| !u.is_empty()) else {
        return Err(MetaError::invalid_parameter(
            "The parameter callback_url is required.",
        ));
    };
    let fields: Vec<String> = req
        .fields
        .unwrap_or_default()
        .split(',')
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        return Err(MetaError::invalid_parameter(
            "The parameter fields is required.",
        ));
    }
    let trace = sandbox.world().trace_id();
    verified(
        &sandbox,
        &url,
        req.verify_token.as_deref().unwrap_or_default(),
        trace,
    )
    .await?;
    let mut world = sandbox.world();
    world.callbacks.app = Some(url);
    world.callbacks.fields = fields;
    Ok(Json(json!({"success": true})))
}

/// `GET /{version}/{app-id}/subscriptions`: the app's callback and fields.
pub async fn app_subscriptions(
    State(sandbox): State<Sandbox>,
    Path((version, app_id)): Path<(String, String)>,
    Query(query): Query<AppSubscription>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    if !crate::send::is_version(&version) {
        return Err(MetaError::unknown_path(&version));
    }
    app_token(&sandbox, &headers, query.access_token.as_deref())?;
    if app_id != sandbox.seed().app_id {
        return Err(MetaError::unknown_object(&app_id));
    }
    let world = sandbox.world();
    let data: Vec<Value> = world
        .callbacks
        .app
        .iter()
        .map(|url| {
            let fields: Vec<Value> = world
                .callbacks
                .fields
                .iter()
                .map(|f| json!({"name": f, "version": version}))
                .collect();
            json!({"object": "whatsapp_business_account", "callback_url": url,
                   "active": true, "fields": fields})
        })
        .collect();
    Ok(Json(json!({"data": data})))
}

/// Body of `POST /{version}/{phone-number-id}`.
#[derive(Deserialize)]
pub struct NumberSettings {
    webhook_configuration: Override,
}

/// `POST /{version}/{phone-number-id}` with `webhook_configuration`: sets (or,
/// with an empty URL, removes) the number's override callback.
pub async fn configure_number(
    sandbox: &Sandbox,
    number_id: &str,
    body: &[u8],
) -> Result<Json<Value>, MetaError> {
    let req: NumberSettings = serde_json::from_slice(body).map_err(|_| {
        MetaError::invalid_parameter("The parameter webhook_configuration is required.")
    })?;
    let url = req
        .webhook_configuration
        .override_callback_uri
        .unwrap_or_default();
    let token = req.webhook_configuration.verify_token.unwrap_or_default();
    let trace = sandbox.world().trace_id();
    verified(sandbox, &url, &token, trace).await?;
    let mut world = sandbox.world();
    if url.is_empty() {
        world.callbacks.numbers.remove(number_id);
    } else {
        world.callbacks.numbers.insert(number_id.to_string(), url);
    }
    Ok(Json(json!({"success": true})))
}

/// `POST /{version}/{object-id}`: a number's settings or a template's edit.
pub async fn post_object(
    State(sandbox): State<Sandbox>,
    Path((version, object_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, MetaError> {
    let is_number = {
        let world = sandbox.world();
        let waba = crate::send::caller(&world, &version, &headers)?;
        world
            .numbers
            .get(&object_id)
            .is_some_and(|n| n.waba_id == waba)
    };
    if is_number {
        return configure_number(&sandbox, &object_id, &body).await;
    }
    crate::templates::edit(State(sandbox), Path((version, object_id)), headers, body).await
}
