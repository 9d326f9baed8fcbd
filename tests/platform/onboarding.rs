//! Connecting WhatsApp numbers against the Meta sandbox: Embedded Signup
//! (popup and redirect), cloud init with the system-user token, every
//! failure answered precisely with nothing half-stored, tokens unreadable
//! in the database, other tenants kept out, and the routing RPC.

use crate::common;

use aerostic_kit::crypto::Binding;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::tenancy_client::TenancyClient;
use common::{ADMIN_HOST, TestApp, spawn_app_with_sandbox, spawn_with};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const PIN: &str = "581063";

/// The popup: start, the business clicks through, the FINISH event's data.
async fn popup(app: &TestApp, admin: &str) -> (String, Value) {
    let start = app
        .call(
            Method::GET,
            "/v1/whatsapp/embedded/start",
            Some(admin),
            None,
        )
        .await;
    assert_eq!(start.status, 200, "{}", start.body);
    assert_eq!(start.body["app_id"], "100000000000009");
    let finish = app
        .sandbox_control(Method::POST, "/_sandbox/signup", None)
        .await;
    (start.body["state"].as_str().unwrap().to_string(), finish)
}

fn finish_body(state: &str, event: &Value, pin: &str) -> Value {
    json!({
        "code": event["code"],
        "state": state,
        "waba_id": event["data"]["waba_id"],
        "phone_number_id": event["data"]["phone_number_id"],
        "pin": pin,
    })
}

async fn numbers(app: &TestApp, token: &str) -> Vec<Value> {
    let me = app
        .call(Method::GET, "/v1/whatsapp/me", Some(token), None)
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    me.body["data"].as_array().unwrap().clone()
}

