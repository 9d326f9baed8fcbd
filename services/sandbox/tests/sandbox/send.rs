//! The send endpoint and the control API, driven over HTTP like a client would.

use crate::common;

use aerostic_sandbox::Seed;
use serde_json::{Value, json};

const CONTROL: &str = "control-secret";

#[derive(Clone)]
struct Meta {
    base: String,
    http: reqwest::Client,
    seed: Seed,
}

async fn spawn_sandbox() -> Meta {
    let (base, seed) = common::spawn_sandbox_with(CONTROL, |s| s).await;
    Meta {
        base,
        http: reqwest::Client::new(),
        seed,
    }
}

impl Meta {
    async fn send_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn send(&self, body: &Value) -> (u16, Value) {
        let path = format!("/v21.0/{}/messages", self.seed.phone_number_id);
        self.send_as(&self.seed.access_token, &path, body).await
    }

    async fn control(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(CONTROL)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn customer_writes(&self, from: &str) {
        let path = format!("/_sandbox/numbers/{}/inbound", self.seed.phone_number_id);
        let (status, body) = self
            .control(
                &path,
                &json!({"from": from, "text": "Oi, ainda tem estoque?"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    async fn sent(&self) -> Vec<Value> {
        let url = format!(
            "{}/_sandbox/numbers/{}/sent",
            self.base, self.seed.phone_number_id
        );
        let body: Value = self
            .http
            .get(url)
            .bearer_auth(CONTROL)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["data"].as_array().unwrap().clone()
    }
}

fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text", "text": {"body": body}})
}

fn code(body: &Value) -> u64 {
    body["error"]["code"].as_u64().unwrap_or_default()
}

#[tokio::test]
async fn a_text_inside_the_service_window_is_accepted_and_recorded() {
    let meta = spawn_sandbox().await;
    meta.customer_writes("5511988887777").await;
    let (status, body) = meta.send(&text("+55 (11) 98888-7777", "Temos sim!")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(
        body["contacts"][0],
        json!({"input": "+55 (11) 98888-7777", "wa_id": "5511988887777"})
    );
    let wamid = body["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid."));
    let sent = meta.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["id"], wamid);
    assert_eq!(sent[0]["body"]["text"]["body"], "Temos sim!");
}

#[tokio::test]
async fn ids_are_the_same_for_the_same_seed_and_calls() {
    let (a, b) = (spawn_sandbox().await, spawn_sandbox().await);
    for meta in [&a, &b] {
        meta.customer_writes("5511988887777").await;
    }
    let (_, first) = a.send(&text("5511988887777", "x")).await;
    let (_, second) = b.send(&text("5511988887777", "x")).await;
    assert_eq!(first["messages"][0]["id"], second["messages"][0]["id"]);
}

#[tokio::test]
async fn free_form_outside_the_window_is_131047_and_the_window_closes_after_24_hours() {
    let meta = spawn_sandbox().await;
    let (status, body) = meta.send(&text("5511988887777", "hello?")).await;
    assert_eq!((status, code(&body)), (400, 131047), "{body}");
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(
        body["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("24 hours")
    );
    assert!(!body["error"]["fbtrace_id"].as_str().unwrap().is_empty());

    meta.customer_writes("5511988887777").await;
    assert_eq!(meta.send(&text("5511988887777", "now ok")).await.0, 200);
    let (status, _) = meta
        .control("/_sandbox/clock", &json!({"advance_secs": 24 * 3600 + 1}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = meta.send(&text("5511988887777", "too late")).await;
    assert_eq!((status, code(&body)), (400, 131047));
}

#[tokio::test]
async fn bad_or_missing_tokens_and_wrong_object_ids_get_metas_codes() {
    let meta = spawn_sandbox().await;
    let path = format!("/v21.0/{}/messages", meta.seed.phone_number_id);
    let (status, body) = meta
        .send_as("not-a-token", &path, &text("5511988887777", "x"))
        .await;
    assert_eq!((status, code(&body)), (401, 190), "{body}");

    let resp = meta
        .http
        .post(format!("{}{path}", meta.base))
        .json(&text("5511988887777", "x"))
        .send()
        .await
        .unwrap();
    // Meta answers a missing token with 400 and code 2500, not 190.
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(code(&resp.json().await.unwrap()), 2500);

    // The classic mistake: the phone number itself used as the phone-number id.
    let (status, body) = meta
        .send_as(
            &meta.seed.access_token,
            "/v21.0/15550001111/messages",
            &text("5511988887777", "x"),
        )
        .await;
    assert_eq!((status, code(&body)), (400, 100));
    assert_eq!(body["error"]["error_subcode"], 33);
    assert_eq!(body["error"]["type"], "GraphMethodException");

    let (status, body) = meta
        .send_as(
            &meta.seed.access_token,
            &path.replace("v21.0", "21"),
            &text("5511988887777", "x"),
        )
        .await;
    assert_eq!((status, code(&body)), (400, 2500));
}

#[tokio::test]
async fn invalid_content_is_refused_with_the_parameter_named() {
    let meta = spawn_sandbox().await;
    meta.customer_writes("5511988887777").await;
    let (status, body) = meta.send(&text("5511988887777", &"a".repeat(4097))).await;
    assert_eq!((status, code(&body)), (400, 100));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text['body']"),
        "{body}"
    );

    let (status, body) = meta.send(&text("12ab", "x")).await;
    assert_eq!((status, code(&body)), (400, 131009));
    assert_eq!(
        body["error"]["error_data"]["details"],
        "Invalid 'to' parameter"
    );

    let four_buttons: Vec<Value> = (0..4)
        .map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": "Yes"}}))
        .collect();
    let interactive = json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "Confirm?"}, "action": {"buttons": four_buttons}}});
    let (status, body) = meta.send(&interactive).await;
    assert_eq!((status, code(&body)), (400, 100), "{body}");

    let both = json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "image",
        "image": {"id": "1780000000000001", "link": "https://ex.co/a.png"}});
    assert_eq!(code(&meta.send(&both).await.1), 100);

    let poll =
        json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "poll", "poll": {}});
    assert_eq!(code(&meta.send(&poll).await.1), 131051);
    assert!(
        meta.sent().await.is_empty(),
        "nothing invalid was recorded as sent"
    );
}

