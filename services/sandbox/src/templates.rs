//! Message templates per WABA (§9): create with Meta's naming and parameter
//! rules, review after a delay that approves or rejects and emits
//! `message_template_status_update`, list, delete; and the checks a template
//! send must pass (132000, 132001, 132015, 132016).

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Sandbox;
use crate::error::MetaError;
use crate::world::World;

/// One template (one name in one language).
#[derive(Debug, Clone, Serialize)]
pub struct Template {
    /// Numeric id, as a string.
    pub id: String,
    /// The WABA that owns it.
    #[serde(skip)]
    pub waba_id: String,
    /// `[a-z0-9_]`, at most 512.
    pub name: String,
    /// e.g. `en_US`.
    pub language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    pub category: String,
    /// PENDING, APPROVED, REJECTED, PAUSED, DISABLED.
    pub status: String,
    /// As created.
    pub components: Value,
    /// Why it was rejected, if it was.
    #[serde(skip)]
    pub reason: &'static str,
    /// Sandbox time the review finishes.
    #[serde(skip)]
    pub review_at: f64,
}

/// A template error in Meta's `(#code) message` form with details.
fn template_error(status: StatusCode, code: u32, message: &str, details: String) -> MetaError {
    MetaError::coded(status, code, message).details(details)
}

fn valid_language(code: &str) -> bool {
    let (lang, region) = code.split_once('_').unwrap_or((code, ""));
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && (region.is_empty()
            || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())))
}

/// The `{{…}}` placeholders of `text`, in order.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push(rest[start + 2..start + end].trim().to_string());
        rest = &rest[start + end + 2..];
    }
    out
}

/// Meta rejects a body whose parameters lead, trail or touch each other.
fn invalid_format(text: &str) -> bool {
    let trimmed = text.trim();
    trimmed.starts_with("{{")
        || trimmed.ends_with("}}")
        || trimmed.contains("}}{{")
        || trimmed.contains("}} {{")
}

fn body_text(components: &Value) -> Option<&str> {
    component_text(components, "body")
}

/// The `text` of the component of type `part` (`header`, `body`).
fn component_text<'a>(components: &'a Value, part: &str) -> Option<&'a str> {
    components
        .as_array()?
        .iter()
        .find(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(part))
        })?
        .get("text")?
        .as_str()
}

/// The buttons of a template's BUTTONS component.
fn buttons(components: &Value) -> Vec<Value> {
    components
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("buttons"))
        })
        .and_then(|c| c["buttons"].as_array().cloned())
        .unwrap_or_default()
}

/// Body of a template creation.
#[derive(Deserialize)]
pub struct Create {
    name: Option<String>,
    category: Option<String>,
    language: Option<String>,
    components: Option<Value>,
}

/// `POST /{version}/{waba-id}/message_templates`.
pub async fn create(
    State(sandbox): State<Sandbox>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, MetaError> {
    let mut world = sandbox.world();
    let trace = world.trace_id();
    let traced = |mut e: MetaError| {
        e.fbtrace_id = trace.clone();
        e
    };
    authorize_waba(&world, &version, &waba_id, &headers).map_err(traced)?;
    let req: Create = serde_json::from_slice(&body)
        .map_err(|_| traced(MetaError::invalid_parameter("Invalid JSON body.")))?;
    let invalid = |what: &str| {
        traced(MetaError::invalid_parameter(format!(
            "Invalid parameter: {what}"
        )))
    };
    let name = req.name.unwrap_or_default();
    if name.is_empty()
        || name.len() > 512
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(invalid(
            "name must be 1 to 512 characters of a-z, 0-9 and _",
        ));
    }
    let category = req.category.unwrap_or_default().to_uppercase();
    if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
        return Err(invalid(
            "category must be MARKETING, UTILITY or AUTHENTICATION",
        ));
    }
    let language = req.language.unwrap_or_default();
    if !valid_language(&language) {
        return Err(invalid("language must be a code such as en or en_US"));
    }
    let components = req.components.unwrap_or(Value::Null);
    let Some(text) = body_text(&components) else {
        return Err(invalid("components must include a BODY with text"));
    };
    let params = placeholders(text);
    let has_examples = components.as_array().into_iter().flatten().any(|c| {
        c["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("body"))
            && c.get("example").is_some()
    });
    if !params.is_empty() && !has_examples {
        return Err(invalid(
            "every parameter needs an example (components[BODY].example)",
        ));
    }
    if world
        .templates
        .values()
        .any(|t| t.waba_id == waba_id && t.name == name && t.language == language)
    {
        return Err(traced(template_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            format!("Content in this language already exists for template {name} ({language})"),
        )));
    }
    let id = world.next_template_id();
    let review_at = world.now_secs_f64() + sandbox.review_delay().as_secs_f64();
    let reason = if invalid_format(text) {
        "INVALID_FORMAT"
    } else {
        "NONE"
    };
    let template = Template {
        id: id.clone(),
        waba_id,
        name,
        language,
        category: category.clone(),
        status: "PENDING".into(),
        components,
        reason,
        review_at,
    };
    world.templates.insert(id.clone(), template);
    Ok(Json(
        json!({"id": id, "status": "PENDING", "category": category}),
    ))
}

