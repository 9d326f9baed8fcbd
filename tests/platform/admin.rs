//! The platform admin: only super admins, only on the admin host; typed
//! settings; plans; suspension that stops every credential; resellers whose
//! domains serve their brand and own the tenants signing up there.

use crate::common;

use common::{ADMIN_HOST, spawn_app, unique_email};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_admin_api_is_404_to_everyone_but_a_super_admin_on_the_admin_host() {
    let app = spawn_app().await;
    let root = app.super_admin().await;
    let admin = app.new_admin().await;
    let key = app.api_key(&admin, &["messages:send"]).await;
    let paths = [
        (Method::GET, "/v1/admin/config"),
        (Method::GET, "/v1/admin/tenants"),
        (Method::GET, "/v1/admin/plans"),
        (Method::GET, "/v1/admin/resellers"),
        (Method::GET, "/v1/admin/audit/verify"),
        (Method::GET, "/v1/admin/meta/system-user-token"),
    ];
    for (method, path) in paths {
        for (who, credential) in [
            ("workspace admin", Some(&admin)),
            ("api key", Some(&key)),
            ("nobody", None),
        ] {
            let answer = app
                .call_on(
                    ADMIN_HOST,
                    method.clone(),
                    path,
                    credential.map(String::as_str),
                    None,
                )
                .await;
            assert_eq!(
                answer.status, 404,
                "{who} on admin host {path}: {}",
                answer.body
            );
        }
        let on_app = app.call(method.clone(), path, Some(&root), None).await;
        assert_eq!(on_app.status, 404, "the app host never serves {path}");
        let ok = app
            .call_on(ADMIN_HOST, method.clone(), path, Some(&root), None)
            .await;
        assert_eq!(ok.status, 200, "super admin on {path}: {}", ok.body);
    }
    // The tenant API is not on the admin host either.
    let team = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/team/users",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(team.status, 404);
    app.platform.stop().await;
}

