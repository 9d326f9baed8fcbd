//! Logs, metrics and the trace id.
//!
//! Logs go through [`MaskingWriter`], so whatever a log line holds (a field, a
//! message, a `Debug` of a request) is masked by [`crate::mask`] before it is
//! written. Metrics are recorded with the `metrics` facade and exported in
//! Prometheus format. The trace id lives in a task-local; gRPC metadata
//! (`x-trace-id`) and broker headers (`trace-id`) carry it between processes.

use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// gRPC metadata / HTTP header that carries the trace id.
pub const TRACE_HEADER: &str = "x-trace-id";

tokio::task_local! {
    static TRACE_ID: String;
}

/// The trace id of the current task, if one is set.
pub fn current_trace_id() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok()
}

/// A fresh trace id.
pub fn new_trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Runs `fut` with `trace` as the current trace id (a fresh one if `None`).
pub async fn with_trace_id<F: Future>(trace: Option<String>, fut: F) -> F::Output {
    let trace = trace
        .filter(|t| valid_trace_id(t))
        .unwrap_or_else(new_trace_id);
    TRACE_ID.scope(trace, fut).await
}

/// Accepts only short token-like ids, so a header cannot inject log text.
pub fn valid_trace_id(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (development).
    Pretty,
    /// One JSON object per line (production).
    Json,
}

/// A writer that masks PII in every formatted log line before writing it.
#[derive(Clone, Copy, Default)]
pub struct MaskingWriter;

/// The per-event writer of [`MaskingWriter`]: buffers one event, masks, writes.
pub struct MaskingLine(Vec<u8>);

impl Write for MaskingLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `AEROSTIC_LOG_FILE`, when set: logs are appended there instead of
/// stderr (the test command collects a whole run's logs and scans them).
fn log_file() -> Option<&'static std::sync::Mutex<std::fs::File>> {
    static FILE: OnceLock<Option<std::sync::Mutex<std::fs::File>>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::var_os("AEROSTIC_LOG_FILE")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(std::sync::Mutex::new)
    })
    .as_ref()
}

impl Drop for MaskingLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let masked = crate::mask::mask(&text);
        match log_file() {
            Some(file) => {
                if let Ok(mut f) = file.lock() {
                    let _ = f.write_all(masked.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().lock().write_all(masked.as_bytes());
            }
        }
    }
}

impl<'a> MakeWriter<'a> for MaskingWriter {
    type Writer = MaskingLine;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingLine(Vec::with_capacity(256))
    }
}

/// Installs the global log subscriber (once; later calls are no-ops).
/// `RUST_LOG` overrides the default filter.
pub fn init_logging(format: LogFormat) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new("info,sqlx=warn,sea_orm=warn,lapin=warn,h2=warn,tower=warn")
        });
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(MaskingWriter);
        let _ = match format {
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
            LogFormat::Pretty => builder.compact().try_init(),
        };
    });
}

/// Bucket bounds (seconds) of every `*_seconds` metric. Durations are
/// exported as histograms, not summaries: buckets add up across replicas and
/// over any range of time (a rate of each bucket), where a summary's
/// quantiles are one process's and over a fixed decaying window.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// The process's Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("buckets are given")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be global (tests in one binary); keep ours usable anyway.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// An axum router serving `GET /metrics`.
pub fn metrics_router() -> axum::Router {
    let handle = metrics_handle();
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    )
}