fn authorize_waba(
    world: &World,
    version: &str,
    waba_id: &str,
    headers: &HeaderMap,
) -> Result<(), MetaError> {
    if crate::send::caller(world, version, headers)? != waba_id {
        return Err(MetaError::unknown_object(waba_id));
    }
    Ok(())
}

/// Query of list and delete.
#[derive(Deserialize)]
pub struct Filter {
    name: Option<String>,
}

/// `GET /{version}/{waba-id}/message_templates`.
pub async fn list(
    State(sandbox): State<Sandbox>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(filter): Query<Filter>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    let world = sandbox.world();
    authorize_waba(&world, &version, &waba_id, &headers)?;
    let mut data: Vec<&Template> = world
        .templates
        .values()
        .filter(|t| t.waba_id == waba_id && filter.name.as_ref().is_none_or(|n| &t.name == n))
        .collect();
    data.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(
        json!({"data": data, "paging": {"cursors": {"before": "", "after": ""}}}),
    ))
}

/// `DELETE /{version}/{waba-id}/message_templates?name=…` (every language).
pub async fn delete(
    State(sandbox): State<Sandbox>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(filter): Query<Filter>,
    headers: HeaderMap,
) -> Result<Json<Value>, MetaError> {
    let mut world = sandbox.world();
    authorize_waba(&world, &version, &waba_id, &headers)?;
    let name = filter
        .name
        .ok_or_else(|| MetaError::invalid_parameter("The parameter name is required."))?;
    let before = world.templates.len();
    world
        .templates
        .retain(|_, t| !(t.waba_id == waba_id && t.name == name));
    if world.templates.len() == before {
        return Err(MetaError::invalid_parameter(format!(
            "Message template \"{name}\" not found"
        )));
    }
    Ok(Json(json!({"success": true})))
}

impl World {
    /// Finishes every review that is due, emitting status updates.
    pub fn finish_reviews(&mut self) {
        let now = self.now_secs_f64();
        let due: Vec<String> = self
            .templates
            .values()
            .filter(|t| t.status == "PENDING" && t.review_at <= now)
            .map(|t| t.id.clone())
            .collect();
        for id in due {
            let t = self.templates.get_mut(&id).expect("listed");
            t.status = if t.reason == "NONE" {
                "APPROVED"
            } else {
                "REJECTED"
            }
            .into();
            let t = t.clone();
            self.template_update(&t);
        }
    }

