//! What the sandbox's tests share: a sandbox on a random port, and a webhook
//! receiver that passes verification and records every payload.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use aerostic_sandbox::{Sandbox, Seed};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::Value;

/// Starts a sandbox (shaped by `configure`) and returns its base URL and seed.
pub async fn spawn_sandbox_with(
    control: &str,
    configure: impl FnOnce(Sandbox) -> Sandbox,
) -> (String, Seed) {
    let seed = Seed::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = configure(Sandbox::new(seed.clone(), control));
    tokio::spawn(aerostic_sandbox::run(
        sandbox,
        listener,
        std::future::pending(),
    ));
    (base, seed)
}

/// A receiver that echoes any challenge and keeps every JSON payload.
#[derive(Clone, Default)]
pub struct Hook(pub Arc<Mutex<Vec<Value>>>);

async fn hook_get(Query(q): Query<std::collections::HashMap<String, String>>) -> String {
    q.get("hub.challenge").cloned().unwrap_or_default()
}

async fn hook_post(State(hook): State<Hook>, body: Bytes) {
    hook.0
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
}

impl Hook {
    /// Starts the receiver; returns its callback URL.
    pub async fn spawn(&self) -> String {
        let app = axum::Router::new()
            .route("/h", get(hook_get).post(hook_post))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/h", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// What arrived so far.
    pub fn payloads(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

/// Sets the app's own callback (as the App Dashboard would) with the app
/// token, for `fields` (comma-separated); returns the Graph status.
pub async fn subscribe_app(base: &str, seed: &Seed, callback: &str, fields: &str) -> u16 {
    let resp = reqwest::Client::new()
        .post(format!("{base}/v21.0/{}/subscriptions", seed.app_id))
        .bearer_auth(format!("{}|{}", seed.app_id, seed.app_secret))
        .json(
            &serde_json::json!({"object": "whatsapp_business_account", "callback_url": callback,
                                  "verify_token": "app-vt", "fields": fields}),
        )
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

/// A sandbox with an HTTP client and the calls every test makes.
pub struct Meta {
    /// The sandbox's base URL.
    pub base: String,
    /// Its seed (ids and tokens).
    pub seed: Seed,
    /// A keep-alive client.
    pub http: reqwest::Client,
    control: String,
}

impl Meta {
    /// Starts a sandbox shaped by `configure`, with control token `control`.
    pub async fn spawn(control: &str, configure: impl FnOnce(Sandbox) -> Sandbox) -> Meta {
        let (base, seed) = spawn_sandbox_with(control, configure).await;
        Meta {
            base,
            seed,
            http: reqwest::Client::new(),
            control: control.to_string(),
        }
    }

    /// A Graph POST with the seeded access token; (status, JSON body).
    pub async fn graph_post(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.http.post(format!("{}/v21.0/{path}", self.base));
        answer(req.bearer_auth(&self.seed.access_token).json(&body)).await
    }

    /// A Graph GET with the seeded access token; the JSON body.
    pub async fn graph_get(&self, path: &str) -> Value {
        let req = self.http.get(format!("{}/v21.0/{path}", self.base));
        answer(req.bearer_auth(&self.seed.access_token)).await.1
    }

    /// A control API POST (`/_sandbox/{path}`); (status, JSON body).
    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.http.post(format!("{}/_sandbox/{path}", self.base));
        answer(req.bearer_auth(&self.control).json(&body)).await
    }

    /// A control API GET; the JSON body.
    pub async fn control_get(&self, path: &str) -> Value {
        let req = self.http.get(format!("{}/_sandbox/{path}", self.base));
        answer(req.bearer_auth(&self.control)).await.1
    }

    /// Subscribes the app to the seeded WABA with `callback` as its override.
    pub async fn subscribe_override(&self, callback: &str) {
        let path = format!("{}/subscribed_apps", self.seed.waba_id);
        let body = serde_json::json!({"override_callback_uri": callback, "verify_token": "vt"});
        assert_eq!(self.graph_post(&path, body).await.0, 200);
    }

    /// Customer `from` writes `text` to `number`.
    pub async fn customer_writes(&self, number: &str, from: &str, text: &str) {
        let body = serde_json::json!({"from": from, "text": text});
        let (status, body) = self
            .control(&format!("numbers/{number}/inbound"), body)
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// Waits until no delivery is pending; returns how many attempts were made.
    pub async fn settled_attempts(&self) -> usize {
        for _ in 0..300 {
            let body = self.control_get("deliveries").await;
            if body["pending"] == 0 {
                return body["data"].as_array().map_or(0, Vec::len);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("deliveries never settled");
    }
}

async fn answer(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
