//! Every request gets a trace id (the caller's `x-trace-id` if well-formed),
//! carried into gRPC calls and echoed in the response; and a metric.

use std::time::Instant;

use aerostic_kit::telemetry::{TRACE_HEADER, current_trace_id, with_trace_id};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// The trace middleware.
pub async fn trace(req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    with_trace_id(incoming, async move {
        let mut response = next.run(req).await;
        if let Some(id) = current_trace_id()
            && let Ok(value) = id.parse()
        {
            response.headers_mut().insert(TRACE_HEADER, value);
        }
        let status = response.status().as_u16().to_string();
        metrics::counter!("aerostic_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
            .increment(1);
        metrics::histogram!("aerostic_http_request_seconds", "route" => route).record(started.elapsed().as_secs_f64());
        response
    })
    .await
}
