//! Calling billing over gRPC as the dispatcher and the admin API do: with a
//! caller identity sealed the way the gateway seals it.

use aerostic_kit::config::ServiceName;
use aerostic_kit::identity::{Identity, Role};
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::billing_client::BillingClient;

use reqwest::Method;

use super::{ADMIN_HOST, TestApp};

pub type Client = BillingClient<aerostic_kit::grpc::TracedChannel>;

pub fn client(app: &TestApp) -> Client {
    let addr = app
        .platform
        .grpc
        .iter()
        .find(|(n, _)| *n == ServiceName::Billing)
        .unwrap()
        .1;
    BillingClient::new(aerostic_kit::grpc::channel(&format!("http://{addr}")).unwrap())
}

/// The identity behind an access token, as the gateway would seal it.
pub async fn identity(app: &TestApp, token: &str) -> Identity {
    identity_on(app, super::APP_HOST, token).await
}

pub async fn identity_on(app: &TestApp, host: &str, token: &str) -> Identity {
    let me = app
        .call_on(host, Method::GET, "/v1/me", Some(token), None)
        .await
        .body;
    Identity {
        tenant_id: me["tenant_id"].as_str().unwrap().parse().unwrap(),
        user_id: me["user_id"].as_str().map(|u| u.parse().unwrap()),
        role: Role::parse(me["role"].as_str().unwrap()).unwrap(),
        api_key_id: None,
        scopes: vec![],
    }
}

pub fn as_caller<T>(app: &TestApp, who: &Identity, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    app.secrets.identity_seal().attach(&mut request, who);
    request
}

pub fn usd(amount_minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "USD".into(),
        amount_minor,
    })
}

pub fn marketing(template: &str) -> Option<pb::PricedMessage> {
    Some(pb::PricedMessage {
        category: "marketing".into(),
        country: "BR".into(),
        template_name: template.into(),
        ..Default::default()
    })
}

pub async fn top_up(
    app: &TestApp,
    root: &Identity,
    tenant: &Identity,
    amount: i64,
    reference: &str,
) -> pb::LedgerEntry {
    client(app)
        .top_up(as_caller(
            app,
            root,
            pb::TopUpRequest {
                tenant_id: tenant.tenant_id.to_string(),
                amount: usd(amount),
                reference: reference.into(),
                note: "wire transfer".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// The caller's own wallet: (available, held) in minor units.
pub async fn balances(app: &TestApp, who: &Identity) -> (i64, i64) {
    let wallet = client(app)
        .get_wallet(as_caller(app, who, pb::GetWalletRequest::default()))
        .await
        .unwrap()
        .into_inner();
    (
        wallet.available.unwrap().amount_minor,
        wallet.held.unwrap().amount_minor,
    )
}

pub async fn root_identity(app: &TestApp) -> Identity {
    let token = app.super_admin().await;
    identity_on(app, ADMIN_HOST, &token).await
}
