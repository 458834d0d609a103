//! What the operations endpoints report: readiness (database reachable, migrations applied)
//! and the metrics text with the pool's figures.

use std::time::Duration;

use crate::error::ApiError;
use crate::state::AppState;

/// Ok with the number of applied migrations, or 503 saying why the service is not ready.
/// `/readyz`: the database answers and every migration is applied.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    #[schema(example = "ready")]
    status: &'static str,
    /// Always `up`.
    #[schema(example = "up")]
    database: &'static str,
    /// Migrations applied.
    migrations: i64,
}

pub async fn readiness(state: &AppState) -> Result<Readiness, ApiError> {
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
    Ok(Readiness {
        status: "ready",
        database: "up",
        migrations: applied,
    })
}

fn not_ready(message: &str) -> ApiError {
    ApiError::DatabaseUnavailable(sqlx::Error::Configuration(message.to_string().into()))
}

/// The Prometheus text, with the pool's gauges refreshed first.
pub fn metrics_text(state: &AppState) -> String {
    let pool = &state.db;
    metrics::gauge!("db_pool_connections", "state" => "idle").set(pool.num_idle() as f64);
    metrics::gauge!("db_pool_connections", "state" => "active")
        .set(pool.size().saturating_sub(pool.num_idle() as u32) as f64);
    metrics::gauge!("db_pool_max_connections").set(pool.options().get_max_connections() as f64);
    crate::telemetry::metrics_handle().render()
}
