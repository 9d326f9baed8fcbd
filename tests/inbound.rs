//! Meta's webhooks in: the callback's verification, signatures checked over
//! the exact bytes, every payload stored before the 200, then applied once:
//! duplicates change nothing, and unknown numbers are kept, not dropped.

mod common;

use std::time::Duration;

use aerostic_dispatcher::events::MessageReceived;
use common::{TestApp, spawn_app_with_sandbox};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "sandbox-app-secret";

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_webhook(app: &TestApp, body: &[u8], signature: Option<String>) -> (u16, Value) {
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
async fn connected_number(app: &TestApp) -> String {
    let admin = app.new_admin().await;
    let added = app
        .sandbox_control(Method::POST, "/_sandbox/numbers", Some(&json!({})))
        .await;
    let phone_id = added["id"].as_str().unwrap().to_string();
    let body = json!({"waba_id": added["waba_id"], "phone_number_id": phone_id, "pin": "123456"});
    let ok = app
        .call(
            Method::POST,
            "/v1/whatsapp/cloud/init",
            Some(&admin),
            Some(&body),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    phone_id
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    aerostic_kit::db::testing::scalar(&app.db().await, sql)
        .await
        .unwrap()
}

/// Waits (a hang guard, not a figure) until `sql` counts `expected`.
async fn eventually(app: &TestApp, sql: &str, expected: i64) {
    for _ in 0..300 {
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

fn text_payload(phone_id: &str, wamid: &str, text: &str) -> Vec<u8> {
    // Escaped unicode, as Meta serialises it; signed as these exact bytes.
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "310", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_id},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511988887777"}],
        "messages": [{"from": "5511988887777", "id": wamid, "timestamp": "1760000000", "type": "text", "text": {"body": text}}]}}]}]});
    let mut out = String::new();
    for c in body.to_string().chars() {
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

#[tokio::test]
async fn the_callback_verifies_with_the_platforms_token_only() {
    let app = spawn_app_with_sandbox().await;
    let verify = |token: &str, mode: &str| {
        app.http
            .get(format!("{}/webhooks/meta", app.base))
            .query(&[
                ("hub.mode", mode),
                ("hub.challenge", "1158201444"),
                ("hub.verify_token", token),
            ])
            .send()
    };
    let ok = verify("sandbox-verify-token", "subscribe").await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        ok.text().await.unwrap(),
        "1158201444",
        "the raw challenge, unquoted"
    );
    for (token, mode) in [
        ("wrong", "subscribe"),
        ("sandbox-verify-token", "unsubscribe"),
        ("", "subscribe"),
    ] {
        let refused = verify(token, mode).await.unwrap();
        assert_eq!(refused.status().as_u16(), 403, "{token} {mode}");
    }
}

#[tokio::test]
async fn only_correctly_signed_webhooks_are_stored_and_each_message_is_kept_once() {
    let app = spawn_app_with_sandbox().await;
    let phone_id = connected_number(&app).await;
    let (mut received, _subscription) =
        common::events::listen::<MessageReceived>(&app, "message.received").await;
    let body = text_payload(&phone_id, "wamid.HBgNdup01", "Olá, ainda tem? 😮 @loja");

    let (missing, error) = post_webhook(&app, &body, None).await;
    assert_eq!(
        (missing, error["error"]["code"].as_str()),
        (401, Some("signature_missing"))
    );
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    let (wrong, error) = post_webhook(&app, &tampered, Some(sign(&body))).await;
    assert_eq!(
        (wrong, error["error"]["code"].as_str()),
        (403, Some("signature_invalid"))
    );
    let (bad_hex, _) = post_webhook(&app, &body, Some("sha256=zz".into())).await;
    assert_eq!(bad_hex, 403);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_inbox").await,
        0,
        "nothing unsigned is kept"
    );

    // Meta delivers the same update three times.
    for _ in 0..3 {
        let (status, stored) = post_webhook(&app, &body, Some(sign(&body))).await;
        assert_eq!(status, 200, "{stored}");
        assert!(stored["webhook_id"].is_string());
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_inbox").await,
        3,
        "every delivery kept raw"
    );
    eventually(
        &app,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        0,
    )
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.HBgNdup01'"
        )
        .await,
        1
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM contacts").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM conversations WHERE unread_count = 1"
        )
        .await,
        1
    );

    let event = tokio::time::timeout(Duration::from_secs(60), received.recv())
        .await
        .expect("message.received")
        .unwrap();
    assert_eq!(
        event.text.as_deref(),
        Some("Olá, ainda tem? 😮 @loja"),
        "escaped unicode decoded"
    );
    assert_eq!(event.phone_number_id, phone_id);
    assert_eq!(event.wamid, "wamid.HBgNdup01");
}

#[tokio::test]
async fn a_customers_message_from_the_sandbox_arrives_and_stop_opts_them_out() {
    let app = spawn_app_with_sandbox().await;
    let phone_id = connected_number(&app).await;
    for text in ["Oi, tudo bem?", "  STOP "] {
        let sent = app
            .sandbox_control(
                Method::POST,
                &format!("/_sandbox/numbers/{phone_id}/inbound"),
                Some(&json!({"from": "5511977776666", "text": text})),
            )
            .await;
        assert!(
            sent["wamid"].is_string() || sent["id"].is_string(),
            "{sent}"
        );
    }
    eventually(
        &app,
        "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'",
        2,
    )
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM contacts WHERE opted_out AND opt_out_source = 'keyword'"
        )
        .await,
        1,
        "STOP, whatever its case and spaces, opts the contact out"
    );
}

#[tokio::test]
async fn a_change_for_a_number_nobody_owns_is_kept_and_reported() {
    let app = spawn_app_with_sandbox().await;
    let body = text_payload("420000000009999", "wamid.HBgNnobody", "hello");
    let (status, _) = post_webhook(&app, &body, Some(sign(&body))).await;
    assert_eq!(status, 200, "Meta must not retry what we kept");
    eventually(
        &app,
        "SELECT COUNT(*) FROM unrouted_changes WHERE phone_number_id = '420000000009999'",
        1,
    )
    .await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 0);
}
