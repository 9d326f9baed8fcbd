//! The production topology (tenancy and dispatcher as processes, the
//! sandbox as Meta): the dispatcher killed (SIGKILL) in the middle of a
//! burst of sends loses none of them once it is started again. What it had
//! in flight (`sending`) is sent again once it counts as lost; that is the
//! one way a message can reach Meta twice (ARCHITECTURE.md), and the test
//! bounds the double sends by exactly those.

use crate::common;

use std::time::{Duration, Instant};

use aerostic_kit::db::testing::{fresh_postgres_database, scalar};
use aerostic_launcher::topology::{Topology, free_port, service_env};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

const MESSAGES: i64 = 400;

async fn wait_for(db: &sea_orm::DatabaseConnection, sql: &str, at_least: i64, logs: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let now = scalar(db, sql).await.unwrap();
        if now >= at_least {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {now}, not {at_least} (logs in {logs})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sandbox, in this process (it is Meta, not ours); its base URL.
async fn meta(control: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sandbox = aerostic_sandbox::Sandbox::new(aerostic_sandbox::Seed::default(), control);
    tokio::spawn(aerostic_sandbox::run(
        sandbox,
        listener,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// An approved template on the seed WABA, through Meta's own API.
async fn approved_template(http: &reqwest::Client, graph: &str, control: &str) {
    let seed = aerostic_sandbox::Seed::default();
    let made: Value = http
        .post(format!("{graph}/v23.0/{}/message_templates", seed.waba_id))
        .bearer_auth(&seed.access_token)
        .json(
            &json!({"name": "restock", "language": "en_US", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Back in stock"}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().expect("a template id").to_string();
    let approved = http
        .post(format!("{graph}/_sandbox/templates/{id}/status"))
        .bearer_auth(control)
        .json(&json!({"status": "APPROVED"}))
        .send()
        .await
        .unwrap();
    assert!(approved.status().is_success());
}

#[tokio::test]
async fn a_dispatcher_killed_mid_burst_loses_no_message_once_restarted() {
    let control = "restart-control";
    let graph = meta(control).await;
    let http = reqwest::Client::new();
    approved_template(&http, &graph, control).await;
    let seed = aerostic_sandbox::Seed::default();

    let url = fresh_postgres_database().await.unwrap();
    let (tenancy, dispatcher) = (free_port(), free_port());
    let run = uuid::Uuid::new_v4().simple().to_string();
    let env: Vec<(String, String)> = [
        ("AEROSTIC_DATABASE_URL", url.clone()),
        ("AEROSTIC_BROKER_URL", common::amqp_url()),
        ("AEROSTIC_CACHE_URL", common::redis_url()),
        ("AEROSTIC_NAMESPACE", format!("sendkill{run}")),
        ("AEROSTIC_BROKER_IDLE_QUEUE_EXPIRY_SECS", "120".into()),
        (
            "AEROSTIC_ENCRYPTION_KEYS",
            aerostic_kit::crypto::KeyRing::generate_spec("r1"),
        ),
        ("AEROSTIC_JWT_SECRET", "r".repeat(40)),
        ("AEROSTIC_META_APP_ID", seed.app_id.clone()),
        ("AEROSTIC_META_APP_SECRET", seed.app_secret.clone()),
        ("AEROSTIC_META_WEBHOOK_VERIFY_TOKEN", "restart".into()),
        ("AEROSTIC_META_GRAPH_URL", graph.clone()),
        ("AEROSTIC_META_SYSTEM_USER_TOKEN", seed.access_token.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(service_env("TENANCY", tenancy))
    .chain(service_env("DISPATCHER", dispatcher))
    .collect();
    let logs = std::env::temp_dir().join(format!("aerostic-sendkill-{run}"));
    let mut topology = Topology::new(
        std::path::Path::new(env!("CARGO_BIN_EXE_aerostic")),
        env,
        &logs,
    )
    .unwrap();
    assert!(topology.run(&["migrate"]).unwrap());
    let db = aerostic_kit::db::connect(&url).await.unwrap();
    let tenant = uuid::Uuid::now_v7();
    db.execute_unprepared(&format!(
        "INSERT INTO tenants (id, name, status, plan_code, created_at) VALUES ('{tenant}', 'Kill', 'active', 'scale', now());
         INSERT INTO whatsapp_accounts (id, tenant_id, waba_id, phone_number_id, display_phone_number, verified_name, status, connected_at, created_at)
           VALUES ('{}', '{tenant}', '{}', '{}', '{}', 'Kill', 'connected', now(), now());",
        uuid::Uuid::now_v7(),
        seed.waba_id,
        seed.phone_number_id,
        seed.display_phone_number,
    ))
    .await
    .unwrap();
    // A burst queued a minute ago: overdue, so the sweep hands it off.
    let mut rows = Vec::new();
    for i in 0..MESSAGES {
        let id = uuid::Uuid::now_v7();
        let body = json!({"messaging_product": "whatsapp", "to": format!("1415555{i:04}"), "type": "template",
            "template": {"name": "restock", "language": {"code": "en_US"}}});
        rows.push(format!(
            "('{id}', '{tenant}', '{}', '{body}', 'queued', 0, now() - interval '1 minute', '', now(), now())",
            seed.phone_number_id
        ));
    }
    db.execute_unprepared(&format!(
        "INSERT INTO sends (message_id, tenant_id, phone_number_id, body, state, attempts, next_attempt_at, last_error, created_at, updated_at) VALUES {}",
        rows.join(",")
    ))
    .await
    .unwrap();
    let logs = logs.display().to_string();
    topology.start("tenancy").unwrap();
    topology.start("dispatcher").unwrap();

    let accepted = "SELECT COUNT(*) FROM sends WHERE state = 'accepted'";
    wait_for(&db, accepted, MESSAGES / 4, &logs).await;
    topology.kill("dispatcher");
    let in_flight = scalar(&db, "SELECT COUNT(*) FROM sends WHERE state = 'sending'")
        .await
        .unwrap();
    let done = scalar(&db, accepted).await.unwrap();
    println!("when the dispatcher died: {done} accepted, {in_flight} in flight");
    // What was in flight counts as lost after five minutes; make it so now.
    db.execute_unprepared(
        "UPDATE sends SET updated_at = now() - interval '10 minutes' WHERE state = 'sending'",
    )
    .await
    .unwrap();
    topology.start("dispatcher").unwrap();
    wait_for(&db, accepted, MESSAGES, &logs).await;

    let sent: Value = http
        .get(format!(
            "{graph}/_sandbox/numbers/{}/sent",
            seed.phone_number_id
        ))
        .bearer_auth(control)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at_meta = sent["data"].as_array().unwrap().len() as i64;
    assert!(
        (MESSAGES..=MESSAGES + in_flight).contains(&at_meta),
        "Meta got {at_meta} sends for {MESSAGES} messages ({in_flight} were in flight)"
    );
    println!(
        "double sends: {} (at most the {in_flight} in flight)",
        at_meta - MESSAGES
    );
}
