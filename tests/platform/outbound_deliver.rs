//! One attempt at a queued message against the sandbox as Meta: accepted
//! (wamid recorded, Meta's statuses then move it), retried later on a
//! passing error and never twice at once, failed with Meta's reason and a
//! `failed` status for billing, and dead-lettered after the last attempt
//! (its price kept held for a replay).

use crate::common;

use aerostic_dispatcher::compose::Outgoing;
use aerostic_dispatcher::deliver::{Deliverer, MAX_ATTEMPTS, Outcome, release_held};
use aerostic_dispatcher::entity::send;
use aerostic_dispatcher::events::NumberRestricted;
use aerostic_dispatcher::graph::Graph;
use aerostic_kit::config::ServiceName;
use aerostic_kit::outbox::Outbox;
use common::TestApp;
use common::meta::{
    connected_number, count, customer_writes, eventually, outbound_message, tenant_of,
};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::json;

const CUSTOMER: &str = "5511977776666";

fn deliverer(app: &TestApp, db: sea_orm::DatabaseConnection) -> Deliverer {
    let tenancy = app
        .platform
        .grpc
        .iter()
        .find(|(name, _)| *name == ServiceName::Tenancy)
        .map(|(_, addr)| format!("http://{addr}"))
        .unwrap();
    Deliverer::new(
        db,
        Outbox::new(aerostic_dispatcher::OUTBOX_TABLE),
        Graph::new(format!("http://{}", app.platform.sandbox.unwrap())),
        aerostic_proto::v1::tenancy_client::TenancyClient::new(
            aerostic_kit::grpc::channel(&tenancy).unwrap(),
        ),
    )
}

/// A text queued for the customer, as the send API leaves it; its id.
async fn queued(app: &TestApp, phone_id: &str, text: &str) -> String {
    queued_to(app, phone_id, CUSTOMER, text).await
}

/// A text queued for `to`, as the send API leaves it; its id.
async fn queued_to(app: &TestApp, phone_id: &str, to: &str, text: &str) -> String {
    let tenant = tenant_of(app, phone_id).await;
    let id = outbound_message(app, tenant, "text", json!({"text": {"body": text}}), None).await;
    let now = chrono::Utc::now();
    let outgoing = Outgoing::parse("text", &json!({"body": text})).unwrap();
    send::ActiveModel {
        message_id: Set(id.clone()),
        tenant_id: Set(tenant.to_string()),
        phone_number_id: Set(phone_id.to_string()),
        body: Set(outgoing.meta_body(to, None, None).to_string()),
        state: Set("queued".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error_code: Set(None),
        last_error: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        media_id: Set(None),
        new_recipient: Set(false),
    }
    .insert(&app.db().await)
    .await
    .unwrap();
    id
}

async fn a_burst_for_one_number_goes_out_at_its_pace_and_meta_never_throttles_it_with_or_without_the_number_in_its_hand_offs(
    app: TestApp,
) {
    let phone_id = connected_number(&app).await;
    // More than a second's worth for an 80/s number, each to its own
    // customer (the pair limit is another matter), handed off at once.
    let burst = 2 * aerostic_dispatcher::send_worker::DEFAULT_RATE as usize;
    let mut ids = Vec::new();
    for n in 0..burst {
        let to = format!("55119700{n:05}");
        customer_writes(&app, &phone_id, &to, "oi").await;
        ids.push(queued_to(&app, &phone_id, &to, "promoção relâmpago").await);
    }
    for (n, id) in ids.iter().enumerate() {
        // Every other hand-off without its number, as an older version
        // published them: the worker reads the number from the row.
        let number = if n % 2 == 0 { phone_id.as_str() } else { "" };
        app.platform
            .broker
            .publish(aerostic_dispatcher::send_worker::hand_off(id, number))
            .await
            .unwrap();
    }
    eventually(
        &app,
        "SELECT COUNT(*) FROM sends WHERE state = 'accepted'",
        burst as i64,
    )
    .await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sends WHERE attempts <> 1").await,
        0,
        "each went once: no 130429, no retry"
    );
}