/// Every row of `table` as text, as a dump would show it.
async fn raw_rows(app: &TestApp, table: &str) -> String {
    let db = app.db().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT t::text AS row FROM {table} t"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "row").unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn embedded_signup_connects_a_number_with_its_token_sealed_and_routes_it() {
    let app = spawn_app_with_sandbox().await;
    let admin = app.new_admin().await;
    let (state, event) = popup(&app, &admin).await;
    let done = app
        .call(
            Method::POST,
            "/v1/whatsapp/embedded/finish",
            Some(&admin),
            Some(&finish_body(&state, &event, PIN)),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.body);
    assert_eq!(done.body["status"], "connected");
    assert_eq!(done.body["verified_name"], "Sandbox Business");
    let phone_id = event["data"]["phone_number_id"].as_str().unwrap();
    assert_eq!(numbers(&app, &admin).await.len(), 1);

    // The business token: sealed to tenant and column, never in the row's text, and it works at Meta.
    let tenant_id = app
        .call(Method::GET, "/v1/me", Some(&admin), None)
        .await
        .body["tenant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = raw_rows(&app, "whatsapp_accounts").await;
    let sealed = raw
        .split(['(', ',', ')'])
        .find(|f| f.starts_with("v1:") || f.starts_with("\"v1:"))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let keys = app.secrets.key_ring().unwrap();
    let token = String::from_utf8(
        keys.decrypt(
            &sealed,
            Binding {
                tenant: &tenant_id,
                column: "whatsapp_accounts.access_token",
            },
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        !raw.contains(&token),
        "the token is not readable in the database"
    );
    assert!(
        keys.decrypt(
            &sealed,
            Binding {
                tenant: &uuid::Uuid::new_v4().to_string(),
                column: "whatsapp_accounts.access_token"
            }
        )
        .is_err()
    );
    let (sandbox, _) = app.sandbox.as_ref().unwrap();
    let at_meta = app
        .http
        .get(format!("{sandbox}/v21.0/{phone_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        at_meta.status().as_u16(),
        200,
        "the stored token is the one Meta issued"
    );

    // The dispatcher's routing RPC.
    let (_, addr) = app
        .platform
        .grpc
        .iter()
        .find(|(n, _)| *n == aerostic_kit::config::ServiceName::Tenancy)
        .unwrap();
    let mut tenancy =
        TenancyClient::new(aerostic_kit::grpc::channel(&format!("http://{addr}")).unwrap());
    for _ in 0..2 {
        let route = tenancy
            .resolve_phone_number(pb::ResolvePhoneNumberRequest {
                phone_number_id: phone_id.into(),
                waba_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(route.tenant_id, tenant_id);
        assert_eq!(route.tenant_status(), pb::TenantStatus::Active);
    }
    let unknown = tenancy
        .resolve_phone_number(pb::ResolvePhoneNumberRequest {
            phone_number_id: "999".into(),
            waba_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // Another tenant: cannot see it, cannot take it, cannot use this tenant's state.
    let other = app.new_admin().await;
    assert!(numbers(&app, &other).await.is_empty());
    let (_, event2) = popup(&app, &other).await;
    let stolen = app
        .call(
            Method::POST,
            "/v1/whatsapp/embedded/finish",
            Some(&other),
            Some(&finish_body(&state, &event2, PIN)),
        )
        .await;
    assert_eq!(stolen.status, 400);
    assert!(
        stolen.body["error"]["details"]["state"].is_string(),
        "{}",
        stolen.body
    );
    let (state2, _) = popup(&app, &other).await;
    let taken = app
        .call(
            Method::POST,
            "/v1/whatsapp/embedded/finish",
            Some(&other),
            Some(&finish_body(&state2, &event, PIN)),
        )
        .await;
    assert_eq!(
        (taken.status, taken.body["error"]["code"].as_str()),
        (409, Some("number_already_connected"))
    );
    assert!(numbers(&app, &other).await.is_empty());
    app.platform.stop().await;
}

#[tokio::test]
async fn an_expired_code_fails_clearly_and_stores_nothing_and_a_fresh_signup_then_works() {
    let app = spawn_app_with_sandbox().await;
    let admin = app.new_admin().await;
    let (state, event) = popup(&app, &admin).await;
    app.sandbox_control(
        Method::POST,
        "/_sandbox/clock",
        Some(&json!({"advance_secs": 31})),
    )
    .await;
    let late = app
        .call(
            Method::POST,
            "/v1/whatsapp/embedded/finish",
            Some(&admin),
            Some(&finish_body(&state, &event, PIN)),
        )
        .await;
    assert_eq!(
        (late.status, late.body["error"]["code"].as_str()),
        (400, Some("signup_code_invalid")),
        "{}",
        late.body
    );
    assert!(
        numbers(&app, &admin).await.is_empty(),
        "nothing half-stored"
    );

    let invalid = app
        .call(Method::POST, "/v1/whatsapp/embedded/finish", Some(&admin), Some(&json!({"code": "", "state": state, "waba_id": "abc", "phone_number_id": "", "pin": "12"})))
        .await;
    assert_eq!(invalid.status, 400);
    for field in ["code", "waba_id", "phone_number_id", "pin"] {
        assert!(
            invalid.body["error"]["details"][field].is_string(),
            "{field}: {}",
            invalid.body
        );
    }
    let (state, event) = popup(&app, &admin).await;
    let ok = app
        .call(
            Method::POST,
            "/v1/whatsapp/embedded/finish",
            Some(&admin),
            Some(&finish_body(&state, &event, PIN)),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    app.platform.stop().await;
}

#[tokio::test]
async fn cloud_init_uses_the_system_user_token_and_a_wrong_pin_stores_nothing() {
    let app = spawn_app_with_sandbox().await;
    let admin = app.new_admin().await;
    let added = app
        .sandbox_control(
            Method::POST,
            "/_sandbox/numbers",
            Some(&json!({"throughput_per_sec": 80})),
        )
        .await;
    let phone_id = added["id"].as_str().unwrap().to_string();
    let waba_id = added["waba_id"].as_str().unwrap().to_string();
    // The business set a two-step PIN on this number long ago.
    let (sandbox, _) = app.sandbox.as_ref().unwrap();
    let set = app
        .http
        .post(format!("{sandbox}/v21.0/{phone_id}/register"))
        .bearer_auth("sandbox-access-token")
        .json(&json!({"messaging_product": "whatsapp", "pin": "111111"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 200);

    let body = |pin: &str| json!({"waba_id": waba_id, "phone_number_id": phone_id, "pin": pin});
    let wrong = app
        .call(
            Method::POST,
            "/v1/whatsapp/cloud/init",
            Some(&admin),
            Some(&body("222222")),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body["error"]["code"].as_str()),
        (400, Some("wrong_pin")),
        "{}",
        wrong.body
    );
    assert!(
        numbers(&app, &admin).await.is_empty(),
        "nothing half-stored"
    );
    let not_ours = app
        .call(Method::POST, "/v1/whatsapp/cloud/init", Some(&admin), Some(&json!({"waba_id": "310000000000099", "phone_number_id": "420000000000999", "pin": "111111"})))
        .await;
    assert_eq!(
        (not_ours.status, not_ours.body["error"]["code"].as_str()),
        (422, Some("meta_rejected")),
        "{}",
        not_ours.body
    );
    let ok = app
        .call(
            Method::POST,
            "/v1/whatsapp/cloud/init",
            Some(&admin),
            Some(&body("111111")),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert!(
        !raw_rows(&app, "whatsapp_accounts").await.contains("v1:"),
        "served by the system-user token: no token stored"
    );

    // Agents see the numbers but cannot connect any.
    let (_, session) = app.member(&admin, "agent").await;
    let agent = session["access_token"].as_str().unwrap().to_string();
    assert_eq!(numbers(&app, &agent).await.len(), 1);
    for (method, path) in [
        (Method::GET, "/v1/whatsapp/embedded/start"),
        (Method::POST, "/v1/whatsapp/cloud/init"),
        (Method::POST, "/v1/whatsapp/embedded/finish"),
    ] {
        let refused = app
            .call(method, path, Some(&agent), Some(&body("111111")))
            .await;
        assert_eq!(refused.status, 403, "agent on {path}: {}", refused.body);
    }
    app.platform.stop().await;
}

#[tokio::test]
async fn the_redirect_variant_stores_pending_numbers_that_cloud_init_finishes() {
    let app = spawn_app_with_sandbox().await;
    let admin = app.new_admin().await;
    let (state, event) = popup(&app, &admin).await;
    let code = event["code"].as_str().unwrap();
    let forged = app
        .call(
            Method::GET,
            &format!("/v1/meta/callback?code={code}&state=forged.state"),
            None,
            None,
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let back = app
        .call(
            Method::GET,
            &format!("/v1/meta/callback?code={code}&state={state}"),
            None,
            None,
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let pending = &back.body["data"][0];
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["phone_number_id"], event["data"]["phone_number_id"]);
    assert_eq!(numbers(&app, &admin).await[0]["status"], "pending");

    let init = json!({"waba_id": pending["waba_id"], "phone_number_id": pending["phone_number_id"], "pin": PIN});
    let other = app.new_admin().await;
    let stranger = app
        .call(
            Method::POST,
            "/v1/whatsapp/cloud/init",
            Some(&other),
            Some(&init),
        )
        .await;
    assert_eq!(
        stranger.status, 409,
        "another tenant's pending number is not theirs: {}",
        stranger.body
    );
    let done = app
        .call(
            Method::POST,
            "/v1/whatsapp/cloud/init",
            Some(&admin),
            Some(&init),
        )
        .await;
    assert_eq!(
        (done.status, done.body["status"].as_str()),
        (201, Some("connected")),
        "{}",
        done.body
    );
    app.platform.stop().await;
}

#[tokio::test]
async fn a_token_meta_refuses_is_a_clear_error_and_rotation_checks_and_seals_the_new_one() {
    // A sandbox of the test's own, so the platform can start with a bad system-user token.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sandbox = aerostic_sandbox::Sandbox::new(aerostic_sandbox::Seed::default(), "ctl-own");
    tokio::spawn(aerostic_sandbox::run(
        sandbox,
        listener,
        std::future::pending(),
    ));
    let mut meta = aerostic_launcher::sandbox_meta(addr);
    meta.system_user_token = Some("EAAGrevokedlongago0000".into());
    let app = spawn_with(None, meta).await;
    let admin = app.new_admin().await;
    let root = app.super_admin().await;

    let init =
        json!({"waba_id": "310000000000001", "phone_number_id": "420000000000002", "pin": PIN});
    let refused = app
        .call(
            Method::POST,
            "/v1/whatsapp/cloud/init",
            Some(&admin),
            Some(&init),
        )
        .await;
    assert_eq!(
        (refused.status, refused.body["error"]["code"].as_str()),
        (422, Some("meta_token_invalid")),
        "{}",
        refused.body
    );
    assert!(numbers(&app, &admin).await.is_empty());

    let status = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/meta/system-user-token",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status.body["source"], "config");
    let bogus = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            "/v1/admin/meta/system-user-token",
            Some(&root),
            Some(&json!({"token": "EAAGnotatokenmetaknows"})),
        )
        .await;
    assert_eq!(
        (bogus.status, bogus.body["error"]["code"].as_str()),
        (422, Some("meta_token_invalid"))
    );
    let rotated = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            "/v1/admin/meta/system-user-token",
            Some(&root),
            Some(&json!({"token": "sandbox-access-token"})),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(
        (
            rotated.body["source"].as_str(),
            rotated.body["rotation_due"].as_bool()
        ),
        (Some("stored"), Some(false))
    );
    assert!(rotated.body["next_rotation_at"].is_string());
    assert!(
        !raw_rows(&app, "platform_secrets")
            .await
            .contains("sandbox-access-token"),
        "sealed at rest"
    );
    let by_admin = app
        .call(
            Method::POST,
            "/v1/admin/meta/system-user-token",
            Some(&admin),
            Some(&json!({"token": "x"})),
        )
        .await;
    assert_eq!(by_admin.status, 404);

    let connected = app
        .call(
            Method::POST,
            "/v1/whatsapp/cloud/init",
            Some(&admin),
            Some(&init),
        )
        .await;
    assert_eq!(
        connected.status, 201,
        "the rotated token serves: {}",
        connected.body
    );
    app.platform.stop().await;
}