#[tokio::test]
async fn super_admins_sign_in_only_on_the_admin_host_and_tenants_never_there() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let on_admin = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(on_admin.status, 404, "{}", on_admin.body);
    let root_email = app.create_super_admin().await;
    let on_app = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": root_email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(
        (on_app.status, on_app.body["error"]["code"].as_str()),
        (403, Some("use_admin_host"))
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn platform_settings_are_typed_validated_whole_and_take_effect() {
    let app = spawn_app().await;
    let root = app.super_admin().await;
    let before = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/config",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(before.body["settings"]["signup.enabled"], "true");
    assert_eq!(before.body["settings"]["meta.graph_version"], "v21.0");

    let bad = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            "/v1/admin/config",
            Some(&root),
            Some(&json!({"settings": {
                "signup.enabled": "maybe",
                "branding.primary_color": "teal",
                "meta.system_user_token_rotation_days": "0",
                "signup.default_plan": "platinum",
                "no.such.key": "1",
                "branding.name": "Would be fine"
            }})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let details = &bad.body["error"]["details"];
    for key in [
        "signup.enabled",
        "branding.primary_color",
        "meta.system_user_token_rotation_days",
        "signup.default_plan",
        "no.such.key",
    ] {
        assert!(
            details[format!("settings.{key}")].is_string(),
            "{key} reported: {details}"
        );
    }
    let unchanged = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/config",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(
        unchanged.body["settings"]["branding.name"], "Aerostic",
        "all or nothing"
    );

    let ok = app
        .call_on(ADMIN_HOST, Method::POST, "/v1/admin/config", Some(&root), Some(&json!({"settings": {
            "signup.enabled": "false", "branding.name": "Chatly", "signup.default_plan": "growth"
        }})))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["settings"]["branding.name"], "Chatly");
    let branding = app.call(Method::GET, "/v1/branding", None, None).await;
    assert_eq!(branding.body["name"], "Chatly");
    let closed = app
        .call(Method::POST, "/v1/auth/register", None, Some(&json!({"tenant_name": "Late", "email": unique_email(), "password": "correct horse battery"})))
        .await;
    assert_eq!(
        (closed.status, closed.body["error"]["code"].as_str()),
        (403, Some("signup_disabled"))
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn plans_change_and_their_limits_bind() {
    let app = spawn_app().await;
    let root = app.super_admin().await;
    let admin = app.new_admin().await;
    let tenant = app
        .call(Method::GET, "/v1/tenant", Some(&admin), None)
        .await;
    assert_eq!(tenant.body["plan"]["code"], "starter");
    assert_eq!(tenant.body["plan"]["max_agents"], 3);
    let id = tenant.body["id"].as_str().unwrap().to_string();

    // Starter: 3 seats — the admin and two invitations; the third is refused.
    for n in 0..2 {
        let ok = app
            .call(
                Method::POST,
                "/v1/team/invitations",
                Some(&admin),
                Some(&json!({"email": unique_email(), "role": "agent"})),
            )
            .await;
        assert_eq!(ok.status, 201, "seat {n}: {}", ok.body);
    }
    let full = app
        .call(
            Method::POST,
            "/v1/team/invitations",
            Some(&admin),
            Some(&json!({"email": unique_email(), "role": "agent"})),
        )
        .await;
    assert_eq!(
        (full.status, full.body["error"]["code"].as_str()),
        (422, Some("plan_limit_reached"))
    );
    assert_eq!(full.body["error"]["details"]["max_agents"], "3");

    let plans = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/plans",
            Some(&root),
            None,
        )
        .await;
    let codes: Vec<&str> = plans.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["starter", "growth", "scale"]);
    let unknown = app
        .call_on(
            ADMIN_HOST,
            Method::PATCH,
            &format!("/v1/admin/tenants/{id}/plan"),
            Some(&root),
            Some(&json!({"plan_code": "platform"})),
        )
        .await;
    assert_eq!(
        unknown.status, 400,
        "the platform's own plan is not for tenants"
    );
    let missing = app
        .call_on(
            ADMIN_HOST,
            Method::PATCH,
            &format!("/v1/admin/tenants/{}/plan", uuid::Uuid::new_v4()),
            Some(&root),
            Some(&json!({"plan_code": "growth"})),
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (404, Some("tenant_not_found"))
    );
    let moved = app
        .call_on(
            ADMIN_HOST,
            Method::PATCH,
            &format!("/v1/admin/tenants/{id}/plan"),
            Some(&root),
            Some(&json!({"plan_code": "growth"})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["plan"]["max_agents"], 10);
    let room = app
        .call(
            Method::POST,
            "/v1/team/invitations",
            Some(&admin),
            Some(&json!({"email": unique_email(), "role": "agent"})),
        )
        .await;
    assert_eq!(room.status, 201, "growth has room: {}", room.body);
    app.platform.stop().await;
}

