//! Register and login end to end: REST gateway → tenancy gRPC → PostgreSQL,
//! with audit events through RabbitMQ and failed logins counted in Redis.

use crate::common;

use std::time::Duration;

use aerostic_kit::cache::{Cache, RedisCache};
use common::{spawn_app, unique_email};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

#[tokio::test]
async fn a_registered_admin_can_log_in_and_gets_a_bearer_token() {
    let app = spawn_app().await;
    let email = unique_email();
    let registered = app.register(&email).await;
    assert_eq!(registered["tenant"]["name"], "Acme Ltd");
    assert_eq!(registered["tenant"]["status"], "active");
    assert_eq!(registered["user"]["role"], "workspace_admin");
    assert_eq!(registered["user"]["tenant_id"], registered["tenant"]["id"]);

    let (status, body) = app
        .post_json(
            "/v1/auth/login",
            &json!({"email": email.to_uppercase(), "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    assert_eq!(body["user"]["id"], registered["user"]["id"]);
    app.platform.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_counted_in_the_cache() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    for _ in 0..2 {
        let (status, body) = app
            .post_json(
                "/v1/auth/login",
                &json!({"email": email, "password": "not the password"}),
            )
            .await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "invalid_credentials");
    }
    let cache = RedisCache::connect(&common::redis_url(), &app.backends.namespace)
        .await
        .unwrap();
    let key = aerostic_tenancy::auth::failure_key("email", &email);
    assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some(&b"2"[..]));
    let ip_key = aerostic_tenancy::auth::failure_key("ip", "127.0.0.1");
    assert_eq!(
        cache.get(&ip_key).await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn an_unknown_user_gets_the_same_answer_as_a_wrong_password() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_json(
            "/v1/auth/login",
            &json!({"email": unique_email(), "password": "whatever it is"}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": {"code": "invalid_credentials", "message": "email or password is wrong", "details": {}}})
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn a_second_registration_with_the_same_email_in_any_case_is_a_conflict() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let (status, body) = app
        .post_json(
            "/v1/auth/register",
            &json!({"tenant_name": "Other", "email": email.to_uppercase(), "password": "another good password"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "email_taken");
    assert_eq!(body["error"]["details"]["email"], "is already registered");
    app.platform.stop().await;
}

#[tokio::test]
async fn malformed_json_gets_a_400_that_says_so() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_raw("/v1/auth/register", "application/json", "{\"email\": ")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "malformed_json");
    let (status, body) = app
        .post_raw("/v1/auth/login", "application/json", "[1,2")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn missing_and_invalid_fields_are_each_named() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_json(
            "/v1/auth/register",
            &json!({"email": "not-an-email", "password": "short"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "validation_failed");
    let details = &body["error"]["details"];
    assert_eq!(details["tenant_name"], "is required");
    assert_eq!(details["email"], "must be an email address");
    assert_eq!(details["password"], "must be at least 10 characters");

    let (status, body) = app.post_json("/v1/auth/login", &json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["details"],
        json!({"email": "is required", "password": "is required"})
    );

    let (status, body) = app
        .post_json("/v1/auth/login", &json!({"email": 42, "password": "x"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "validation_failed");
    assert!(
        body["error"]["details"]["email"]
            .as_str()
            .unwrap()
            .contains("invalid type"),
        "{body}"
    );

    let (status, body) = app
        .post_json(
            "/v1/auth/login",
            &json!({"email": "a@b.co", "password": "x", "tenant_id": "t"}),
        )
        .await;
    assert_eq!(
        status, 400,
        "a tenant id in the body is refused, never trusted: {body}"
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_with_its_own_code() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_raw("/v1/auth/login", "text/plain", "email=a")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    app.platform.stop().await;
}

#[tokio::test]
async fn registering_and_logging_in_leave_masked_audit_events_carrying_the_request_trace_id() {
    let app = spawn_app().await;
    let email = unique_email();
    let tenant_id = app.register(&email).await["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_json(
        "/v1/auth/login",
        &json!({"email": email, "password": "wrong password!"}),
    )
    .await;
    let db = aerostic_kit::db::connect(&app.backends.database_url)
        .await
        .unwrap();
    let mut actions = Vec::new();
    for _ in 0..200 {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT action, detail, trace_id FROM audit_events WHERE tenant_id = '{tenant_id}' ORDER BY action"),
            ))
            .await
            .unwrap();
        actions = rows
            .iter()
            .map(|r| {
                (
                    r.try_get::<String>("", "action").unwrap(),
                    r.try_get::<String>("", "detail").unwrap(),
                )
            })
            .collect::<Vec<_>>();
        if actions.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(names, vec!["login.failed", "tenant.registered"]);
    assert!(
        actions.iter().all(|(_, d)| !d.contains(&email)),
        "the email is masked: {actions:?}"
    );
    let outbox = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM tenancy_outbox",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        outbox.try_get::<i64>("", "n").unwrap(),
        0,
        "the outbox is drained once published"
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors_and_every_response_has_a_trace_id() {
    let app = spawn_app().await;
    let (status, body) = app.get("/v1/nope").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("route_not_found"))
    );
    let (status, body) = app.get("/v1/auth/login").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let resp = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-trace-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-trace-id"], "abc-123");
    let resp = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-trace-id"].len(),
        32,
        "a fresh id when none is sent"
    );
    app.platform.stop().await;
}
