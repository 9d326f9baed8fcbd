//! Liveness and readiness.

use std::collections::BTreeMap;

use aerostic_kit::config::ServiceName;
use aerostic_kit::grpc::check_health;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// `GET /healthz` answer.
#[derive(Serialize, ToSchema)]
pub struct AliveView {
    /// Always `ok`.
    pub status: String,
}

/// One dependency's check.
#[derive(Serialize, ToSchema)]
pub struct CheckView {
    /// Whether it answered.
    pub ok: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /readyz` answer.
#[derive(Serialize, ToSchema)]
pub struct ReadyView {
    /// `ready` or `not_ready`.
    pub status: String,
    /// The dependencies that did not answer.
    pub failed: Vec<String>,
    /// Every dependency: `database`, `broker`, `cache` and each gRPC service.
    pub checks: BTreeMap<String, CheckView>,
}

/// Alive: the process answers.
#[utoipa::path(get, operation_id = "health_healthz", path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = AliveView)))]
pub async fn healthz() -> Json<AliveView> {
    Json(AliveView {
        status: "ok".into(),
    })
}

/// Ready: the database, broker, cache and every gRPC upstream answer. A 503
/// names each that did not, and why.
#[utoipa::path(get, operation_id = "health_readyz", path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Every dependency answers", body = ReadyView),
        (status = 503, description = "Some did not; `failed` names them", body = ReadyView),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<ReadyView>) {
    let upstream_checks = ServiceName::ALL.map(|name| {
        let url = state.upstreams.url(name).to_string();
        async move { (name.as_str(), check_health(&url).await) }
    });
    let (backends, upstreams) = tokio::join!(
        state.connections.check(),
        futures::future::join_all(upstream_checks)
    );
    let mut checks = BTreeMap::new();
    for name in ["database", "broker", "cache"] {
        let failure = backends
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e.clone());
        checks.insert(name.to_string(), check(failure));
    }
    for (name, result) in upstreams {
        checks.insert(name.to_string(), check(result.err()));
    }
    let failed: Vec<String> = checks
        .iter()
        .filter(|(_, c)| !c.ok)
        .map(|(k, _)| k.clone())
        .collect();
    let status = if failed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let view = ReadyView {
        status: if failed.is_empty() {
            "ready"
        } else {
            "not_ready"
        }
        .into(),
        failed,
        checks,
    };
    (status, Json(view))
}

fn check(failure: Option<String>) -> CheckView {
    CheckView {
        ok: failure.is_none(),
        error: failure,
    }
}