async fn a_slow_meta_gets_no_more_paced_calls_at_once_than_the_worker_allows(app: TestApp) {
    use aerostic_dispatcher::send_worker::{Due, SendWorker, hand_off_all};
    use aerostic_kit::broker::Handler;
    let phone_id = connected_number(&app).await;
    customer_writes(&app, &phone_id, CUSTOMER, "oi").await;
    let mut dues = Vec::new();
    for n in 0..24 {
        let id = queued(&app, &phone_id, &format!("aviso {n}")).await;
        dues.push(Due::new(&id, &phone_id));
    }
    // Meta takes half a second a call; at 80/s the slots come every
    // 12.5 ms, so unbounded timers would have about twenty calls open.
    app.sandbox_control(
        Method::POST,
        "/_sandbox/switches",
        Some(&json!({"latency_ms": 500})),
    )
    .await;
    let db = app.db().await;
    let worker = SendWorker::new(
        db.clone(),
        deliverer(&app, db),
        std::sync::Arc::new(aerostic_kit::cache::MemoryCache::new("timed-attempts")),
        app.platform.broker.clone(),
    )
    .with_timed_attempts(3);
    worker.handle(&hand_off_all(dues)).await.unwrap();
    eventually(
        &app,
        "SELECT COUNT(*) FROM sends WHERE state = 'accepted'",
        24,
    )
    .await;
    let stats = app
        .sandbox_control(Method::GET, "/_sandbox/stats", None)
        .await;
    // The first slot is now, so its call is the handler's own; three timers.
    let peak = stats["sends_in_flight_peak"].as_u64().unwrap();
    assert!((2..=4).contains(&peak), "{stats}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sends WHERE attempts <> 1").await,
        0,
        "each went once"
    );
}

async fn an_accepted_message_records_its_wamid_and_meta_statuses_move_it(app: TestApp) {
    let phone_id = connected_number(&app).await;
    customer_writes(&app, &phone_id, CUSTOMER, "oi").await;
    let deliver = deliverer(&app, app.db().await);
    let id = queued(&app, &phone_id, "olá!").await;
    let Outcome::Accepted { wamid } = deliver.attempt(&id).await.unwrap() else {
        panic!("not accepted");
    };
    assert_eq!(
        deliver.attempt(&id).await.unwrap(),
        Outcome::NotMine,
        "never twice"
    );
    // The sandbox's sent, delivered and read reach the message by its wamid.
    eventually(
        &app,
        &format!("SELECT COUNT(*) FROM messages WHERE id = '{id}' AND wamid = '{wamid}' AND status = 'read'"),
        1,
    )
    .await;
    let sent = app
        .sandbox_control(
            Method::GET,
            &format!("/_sandbox/numbers/{phone_id}/sent"),
            None,
        )
        .await;
    assert_eq!(sent["data"].as_array().map(Vec::len), Some(1), "{sent}");
}

async fn passing_errors_retry_later_and_the_last_attempt_dead_letters(app: TestApp) {
    let phone_id = connected_number(&app).await;
    customer_writes(&app, &phone_id, CUSTOMER, "oi").await;
    let deliver = deliverer(&app, app.db().await);
    app.sandbox_control(
        Method::POST,
        "/_sandbox/switches",
        Some(&json!({"inject": [{"code": 131000, "rate": 1.0}]})),
    )
    .await;
    let id = queued(&app, &phone_id, "x").await;
    let Outcome::Again { at } = deliver.attempt(&id).await.unwrap() else {
        panic!("not retried");
    };
    assert!(at > chrono::Utc::now());
    assert_eq!(
        deliver.attempt(&id).await.unwrap(),
        Outcome::NotMine,
        "not due yet"
    );

    // The last attempt: kept as dead, shown failed with why, its price
    // still held for a replay (no `failed` status for billing).
    let db = app.db().await;
    let mut row: send::ActiveModel = send::Entity::find_by_id(id.clone())
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.attempts = Set(MAX_ATTEMPTS - 1);
    row.next_attempt_at = Set(chrono::Utc::now());
    row.update(&db).await.unwrap();
    assert_eq!(deliver.attempt(&id).await.unwrap(), Outcome::DeadLettered);
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) FROM sends WHERE message_id = '{id}' AND state = 'dead' AND last_error_code = 131000")).await,
        1
    );
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) FROM messages WHERE id = '{id}' AND status = 'failed' AND error_title LIKE 'dead-lettered after 8 attempts%'")).await,
        1
    );
}