#[tokio::test]
async fn a_suspended_tenant_loses_tokens_keys_logins_and_sessions_until_reactivated() {
    let app = spawn_app().await;
    let root = app.super_admin().await;
    let email = unique_email();
    app.register(&email).await;
    let session = app.login(&email).await;
    let access = session["access_token"].as_str().unwrap().to_string();
    let key = app.api_key(&access, &["messages:send"]).await;
    let tenant_id = app
        .call(Method::GET, "/v1/me", Some(&access), None)
        .await
        .body["tenant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.new_admin().await;

    let listed = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/tenants",
            Some(&root),
            None,
        )
        .await;
    assert!(
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == tenant_id.as_str())
    );

    let suspended = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            &format!("/v1/admin/tenants/{tenant_id}/suspend"),
            Some(&root),
            Some(&json!({"reason": "chargeback"})),
        )
        .await;
    assert_eq!(
        (suspended.status, suspended.body["status"].as_str()),
        (200, Some("suspended")),
        "{}",
        suspended.body
    );

    for credential in [&access, &key] {
        let refused = app
            .call(Method::GET, "/v1/me", Some(credential), None)
            .await;
        assert_eq!(
            (refused.status, refused.body["error"]["code"].as_str()),
            (403, Some("tenant_suspended")),
            "{}",
            refused.body
        );
    }
    let login = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(
        (login.status, login.body["error"]["code"].as_str()),
        (403, Some("tenant_suspended"))
    );
    let refresh = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": session["refresh_token"]})),
        )
        .await;
    assert_eq!(refresh.status, 401, "sessions ended: {}", refresh.body);
    let untouched = app.call(Method::GET, "/v1/me", Some(&other), None).await;
    assert_eq!(untouched.status, 200, "other tenants carry on");

    let back = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            &format!("/v1/admin/tenants/{tenant_id}/reactivate"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(back.body["status"], "active");
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(&access), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(&key), None)
            .await
            .status,
        200
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn a_resellers_domain_serves_its_brand_and_owns_the_tenants_signing_up_there() {
    let app = spawn_app().await;
    let root = app.super_admin().await;
    let bad = app
        .call_on(ADMIN_HOST, Method::POST, "/v1/admin/resellers", Some(&root), Some(&json!({"name": "", "logo_url": "http://x", "primary_color": "red", "accent_color": "#ffffff", "markup_bps": 20000})))
        .await;
    assert_eq!(bad.status, 400);
    for field in ["name", "logo_url", "primary_color", "markup_bps"] {
        assert!(
            bad.body["error"]["details"][field].is_string(),
            "{field}: {}",
            bad.body
        );
    }
    let created = app
        .call_on(ADMIN_HOST, Method::POST, "/v1/admin/resellers", Some(&root), Some(&json!({"name": "Chatly", "logo_url": "https://chatly.io/logo.png", "primary_color": "#112233", "accent_color": "#AABBCC", "markup_bps": 1500})))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let domain = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            &format!("/v1/admin/resellers/{id}/domains"),
            Some(&root),
            Some(&json!({"domain": "Chat.Chatly.IO"})),
        )
        .await;
    assert_eq!(domain.status, 201, "{}", domain.body);
    assert_eq!(domain.body["domains"], json!(["chat.chatly.io"]));
    let again = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            &format!("/v1/admin/resellers/{id}/domains"),
            Some(&root),
            Some(&json!({"domain": "chat.chatly.io"})),
        )
        .await;
    assert_eq!(
        (again.status, again.body["error"]["code"].as_str()),
        (409, Some("domain_taken"))
    );
    let nowhere = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            &format!("/v1/admin/resellers/{}/domains", uuid::Uuid::new_v4()),
            Some(&root),
            Some(&json!({"domain": "x.example.com"})),
        )
        .await;
    assert_eq!(nowhere.status, 404);

    let brand = app
        .call_on(
            "chat.chatly.io:443",
            Method::GET,
            "/v1/branding",
            None,
            None,
        )
        .await;
    assert_eq!(brand.body["name"], "Chatly");
    assert_eq!(brand.body["accent_color"], "#aabbcc");
    assert_eq!(brand.body["reseller_id"], id.as_str());
    let platform = app.call(Method::GET, "/v1/branding", None, None).await;
    assert_eq!(
        (
            platform.body["name"].as_str(),
            platform.body["reseller_id"].is_null()
        ),
        (Some("Aerostic"), true)
    );

    let signed = app
        .call_on("chat.chatly.io", Method::POST, "/v1/auth/register", None, Some(&json!({"tenant_name": "Shop", "email": unique_email(), "password": "correct horse battery"})))
        .await;
    assert_eq!(signed.status, 201, "{}", signed.body);
    let tenants = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/tenants",
            Some(&root),
            None,
        )
        .await;
    let shop = tenants.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == signed.body["tenant"]["id"])
        .unwrap()
        .clone();
    assert_eq!(shop["reseller_id"], id.as_str());
    app.platform.stop().await;
}
