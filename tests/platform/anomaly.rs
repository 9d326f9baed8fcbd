//! Anomaly detection end to end: signals from the gateway through the
//! broker, windows in the cache, the forest and the detectors, mitigations
//! enforced back at the gateway, alerts and audit records for people.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::billing::{identity, root_identity, top_up};
use crate::common::meta::connect_number;
use crate::common::{ADMIN_HOST, APP_HOST, TestApp, unique_email};
use crate::outbound_send::{approved_template, send, waba_of};

/// Polls `check` every 100 ms for up to 20 s; the last value if never true.
async fn eventually<T>(mut check: impl AsyncFnMut() -> (bool, T)) -> T {
    let mut last = None;
    for _ in 0..200 {
        let (done, value) = check().await;
        if done {
            return value;
        }
        last = Some(value);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last.expect("checked at least once")
}

/// `count` GETs of `path` with `credential`, eight at a time; the statuses.
async fn burst(app: &TestApp, path: &str, credential: &str, count: usize) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(count);
    for _ in 0..count.div_ceil(8) {
        let calls =
            (0..8).map(|_| app.call_on(APP_HOST, Method::GET, path, Some(credential), None));
        statuses.extend(
            futures::future::join_all(calls)
                .await
                .into_iter()
                .map(|a| a.status),
        );
    }
    statuses
}

/// The workspace's wallet, read with `credential`.
async fn wallet(app: &TestApp, credential: &str) -> crate::common::Answer {
    app.call_on(
        APP_HOST,
        Method::GET,
        "/v1/billing/wallet",
        Some(credential),
        None,
    )
    .await
}

/// A platform admin's GET on the admin host; its body, once it is a 200.
async fn admin_get(app: &TestApp, root: &str, path: &str) -> Value {
    let answer = app
        .call_on(ADMIN_HOST, Method::GET, path, Some(root), None)
        .await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.body
}

async fn admin_alerts(app: &TestApp, root: &str) -> Vec<Value> {
    admin_get(app, root, "/v1/admin/alerts").await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn audit_actions(app: &TestApp, root: &str) -> Vec<String> {
    admin_get(app, root, "/v1/admin/audit/events").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn a_burst_of_failed_logins_locks_the_account_at_the_edge_and_is_audited(app: TestApp) {
    let email = unique_email();
    app.register(&email).await;
    let wrong = json!({"email": email, "password": "not the password at all"});
    for _ in 0..25 {
        let answer = app
            .call(Method::POST, "/v1/auth/login", None, Some(&wrong))
            .await;
        assert!(matches!(answer.status, 401 | 429), "{}", answer.body);
    }
    // Even the right password is refused at the edge once the lock is in force.
    let right = json!({"email": email, "password": "correct horse battery"});
    let locked = eventually(async || {
        let answer = app
            .call(Method::POST, "/v1/auth/login", None, Some(&right))
            .await;
        (answer.body["error"]["code"] == "login_locked", answer)
    })
    .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.retry_after.is_some());
    let root = app.super_admin().await;
    let alerts = admin_alerts(&app, &root).await;
    let lock = alerts
        .iter()
        .find(|a| a["detector"] == "login_burst")
        .unwrap_or_else(|| panic!("a login_burst alert in {alerts:?}"));
    assert_eq!(lock["subject_kind"], "account");
    assert_eq!(lock["mitigation"], "lock_login");
    // The account is named by its keyed hash, never its address.
    assert!(!lock.to_string().contains(&email));
    assert!(
        lock["detail"]
            .as_str()
            .unwrap()
            .contains("failed logins in a minute")
    );
    let actions = eventually(async || {
        let actions = audit_actions(&app, &root).await;
        (actions.iter().any(|a| a == "mitigation.applied"), actions)
    })
    .await;
    assert!(
        actions.iter().any(|a| a == "mitigation.applied"),
        "{actions:?}"
    );
}

async fn an_api_key_scraping_its_workspace_is_throttled_until_an_admin_lifts_it(app: TestApp) {
    let admin = app.new_admin().await;
    let key = app.api_key(&admin, &["billing:read"]).await;
    // Reads as fast as eight connections go: hundreds a minute.
    let statuses = burst(&app, "/v1/billing/wallet", &key, 480).await;
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 429)),
        "{statuses:?}"
    );
    let throttled = eventually(async || {
        let answer = wallet(&app, &key).await;
        (answer.body["error"]["code"] == "throttled", answer)
    })
    .await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert_eq!(throttled.body["error"]["details"]["limit_per_minute"], "60");

    // The workspace's admin sees the alert; another workspace's sees nothing.
    let alerts = app
        .call(Method::GET, "/v1/alerts", Some(&admin), None)
        .await;
    assert_eq!(alerts.status, 200, "{}", alerts.body);
    let alert = alerts.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["detector"] == "key_scraping")
        .cloned()
        .unwrap_or_else(|| panic!("a key_scraping alert in {}", alerts.body));
    assert_eq!(alert["subject_kind"], "api_key");
    assert_eq!(alert["mitigation"], "throttle");
    assert!(alert["score"].as_f64().unwrap() > 0.0);
    assert_eq!(alert["features"]["read_share_1m"], 1.0);
    let other = app.new_admin().await;
    let theirs = app
        .call(Method::GET, "/v1/alerts", Some(&other), None)
        .await;
    assert_eq!(theirs.body["data"], json!([]), "{}", theirs.body);
    // The workspace's admin cannot lift it; the platform admin can.
    let mitigation = alert["mitigation_id"].as_str().unwrap().to_string();
    let lift = format!("/v1/admin/mitigations/{mitigation}/lift");
    let refused = app
        .call_on(ADMIN_HOST, Method::POST, &lift, Some(&admin), None)
        .await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    let root = app.super_admin().await;
    let in_force = admin_get(&app, &root, "/v1/admin/mitigations").await;
    assert!(in_force.to_string().contains(&mitigation), "{in_force}");
    let lifted = app
        .call_on(ADMIN_HOST, Method::POST, &lift, Some(&root), None)
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert_eq!(lifted.body["kind"], "throttle");
    let again = app
        .call_on(ADMIN_HOST, Method::POST, &lift, Some(&root), None)
        .await;
    assert_eq!(
        again.body["error"]["code"], "mitigation_not_found",
        "{}",
        again.body
    );
    let through = eventually(async || {
        let answer = wallet(&app, &key).await;
        (answer.status == 200, answer)
    })
    .await;
    assert_eq!(through.status, 200, "{}", through.body);
    let actions = eventually(async || {
        let actions = audit_actions(&app, &root).await;
        (actions.iter().any(|a| a == "mitigation.lifted"), actions)
    })
    .await;
    assert!(
        actions.iter().any(|a| a == "mitigation.applied"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "mitigation.lifted"),
        "{actions:?}"
    );
}

