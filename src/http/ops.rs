//! Operations endpoints: `/healthz` (process up), `/readyz` (database reachable and migrated),
//! `/metrics` (Prometheus text).

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::services::ops::{self, Readiness};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// `/healthz`: the process answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `up`.
    #[schema(example = "up")]
    status: &'static str,
    /// The service's version.
    version: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    summary = "The process is up",
    responses((status = 200, description = "The process is up", body = crate::http::openapi::EnvelopeOf<Health>)),
)]
pub async fn healthz() -> Envelope<Health> {
    Envelope::ok(
        "up",
        Health {
            status: "up",
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    summary = "The database is reachable and migrated",
    responses((status = 200, description = "The database is reachable and migrated", body = crate::http::openapi::EnvelopeOf<Readiness>)),
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Envelope<Readiness>, ApiError> {
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
