//! Request rate limits: a token bucket per API key in each replica (`API_RATE_LIMIT`,
//! `API_RATE_BURST`), and the cooldown between two real-time refreshes of one account at
//! Mono (`MONO_REFRESH_COOLDOWN_SECS`), which holds across replicas because it reads the
//! account's last refresh from the database.

use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Admits one request of the tenant's key, or answers 429 with when to try again.
pub fn admit(state: &AppState, tenant: &Tenant) -> Result<(), ApiError> {
    state
        .rate_limits
        .take(tenant.key_id, Instant::now())
        .map_err(|wait| {
            metrics::counter!("api_rate_limited_total").increment(1);
            ApiError::RateLimited {
                message: "too many requests for this API key; retry after the time in Retry-After".into(),
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })
}

/// The 429 of a real-time refresh asked for within the cooldown of the last one (at `last`).
pub fn refresh_refused(cooldown: Duration, last: chrono::DateTime<chrono::Utc>) -> ApiError {
    let since = (chrono::Utc::now() - last).to_std().unwrap_or(Duration::ZERO);
    let wait = cooldown.saturating_sub(since);
    metrics::counter!("refresh_cooldown_refused_total").increment(1);
    ApiError::RateLimited {
        message: format!(
            "this account was refreshed from Mono {} s ago; one real-time refresh per {} s",
            since.as_secs(),
            cooldown.as_secs()
        ),
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}
