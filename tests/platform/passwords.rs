//! Passwords after sign-up: changing one ends every session; a reset token
//! travels encrypted to the mailer, works once, and reveals no account.

use crate::common;

use aerostic_kit::crypto::Binding;
use aerostic_tenancy::credentials::{RESET_TOKEN_COLUMN, RESET_TOPIC, ResetNotice};
use common::{spawn_app, unique_email};
use reqwest::Method;
use serde_json::json;

fn login_body(email: &str, password: &str) -> serde_json::Value {
    json!({"email": email, "password": password})
}

#[tokio::test]
async fn changing_a_password_needs_the_current_one_and_ends_every_session() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let first = app.login(&email).await;
    let second = app.login(&email).await;
    let access = first["access_token"].as_str().unwrap();

    let wrong = app
        .call(
            Method::POST,
            "/v1/auth/password/change",
            Some(access),
            Some(&json!({"current_password": "nope", "new_password": "a brand new secret"})),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.body["error"]["details"]["current_password"].is_string(),
        "{}",
        wrong.body
    );
    let short = app
        .call(
            Method::POST,
            "/v1/auth/password/change",
            Some(access),
            Some(&json!({"current_password": "correct horse battery", "new_password": "short"})),
        )
        .await;
    assert!(
        short.body["error"]["details"]["new_password"].is_string(),
        "{}",
        short.body
    );
    let anonymous = app
        .call(
            Method::POST,
            "/v1/auth/password/change",
            None,
            Some(&json!({})),
        )
        .await;
    assert_eq!(anonymous.status, 401);

    let changed = app
        .call(Method::POST, "/v1/auth/password/change", Some(access), Some(&json!({"current_password": "correct horse battery", "new_password": "a brand new secret"})))
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    for session in [&first, &second] {
        let refresh = app
            .call(
                Method::POST,
                "/v1/auth/refresh",
                None,
                Some(&json!({"refresh_token": session["refresh_token"]})),
            )
            .await;
        assert_eq!(refresh.status, 401, "every session ended");
    }
    let old = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&login_body(&email, "correct horse battery")),
        )
        .await;
    assert_eq!(old.status, 401);
    let new = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&login_body(&email, "a brand new secret")),
        )
        .await;
    assert_eq!(new.status, 200);
    app.platform.stop().await;
}

#[tokio::test]
async fn a_reset_link_is_emailed_its_token_travels_encrypted_works_once_and_unknown_emails_look_the_same()
 {
    let app = spawn_app().await;
    let (mut inbox, _sub) = common::events::listen::<ResetNotice>(&app, RESET_TOPIC).await;
    let email = unique_email();
    app.register(&email).await;
    let session = app.login(&email).await;

    let unknown = app
        .call(
            Method::POST,
            "/v1/auth/password/forgot",
            None,
            Some(&json!({"email": unique_email()})),
        )
        .await;
    let known = app
        .call(
            Method::POST,
            "/v1/auth/password/forgot",
            None,
            Some(&json!({"email": email.to_uppercase()})),
        )
        .await;
    assert_eq!(
        (unknown.status, &unknown.body),
        (known.status, &known.body),
        "no account is revealed"
    );
    assert_eq!(known.status, 202);

    let notice = tokio::time::timeout(std::time::Duration::from_secs(10), inbox.recv())
        .await
        .expect("a notice within 10 s")
        .unwrap();
    assert_eq!(notice.email, email);
    assert!(
        notice.encrypted_token.starts_with("v1:"),
        "the broker never holds the token in clear"
    );
    let keys = app.secrets.key_ring().unwrap();
    let token = String::from_utf8(
        keys.decrypt(
            &notice.encrypted_token,
            Binding {
                tenant: &notice.tenant_id,
                column: RESET_TOKEN_COLUMN,
            },
        )
        .unwrap(),
    )
    .unwrap();
    assert!(token.starts_with("pr_"));
    let mail = app.mail_to(&email).await;
    assert!(mail.contains("Subject: Reset your password"), "{mail}");
    assert!(
        mail.contains(&format!(
            "https://app.localhost/reset-password?token={token}"
        )),
        "the email carries the link: {mail}"
    );

    let weak = app
        .call(
            Method::POST,
            "/v1/auth/password/reset",
            None,
            Some(&json!({"reset_token": token, "new_password": "x"})),
        )
        .await;
    assert_eq!(
        weak.status, 400,
        "validation first, token kept: {}",
        weak.body
    );
    let reset = app
        .call(
            Method::POST,
            "/v1/auth/password/reset",
            None,
            Some(&json!({"reset_token": token, "new_password": "reset and renewed"})),
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.body);
    let twice = app
        .call(
            Method::POST,
            "/v1/auth/password/reset",
            None,
            Some(&json!({"reset_token": token, "new_password": "another one entirely"})),
        )
        .await;
    assert_eq!(
        (twice.status, twice.body["error"]["code"].as_str()),
        (404, Some("reset_token_not_found"))
    );
    let forged = app
        .call(
            Method::POST,
            "/v1/auth/password/reset",
            None,
            Some(&json!({"reset_token": "pr_forged", "new_password": "another one entirely"})),
        )
        .await;
    assert_eq!(forged.status, 404);

    let refresh = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": session["refresh_token"]})),
        )
        .await;
    assert_eq!(refresh.status, 401, "the reset ended the old session");
    let login = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&login_body(&email, "reset and renewed")),
        )
        .await;
    assert_eq!(login.status, 200);
    assert!(inbox.try_recv().is_err(), "the unknown email sent nothing");
    assert_eq!(app.sent_mail().len(), 1, "one email, to the known account");
    app.platform.stop().await;
}
