//! Meta's webhooks in: the callback's verification, signatures checked over
//! the exact bytes, every payload stored before the 200, then applied once:
//! duplicates change nothing, and unknown numbers are kept, not dropped.

use crate::common;

use std::time::Duration;

use aerostic_dispatcher::events::MessageReceived;
use common::TestApp;
use common::meta::{
    connected_number, count, customer_writes, eventually, post_webhook, sign, text_payload,
};
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::json;

async fn the_callback_verifies_with_the_platforms_token_only(app: TestApp) {
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

async fn only_correctly_signed_webhooks_are_stored_and_each_message_is_kept_once(app: TestApp) {
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

async fn a_customers_message_from_the_sandbox_arrives_and_stop_opts_them_out(app: TestApp) {
    let phone_id = connected_number(&app).await;
    for text in ["Oi, tudo bem?", "  STOP "] {
        customer_writes(&app, &phone_id, "5511977776666", text).await;
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

async fn a_change_for_a_number_nobody_owns_is_kept_and_reported(app: TestApp) {
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

async fn the_sandbox_duplicating_and_batching_webhooks_leaves_each_message_once(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let switched = app
        .sandbox_control(
            Method::POST,
            "/_sandbox/switches",
            Some(&json!({"duplicate_rate": 1.0, "batch_max": 10})),
        )
        .await;
    assert_eq!(switched["duplicate_rate"], 1.0, "{switched}");
    for i in 0..25 {
        customer_writes(
            &app,
            &phone_id,
            &format!("55119000000{i:02}"),
            &format!("pedido {i}"),
        )
        .await;
    }
    // Every copy arrives and is recognised: 25 stored, 25 found known.
    let db = app.db().await;
    let figure = |outcome: &str, what: &str| -> i64 {
        outcome
            .split(", ")
            .find_map(|part| part.strip_prefix(what))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let mut seen = (0, 0);
    for _ in 0..1200 {
        let outcomes = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT outcome FROM webhook_inbox".to_string(),
            ))
            .await
            .unwrap();
        seen = outcomes.iter().fold((0, 0), |(m, d), row| {
            let outcome: String = row.try_get("", "outcome").unwrap();
            (
                m + figure(&outcome, "messages "),
                d + figure(&outcome, "duplicates "),
            )
        });
        if seen == (25, 25) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, (25, 25), "(stored, recognised as duplicates)");
    assert!(
        count(&app, "SELECT COUNT(*) FROM webhook_inbox").await < 50,
        "copies travelled together in batches"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM messages").await,
        25,
        "each message once"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM contacts").await, 25);
}

crate::on_every_backend!(
    the_callback_verifies_with_the_platforms_token_only,
    only_correctly_signed_webhooks_are_stored_and_each_message_is_kept_once,
    a_customers_message_from_the_sandbox_arrives_and_stop_opts_them_out,
    a_change_for_a_number_nobody_owns_is_kept_and_reported,
    the_sandbox_duplicating_and_batching_webhooks_leaves_each_message_once,
);
