//! Logging and request telemetry: the tracing subscriber (text or JSON), the per-request
//! trace id (`x-request-id` honoured, echoed as `x-trace-id`), one span per request, and the
//! Prometheus request metrics.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub const TRACE_ID_HEADER: HeaderName = HeaderName::from_static("x-trace-id");
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static TRACE_ID: String;
}

/// The trace id of the request being served, or a fresh one outside a request (jobs).
pub fn current_trace_id() -> String {
    TRACE_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| new_trace_id())
}

pub fn new_trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Runs `fut` with `trace_id` as the current trace id (for background work).
pub async fn with_trace_id<F: std::future::Future>(trace_id: String, fut: F) -> F::Output {
    TRACE_ID.scope(trace_id, fut).await
}

/// Installs the global subscriber once; later calls are no-ops (tests build many apps). Text
/// logs are coloured only on a terminal: written to a file or a pipe (a log collector),
/// escape codes would be noise in every line. `NO_COLOR` turns colour off on a terminal too.
pub fn init(format: LogFormat) {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
        let registry = tracing_subscriber::registry().with(filter);
        let result = match format {
            LogFormat::Json => registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(true),
                )
                .try_init(),
            LogFormat::Text => registry
                .with(tracing_subscriber::fmt::layer().with_ansi(colour_logs()))
                .try_init(),
        };
        // A subscriber set by a test harness is fine.
        let _ = result;
    });
}

/// Whether text logs are coloured: only when they go to a terminal (the fmt layer writes to
/// stdout) and `NO_COLOR` is unset or empty.
fn colour_logs() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .expect("bucket list is non-empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program); the
            // handle still renders what this recorder sees.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Outermost request middleware: trace id, request span, metrics, `x-trace-id` header.
pub async fn request_context(req: Request, next: Next) -> Response {
    let trace_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(new_trace_id);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        method = %method,
        route = %route,
        org = tracing::field::Empty,
        env = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = TRACE_ID
        .scope(trace_id.clone(), next.run(req).instrument(span.clone()))
        .await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.record("status", status);
    span.in_scope(|| {
        tracing::info!(latency_ms = elapsed.as_secs_f64() * 1000.0, "request served");
    });
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        response.headers_mut().insert(TRACE_ID_HEADER, value);
    }
    response
}