async fn workspaces_spiking_together_raise_one_coordinated_alert(app: TestApp) {
    let root = app.super_admin().await;
    let mut admins = Vec::new();
    for _ in 0..3 {
        admins.push(app.new_admin().await);
    }
    for round in 0..2 {
        let spikes = admins
            .iter()
            .map(|admin| burst(&app, "/v1/billing/wallet", admin, 96));
        for statuses in futures::future::join_all(spikes).await {
            assert!(
                statuses.iter().all(|s| *s == 200),
                "round {round}: {statuses:?}"
            );
        }
        let waves = eventually(async || {
            let waves: Vec<Value> = admin_alerts(&app, &root)
                .await
                .into_iter()
                .filter(|a| a["detector"] == "coordinated_wave")
                .collect();
            (!waves.is_empty(), waves)
        })
        .await;
        // One alert for the wave, however many windows and rounds made it.
        assert_eq!(waves.len(), 1, "round {round}: {waves:?}");
        assert_eq!(waves[0]["subject_kind"], "platform");
        assert!(waves[0]["mitigation"].is_null());
        assert!(
            waves[0]["detail"]
                .as_str()
                .unwrap()
                .contains("workspaces spiking together")
        );
    }
    // A workspace's admin does not see the platform's alert.
    let own = app
        .call(Method::GET, "/v1/alerts", Some(&admins[0]), None)
        .await;
    assert!(
        !own.body.to_string().contains("coordinated_wave"),
        "{}",
        own.body
    );
}

