//! Messaging limits per business portfolio: unique users reached outside a
//! service window in a rolling 24 hours, shared by the portfolio's numbers.

use crate::common;

use std::time::Duration;

use common::{Hook, Meta, subscribe_app};
use serde_json::{Value, json};

/// A sandbox with two fast numbers on the seeded WABA (so throughput never
/// interferes), an approved template and a receiver for everything.
struct Portfolio {
    meta: Meta,
    hook: Hook,
    numbers: [String; 2],
}

async fn spawn() -> Portfolio {
    let meta = Meta::spawn("ctl", |s| s.with_review_delay(Duration::from_millis(10))).await;
    let hook = Hook::default();
    let callback = hook.spawn().await;
    meta.subscribe_override(&callback).await;
    // Quality updates are not overridable: they go to the app's callback.
    let fields = "messages,phone_number_quality_update";
    assert_eq!(
        subscribe_app(&meta.base, &meta.seed, &callback, fields).await,
        200
    );
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let (_, body) = meta
            .control("numbers", json!({"throughput_per_sec": 1000}))
            .await;
        numbers.push(body["id"].as_str().unwrap().to_string());
    }
    let template = json!({"name": "welcome", "category": "UTILITY", "language": "en_US",
                          "components": [{"type": "BODY", "text": "Welcome aboard."}]});
    let path = format!("{}/message_templates", meta.seed.waba_id);
    assert_eq!(meta.graph_post(&path, template).await.0, 200);
    for _ in 0..200 {
        if meta.graph_get(&path).await["data"][0]["status"] == "APPROVED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Portfolio {
        meta,
        hook,
        numbers: [numbers[0].clone(), numbers[1].clone()],
    }
}

fn user(i: usize) -> String {
    format!("55119{i:08}")
}

impl Portfolio {
    /// Sends the template from `number` to `to`; returns the wamid.
    async fn send_template(&self, number: &str, to: &str) -> String {
        let body = json!({"messaging_product": "whatsapp", "to": to, "type": "template",
                          "template": {"name": "welcome", "language": {"code": "en_US"}}});
        let (status, body) = self
            .meta
            .graph_post(&format!("{number}/messages"), body)
            .await;
        assert_eq!(status, 200, "Meta accepts the send either way: {body}");
        body["messages"][0]["id"].as_str().unwrap().to_string()
    }

    /// Reaches users 0..n, alternating between the two numbers.
    async fn reach_users(&self, n: usize) {
        for i in 0..n {
            self.send_template(&self.numbers[i % 2], &user(i)).await;
        }
    }

    /// The first status webhook for `wamid`: its status and error code.
    async fn first_status(&self, wamid: &str) -> (String, u64) {
        for _ in 0..300 {
            for p in self.hook.payloads() {
                let s = &p["entry"][0]["changes"][0]["value"]["statuses"][0];
                if s["id"] == wamid {
                    let code = s["errors"][0]["code"].as_u64().unwrap_or_default();
                    return (s["status"].as_str().unwrap().to_string(), code);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no status for {wamid}");
    }

    async fn limit_of(&self, number: &str) -> Value {
        self.meta.graph_get(number).await["whatsapp_business_manager_messaging_limit"].clone()
    }
}

#[tokio::test]
async fn a_new_portfolio_reaches_250_users_and_the_next_new_one_fails_after_acceptance() {
    let p = spawn().await;
    assert_eq!(p.limit_of(&p.numbers[0]).await, "TIER_250");
    // Both numbers draw from the same portfolio budget.
    p.reach_users(250).await;

    let over = p.send_template(&p.numbers[0], &user(250)).await;
    assert_eq!(p.first_status(&over).await, ("failed".into(), 131000));

    let again = p.send_template(&p.numbers[1], &user(0)).await;
    assert_eq!(
        p.first_status(&again).await.0,
        "sent",
        "a user reached today costs nothing more"
    );
}

#[tokio::test]
async fn users_who_wrote_first_do_not_count_against_the_limit() {
    let p = spawn().await;
    p.reach_users(250).await;
    let writer = user(900);
    let (status, _) = p
        .meta
        .control(
            &format!("numbers/{}/inbound", p.numbers[0]),
            json!({"from": writer, "text": "hi"}),
        )
        .await;
    assert_eq!(status, 201);
    let reply = p.send_template(&p.numbers[0], &writer).await;
    assert_eq!(p.first_status(&reply).await.0, "sent");
}

#[tokio::test]
async fn the_limit_is_a_rolling_day() {
    let p = spawn().await;
    p.reach_users(250).await;
    let (status, _) = p
        .meta
        .control("clock", json!({"advance_secs": 24 * 3600}))
        .await;
    assert_eq!(status, 200);
    let next = p.send_template(&p.numbers[0], &user(250)).await;
    assert_eq!(p.first_status(&next).await.0, "sent");
}

#[tokio::test]
async fn an_upgraded_portfolio_reaches_more_users_and_every_number_hears_of_it() {
    let p = spawn().await;
    p.reach_users(250).await;
    let (status, body) = p
        .meta
        .control("portfolio", json!({"tier": "TIER_2K"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["old_tier"], "TIER_250");
    assert_eq!(p.limit_of(&p.numbers[1]).await, "TIER_2K");

    let next = p.send_template(&p.numbers[0], &user(250)).await;
    assert_eq!(p.first_status(&next).await.0, "sent");

    let mut updates = Vec::new();
    for _ in 0..300 {
        updates = p
            .hook
            .payloads()
            .into_iter()
            .filter(|p| p["entry"][0]["changes"][0]["field"] == "phone_number_quality_update")
            .map(|p| p["entry"][0]["changes"][0]["value"].clone())
            .collect();
        if updates.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The seeded number and the two added ones.
    assert_eq!(updates.len(), 3, "{updates:?}");
    for u in &updates {
        assert_eq!(
            (&u["event"], &u["current_limit"], &u["old_limit"]),
            (&json!("UPGRADE"), &json!("TIER_2K"), &json!("TIER_250"))
        );
    }
}

#[tokio::test]
async fn an_unknown_tier_is_refused() {
    let p = spawn().await;
    let (status, body) = p
        .meta
        .control("portfolio", json!({"tier": "TIER_1K"}))
        .await;
    assert_eq!(status, 400, "{body}");
}
