//! The low-balance alert: set over REST, published once when the balance
//! falls below the threshold, and again only after a top-up re-armed it.

use crate::common;

use aerostic_billing::alert::{LowBalance, TOPIC};
use aerostic_proto::v1 as pb;
use common::billing::{as_caller, client, identity, marketing, root_identity, top_up};
use common::{APP_HOST, spawn_app};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_draining_wallet_alerts_once_per_crossing_of_its_threshold() {
    let app = spawn_app().await;
    let (mut alerts, _subscription) = common::events::listen::<LowBalance>(&app, TOPIC).await;
    let root = root_identity(&app).await;
    let token = app.new_admin().await;
    let admin = identity(&app, &token).await;
    let mut billing = client(&app);

    for (body, field) in [
        (json!({}), "threshold_minor"),
        (json!({"threshold_minor": -1}), "threshold_minor"),
    ] {
        let refused = app
            .call_on(
                APP_HOST,
                Method::PUT,
                "/v1/billing/wallet/alert",
                Some(&token),
                Some(&body),
            )
            .await;
        assert_eq!(refused.status, 400, "{body}");
        assert!(
            refused.body["error"]["details"][field].is_string(),
            "{:?}",
            refused.body
        );
    }
    let set = app
        .call_on(
            APP_HOST,
            Method::PUT,
            "/v1/billing/wallet/alert",
            Some(&token),
            Some(&json!({"threshold_minor": 50})),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["low_balance_alert_minor"], 50);

    // 3-cent marketing messages, one at a time, so each is its own batch.
    let spend = |n: usize| {
        let requests: Vec<_> = (0..n)
            .map(|_| {
                as_caller(
                    &app,
                    &admin,
                    pb::ReserveRequest {
                        message_id: uuid::Uuid::now_v7().to_string(),
                        message: marketing(""),
                    },
                )
            })
            .collect();
        let mut billing = billing.clone();
        async move {
            for request in requests {
                billing.reserve(request).await.unwrap();
            }
        }
    };
    top_up(&app, &root, &admin, 100, "pay_1").await;
    spend(17).await; // 100 - 51 = 49: below 50.
    spend(5).await; // 34: still below, already announced.
    top_up(&app, &root, &admin, 100, "pay_2").await; // 134: re-armed.
    spend(29).await; // 134 - 87 = 47: below again.

    // A guard against a hang, not a figure: the events come within a second.
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(60), alerts.recv())
            .await
            .expect("a low-balance event")
            .unwrap()
    };
    let first = next().await;
    let second = next().await;
    let me = admin.tenant_id.to_string();
    assert_eq!(
        (
            first.tenant_id.as_str(),
            first.available_minor,
            first.threshold_minor
        ),
        (me.as_str(), 49, 50),
        "announced by the message that crossed"
    );
    assert_eq!(
        second.available_minor, 47,
        "nothing while it stayed below; once more after the top-up re-armed it"
    );
    assert_eq!(first.currency, "USD");

    let wallet = billing
        .get_wallet(as_caller(&app, &admin, pb::GetWalletRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(wallet.low_balance_alert.unwrap().amount_minor, 50);
    let removed = app
        .call_on(
            APP_HOST,
            Method::PUT,
            "/v1/billing/wallet/alert",
            Some(&token),
            Some(&json!({"threshold_minor": 0})),
        )
        .await;
    assert_eq!(
        removed.body["low_balance_alert_minor"],
        serde_json::Value::Null
    );
}
