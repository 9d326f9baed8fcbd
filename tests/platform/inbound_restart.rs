//! The production topology (tenancy, dispatcher and gateway as processes):
//! the dispatcher killed (SIGKILL) right after acknowledging a burst of
//! webhooks loses none of them once it is started again.

use crate::common;

use std::time::{Duration, Instant};

use aerostic_kit::db::testing::{fresh_postgres_database, scalar};
use aerostic_launcher::topology::{Topology, free_port, service_env};
use common::meta::{sign, text_payload};
use sea_orm::ConnectionTrait;

const PHONE_ID: &str = "420000000000888";

async fn wait_for(db: &sea_orm::DatabaseConnection, sql: &str, expected: i64, logs: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = scalar(db, sql).await.unwrap();
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {now}, not {expected} (logs in {logs})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_dispatcher_killed_after_acknowledging_loses_nothing_once_restarted() {
    let url = fresh_postgres_database().await.unwrap();
    let (tenancy, dispatcher, gateway) = (free_port(), free_port(), free_port());
    let run = uuid::Uuid::new_v4().simple().to_string();
    let env: Vec<(String, String)> = [
        ("AEROSTIC_DATABASE_URL", url.clone()),
        ("AEROSTIC_BROKER_URL", common::amqp_url()),
        ("AEROSTIC_CACHE_URL", common::redis_url()),
        ("AEROSTIC_NAMESPACE", format!("restart{run}")),
        ("AEROSTIC_BROKER_IDLE_QUEUE_EXPIRY_SECS", "120".into()),
        (
            "AEROSTIC_ENCRYPTION_KEYS",
            aerostic_kit::crypto::KeyRing::generate_spec("r1"),
        ),
        ("AEROSTIC_JWT_SECRET", "r".repeat(40)),
        ("AEROSTIC_META_APP_ID", "100000000000888".into()),
        ("AEROSTIC_META_APP_SECRET", common::meta::SECRET.into()),
        ("AEROSTIC_META_WEBHOOK_VERIFY_TOKEN", "restart".into()),
        ("AEROSTIC_GATEWAY_ADDR", gateway.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(service_env("TENANCY", tenancy))
    .chain(service_env("DISPATCHER", dispatcher))
    .collect();
    let logs = std::env::temp_dir().join(format!("aerostic-restart-{run}"));
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
        "INSERT INTO tenants (id, name, status, plan_code, created_at) VALUES ('{tenant}', 'Restart', 'active', 'scale', now());
         INSERT INTO whatsapp_accounts (id, tenant_id, waba_id, phone_number_id, display_phone_number, verified_name, status, connected_at, created_at)
           VALUES ('{}', '{tenant}', '310000000000888', '{PHONE_ID}', '15550002222', 'Restart', 'connected', now(), now());",
        uuid::Uuid::now_v7()
    ))
    .await
    .unwrap();
    for service in ["tenancy", "dispatcher", "gateway"] {
        topology.start(service).unwrap();
    }
    let logs = logs.display().to_string();
    let http = reqwest::Client::new();
    let endpoint = format!("http://{gateway}/webhooks/meta");
    // Up once a signed webhook is stored.
    let probe = text_payload(PHONE_ID, "wamid.probe", "up?");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = http
            .post(&endpoint)
            .header("x-hub-signature-256", sign(&probe))
            .body(probe.clone())
            .send()
            .await;
        if answer.is_ok_and(|a| a.status().as_u16() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "never up (logs in {logs})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A burst, every one acknowledged; then the dispatcher dies mid-work.
    let posts: Vec<_> = (0..300)
        .map(|i| {
            let (http, endpoint) = (http.clone(), endpoint.clone());
            tokio::spawn(async move {
                let body = text_payload(PHONE_ID, &format!("wamid.burst{i}"), &format!("n.º {i}"));
                http.post(&endpoint)
                    .header("x-hub-signature-256", sign(&body))
                    .body(body)
                    .send()
                    .await
                    .map(|a| a.status().as_u16())
            })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap().unwrap(), 200);
    }
    topology.kill("dispatcher");
    let pending = scalar(
        &db,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
    )
    .await
    .unwrap();

    println!("unprocessed when the dispatcher died: {pending} of 300");
    topology.start("dispatcher").unwrap();
    wait_for(
        &db,
        "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL",
        0,
        &logs,
    )
    .await;
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM messages WHERE wamid LIKE 'wamid.burst%'"
        )
        .await
        .unwrap(),
        300,
        "every acknowledged webhook applied once ({pending} were unprocessed when it died)"
    );
}