async fn ordinary_traffic_raises_no_alert(app: TestApp) {
    let root = app.super_admin().await;
    let email = unique_email();
    app.register(&email).await;
    let admin = app.login(&email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let key = app.api_key(&admin, &["billing:read"]).await;
    for i in 0..30 {
        let credential = if i % 2 == 0 { &admin } else { &key };
        let answer = app
            .call_on(
                APP_HOST,
                Method::GET,
                "/v1/billing/wallet",
                Some(credential),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One wrong password, as people type.
    let wrong = json!({"email": email, "password": "correct horse batteyr"});
    assert_eq!(
        app.call(Method::POST, "/v1/auth/login", None, Some(&wrong))
            .await
            .status,
        401
    );
    // The windows were scored (the detector saw the traffic) ...
    let model = eventually(async || {
        let answer = app
            .call_on(
                ADMIN_HOST,
                Method::GET,
                "/v1/admin/anomaly/model",
                Some(&root),
                None,
            )
            .await;
        (
            answer.body["gathered_rows"].as_u64().unwrap_or(0) >= 30,
            answer,
        )
    })
    .await;
    assert!(
        model.body["gathered_rows"].as_u64().unwrap() >= 30,
        "{}",
        model.body
    );
    // ... and nothing in it was alarming.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(admin_alerts(&app, &root).await, Vec::<Value>::new());
    let mitigations = admin_get(&app, &root, "/v1/admin/mitigations").await;
    assert_eq!(mitigations["data"], json!([]), "{mitigations}");
}

async fn the_model_is_described_retrained_on_request_and_refuses_bad_parameters(app: TestApp) {
    let root = app.super_admin().await;
    let first = admin_get(&app, &root, "/v1/admin/anomaly/model").await;
    assert_eq!(first["source"], "bootstrap");
    assert_eq!(first["trees"], 100);
    assert_eq!(first["feature_names"].as_array().unwrap().len(), 16);
    let threshold = first["threshold"].as_f64().unwrap();
    assert!(threshold > 0.0 && threshold < 1.0);
    let trained = app
        .call_on(
            ADMIN_HOST,
            Method::POST,
            "/v1/admin/anomaly/train",
            Some(&root),
            Some(&json!({"trees": 50})),
        )
        .await;
    assert_eq!(trained.status, 200, "{}", trained.body);
    assert_eq!(trained.body["source"], "request");
    assert_eq!(trained.body["trees"], 50);
    assert!(trained.body["version"].as_str().unwrap() > first["version"].as_str().unwrap());
    for (body, field) in [
        (json!({"trees": 5000}), "trees"),
        (json!({"contamination": 0.9}), "contamination"),
        (json!({"tenant_id": "x"}), "tenant_id"),
    ] {
        let refused = app
            .call_on(
                ADMIN_HOST,
                Method::POST,
                "/v1/admin/anomaly/train",
                Some(&root),
                Some(&body),
            )
            .await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        assert!(
            refused.body.to_string().contains(field),
            "{body}: {}",
            refused.body
        );
    }
    // A workspace admin finds no such endpoint.
    let admin = app.new_admin().await;
    let hidden = app
        .call_on(
            ADMIN_HOST,
            Method::GET,
            "/v1/admin/anomaly/model",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(hidden.status, 404);
}

async fn a_workspaces_window_counts_its_sends_and_which_went_to_new_recipients(app: TestApp) {
    let root = app.super_admin().await;
    let admin = app.new_admin().await;
    let phone_id = connect_number(&app, &admin).await;
    let waba = waba_of(&app, &phone_id).await;
    approved_template(&app, &admin, &waba, "order_shipped", "MARKETING").await;
    let tenant = identity(&app, &admin).await;
    top_up(&app, &root_identity(&app).await, &tenant, 10_000, "wire-1").await;
    // Three numbers never written to, then the first again.
    for to in [
        "+5511955550001",
        "+5511955550002",
        "+5511955550003",
        "+5511955550001",
    ] {
        let body = json!({"to": to, "from_phone_number_id": phone_id, "type": "template",
            "template": {"name": "order_shipped", "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}});
        let (status, sent, _) = send(&app, &admin, &body, None).await;
        assert_eq!(status, 202, "{sent}");
    }
    let path = format!(
        "/v1/admin/anomaly/window?subject_kind=tenant&subject_id={}",
        tenant.tenant_id
    );
    let window = eventually(async || {
        let window = admin_get(&app, &root, &path).await;
        (window["counts"]["sends_10m"] == 4, window)
    })
    .await;
    assert_eq!(window["counts"]["sends_10m"], 4, "{window}");
    assert_eq!(window["counts"]["new_recipients_10m"], 3, "{window}");
    assert_eq!(window["counts"]["recipients_10m"], 3, "{window}");
    assert_eq!(window["counts"]["templates_10m"], 4, "{window}");
    assert_eq!(
        window["features"]["new_recipient_ratio_10m"], 0.75,
        "{window}"
    );
    assert_eq!(window["subject_kind"], "tenant");
    assert!(window["score"].as_f64().unwrap() > 0.0, "{window}");

    // Only the four kinds with windows, and an id to read.
    for bad in [
        "/v1/admin/anomaly/window?subject_kind=platform&subject_id=wave",
        "/v1/admin/anomaly/window?subject_kind=tenant",
    ] {
        let answer = app
            .call_on(ADMIN_HOST, Method::GET, bad, Some(&root), None)
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "validation_failed");
    }
}

crate::on_every_backend!(
    a_burst_of_failed_logins_locks_the_account_at_the_edge_and_is_audited,
    an_api_key_scraping_its_workspace_is_throttled_until_an_admin_lifts_it,
    workspaces_spiking_together_raise_one_coordinated_alert,
    ordinary_traffic_raises_no_alert,
    the_model_is_described_retrained_on_request_and_refuses_bad_parameters,
    a_workspaces_window_counts_its_sends_and_which_went_to_new_recipients,
);
