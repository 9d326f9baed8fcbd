//! Playing Meta against the platform: signed webhooks, a connected number,
//! and waiting for the dispatcher's workers to apply what was stored.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use super::TestApp;

pub const SECRET: &str = "sandbox-app-secret";

pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub async fn post_webhook(app: &TestApp, body: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/webhooks/meta", app.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        request = request.header("x-hub-signature-256", s);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// A number connected to a fresh tenant; its phone number id.
pub async fn connected_number(app: &TestApp) -> String {
    let admin = app.new_admin().await;
    connect_number(app, &admin).await
}

/// A number connected to the workspace of `admin` (a token); its id.
pub async fn connect_number(app: &TestApp, admin: &str) -> String {
    let added = app
        .sandbox_control(Method::POST, "/_sandbox/numbers", Some(&json!({})))
        .await;
    let phone_id = added["id"].as_str().unwrap().to_string();
    let body = json!({"waba_id": added["waba_id"], "phone_number_id": phone_id, "pin": "123456"});
    let ok = app
        .call(
            Method::POST,
            "/v1/whatsapp/cloud/init",
            Some(admin),
            Some(&body),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    phone_id
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    aerostic_kit::db::testing::scalar(&app.db().await, sql)
        .await
        .unwrap()
}

/// Waits (a hang guard, not a figure) until `sql` counts `expected`.
pub async fn eventually(app: &TestApp, sql: &str, expected: i64) {
    for _ in 0..1200 {
        if count(app, sql).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{sql} never reached {expected} (now {})",
        count(app, sql).await
    );
}

pub fn text_payload(phone_id: &str, wamid: &str, text: &str) -> Vec<u8> {
    let message = json!({"from": "5511988887777", "id": wamid, "timestamp": "1760000000", "type": "text", "text": {"body": text}});
    messages_payload(phone_id, vec![message], vec![])
}

/// A `messages` change for `phone_id` with these messages and statuses.
pub fn messages_payload(phone_id: &str, messages: Vec<Value>, statuses: Vec<Value>) -> Vec<u8> {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_id},
    });
    if !messages.is_empty() {
        value["contacts"] = json!([{"profile": {"name": "Ana"}, "wa_id": "5511988887777"}]);
        value["messages"] = Value::Array(messages);
    }
    if !statuses.is_empty() {
        value["statuses"] = Value::Array(statuses);
    }
    meta_bytes(
        &json!({"object": "whatsapp_business_account", "entry": [{"id": "310", "changes": [{"field": "messages", "value": value}]}]}),
    )
}

/// `value` serialised as Meta does: non-ASCII as escaped UTF-16 units.
pub fn meta_bytes(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}
