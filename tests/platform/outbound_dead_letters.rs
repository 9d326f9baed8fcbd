//! Dead letters through the API: a message whose every attempt met a
//! passing error keeps its price held, is listed, and is either replayed
//! (sent at the price held) or discarded (failed, price released); another
//! workspace can do neither.

use crate::common;
use crate::outbound_send::{approved_template, send, waba_of};

use aerostic_dispatcher::deliver::MAX_ATTEMPTS;
use common::TestApp;
use common::billing::{identity, root_identity, top_up};
use common::meta::{connect_number, count, eventually};
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

async fn call(app: &TestApp, method: Method, path: &str, token: &str) -> common::Answer {
    app.call_on(common::APP_HOST, method, path, Some(token), None)
        .await
}

async fn wallet(app: &TestApp, admin: &str) -> Value {
    call(app, Method::GET, "/v1/billing/wallet", admin)
        .await
        .body
}

/// A template send that meets 131000 on every attempt until dead; its id.
async fn dead_template(app: &TestApp, admin: &str, body: &Value) -> String {
    app.sandbox_control(
        Method::POST,
        "/_sandbox/switches",
        Some(&json!({"inject": [{"code": 131000, "rate": 1.0}]})),
    )
    .await;
    let (status, sent, _) = send(app, admin, body, None).await;
    assert_eq!(status, 202, "{sent}");
    let id = sent["message"]["id"].as_str().unwrap().to_string();
    // The first attempt fails and is due again in a second or two; skip to
    // the last attempt rather than wait out eight backoffs.
    eventually(
        app,
        &format!("SELECT COUNT(*) FROM sends WHERE message_id = '{id}' AND attempts = 1 AND state = 'queued'"),
        1,
    )
    .await;
    let db = app.db().await;
    db.execute_unprepared(&format!(
        "UPDATE sends SET attempts = {} WHERE message_id = '{id}'",
        MAX_ATTEMPTS - 1
    ))
    .await
    .unwrap();
    eventually(
        app,
        &format!("SELECT COUNT(*) FROM sends WHERE message_id = '{id}' AND state = 'dead'"),
        1,
    )
    .await;
    id
}

async fn a_dead_letter_keeps_its_price_until_it_is_replayed_or_discarded(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let waba = waba_of(&app, &phone_id).await;
    approved_template(&app, &admin, &waba, "order_shipped", "UTILITY").await;
    let tenant = identity(&app, &admin).await;
    top_up(&app, &root_identity(&app).await, &tenant, 10_000, "wire-1").await;
    let body = json!({"to": "+5511955554444", "from_phone_number_id": phone_id, "type": "template", "template": {
        "name": "order_shipped", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}});

    let first = dead_template(&app, &admin, &body).await;
    let listed = call(&app, Method::GET, "/v1/dead-letters", &admin).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let entry = &listed.body["data"][0];
    assert_eq!(entry["message"]["id"], first.as_str());
    assert_eq!(entry["message"]["status"], "failed");
    assert_eq!(entry["last_error_code"], 131000);
    assert_eq!(entry["attempts"], MAX_ATTEMPTS);
    let held = wallet(&app, &admin).await["held_minor"].as_i64().unwrap();
    assert!(held > 0, "a dead letter keeps its price held");

    // Another workspace can neither replay nor discard it.
    let other = app.new_admin().await;
    for (method, path) in [
        (Method::POST, format!("/v1/dead-letters/{first}/replay")),
        (Method::DELETE, format!("/v1/dead-letters/{first}")),
    ] {
        let refused = call(&app, method, &path, &other).await;
        assert_eq!(refused.status, 404, "{path}: {}", refused.body);
        assert_eq!(refused.body["error"]["code"], "dead_letter_not_found");
    }

    // Meta is back: the replay goes out at the price held.
    app.sandbox_control(
        Method::POST,
        "/_sandbox/switches",
        Some(&json!({"inject": []})),
    )
    .await;
    let replayed = call(
        &app,
        Method::POST,
        &format!("/v1/dead-letters/{first}/replay"),
        &admin,
    )
    .await;
    assert_eq!(replayed.status, 202, "{}", replayed.body);
    assert_eq!(replayed.body["status"], "queued");
    eventually(
        &app,
        &format!("SELECT COUNT(*) FROM sends WHERE message_id = '{first}' AND state = 'accepted'"),
        1,
    )
    .await;
    let again = call(
        &app,
        Method::POST,
        &format!("/v1/dead-letters/{first}/replay"),
        &admin,
    )
    .await;
    assert_eq!(again.status, 404, "replayed once only");

    // A second one is discarded: failed for good, its price released.
    let second = dead_template(&app, &admin, &body).await;
    let discarded = call(
        &app,
        Method::DELETE,
        &format!("/v1/dead-letters/{second}"),
        &admin,
    )
    .await;
    assert_eq!(discarded.status, 200, "{}", discarded.body);
    assert_eq!(discarded.body["status"], "failed");
    // The first settles when Meta reports it sent; the second is released.
    for _ in 0..600 {
        if wallet(&app, &admin).await["held_minor"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = wallet(&app, &admin).await;
    assert_eq!(after["held_minor"], 0, "{after}");
    assert_eq!(
        after["available_minor"].as_i64().unwrap(),
        10_000 - held,
        "only the replayed message was paid for"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sends WHERE state = 'dead'").await,
        0
    );
}

crate::on_every_backend!(a_dead_letter_keeps_its_price_until_it_is_replayed_or_discarded);
