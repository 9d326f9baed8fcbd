//! Liveness and readiness.

use aerostic_kit::config::ServiceName;
use aerostic_kit::grpc::check_health;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::AppState;

/// Alive: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready: the database, broker, cache and every gRPC upstream answer. A 503
/// names each that did not, and why.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let upstream_checks = ServiceName::ALL.map(|name| {
        let url = state.upstreams.url(name).to_string();
        async move { (name.as_str(), check_health(&url).await) }
    });
    let (backends, upstreams) = tokio::join!(
        state.connections.check(),
        futures::future::join_all(upstream_checks)
    );
    let mut checks = Map::new();
    for name in ["database", "broker", "cache"] {
        let failure = backends
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e.clone());
        checks.insert(name.into(), check_json(failure));
    }
    for (name, result) in upstreams {
        checks.insert(name.into(), check_json(result.err()));
    }
    let failed: Vec<String> = checks
        .iter()
        .filter(|(_, v)| v["ok"] == Value::Bool(false))
        .map(|(k, _)| k.clone())
        .collect();
    let status = if failed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if failed.is_empty() { "ready" } else { "not_ready" },
        "failed": failed,
        "checks": checks,
    });
    (status, Json(body))
}

fn check_json(failure: Option<String>) -> Value {
    match failure {
        None => json!({ "ok": true }),
        Some(error) => json!({ "ok": false, "error": error }),
    }
}
