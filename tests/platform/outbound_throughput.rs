//! The pacer against Meta's own limit: 5,000 messages queued at once for
//! one number all go out on their first attempt, with not one 130429, at
//! the throughput Meta gives the number (here HIGH, 1,000/s, so the test
//! takes seconds rather than the minute an 80/s number would).

use crate::common;
use crate::outbound_send::{approved_template, waba_of};

use aerostic_dispatcher::entity::{message, send};
use common::TestApp;
use common::meta::{connect_number_sending, count};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::json;

const MESSAGES: usize = 5_000;

/// `n` template messages for `n` recipients, recorded as the send API
/// records them (in bulk: the API's own path is the send tests'); ids.
async fn queue_templates(app: &TestApp, phone_id: &str, n: usize) -> Vec<String> {
    let tenant = common::meta::tenant_of(app, phone_id).await;
    let db = app.db().await;
    let now = chrono::Utc::now();
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut messages = Vec::new();
        let mut sends = Vec::new();
        for i in chunk {
            let id = uuid::Uuid::now_v7().to_string();
            let body = json!({"messaging_product": "whatsapp", "to": format!("5511{:08}", 90_000_000 + i), "type": "template",
                "template": {"name": "flash_sale", "language": {"code": "pt_BR"},
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}});
            messages.push(message::ActiveModel {
                id: Set(id.clone()),
                tenant_id: Set(tenant.to_string()),
                conversation_id: Set(uuid::Uuid::now_v7().to_string()),
                contact_id: Set(uuid::Uuid::now_v7().to_string()),
                direction: Set("outbound".into()),
                kind: Set("template".into()),
                content: Set(body.to_string()),
                wamid: Set(None),
                context_wamid: Set(None),
                status: Set("queued".into()),
                error_code: Set(None),
                error_title: Set(String::new()),
                sent_at: Set(now),
                status_at: Set(now),
                created_at: Set(now),
            });
            sends.push(send::ActiveModel {
                message_id: Set(id.clone()),
                tenant_id: Set(tenant.to_string()),
                phone_number_id: Set(phone_id.to_string()),
                body: Set(body.to_string()),
                state: Set("queued".into()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                last_error_code: Set(None),
                last_error: Set(String::new()),
                created_at: Set(now),
                updated_at: Set(now),
                media_id: Set(None),
            });
            ids.push(id);
        }
        message::Entity::insert_many(messages)
            .exec_without_returning(&db)
            .await
            .unwrap();
        send::Entity::insert_many(sends)
            .exec_without_returning(&db)
            .await
            .unwrap();
    }
    ids
}

async fn five_thousand_messages_for_one_number_meet_no_throttling_from_meta(app: TestApp) {
    let admin = app.new_admin().await;
    let phone_id = connect_number_sending(&app, &admin, 1_000).await;
    let waba = waba_of(&app, &phone_id).await;
    approved_template(&app, &admin, &waba, "flash_sale", "MARKETING").await;
    // Meta batches the statuses of a busy number; so does the sandbox here.
    app.sandbox_control(
        reqwest::Method::POST,
        "/_sandbox/switches",
        Some(&json!({"batch_max": 100})),
    )
    .await;
    let ids = queue_templates(&app, &phone_id, MESSAGES).await;
    for id in &ids {
        app.platform
            .broker
            .publish(aerostic_dispatcher::send_worker::hand_off(id))
            .await
            .unwrap();
    }
    // A hang guard, not a figure: debug builds on two cores are slow.
    for _ in 0..3_600 {
        if count(&app, "SELECT COUNT(*) FROM sends WHERE state = 'accepted'").await
            == MESSAGES as i64
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sends WHERE state = 'accepted'").await,
        MESSAGES as i64
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM sends WHERE attempts <> 1 OR last_error_code IS NOT NULL"
        )
        .await,
        0,
        "each went once: not one 130429"
    );
}

crate::on_every_backend!(five_thousand_messages_for_one_number_meet_no_throttling_from_meta);
