//! The access matrix, walked over every endpoint the OpenAPI document names
//! (so a new endpoint joins it, or this test fails until its policy is
//! written down): each kind of caller against each endpoint, and another
//! tenant's ids against every endpoint that takes one, changing nothing.

use crate::common;

use std::collections::BTreeMap;

use common::{ADMIN_HOST, APP_HOST, TestApp, spawn_app, unique_email};
use reqwest::Method;
use serde_json::{Value, json};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Policy {
    /// No credential needed.
    Public,
    /// Any user of the workspace or any API key.
    AnyCaller,
    /// Any signed-in user, not an API key.
    SignedInUser,
    /// Workspace admins only.
    WorkspaceAdmin,
    /// Workspace admins, and API keys with the scope it needs.
    AdminOrScopedKey,
    /// Super admins, on the admin host only; hidden from everyone else.
    PlatformAdmin,
    /// Meta only: a body signed with the app secret, whoever else calls.
    SignedByMeta,
}

fn policy(operation_id: &str) -> Option<Policy> {
    use Policy::*;
    Some(match operation_id {
        "health_healthz"
        | "health_readyz"
        | "auth_register"
        | "auth_login"
        | "auth_refresh"
        | "auth_logout"
        | "team_accept"
        | "workspace_forgot_password"
        | "workspace_reset_password"
        | "workspace_branding"
        | "whatsapp_callback"
        // Meta's verification, checked by its verify token (403 otherwise).
        | "webhooks_verify" => Public,
        "webhooks_receive" => SignedByMeta,
        "auth_me" | "workspace_tenant" | "whatsapp_me" => AnyCaller,
        // Everyone who answers conversations; keys need messages:read or
        // contacts:read (the matrix's key holds every scope).
        "inbox_conversations" | "inbox_conversation" | "inbox_messages" | "inbox_contacts"
        | "inbox_contact"
        | "inbox_media" => AnyCaller,
        // Everyone who answers conversations; keys need messages:send,
        // messages:read, templates:read or templates:write.
        "messages_send" | "messages_batch" | "messages_get" | "messages_read" | "templates_list"
        | "templates_sync" => AnyCaller,
        "dead_letters_list" | "dead_letters_replay" | "dead_letters_discard" | "media_upload" => {
            AnyCaller
        }
        "templates_create" | "templates_delete" => AdminOrScopedKey,
        // People who answer conversations; API keys have no scope for it.
        "inbox_keywords" => SignedInUser,
        "workspace_change_password" => SignedInUser,
        "billing_wallet" | "billing_ledger" | "billing_prices" | "billing_usage" => {
            AdminOrScopedKey
        }
        "api_keys_list"
        | "api_keys_create"
        | "api_keys_revoke"
        | "team_invite"
        | "team_list"
        | "team_change_role"
        | "team_deactivate"
        | "workspace_audit_events"
        | "alerts_list"
        | "whatsapp_start"
        | "whatsapp_finish"
        | "whatsapp_cloud_init"
        | "billing_set_alert"
        | "inbox_set_keywords" => WorkspaceAdmin,
        id if id.starts_with("admin_") => PlatformAdmin,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Nobody,
    Agent,
    Key,
    Admin,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    /// Past every permission check (the answer may still be a 400 or a 404
    /// of the resource).
    Allowed,
    Unauthenticated,
    Forbidden,
    /// `route_not_found`: as if the endpoint did not exist.
    Hidden,
}

fn expected(policy: Policy, who: Who) -> Outcome {
    use Outcome::*;
    match (policy, who) {
        (Policy::Public, _) => Allowed,
        (Policy::PlatformAdmin, _) => Hidden,
        // No caller's credential replaces Meta's signature.
        (Policy::SignedByMeta, _) => Unauthenticated,
        (_, Who::Nobody) => Unauthenticated,
        (Policy::AnyCaller, _) | (_, Who::Admin) => Allowed,
        (Policy::SignedInUser, Who::Agent) => Allowed,
        (Policy::AdminOrScopedKey, Who::Key) => Allowed,
        _ => Forbidden,
    }
}

fn outcome(status: u16, body: &Value) -> Outcome {
    match (status, body["error"]["code"].as_str()) {
        (401, _) => Outcome::Unauthenticated,
        (403, Some("forbidden")) => Outcome::Forbidden,
        (404, Some("route_not_found")) => Outcome::Hidden,
        _ => Outcome::Allowed,
    }
}

/// (method, path template, operation id, takes a body) of every operation.
async fn operations(app: &TestApp) -> Vec<(Method, String, String, bool)> {
    let doc = app
        .call_on(APP_HOST, Method::GET, "/v1/openapi.json", None, None)
        .await
        .body;
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path.clone(),
                op["operationId"].as_str().unwrap().to_string(),
                op.get("requestBody").is_some(),
            ));
        }
    }
    out
}

