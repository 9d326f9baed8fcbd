//! The check a template send passes against our copy of the template
//! before it is queued: approved, and its parameters exactly what the
//! template's placeholders ask for (header text or media, body, URL
//! buttons), positional (`{{1}}`) or named (`{{first_name}}`). Meta would
//! refuse the rest with 132000/132001/132012/132015/132016 after we had
//! queued and reserved it.

use std::collections::BTreeMap;

use aerostic_kit::ApiError;
use aerostic_kit::error::ErrorKind;
use serde_json::Value;

use crate::entity::template;

/// The distinct `{{…}}` placeholders of `text`, in order of first use.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let name = rest[start + 2..start + end].trim().to_string();
        // A placeholder used twice takes one parameter.
        if !out.contains(&name) {
            out.push(name);
        }
        rest = &rest[start + end + 2..];
    }
    out
}

fn part<'a>(components: &'a Value, kind: &str) -> Option<&'a Value> {
    components.as_array()?.iter().find(|c| {
        c["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case(kind))
    })
}

fn sent_parameters<'a>(sent: &'a [Value], kind: &str) -> Vec<&'a Value> {
    sent.iter()
        .filter(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
        .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
        .collect()
}

/// Checks the parameters given for text with `expected` placeholders.
fn text_parameters(
    field: &str,
    expected: &[String],
    given: &[&Value],
    problems: &mut BTreeMap<String, String>,
) {
    let named = expected
        .iter()
        .any(|p| !p.bytes().all(|b| b.is_ascii_digit()));
    if given.len() != expected.len() {
        problems.insert(
            field.to_string(),
            format!(
                "the template expects {} parameter(s), {} given",
                expected.len(),
                given.len()
            ),
        );
        return;
    }
    if named {
        let mut names: Vec<&str> = given
            .iter()
            .filter_map(|p| p["parameter_name"].as_str())
            .collect();
        names.sort_unstable();
        let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
        want.sort_unstable();
        if names != want {
            problems.insert(
                field.to_string(),
                format!("named parameters {} (parameter_name)", want.join(", ")),
            );
        }
    }
}

/// Whether `t` may be sent with `sent` (Meta's send `components`).
pub fn check_send(t: &template::Model, sent: &[Value]) -> Result<(), ApiError> {
    if t.status != "APPROVED" {
        return Err(ApiError::new(
            ErrorKind::FailedPrecondition,
            "template_not_approved",
            format!(
                "template {} ({}) is {}; only approved templates can be sent",
                t.name, t.language, t.status
            ),
        )
        .with_detail("status", t.status.clone()));
    }
    let components: Value = serde_json::from_str(&t.components).unwrap_or(Value::Null);
    let mut problems = BTreeMap::new();
    let body = part(&components, "body")
        .and_then(|b| b["text"].as_str())
        .map(placeholders)
        .unwrap_or_default();
    text_parameters(
        "template.components.body",
        &body,
        &sent_parameters(sent, "body"),
        &mut problems,
    );
    let header_given = sent_parameters(sent, "header");
    match part(&components, "header") {
        Some(h)
            if h["format"]
                .as_str()
                .unwrap_or("TEXT")
                .eq_ignore_ascii_case("text") =>
        {
            let expected = h["text"].as_str().map(placeholders).unwrap_or_default();
            text_parameters(
                "template.components.header",
                &expected,
                &header_given,
                &mut problems,
            );
        }
        Some(h) => {
            let format = h["format"].as_str().unwrap_or_default().to_lowercase();
            let ok = header_given.len() == 1 && header_given[0]["type"].as_str() == Some(&format);
            if !ok {
                problems.insert(
                    "template.components.header".into(),
                    format!("the template's header takes one {format} parameter"),
                );
            }
        }
        None if !header_given.is_empty() => {
            problems.insert(
                "template.components.header".into(),
                "the template has no header".into(),
            );
        }
        None => {}
    }
    let buttons = part(&components, "buttons")
        .and_then(|b| b["buttons"].as_array())
        .cloned()
        .unwrap_or_default();
    for (index, button) in buttons.iter().enumerate() {
        let dynamic = button["type"]
            .as_str()
            .is_some_and(|b| b.eq_ignore_ascii_case("url"))
            && button["url"].as_str().is_some_and(|u| u.contains("{{"));
        let given = sent.iter().any(|c| {
            c["type"] == "button"
                && (c["index"].as_str() == Some(index.to_string().as_str())
                    || c["index"].as_u64() == Some(index as u64))
                && c["parameters"].as_array().is_some_and(|p| !p.is_empty())
        });
        if dynamic && !given {
            problems.insert(
                format!("template.components.button[{index}]"),
                "this URL button needs its parameter (sub_type url, index)".into(),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn approved(components: Value) -> template::Model {
        template::Model {
            id: "t".into(),
            tenant_id: "x".into(),
            waba_id: "1".into(),
            meta_id: "2".into(),
            name: "order_shipped".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: components.to_string(),
            rejected_reason: String::new(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn fields(t: &template::Model, sent: Value) -> Vec<String> {
        match check_send(t, sent.as_array().unwrap()) {
            Ok(()) => vec![],
            Err(e) => e.details.into_keys().collect(),
        }
    }

    #[test]
    fn positional_parameters_must_match_the_body_count() {
        let t = approved(json!([{"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped"}]));
        let two = json!([{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "42"}]}]);
        assert!(fields(&t, two).is_empty());
        let one = json!([{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]);
        assert_eq!(fields(&t, one), ["template.components.body"]);
    }

    #[test]
    fn named_parameters_must_name_every_placeholder() {
        let t = approved(json!([{"type": "BODY", "text": "Hi {{first_name}}"}]));
        let right = json!([{"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}]}]);
        assert!(fields(&t, right).is_empty());
        let wrong = json!([{"type": "body", "parameters": [{"type": "text", "parameter_name": "name", "text": "Ana"}]}]);
        assert_eq!(fields(&t, wrong), ["template.components.body"]);
    }

    #[test]
    fn a_media_header_and_a_url_button_need_their_parameters() {
        let t = approved(json!([
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Your receipt"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "ok"}, {"type": "URL", "text": "Track", "url": "https://ex.co/{{1}}"}]}
        ]));
        assert_eq!(
            fields(&t, json!([])),
            [
                "template.components.button[1]",
                "template.components.header"
            ]
        );
        let full = json!([
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://ex.co/a.png"}}]},
            {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "abc"}]}
        ]);
        assert!(fields(&t, full).is_empty());
    }

    #[test]
    fn only_approved_templates_are_sent() {
        let mut t = approved(json!([{"type": "BODY", "text": "Hi"}]));
        t.status = "PAUSED".into();
        let e = check_send(&t, &[]).unwrap_err();
        assert_eq!(e.code, "template_not_approved");
    }
}
