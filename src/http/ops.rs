//! Operations endpoints: `/healthz` (process up), `/readyz` (database reachable and migrated),
//! `/metrics` (Prometheus text).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::http::envelope::Envelope;
use crate::state::AppState;

pub async fn healthz() -> Envelope<serde_json::Value> {
    Envelope::ok(
        "up",
        json!({"status": "up", "version": env!("CARGO_PKG_VERSION")}),
    )
}

pub async fn readyz(State(state): State<AppState>) -> Result<Envelope<serde_json::Value>, ApiError> {
    let expected = crate::db::MIGRATOR.iter().count() as i64;
    let check = tokio::time::timeout(Duration::from_secs(3), crate::db::applied_migrations(&state.db)).await;
    let applied = match check {
        Ok(Ok(n)) => n,
        Ok(Err(e)) if crate::error::is_unavailable(&e) => return Err(ApiError::DatabaseUnavailable(e)),
        Ok(Err(e)) => {
            // The migrations table missing means "not migrated yet": still not ready.
            tracing::warn!(error = %e, "readiness query failed");
            return Err(not_ready("database is reachable but not migrated"));
        }
        Err(_) => return Err(ApiError::DatabaseUnavailable(sqlx::Error::PoolTimedOut)),
    };
    if applied < expected {
        return Err(not_ready(&format!("{applied} of {expected} migrations applied")));
    }
    Ok(Envelope::ok(
        "ready",
        json!({"status": "ready", "database": "up", "migrations": applied}),
    ))
}

fn not_ready(message: &str) -> ApiError {
    ApiError::DatabaseUnavailable(sqlx::Error::Configuration(message.to_string().into()))
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let pool = &state.db;
    metrics::gauge!("db_pool_connections", "state" => "idle").set(pool.num_idle() as f64);
    metrics::gauge!("db_pool_connections", "state" => "active")
        .set(pool.size().saturating_sub(pool.num_idle() as u32) as f64);
    metrics::gauge!("db_pool_max_connections").set(pool.options().get_max_connections() as f64);
    let body = crate::telemetry::metrics_handle().render();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}