async fn a_refusal_fails_the_message_with_metas_reason(app: TestApp) {
    let phone_id = connected_number(&app).await;
    let deliver = deliverer(&app, app.db().await);
    // Nobody wrote: a free-form message is outside the window (131047).
    let id = queued(&app, &phone_id, "oi?").await;
    assert_eq!(
        deliver.attempt(&id).await.unwrap(),
        Outcome::Failed { code: Some(131047) }
    );
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) FROM messages WHERE id = '{id}' AND status = 'failed' AND error_code = 131047 AND error_title LIKE '%send a template%'")).await,
        1
    );
}

/// Every send row last touched two minutes ago, so that the release of
/// held sends looks at them.
async fn held_two_minutes_ago(db: &sea_orm::DatabaseConnection) {
    db.execute_unprepared("UPDATE sends SET updated_at = updated_at - INTERVAL '2 minutes'")
        .await
        .ok();
    // SQLite spells it differently.
    db.execute_unprepared("UPDATE sends SET updated_at = datetime(updated_at, '-2 minutes')")
        .await
        .ok();
}

async fn a_number_without_a_working_token_holds_its_messages_until_it_works_again(app: TestApp) {
    let phone_id = connected_number(&app).await;
    customer_writes(&app, &phone_id, CUSTOMER, "oi").await;
    let deliver = deliverer(&app, app.db().await);
    let (mut alerts, _subscription) = common::events::listen::<NumberRestricted>(
        &app,
        aerostic_dispatcher::events::NUMBER_RESTRICTED,
    )
    .await;
    // A number nobody has connected (its token gone): Meta's 190.
    let orphan = queued(&app, &phone_id, "oi").await;
    app.db()
        .await
        .execute_unprepared(&format!(
            "UPDATE sends SET phone_number_id = '106540352242999' WHERE message_id = '{orphan}'"
        ))
        .await
        .unwrap();
    assert_eq!(deliver.attempt(&orphan).await.unwrap(), Outcome::Held);
    let alert = tokio::time::timeout(std::time::Duration::from_secs(30), alerts.recv())
        .await
        .expect("number.restricted within 30 s (a hang guard)")
        .unwrap();
    assert_eq!(
        (
            alert.phone_number_id.as_str(),
            alert.code,
            alert.action.as_str()
        ),
        ("106540352242999", 190, "reconnect")
    );
    // One held for a minute on a number whose token works (reconnected).
    let waiting = queued(&app, &phone_id, "de volta").await;
    let db = app.db().await;
    db.execute_unprepared(&format!(
        "UPDATE sends SET state = 'held', last_error_code = 190 WHERE message_id IN ('{orphan}', '{waiting}')"
    ))
    .await
    .unwrap();
    held_two_minutes_ago(&db).await;
    let outbox = Outbox::new(aerostic_dispatcher::OUTBOX_TABLE);
    let released = release_held(&db, &outbox, deliver.numbers()).await.unwrap();
    assert_eq!(released, 1, "only the number whose token works");
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM sends WHERE message_id = '{orphan}' AND state = 'held'")
        )
        .await,
        1
    );
    let Outcome::Accepted { .. } = deliver.attempt(&waiting).await.unwrap() else {
        panic!("the reconnected number's message did not go");
    };
}

/// A message of `phone_id` that Meta refuses for spam (131048), failed.
async fn refused_for_spam(app: &TestApp, deliver: &Deliverer, phone_id: &str) {
    app.sandbox_control(
        Method::POST,
        "/_sandbox/switches",
        Some(&json!({"inject": [{"code": 131048, "rate": 1.0}]})),
    )
    .await;
    let id = queued(app, phone_id, "promo").await;
    assert_eq!(
        deliver.attempt(&id).await.unwrap(),
        Outcome::Failed { code: Some(131048) }
    );
}

async fn metas_spam_limit_fails_the_message_and_pauses_the_numbers_campaigns(app: TestApp) {
    let phone_id = connected_number(&app).await;
    customer_writes(&app, &phone_id, CUSTOMER, "oi").await;
    let deliver = deliverer(&app, app.db().await);
    let (mut alerts, _subscription) = common::events::listen::<NumberRestricted>(
        &app,
        aerostic_dispatcher::events::NUMBER_RESTRICTED,
    )
    .await;
    refused_for_spam(&app, &deliver, &phone_id).await;
    let alert = tokio::time::timeout(std::time::Duration::from_secs(30), alerts.recv())
        .await
        .expect("number.restricted within 30 s (a hang guard)")
        .unwrap();
    assert_eq!(
        (
            alert.phone_number_id.as_str(),
            alert.code,
            alert.action.as_str()
        ),
        (phone_id.as_str(), 131048, "pause_campaigns")
    );
}

