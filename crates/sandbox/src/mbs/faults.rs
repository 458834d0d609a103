//! Faults on demand for the MBS calls (`POST|GET|DELETE /_sandbox/mbs/faults`): a status
//! (5xx, with `Retry-After`), latency, a hang (no answer until the client gives up), and the
//! ambiguous one, `drop_after_store`: the call is handled (a sign is stored) and its answer
//! never sent, so a client must settle the outcome by asking (`confirm`).
//!
//! A rule applies to the calls whose path starts with its `path` (every `/api` call when
//! absent), for `times` calls (forever when absent). Every matching rule applies: latencies
//! add up, the first status wins.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Answer `status` (400..=599) instead of handling the call.
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// Wait `ms` before handling the call.
    Latency { ms: u64 },
    /// Never answer (until the sandbox shuts down).
    Hang,
    /// Handle the call (a sign stores the invoice), then never answer.
    DropAfterStore,
}

/// `POST /_sandbox/mbs/faults` body: the kind's fields plus `path` and `times`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Prefix of the paths it applies to; every `/api` call when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Calls it applies to before it retires; forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// Longest latency a rule may add, and the longest `Retry-After`.
pub const MAX_LATENCY_MS: u64 = 600_000;
pub const MAX_RETRY_AFTER_SECS: u64 = 3_600;

impl FaultSpec {
    /// Checks the rule; the error names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        match &self.kind {
            FaultKind::Status {
                status,
                retry_after_secs,
            } => {
                if !(400..=599).contains(status) {
                    return Err("`status` must be between 400 and 599".into());
                }
                if retry_after_secs.is_some_and(|r| r > MAX_RETRY_AFTER_SECS) {
                    return Err(format!(
                        "`retry_after_secs` must be at most {MAX_RETRY_AFTER_SECS}"
                    ));
                }
            }
            FaultKind::Latency { ms } if *ms > MAX_LATENCY_MS => {
                return Err(format!("`ms` must be at most {MAX_LATENCY_MS}"));
            }
            _ => {}
        }
        if self.path.as_deref().is_some_and(|p| !p.starts_with("/api")) {
            return Err("`path` must start with /api".into());
        }
        Ok(())
    }
}

/// A rule as installed, with what it has done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultRule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Calls left before it retires (`null`: no limit).
    pub remaining: Option<u32>,
    /// Calls it applied to.
    pub applied: u64,
}

/// What to do to one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultAction {
    pub latency: Duration,
    pub hang: bool,
    /// Answer this status (and `Retry-After`) instead of handling the call.
    pub fail: Option<(u16, Option<u64>)>,
    /// Handle the call, then never answer.
    pub drop_answer: bool,
}

#[derive(Debug, Default)]
pub struct FaultBook {
    rules: Vec<FaultRule>,
    next_id: u64,
}

impl FaultBook {
    pub fn add(&mut self, spec: FaultSpec) -> FaultRule {
        self.next_id += 1;
        let rule = FaultRule {
            id: self.next_id,
            remaining: spec.times,
            spec,
            applied: 0,
        };
        self.rules.push(rule.clone());
        rule
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.rules).len()
    }

    /// Decides what happens to one call to `path`, consuming the rules it uses.
    pub fn decide(&mut self, path: &str) -> FaultAction {
        let mut action = FaultAction::default();
        for rule in &mut self.rules {
            let matches = rule.spec.path.as_deref().is_none_or(|p| path.starts_with(p));
            if !matches || rule.remaining == Some(0) {
                continue;
            }
            if let Some(left) = rule.remaining.as_mut() {
                *left -= 1;
            }
            rule.applied += 1;
            match &rule.spec.kind {
                FaultKind::Status {
                    status,
                    retry_after_secs,
                } => {
                    action.fail = action.fail.or(Some((*status, *retry_after_secs)));
                }
                FaultKind::Latency { ms } => action.latency += Duration::from_millis(*ms),
                FaultKind::Hang => action.hang = true,
                FaultKind::DropAfterStore => action.drop_answer = true,
            }
        }
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rules_read_from_their_json_and_retire_after_times() {
        let mut book = FaultBook::default();
        book.add(spec(
            r#"{"kind":"status","status":503,"times":1,"path":"/api/v1/invoice/sign"}"#,
        ));
        book.add(spec(r#"{"kind":"latency","ms":5}"#));
        assert_eq!(
            book.decide("/api"),
            FaultAction {
                latency: Duration::from_millis(5),
                ..FaultAction::default()
            }
        );
        assert_eq!(book.decide("/api/v1/invoice/sign").fail, Some((503, None)));
        assert_eq!(book.decide("/api/v1/invoice/sign").fail, None);
        book.add(spec(
            r#"{"kind":"drop_after_store","path":"/api/v1/invoice/sign"}"#,
        ));
        assert!(book.decide("/api/v1/invoice/sign").drop_answer);
        assert!(spec(r#"{"kind":"hang"}"#).validate().is_ok());
        assert!(spec(r#"{"kind":"status","status":200}"#)
            .validate()
            .unwrap_err()
            .contains("status"));
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"nope"}"#).is_err());
    }
}
