//! Statuses and the harder cases of inbound: statuses move a message
//! forward only and count once, a status that comes before its message
//! waits for it, a thousand updates in one POST, users known only by their
//! business-scoped id, a webhook stored by a process that died before
//! handing it off, and the sandbox reordering and duplicating statuses.

use crate::common;

use std::time::Duration;

use aerostic_dispatcher::entity::webhook_inbox;
use aerostic_dispatcher::events::MessageStatusChanged;
use aerostic_kit::outbox::Outbox;
use common::TestApp;
use common::meta::{
    connected_number, count, customer_writes, eventually, messages_payload, outbound_message,
    post_webhook, sign, tenant_of, text, text_payload,
};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};

fn status(wamid: &str, status: &str, at: u64) -> Value {
    let mut s = json!({"id": wamid, "status": status, "timestamp": at.to_string(), "recipient_id": "5511988887777"});
    if status == "sent" {
        s["pricing"] = json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"});
    }
    if status == "failed" {
        s["errors"] = json!([{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"}]);
    }
    s
}

async fn deliver(app: &TestApp, phone_id: &str, statuses: Vec<Value>) {
    let body = messages_payload(phone_id, vec![], statuses);
    let (code, answer) = post_webhook(app, &body, Some(sign(&body))).await;
    assert_eq!(code, 200, "{answer}");
}

/// Meta's `delivered` for `wamid`, whose message nobody has recorded yet:
/// stored, and left waiting.
async fn a_status_waits(app: &TestApp, phone_id: &str, wamid: &str) {
    deliver(app, phone_id, vec![status(wamid, "delivered", 1760000200)]).await;
    eventually(
        app,
        &format!("SELECT COUNT(*) FROM message_statuses WHERE wamid = '{wamid}' AND NOT applied"),
        1,
    )
    .await;
}

async fn message_status(app: &TestApp, wamid: &str) -> String {
    text(
        app,
        &format!("SELECT status FROM messages WHERE wamid = '{wamid}'"),
    )
    .await
}

async fn statuses_only_move_a_message_forward_and_each_counts_once(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let tenant = tenant_of(&app, &phone_id).await;
    let (mut events, _subscription) =
        common::events::listen::<MessageStatusChanged>(&app, "message.status").await;
    outbound_message(&app, tenant, "template", json!({}), Some("wamid.out1")).await;
    outbound_message(&app, tenant, "template", json!({}), Some("wamid.out2")).await;

    // Out of order and repeated, as Meta does (META_API.md §4).
    for batch in [
        vec![status("wamid.out1", "delivered", 1760000200)],
        vec![status("wamid.out1", "sent", 1760000100)],
        vec![status("wamid.out1", "delivered", 1760000200)],
        vec![
            status("wamid.out1", "read", 1760000300),
            status("wamid.out2", "failed", 1760000100),
        ],
        vec![status("wamid.out2", "delivered", 1760000400)],
    ] {
        deliver(&app, &phone_id, batch).await;
    }
    eventually(
        &app,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        0,
    )
    .await;
    assert_eq!(message_status(&app, "wamid.out1").await, "read");
    assert_eq!(
        message_status(&app, "wamid.out2").await,
        "failed",
        "failed is final: a late delivered does not undo it"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.out2' AND error_code = 131047"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM message_statuses WHERE wamid = 'wamid.out1'"
        )
        .await,
        3,
        "sent, delivered, read: the repeated delivered counts once"
    );
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let event = tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .expect("five message.status events")
            .unwrap();
        seen.push((
            event.wamid.clone(),
            event.status.clone(),
            event.pricing.is_some(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("wamid.out1".into(), "delivered".into(), false),
            ("wamid.out1".into(), "read".into(), false),
            ("wamid.out1".into(), "sent".into(), true),
            ("wamid.out2".into(), "delivered".into(), false),
            ("wamid.out2".into(), "failed".into(), false),
        ],
        "one event per status, pricing carried for billing"
    );
}

async fn a_status_before_its_message_waits_and_applies_once_the_wamid_is_known(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let tenant = tenant_of(&app, &phone_id).await;
    a_status_waits(&app, &phone_id, "wamid.early").await;

    // The sender records the wamid Meta answered, and applies what waited.
    outbound_message(&app, tenant, "template", json!({}), Some("wamid.early")).await;
    let db = app.db().await;
    let applied = aerostic_dispatcher::statuses::apply_pending(
        &db,
        &Outbox::new(aerostic_dispatcher::OUTBOX_TABLE),
        tenant,
        "wamid.early",
    )
    .await
    .unwrap();
    assert_eq!(applied, 1);
    assert_eq!(message_status(&app, "wamid.early").await, "delivered");
    deliver(
        &app,
        &phone_id,
        vec![status("wamid.early", "sent", 1760000100)],
    )
    .await;
    eventually(
        &app,
        "SELECT COUNT(*) FROM message_statuses WHERE wamid = 'wamid.early' AND applied",
        2,
    )
    .await;
    assert_eq!(
        message_status(&app, "wamid.early").await,
        "delivered",
        "a late sent does not go back"
    );
}

async fn a_thousand_updates_in_one_post_are_each_stored_once(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let messages: Vec<Value> = (0..500)
        .map(|i| json!({"from": "5511988887777", "id": format!("wamid.batch{i}"), "timestamp": "1760000000", "type": "text", "text": {"body": format!("n.º {i} ✓")}}))
        .collect();
    let statuses: Vec<Value> = (0..500)
        .map(|i| status(&format!("wamid.unknown{i}"), "sent", 1760000100))
        .collect();
    let body = messages_payload(&phone_id, messages, statuses);
    for _ in 0..2 {
        let (code, _) = post_webhook(&app, &body, Some(sign(&body))).await;
        assert_eq!(code, 200);
    }
    eventually(
        &app,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        0,
    )
    .await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 500);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM message_statuses").await,
        500
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_inbox WHERE outcome LIKE '%duplicates 1000%'"
        )
        .await,
        1,
        "the second delivery found every update known"
    );
}

