//! Operations endpoints: `/healthz` (process up), `/readyz` (database reachable and migrated),
//! `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::services::ops;
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    summary = "The process is up",
    responses((status = 200, description = "The process is up", body = crate::http::openapi::Envelope)),
)]
pub async fn healthz() -> Envelope<serde_json::Value> {
    Envelope::ok(
        "up",
        json!({"status": "up", "version": env!("CARGO_PKG_VERSION")}),
    )
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    summary = "The database is reachable and migrated",
    responses((status = 200, description = "The database is reachable and migrated", body = crate::http::openapi::EnvelopeOf<serde_json::Value>)),
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Envelope<serde_json::Value>, ApiError> {
    Ok(Envelope::ok("ready", ops::readiness(&state).await?))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        ops::metrics_text(&state),
    )
        .into_response()
}
