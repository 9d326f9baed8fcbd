//! Webhooks out: verification first, Meta's payload shapes, escaped-unicode
//! bodies signed over their exact bytes, and retries until the receiver says 200.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aerostic_sandbox::Seed;
use aerostic_sandbox::webhooks::RetryPolicy;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CONTROL: &str = "control-secret";

/// A webhook receiver: answers verification, records POSTs, fails the first
/// `fail_first` of them with 500.
#[derive(Clone, Default)]
struct Receiver {
    verify_token: String,
    echo_quoted: bool,
    fail_first: usize,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    calls: Arc<Mutex<usize>>,
    every_body: Arc<Mutex<Vec<Bytes>>>,
}

async fn verify(
    State(r): State<Receiver>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> (StatusCode, String) {
    let challenge = q.get("hub.challenge").cloned().unwrap_or_default();
    let ok = q.get("hub.mode").map(String::as_str) == Some("subscribe")
        && q.get("hub.verify_token") == Some(&r.verify_token);
    match (ok, r.echo_quoted) {
        (true, false) => (StatusCode::OK, challenge),
        (true, true) => (StatusCode::OK, format!("\"{challenge}\"")),
        (false, _) => (StatusCode::FORBIDDEN, String::new()),
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.every_body.lock().unwrap().push(body.clone());
    let mut calls = r.calls.lock().unwrap();
    *calls += 1;
    if *calls <= r.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.received.lock().unwrap().push((headers, body));
    StatusCode::OK
}

async fn spawn_receiver(receiver: Receiver) -> String {
    let app = axum::Router::new()
        .route("/hook", get(verify).post(receive))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn spawn_sandbox() -> (String, Seed) {
    let fast = RetryPolicy {
        base: Duration::from_millis(30),
        horizon: Duration::from_secs(60),
    };
    common::spawn_sandbox_with(CONTROL, |s| s.with_retry_policy(fast)).await
}

async fn subscribe(base: &str, seed: &Seed, callback: &str, verify_token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/v21.0/{}/subscribed_apps", seed.waba_id))
        .bearer_auth(&seed.access_token)
        .json(&json!({"override_callback_uri": callback, "verify_token": verify_token}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn customer_writes(base: &str, seed: &Seed, text: &str) {
    let resp = reqwest::Client::new()
        .post(format!(
            "{base}/_sandbox/numbers/{}/inbound",
            seed.phone_number_id
        ))
        .bearer_auth(CONTROL)
        .json(&json!({"from": "5511988887777", "text": text, "name": "Ana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

async fn wait_for(receiver: &Receiver, n: usize) -> Vec<(HeaderMap, Bytes)> {
    for _ in 0..250 {
        if receiver.received.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.received.lock().unwrap().clone()
}

/// HMAC-SHA256 written out from RFC 2104, independent of the sandbox's `hmac` crate.
fn rfc2104_hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::digest([ipad.as_slice(), msg].concat());
    let outer = Sha256::digest([opad.as_slice(), &inner[..]].concat());
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_customer_message_arrives_signed_over_its_exact_escaped_bytes() {
    let receiver = Receiver {
        verify_token: "vt-1".into(),
        ..Default::default()
    };
    let url = spawn_receiver(receiver.clone()).await;
    let (base, seed) = spawn_sandbox().await;
    assert_eq!(
        subscribe(&base, &seed, &url, "vt-1").await,
        (200, json!({"success": true}))
    );

    customer_writes(&base, &seed, "Olá! Tem o café 😮 @ R$10?").await;
    let got = wait_for(&receiver, 1).await;
    let (headers, body) = &got[0];
    let raw = std::str::from_utf8(body).unwrap();
    assert!(raw.is_ascii(), "non-ASCII is escaped: {raw}");
    assert!(
        raw.contains(r"Ol\u00e1") && raw.contains(r"\ud83d\ude2e"),
        "{raw}"
    );

    let expected = format!(
        "sha256={}",
        rfc2104_hmac_sha256(seed.app_secret.as_bytes(), body)
    );
    assert_eq!(headers["x-hub-signature-256"], expected.as_str());
    assert!(
        headers["x-hub-signature"]
            .to_str()
            .unwrap()
            .starts_with("sha1=")
    );

    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["object"], "whatsapp_business_account");
    let entry = &payload["entry"][0];
    assert_eq!(entry["id"], seed.waba_id.as_str());
    let value = &entry["changes"][0]["value"];
    assert_eq!(entry["changes"][0]["field"], "messages");
    assert_eq!(
        value["metadata"]["phone_number_id"],
        seed.phone_number_id.as_str()
    );
    assert_eq!(
        value["contacts"][0],
        json!({"profile": {"name": "Ana"}, "wa_id": "5511988887777"})
    );
    let message = &value["messages"][0];
    assert_eq!(message["type"], "text");
    assert_eq!(message["text"]["body"], "Olá! Tem o café 😮 @ R$10?");
    assert!(
        message["timestamp"].is_string(),
        "timestamps are strings of seconds"
    );
}

#[tokio::test]
async fn a_callback_that_fails_verification_is_refused_and_gets_nothing() {
    let quoted = Receiver {
        verify_token: "vt".into(),
        echo_quoted: true,
        ..Default::default()
    };
    let url = spawn_receiver(quoted.clone()).await;
    let (base, seed) = spawn_sandbox().await;
    let (status, body) = subscribe(&base, &seed, &url, "vt").await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(2200)),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not match challenge")
    );

    let (status, body) = subscribe(&base, &seed, &url, "wrong-token").await;
    assert_eq!((status, body["error"]["code"].as_u64()), (400, Some(2200)));

    customer_writes(&base, &seed, "anyone?").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(quoted.received.lock().unwrap().is_empty());
    assert_eq!(
        *quoted.calls.lock().unwrap(),
        0,
        "no POST reaches an unverified callback"
    );
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_same_bytes_on_the_third_try() {
    let receiver = Receiver {
        verify_token: "vt".into(),
        fail_first: 2,
        ..Default::default()
    };
    let url = spawn_receiver(receiver.clone()).await;
    let (base, seed) = spawn_sandbox().await;
    subscribe(&base, &seed, &url, "vt").await;
    customer_writes(&base, &seed, "retry me").await;
    let got = wait_for(&receiver, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(*receiver.calls.lock().unwrap(), 3);
    let bodies = receiver.every_body.lock().unwrap().clone();
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "every retry carries the same bytes"
    );

    let log: Value = reqwest::Client::new()
        .get(format!("{base}/_sandbox/deliveries"))
        .bearer_auth(CONTROL)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<u64> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![500, 500, 200]);
    assert_eq!(log["data"][2]["final_outcome"], "delivered");
    assert_eq!(log["pending"], 0);
}

#[tokio::test]
async fn a_send_is_followed_by_sent_delivered_and_read_statuses_with_pmp_pricing() {
    let receiver = Receiver {
        verify_token: "vt".into(),
        ..Default::default()
    };
    let url = spawn_receiver(receiver.clone()).await;
    let (base, seed) = spawn_sandbox().await;
    subscribe(&base, &seed, &url, "vt").await;
    customer_writes(&base, &seed, "oi").await;
    let sent: Value = reqwest::Client::new()
        .post(format!("{base}/v21.0/{}/messages", seed.phone_number_id))
        .bearer_auth(&seed.access_token)
        .json(&json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "text", "text": {"body": "olá"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wamid = sent["messages"][0]["id"].as_str().unwrap().to_string();
    let got = wait_for(&receiver, 4).await;
    let mut statuses: Vec<(String, bool)> = got
        .iter()
        .filter_map(|(_, body)| {
            let v: Value = serde_json::from_slice(body).unwrap();
            let s = v["entry"][0]["changes"][0]["value"]["statuses"][0].clone();
            (s["id"] == wamid.as_str()).then(|| {
                (
                    s["status"].as_str().unwrap().to_string(),
                    s.get("pricing").is_some(),
                )
            })
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![
            ("delivered".into(), true),
            ("read".into(), false),
            ("sent".into(), true)
        ]
    );
}

#[tokio::test]
async fn customers_can_send_any_type_including_username_only_users_without_a_phone() {
    let receiver = Receiver {
        verify_token: "vt".into(),
        ..Default::default()
    };
    let url = spawn_receiver(receiver.clone()).await;
    let (base, seed) = spawn_sandbox().await;
    subscribe(&base, &seed, &url, "vt").await;
    let http = reqwest::Client::new();
    let inbound = format!("{base}/_sandbox/numbers/{}/inbound", seed.phone_number_id);
    let image = json!({"from": "5511988887777", "type": "image", "context": {"forwarded": true},
        "image": {"id": "1780000000000009", "mime_type": "image/jpeg", "sha256": "abc=", "caption": "foto"}});
    let bsuid = json!({"user_id": "US.13491208655302741918", "name": "ana_handle", "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "yes-981", "title": "Yes"}}});
    for body in [&image, &bsuid] {
        let resp = http
            .post(&inbound)
            .bearer_auth(CONTROL)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{body}");
    }
    let bad = http
        .post(&inbound)
        .bearer_auth(CONTROL)
        .json(&json!({"type": "hologram", "hologram": {}, "from": "5511988887777"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let got = wait_for(&receiver, 2).await;
    let values: Vec<Value> = got
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<Value>(b).unwrap()["entry"][0]["changes"][0]["value"].clone()
        })
        .collect();
    let photo = values
        .iter()
        .find(|v| v["messages"][0]["type"] == "image")
        .unwrap();
    assert_eq!(photo["messages"][0]["image"]["caption"], "foto");
    assert_eq!(photo["messages"][0]["context"]["forwarded"], true);
    let tap = values
        .iter()
        .find(|v| v["messages"][0]["type"] == "interactive")
        .unwrap();
    assert!(
        tap["messages"][0].get("from").is_none(),
        "a username-only user has no phone number"
    );
    assert_eq!(
        tap["messages"][0]["from_user_id"],
        "US.13491208655302741918"
    );
    assert!(tap["contacts"][0].get("wa_id").is_none());
    assert_eq!(tap["contacts"][0]["user_id"], "US.13491208655302741918");
}

#[tokio::test]
async fn a_receiver_that_never_answers_200_is_given_up_on_after_the_horizon() {
    assert_eq!(
        RetryPolicy::default().horizon,
        Duration::from_secs(7 * 24 * 3600),
        "Meta retries for 7 days"
    );
    let receiver = Receiver {
        verify_token: "vt".into(),
        fail_first: usize::MAX,
        ..Default::default()
    };
    let url = spawn_receiver(receiver.clone()).await;
    let (base, seed) = spawn_sandbox().await;
    subscribe(&base, &seed, &url, "vt").await;
    customer_writes(&base, &seed, "nobody home").await;
    let http = reqwest::Client::new();
    let log = || async {
        http.get(format!("{base}/_sandbox/deliveries"))
            .bearer_auth(CONTROL)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    for _ in 0..100 {
        if *receiver.calls.lock().unwrap() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        log().await["pending"],
        1,
        "still retrying inside the horizon"
    );

    // The fast clock: a minute later the 60-second horizon is behind us.
    http.post(format!("{base}/_sandbox/clock"))
        .bearer_auth(CONTROL)
        .json(&json!({"advance_secs": 61}))
        .send()
        .await
        .unwrap();
    let mut last = Value::Null;
    for _ in 0..200 {
        last = log().await;
        if last["pending"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let attempts = last["data"].as_array().unwrap();
    assert_eq!(
        attempts.last().unwrap()["final_outcome"],
        "gave_up",
        "{last}"
    );
    assert!(receiver.received.lock().unwrap().is_empty());
    let calls = *receiver.calls.lock().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        *receiver.calls.lock().unwrap(),
        calls,
        "no try after giving up"
    );
}
