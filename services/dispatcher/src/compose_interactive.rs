//! Meta's limits on interactive messages (META_API.md §5): reply buttons,
//! lists and call-to-action URLs, each checked field by field.

use serde_json::Value;

use crate::compose::Invalid;

fn push(problems: &mut Vec<Invalid>, field: String, problem: impl Into<String>) {
    problems.push(Invalid {
        field,
        problem: problem.into(),
    });
}

/// `value` at `path` must be a string of 1..=`max` characters.
fn text(problems: &mut Vec<Invalid>, value: &Value, path: &str, max: usize) {
    match value.as_str() {
        Some(s) if !s.trim().is_empty() && s.chars().count() <= max => {}
        Some(s) if !s.trim().is_empty() => {
            push(problems, path.into(), format!("at most {max} characters"))
        }
        _ => push(problems, path.into(), "required"),
    }
}

/// `value` at `path`, if present, must be a string of at most `max`.
fn optional_text(problems: &mut Vec<Invalid>, value: &Value, path: &str, max: usize) {
    if !value.is_null() {
        text(problems, value, path, max);
    }
}

/// Checks Meta's `interactive` object, adding each problem found.
pub fn check(o: &Value, problems: &mut Vec<Invalid>) {
    text(problems, &o["body"]["text"], "interactive.body.text", 1_024);
    optional_text(
        problems,
        &o["footer"]["text"],
        "interactive.footer.text",
        60,
    );
    if o["header"]["type"] == "text" {
        text(
            problems,
            &o["header"]["text"],
            "interactive.header.text",
            60,
        );
    }
    let action = &o["action"];
    match o["type"].as_str() {
        Some("button") => buttons(action, problems),
        Some("list") => list(action, problems),
        Some("cta_url") => cta_url(action, problems),
        _ => push(
            problems,
            "interactive.type".into(),
            "one of button, list, cta_url",
        ),
    }
}

fn buttons(action: &Value, problems: &mut Vec<Invalid>) {
    let Some(buttons) = action["buttons"].as_array().filter(|b| !b.is_empty()) else {
        push(
            problems,
            "interactive.action.buttons".into(),
            "1 to 3 reply buttons",
        );
        return;
    };
    if buttons.len() > 3 {
        push(
            problems,
            "interactive.action.buttons".into(),
            "at most 3 reply buttons",
        );
    }
    let mut ids = std::collections::HashSet::new();
    for (i, b) in buttons.iter().enumerate() {
        let at = format!("interactive.action.buttons[{i}]");
        if b["type"] != "reply" {
            push(problems, format!("{at}.type"), "reply");
        }
        text(problems, &b["reply"]["id"], &format!("{at}.reply.id"), 256);
        text(
            problems,
            &b["reply"]["title"],
            &format!("{at}.reply.title"),
            20,
        );
        if let Some(id) = b["reply"]["id"].as_str()
            && !ids.insert(id)
        {
            push(problems, format!("{at}.reply.id"), "ids must differ");
        }
    }
}

fn list(action: &Value, problems: &mut Vec<Invalid>) {
    text(problems, &action["button"], "interactive.action.button", 20);
    let Some(sections) = action["sections"].as_array().filter(|s| !s.is_empty()) else {
        push(
            problems,
            "interactive.action.sections".into(),
            "1 to 10 sections",
        );
        return;
    };
    if sections.len() > 10 {
        push(
            problems,
            "interactive.action.sections".into(),
            "at most 10 sections",
        );
    }
    let mut rows_total = 0;
    for (i, section) in sections.iter().enumerate() {
        let at = format!("interactive.action.sections[{i}]");
        if sections.len() > 1 {
            text(problems, &section["title"], &format!("{at}.title"), 24);
        }
        let rows = section["rows"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if rows.is_empty() {
            push(problems, format!("{at}.rows"), "at least one row");
        }
        rows_total += rows.len();
        for (j, row) in rows.iter().enumerate() {
            let at = format!("{at}.rows[{j}]");
            text(problems, &row["id"], &format!("{at}.id"), 200);
            text(problems, &row["title"], &format!("{at}.title"), 24);
            optional_text(
                problems,
                &row["description"],
                &format!("{at}.description"),
                72,
            );
        }
    }
    if rows_total > 10 {
        push(
            problems,
            "interactive.action.sections".into(),
            "at most 10 rows in all",
        );
    }
}

fn cta_url(action: &Value, problems: &mut Vec<Invalid>) {
    let p = &action["parameters"];
    text(
        problems,
        &p["display_text"],
        "interactive.action.parameters.display_text",
        20,
    );
    let ok = p["url"]
        .as_str()
        .and_then(|u| url::Url::parse(u).ok())
        .is_some_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
    if !ok {
        push(
            problems,
            "interactive.action.parameters.url".into(),
            "an http(s) URL",
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compose::Outgoing;

    fn problems(o: serde_json::Value) -> Vec<String> {
        match Outgoing::parse("interactive", &o) {
            Ok(_) => vec![],
            Err(all) => all
                .into_iter()
                .map(|p| format!("{}: {}", p.field, p.problem))
                .collect(),
        }
    }

    fn button(id: &str, title: &str) -> serde_json::Value {
        json!({"type": "reply", "reply": {"id": id, "title": title}})
    }

    #[test]
    fn reply_buttons_are_at_most_three_with_short_distinct_titles() {
        let ok = json!({"type": "button", "body": {"text": "Confirm?"}, "action": {"buttons": [button("yes", "Yes"), button("no", "No")]}});
        assert!(problems(ok).is_empty());
        let four = json!({"type": "button", "body": {"text": "?"}, "action": {"buttons": [button("a", "A"), button("b", "B"), button("c", "C"), button("a", "Twenty-one characters")]}});
        assert_eq!(
            problems(four),
            [
                "interactive.action.buttons: at most 3 reply buttons",
                "interactive.action.buttons[3].reply.title: at most 20 characters",
                "interactive.action.buttons[3].reply.id: ids must differ",
            ]
        );
    }

    #[test]
    fn lists_hold_at_most_ten_rows_in_all_with_limited_fields() {
        let rows: Vec<_> = (0..6)
            .map(|i| json!({"id": format!("r{i}"), "title": format!("Row {i}")}))
            .collect();
        let list = json!({"type": "list", "body": {"text": "Pick"}, "action": {"button": "Options", "sections": [
            {"title": "A", "rows": rows}, {"title": "B", "rows": rows}]}});
        assert_eq!(
            problems(list),
            ["interactive.action.sections: at most 10 rows in all"]
        );
        let long = json!({"type": "list", "body": {"text": "Pick"}, "action": {"button": "Options", "sections": [
            {"rows": [{"id": "x", "title": "A row title that is too long", "description": "d".repeat(73)}]}]}});
        assert_eq!(
            problems(long),
            [
                "interactive.action.sections[0].rows[0].title: at most 24 characters",
                "interactive.action.sections[0].rows[0].description: at most 72 characters",
            ]
        );
    }

    #[test]
    fn a_call_to_action_needs_a_url_and_short_text_and_the_body_is_required() {
        let cta = json!({"type": "cta_url", "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": "ftp://x"}}});
        assert_eq!(
            problems(cta),
            [
                "interactive.body.text: required",
                "interactive.action.parameters.url: an http(s) URL",
            ]
        );
        assert_eq!(
            problems(json!({"type": "carousel", "body": {"text": "x"}})),
            ["interactive.type: one of button, list, cta_url"]
        );
    }
}
