//! Sessions at the gateway: access tokens, rotating refresh tokens with reuse
//! detection, logout, and the login lockout.

use crate::common;

use common::{spawn_app, unique_email};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_refresh_token_rotates_and_its_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let first = app.login(&email).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    assert!(r1.starts_with("rt_"), "{first}");

    let second = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": r1})),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    let r2 = second.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    let access = second.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(access), None)
            .await
            .status,
        200
    );

    // Someone replays the spent token: both lines of the family die.
    let replay = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": r1})),
        )
        .await;
    assert_eq!(
        (replay.status, replay.body["error"]["code"].as_str()),
        (401, Some("refresh_token_reused"))
    );
    let after = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": r2})),
        )
        .await;
    assert_eq!(
        (after.status, after.body["error"]["code"].as_str()),
        (401, Some("invalid_refresh_token")),
        "the legitimate holder's newer token is revoked too"
    );
}

#[tokio::test]
async fn logout_ends_the_session_and_twice_is_fine() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let token = app.login(&email).await["refresh_token"].clone();
    let body = json!({"refresh_token": token});
    for _ in 0..2 {
        let out = app
            .call(Method::POST, "/v1/auth/logout", None, Some(&body))
            .await;
        assert_eq!(out.status, 204);
    }
    let refresh = app
        .call(Method::POST, "/v1/auth/refresh", None, Some(&body))
        .await;
    assert_eq!(refresh.status, 401);
    let empty = app
        .call(Method::POST, "/v1/auth/refresh", None, Some(&json!({})))
        .await;
    assert_eq!(
        (
            empty.status,
            empty.body["error"]["details"]["refresh_token"].as_str()
        ),
        (400, Some("is required"))
    );
}

fn forge(secret: &str, kid: &str, exp_offset: i64, tenant: &str, user: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": user, "tid": tenant, "role": "workspace_admin", "iss": "aerostic",
                        "iat": now, "exp": now + exp_offset, "jti": "x"});
    let header = jsonwebtoken::Header {
        kid: Some(kid.into()),
        ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
    };
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn tampered_expired_and_foreign_key_tokens_are_refused() {
    let app = spawn_app().await;
    let access = app.new_admin().await;
    let me = app.call(Method::GET, "/v1/me", Some(&access), None).await;
    assert_eq!(me.status, 200);
    let (tenant, user) = (
        me.body["tenant_id"].as_str().unwrap(),
        me.body["user_id"].as_str().unwrap(),
    );
    let secret = common::test_secrets().jwt_secret;
    let kid = aerostic_kit::jwt::key_id(&secret);

    // The payload edited to another tenant, signature kept.
    let mut parts: Vec<String> = access.split('.').map(str::to_string).collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    payload["tid"] = json!(uuid::Uuid::now_v7().to_string());
    parts[1] = b64.encode(payload.to_string());
    let tampered = parts.join(".");

    let cases = [
        ("tampered", tampered, "invalid_token"),
        (
            "expired",
            forge(&secret, &kid, -600, tenant, user),
            "token_expired",
        ),
        (
            "signed with another key under our kid",
            forge(&"y".repeat(40), &kid, 600, tenant, user),
            "invalid_token",
        ),
        (
            "unknown kid",
            forge(&"y".repeat(40), "deadbeef", 600, tenant, user),
            "invalid_token",
        ),
        ("garbage", "not.a.jwt".to_string(), "invalid_token"),
    ];
    for (what, token, code) in cases {
        let got = app.call(Method::GET, "/v1/me", Some(&token), None).await;
        assert_eq!(
            (got.status, got.body["error"]["code"].as_str()),
            (401, Some(code)),
            "{what}"
        );
    }
    let none = app.call(Method::GET, "/v1/me", None, None).await;
    assert_eq!(
        (none.status, none.body["error"]["code"].as_str()),
        (401, Some("authentication_required"))
    );
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_with_retry_after_even_for_the_right_one() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let wrong = json!({"email": email, "password": "not the password"});
    for _ in 0..5 {
        let got = app
            .call(Method::POST, "/v1/auth/login", None, Some(&wrong))
            .await;
        assert_eq!(got.status, 401);
    }
    let right = json!({"email": email, "password": "correct horse battery"});
    let locked = app
        .call(Method::POST, "/v1/auth/login", None, Some(&right))
        .await;
    assert_eq!(
        (locked.status, locked.body["error"]["code"].as_str()),
        (429, Some("too_many_login_attempts"))
    );
    assert_eq!(locked.retry_after.as_deref(), Some("900"));

    // Another account from another IP is unaffected.
    let other = unique_email();
    app.register(&other).await;
    app.login(&other).await;
}
