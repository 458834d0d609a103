//! The sandbox's own rate limit and latency across every `/v2` call, and the per-second
//! counts tests read them by: at most `max_rps` calls are let through per whole second of the
//! wall clock (the rest answer 429 with `Retry-After`, in Mono's failure envelope), and every
//! call waits `latency_ms` before it is answered. Set with `GET|PUT /_sandbox/limits` or the
//! `sandbox` command's `--max-rps` and `--latency-ms`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Whole seconds of counts kept (older ones are dropped; the busiest second is kept apart).
pub const KEPT_SECONDS: u64 = 300;
/// Largest `latency_ms` and `max_rps` a control call may set.
pub const MAX_LATENCY_MS: u64 = 600_000;
pub const MAX_RPS: u32 = 1_000_000;

/// `PUT /_sandbox/limits` body: both fields are set (absent: no latency, no limit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    #[serde(default)]
    pub latency_ms: u64,
    /// Calls let through per whole second; `null`: no limit.
    #[serde(default)]
    pub max_rps: Option<u32>,
}

impl LimitsSpec {
    /// Checks the limits; the error names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(format!("`latency_ms` must be at most {MAX_LATENCY_MS}"));
        }
        if let Some(rps) = self.max_rps {
            if !(1..=MAX_RPS).contains(&rps) {
                return Err(format!(
                    "`max_rps` must be between 1 and {MAX_RPS}, or null for no limit"
                ));
            }
        }
        Ok(())
    }
}

/// The calls of one whole second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondCount {
    /// Unix time of the second.
    pub second: u64,
    /// Calls that arrived in it (refused ones included).
    pub requests: u64,
    /// Calls refused with 429 by the limit.
    pub rate_limited: u64,
}

/// `GET /_sandbox/limits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsView {
    pub latency_ms: u64,
    pub max_rps: Option<u32>,
    /// Calls counted since the sandbox started.
    pub requests: u64,
    pub rate_limited: u64,
    /// The second with the most calls so far (the earliest of equals).
    pub busiest_second: Option<SecondCount>,
    /// The last seconds with calls, oldest first.
    pub seconds: Vec<SecondCount>,
}

/// What to do to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub latency: Duration,
    /// Refuse with 429 and this `Retry-After` (seconds).
    pub refuse: Option<u64>,
}

/// The limits in force and the counts.
#[derive(Debug, Default)]
pub struct Limits {
    spec: LimitsSpec,
    seconds: BTreeMap<u64, SecondCount>,
    requests: u64,
    rate_limited: u64,
    busiest: Option<SecondCount>,
}

impl Limits {
    pub fn new(spec: LimitsSpec) -> Self {
        Limits {
            spec,
            ..Limits::default()
        }
    }

    pub fn set(&mut self, spec: LimitsSpec) {
        self.spec = spec;
    }

    /// Counts one call arriving at `unix_ms` and decides it.
    pub fn admit(&mut self, unix_ms: u64) -> Admission {
        let second = unix_ms / 1_000;
        let count = self.seconds.entry(second).or_insert(SecondCount {
            second,
            ..SecondCount::default()
        });
        count.requests += 1;
        let admitted = count.requests - count.rate_limited - 1;
        let refuse = match self.spec.max_rps {
            Some(max) if admitted >= u64::from(max) => {
                count.rate_limited += 1;
                self.rate_limited += 1;
                // The next whole second is never more than one away.
                Some(1)
            }
            _ => None,
        };
        let count = *count;
        self.requests += 1;
        if self.busiest.is_none_or(|b| count.requests > b.requests) {
            self.busiest = Some(count);
        }
        let oldest = second.saturating_sub(KEPT_SECONDS);
        while self.seconds.first_key_value().is_some_and(|(s, _)| *s < oldest) {
            self.seconds.pop_first();
        }
        Admission {
            latency: Duration::from_millis(self.spec.latency_ms),
            refuse,
        }
    }

    pub fn view(&self) -> LimitsView {
        LimitsView {
            latency_ms: self.spec.latency_ms,
            max_rps: self.spec.max_rps,
            requests: self.requests,
            rate_limited: self.rate_limited,
            busiest_second: self.busiest,
            seconds: self.seconds.values().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_max_rps_in_one_second_calls_are_refused_until_the_next() {
        let mut limits = Limits::new(LimitsSpec {
            latency_ms: 15,
            max_rps: Some(3),
        });
        let decided: Vec<_> = [10_000, 10_100, 10_500, 10_999, 10_999, 11_000]
            .into_iter()
            .map(|ms| limits.admit(ms).refuse)
            .collect();
        assert_eq!(decided, [None, None, None, Some(1), Some(1), None]);
        assert_eq!(limits.admit(11_001).latency, Duration::from_millis(15));
        let view = limits.view();
        assert_eq!((view.requests, view.rate_limited), (7, 2));
        assert_eq!(
            view.busiest_second,
            Some(SecondCount {
                second: 10,
                requests: 5,
                rate_limited: 2
            })
        );
        assert_eq!(view.seconds.len(), 2);
        assert_eq!(view.seconds[1].requests, 2);
    }

    #[test]
    fn without_a_limit_everything_is_counted_and_let_through() {
        let mut limits = Limits::default();
        assert!((0..100).all(|i| limits.admit(i).refuse.is_none()));
        assert_eq!(limits.view().busiest_second.unwrap().requests, 100);
        // Old seconds are dropped, the busiest is kept.
        limits.admit((KEPT_SECONDS + 5) * 1_000);
        let view = limits.view();
        assert_eq!(view.seconds.len(), 1);
        assert_eq!(view.busiest_second.unwrap().second, 0);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = LimitsSpec {
            latency_ms: MAX_LATENCY_MS + 1,
            max_rps: None,
        };
        assert!(bad.validate().unwrap_err().contains("latency_ms"));
        let bad = LimitsSpec {
            latency_ms: 0,
            max_rps: Some(0),
        };
        assert!(bad.validate().unwrap_err().contains("max_rps"));
        assert!(LimitsSpec::default().validate().is_ok());
    }
}
