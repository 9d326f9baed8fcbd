//! Templates: creation rules, review and its webhook, and the checks on sends.

use crate::common;

use std::time::Duration;

use aerostic_sandbox::Seed;
use serde_json::{Value, json};

struct Meta {
    base: String,
    http: reqwest::Client,
    seed: Seed,
}

async fn spawn_sandbox() -> Meta {
    let (base, seed) =
        common::spawn_sandbox_with("ctl", |s| s.with_review_delay(Duration::from_millis(50))).await;
    Meta {
        base,
        http: reqwest::Client::new(),
        seed,
    }
}

impl Meta {
    fn templates_url(&self) -> String {
        format!(
            "{}/v21.0/{}/message_templates",
            self.base, self.seed.waba_id
        )
    }

    async fn create(&self, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.templates_url())
            .bearer_auth(&self.seed.access_token)
            .json(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn list(&self) -> Vec<Value> {
        let resp = self
            .http
            .get(self.templates_url())
            .bearer_auth(&self.seed.access_token)
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }

    async fn status_of(&self, name: &str) -> String {
        let list = self.list().await;
        list.iter()
            .find(|t| t["name"] == name)
            .map(|t| t["status"].as_str().unwrap().to_string())
            .unwrap_or_default()
    }

    async fn approved(&self, name: &str) {
        for _ in 0..100 {
            if self.status_of(name).await == "APPROVED" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{name} was never approved");
    }

    async fn send_template(&self, name: &str, language: &str, params: &[&str]) -> (u16, Value) {
        let parameters: Vec<Value> = params
            .iter()
            .map(|p| json!({"type": "text", "text": p}))
            .collect();
        let body = json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "template",
            "template": {"name": name, "language": {"code": language},
                         "components": [{"type": "body", "parameters": parameters}]}});
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
}

fn order_shipped() -> Value {
    json!({"name": "order_shipped", "category": "UTILITY", "language": "en_US", "components": [
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.", "example": {"body_text": [["Ana", "#981"]]}}]})
}

fn code(body: &Value) -> u64 {
    body["error"]["code"].as_u64().unwrap_or_default()
}

#[tokio::test]
async fn a_created_template_is_pending_then_approved_and_sendable_outside_the_window() {
    let meta = spawn_sandbox().await;
    let (status, body) = meta.create(&order_shipped()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "PENDING");
    assert_eq!(body["category"], "UTILITY");
    let (status, body) = meta
        .send_template("order_shipped", "en_US", &["Ana", "#981"])
        .await;
    assert_eq!(
        (status, code(&body)),
        (404, 132001),
        "a pending template cannot be sent: {body}"
    );

    meta.approved("order_shipped").await;
    // No customer message first: templates do not need the service window.
    let (status, body) = meta
        .send_template("order_shipped", "en_US", &["Ana", "#981"])
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn sends_must_match_the_language_and_the_parameter_count() {
    let meta = spawn_sandbox().await;
    meta.create(&order_shipped()).await;
    meta.approved("order_shipped").await;
    let (status, body) = meta
        .send_template("order_shipped", "en", &["Ana", "#981"])
        .await;
    assert_eq!((status, code(&body)), (404, 132001));
    assert_eq!(
        body["error"]["error_data"]["details"],
        "template name (order_shipped) does not exist in en"
    );
    let (status, body) = meta.send_template("order_shipped", "en_US", &["Ana"]).await;
    assert_eq!((status, code(&body)), (400, 132000));
    assert!(
        body["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("(1) does not match the expected number of params (2)")
    );
}

#[tokio::test]
async fn paused_and_disabled_templates_are_refused() {
    let meta = spawn_sandbox().await;
    let (_, created) = meta.create(&order_shipped()).await;
    meta.approved("order_shipped").await;
    let id = created["id"].as_str().unwrap();
    for (status, expected) in [("PAUSED", 132015), ("DISABLED", 132016)] {
        let resp = meta
            .http
            .post(format!("{}/_sandbox/templates/{id}/status", meta.base))
            .bearer_auth("ctl")
            .json(&json!({"status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let (_, body) = meta
            .send_template("order_shipped", "en_US", &["Ana", "#981"])
            .await;
        assert_eq!(code(&body), expected, "{status}");
    }
}

#[tokio::test]
async fn creation_enforces_names_categories_languages_examples_and_uniqueness() {
    let meta = spawn_sandbox().await;
    let mut bad_name = order_shipped();
    bad_name["name"] = json!("Order-Shipped");
    let mut bad_category = order_shipped();
    bad_category["category"] = json!("PROMO");
    let mut bad_language = order_shipped();
    bad_language["language"] = json!("english");
    let mut no_example = order_shipped();
    no_example["components"][0]
        .as_object_mut()
        .unwrap()
        .remove("example");
    for body in [bad_name, bad_category, bad_language, no_example] {
        let (status, reply) = meta.create(&body).await;
        assert_eq!((status, code(&reply)), (400, 100), "{body} -> {reply}");
    }
    assert_eq!(meta.create(&order_shipped()).await.0, 200);
    let (status, reply) = meta.create(&order_shipped()).await;
    assert_eq!(
        (status, code(&reply)),
        (400, 100),
        "same name and language twice: {reply}"
    );
    let mut other_language = order_shipped();
    other_language["language"] = json!("pt_BR");
    assert_eq!(
        meta.create(&other_language).await.0,
        200,
        "the same name in another language is fine"
    );
}

#[tokio::test]
async fn a_body_that_starts_with_a_parameter_is_rejected_at_review() {
    let meta = spawn_sandbox().await;
    let leading = json!({"name": "bad_format", "category": "MARKETING", "language": "en", "components": [
        {"type": "BODY", "text": "{{1}} is on sale", "example": {"body_text": [["Coffee"]]}}]});
    assert_eq!(meta.create(&leading).await.0, 200);
    for _ in 0..100 {
        if meta.status_of("bad_format").await == "REJECTED" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("bad_format was not rejected");
}

#[tokio::test]
async fn templates_can_be_listed_and_deleted_in_every_language() {
    let meta = spawn_sandbox().await;
    meta.create(&order_shipped()).await;
    let mut pt = order_shipped();
    pt["language"] = json!("pt_BR");
    meta.create(&pt).await;
    assert_eq!(meta.list().await.len(), 2);
    let resp = meta
        .http
        .delete(format!("{}?name=order_shipped", meta.templates_url()))
        .bearer_auth(&meta.seed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(meta.list().await.is_empty());
    let again = meta
        .http
        .delete(format!("{}?name=order_shipped", meta.templates_url()))
        .bearer_auth(&meta.seed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 400);
}

#[tokio::test]
async fn a_user_who_stopped_marketing_gets_131050_until_they_resume_while_utility_still_flows() {
    let meta = spawn_sandbox().await;
    let mut promo = order_shipped();
    promo["name"] = json!("weekly_promo");
    promo["category"] = json!("MARKETING");
    meta.create(&promo).await;
    meta.create(&order_shipped()).await;
    meta.approved("weekly_promo").await;
    meta.approved("order_shipped").await;
    let prefs = format!(
        "{}/_sandbox/numbers/{}/preferences",
        meta.base, meta.seed.phone_number_id
    );
    let set = |value: &'static str| {
        meta.http
            .post(&prefs)
            .bearer_auth("ctl")
            .json(&json!({"wa_id": "5511988887777", "value": value}))
            .send()
    };
    assert_eq!(set("stop").await.unwrap().status().as_u16(), 200);
    let (status, body) = meta
        .send_template("weekly_promo", "en_US", &["Ana", "#1"])
        .await;
    assert_eq!((status, code(&body)), (400, 131050), "{body}");
    assert_eq!(
        meta.send_template("order_shipped", "en_US", &["Ana", "#1"])
            .await
            .0,
        200
    );
    assert_eq!(set("resume").await.unwrap().status().as_u16(), 200);
    assert_eq!(
        meta.send_template("weekly_promo", "en_US", &["Ana", "#1"])
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn an_approved_template_can_be_edited_and_goes_back_to_review() {
    let meta = spawn_sandbox().await;
    let (_, created) = meta.create(&order_shipped()).await;
    let id = created["id"].as_str().unwrap();
    let one: Value = meta
        .http
        .get(format!("{}/v21.0/{id}?fields=status", meta.base))
        .bearer_auth(&meta.seed.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (one["id"].as_str(), one["status"].as_str()),
        (Some(id), Some("PENDING"))
    );
    let edit = |body: Value| {
        meta.http
            .post(format!("{}/v21.0/{id}", meta.base))
            .bearer_auth(&meta.seed.access_token)
            .json(&body)
            .send()
    };
    assert_eq!(
        edit(json!({"category": "MARKETING"}))
            .await
            .unwrap()
            .status()
            .as_u16(),
        400,
        "not while pending"
    );
    meta.approved("order_shipped").await;
    let components = json!([{"type": "BODY", "text": "Hello {{1}}, order shipped today.", "example": {"body_text": [["Ana"]]}}]);
    assert_eq!(
        edit(json!({"components": components}))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(meta.status_of("order_shipped").await, "PENDING");
    meta.approved("order_shipped").await;
    // The new body has one parameter.
    assert_eq!(
        meta.send_template("order_shipped", "en_US", &["Ana"])
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn header_parameters_and_url_button_parameters_are_checked_too() {
    let meta = spawn_sandbox().await;
    let shipped = json!({"name": "tracked", "category": "UTILITY", "language": "en_US", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#981"]}},
        {"type": "BODY", "text": "Hi {{1}}, it is on its way.", "example": {"body_text": [["Ana"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://ex.co/t/{{1}}"}]}]});
    assert_eq!(meta.create(&shipped).await.0, 200);
    meta.approved("tracked").await;
    let send = |components: Value| {
        let body = json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "template",
            "template": {"name": "tracked", "language": {"code": "en_US"}, "components": components}});
        meta.http
            .post(format!(
                "{}/v21.0/{}/messages",
                meta.base, meta.seed.phone_number_id
            ))
            .bearer_auth(&meta.seed.access_token)
            .json(&body)
            .send()
    };
    let header = json!({"type": "header", "parameters": [{"type": "text", "text": "#981"}]});
    let body = json!({"type": "body", "parameters": [{"type": "text", "text": "Ana"}]});
    let button = json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "981"}]});

    let no_header: Value = send(json!([body, button]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code(&no_header), 132000);
    assert!(
        no_header["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .starts_with("header:")
    );
    let no_button: Value = send(json!([header, body]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code(&no_button), 131008, "{no_button}");
    let complete = send(json!([header, body, button])).await.unwrap();
    assert_eq!(complete.status().as_u16(), 200);
}
