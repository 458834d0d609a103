//! `MonoError`: every way a call to Mono can fail, and the HTTP status the service answers
//! its own caller with for each (API.md: 502 for Mono's errors, 504 for Mono timing out).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonoError {
    /// Mono answered with a failure; `message` is Mono's own, from its envelope.
    #[error("Mono answered {status}: {message}")]
    Api { status: u16, message: String },
    /// Mono kept answering 429 after the retries were spent (or on a call never retried).
    #[error("Mono rate limited the request: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// No answer within the configured connect or total timeout.
    #[error("Mono did not answer in time")]
    Timeout,
    /// The request could not be sent or the answer not read (connection refused, reset, TLS).
    #[error("could not reach Mono: {0}")]
    Transport(String),
    /// Mono answered 2xx with a body this client cannot read; `path` names the field.
    #[error("Mono's answer has a bad `{path}`: {message}")]
    Decode { path: String, message: String },
    /// The client was configured with something unusable (a base URL that is no HTTP URL).
    #[error("invalid Mono client configuration: {0}")]
    Config(String),
    /// The call was not made: shutdown was asked for while it waited for the request budget.
    #[error("the service is shutting down; Mono was not called")]
    ShuttingDown,
    /// The call was not made: the shared request budget could not be read.
    #[error("{0}")]
    Budget(String),
}

impl From<super::budget::BudgetError> for MonoError {
    fn from(e: super::budget::BudgetError) -> Self {
        match e {
            super::budget::BudgetError::Cancelled => MonoError::ShuttingDown,
            e @ super::budget::BudgetError::Store(_) => MonoError::Budget(e.to_string()),
        }
    }
}

impl MonoError {
    /// The status the service answers with when this error reaches its API: 502 when Mono
    /// answered badly or could not be reached, 504 when it did not answer in time, 503 when it
    /// was not called (shutdown, or the request budget unavailable). Callers
    /// that give a Mono status its own meaning (a 400 on exchange is `invalid_code`) match on
    /// [`MonoError::Api`] first.
    pub fn http_status_hint(&self) -> u16 {
        match self {
            MonoError::Timeout => 504,
            MonoError::Config(_) => 500,
            MonoError::ShuttingDown | MonoError::Budget(_) => 503,
            MonoError::Api { .. }
            | MonoError::RateLimited { .. }
            | MonoError::Transport(_)
            | MonoError::Decode { .. } => 502,
        }
    }

    /// Mono's own status, when it answered.
    pub fn upstream_status(&self) -> Option<u16> {
        match self {
            MonoError::Api { status, .. } => Some(*status),
            MonoError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// A snake_case code for the service's failure envelope.
    pub fn code(&self) -> &'static str {
        match self {
            MonoError::Api { .. } => "mono_error",
            MonoError::RateLimited { .. } => "mono_rate_limited",
            MonoError::Timeout => "mono_timeout",
            MonoError::Transport(_) => "mono_unreachable",
            MonoError::Decode { .. } => "mono_bad_response",
            MonoError::Config(_) => "mono_misconfigured",
            MonoError::ShuttingDown => "shutting_down",
            MonoError::Budget(_) => "mono_budget_unavailable",
        }
    }

    /// Whether Mono answered `status` (e.g. `is_status(404)`).
    pub fn is_status(&self, status: u16) -> bool {
        self.upstream_status() == Some(status)
    }
}