/// The workspace's view of `phone_id` once `shown` holds of it (the
/// restriction travels as an event to tenancy).
async fn number_shown(
    app: &TestApp,
    admin: &str,
    phone_id: &str,
    shown: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..300 {
        let numbers = app
            .call_on(
                common::APP_HOST,
                Method::GET,
                "/v1/whatsapp/me",
                Some(admin),
                None,
            )
            .await
            .body;
        let number = numbers["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["phone_number_id"] == phone_id)
            .cloned()
            .unwrap();
        if shown(&number) {
            return number;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the number never showed it (a hang guard)");
}

async fn a_restricted_number_shows_why_and_a_reconnect_is_shown_until_its_token_works(
    app: TestApp,
) {
    let admin = app.new_admin().await;
    let phone_id = common::meta::connect_number(&app, &admin).await;
    customer_writes(&app, &phone_id, CUSTOMER, "oi").await;
    let fresh = number_shown(&app, &admin, &phone_id, |_| true).await;
    assert_eq!(
        (
            fresh["restriction"].as_str(),
            fresh["needs_reconnect"].as_bool()
        ),
        (Some(""), Some(false))
    );

    // Meta's spam limit: shown, with why.
    refused_for_spam(&app, &deliverer(&app, app.db().await), &phone_id).await;
    let limited = number_shown(&app, &admin, &phone_id, |n| {
        n["restriction"] == "pause_campaigns"
    })
    .await;
    assert!(
        limited["restriction_reason"]
            .as_str()
            .unwrap()
            .contains("spam")
    );
    assert!(limited["restricted_at"].is_string());
    assert_eq!(limited["needs_reconnect"], false);
    app.sandbox_control(
        Method::POST,
        "/_sandbox/switches",
        Some(&json!({"inject": []})),
    )
    .await;

    // No token for it any more (its connection undone, as when Meta revokes
    // it): the message is held and the number needs reconnecting.
    let db = app.db().await;
    let connected = |status: &str| {
        format!(
            "UPDATE whatsapp_accounts SET status = '{status}' WHERE phone_number_id = '{phone_id}'"
        )
    };
    db.execute_unprepared(&connected("pending")).await.unwrap();
    let deliver = deliverer(&app, db.clone());
    let held = queued(&app, &phone_id, "ainda aí?").await;
    assert_eq!(deliver.attempt(&held).await.unwrap(), Outcome::Held);
    let cut_off = number_shown(&app, &admin, &phone_id, |n| n["needs_reconnect"] == true).await;
    assert_eq!(cut_off["restriction"], "reconnect");

    // Its token works again: the held message is queued again and the
    // number no longer shows a reconnect.
    db.execute_unprepared(&connected("connected"))
        .await
        .unwrap();
    held_two_minutes_ago(&db).await;
    let outbox = Outbox::new(aerostic_dispatcher::OUTBOX_TABLE);
    let fresh_numbers = deliverer(&app, db.clone());
    assert_eq!(
        release_held(&db, &outbox, fresh_numbers.numbers())
            .await
            .unwrap(),
        1
    );
    let restored = number_shown(&app, &admin, &phone_id, |n| n["needs_reconnect"] == false).await;
    assert_eq!(restored["restriction"], "");
    // Each change audited once (spam limit, reconnect, restored); the
    // audit log is written by its own consumer, so it may trail the view.
    eventually(
        &app,
        "SELECT COUNT(*) FROM audit_events WHERE action IN ('whatsapp.number_restricted', 'whatsapp.number_restored')",
        3,
    )
    .await;
}

crate::on_every_backend!(
    a_slow_meta_gets_no_more_paced_calls_at_once_than_the_worker_allows,
    a_restricted_number_shows_why_and_a_reconnect_is_shown_until_its_token_works,
    metas_spam_limit_fails_the_message_and_pauses_the_numbers_campaigns,
    a_number_without_a_working_token_holds_its_messages_until_it_works_again,
    a_burst_for_one_number_goes_out_at_its_pace_and_meta_never_throttles_it_with_or_without_the_number_in_its_hand_offs,
    an_accepted_message_records_its_wamid_and_meta_statuses_move_it,
    passing_errors_retry_later_and_the_last_attempt_dead_letters,
    a_refusal_fails_the_message_with_metas_reason,
);