async fn a_user_known_only_by_a_business_scoped_id_becomes_a_contact(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let sent = app
        .sandbox_control(
            Method::POST,
            &format!("/_sandbox/numbers/{phone_id}/inbound"),
            Some(&json!({"user_id": "US.1349000000000001", "text": "hi from a username"})),
        )
        .await;
    assert!(!sent.is_null());
    eventually(&app, "SELECT COUNT(*) FROM messages", 1).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM contacts WHERE wa_id IS NULL AND bsuid = 'US.1349000000000001'"
        )
        .await,
        1
    );
}

async fn a_webhook_stored_by_a_process_that_died_before_handing_it_off_is_applied(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let body = text_payload(&phone_id, "wamid.orphan", "still here?");
    // What a crash right after the commit leaves: stored, never handed off.
    let now = chrono::Utc::now();
    webhook_inbox::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        received_at: Set(now),
        body: Set(body),
        processed_at: Set(None),
        queued_at: Set(Some(now - chrono::Duration::hours(1))),
        outcome: Set(String::new()),
    }
    .insert(&app.db().await)
    .await
    .unwrap();
    eventually(
        &app,
        "SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.orphan'",
        1,
    )
    .await;
    eventually(
        &app,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        0,
    )
    .await;
}

async fn template_and_account_updates_are_kept_once_and_template_reviews_raise_events(
    app: TestApp,
) {
    let phone_id = connected_number(&app).await;
    let waba = text(
        &app,
        &format!("SELECT waba_id FROM whatsapp_accounts WHERE phone_number_id = '{phone_id}'"),
    )
    .await;
    let (mut reviews, _subscription) = common::events::listen::<
        aerostic_dispatcher::events::TemplateStatus,
    >(&app, "template.status")
    .await;
    let update = |waba: &str, field: &str, value: Value| {
        common::meta::meta_bytes(
            &json!({"object": "whatsapp_business_account", "entry": [{"id": waba, "time": 1760000000, "changes": [{"field": field, "value": value}]}]}),
        )
    };
    let approved = update(
        &waba,
        "message_template_status_update",
        json!({"event": "APPROVED", "message_template_id": 1234567890123456u64, "message_template_name": "order_shipped", "message_template_language": "pt_BR", "reason": "NONE"}),
    );
    let quality = update(
        &waba,
        "phone_number_quality_update",
        json!({"display_phone_number": "15550001111", "event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_10K"}),
    );
    let stranger = update(
        "310000000000999",
        "account_update",
        json!({"event": "PARTNER_ADDED"}),
    );
    for body in [&approved, &approved, &quality, &stranger] {
        let (status, _) = post_webhook(&app, body, Some(sign(body))).await;
        assert_eq!(status, 200);
    }
    eventually(
        &app,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        0,
    )
    .await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM account_events").await,
        2,
        "the repeated review is kept once"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM unrouted_changes WHERE phone_number_id = 'waba:310000000000999'"
        )
        .await,
        1
    );
    let review = tokio::time::timeout(Duration::from_secs(60), reviews.recv())
        .await
        .expect("template.status")
        .unwrap();
    assert_eq!(
        (
            review.name.as_str(),
            review.event.as_str(),
            review.template_id.as_str()
        ),
        ("order_shipped", "APPROVED", "1234567890123456")
    );
    assert_eq!(review.waba_id, waba);
}

