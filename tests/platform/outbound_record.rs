//! Recording a send when its contact or conversation, looked up as absent,
//! was made meanwhile by another request (a customer writing, or a second
//! send to the same new number): the send joins them instead of failing or
//! making a second thread. On PostgreSQL this is the one-statement path
//! falling back to the transaction; on SQLite the transaction itself.

use crate::common;

use aerostic_dispatcher::entity::{contact, conversation, message};
use aerostic_dispatcher::record::{NewSend, new_send, new_sends};
use common::TestApp;
use common::billing::identity;
use common::meta::count;
use sea_orm::EntityTrait;

use crate::outbound_send::open_window;

async fn a_send_whose_new_contact_and_conversation_were_made_meanwhile_joins_them(app: TestApp) {
    let (admin, phone_id, who) = open_window(&app).await;
    let tenant = identity(&app, &admin).await.tenant_id;
    let db = app.db().await;
    let made = contact::Entity::find().one(&db).await.unwrap().unwrap();
    let thread = conversation::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    // As the send path builds it when its lookups found neither.
    let asked = asked_new(tenant, &phone_id, &who);
    let recorded = new_send(&db, &asked).await.unwrap();
    assert_eq!(
        (
            recorded.contact_id.as_str(),
            recorded.conversation_id.as_str()
        ),
        (made.id.as_str(), thread.id.as_str()),
        "the send joins the contact and the thread that exist"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM contacts").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM conversations").await, 1);
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM messages m JOIN sends s ON s.message_id = m.id
                 WHERE m.id = '{}' AND m.conversation_id = '{}' AND s.state = 'queued'",
                asked.message.id, thread.id
            )
        )
        .await,
        1,
        "the message and its send row are written once, in that thread"
    );
}

async fn a_send_to_a_new_number_makes_its_contact_and_conversation_once(app: TestApp) {
    let (admin, phone_id, _) = open_window(&app).await;
    let tenant = identity(&app, &admin).await.tenant_id;
    let db = app.db().await;
    let mut send = asked_new(tenant, &phone_id, "5511955554444");
    send.message.context_wamid = Some("wamid.replied".into());
    send.media_id = Some("our-media".into());
    let asked = send.message.clone();
    let recorded = new_send(&db, &send).await.unwrap();
    assert_eq!(
        (&recorded.id, &recorded.content, &recorded.context_wamid),
        (&asked.id, &asked.content, &asked.context_wamid)
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM contacts WHERE id = '{}' AND wa_id = '5511955554444'",
                recorded.contact_id
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
            "SELECT COUNT(*) FROM conversations WHERE id = '{}' AND contact_id = '{}' AND phone_number_id = '{phone_id}'",
            recorded.conversation_id, recorded.contact_id
        ))
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
            "SELECT COUNT(*) FROM messages WHERE id = '{}' AND context_wamid = 'wamid.replied' AND status = 'queued' AND direction = 'outbound'",
            asked.id
        ))
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
            "SELECT COUNT(*) FROM sends WHERE message_id = '{}' AND media_id = 'our-media' AND phone_number_id = '{phone_id}' AND attempts = 0",
            asked.id
        ))
        .await,
        1
    );
}

/// A send asked of `number` to `wa_id`, as the send path builds it when it
/// found neither contact nor conversation.
fn asked_new(tenant: aerostic_kit::ids::TenantId, number: &str, wa_id: &str) -> NewSend {
    let now = chrono::Utc::now();
    NewSend {
        tenant,
        message: message::Model {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.to_string(),
            conversation_id: uuid::Uuid::now_v7().to_string(),
            contact_id: uuid::Uuid::now_v7().to_string(),
            direction: "outbound".into(),
            kind: "template".into(),
            content: "{}".into(),
            wamid: None,
            context_wamid: None,
            status: "queued".into(),
            error_code: None,
            error_title: String::new(),
            sent_at: now,
            status_at: now,
            created_at: now,
        },
        wa_id: wa_id.into(),
        new_contact: true,
        new_conversation: true,
        number: number.into(),
        body: "{}".into(),
        media_id: None,
        now,
    }
}

async fn two_sends_to_one_new_number_in_one_batch_share_its_contact_and_thread(app: TestApp) {
    let (admin, phone_id, _) = open_window(&app).await;
    let tenant = identity(&app, &admin).await.tenant_id;
    let batch = vec![
        asked_new(tenant, &phone_id, "5511944443333"),
        asked_new(tenant, &phone_id, "5511944443333"),
        asked_new(tenant, &phone_id, "5511922221111"),
    ];
    let ids: Vec<String> = batch.iter().map(|s| s.message.id.clone()).collect();
    let written = new_sends(&app.db().await, batch).await;
    let written: Vec<message::Model> = written.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        written.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        ids,
        "an answer per send, in order"
    );
    assert_eq!(
        (&written[0].contact_id, &written[0].conversation_id),
        (&written[1].contact_id, &written[1].conversation_id),
        "the second send to the new number joins the first's contact and thread"
    );
    assert_ne!(written[0].contact_id, written[2].contact_id);
    for (table, expected, why) in [
        (
            "contacts",
            3,
            "open_window's customer and the two new numbers",
        ),
        ("conversations", 3, "a thread each"),
        ("messages", 4, "the customer's message and the three sends"),
        ("sends", 3, "a send row each"),
    ] {
        assert_eq!(
            count(&app, &format!("SELECT COUNT(*) FROM {table}")).await,
            expected,
            "{table}: {why}"
        );
    }
}

crate::on_every_backend!(
    two_sends_to_one_new_number_in_one_batch_share_its_contact_and_thread,
    a_send_whose_new_contact_and_conversation_were_made_meanwhile_joins_them,
    a_send_to_a_new_number_makes_its_contact_and_conversation_once,
);
