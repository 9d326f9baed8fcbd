//! The audit log is a hash chain: intact after real actions, and an edited,
//! deleted or forged row is named by the verifier (API and CLI code path).

use crate::common;

use std::time::Duration;

use common::{ADMIN_HOST, TestApp, spawn_app};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

async fn verify(app: &TestApp, root: &str) -> Value {
    let answer = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/audit/verify",
            Some(root),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// Waits until at least `n` events are chained.
async fn chained(app: &TestApp, root: &str, n: u64) -> Value {
    for _ in 0..100 {
        let v = verify(app, root).await;
        if v["checked"].as_u64().unwrap_or(0) >= n {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} audit events were chained");
}

#[tokio::test]
async fn the_chain_is_intact_after_real_actions_and_names_the_first_edited_row() {
    let app = spawn_app().await;
    let root = app.super_admin().await;
    let admin = app.new_admin().await;
    app.call(
        Method::POST,
        "/v1/team/invitations",
        Some(&admin),
        Some(&json!({"email": "new.agent@example.com", "role": "agent"})),
    )
    .await;
    app.api_key(&admin, &["messages:send"]).await;
    // super admin created + its login + register + login + invite + key
    let intact = chained(&app, &root, 6).await;
    assert_eq!(
        (
            intact["intact"].as_bool(),
            intact["first_broken_event_id"].is_null()
        ),
        (Some(true), true),
        "{intact}"
    );

    let events = app
        .call(Method::GET, "/v1/audit/events", Some(&admin), None)
        .await;
    let actions: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"api_key.created") && actions.contains(&"user.invited"),
        "{actions:?}"
    );
    assert!(
        !events.body.to_string().contains("new.agent@example.com"),
        "audit text is masked"
    );
    let all = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/audit/events",
            Some(&root),
            None,
        )
        .await;
    assert!(
        all.body["data"].as_array().unwrap().len() > actions.len(),
        "the platform sees every tenant"
    );

    let db = app.db().await;
    let victim = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM audit_events WHERE seq = 3",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "id")
        .unwrap();
    db.execute_unprepared(&format!(
        "UPDATE audit_events SET detail = 'nothing happened' WHERE id = '{victim}'"
    ))
    .await
    .unwrap();
    let broken = verify(&app, &root).await;
    assert_eq!(broken["intact"], false);
    assert_eq!(broken["checked"], 2);
    assert_eq!(broken["first_broken_event_id"], victim.as_str());

    // The CLI's code path agrees, and a wrong key sees a broken chain from the start.
    let chain = aerostic_tenancy::chain::Chain::new(app.secrets.audit_secret.as_bytes());
    assert_eq!(
        chain.verify(&db).await.unwrap().first_broken.as_deref(),
        Some(victim.as_str())
    );
    let wrong = aerostic_tenancy::chain::Chain::new(b"another key entirely, 32 bytes long");
    assert_eq!(wrong.verify(&db).await.unwrap().checked, 0);
    app.platform.stop().await;
}

#[tokio::test]
async fn a_deleted_row_breaks_the_link_after_it() {
    let app = spawn_app().await;
    let root = app.super_admin().await;
    app.new_admin().await;
    chained(&app, &root, 4).await;
    let db = app.db().await;
    db.execute_unprepared("DELETE FROM audit_events WHERE seq = 2")
        .await
        .unwrap();
    let broken = verify(&app, &root).await;
    assert_eq!(
        (broken["intact"].as_bool(), broken["checked"].as_u64()),
        (Some(false), Some(1)),
        "{broken}"
    );
    app.platform.stop().await;
}
