//! The admin API's money: top-ups once per payment reference, any tenant's
//! wallet, the default and per-tenant price lists, and what a reseller
//! earned from its markup. Unknown tenants and resellers are 404s.

use crate::common;

use aerostic_proto::v1 as pb;
use common::billing::{as_caller, client, identity, marketing};
use common::{ADMIN_HOST, APP_HOST, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn super_admins_credit_wallets_set_prices_and_read_a_resellers_earnings() {
    let app = spawn_app().await;
    let root = app.super_admin().await;
    let admin = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let root = root.clone();
        async move {
            app.call_on(ADMIN_HOST, method, &path, Some(&root), body.as_ref())
                .await
        }
    };

    // A reseller with a 50% markup and a tenant signed up on its domain.
    let reseller = admin(
        Method::POST,
        "/v1/admin/resellers".into(),
        Some(json!({"name": "Acme Resale", "logo_url": "https://resale.example/logo.png", "primary_color": "#0f766e", "accent_color": "#111827", "markup_bps": 5000})),
    )
    .await;
    assert_eq!(reseller.status, 201, "{}", reseller.body);
    let reseller_id = reseller.body["id"].as_str().unwrap().to_string();
    let domain = admin(
        Method::POST,
        format!("/v1/admin/resellers/{reseller_id}/domains"),
        Some(json!({"domain": "chat.resale.example"})),
    )
    .await;
    assert_eq!(domain.status, 201, "{}", domain.body);
    let email = common::unique_email();
    let registered = app
        .call_on(
            "chat.resale.example",
            Method::POST,
            "/v1/auth/register",
            None,
            Some(&json!({"tenant_name": "Resold", "email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let token = app.login(&email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let tenant = identity(&app, &token).await;
    let tenant_id = tenant.tenant_id.to_string();

    let top_up = |reference: &str, amount: i64| {
        admin(
            Method::POST,
            format!("/v1/admin/tenants/{tenant_id}/top-ups"),
            Some(json!({"amount_minor": amount, "reference": reference, "note": "wire"})),
        )
    };
    let first = top_up("wire-1", 5_000).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["available_after_minor"], 5_000);
    let again = top_up("wire-1", 5_000).await;
    assert_eq!(
        again.body["id"], first.body["id"],
        "a repeated reference credits once"
    );
    let bad = top_up("", 0).await;
    assert_eq!(bad.status, 400);
    for field in ["amount_minor", "reference"] {
        assert!(
            bad.body["error"]["details"][field].is_string(),
            "{field}: {}",
            bad.body
        );
    }
    let nobody = uuid::Uuid::new_v4();
    for (method, path, body) in [
        (
            Method::POST,
            format!("/v1/admin/tenants/{nobody}/top-ups"),
            json!({"amount_minor": 1, "reference": "x"}),
        ),
        (
            Method::PUT,
            format!("/v1/admin/tenants/{nobody}/prices"),
            json!({"category": "marketing", "country": "BR", "unit_price_minor": 1}),
        ),
    ] {
        let missing = admin(method, path.clone(), Some(body)).await;
        assert_eq!(
            (missing.status, missing.body["error"]["code"].as_str()),
            (404, Some("tenant_not_found")),
            "{path}"
        );
    }
    let wallet = admin(
        Method::GET,
        format!("/v1/admin/tenants/{tenant_id}/wallet"),
        None,
    )
    .await;
    assert_eq!(
        (wallet.status, wallet.body["available_minor"].as_i64()),
        (200, Some(5_000))
    );

    // Prices: the default list, then the tenant's own template price.
    let set = admin(
        Method::PUT,
        "/v1/admin/prices".into(),
        Some(json!({"category": "marketing", "country": "BR", "unit_price_minor": 6})),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["scope"], "default");
    let invalid = admin(
        Method::PUT,
        "/v1/admin/prices".into(),
        Some(json!({"category": "promo", "country": "Brazil", "unit_price_minor": -1})),
    )
    .await;
    assert_eq!(invalid.status, 400);
    for field in ["category", "country", "unit_price_minor"] {
        assert!(
            invalid.body["error"]["details"][field].is_string(),
            "{field}: {}",
            invalid.body
        );
    }
    let own = admin(
        Method::PUT,
        format!("/v1/admin/tenants/{tenant_id}/prices"),
        Some(json!({"category": "marketing", "country": "*", "template_name": "spring_sale", "unit_price_minor": 10})),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["scope"], tenant_id);
    let listed = admin(Method::GET, "/v1/admin/prices".into(), None).await;
    assert!(
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["category"] == "marketing"
                && p["country"] == "BR"
                && p["unit_price_minor"] == 6),
        "{}",
        listed.body
    );
    let theirs = app
        .call_on(
            APP_HOST,
            Method::GET,
            "/v1/billing/prices",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(theirs.body["markup_bps"], 5000, "{}", theirs.body);

    // Two messages settle: 6 cents + 50% = 9 each, 3 of it the reseller's.
    let mut billing = client(&app);
    for template in ["", "spring_sale"] {
        let id = uuid::Uuid::now_v7().to_string();
        billing
            .reserve(as_caller(
                &app,
                &tenant,
                pb::ReserveRequest {
                    message_id: id.clone(),
                    message: marketing(template),
                },
            ))
            .await
            .unwrap();
        billing
            .settle(as_caller(
                &app,
                &tenant,
                pb::SettleRequest { message_id: id },
            ))
            .await
            .unwrap();
    }
    let earned = admin(
        Method::GET,
        format!("/v1/admin/resellers/{reseller_id}/wallet"),
        None,
    )
    .await;
    assert_eq!(earned.status, 200, "{}", earned.body);
    assert_eq!(
        (
            earned.body["earned_minor"].as_i64(),
            earned.body["currency"].as_str()
        ),
        (Some(3 + 5), Some("USD")),
        "half of 6, and half of the template's 10"
    );
    let unknown = admin(
        Method::GET,
        format!("/v1/admin/resellers/{nobody}/wallet"),
        None,
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (404, Some("reseller_not_found"))
    );
    let as_tenant = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            &format!("/v1/admin/tenants/{tenant_id}/wallet"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        as_tenant.status, 404,
        "the admin API is not there for tenants"
    );
}

#[tokio::test]
async fn a_tenant_naming_another_tenants_wallet_or_profile_is_refused() {
    let app = spawn_app().await;
    let ours = identity(&app, &app.new_admin().await).await;
    let theirs = identity(&app, &app.new_admin().await).await;
    let refused = client(&app)
        .get_wallet(as_caller(
            &app,
            &ours,
            pb::GetWalletRequest {
                tenant_id: theirs.tenant_id.to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let own = client(&app)
        .get_wallet(as_caller(
            &app,
            &ours,
            pb::GetWalletRequest {
                tenant_id: ours.tenant_id.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.tenant_id, ours.tenant_id.to_string());

    let addr = app
        .platform
        .grpc
        .iter()
        .find(|(n, _)| *n == aerostic_kit::config::ServiceName::Tenancy)
        .unwrap()
        .1;
    let mut tenancy = aerostic_proto::v1::tenancy_client::TenancyClient::new(
        aerostic_kit::grpc::channel(&format!("http://{addr}")).unwrap(),
    );
    let refused = tenancy
        .get_tenant(as_caller(
            &app,
            &ours,
            pb::GetTenantRequest {
                tenant_id: theirs.tenant_id.to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}
