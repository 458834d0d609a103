//! Fault injection for the sandbox's Mono endpoints: latency, a rate of 5xx (or any status),
//! 429 with `Retry-After`, and hangs, per endpoint, optionally for a number of requests.
//!
//! Every matching rule applies to a request (latencies add up; the first rule whose roll
//! fires decides the answer) and each application counts against the rule's `count`. Rolls
//! come from a PRNG seeded from the sandbox seed, so a run with the same rules and the same
//! request order fails the same requests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::data::{mix, SplitMix64};

/// Endpoint names a rule can target; `*` targets every `/v2` call (not the widget page).
pub const ENDPOINTS: &[&str] = &[
    "initiate",
    "auth",
    "accounts",
    "details",
    "identity",
    "balance",
    "transactions",
    "unlink",
    "widget",
];

/// `POST /_sandbox/faults` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// One of [`ENDPOINTS`] or `*`.
    #[serde(default = "any_endpoint")]
    pub endpoint: String,
    /// Added before the answer.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Share of requests (0..=1) that fail. Defaults to 1 when `status` or
    /// `rate_limit_retry_after` is set, else 0.
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// Status of the failures; 500 when absent.
    #[serde(default)]
    pub status: Option<u16>,
    /// Fail with 429 and this `Retry-After` (seconds).
    #[serde(default)]
    pub rate_limit_retry_after: Option<u64>,
    /// Never answer (until the sandbox shuts down): the client's timeout must fire.
    #[serde(default)]
    pub hang: bool,
    /// Apply to this many requests, then retire; forever when absent.
    #[serde(default)]
    pub count: Option<u32>,
    /// Apply only to calls about this account (`/v2/accounts/{id}/...`); every call when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

fn any_endpoint() -> String {
    "*".to_owned()
}

impl FaultSpec {
    /// Checks the rule; the error names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.endpoint != "*" && !ENDPOINTS.contains(&self.endpoint.as_str()) {
            return Err(format!(
                "`endpoint` must be `*` or one of {}",
                ENDPOINTS.join(", ")
            ));
        }
        if let Some(rate) = self.error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err("`error_rate` must be between 0 and 1".into());
            }
        }
        if let Some(status) = self.status {
            if !(400..=599).contains(&status) {
                return Err("`status` must be between 400 and 599".into());
            }
        }
        if self.latency_ms.is_some_and(|l| l > 600_000) {
            return Err("`latency_ms` must be at most 600000".into());
        }
        if self.rate_limit_retry_after.is_some_and(|r| r > 3_600) {
            return Err("`rate_limit_retry_after` must be at most 3600".into());
        }
        Ok(())
    }

    fn matches(&self, endpoint: &str, account: Option<&str>) -> bool {
        (self.endpoint == endpoint || (self.endpoint == "*" && endpoint != "widget"))
            && self.account.as_deref().is_none_or(|a| account == Some(a))
    }

    fn failure_rate(&self) -> f64 {
        self.error_rate.unwrap_or(
            if self.status.is_some() || self.rate_limit_retry_after.is_some() {
                1.0
            } else {
                0.0
            },
        )
    }
}

/// A rule as installed, with what it has done so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultRule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Requests left before it retires (`null`: no limit).
    pub remaining: Option<u32>,
    /// Requests it applied to.
    pub applied: u64,
    /// Requests it failed.
    pub failed: u64,
}

/// What to do to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultAction {
    pub latency: Duration,
    pub hang: bool,
    /// Answer with this status (and `Retry-After`) instead of the real handler.
    pub fail: Option<(u16, Option<u64>)>,
}

/// The installed rules and the PRNG of their rolls.
#[derive(Debug)]
pub struct FaultBook {
    rules: Vec<FaultRule>,
    next_id: u64,
    rng: SplitMix64,
}

impl FaultBook {
    pub fn new(seed: u64) -> Self {
        FaultBook {
            rules: Vec::new(),
            next_id: 1,
            rng: SplitMix64::new(mix(seed, 0xfa17)),
        }
    }

