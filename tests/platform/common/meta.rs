//! Playing Meta against the platform: signed webhooks, a connected number,
//! and waiting for the dispatcher's workers to apply what was stored.

use std::time::Duration;

use aerostic_dispatcher::entity::message;
use aerostic_kit::ids::TenantId;
use hmac::{Hmac, Mac};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
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
    connect_number_sending(app, admin, 80).await
}

/// Like [`connect_number`], a number Meta lets send `per_second` messages
/// a second (20, 80 or 1,000).
pub async fn connect_number_sending(app: &TestApp, admin: &str, per_second: u32) -> String {
    let added = app
        .sandbox_control(
            Method::POST,
            "/_sandbox/numbers",
            Some(&json!({"throughput_per_sec": per_second})),
        )
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

/// Customer `from` writes `text` to number `phone_id` through the sandbox
/// (which also opens their 24-hour window); the message's wamid.
pub async fn customer_writes(app: &TestApp, phone_id: &str, from: &str, text: &str) -> String {
    let written = app
        .sandbox_control(
            Method::POST,
            &format!("/_sandbox/numbers/{phone_id}/inbound"),
            Some(&json!({"from": from, "text": text})),
        )
        .await;
    written["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no wamid for the customer's message: {written}"))
        .to_string()
}

/// The one text value `sql` selects.
pub async fn text(app: &TestApp, sql: &str) -> String {
    let db = app.db().await;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row for {sql}"));
    row.try_get_by_index::<String>(0).unwrap()
}

/// The tenant that connected number `phone_id`.
pub async fn tenant_of(app: &TestApp, phone_id: &str) -> TenantId {
    text(
        app,
        &format!("SELECT tenant_id FROM whatsapp_accounts WHERE phone_number_id = '{phone_id}'"),
    )
    .await
    .parse()
    .unwrap()
}

/// An outbound message as the send path records it (through the
/// dispatcher's own entity, so on either backend), `queued`, with Meta's
/// `wamid` if known; its id.
pub async fn outbound_message(
    app: &TestApp,
    tenant: TenantId,
    kind: &str,
    content: Value,
    wamid: Option<&str>,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let now = chrono::Utc::now();
    message::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set(tenant.to_string()),
        conversation_id: Set(uuid::Uuid::now_v7().to_string()),
        contact_id: Set(uuid::Uuid::now_v7().to_string()),
        direction: Set("outbound".into()),
        kind: Set(kind.into()),
        content: Set(content.to_string()),
        wamid: Set(wamid.map(str::to_string)),
        context_wamid: Set(None),
        status: Set("queued".into()),
        error_code: Set(None),
        error_title: Set(String::new()),
        sent_at: Set(now),
        status_at: Set(now),
        created_at: Set(now),
    }
    .insert(&app.db().await)
    .await
    .unwrap();
    id
}

/// The messages of the workspace's newest conversation, as `token` reads
/// them through the inbox API.
pub async fn newest_conversation_messages(app: &TestApp, token: &str) -> Vec<Value> {
    let get = |path: String| async move {
        let answer = app
            .call_on(super::APP_HOST, Method::GET, &path, Some(token), None)
            .await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.body
    };
    let conversations = get("/v1/conversations".into()).await;
    let conversation = conversations["data"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_string();
    let messages = get(format!(
        "/v1/conversations/{conversation}/messages?limit=100"
    ))
    .await;
    messages["data"].as_array().expect("a page").clone()
}