#[tokio::test]
async fn mark_as_read_answers_success() {
    let meta = spawn_sandbox().await;
    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.ABC",
        "typing_indicator": {"type": "text"}});
    let (status, body) = meta.send(&read).await;
    assert_eq!((status, body), (200, json!({"success": true})));
}

#[tokio::test]
async fn the_46th_message_to_one_user_in_a_burst_hits_the_pair_limit() {
    let meta = spawn_sandbox().await;
    meta.customer_writes("5511988887777").await;
    for n in 0..45 {
        let (status, body) = meta.send(&text("5511988887777", &format!("m{n}"))).await;
        assert_eq!(status, 200, "message {n}: {body}");
    }
    let (status, body) = meta.send(&text("5511988887777", "one too many")).await;
    assert_eq!((status, code(&body)), (400, 131056), "{body}");
    // Another user is unaffected.
    meta.customer_writes("5511977776666").await;
    assert_eq!(meta.send(&text("5511977776666", "hi")).await.0, 200);
}

#[tokio::test]
async fn a_burst_beyond_80_per_second_on_one_number_hits_130429() {
    let meta = spawn_sandbox().await;
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..300 {
        let (meta, body) = (meta.clone(), text(&format!("55119{n:08}"), "promo"));
        burst.spawn(async move { code(&meta.send(&body).await.1) });
    }
    let codes = burst.join_all().await;
    let throttled = codes.iter().filter(|c| **c == 130429).count();
    assert!(
        throttled > 0,
        "some of a 300-message burst must be throttled: {codes:?}"
    );
    assert!(
        codes.iter().all(|c| *c == 130429 || *c == 131047),
        "{codes:?}"
    );
}

#[tokio::test]
async fn the_control_api_needs_its_own_token_and_reset_restores_the_seed() {
    let meta = spawn_sandbox().await;
    let path = format!(
        "{}/_sandbox/numbers/{}/inbound",
        meta.base, meta.seed.phone_number_id
    );
    let resp = meta
        .http
        .post(&path)
        .bearer_auth(&meta.seed.access_token)
        .json(&json!({"from": "5511988887777", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    meta.customer_writes("5511988887777").await;
    meta.send(&text("5511988887777", "x")).await;
    assert_eq!(meta.sent().await.len(), 1);
    assert_eq!(meta.control("/_sandbox/reset", &json!({})).await.0, 204);
    assert!(meta.sent().await.is_empty());
    let (status, body) = meta.send(&text("5511988887777", "window gone too")).await;
    assert_eq!((status, code(&body)), (400, 131047));
}

#[tokio::test]
async fn an_upgraded_number_takes_more_than_80_messages_in_a_second() {
    let meta = spawn_sandbox().await;
    let (status, number) = meta
        .control("/_sandbox/numbers", &json!({"throughput_per_sec": 1000}))
        .await;
    assert_eq!(status, 201, "{number}");
    let id = number["id"].as_str().unwrap().to_string();
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..200 {
        let (meta, id) = (meta.clone(), id.clone());
        burst.spawn(async move {
            let path = format!("/v21.0/{id}/messages");
            code(
                &meta
                    .send_as(
                        &meta.seed.access_token,
                        &path,
                        &text(&format!("55119{n:08}"), "hi"),
                    )
                    .await
                    .1,
            )
        });
    }
    let codes = burst.join_all().await;
    assert!(
        codes.iter().all(|c| *c == 131047),
        "none throttled at 1,000 msg/s: {codes:?}"
    );
    assert_eq!(
        meta.control("/_sandbox/numbers", &json!({"throughput_per_sec": 50}))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn a_number_reports_its_throughput_level_and_messaging_limit() {
    let meta = spawn_sandbox().await;
    let (_, upgraded) = meta
        .control("/_sandbox/numbers", &json!({"throughput_per_sec": 1000}))
        .await;
    for (id, level) in [
        (meta.seed.phone_number_id.clone(), "STANDARD"),
        (upgraded["id"].as_str().unwrap().to_string(), "HIGH"),
    ] {
        let fields: Value = meta
            .http
            .get(format!(
                "{}/v21.0/{id}?fields=throughput,whatsapp_business_manager_messaging_limit",
                meta.base
            ))
            .bearer_auth(&meta.seed.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(fields["throughput"]["level"], level);
        assert_eq!(
            fields["whatsapp_business_manager_messaging_limit"],
            "TIER_250"
        );
    }
}