    pub fn add(&mut self, spec: FaultSpec) -> FaultRule {
        let rule = FaultRule {
            id: self.next_id,
            remaining: spec.count,
            spec,
            applied: 0,
            failed: 0,
        };
        self.next_id += 1;
        self.rules.push(rule.clone());
        rule
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.rules).len()
    }

    /// Decides what happens to one request to `endpoint`, consuming the rules it uses.
    pub fn decide(&mut self, endpoint: &str) -> FaultAction {
        self.decide_for(endpoint, None)
    }

    /// Decides what happens to one request to `endpoint` about `account` (when the call
    /// names one), consuming the rules it uses.
    pub fn decide_for(&mut self, endpoint: &str, account: Option<&str>) -> FaultAction {
        let mut action = FaultAction::default();
        for rule in &mut self.rules {
            if !rule.spec.matches(endpoint, account) || rule.remaining == Some(0) {
                continue;
            }
            if let Some(left) = rule.remaining.as_mut() {
                *left -= 1;
            }
            rule.applied += 1;
            action.latency += Duration::from_millis(rule.spec.latency_ms.unwrap_or(0));
            action.hang |= rule.spec.hang;
            let rate = rule.spec.failure_rate();
            if action.fail.is_none() && rate > 0.0 && self.rng.unit() < rate {
                rule.failed += 1;
                action.fail = Some(match rule.spec.rate_limit_retry_after {
                    Some(after) => (429, Some(after)),
                    None => (rule.spec.status.unwrap_or(500), None),
                });
            }
        }
        // Rules that ran out stay listed (with `remaining: 0`) so a test can inspect them.
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(endpoint: &str) -> FaultSpec {
        FaultSpec {
            endpoint: endpoint.into(),
            latency_ms: None,
            error_rate: None,
            status: None,
            rate_limit_retry_after: None,
            hang: false,
            count: None,
            account: None,
        }
    }

    #[test]
    fn an_account_rule_applies_to_that_account_only() {
        let mut book = FaultBook::new(1);
        book.add(FaultSpec {
            status: Some(500),
            account: Some("acc_1".into()),
            ..spec("transactions")
        });
        assert_eq!(book.decide_for("transactions", Some("acc_2")).fail, None);
        assert_eq!(book.decide_for("transactions", None).fail, None);
        assert_eq!(
            book.decide_for("transactions", Some("acc_1")).fail,
            Some((500, None))
        );
    }

    #[test]
    fn counted_status_rule_fails_then_retires() {
        let mut book = FaultBook::new(1);
        book.add(FaultSpec {
            status: Some(503),
            count: Some(2),
            ..spec("transactions")
        });
        assert_eq!(book.decide("details"), FaultAction::default());
        assert_eq!(book.decide("transactions").fail, Some((503, None)));
        assert_eq!(book.decide("transactions").fail, Some((503, None)));
        assert_eq!(book.decide("transactions").fail, None);
        assert_eq!(book.list()[0].failed, 2);
    }

    #[test]
    fn error_rate_is_deterministic_and_roughly_right() {
        let run = || {
            let mut book = FaultBook::new(42);
            book.add(FaultSpec {
                error_rate: Some(0.3),
                ..spec("*")
            });
            (0..1_000)
                .map(|_| book.decide("balance").fail.is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let failures = a.iter().filter(|f| **f).count();
        assert!((220..380).contains(&failures), "{failures}");
    }

    #[test]
    fn rules_combine_and_star_skips_the_widget() {
        let mut book = FaultBook::new(1);
        book.add(FaultSpec {
            latency_ms: Some(10),
            ..spec("*")
        });
        book.add(FaultSpec {
            latency_ms: Some(5),
            rate_limit_retry_after: Some(2),
            ..spec("auth")
        });
        let action = book.decide("auth");
        assert_eq!(action.latency, Duration::from_millis(15));
        assert_eq!(action.fail, Some((429, Some(2))));
        assert_eq!(book.decide("widget"), FaultAction::default());
    }

    #[test]
    fn validation_names_the_field() {
        assert!(spec("nope").validate().unwrap_err().contains("endpoint"));
        let bad = FaultSpec {
            error_rate: Some(1.5),
            ..spec("*")
        };
        assert!(bad.validate().unwrap_err().contains("error_rate"));
        let bad = FaultSpec {
            status: Some(200),
            ..spec("*")
        };
        assert!(bad.validate().unwrap_err().contains("status"));
    }
}