    /// Emits `message_template_status_update` for `t`'s current status.
    pub fn template_update(&mut self, t: &Template) {
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": t.waba_id, "time": self.now(),
        "changes": [{"field": "message_template_status_update", "value": {
            "event": t.status,
            "message_template_id": t.id.parse::<u64>().unwrap_or_default(),
            "message_template_name": t.name,
            "message_template_language": t.language,
            "message_template_category": t.category,
            "reason": t.reason,
        }}]}]});
        self.emit(&t.waba_id, &payload);
    }

    /// Checks a template send against the registry; returns its category.
    pub fn check_template_send(
        &self,
        waba_id: &str,
        template: &Value,
    ) -> Result<String, MetaError> {
        let name = template["name"].as_str().unwrap_or_default();
        let language = template["language"]["code"].as_str().unwrap_or_default();
        let found = self
            .templates
            .values()
            .find(|t| t.waba_id == waba_id && t.name == name && t.language == language);
        let missing = || {
            template_error(
                StatusCode::NOT_FOUND,
                132001,
                "Template name does not exist in the translation",
                format!("template name ({name}) does not exist in {language}"),
            )
        };
        let t = found.ok_or_else(missing)?;
        match t.status.as_str() {
            "APPROVED" => {}
            "PAUSED" => {
                return Err(template_error(
                    StatusCode::BAD_REQUEST,
                    132015,
                    "Template is paused",
                    format!("Template {name} is paused due to low quality"),
                ));
            }
            "DISABLED" => {
                return Err(template_error(
                    StatusCode::BAD_REQUEST,
                    132016,
                    "Template has been disabled",
                    format!("Template {name} is disabled due to low quality"),
                ));
            }
            _ => return Err(missing()),
        }
        let sent = template["components"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for part in ["header", "body"] {
            let expected: BTreeSet<String> =
                placeholders(component_text(&t.components, part).unwrap_or_default())
                    .into_iter()
                    .collect();
            let given = sent
                .iter()
                .filter(|c| c["type"].as_str() == Some(part))
                .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
                .sum::<usize>();
            if given != expected.len() {
                return Err(template_error(
                    StatusCode::BAD_REQUEST,
                    132000,
                    "Number of parameters does not match the expected number of params",
                    format!(
                        "{part}: number of localizable_params ({given}) does not match the expected number of params ({})",
                        expected.len()
                    ),
                ));
            }
        }
        // A URL button with a placeholder needs its parameter, by index.
        for (index, button) in buttons(&t.components).iter().enumerate() {
            let dynamic = button["type"]
                .as_str()
                .is_some_and(|b| b.eq_ignore_ascii_case("url"))
                && button["url"].as_str().is_some_and(|u| u.contains("{{"));
            let supplied = sent.iter().any(|c| {
                c["type"] == "button"
                    // Meta documents the index as a string; accept a number too.
                    && (c["index"].as_str() == Some(index.to_string().as_str())
                        || c["index"].as_u64() == Some(index as u64))
                    && c["parameters"].as_array().is_some_and(|p| !p.is_empty())
            });
            if dynamic && !supplied {
                return Err(template_error(
                    StatusCode::BAD_REQUEST,
                    131008,
                    "Required parameter is missing",
                    format!("buttons: Button at index {index} of type Url requires a parameter"),
                ));
            }
        }
        Ok(t.category.to_lowercase())
    }

    fn next_template_id(&mut self) -> String {
        self.template_seq += 1;
        format!("{}", 1_700_000_000_000_000u64 + self.template_seq)
    }
}

/// Body of `POST /_sandbox/templates/{id}/status`.
#[derive(Deserialize)]
pub struct SetStatus {
    status: String,
}

/// `POST /_sandbox/templates/{id}/status`: pause, disable or reinstate a
/// template as Meta's quality system would, emitting the update.
pub async fn set_status(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(req): Json<SetStatus>,
) -> Result<Json<Value>, crate::control::ControlError> {
    crate::control::check(&sandbox, &headers)?;
    let status = req.status.to_uppercase();
    if !["APPROVED", "PAUSED", "DISABLED", "REJECTED"].contains(&status.as_str()) {
        return Err(crate::control::ControlError::bad_request(
            "status must be APPROVED, PAUSED, DISABLED or REJECTED",
        ));
    }
    let mut world = sandbox.world();
    let Some(t) = world.templates.get_mut(&id) else {
        return Err(crate::control::ControlError::not_found(format!(
            "no template {id}"
        )));
    };
    t.status = status;
    let t = t.clone();
    world.template_update(&t);
    Ok(Json(json!({"id": t.id, "status": t.status})))
}

/// `POST /{version}/{template-id}`: edits an APPROVED, REJECTED or PAUSED
/// template (category and/or components, replaced whole); it goes back to review.
pub async fn edit(
    State(sandbox): State<Sandbox>,
    Path((version, template_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, MetaError> {
    let mut world = sandbox.world();
    let waba = crate::send::caller(&world, &version, &headers)?;
    let review_at = world.now_secs_f64() + sandbox.review_delay().as_secs_f64();
    let Some(t) = world
        .templates
        .get_mut(&template_id)
        .filter(|t| t.waba_id == waba)
    else {
        return Err(MetaError::unknown_object(&template_id));
    };
    if !["APPROVED", "REJECTED", "PAUSED"].contains(&t.status.as_str()) {
        return Err(MetaError::invalid_parameter(format!(
            "A template in status {} cannot be edited.",
            t.status
        )));
    }
    let req: Value = serde_json::from_slice(&body)
        .map_err(|_| MetaError::invalid_parameter("Invalid JSON body."))?;
    if let Some(category) = req["category"].as_str() {
        let category = category.to_uppercase();
        if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
            return Err(MetaError::invalid_parameter("Invalid parameter: category"));
        }
        t.category = category;
    }
    if let Some(components) = req.get("components") {
        let Some(text) = body_text(components) else {
            return Err(MetaError::invalid_parameter(
                "Invalid parameter: components must include a BODY with text",
            ));
        };
        t.reason = if invalid_format(text) {
            "INVALID_FORMAT"
        } else {
            "NONE"
        };
        t.components = components.clone();
    }
    t.status = "PENDING".into();
    t.review_at = review_at;
    Ok(Json(json!({"success": true})))
}
