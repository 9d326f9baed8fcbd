//! Embedded Signup: code exchange, registration with a PIN, PARTNER_ADDED.

use crate::common;

use std::time::Duration;

use aerostic_sandbox::Seed;
use common::{Hook, spawn_sandbox_with};
use serde_json::{Value, json};

const CTL: &str = "ctl";

async fn spawn_sandbox() -> (String, Seed) {
    spawn_sandbox_with(CTL, |s| s).await
}

async fn signup(http: &reqwest::Client, base: &str) -> Value {
    let resp = http
        .post(format!("{base}/_sandbox/signup"))
        .bearer_auth(CTL)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    resp.json().await.unwrap()
}

async fn exchange(
    http: &reqwest::Client,
    base: &str,
    seed: &Seed,
    secret: &str,
    code: &str,
) -> (u16, Value) {
    let resp = http
        .get(format!("{base}/v21.0/oauth/access_token"))
        .query(&[
            ("client_id", seed.app_id.as_str()),
            ("client_secret", secret),
            ("code", code),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn register(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    number: &str,
    pin: &str,
) -> (u16, Value) {
    let resp = http
        .post(format!("{base}/v21.0/{number}/register"))
        .bearer_auth(token)
        .json(&json!({"messaging_product": "whatsapp", "pin": pin}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_code_is_exchanged_once_within_30_seconds_for_a_token_scoped_to_its_waba() {
    let (base, seed) = spawn_sandbox().await;
    let http = reqwest::Client::new();
    let finish = signup(&http, &base).await;
    assert_eq!(finish["event"], "FINISH");
    let code = finish["code"].as_str().unwrap();

    let (status, body) = exchange(&http, &base, &seed, "wrong-secret", code).await;
    assert_eq!((status, body["error"]["code"].as_u64()), (400, Some(1)));

    let (status, body) = exchange(&http, &base, &seed, &seed.app_secret, code).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();

    let (status, body) = exchange(&http, &base, &seed, &seed.app_secret, code).await;
    assert_eq!(
        (status, body["error"]["error_subcode"].as_u64()),
        (400, Some(36009)),
        "a code works once"
    );

    // The new token reaches its own number, not the seeded one.
    let (status, body) = register(&http, &base, &token, &seed.phone_number_id, "123456").await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_u64(),
            body["error"]["error_subcode"].as_u64()
        ),
        (400, Some(100), Some(33))
    );

    let late = signup(&http, &base).await;
    http.post(format!("{base}/_sandbox/clock"))
        .bearer_auth(CTL)
        .json(&json!({"advance_secs": 31}))
        .send()
        .await
        .unwrap();
    let (status, body) = exchange(
        &http,
        &base,
        &seed,
        &seed.app_secret,
        late["code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["error_subcode"].as_u64()),
        (400, Some(36007)),
        "{body}"
    );
}

#[tokio::test]
async fn registering_with_a_pin_enables_sending_announces_the_partner_and_guards_the_pin() {
    let (base, seed) = spawn_sandbox().await;
    let http = reqwest::Client::new();
    let finish = signup(&http, &base).await;
    let (waba, number) = (
        finish["data"]["waba_id"].as_str().unwrap(),
        finish["data"]["phone_number_id"].as_str().unwrap(),
    );
    let token = exchange(
        &http,
        &base,
        &seed,
        &seed.app_secret,
        finish["code"].as_str().unwrap(),
    )
    .await
    .1["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let hook = Hook::default();
    let callback = hook.spawn().await;
    // The partner's app callback, then a plain subscription: PARTNER_ADDED
    // is account-level and never follows an override.
    assert_eq!(
        common::subscribe_app(&base, &seed, &callback, "messages,account_update").await,
        200
    );
    let sub = http
        .post(format!("{base}/v21.0/{waba}/subscribed_apps"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status().as_u16(), 200);

    let text = json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "text", "text": {"body": "hi"}});
    let before = http
        .post(format!("{base}/v21.0/{number}/messages"))
        .bearer_auth(&token)
        .json(&text)
        .send()
        .await
        .unwrap();
    let before: Value = before.json().await.unwrap();
    assert_eq!(
        before["error"]["code"], 133010,
        "an unregistered number cannot send"
    );

    assert_eq!(
        register(&http, &base, &token, number, "12345").await.0,
        400,
        "a PIN has 6 digits"
    );
    assert_eq!(
        register(&http, &base, &token, number, "581063").await,
        (200, json!({"success": true}))
    );
    let (status, body) = register(&http, &base, &token, number, "000000").await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(133005))
    );

    let mut announced = Vec::new();
    for _ in 0..100 {
        announced = hook.0.lock().unwrap().clone();
        if !announced.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let change = &announced[0]["entry"][0]["changes"][0];
    assert_eq!(change["field"], "account_update");
    assert_eq!(change["value"]["event"], "PARTNER_ADDED");
    assert_eq!(change["value"]["waba_info"]["waba_id"], waba);

    // Two calls counted so far (a malformed PIN is refused before counting); the limit is 10 per 72 hours.
    for _ in 2..10 {
        register(&http, &base, &token, number, "581063").await;
    }
    let (status, body) = register(&http, &base, &token, number, "581063").await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(133016))
    );
}
