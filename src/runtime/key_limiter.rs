//! A token bucket per API key in this replica (`API_RATE_LIMIT`, `API_RATE_BURST`);
//! `services::limits::admit` answers 429 from it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Buckets kept before full ones are forgotten (a forgotten bucket is a full one).
const MAX_BUCKETS: usize = 10_000;

pub struct KeyLimiter {
    /// Tokens per second; 0 = no limit.
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<Uuid, Bucket>>,
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
            forget_full(&mut buckets, now, self.rate, self.burst);
        }
        let bucket = buckets.entry(key).or_insert((self.burst, now));
        take_token(bucket, now, self.rate, self.burst)
    }
}

/// A token bucket: its tokens, and when they were counted.
pub type Bucket = (f64, Instant);

/// Takes a token from `bucket` at `now`, refilled at `rate` a second up to `burst`; Err(wait)
/// when there is none, with the time until one.
pub fn take_token(bucket: &mut Bucket, now: Instant, rate: f64, burst: f64) -> Result<(), Duration> {
    let (tokens, at) = bucket;
    let refilled = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * rate).min(burst);
    *at = now;
    if refilled >= 1.0 {
        *tokens = refilled - 1.0;
        Ok(())
    } else {
        *tokens = refilled;
        Err(Duration::from_secs_f64((1.0 - refilled) / rate))
    }
}

/// Forgets the buckets that are full again at `now`: a forgotten bucket is a full one.
pub fn forget_full<K>(buckets: &mut HashMap<K, Bucket>, now: Instant, rate: f64, burst: f64) {
    buckets
        .retain(|_, (tokens, at)| *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst);
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
