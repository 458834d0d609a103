//! Request rate limits: a token bucket per API key in each replica (`API_RATE_LIMIT`,
//! `API_RATE_BURST`), and the cooldown between two real-time refreshes of one account at
//! Mono (`MONO_REFRESH_COOLDOWN_SECS`), which holds across replicas because it reads the
//! account's last refresh from the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// Buckets kept before full ones are forgotten (a forgotten bucket is a full one).
const MAX_BUCKETS: usize = 10_000;

pub struct KeyLimiter {
    /// Tokens per second; 0 = no limit.
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<Uuid, (f64, Instant)>>,
}

impl KeyLimiter {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` at `now`; Err(wait) when there is none, with the time until one.
    pub fn take(&self, key: Uuid, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(key).or_insert((self.burst, now));
        let refilled =
            (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / self.rate))
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_its_rate() {
        let limiter = KeyLimiter::new(10, 3);
        let (key, other) = (Uuid::new_v4(), Uuid::new_v4());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take(key, t0).is_ok());
        }
        let wait = limiter.take(key, t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another key is not held up by the first.
        assert!(limiter.take(other, t0).is_ok());
        // A tenth of a second later one more token has come.
        assert!(limiter.take(key, t0 + Duration::from_millis(100)).is_ok());
        assert!(limiter.take(key, t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn no_rate_means_no_limit() {
        let limiter = KeyLimiter::new(0, 0);
        let key = Uuid::new_v4();
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| limiter.take(key, t0).is_ok()));
    }
}