async fn a_customer_who_changed_their_number_keeps_their_contact(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let hello = json!({"from": "5511988887777", "id": "wamid.before", "timestamp": "1760000000", "type": "text", "text": {"body": "oi"}});
    let moved = json!({"from": "5511988887777", "id": "wamid.moved", "timestamp": "1760000100", "type": "system",
        "system": {"body": "User A changed from 5511988887777 to 5511977770000", "wa_id": "5511977770000", "type": "user_changed_number"}});
    let again = json!({"from": "5511977770000", "id": "wamid.after", "timestamp": "1760000200", "type": "text", "text": {"body": "sou eu"}});
    for message in [hello, moved, again] {
        // One at a time: the change must land before the new number writes.
        let body = messages_payload(&phone_id, vec![message], vec![]);
        let (code, _) = post_webhook(&app, &body, Some(sign(&body))).await;
        assert_eq!(code, 200);
        eventually(
            &app,
            "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
            0,
        )
        .await;
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM contacts").await,
        1,
        "the new number is the same person"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM contacts WHERE wa_id = '5511977770000'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "SELECT COUNT(DISTINCT contact_id) FROM messages").await,
        1
    );
}

async fn the_sandbox_reordering_and_duplicating_statuses_leaves_the_right_final_status(
    app: TestApp,
) {
    let phone_id = connected_number(&app).await;
    let tenant = tenant_of(&app, &phone_id).await;
    let switched = app
        .sandbox_control(
            Method::POST,
            "/_sandbox/switches",
            Some(&json!({"reorder": true, "duplicate_rate": 1.0})),
        )
        .await;
    assert_eq!(switched["reorder"], true, "{switched}");
    // The customer writes first, which opens the window for a text.
    let customer = "5511977776666";
    customer_writes(&app, &phone_id, customer, "oi").await;
    // A reply through Meta's send API (what the dispatcher will call): the
    // sandbox then posts read, delivered and sent, in that order, each twice.
    let sandbox = app.platform.sandbox.expect("the sandbox runs");
    let sent: Value = app
        .http
        .post(format!("http://{sandbox}/v23.0/{phone_id}/messages"))
        .bearer_auth(aerostic_sandbox::Seed::default().access_token)
        .json(&json!({"messaging_product": "whatsapp", "to": customer, "type": "text", "text": {"body": "olá!"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wamid = sent["messages"][0]["id"]
        .as_str()
        .expect("a wamid")
        .to_string();
    eventually(
        &app,
        &format!("SELECT COUNT(*) FROM message_statuses WHERE wamid = '{wamid}'"),
        3,
    )
    .await;
    eventually(
        &app,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        0,
    )
    .await;
    outbound_message(&app, tenant, "template", json!({}), Some(&wamid)).await;
    let applied = aerostic_dispatcher::statuses::apply_pending(
        &app.db().await,
        &Outbox::new(aerostic_dispatcher::OUTBOX_TABLE),
        tenant,
        &wamid,
    )
    .await
    .unwrap();
    assert_eq!(applied, 3, "each status once, whatever the copies");
    assert_eq!(
        message_status(&app, &wamid).await,
        "read",
        "read arrived first and stays last"
    );
}

async fn a_status_that_raced_the_recording_of_its_wamid_is_applied_by_the_sweep(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let tenant = tenant_of(&app, &phone_id).await;
    a_status_waits(&app, &phone_id, "wamid.raced").await;
    // The wamid committed by a transaction that could not see the status.
    outbound_message(&app, tenant, "template", json!({}), Some("wamid.raced")).await;
    eventually(
        &app,
        "SELECT COUNT(*) FROM messages WHERE wamid = 'wamid.raced' AND status = 'delivered'",
        1,
    )
    .await;
}

crate::on_every_backend!(
    statuses_only_move_a_message_forward_and_each_counts_once,
    a_status_before_its_message_waits_and_applies_once_the_wamid_is_known,
    a_thousand_updates_in_one_post_are_each_stored_once,
    a_user_known_only_by_a_business_scoped_id_becomes_a_contact,
    a_webhook_stored_by_a_process_that_died_before_handing_it_off_is_applied,
    template_and_account_updates_are_kept_once_and_template_reviews_raise_events,
    a_customer_who_changed_their_number_keeps_their_contact,
    the_sandbox_reordering_and_duplicating_statuses_leaves_the_right_final_status,
    a_status_that_raced_the_recording_of_its_wamid_is_applied_by_the_sweep,
);
