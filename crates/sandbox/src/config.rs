//! How a sandbox behaves: its keys, seed, sizes, clock, webhook target and limits.

use std::time::Duration;

use url::Url;

use crate::limits;

/// The sandbox's own well-known keys, like a test card number: what `serve --sandbox` uses
/// when `MONO_SECRET_KEY` / `MONO_WEBHOOK_SECRET` are not set.
pub const DEFAULT_SECRET_KEY: &str = "test_sk_sandbox";
pub const DEFAULT_WEBHOOK_SECRET: &str = "test_whsec_sandbox";

/// How the sandbox behaves. `Default` gives five customers (businesses and people), three
/// bank accounts each (two linked from the start, one left for the widget), 2,000
/// transactions per account over the last 365 days, and 10-minute codes.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The `mono-sec-key` every `/v2` call must carry.
    pub secret_key: String,
    /// Picks every customer, account and transaction, and the fault rolls.
    pub seed: u64,
    pub webhook_url: Option<Url>,
    /// Signs deliveries (both forms); unsigned when absent.
    pub webhook_secret: Option<String>,
    pub customers: usize,
    pub accounts_per_customer: usize,
    pub transactions_per_account: usize,
    /// Lifetime of an exchange code.
    pub code_ttl: Duration,
    /// Time a new link stays PROCESSING before AVAILABLE and `account_updated`; zero makes
    /// it AVAILABLE at once (`account_connected` then `account_updated` still go out).
    pub processing_delay: Duration,
    /// How far back generated histories reach.
    pub history_days: u32,
    /// The URL the sandbox is reached at, for `mono_url` and paging links; the request's
    /// `Host` when absent.
    pub public_url: Option<Url>,
    /// The rate limit and latency of every `/v2` call at start (`/_sandbox/limits` changes
    /// them): none by default.
    pub limits: limits::LimitsSpec,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            secret_key: DEFAULT_SECRET_KEY.to_owned(),
            seed: 42,
            webhook_url: None,
            webhook_secret: None,
            customers: 5,
            accounts_per_customer: 3,
            transactions_per_account: 2_000,
            code_ttl: Duration::from_secs(600),
            processing_delay: Duration::ZERO,
            history_days: 365,
            public_url: None,
            limits: limits::LimitsSpec::default(),
        }
    }
}

impl std::fmt::Debug for SandboxConfig {
    // The keys stay out of logs even though they are test keys: the same habit everywhere.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("secret_key", &"[REDACTED]")
            .field("seed", &self.seed)
            .field("webhook_url", &self.webhook_url.as_ref().map(Url::as_str))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("customers", &self.customers)
            .field("accounts_per_customer", &self.accounts_per_customer)
            .field("transactions_per_account", &self.transactions_per_account)
            .field("code_ttl", &self.code_ttl)
            .field("processing_delay", &self.processing_delay)
            .field("history_days", &self.history_days)
            .field("public_url", &self.public_url.as_ref().map(Url::as_str))
            .field("limits", &self.limits)
            .finish()
    }
}
