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
