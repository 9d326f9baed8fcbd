//! The OpenAPI document the gateway serves: generated from the code, it
//! names every endpoint, and every error an endpoint really answers is
//! documented for that endpoint, with its code.

use crate::common;

use common::{ADMIN_HOST, APP_HOST, TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

/// Every operation of `doc`: (method, path template, operation).
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            out.push((method, path.clone(), op.clone()));
        }
    }
    out
}

fn is_admin_path(path: &str) -> bool {
    path.starts_with("/v1/admin/")
}

async fn served_document(app: &TestApp) -> Value {
    let served = app
        .call_on(APP_HOST, Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(served.status, 200);
    served.body
}

#[tokio::test]
async fn the_served_document_names_every_endpoint_and_how_each_fails() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    assert_eq!(
        doc,
        serde_json::to_value(aerostic_gateway::openapi_document()).unwrap(),
        "the served document is the one the router was built with"
    );
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let ops = operations(&doc);
    assert!(ops.len() >= 38, "{} operations", ops.len());
    let mut ids: Vec<&str> = ops
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().unwrap())
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "operation ids are unique");
    for (method, path, op) in &ops {
        let at = format!("{method} {path}");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{at}: no tag"
        );
        assert!(
            op["description"].is_string() || op["summary"].is_string(),
            "{at}: undocumented"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{at}: no success"
        );
        for (status, response) in responses {
            if status.starts_with('4') || (status.starts_with('5') && path != "/readyz") {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{at} {status}: errors have the one error shape"
                );
                assert!(
                    response["description"].as_str().unwrap().contains('`'),
                    "{at} {status}: names its error codes"
                );
            }
        }
        if op.get("security").is_some() {
            assert!(
                responses.contains_key("401") || is_admin_path(path),
                "{at}: 401 undocumented"
            );
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("400"), "{at}: 400 undocumented");
        }
        if is_admin_path(path) {
            assert!(
                responses.contains_key("404"),
                "{at}: hidden-404 undocumented"
            );
        }
    }
    let error = &doc["components"]["schemas"]["ErrorDetail"]["properties"];
    for field in ["code", "message", "details"] {
        assert!(error.get(field).is_some(), "ErrorDetail.{field}");
    }

    let docs = app
        .http
        .get(format!("{}/docs", app.base))
        .header(reqwest::header::HOST, APP_HOST)
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(docs.text().await.unwrap().contains("/v1/auth/register"));
}

/// Calls every operation as `caller` on `host` with an empty JSON object as
/// its body and unknown ids in its path; each answer must be documented.
async fn every_answer_is_documented(app: &TestApp, doc: &Value, host: &str, caller: Option<&str>) {
    for (method, path, op) in operations(doc) {
        if host == ADMIN_HOST && !is_admin_path(&path) {
            continue; // the admin host hides these; its info section says so
        }
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let body = op.get("requestBody").map(|_| json!({}));
        let answer = app
            .call_on(host, method.clone(), &concrete, caller, body.as_ref())
            .await;
        let at = format!(
            "{method} {path} on {host} as {}",
            caller.map_or("nobody", |_| "caller")
        );
        let status = answer.status.to_string();
        let documented = &op["responses"][&status];
        assert!(
            documented.is_object(),
            "{at}: {status} is undocumented: {}",
            answer.body
        );
        if answer.status >= 400 && path != "/readyz" {
            let error = &answer.body["error"];
            let code = error["code"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: {}", answer.body));
            assert!(
                error["message"].is_string() && error["details"].is_object(),
                "{at}"
            );
            let description = documented["description"].as_str().unwrap();
            assert!(
                description.contains(&format!("`{code}`")),
                "{at}: {status} `{code}` is not in its description: {description}"
            );
        }
    }
}

#[tokio::test]
async fn every_error_each_endpoint_answers_is_documented_with_its_code() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let admin = app.new_admin().await;
    let (_, agent) = app.member(&admin, "agent").await;
    let agent = agent["access_token"].as_str().unwrap().to_string();
    let key = app.api_key(&admin, &["messages:read"]).await;
    let root = app.super_admin().await;

    every_answer_is_documented(&app, &doc, APP_HOST, None).await;
    every_answer_is_documented(&app, &doc, APP_HOST, Some("not-a-token")).await;
    every_answer_is_documented(&app, &doc, APP_HOST, Some(&agent)).await;
    every_answer_is_documented(&app, &doc, APP_HOST, Some(&key)).await;
    every_answer_is_documented(&app, &doc, APP_HOST, Some(&admin)).await;
    every_answer_is_documented(&app, &doc, ADMIN_HOST, Some(&admin)).await;
    every_answer_is_documented(&app, &doc, ADMIN_HOST, Some(&root)).await;
}
