//! The team: invitations, roles and deactivation, enforced by tenancy for
//! every caller, with other tenants' ids answering 404.

use crate::common;

use common::{spawn_app, unique_email};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

fn bearer(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_invited_agent_joins_reaches_its_identity_but_no_settings() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let (user, session) = app.member(&admin, "agent").await;
    assert_eq!(user["role"], "agent");
    let agent = bearer(&session);
    let me = app.call(Method::GET, "/v1/me", Some(&agent), None).await;
    assert_eq!(me.body["role"], "agent");

    let admin_me = app.call(Method::GET, "/v1/me", Some(&admin), None).await;
    assert_eq!(me.body["tenant_id"], admin_me.body["tenant_id"]);

    // The role matrix of this endpoints so far: (method, path, body).
    let id = user["id"].as_str().unwrap();
    let settings: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/billing/api-keys".into(), None),
        (
            Method::POST,
            "/v1/billing/api-keys".into(),
            Some(json!({"name": "x", "scopes": ["messages:send"]})),
        ),
        (Method::GET, "/v1/team/users".into(), None),
        (
            Method::POST,
            "/v1/team/invitations".into(),
            Some(json!({"email": unique_email(), "role": "agent"})),
        ),
        (
            Method::PATCH,
            format!("/v1/team/users/{id}"),
            Some(json!({"role": "workspace_admin"})),
        ),
        (
            Method::POST,
            format!("/v1/team/users/{id}/deactivate"),
            None,
        ),
    ];
    for (method, path, body) in &settings {
        let got = app
            .call(method.clone(), path, Some(&agent), body.as_ref())
            .await;
        assert_eq!(
            (got.status, got.body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "agent on {method} {path}"
        );
        let anonymous = app.call(method.clone(), path, None, body.as_ref()).await;
        assert_eq!(anonymous.status, 401, "anonymous on {method} {path}");
    }
    let users = app
        .call(Method::GET, "/v1/team/users", Some(&admin), None)
        .await;
    assert_eq!(users.body["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn roles_change_deactivation_ends_sessions_and_admins_cannot_change_themselves() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let (user, session) = app.member(&admin, "agent").await;
    let id = user["id"].as_str().unwrap();

    let promoted = app
        .call(
            Method::PATCH,
            &format!("/v1/team/users/{id}"),
            Some(&admin),
            Some(&json!({"role": "workspace_admin"})),
        )
        .await;
    assert_eq!(
        (promoted.status, &promoted.body["role"]),
        (200, &json!("workspace_admin"))
    );
    let bad_role = app
        .call(
            Method::PATCH,
            &format!("/v1/team/users/{id}"),
            Some(&admin),
            Some(&json!({"role": "super_admin"})),
        )
        .await;
    assert_eq!(
        (
            bad_role.status,
            bad_role.body["error"]["details"]["role"].as_str()
        ),
        (400, Some("must be workspace_admin or agent"))
    );

    let me = app.call(Method::GET, "/v1/me", Some(&admin), None).await;
    let my_id = me.body["user_id"].as_str().unwrap();
    let myself = app
        .call(
            Method::POST,
            &format!("/v1/team/users/{my_id}/deactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (myself.status, myself.body["error"]["code"].as_str()),
        (422, Some("cannot_change_self"))
    );

    let off = app
        .call(
            Method::POST,
            &format!("/v1/team/users/{id}/deactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((off.status, &off.body["active"]), (200, &json!(false)));
    let refresh = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": session["refresh_token"]})),
        )
        .await;
    assert_eq!(refresh.status, 401, "their sessions ended");
    let login = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": user["email"], "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 401, "and they cannot log in");
}

#[tokio::test]
async fn another_tenants_user_ids_answer_404_and_change_nothing() {
    let app = spawn_app().await;
    let alice = app.new_admin().await;
    let mallory = app.new_admin().await;
    let (user, session) = app.member(&alice, "agent").await;
    let id = user["id"].as_str().unwrap();
    let attempts = [
        (
            Method::PATCH,
            format!("/v1/team/users/{id}"),
            Some(json!({"role": "workspace_admin"})),
        ),
        (
            Method::POST,
            format!("/v1/team/users/{id}/deactivate"),
            None,
        ),
    ];
    for (method, path, body) in &attempts {
        let got = app
            .call(method.clone(), path, Some(&mallory), body.as_ref())
            .await;
        assert_eq!(
            (got.status, got.body["error"]["code"].as_str()),
            (404, Some("user_not_found")),
            "{method} {path}"
        );
    }
    let listed = app
        .call(Method::GET, "/v1/team/users", Some(&mallory), None)
        .await;
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "only mallory"
    );
    let me = app
        .call(Method::GET, "/v1/me", Some(&bearer(&session)), None)
        .await;
    assert_eq!(me.body["role"], "agent", "unchanged");
}

#[tokio::test]
async fn invitations_are_validated_and_unknown_tokens_refused() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let bad = app
        .call(
            Method::POST,
            "/v1/team/invitations",
            Some(&admin),
            Some(&json!({"email": "not-an-email", "role": "owner"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let details = &bad.body["error"]["details"];
    assert!(
        details["email"].is_string() && details["role"].is_string(),
        "{details}"
    );
    let unknown = app
        .call(
            Method::POST,
            "/v1/team/invitations/accept",
            None,
            Some(&json!({"invitation_token": "inv_nope", "full_name": "X", "password": PASSWORD})),
        )
        .await;
    assert_eq!(unknown.status, 404);
}