fn host_of(path: &str) -> &'static str {
    if path.starts_with("/v1/admin/") {
        ADMIN_HOST
    } else {
        APP_HOST
    }
}

#[tokio::test]
async fn each_role_reaches_exactly_what_its_policy_allows_on_every_endpoint() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let (_, agent) = app.member(&admin, "agent").await;
    let agent = agent["access_token"].as_str().unwrap().to_string();
    let all_scopes = aerostic_kit::identity::SCOPES;
    let key = app.api_key(&admin, all_scopes).await;
    let root = app.super_admin().await;

    let ops = operations(&app).await;
    let unplanned: Vec<&str> = ops
        .iter()
        .filter(|(_, _, id, _)| policy(id).is_none())
        .map(|(_, _, id, _)| id.as_str())
        .collect();
    assert!(unplanned.is_empty(), "no access policy for {unplanned:?}");

    for (method, path, id, has_body) in &ops {
        let policy = policy(id).unwrap();
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let body = has_body.then(|| json!({}));
        let callers = [
            (Who::Nobody, None),
            (Who::Agent, Some(agent.as_str())),
            (Who::Key, Some(key.as_str())),
            (Who::Admin, Some(admin.as_str())),
        ];
        for (who, credential) in callers {
            let hosts: &[&str] = if path.starts_with("/v1/admin/") {
                &[ADMIN_HOST, APP_HOST]
            } else {
                &[APP_HOST]
            };
            for &host in hosts {
                let answer = app
                    .call_on(host, method.clone(), &concrete, credential, body.as_ref())
                    .await;
                assert_eq!(
                    outcome(answer.status, &answer.body),
                    expected(policy, who),
                    "{method} {path} on {host} as {who:?}: {} {}",
                    answer.status,
                    answer.body
                );
            }
        }
        // The super admin: the admin API on the admin host only; the admin
        // host serves nothing of the workspace API.
        let on_admin_host = app
            .call_on(
                ADMIN_HOST,
                method.clone(),
                &concrete,
                Some(&root),
                body.as_ref(),
            )
            .await;
        let admin_host_serves = policy == Policy::PlatformAdmin
            || ["/healthz", "/readyz", "/v1/auth/login", "/v1/auth/refresh"]
                .contains(&path.as_str())
            || ["/v1/auth/logout", "/v1/me", "/v1/branding"].contains(&path.as_str());
        let want = if admin_host_serves {
            Outcome::Allowed
        } else {
            Outcome::Hidden
        };
        assert_eq!(
            outcome(on_admin_host.status, &on_admin_host.body),
            want,
            "{method} {path} on the admin host as super admin: {}",
            on_admin_host.body
        );
        if policy == Policy::PlatformAdmin {
            let elsewhere = app
                .call_on(
                    APP_HOST,
                    method.clone(),
                    &concrete,
                    Some(&root),
                    body.as_ref(),
                )
                .await;
            assert_eq!(outcome(elsewhere.status, &elsewhere.body), Outcome::Hidden);
        }
    }
}

/// Tenant B's state as its admin sees it.
async fn snapshot(app: &TestApp, admin: &str) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    for path in [
        "/v1/tenant",
        "/v1/team/users",
        "/v1/billing/api-keys",
        "/v1/audit/events",
        "/v1/whatsapp/me",
        "/v1/billing/wallet",
        "/v1/billing/ledger",
    ] {
        let answer = app
            .call_on(APP_HOST, Method::GET, path, Some(admin), None)
            .await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        out.insert(path, answer.body);
    }
    out
}

