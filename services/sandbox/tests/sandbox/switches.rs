//! Realism switches: async 131047, read without delivered, duplicates,
//! injected errors and latency.

use crate::common;

use std::time::{Duration, Instant};

use aerostic_sandbox::Seed;
use common::{Hook, spawn_sandbox_with};
use serde_json::{Value, json};

const CTL: &str = "ctl";

struct Meta {
    base: String,
    seed: Seed,
    http: reqwest::Client,
    hook: Hook,
}

async fn spawn() -> Meta {
    let (base, seed) = spawn_sandbox_with(CTL, |s| s).await;
    let hook = Hook::default();
    let callback = hook.spawn().await;
    let http = reqwest::Client::new();
    let sub = http
        .post(format!("{base}/v21.0/{}/subscribed_apps", seed.waba_id))
        .bearer_auth(&seed.access_token)
        .json(&json!({"override_callback_uri": callback, "verify_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status().as_u16(), 200);
    Meta {
        base,
        seed,
        http,
        hook,
    }
}

impl Meta {
    async fn switch(&self, body: Value) -> u16 {
        let resp = self
            .http
            .post(format!("{}/_sandbox/switches", self.base))
            .bearer_auth(CTL)
            .json(&body)
            .send()
            .await
            .unwrap();
        resp.status().as_u16()
    }

    async fn customer_writes(&self) {
        let url = format!(
            "{}/_sandbox/numbers/{}/inbound",
            self.base, self.seed.phone_number_id
        );
        let resp = self
            .http
            .post(url)
            .bearer_auth(CTL)
            .json(&json!({"from": "5511988887777", "text": "oi"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
    }

    async fn send_text(&self) -> (u16, Value) {
        let body = json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "text", "text": {"body": "x"}});
        let resp = self
            .http
            .post(format!(
                "{}/v21.0/{}/messages",
                self.base, self.seed.phone_number_id
            ))
            .bearer_auth(&self.seed.access_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// (status, error code) of every status webhook for `wamid`, once `n` arrived.
    async fn statuses(&self, wamid: &str, n: usize) -> Vec<(String, u64)> {
        let mut found = Vec::new();
        for _ in 0..100 {
            found = self
                .hook
                .0
                .lock()
                .unwrap()
                .iter()
                .filter_map(|v| {
                    let s = &v["entry"][0]["changes"][0]["value"]["statuses"][0];
                    (s["id"] == wamid).then(|| {
                        (
                            s["status"].as_str().unwrap().to_string(),
                            s["errors"][0]["code"].as_u64().unwrap_or(0),
                        )
                    })
                })
                .collect();
            if found.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        found.sort();
        found
    }
}

#[tokio::test]
async fn in_async_mode_a_send_outside_the_window_is_accepted_then_fails_with_131047() {
    let meta = spawn().await;
    assert_eq!(meta.switch(json!({"window_mode": "async"})).await, 200);
    let (status, body) = meta.send_text().await;
    assert_eq!(status, 200, "{body}");
    let wamid = body["messages"][0]["id"].as_str().unwrap();
    assert_eq!(
        meta.statuses(wamid, 1).await,
        vec![("failed".to_string(), 131047)]
    );
}

#[tokio::test]
async fn read_can_arrive_without_delivered_and_webhooks_can_come_twice() {
    let meta = spawn().await;
    meta.customer_writes().await;
    assert_eq!(
        meta.switch(json!({"skip_delivered": true, "duplicate_rate": 1.0, "reorder": true}))
            .await,
        200
    );
    let (_, body) = meta.send_text().await;
    let wamid = body["messages"][0]["id"].as_str().unwrap();
    let got = meta.statuses(wamid, 4).await;
    let expected: Vec<(String, u64)> = ["read", "read", "sent", "sent"]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn injected_errors_and_latency_shape_the_send_answer() {
    let meta = spawn().await;
    meta.customer_writes().await;
    assert_eq!(
        meta.switch(json!({"inject": [{"code": 131000, "rate": 1.0}]}))
            .await,
        200
    );
    let (status, body) = meta.send_text().await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (500, Some(131000))
    );

    assert_eq!(
        meta.switch(json!({"inject": [], "latency_ms": 150})).await,
        200
    );
    let started = Instant::now();
    let (status, _) = meta.send_text().await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "the answer waited for the latency switch"
    );
}

#[tokio::test]
async fn switches_are_validated() {
    let meta = spawn().await;
    assert_eq!(meta.switch(json!({"duplicate_rate": 2.0})).await, 400);
    assert_eq!(
        meta.switch(json!({"inject": [{"code": 999, "rate": 0.5}]}))
            .await,
        400
    );
    assert_eq!(meta.switch(json!({"window_mode": "sometimes"})).await, 400);
    let current: Value = meta
        .http
        .get(format!("{}/_sandbox/switches", meta.base))
        .bearer_auth(CTL)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        current["duplicate_rate"], 0.0,
        "a refused change leaves the switches as they were"
    );
}

#[tokio::test]
async fn batching_puts_several_updates_in_one_post() {
    let meta = spawn().await;
    meta.customer_writes().await;
    // Let the inbound webhook go first, on its own.
    for _ in 0..100 {
        if !meta.hook.0.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(meta.switch(json!({"batch_max": 10})).await, 200);
    let (_, body) = meta.send_text().await;
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();
    let mut posts = Vec::new();
    for _ in 0..100 {
        posts = meta
            .hook
            .0
            .lock()
            .unwrap()
            .iter()
            .skip(1)
            .cloned()
            .collect::<Vec<_>>();
        if !posts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(posts.len(), 1, "one POST for the three statuses");
    let entries = posts[0]["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries
            .iter()
            .all(|e| e["changes"][0]["value"]["statuses"][0]["id"] == wamid.as_str())
    );
}

#[tokio::test]
async fn with_status_first_the_sent_status_arrives_before_the_send_answers() {
    let meta = spawn().await;
    meta.customer_writes().await;
    assert_eq!(meta.switch(json!({"status_first": true})).await, 200);
    let (status, body) = meta.send_text().await;
    assert_eq!(status, 200);
    let wamid = body["messages"][0]["id"].as_str().unwrap();
    let already: Vec<Value> = meta.hook.0.lock().unwrap().clone();
    let sent_first = already.iter().any(|v| {
        let s = &v["entry"][0]["changes"][0]["value"]["statuses"][0];
        s["id"] == wamid && s["status"] == "sent"
    });
    assert!(
        sent_first,
        "the receiver had the sent status when the answer came"
    );
}

#[tokio::test]
async fn after_unsubscribing_no_more_webhooks_arrive() {
    let meta = spawn().await;
    let resp = meta
        .http
        .delete(format!(
            "{}/v21.0/{}/subscribed_apps",
            meta.base, meta.seed.waba_id
        ))
        .bearer_auth(&meta.seed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    meta.customer_writes().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(meta.hook.payloads().is_empty());
}

#[tokio::test]
async fn a_number_can_have_switches_of_its_own() {
    let meta = spawn().await;
    let number = &meta.seed.phone_number_id;
    let resp = meta
        .http
        .post(format!(
            "{}/_sandbox/switches?phone_number_id={number}",
            meta.base
        ))
        .bearer_auth(CTL)
        .json(&json!({"inject": [{"code": 131026, "rate": 1.0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    meta.customer_writes().await;
    let (status, body) = meta.send_text().await;
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(131026))
    );

    // Another number keeps the sandbox-wide switches.
    let other: Value = meta
        .http
        .post(format!("{}/_sandbox/numbers", meta.base))
        .bearer_auth(CTL)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let global: Value = meta
        .http
        .get(format!(
            "{}/_sandbox/switches?phone_number_id={}",
            meta.base,
            other["id"].as_str().unwrap()
        ))
        .bearer_auth(CTL)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(global["inject"], json!([]));
    let unknown = meta
        .http
        .post(format!(
            "{}/_sandbox/switches?phone_number_id=999",
            meta.base
        ))
        .bearer_auth(CTL)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}
