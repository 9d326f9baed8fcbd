//! Developer API keys: shown once, stored as hashes, scoped, revocable at
//! once, and invisible to every other tenant.

use crate::common;

use common::spawn_app;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

const KEYS: &str = "/v1/billing/api-keys";

async fn create(app: &common::TestApp, admin: &str, scopes: Value) -> common::Answer {
    app.call(
        Method::POST,
        KEYS,
        Some(admin),
        Some(&json!({"name": "CRM sync", "scopes": scopes})),
    )
    .await
}

#[tokio::test]
async fn a_key_is_shown_once_authenticates_with_its_scopes_and_dies_when_revoked() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let created = create(&app, &admin, json!(["messages:send", "contacts:read"])).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    let prefix = created.body["prefix"].as_str().unwrap();
    assert!(
        secret.starts_with(&format!("{prefix}_")),
        "{secret} {prefix}"
    );
    assert!(prefix.starts_with("ak_live_"));

    let listed = app.call(Method::GET, KEYS, Some(&admin), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(
        !listed
            .body
            .to_string()
            .contains(&secret[prefix.len() + 1..]),
        "a list never shows the secret"
    );

    let me = app.call(Method::GET, "/v1/me", Some(&secret), None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["scopes"], json!(["messages:send", "contacts:read"]));
    assert_eq!(me.body["api_key_id"], created.body["id"]);
    // The X-Api-Key header works as well as the bearer form.
    let by_header = app
        .http
        .get(format!("{}/v1/me", app.base))
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status().as_u16(), 200);

    // A key cannot manage keys: that needs a workspace admin's session.
    let by_key = create(&app, &secret, json!(["messages:send"])).await;
    assert_eq!(by_key.status, 403);

    let id = created.body["id"].as_str().unwrap();
    let revoked = app
        .call(Method::DELETE, &format!("{KEYS}/{id}"), Some(&admin), None)
        .await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].is_string());
    let after = app.call(Method::GET, "/v1/me", Some(&secret), None).await;
    assert_eq!(
        (after.status, after.body["error"]["code"].as_str()),
        (401, Some("invalid_api_key")),
        "refused at once, though it was cached a moment ago"
    );
}

#[tokio::test]
async fn another_tenants_key_ids_answer_404_and_change_nothing() {
    let app = spawn_app().await;
    let alice = app.new_admin().await;
    let mallory = app.new_admin().await;
    let created = create(&app, &alice, json!(["messages:send"])).await;
    let (id, secret) = (
        created.body["id"].as_str().unwrap(),
        created.body["secret"].as_str().unwrap(),
    );

    let attempt = app
        .call(
            Method::DELETE,
            &format!("{KEYS}/{id}"),
            Some(&mallory),
            None,
        )
        .await;
    assert_eq!(
        (attempt.status, attempt.body["error"]["code"].as_str()),
        (404, Some("api_key_not_found"))
    );
    let mallory_list = app.call(Method::GET, KEYS, Some(&mallory), None).await;
    assert_eq!(mallory_list.body["data"], json!([]));
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(secret), None)
            .await
            .status,
        200,
        "alice's key still works"
    );
    let garbage = app
        .call(
            Method::DELETE,
            &format!("{KEYS}/not-a-key"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(garbage.status, 404);
}

#[tokio::test]
async fn names_and_scopes_are_validated_and_each_problem_named() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let none = app
        .call(
            Method::POST,
            KEYS,
            Some(&admin),
            Some(&json!({"name": "", "scopes": []})),
        )
        .await;
    assert_eq!(none.status, 400);
    let details = &none.body["error"]["details"];
    assert!(
        details["name"].is_string() && details["scopes"].is_string(),
        "{details}"
    );
    let unknown = create(&app, &admin, json!(["messages:send", "root"])).await;
    assert_eq!(
        unknown.body["error"]["details"]["scopes"],
        "contains an unknown scope"
    );
    let anonymous = app
        .call(
            Method::POST,
            KEYS,
            None,
            Some(&json!({"name": "x", "scopes": ["messages:send"]})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn the_database_holds_only_a_hash_of_the_secret() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let created = create(&app, &admin, json!(["messages:send"])).await;
    let secret = created.body["secret"].as_str().unwrap();
    let db = Database::connect(&app.backends.database_url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT * FROM api_keys",
        ))
        .await
        .unwrap();
    let mut dump = String::new();
    for row in &rows {
        for column in [
            "id",
            "tenant_id",
            "name",
            "prefix",
            "secret_hash",
            "scopes",
            "created_by",
        ] {
            dump.push_str(&row.try_get::<String>("", column).unwrap());
            dump.push('\n');
        }
    }
    let prefix = created.body["prefix"].as_str().unwrap();
    let random = &secret[prefix.len() + 1..];
    assert!(!dump.contains(random), "the secret is not stored");
    let hash = aerostic_tenancy::sessions::token_hash(secret);
    assert!(dump.contains(&hash), "its SHA-256 is");
}
