//! Where webhooks go: the app's callback, a WABA override and a number
//! override, in that order of precedence, for the fields overrides may carry.

use crate::common;

use std::time::Duration;

use common::{Hook, Meta, subscribe_app};
use serde_json::{Value, json};

async fn spawn() -> Meta {
    Meta::spawn("ctl", |s| s.with_review_delay(Duration::from_millis(10))).await
}

/// A receiver and its URL.
async fn receiver() -> (Hook, String) {
    let hook = Hook::default();
    let url = hook.spawn().await;
    (hook, url)
}

async fn subscribe_waba(meta: &Meta, override_url: Option<&str>) -> u16 {
    let body = match override_url {
        Some(url) => json!({"override_callback_uri": url, "verify_token": "vt"}),
        None => json!({}),
    };
    let path = format!("{}/subscribed_apps", meta.seed.waba_id);
    meta.graph_post(&path, body).await.0
}

async fn override_number(meta: &Meta, url: &str) -> u16 {
    let body =
        json!({"webhook_configuration": {"override_callback_uri": url, "verify_token": "vt"}});
    meta.graph_post(&meta.seed.phone_number_id, body).await.0
}

async fn customer_writes(meta: &Meta, text: &str) {
    meta.customer_writes(&meta.seed.phone_number_id, "5511988887777", text)
        .await;
}

/// Texts of the customer messages `hook` received.
async fn texts(hook: &Hook, meta: &Meta) -> Vec<String> {
    meta.settled_attempts().await;
    hook.payloads()
        .iter()
        .filter_map(|p| {
            p["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// Fields of everything `hook` received.
fn fields(hook: &Hook) -> Vec<String> {
    hook.payloads()
        .iter()
        .map(|p| {
            p["entry"][0]["changes"][0]["field"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn messages_go_to_the_number_override_then_the_waba_override_then_the_app_callback() {
    let meta = spawn().await;
    let (app, app_url) = receiver().await;
    let (waba, waba_url) = receiver().await;
    let (number, number_url) = receiver().await;
    assert_eq!(
        subscribe_app(&meta.base, &meta.seed, &app_url, "messages").await,
        200
    );
    assert_eq!(subscribe_waba(&meta, Some(&waba_url)).await, 200);
    assert_eq!(override_number(&meta, &number_url).await, 200);

    let config = meta
        .graph_get(&format!(
            "{}?fields=webhook_configuration",
            meta.seed.phone_number_id
        ))
        .await;
    assert_eq!(
        config["webhook_configuration"],
        json!({"phone_number": number_url, "whatsapp_business_account": waba_url, "application": app_url})
    );

    customer_writes(&meta, "one").await;
    assert_eq!(texts(&number, &meta).await, ["one"]);

    // An empty URL removes an override.
    assert_eq!(override_number(&meta, "").await, 200);
    customer_writes(&meta, "two").await;
    assert_eq!(texts(&waba, &meta).await, ["two"]);

    assert_eq!(subscribe_waba(&meta, Some("")).await, 200);
    customer_writes(&meta, "three").await;
    assert_eq!(texts(&app, &meta).await, ["three"]);
    assert_eq!(
        texts(&number, &meta).await,
        ["one"],
        "nothing else went to the number"
    );
}

#[tokio::test]
async fn template_and_account_fields_ignore_overrides_and_follow_the_app_fields() {
    let meta = spawn().await;
    let (app, app_url) = receiver().await;
    let (waba, waba_url) = receiver().await;
    assert_eq!(
        subscribe_app(
            &meta.base,
            &meta.seed,
            &app_url,
            "messages,message_template_status_update"
        )
        .await,
        200
    );
    assert_eq!(subscribe_waba(&meta, Some(&waba_url)).await, 200);

    let template = json!({"name": "welcome", "category": "UTILITY", "language": "en_US",
                          "components": [{"type": "BODY", "text": "Welcome aboard."}]});
    let (status, _) = meta
        .graph_post(
            &format!("{}/message_templates", meta.seed.waba_id),
            template,
        )
        .await;
    assert_eq!(status, 200);
    // user_preferences is not among the app's fields: it goes nowhere.
    let prefs = format!("numbers/{}/preferences", meta.seed.phone_number_id);
    let (status, _) = meta
        .control(&prefs, json!({"wa_id": "5511988887777", "value": "stop"}))
        .await;
    assert_eq!(status, 200);
    customer_writes(&meta, "hi").await;

    for _ in 0..200 {
        if !fields(&app).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    meta.settled_attempts().await;
    assert_eq!(fields(&app), ["message_template_status_update"]);
    let update = &app.payloads()[0]["entry"][0]["changes"][0]["value"];
    assert_eq!(
        (&update["event"], &update["message_template_name"]),
        (&json!("APPROVED"), &json!("welcome"))
    );
    assert_eq!(fields(&waba), ["messages"]);
}

#[tokio::test]
async fn an_unsubscribed_waba_sends_nothing_even_to_the_app_callback() {
    let meta = spawn().await;
    let (app, app_url) = receiver().await;
    assert_eq!(
        subscribe_app(&meta.base, &meta.seed, &app_url, "messages").await,
        200
    );
    customer_writes(&meta, "before").await;
    assert_eq!(meta.settled_attempts().await, 0);

    assert_eq!(subscribe_waba(&meta, None).await, 200);
    let listed = meta
        .graph_get(&format!("{}/subscribed_apps", meta.seed.waba_id))
        .await;
    assert_eq!(
        listed["data"][0]["whatsapp_business_api_data"]["id"],
        meta.seed.app_id
    );
    customer_writes(&meta, "after").await;
    assert_eq!(texts(&app, &meta).await, ["after"]);

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
    customer_writes(&meta, "gone").await;
    assert_eq!(texts(&app, &meta).await, ["after"]);
}

#[tokio::test]
async fn the_app_callback_needs_the_app_token_a_verified_url_and_fields() {
    let meta = spawn().await;
    let (_, app_url) = receiver().await;
    let url = format!("{}/v21.0/{}/subscriptions", meta.base, meta.seed.app_id);
    let body = json!({"object": "whatsapp_business_account", "callback_url": app_url,
                      "verify_token": "vt", "fields": "messages"});
    let resp = meta
        .http
        .post(&url)
        .bearer_auth(&meta.seed.access_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        401,
        "a user token is not an app token"
    );
    let error: Value = resp.json().await.unwrap();
    assert_eq!(error["error"]["code"], 190);

    // Nothing listens on port 9 of loopback: verification fails.
    let status = subscribe_app(&meta.base, &meta.seed, "http://127.0.0.1:9/h", "messages").await;
    assert_eq!(status, 400);
    assert_eq!(
        subscribe_app(&meta.base, &meta.seed, &app_url, "").await,
        400
    );

    assert_eq!(
        subscribe_app(&meta.base, &meta.seed, &app_url, "messages, account_update").await,
        200
    );
    let listed: Value = meta
        .http
        .get(&url)
        .bearer_auth(format!("{}|{}", meta.seed.app_id, meta.seed.app_secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["callback_url"], app_url);
    let names: Vec<&str> = listed["data"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["messages", "account_update"]);
}