#[tokio::test]
async fn another_tenants_ids_answer_404_everywhere_and_change_nothing() {
    let app = spawn_app().await;
    // Tenant A: the attacker, with every kind of credential.
    let a_admin = app.new_admin().await;
    let (_, a_agent) = app.member(&a_admin, "agent").await;
    let a_agent = a_agent["access_token"].as_str().unwrap().to_string();
    let a_key = app.api_key(&a_admin, aerostic_kit::identity::SCOPES).await;
    // Tenant B: the victim, with a user, a key and a reseller beside it.
    let b_email = unique_email();
    let b_tenant = app.register(&b_email).await["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b_admin = app.login(&b_email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (b_user, _) = app.member(&b_admin, "agent").await;
    let b_user = b_user["id"].as_str().unwrap().to_string();
    let b_key_secret = app.api_key(&b_admin, &["messages:read"]).await;
    let b_key = app
        .call_on(APP_HOST, Method::GET, "/v1/me", Some(&b_key_secret), None)
        .await
        .body["api_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let root = app.super_admin().await;
    let before = snapshot(&app, &b_admin).await;
    let b_ids = [b_tenant.as_str(), b_user.as_str(), b_key.as_str(), &b_email];

    let ops = operations(&app).await;
    let with_id: Vec<_> = ops
        .iter()
        .filter(|(_, p, _, _)| p.contains("{id}"))
        .collect();
    assert!(with_id.len() >= 7, "{with_id:?}");
    for (method, path, id, has_body) in &ops {
        // A body that is valid, so only ownership can refuse it.
        let body = match id.as_str() {
            "team_change_role" => Some(json!({"role": "workspace_admin"})),
            "admin_change_plan" => Some(json!({"plan_code": "growth"})),
            "admin_suspend" => Some(json!({"reason": "taking over"})),
            "messages_read" => Some(json!({"typing_indicator": true})),
            "admin_add_domain" => Some(json!({"domain": "stolen.example.org"})),
            "admin_top_up" => Some(json!({"amount_minor": 100, "reference": "taken"})),
            "admin_set_price" | "admin_set_tenant_price" => {
                Some(json!({"category": "marketing", "country": "BR", "unit_price_minor": 0}))
            }
            _ => None,
        };
        if path.contains("{id}") {
            let target = if path.starts_with("/v1/billing/api-keys") {
                &b_key
            } else if path.starts_with("/v1/team/users") {
                &b_user
            } else {
                &b_tenant
            };
            let concrete = path.replace("{id}", target);
            for (who, credential) in [("admin", &a_admin), ("agent", &a_agent), ("key", &a_key)] {
                for host in [APP_HOST, ADMIN_HOST] {
                    let answer = app
                        .call_on(
                            host,
                            method.clone(),
                            &concrete,
                            Some(credential),
                            body.as_ref(),
                        )
                        .await;
                    let allowed: &[u16] = if who == "admin" { &[404] } else { &[403, 404] };
                    assert!(
                        allowed.contains(&answer.status),
                        "{method} {path} with B's id, as A's {who} on {host}: {} {}",
                        answer.status,
                        answer.body
                    );
                }
            }
        } else if *method == Method::GET && policy(id) != Some(Policy::Public) {
            // Lists and reads show A's data only.
            let answer = app
                .call_on(host_of(path), Method::GET, path, Some(&a_admin), None)
                .await;
            let text = answer.body.to_string();
            for b in b_ids {
                assert!(!text.contains(b), "{path} shows tenant B's {b}");
            }
        }
        // No body names the tenant: a tenant id in it is an unknown field.
        // (Meta's webhooks are routed by the number they name, once signed;
        // an uploaded file is bytes, not JSON, and names nothing.)
        if *has_body && id != "webhooks_receive" && id != "media_upload" {
            let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            let caller = if host_of(path) == ADMIN_HOST {
                &root
            } else {
                &a_admin
            };
            let answer = app
                .call_on(
                    host_of(path),
                    method.clone(),
                    &concrete,
                    Some(caller),
                    Some(&json!({"tenant_id": b_tenant})),
                )
                .await;
            assert_eq!(answer.status, 400, "{method} {path}: {}", answer.body);
            assert!(
                answer.body["error"]["details"].get("tenant_id").is_some(),
                "{method} {path}: {}",
                answer.body
            );
        }
    }

    assert_eq!(
        snapshot(&app, &b_admin).await,
        before,
        "tenant B is untouched"
    );
    let still = app
        .call_on(APP_HOST, Method::GET, "/v1/me", Some(&b_key_secret), None)
        .await;
    assert_eq!(still.status, 200, "B's key still works");
}
